"""OAuth tokens and the hourly quota, on the emulator's virtual clock."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest

from drchrono_async.errors import InvalidRequestError
from drchrono_async.testing import Emulator, VirtualClock

from .conftest import START


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def form(emu: Emulator, **fields: str) -> dict[str, str]:
    return {"client_id": emu.client_id, "client_secret": emu.client_secret, **fields}


async def exchange_code(anon: httpx.AsyncClient, emu: Emulator) -> dict[str, Any]:
    r = await anon.post(
        "/o/token/",
        data=form(
            emu,
            grant_type="authorization_code",
            code=emu.issue_code(),
            redirect_uri=emu.redirect_uri,
        ),
    )
    assert r.status_code == 200, r.text
    return dict(r.json())


# --- OAuth -----------------------------------------------------------------------------------


async def test_authorization_code_grant(anon: httpx.AsyncClient, emu: Emulator) -> None:
    tokens = await exchange_code(anon, emu)
    assert tokens["expires_in"] == 172_800
    assert tokens["token_type"] == "Bearer"
    r = await anon.get("/api/doctors", headers=bearer(tokens["access_token"]))
    assert r.status_code == 200


async def test_a_code_works_once_and_for_a_minute(
    anon: httpx.AsyncClient, emu: Emulator, clock: VirtualClock
) -> None:
    code = emu.issue_code()
    body = form(emu, grant_type="authorization_code", code=code, redirect_uri=emu.redirect_uri)
    assert (await anon.post("/o/token/", data=body)).status_code == 200
    again = await anon.post("/o/token/", data=body)
    assert again.status_code == 400
    assert again.json() == {"error": "invalid_grant"}
    late = form(
        emu, grant_type="authorization_code", code=emu.issue_code(), redirect_uri=emu.redirect_uri
    )
    clock.advance(61)
    assert (await anon.post("/o/token/", data=late)).json() == {"error": "invalid_grant"}


async def test_authorize_redirects_with_a_usable_code(
    anon: httpx.AsyncClient, emu: Emulator
) -> None:
    r = await anon.get(
        "/o/authorize",
        params={"client_id": emu.client_id, "redirect_uri": emu.redirect_uri, "state": "s1"},
    )
    assert r.status_code == 302
    location = httpx.URL(r.headers["Location"])
    assert location.params["state"] == "s1"
    body = form(
        emu,
        grant_type="authorization_code",
        code=location.params["code"],
        redirect_uri=emu.redirect_uri,
    )
    assert (await anon.post("/o/token/", data=body)).status_code == 200


async def test_refresh_rotates_and_the_old_token_dies_at_once(
    anon: httpx.AsyncClient, emu: Emulator
) -> None:
    old_access, old_refresh = emu.access_token, emu.refresh_token
    r = await anon.post(
        "/o/token/", data=form(emu, grant_type="refresh_token", refresh_token=old_refresh)
    )
    assert r.status_code == 200
    new = r.json()
    assert new["refresh_token"] != old_refresh
    assert new["access_token"] != old_access
    # The old refresh token is dead at once...
    replay = await anon.post(
        "/o/token/", data=form(emu, grant_type="refresh_token", refresh_token=old_refresh)
    )
    assert replay.status_code == 400
    assert replay.json() == {"error": "invalid_grant"}
    # ...and so is the access token issued with it; the new pair works.
    assert (await anon.get("/api/doctors", headers=bearer(old_access))).status_code == 401
    assert (await anon.get("/api/doctors", headers=bearer(new["access_token"]))).status_code == 200
    again = await anon.post(
        "/o/token/",
        data=form(emu, grant_type="refresh_token", refresh_token=new["refresh_token"]),
    )
    assert again.status_code == 200


async def test_token_endpoint_rules(anon: httpx.AsyncClient, emu: Emulator) -> None:
    bad_client = {"client_id": "nope", "client_secret": "x", "grant_type": "refresh_token"}
    r = await anon.post("/o/token/", data=bad_client)
    assert r.status_code == 401
    # JSON is not read: the grant type is missing.
    body = form(emu, grant_type="refresh_token", refresh_token=emu.refresh_token)
    r = await anon.post("/o/token/", json=body)
    assert r.status_code == 401  # no client credentials either, as far as the server sees
    # The trailing slash is required.
    r = await anon.post("/o/token", data=body)
    assert r.status_code == 301
    assert r.headers["Location"].endswith("/o/token/")
    r = await anon.post("/o/token/", data=form(emu, grant_type="password"))
    assert r.json() == {"error": "unsupported_grant_type"}


async def test_access_tokens_expire_after_48_clock_hours(
    client: httpx.AsyncClient, clock: VirtualClock
) -> None:
    clock.advance(48 * 3600 - 1)
    assert (await client.get("/api/doctors")).status_code == 200
    clock.advance(1)
    r = await client.get("/api/doctors")
    assert r.status_code == 401
    assert r.json() == {"detail": "Authentication credentials were not provided."}


async def test_revoke(anon: httpx.AsyncClient, emu: Emulator) -> None:
    r = await anon.post("/o/revoke_token/", data=form(emu, token=emu.access_token))
    assert r.status_code == 200
    assert (await anon.get("/api/doctors", headers=bearer(emu.access_token))).status_code == 401


async def test_missing_or_unknown_tokens_are_401(anon: httpx.AsyncClient) -> None:
    assert (await anon.get("/api/doctors")).status_code == 401
    assert (await anon.get("/api/doctors", headers=bearer("made-up"))).status_code == 401
    basic = {"Authorization": "Basic dXNlcjpwdw=="}
    assert (await anon.get("/api/doctors", headers=basic)).status_code == 401


# --- quota -----------------------------------------------------------------------------------


def quota_emulator(clock: VirtualClock, quota: int) -> Emulator:
    return Emulator(seed=1, clock=clock, quota=quota, sizes={"appointments": 20, "other": 2})


async def test_the_quota_answers_429_with_the_wait_in_the_body_only(
    clock: VirtualClock,
) -> None:
    emu = quota_emulator(clock, 5)
    clock.advance(600)  # ten minutes into the hour
    async with httpx.AsyncClient(
        transport=emu.transport, base_url=emu.base_url, headers=bearer(emu.access_token)
    ) as c:
        statuses = [(await c.get("/api/doctors")).status_code for _ in range(5)]
        assert statuses == [200] * 5
        r = await c.get("/api/doctors")
    assert r.status_code == 429
    assert r.json() == {"detail": "Request was throttled. Expected available in 3000.0 seconds."}
    assert "Retry-After" not in r.headers
    assert emu.count(status=429) == 1


async def test_every_call_with_a_token_counts_but_429s_do_not(clock: VirtualClock) -> None:
    emu = quota_emulator(clock, 4)
    async with httpx.AsyncClient(
        transport=emu.transport, base_url=emu.base_url, headers=bearer(emu.access_token)
    ) as c:
        assert (await c.get("/api/nothing")).status_code == 404
        assert (await c.get("/api/appointments")).status_code == 400
        assert (await c.get("/api/patients/1")).status_code == 404
        assert emu.used() == 3
        assert (await c.get("/api/users/current")).status_code == 302
        assert emu.used() == 4
        for _ in range(3):
            assert (await c.get("/api/doctors")).status_code == 429
        assert emu.used() == 4
        # Calls without a valid token are refused before the quota sees them.
        assert (await c.get("/api/doctors", headers=bearer("nope"))).status_code == 401
        assert emu.used() == 4


async def test_the_window_resets_at_the_top_of_the_clock_hour(clock: VirtualClock) -> None:
    emu = quota_emulator(clock, 2)
    clock.advance(3599)
    async with httpx.AsyncClient(
        transport=emu.transport, base_url=emu.base_url, headers=bearer(emu.access_token)
    ) as c:
        for _ in range(2):
            assert (await c.get("/api/doctors")).status_code == 200
        r = await c.get("/api/doctors")
        assert r.status_code == 429
        assert "in 1.0 seconds" in r.json()["detail"]
        assert emu.window_start() == START
        clock.advance(1)
        assert emu.window_start() == START + 3600
        assert (await c.get("/api/doctors")).status_code == 200


async def test_a_shortened_window_resets_on_its_own_epoch_aligned_boundaries(
    clock: VirtualClock,
) -> None:
    emu = Emulator(seed=1, clock=clock, quota=2, quota_window=30.0, sizes={"other": 2})
    assert START % 30 == 0
    clock.advance(25)  # 5 s before the first 30-s boundary after START
    async with httpx.AsyncClient(
        transport=emu.transport, base_url=emu.base_url, headers=bearer(emu.access_token)
    ) as c:
        assert [(await c.get("/api/doctors")).status_code for _ in range(3)] == [200, 200, 429]
        r = await c.get("/api/doctors")
        assert "in 5.0 seconds" in r.json()["detail"]
        assert (emu.window_start(), emu.window_resets_at()) == (START, START + 30)
        clock.advance(5)
        assert emu.window_start() == START + 30
        assert (await c.get("/api/doctors")).status_code == 200
        assert emu.used() == 1


@pytest.mark.parametrize("window", [0.5, 3601, float("nan"), True, "30"])
def test_a_quota_window_must_be_seconds_up_to_an_hour(window: object) -> None:
    with pytest.raises(InvalidRequestError):
        Emulator(quota_window=window)  # type: ignore[arg-type]


async def test_the_quota_is_per_application_by_default(clock: VirtualClock) -> None:
    emu = quota_emulator(clock, 2)
    other = emu.issue_token()  # the same application: the same hour's budget
    elsewhere = emu.issue_token(client_id="another-app")
    async with httpx.AsyncClient(transport=emu.transport, base_url=emu.base_url) as c:
        assert (await c.get("/api/doctors", headers=bearer(emu.access_token))).status_code == 200
        assert (await c.get("/api/doctors", headers=bearer(other.access))).status_code == 200
        assert (await c.get("/api/doctors", headers=bearer(emu.access_token))).status_code == 429
        assert (await c.get("/api/doctors", headers=bearer(other.access))).status_code == 429
        assert (await c.get("/api/doctors", headers=bearer(elsewhere.access))).status_code == 200
    assert emu.used() == emu.used(other.access) == 2
    assert emu.used(elsewhere.access) == 1


async def test_a_token_scoped_quota_counts_each_access_token_apart(clock: VirtualClock) -> None:
    emu = Emulator(seed=1, clock=clock, quota=1, quota_scope="token", sizes={"other": 2})
    other = emu.issue_token()
    async with httpx.AsyncClient(transport=emu.transport, base_url=emu.base_url) as c:
        assert (await c.get("/api/doctors", headers=bearer(emu.access_token))).status_code == 200
        assert (await c.get("/api/doctors", headers=bearer(emu.access_token))).status_code == 429
        assert (await c.get("/api/doctors", headers=bearer(other.access))).status_code == 200
    assert emu.used() == emu.used(other.access) == 1


async def test_an_outside_consumer_can_spend_the_window(clock: VirtualClock) -> None:
    emu = quota_emulator(clock, 10)
    emu.spend(9)
    assert emu.remaining() == 1
    async with httpx.AsyncClient(
        transport=emu.transport, base_url=emu.base_url, headers=bearer(emu.access_token)
    ) as c:
        assert (await c.get("/api/doctors")).status_code == 200
        assert (await c.get("/api/doctors")).status_code == 429
    emu.quota = 20
    assert emu.remaining() == 10
    assert emu.window_resets_at() == START + 3600


async def test_a_client_that_waits_out_a_429_gets_through_in_virtual_time(
    clock: VirtualClock,
) -> None:
    emu = quota_emulator(clock, 1)
    async with httpx.AsyncClient(
        transport=emu.transport, base_url=emu.base_url, headers=bearer(emu.access_token)
    ) as c:
        await c.get("/api/doctors")
        r = await c.get("/api/doctors")
        wait = float(re.findall(r"in ([\d.]+) seconds", r.json()["detail"])[0])
        await clock.sleep(wait)
        assert (await c.get("/api/doctors")).status_code == 200
    assert clock.now() == START + 3600
