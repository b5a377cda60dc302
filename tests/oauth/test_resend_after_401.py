"""The re-send after a 401 is a real HTTP call: it takes a quota permit and is counted.

This is why the 401 handling stays in the transport rather than in an `httpx.Auth` flow:
httpx sends a flow's second request inside `AsyncClient.send`, past the transport's permit,
call count and in-flight bound.
"""

from __future__ import annotations

from drchrono_async.oauth import MemoryTokenStore
from drchrono_async.ratelimit import HourlyQuota
from drchrono_async.testing import Emulator, VirtualClock

from .test_oauth_emulator import app_for


async def test_the_resend_after_a_401_takes_a_permit_and_is_counted() -> None:
    emu = Emulator(seed=3, clock=VirtualClock(), sizes={"appointments": 0, "patients": 3})
    app = app_for(emu)
    store = MemoryTokenStore(await app.exchange_code(emu.issue_code()))
    quota = HourlyQuota(clock=emu.clock)
    async with (
        app,
        emu.client(access_token=None, oauth=app, token_store=store, quota=quota) as a,
        emu.client(access_token=None, oauth=app, token_store=store, quota=None) as b,
    ):
        await a.request("GET", "/api/doctors")
        stored = await store.load()
        assert stored is not None
        await b.auth._single_flight(stored)  # type: ignore[attr-defined]  # a's token dies
        used = quota.snapshot().used
        seen = len(emu.requests)
        with a.count_calls() as count:
            await a.request("GET", "/api/doctors")
    sent = [(e.path, e.status) for e in emu.requests[seen:]]
    assert sent == [("/api/doctors", 401), ("/api/doctors", 200)]  # refused, then re-sent
    assert count.calls == 2
    assert quota.snapshot().used - used == 2  # one permit each, the re-send included
