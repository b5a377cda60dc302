"""Several practices in one emulator: isolation, tokens bound to a practice, the application's
quota shared by every practice's tokens, per-practice seeding, hooks and staff activity."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest

from drchrono_async._demo import emulator_checksum
from drchrono_async.errors import InvalidRequestError
from drchrono_async.iframe import verify_iframe_request
from drchrono_async.sync import SQLiteStore, Syncer
from drchrono_async.testing import Emulator, Practice, VirtualClock
from drchrono_async.testing._seed import PRACTICE_ID_STRIDE

TINY = {"appointments": 60, "patients": 12, "clinical_notes": 5, "other": 2}


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def every_record(source: Emulator | Practice) -> dict[str, list[dict[str, Any]]]:
    return {name: source.records(name) for name in source.tables}


@pytest.fixture
def three(clock: VirtualClock) -> Emulator:
    return Emulator(seed=11, clock=clock, sizes=TINY, practices=3)


async def http(emu: Emulator, token: str) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=emu.transport, base_url=emu.base_url, headers=bearer(token))


# --- one practice is today's emulator ---------------------------------------------------------


def test_practices_1_and_practice_0_of_three_are_the_one_practice_emulator(
    clock: VirtualClock,
) -> None:
    default = Emulator(seed=11, clock=clock, sizes=TINY)
    one = Emulator(seed=11, clock=clock, sizes=TINY, practices=1)
    three = Emulator(seed=11, clock=clock, sizes=TINY, practices=3)
    expected = every_record(default)
    assert sum(len(v) for v in expected.values()) > 300  # the comparison covers real data
    assert every_record(one) == expected
    assert every_record(three.practice(0)) == expected
    assert every_record(three) == expected  # the emulator's own helpers are practice 0's
    assert one.access_token == three.access_token == default.access_token
    assert three.practice(0).refresh_token == default.refresh_token
    assert three.current_user_id == default.current_user_id
    assert len(one.practices) == 1 and len(three.practices) == 3


def test_each_practice_is_seeded_on_its_own_and_deterministically(clock: VirtualClock) -> None:
    a = Emulator(seed=11, clock=clock, sizes=TINY, practices=3)
    b = Emulator(seed=11, clock=clock, sizes=TINY, practices=3)
    for i in range(3):
        assert every_record(a.practice(i)) == every_record(b.practice(i))
        assert a.practice(i).access_token == b.practice(i).access_token
    names = [[p["last_name"] for p in a.practice(i).records("patients")] for i in range(3)]
    assert names[0] != names[1] != names[2]  # different seeds, different people
    tokens = {p.access_token for p in a.practices} | {p.refresh_token for p in a.practices}
    assert len(tokens) == 6
    # Ids live in the practice's own range, for every endpoint holding records.
    for practice in a.practices:
        low, high = practice.index * PRACTICE_ID_STRIDE, (practice.index + 1) * PRACTICE_ID_STRIDE
        for name, table in practice.tables.items():
            assert all(low < key < high for key in table.keys), name
            assert low < table.next_key < high, name  # empty tables too: creates stay inside
        groups = {u["practice_group"] for u in practice.records("users")}
        assert groups == {practice.practice_group}
    assert len({p.practice_group for p in a.practices}) == 3


def test_sizes_apply_to_each_practice_and_practice_sizes_make_them_differ(
    clock: VirtualClock,
) -> None:
    emu = Emulator(
        seed=2,
        clock=clock,
        sizes={"appointments": 30, "other": 1},
        practice_sizes=[{}, {"appointments": 5, "patients": 7}],
    )
    assert len(emu.practices) == 2
    assert len(emu.practice(0).records("appointments")) == 30
    assert len(emu.practice(1).records("appointments")) == 5
    assert len(emu.practice(1).records("patients")) == 7
    assert len(emu.practice(0).records("patients")) == 200  # the default size


@pytest.mark.parametrize(
    "options",
    [
        {"practices": 0},
        {"practices": True},
        {"practices": "2"},
        {"practices": 1001},
        {"quota_scope": "user"},
        {"practices": 2, "practice_sizes": [{}]},
        {"practice_sizes": {"appointments": 1}},
        {"practice_sizes": [{}, 3]},
        {"practice_sizes": []},
    ],
)
def test_bad_options_are_refused(options: dict[str, Any]) -> None:
    with pytest.raises(InvalidRequestError):
        Emulator(sizes={"appointments": 1, "patients": 1, "other": 0}, **options)


def test_practice_lookups_are_checked(three: Emulator) -> None:
    for bad in (3, -1, True, "1"):
        with pytest.raises(InvalidRequestError):
            three.practice(bad)  # type: ignore[arg-type]
    with pytest.raises(InvalidRequestError):
        three.issue_token(999)  # nobody's user
    with pytest.raises(InvalidRequestError):
        three.practice(1).issue_token(three.practice(2).current_user_id)  # not its user
    with pytest.raises(InvalidRequestError):
        three.practice(1).records("nope")
    assert three.practice_of_user(three.practice(2).current_user_id) is three.practice(2)
    assert "at_" not in repr(three.practice(1)) and "practices=3" in repr(three)


# --- isolation over the API -------------------------------------------------------------------


async def test_a_token_sees_only_its_practice_on_list_and_get(three: Emulator) -> None:
    a, b = three.practice(0), three.practice(1)
    async with await http(three, a.access_token) as c:
        for name in ("patients", "appointments", "doctors", "offices", "users", "problems"):
            params = {"page_size": "1000", "since": "2000-01-01T00:00:00"}
            listed = (await c.get(f"/api/{name}", params=params)).json()["results"]
            ours = {str(r["id"]) for r in a.records(name)}
            theirs = {str(r["id"]) for r in b.records(name)}
            got = {str(r["id"]) for r in listed}
            assert got and got <= ours and not got & theirs, name
            other = next(iter(theirs))
            assert (await c.get(f"/api/{name}/{other}")).status_code == 404, name
        me = await c.get("/api/users/current")
        assert me.headers["Location"].endswith(f"/api/users/{a.current_user_id}")
    async with await http(three, b.access_token) as c:
        me = await c.get("/api/users/current")
        assert me.headers["Location"].endswith(f"/api/users/{b.current_user_id}")
        patient = b.records("patients")[0]["id"]
        assert (await c.get(f"/api/patients/{patient}")).json()["id"] == patient
    assert three.count(practice=0) == 13 and three.count(practice=1) == 2


async def test_a_token_cannot_change_or_delete_another_practices_records(three: Emulator) -> None:
    a, b = three.practice(0), three.practice(1)
    patient = b.records("patients")[0]
    appointment = b.records("appointments")[0]
    async with await http(three, a.access_token) as c:
        r = await c.patch(f"/api/patients/{patient['id']}", json={"nick_name": "x"})
        assert r.status_code == 404
        r = await c.put(f"/api/appointments/{appointment['id']}", json={"notes": "x"})
        assert r.status_code == 404
        assert (await c.delete(f"/api/patients/{patient['id']}")).status_code == 404
        assert (await c.delete(f"/api/appointments/{appointment['id']}")).status_code == 404
        # A's own writes stay in A, with ids in A's range.
        body = {
            "doctor": a.records("doctors")[0]["id"],
            "first_name": "Ann",
            "last_name": "Lee",
            "gender": "Female",
            "date_of_birth": "1980-01-01",
        }
        created = (await c.post("/api/patients", json=body)).json()
        assert 0 < created["id"] < PRACTICE_ID_STRIDE
        assert a.record("patients", created["id"]) is not None
        assert b.record("patients", created["id"]) is None
    assert b.record("patients", patient["id"]) == patient
    assert b.record("appointments", appointment["id"]) == appointment
    async with await http(three, b.access_token) as c:
        assert (await c.get(f"/api/patients/{created['id']}")).status_code == 404
        # B's new records number from B's range.
        doctor = b.records("doctors")[0]["id"]
        made = await c.post("/api/patients", json={**body, "doctor": doctor})
        assert PRACTICE_ID_STRIDE < made.json()["id"] < 2 * PRACTICE_ID_STRIDE


# --- OAuth binds tokens to the authorizing user's practice ------------------------------------


async def token_for(emu: Emulator, c: httpx.AsyncClient, code: str) -> dict[str, Any]:
    r = await c.post(
        "/o/token/",
        data={
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": emu.redirect_uri,
            "client_id": emu.client_id,
            "client_secret": emu.client_secret,
        },
    )
    assert r.status_code == 200
    answer: dict[str, Any] = r.json()
    return answer


async def current_user(emu: Emulator, access: str) -> int:
    async with await http(emu, access) as c:
        location = (await c.get("/api/users/current")).headers["Location"]
    return int(location.rsplit("/", 1)[1])


async def test_codes_give_tokens_of_the_authorizing_users_practice(three: Emulator) -> None:
    p1, p2 = three.practice(1), three.practice(2)
    async with httpx.AsyncClient(transport=three.transport, base_url=three.base_url) as c:
        first = await token_for(three, c, p1.issue_code())
        assert await current_user(three, first["access_token"]) == p1.current_user_id
        second = await token_for(three, c, three.issue_code(p2.current_user_id))
        assert await current_user(three, second["access_token"]) == p2.current_user_id
        # A refreshed token stays in its practice.
        r = await c.post(
            "/o/token/",
            data={
                "grant_type": "refresh_token",
                "refresh_token": first["refresh_token"],
                "client_id": three.client_id,
                "client_secret": three.client_secret,
            },
        )
        assert await current_user(three, r.json()["access_token"]) == p1.current_user_id
        # /o/authorize signs in practice 2's user when told so, practice 0's by default.
        query = {
            "client_id": three.client_id,
            "redirect_uri": three.redirect_uri,
            "response_type": "code",
        }
        for practice, user in ((None, three.current_user_id), ("2", p2.current_user_id)):
            params = query if practice is None else {**query, "practice": practice}
            r = await c.get("/o/authorize", params=params)
            code = httpx.URL(r.headers["Location"]).params["code"]
            answer = await token_for(three, c, code)
            assert await current_user(three, answer["access_token"]) == user
        for bad in ("3", "-1", "x", "00000000001"):
            r = await c.get("/o/authorize", params={**query, "practice": bad})
            assert r.status_code == 400


async def test_a_practice_client_reads_its_own_practice(three: Emulator) -> None:
    p2 = three.practice(2)
    async with p2.client() as client:
        doctors = [d async for d in client.doctors.list()]
    assert sorted(d.id for d in doctors) == sorted(r["id"] for r in p2.records("doctors"))


# --- the hourly quota ------------------------------------------------------------------------


async def spend_calls(emu: Emulator, token: str, calls: int) -> list[int]:
    async with await http(emu, token) as c:
        return [(await c.get("/api/doctors")).status_code for _ in range(calls)]


async def test_the_application_quota_is_shared_by_every_practices_tokens(
    clock: VirtualClock,
) -> None:
    emu = Emulator(seed=3, clock=clock, sizes=TINY, practices=2)  # quota 500, per application
    clock.advance(900)  # the clock starts at the top of an hour: 45 minutes are left
    a, b = emu.practice(0), emu.practice(1)
    assert await spend_calls(emu, a.access_token, 500) == [200] * 500
    async with await http(emu, b.access_token) as c:
        r = await c.get("/api/doctors")
    assert r.status_code == 429
    assert r.json() == {"detail": "Request was throttled. Expected available in 2700.0 seconds."}
    assert a.used() == b.used() == emu.used() == 500 and b.remaining() == 0
    # Another application's token has a budget of its own; staff activity spends none of it.
    elsewhere = b.issue_token(client_id="another-app")
    assert await spend_calls(emu, elsewhere.access, 1) == [200]
    await b.activity.run(changes=2, creates=1, deletes=1, resources=["patients"])
    assert emu.used() == 500
    clock.advance(2700)  # the top of the hour
    assert await spend_calls(emu, b.access_token, 1) == [200]


async def test_a_token_scoped_quota_gives_each_practice_its_own_budget(
    clock: VirtualClock,
) -> None:
    emu = Emulator(seed=3, clock=clock, sizes=TINY, practices=2, quota_scope="token")
    a, b = emu.practice(0), emu.practice(1)
    assert await spend_calls(emu, a.access_token, 501) == [200] * 500 + [429]
    assert await spend_calls(emu, b.access_token, 1) == [200]
    assert (a.used(), b.used()) == (500, 1)
    emu.spend(10, b.access_token)
    assert b.remaining() == 489 and a.remaining() == 0


def test_used_needs_a_token_the_emulator_issued_under_the_application_quota(
    three: Emulator,
) -> None:
    with pytest.raises(InvalidRequestError) as info:
        three.used("at_made_up_secret")
    assert "at_made_up" not in str(info.value)
    three.spend(7, three.practice(2).access_token)
    assert three.used() == 7
    with pytest.raises(InvalidRequestError):
        three.spend(-1)


# --- hooks, activity and checksums per practice -----------------------------------------------


async def test_a_hook_of_one_practice_hears_only_that_practices_events(three: Emulator) -> None:
    everyone = three.webhooks.register("https://app.test/all", "s3cret", ["PATIENT_MODIFY"])
    only_one = three.webhooks.register(
        "https://app.test/one", "s3cret", ["PATIENT_MODIFY"], practice=1
    )
    await three.practice(0).activity.run(changes=2, creates=0, deletes=0, resources=["patients"])
    assert [d.hook_id for d in three.webhooks.pending] == [everyone, everyone]
    await three.practice(1).activity.run(changes=1, creates=0, deletes=0, resources=["patients"])
    assert sorted(d.hook_id for d in three.webhooks.pending[2:]) == [everyone, only_one]
    assert three.webhooks.hook(only_one).practice == 1
    assert len(three.webhooks.emit("CLINICAL_NOTE_LOCK", {"id": 1}, practice=2)) == 0
    with pytest.raises(InvalidRequestError):
        three.webhooks.register("https://app.test/x", "s3cret", ["PATIENT_MODIFY"], practice=3)
    with pytest.raises(InvalidRequestError):
        three.webhooks.emit("CLINICAL_NOTE_LOCK", {"id": 1}, practice=-1)


async def test_activity_and_checksums_are_per_practice(three: Emulator) -> None:
    before = [p.checksum("patients") for p in three.practices]
    log = await three.practice(2).activity.run(
        changes=3, creates=2, deletes=0, resources=["patients"]
    )
    after = [p.checksum("patients") for p in three.practices]
    assert after[:2] == before[:2]
    assert after[2][0] == before[2][0] + 2 and after[2][1] != before[2][1]
    for pid in log.changed["patients"] + log.created["patients"]:
        assert three.practice(2).record("patients", pid) is not None
        assert three.practice(0).record("patients", pid) is None
    # The same rule and digest as the demo's comparison (practice 0 is the emulator's own).
    for resource in ("patients", "appointments", "problems"):
        assert three.practice(0).checksum(resource) == emulator_checksum(three, resource)
        assert three.practice(1).checksum(resource) == emulator_checksum(
            three.practice(1),
            resource,  # type: ignore[arg-type]
        )


async def test_a_sync_of_one_practice_equals_that_practice(three: Emulator, tmp_path: Path) -> None:
    p1 = three.practice(1)
    resources = ["appointments", "patients", "problems"]
    async with p1.client() as client, SQLiteStore(tmp_path / "p1.db") as store:
        report = await Syncer(client, store, resources=resources).run()
        assert report.complete
        for resource in resources:
            rows, digest = p1.checksum(resource)
            assert rows > 0
            assert (await store.count(resource), await store.checksum(resource)) == (rows, digest)
            assert digest != three.practice(0).checksum(resource)[1]


# --- the command line -------------------------------------------------------------------------


def test_the_cli_serves_several_practices_and_prints_each_token() -> None:
    cmd = [
        sys.executable,
        "-m",
        "drchrono_async.cli",
        "emulator",
        "--port",
        "0",
        "--practices",
        "2",
        "--quota-scope",
        "token",
        "--size",
        "appointments=20",
        "--size",
        "other=1",
    ]
    with subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env={**os.environ}
    ) as proc:
        try:
            assert proc.stdout is not None
            lines = []
            while not lines or not lines[-1].startswith("Ctrl-C"):
                line = proc.stdout.readline()
                assert line, "the emulator stopped before its banner ended"
                lines.append(line.strip())
            url = lines[0].split(" at ")[1]
            assert lines[1].startswith("access token:")
            tokens = {}
            for line in lines:
                if line.startswith("practice "):
                    _, index, word, access, word2, refresh = line.split()
                    assert (word, word2) == ("token", "refresh") and refresh.startswith("rt_")
                    tokens[int(index)] = access
            assert sorted(tokens) == [0, 1]
            assert tokens[0] == lines[1].split(":", 1)[1].strip()
            users = []
            for access in tokens.values():
                r = httpx.get(f"{url}/api/users/current", headers=bearer(access))
                users.append(r.headers["Location"].rsplit("/", 1)[1])
            assert users[0] != users[1]
            assert int(users[1]) > PRACTICE_ID_STRIDE
            proc.send_signal(signal.SIGINT)
            assert proc.wait(timeout=10) == 0
        finally:
            if proc.poll() is None:
                proc.kill()


def test_the_cli_refuses_a_bad_practice_count() -> None:
    cmd = [
        sys.executable,
        "-m",
        "drchrono_async.cli",
        "emulator",
        "--port",
        "0",
        "--practices",
        "0",
    ]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=60, env={**os.environ})
    assert done.returncode != 0 and "practices must be" in done.stderr


def test_a_practice_signs_iframe_urls_with_its_own_users_and_patients(three: Emulator) -> None:
    p1 = three.practice(1)
    url = p1.iframe_url("patient", base_url="https://app.test/patient")
    ctx = verify_iframe_request(
        httpx.URL(url).query.decode(), three.client_secret, now=three.clock, page="patient"
    )
    assert ctx.user_id == p1.current_user_id
    assert p1.record("patients", ctx.patient_id) is not None
    assert three.practice(0).record("patients", ctx.patient_id) is None
