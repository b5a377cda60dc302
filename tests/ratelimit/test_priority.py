"""Priority lanes and the interactive reserve: the algorithm, `HourlyQuota`, the client.

All in virtual time: the clock is injected, nothing sleeps on the wall clock.
"""

from __future__ import annotations

import asyncio
import logging
import math
import random
import statistics
from collections import Counter

import pytest

from drchrono_async import DrChronoClient, InvalidRequestError, Priority, QuotaExhaustedError
from drchrono_async.ratelimit import HourlyQuota
from drchrono_async.ratelimit._algorithm import Op, Params, Reason, State, eta, release_at, step
from drchrono_async.ratelimit._priority import check_priority, check_release, reserve_permits
from drchrono_async.testing import Emulator, VirtualClock

T0 = 1_767_225_600.0  # the top of an hour
HOUR = 3600.0
PATH = "/api/doctors"  # one call per request (no redirect)


async def settle() -> None:
    for _ in range(20):
        await asyncio.sleep(0)


def acquire(s: State, p: Params, now: float, *, background: bool) -> tuple[bool, Reason, float]:
    d = step(s, p, now, Op.ACQUIRE, background=background)
    return d.granted, d.reason, d.wait


# -- the algorithm ----------------------------------------------------------------------------


def test_background_stops_at_the_reserve_and_interactive_spends_it() -> None:
    p = Params(limit=10, burst=100, rate=100.0, drift=0.0, reserve=3, release=60.0)
    s = State()
    for _ in range(7):
        assert acquire(s, p, T0 + 100, background=True)[0]
    granted, reason, wait = acquire(s, p, T0 + 100, background=True)
    assert (granted, reason) == (False, Reason.RESERVE)
    assert wait == pytest.approx(HOUR - 60 - 100, abs=1e-5)  # until the last minute
    for _ in range(3):  # the reserve is the interactive lane's
        assert acquire(s, p, T0 + 101, background=False)[0]
    assert acquire(s, p, T0 + 101, background=False)[1] == Reason.WINDOW
    assert s.used == 10


def test_the_unused_reserve_goes_to_background_in_the_windows_last_minute() -> None:
    p = Params(limit=10, burst=100, rate=100.0, drift=0.0, reserve=3, release=60.0)
    s = State()
    for _ in range(7):
        assert acquire(s, p, T0 + 100, background=True)[0]
    assert not acquire(s, p, T0 + HOUR - 60.01, background=True)[0]
    for _ in range(3):
        assert acquire(s, p, T0 + HOUR - 59.99, background=True)[0]
    assert acquire(s, p, T0 + HOUR - 59.99, background=True)[1] == Reason.WINDOW
    assert s.used == 10  # the whole window was spent without any interactive demand


def test_the_release_follows_the_servers_clock() -> None:
    p = Params(limit=4, drift=0.0, reserve=2, release=60.0)
    s = State()
    local = T0 + 1000
    step(s, p, local, Op.PEEK, obs=90.0)  # the server is 90 s ahead
    assert math.isclose(release_at(s, p), T0 + HOUR - 60 - 90, abs_tol=1e-5)
    for _ in range(2):
        assert acquire(s, p, local, background=True)[0]
    assert acquire(s, p, T0 + HOUR - 150.01, background=True)[1] == Reason.RESERVE
    assert acquire(s, p, T0 + HOUR - 149.99, background=True)[0]


def test_a_reserve_of_the_whole_window_is_held_to_its_end_with_release_zero() -> None:
    p = Params(limit=3, drift=0.0, reserve=3, release=0.0)
    s = State()
    granted, reason, wait = acquire(s, p, T0 + 10, background=True)
    assert (granted, reason) == (False, Reason.RESERVE)
    assert wait == pytest.approx(HOUR - 10, abs=1e-5)
    assert acquire(s, p, T0 + HOUR + 0.01, background=True)[1] == Reason.RESERVE  # next one too


