"""`HourlyQuota` inside the real client, against the emulator, in virtual time.

The emulator enforces the quota per token per epoch hour of its own clock and answers 429
with the wait in the body only; the client's transport takes a permit per request, feeds the
`Date` header to the quota and re-sends after a 429 pause.
"""

from __future__ import annotations

import asyncio
import math
from collections import Counter

import pytest

from drchrono_async import DrChronoClient, QuotaExhaustedError, RateLimitError
from drchrono_async.ratelimit import HourlyQuota
from drchrono_async.testing import Emulator, VirtualClock

T0 = 1_767_225_600.0  # 2026-01-01T00:00:00Z
HOUR = 3600.0
PATH = "/api/users/current"


class OffsetClock:
    """The server's clock: the local virtual clock plus a fixed offset."""

    def __init__(self, base: VirtualClock, offset: float) -> None:
        self.base = base
        self.offset = offset

    def now(self) -> float:
        return self.base.now() + self.offset

    async def sleep(self, seconds: float) -> None:
        await self.base.sleep(seconds)


def setup(
    start: float, *, offset: float = 0.0, latency: float | tuple[float, float] = (0.02, 0.15)
) -> tuple[VirtualClock, Emulator, HourlyQuota, DrChronoClient]:
    clock = VirtualClock(start=start)
    server_clock = OffsetClock(clock, offset) if offset else clock
    emulator = Emulator(clock=server_clock, latency=latency, sizes={})
    quota = HourlyQuota(clock=clock)
    client = emulator.client(quota=quota, clock=clock, max_concurrency=50)
    return clock, emulator, quota, client


async def demand(client: DrChronoClient, clock: VirtualClock, until: float, n: int = 50) -> None:
    """`n` coroutines that each keep sending requests until `until` (local time).

    Each request is two HTTP calls (a 302 to the user, then the user): two permits.
    """

    async def worker() -> None:
        while clock.now() < until:
            await client.request("GET", PATH)

    await asyncio.gather(*(worker() for _ in range(n)))


def charged(status: int | None) -> bool:
    """The emulator counted this request against the quota (`users/current` answers 302)."""
    return status is not None and status != 429


def served_per_window(emulator: Emulator) -> Counter[int]:
    return Counter(math.floor(e.time / HOUR) for e in emulator.requests if charged(e.status))


def first_call_after_each_reset(emulator: Emulator) -> dict[int, float]:
    """Seconds from each window start (server clock) to its first served call."""
    firsts: dict[int, float] = {}
    for e in emulator.requests:
        w = math.floor(e.time / HOUR)
        if charged(e.status) and w not in firsts:
            firsts[w] = e.time - w * HOUR
    return firsts


@pytest.mark.parametrize("offset", [0.0, 90.0, -90.0])
async def test_three_hours_of_continuous_demand_spend_exactly_the_quota(offset: float) -> None:
    # Start mid-hour; the server's clock is `offset` seconds off ours.
    clock, emulator, quota, client = setup(T0 + 1234.5, offset=offset)
    async with client:
        await demand(client, clock, until=T0 + 3 * HOUR + 600)
    assert emulator.count(status=429) == 0
    served = served_per_window(emulator)
    first_window = math.floor((T0 + 1234.5 + offset) / HOUR)  # on the server's clock
    full = [first_window + 1, first_window + 2, first_window + 3]
    assert [served[w] for w in full] == [500, 500, 500]
    delays = first_call_after_each_reset(emulator)
    for w in full:
        # Date resolution (1 s) bounds the guard, latency adds up to 0.15 s to it.
        assert 0.0 <= delays[w] < 1.0, (w, delays[w])
    assert quota.snapshot().throttled == 0


async def test_an_outside_consumer_causes_at_most_one_429_and_the_client_resumes() -> None:
    # A fixed 50 ms latency: one request in flight when the outside spending shows.
    clock, emulator, quota, client = setup(T0 + HOUR - 300, latency=0.05)

    async def outside() -> None:
        await clock.sleep(T0 + HOUR + 5 - clock.now())
        emulator.spend(100)  # someone else with the same token, early in the hour

    async with client:
        await asyncio.gather(outside(), demand(client, clock, until=T0 + 3 * HOUR + 60))
    assert emulator.count(status=429) == 1
    served = served_per_window(emulator)
    hour1 = math.floor(T0 / HOUR) + 1
    assert served[hour1] == 400  # the other 100 were the outsider's
    assert served[hour1 + 1] == 500 and served[hour1 + 2] == 500
    assert first_call_after_each_reset(emulator)[hour1 + 1] < 1.0
    snap = quota.snapshot()
    assert snap.throttled == 1


async def test_cancelled_waiters_leak_no_permit_against_the_emulator() -> None:
    clock, emulator, quota, client = setup(T0 + 600)
    async with client:
        workers = [
            asyncio.create_task(demand(client, clock, until=T0 + 3 * HOUR, n=1)) for _ in range(50)
        ]
        await clock.sleep(HOUR - 600 - 1800)  # mid-hour: the window is spent, all are waiting
        assert emulator.used() == 500
        for w in workers[::2]:
            w.cancel()
        await asyncio.gather(*workers, return_exceptions=True)
    served = served_per_window(emulator)
    hour0 = math.floor(T0 / HOUR)
    assert [served[hour0 + 1], served[hour0 + 2]] == [500, 500]
    assert emulator.count(status=429) == 0
    assert sum(1 for w in workers if w.cancelled()) == 25
    assert quota.snapshot().used == emulator.used()  # the quota's count is the server's


async def test_a_web_backend_gets_quota_exhausted_at_once() -> None:
    clock, emulator, quota, _ = setup(T0 + 600, latency=0.0)
    emulator.quota = 10
    quota = HourlyQuota(limit=10, clock=clock)
    async with emulator.client(quota=quota, clock=clock, max_wait=0) as web:
        for _ in range(5):  # 10 permits: each is a redirect and its target
            await web.request("GET", PATH)
        with pytest.raises(QuotaExhaustedError) as info:
            await web.request("GET", PATH)
    assert info.value.resets_at == pytest.approx(T0 + HOUR, abs=1.5)
    assert (info.value.method, info.value.path) == ("GET", PATH)
    assert clock.now() == T0 + 600
    assert len(emulator.requests) == 10  # nothing more was sent


async def test_a_429_longer_than_max_wait_reaches_the_caller() -> None:
    clock, emulator, quota, _ = setup(T0 + 600, latency=0.0)
    emulator.spend(500)  # an outsider spent the hour
    async with emulator.client(quota=quota, clock=clock, max_wait=60) as client:
        with pytest.raises(RateLimitError) as info:
            await client.request("GET", PATH)
    assert not isinstance(info.value, QuotaExhaustedError)
    assert emulator.count(status=429) == 1
    # Everyone is paused until the hour the server named.
    assert quota.snapshot().paused_until == pytest.approx(T0 + HOUR, abs=1.0)
