"""Faults, latency and the request log, in process."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from drchrono_async.errors import InvalidRequestError
from drchrono_async.testing import Emulator, VirtualClock

from .conftest import START

NEW_PATIENT = {"doctor": 100001, "gender": "Other", "first_name": "Fault"}


async def test_scripted_faults_hit_the_next_requests_in_order(
    client: httpx.AsyncClient, emu: Emulator
) -> None:
    emu.faults.script(["500", None, "html", "429"])
    r = await client.get("/api/doctors")
    assert r.status_code == 500
    assert r.headers["Content-Type"] == "application/json"
    assert (await client.get("/api/doctors")).status_code == 200
    html = await client.get("/api/doctors")
    assert html.status_code == 200
    assert html.headers["Content-Type"].startswith("text/html")
    assert html.text.startswith("<!DOCTYPE html>")
    throttled = await client.get("/api/doctors")
    assert throttled.status_code == 429
    assert throttled.json()["detail"].startswith("Request was throttled. Expected available in")
    assert (await client.get("/api/doctors")).status_code == 200
    assert emu.faults.scripted == 0
    assert [e.fault for e in emu.requests] == ["500", None, "html", "429", None]


async def test_a_script_can_target_a_path(client: httpx.AsyncClient, emu: Emulator) -> None:
    emu.faults.script(["500"], path_prefix="/api/patients")
    assert (await client.get("/api/doctors")).status_code == 200
    assert (await client.get("/api/patients")).status_code == 500
    assert (await client.get("/api/patients")).status_code == 200


async def test_500_and_html_faults_do_not_apply_the_request(
    client: httpx.AsyncClient, emu: Emulator
) -> None:
    before = len(emu.records("patients"))
    emu.faults.script(["500", "html"])
    assert (await client.post("/api/patients", json=NEW_PATIENT)).status_code == 500
    assert (await client.post("/api/patients", json=NEW_PATIENT)).status_code == 200
    assert len(emu.records("patients")) == before


async def test_reset_is_a_connect_error_and_nothing_is_applied(
    client: httpx.AsyncClient, emu: Emulator
) -> None:
    before = len(emu.records("patients"))
    emu.faults.script(["reset"])
    with pytest.raises(httpx.ConnectError):
        await client.post("/api/patients", json=NEW_PATIENT)
    assert len(emu.records("patients")) == before
    assert emu.used() == 0
    assert emu.requests[-1].status is None and emu.requests[-1].fault == "reset"


async def test_drop_closes_after_applying_the_request(
    client: httpx.AsyncClient, emu: Emulator
) -> None:
    before = len(emu.records("patients"))
    emu.faults.script(["drop"])
    with pytest.raises(httpx.RemoteProtocolError):
        await client.post("/api/patients", json=NEW_PATIENT)
    assert len(emu.records("patients")) == before + 1
    assert emu.used() == 1
    assert emu.count(fault="drop", status=None) == 1


async def test_truncate_breaks_the_body(client: httpx.AsyncClient, emu: Emulator) -> None:
    emu.faults.script(["truncate"])
    with pytest.raises(httpx.RemoteProtocolError):
        await client.get("/api/patients")


async def test_slow_bodies_take_clock_time(
    client: httpx.AsyncClient, emu: Emulator, clock: VirtualClock
) -> None:
    emu.faults.slow_body_seconds = 40.0
    emu.faults.script(["slow"])
    r = await client.get("/api/patients")
    assert r.status_code == 200
    assert len(r.json()["results"]) > 0
    assert clock.now() == pytest.approx(START + 40.0)


async def test_random_faults_follow_their_rates_and_the_seed(clock: VirtualClock) -> None:
    async def run(seed: int) -> list[int]:
        emu = Emulator(seed=seed, clock=clock, quota=10_000, sizes={"other": 1})
        emu.faults.error_rate = 0.2
        emu.faults.html_rate = 0.1
        async with httpx.AsyncClient(
            transport=emu.transport,
            base_url=emu.base_url,
            headers={"Authorization": f"Bearer {emu.access_token}"},
        ) as c:
            out = []
            for _ in range(400):
                r = await c.get("/api/doctors")
                out.append(500 if r.status_code == 500 else 1 if "html" in r.text[:20] else 0)
        return out

    first = await run(3)
    assert first == await run(3)
    assert 50 <= first.count(500) <= 110
    assert 20 <= first.count(1) <= 65
    assert first != await run(4)


async def test_oauth_endpoints_take_only_scripted_faults(
    anon: httpx.AsyncClient, emu: Emulator
) -> None:
    emu.faults.error_rate = 1.0
    body = {
        "client_id": emu.client_id,
        "client_secret": emu.client_secret,
        "grant_type": "refresh_token",
        "refresh_token": emu.refresh_token,
    }
    emu.faults.script(["429"], path_prefix="/o/token/")
    assert (await anon.post("/o/token/", data=body)).status_code == 429
    assert (await anon.post("/o/token/", data=body)).status_code == 200


async def test_a_hook_picks_faults_per_request(client: httpx.AsyncClient, emu: Emulator) -> None:
    emu.faults.hook = lambda ctx: "500" if ctx.query.get("page_size") == "3" else None
    assert (await client.get("/api/patients", params={"page_size": "3"})).status_code == 500
    assert (await client.get("/api/patients", params={"page_size": "4"})).status_code == 200
    emu.faults.clear()
    assert (await client.get("/api/patients", params={"page_size": "3"})).status_code == 200


def test_unknown_fault_kinds_are_refused(emu: Emulator) -> None:
    with pytest.raises(InvalidRequestError, match="unknown fault") as info:
        emu.faults.script(["503"])
    assert "503" not in str(info.value)  # the message names no value the caller chose


async def test_fixed_latency_runs_on_the_clock_and_overlaps(
    client: httpx.AsyncClient, emu: Emulator, clock: VirtualClock
) -> None:
    emu.latency = 0.1
    await asyncio.gather(*(client.get("/api/doctors") for _ in range(16)))
    assert clock.now() == pytest.approx(START + 0.1)
    await client.get("/api/doctors")
    assert clock.now() == pytest.approx(START + 0.2)


async def test_random_latency_stays_within_bounds(
    client: httpx.AsyncClient, emu: Emulator, clock: VirtualClock
) -> None:
    emu.latency = (1.0, 2.0)
    for _ in range(20):
        before = clock.now()
        await client.get("/api/doctors")
        assert 1.0 <= clock.now() - before <= 2.0


async def test_the_log_records_every_request_without_credentials(
    client: httpx.AsyncClient, emu: Emulator, clock: VirtualClock
) -> None:
    await client.get("/api/patients", params={"page_size": "2"})
    clock.advance(5)
    await client.get("/api/users/current")
    await client.get("/api/appointments")
    log = list(emu.requests)
    assert [(e.method, e.path, e.status) for e in log] == [
        ("GET", "/api/patients", 200),
        ("GET", "/api/users/current", 302),
        ("GET", "/api/appointments", 400),
    ]
    assert log[0].query == {"page_size": "2"}
    assert log[0].time == START and log[1].time == START + 5
    assert log[1].location is not None and log[1].location.endswith(f"/{emu.current_user_id}")
    assert emu.access_token not in repr(log)
    assert emu.count(status=400) == 1
    assert emu.requests.count(path_prefix="/api/users") == 1
    emu.requests.clear()
    assert len(emu.requests) == 0