def test_a_waiting_interactive_request_claims_the_next_permit() -> None:
    p = Params(limit=100, burst=1, rate=1.0, drift=0.0, claim=0.25)
    s = State()
    assert acquire(s, p, T0 + 10, background=False)[0]
    granted, reason, wait = acquire(s, p, T0 + 10, background=False)
    assert (granted, reason, wait) == (False, Reason.BURST, pytest.approx(1.0))
    assert s.claimed == pytest.approx(T0 + 11.25)
    # The token is back at T0+11, but the interactive waiter has it first ...
    granted, reason, wait = acquire(s, p, T0 + 11.001, background=True)
    assert (granted, reason, wait) == (False, Reason.YIELD, pytest.approx(0.249))
    assert acquire(s, p, T0 + 11.002, background=False)[0]
    # ... and once its claim is over, background work goes on.
    assert acquire(s, p, T0 + 12.26, background=True)[0]


def test_a_granted_or_background_acquire_claims_nothing() -> None:
    p = Params(limit=100, burst=1, rate=1.0, drift=0.0, claim=0.25)
    s = State()
    assert acquire(s, p, T0 + 10, background=False)[0]
    assert not acquire(s, p, T0 + 10, background=True)[0]
    assert s.claimed == 0.0


def test_eta_puts_interactive_permits_before_background_ones() -> None:
    p = Params(limit=10, burst=100, rate=100.0, drift=0.0, reserve=3, release=60.0)
    s = State()
    for _ in range(7):
        step(s, p, T0 + 100, Op.ACQUIRE, background=True)
    before = attrs_tuple(s)
    assert eta(s, p, T0 + 100, 3) == 0.0  # three interactive: the reserve
    # One background after them waits for the next window; alone it waits for the release.
    assert eta(s, p, T0 + 100, 3, 1) == pytest.approx(HOUR - 100, abs=1e-5)
    assert eta(s, p, T0 + 100, 0, 1) == pytest.approx(HOUR - 160, abs=1e-5)
    assert attrs_tuple(s) == before


def attrs_tuple(s: State) -> tuple[float, ...]:
    return (s.used, s.tokens, s.claimed, s.waits)


# -- settings ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("reserve", "permits"), [(0.1, 50), (0.0, 0), (0.999, 500), (0, 0), (1, 1), (500, 500)]
)
def test_reserve_is_a_fraction_as_a_float_and_permits_as_an_int(
    reserve: float, permits: int
) -> None:
    assert reserve_permits(reserve, 500) == permits
    assert HourlyQuota(limit=500, reserve=reserve).params.reserve == permits


@pytest.mark.parametrize("bad", [1.0, -0.1, float("nan"), float("inf"), -1, 501, True, "0.1"])
def test_a_reserve_out_of_bounds_is_refused(bad: object) -> None:
    with pytest.raises(InvalidRequestError):
        HourlyQuota(limit=500, reserve=bad)  # type: ignore[arg-type]


def test_reserve_release_defaults_to_the_windows_last_60th() -> None:
    assert HourlyQuota().params.release == 60.0
    assert HourlyQuota(window=60.0).params.release == 1.0
    assert check_release(0, 10.0) == 0.0 and check_release(10, 10.0) == 10.0


@pytest.mark.parametrize("bad", [-1, 3601, float("nan"), float("inf"), "60", True])
def test_a_reserve_release_out_of_bounds_is_refused(bad: object) -> None:
    with pytest.raises(InvalidRequestError):
        HourlyQuota(reserve_release=bad)  # type: ignore[arg-type]


@pytest.mark.parametrize("bad", ["urgent", "INTERACTIVE", 1, None, True, b"background"])
async def test_a_priority_must_be_one_of_the_two(bad: object) -> None:
    with pytest.raises(InvalidRequestError):
        check_priority(bad)
    quota = HourlyQuota(clock=VirtualClock())
    with pytest.raises(InvalidRequestError):
        await quota.acquire(priority=bad)  # type: ignore[arg-type]
    assert quota.snapshot().used == 0
    await quota.acquire(priority=Priority.BACKGROUND)
    await quota.acquire(priority="interactive")
    assert quota.snapshot().used == 2


# -- HourlyQuota: the two lanes ---------------------------------------------------------------


async def test_interactive_waiters_overtake_every_waiting_background_one() -> None:
    clock = VirtualClock(start=T0 + 10)
    quota = HourlyQuota(limit=100, burst=1, rate=1.0, reserve=0, clock=clock)
    await quota.acquire()  # the bucket is empty: everyone after this waits a second each
    order: list[str] = []

    async def worker(name: str, priority: str) -> None:
        await quota.acquire(priority=priority)  # type: ignore[arg-type]
        order.append(name)

    tasks = [asyncio.create_task(worker(f"b{i}", "background")) for i in range(4)]
    await settle()  # b0 is the head, asleep until the next token
    tasks += [asyncio.create_task(worker(f"i{i}", "interactive")) for i in range(3)]
    await asyncio.gather(*tasks)
    assert order == ["i0", "i1", "i2", "b0", "b1", "b2", "b3"]
    assert clock.now() == pytest.approx(T0 + 17, abs=1e-6)  # no permit lost to the overtaking


async def test_a_background_head_waiting_for_the_reserve_does_not_block_interactive() -> None:
    clock = VirtualClock(start=T0 + 100)
    quota = HourlyQuota(limit=10, reserve=3, clock=clock)
    for _ in range(7):
        await quota.acquire(priority="background")
    late = asyncio.create_task(quota.acquire(priority="background"))
    await settle()
    assert not late.done()
    for _ in range(3):  # served at once, past the sleeping background head
        await quota.acquire()
    assert clock.now() == T0 + 100
    snap = quota.snapshot()
    assert (snap.used, snap.remaining, snap.reserved) == (10, 0, 0)
    await late  # the window is spent now: the next one
    assert clock.now() == pytest.approx(T0 + HOUR, abs=1e-3)


async def test_snapshot_tells_the_held_reserve() -> None:
    clock = VirtualClock(start=T0 + 100)
    quota = HourlyQuota(limit=10, reserve=3, clock=clock)
    assert quota.snapshot().reserved == 3
    for _ in range(8):
        await quota.acquire()  # interactive may spend into the reserve
    assert (quota.snapshot().remaining, quota.snapshot().reserved) == (2, 2)
    await clock.sleep(HOUR - 100 - 59)  # the last minute: released
    assert quota.snapshot().reserved == 0


async def test_background_max_wait_fails_at_once_on_the_reserve() -> None:
    clock = VirtualClock(start=T0 + 600)
    quota = HourlyQuota(limit=5, reserve=2, clock=clock)
    for _ in range(3):
        await quota.acquire(priority="background", max_wait=0)
    with pytest.raises(QuotaExhaustedError) as info:
        await quota.acquire(priority="background", max_wait=0)
    assert info.value.resets_at == pytest.approx(T0 + HOUR - 60, abs=1e-3)  # the release
    assert "reserve held for interactive requests" in str(info.value)
    await quota.acquire(max_wait=0)  # interactive still passes
    assert clock.now() == T0 + 600


async def test_interactive_max_wait_does_not_count_background_waiters_ahead() -> None:
    clock = VirtualClock(start=T0 + 600)
    quota = HourlyQuota(limit=100, burst=1, rate=1.0, reserve=0, clock=clock)
    await quota.acquire()
    background = [asyncio.create_task(quota.acquire(priority="background")) for _ in range(5)]
    await settle()
    await quota.acquire(max_wait=1.5)  # five background waiters, but it goes first
    assert clock.now() == pytest.approx(T0 + 601, abs=1e-6)
    with pytest.raises(QuotaExhaustedError):  # behind the five, it would wait ~6 s
        await quota.acquire(priority="background", max_wait=3)
    await asyncio.gather(*background)


async def test_cancelled_waiters_of_both_lanes_leak_no_permit() -> None:
    clock = VirtualClock(start=T0 + 10)
    quota = HourlyQuota(limit=6, reserve=2, clock=clock)
    for _ in range(4):
        await quota.acquire(priority="background")
    bg = [asyncio.create_task(quota.acquire(priority="background")) for _ in range(4)]
    await settle()
    inter = [asyncio.create_task(quota.acquire()) for _ in range(4)]  # two get the reserve
    await settle()
    assert sum(t.done() for t in inter) == 2 and not any(t.done() for t in bg)
    for t in [bg[0], bg[2], *[t for t in inter if not t.done()][:1]]:
        t.cancel()
    await asyncio.gather(*bg, *inter, return_exceptions=True)
    # Next window: the surviving interactive waiter, then the two background ones.
    assert clock.now() == pytest.approx(T0 + HOUR, abs=1e-3)
    assert quota.snapshot().used == 3
    assert sum(t.cancelled() for t in [*bg, *inter]) == 3


async def test_a_priority_change_is_logged_once(caplog: pytest.LogCaptureFixture) -> None:
    clock = VirtualClock(start=T0 + 100)
    quota = HourlyQuota(limit=5, reserve=2, clock=clock)
    with caplog.at_level(logging.INFO, logger="drchrono_async.ratelimit"):
        await asyncio.gather(*(quota.acquire(priority="background") for _ in range(5)))
    lines = [r.getMessage() for r in caplog.records if r.name == "drchrono_async.ratelimit"]
    assert lines == [
        "rate limit: waiting until 2026-01-01T00:59:00.000+00:00 "
        "(reserve held for interactive requests)",
        "rate limit: requests resume after 3440 s (reserve held for interactive requests)",
    ]


# -- under contention, and with background demand only ---------------------------------------


async def mixed_load(
    quota: HourlyQuota, clock: VirtualClock, *, hours: int, interactive_every: float
) -> tuple[list[tuple[float, bool, int, float]], dict[str, list[float]]]:
    """20 background coroutines of continuous demand, interactive requests at random times.

    Interactive requests come `interactive_every` seconds apart, give or take half of it.
    Returns each grant as (time, background, used after it, seconds waited), and the waits.
    """
    end = T0 + hours * HOUR
    grants: list[tuple[float, bool, int, float]] = []
    waits: dict[str, list[float]] = {"interactive": [], "background": []}
    rng = random.Random(7)

    async def one(priority: str) -> None:
        asked = clock.now()
        await quota.acquire(priority=priority)  # type: ignore[arg-type]
        waited = clock.now() - asked
        waits[priority].append(waited)
        grants.append((clock.now(), priority == "background", quota.snapshot().used, waited))

    async def background() -> None:
        while clock.now() < end:
            await one("background")

    async def interactive() -> None:
        asks = []
        while clock.now() < end:
            await clock.sleep(rng.uniform(0.5, 1.5) * interactive_every)
            asks.append(asyncio.create_task(one("interactive")))
        await asyncio.gather(*asks)

    await asyncio.gather(interactive(), *(background() for _ in range(20)))
    return grants, waits


async def test_under_contention_interactive_waits_less_and_the_reserve_holds() -> None:
    clock = VirtualClock(start=T0)
    quota = HourlyQuota(limit=100, reserve=0.1, clock=clock)  # 10 held to the last minute
    # At least 360 s apart: at most 10 interactive requests an hour, as many as are held.
    grants, waits = await mixed_load(quota, clock, hours=3, interactive_every=720.0)
    for t, is_background, used, _ in grants:
        if is_background and (t - T0) % HOUR < HOUR - 60:
            assert used <= 90, (t, used)  # background never took the held reserve
    inter, back = waits["interactive"], waits["background"]
    assert len(inter) >= 10
    # Interactive requests are served at once from the reserve; one may land in the last
    # minute, after background took what was left of it, and wait for the next window.
    assert statistics.median(inter) == 0.0 and max(inter) <= 61.0
    assert statistics.mean(back) > 60.0  # background waits for windows, most of the hour
    per_window = Counter(math.floor(t / HOUR) for t, *_ in grants)
    assert all(per_window[math.floor(T0 / HOUR) + h] == 100 for h in range(3))


async def test_background_demand_alone_still_spends_every_window_in_full() -> None:
    clock = VirtualClock(start=T0 + 1234.5)
    quota = HourlyQuota(limit=500, clock=clock)  # the default reserve: 50, released at :59
    grants: list[float] = []
    end = T0 + 4 * HOUR

    async def worker() -> None:
        while clock.now() < end:
            await quota.acquire(priority="background")
            grants.append(clock.now())

    await asyncio.gather(*(worker() for _ in range(20)))
    per_window = Counter(math.floor(t / HOUR) for t in grants)
    full = [math.floor(T0 / HOUR) + h for h in (1, 2, 3)]
    assert [per_window[w] for w in full] == [500, 500, 500]  # >= 99.5%: all of it
    for w in full:
        late = [t for t in grants if math.floor(t / HOUR) == w and t >= (w + 1) * HOUR - 60]
        assert len(late) == 50  # the reserve, spent once released


# -- the client -------------------------------------------------------------------------------


def test_the_client_checks_its_priority() -> None:
    with pytest.raises(InvalidRequestError):
        DrChronoClient("token", priority="low")  # type: ignore[arg-type]
    client = DrChronoClient("token", quota=None)
    with pytest.raises(InvalidRequestError):
        client.with_options(priority=2)  # type: ignore[arg-type]


async def test_a_background_view_stops_at_the_reserve_the_client_does_not() -> None:
    clock = VirtualClock(start=T0 + 600)
    emulator = Emulator(clock=clock, latency=0.0, sizes={})
    quota = HourlyQuota(limit=10, reserve=3, clock=clock)
    async with emulator.client(quota=quota, clock=clock, max_wait=0) as client:
        sync = client.with_options(priority="background")
        for _ in range(7):
            await sync.request("GET", PATH)
        with pytest.raises(QuotaExhaustedError) as info:
            await sync.request("GET", PATH)
        assert info.value.resets_at == pytest.approx(T0 + HOUR - 60, abs=1.5)
        for _ in range(3):  # the client itself is interactive by default
            await client.request("GET", PATH)
        back = client.with_options(priority="background").with_options(priority="interactive")
        with pytest.raises(QuotaExhaustedError):
            await back.request("GET", PATH)  # the window is spent for everyone now
    assert len(emulator.requests) == 10 and emulator.count(status=429) == 0


async def test_a_background_client_against_the_emulator_spends_each_hour() -> None:
    clock = VirtualClock(start=T0 + 1234.5)
    emulator = Emulator(clock=clock, latency=(0.02, 0.15), sizes={})
    quota = HourlyQuota(clock=clock)
    client = emulator.client(quota=quota, clock=clock, max_concurrency=20, priority="background")
    async with client:

        async def worker() -> None:
            while clock.now() < T0 + 4 * HOUR + 10:
                await client.request("GET", PATH)

        await asyncio.gather(*(worker() for _ in range(20)))
    served = Counter(
        math.floor(e.time / HOUR) for e in emulator.requests if e.status not in (None, 429)
    )
    full = [math.floor(T0 / HOUR) + h for h in (1, 2, 3)]
    assert [served[w] for w in full] == [500, 500, 500]
    assert emulator.count(status=429) == 0


class OldStyleQuota:
    """A quota written before priorities: its `acquire` takes no `priority`."""

    def __init__(self, clock: VirtualClock) -> None:
        self.clock = clock
        self.acquired = 0

    async def acquire(self, *, max_wait: float | None = None) -> None:
        self.acquired += 1

    async def throttled(self, retry_after: float | None) -> float:
        return self.clock.now()

    def observe_server_time(self, server_now: float) -> None:
        pass

    def snapshot(self) -> object:
        raise NotImplementedError


async def test_a_quota_without_priorities_still_serves_a_background_client() -> None:
    clock = VirtualClock(start=T0 + 600)
    emulator = Emulator(clock=clock, latency=0.0, sizes={})
    quota = OldStyleQuota(clock)
    async with emulator.client(quota=quota, clock=clock, priority="background") as client:
        await client.request("GET", PATH)
    assert quota.acquired == 1
