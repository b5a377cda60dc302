"""`HourlyQuota`: fair waiting, cancellation, max_wait, 429 pauses, snapshot and logs."""

from __future__ import annotations

import asyncio
import logging

import pytest

from drchrono_async.errors import QuotaExhaustedError
from drchrono_async.ratelimit import HourlyQuota, Quota
from drchrono_async.testing import VirtualClock

T0 = 1_767_225_600.0  # the top of an hour
HOUR = 3600.0


def test_is_a_quota() -> None:
    assert isinstance(HourlyQuota(), Quota)


async def settle() -> None:
    for _ in range(20):
        await asyncio.sleep(0)


async def test_waiters_are_served_first_come_first_served() -> None:
    clock = VirtualClock(start=T0 + 10)
    quota = HourlyQuota(limit=100, burst=1, rate=1.0, clock=clock)
    order: list[int] = []

    async def worker(i: int) -> None:
        await quota.acquire()
        order.append(i)

    tasks = []
    for i in range(8):
        tasks.append(asyncio.create_task(worker(i)))
        await asyncio.sleep(0)  # arrive in this order
    await asyncio.gather(*tasks)
    assert order == list(range(8))
    assert clock.now() == pytest.approx(T0 + 17, abs=1e-6)  # one per second after the first


async def test_only_the_head_of_the_queue_polls() -> None:
    clock = VirtualClock(start=T0 + 10)
    quota = HourlyQuota(limit=2, clock=clock)
    attempts = 0
    real_attempt = quota._attempt

    async def counting(**kw: int):  # type: ignore[no-untyped-def]
        nonlocal attempts
        attempts += 1
        return await real_attempt(**kw)

    quota._attempt = counting  # type: ignore[method-assign]
    await asyncio.gather(*(quota.acquire() for _ in range(30)))
    # 30 permits; each waiter asks the store about twice (refused, then granted), not once
    # per waiter per permit handed out.
    assert attempts <= 2 * 30 + 2
    assert clock.now() >= T0 + 14 * HOUR


async def test_cancelled_waiters_leak_no_permit() -> None:
    clock = VirtualClock(start=T0 + 10)
    quota = HourlyQuota(limit=5, clock=clock)
    for _ in range(5):
        await quota.acquire()
    # Window spent: the head sleeps until the next hour, the others queue.
    tasks = [asyncio.create_task(quota.acquire()) for _ in range(6)]
    await settle()
    assert not any(t.done() for t in tasks)
    for t in tasks[:4]:  # the sleeping head and three queued waiters
        t.cancel()
    await asyncio.gather(*tasks[:4], return_exceptions=True)
    assert quota.snapshot().used == 5
    await asyncio.gather(*tasks[4:])
    assert clock.now() == pytest.approx(T0 + HOUR, abs=1e-3)
    snap = quota.snapshot()
    assert snap.used == 2 and snap.remaining == 3  # only the two survivors took permits


async def test_max_wait_zero_fails_at_once_with_resets_at() -> None:
    clock = VirtualClock(start=T0 + 600)
    quota = HourlyQuota(limit=3, clock=clock)
    for _ in range(3):
        await quota.acquire(max_wait=0)
    with pytest.raises(QuotaExhaustedError) as info:
        await quota.acquire(max_wait=0)
    assert info.value.resets_at == pytest.approx(T0 + HOUR, abs=1e-3)
    assert clock.now() == T0 + 600  # nothing slept
    assert quota.snapshot().used == 3


async def test_max_wait_counts_the_queue_ahead() -> None:
    clock = VirtualClock(start=T0 + 600)
    quota = HourlyQuota(limit=100, burst=2, rate=1.0, clock=clock)
    for _ in range(2):
        await quota.acquire()
    ahead = [asyncio.create_task(quota.acquire()) for _ in range(3)]
    await settle()
    # Three ahead at one per second: the fourth permit is 4 s away.
    with pytest.raises(QuotaExhaustedError) as info:
        await quota.acquire(max_wait=3.5)
    assert info.value.resets_at == pytest.approx(T0 + 604, abs=1e-3)
    await quota.acquire(max_wait=4.5)
    await asyncio.gather(*ahead)
    assert clock.now() == pytest.approx(T0 + 604, abs=1e-3)


async def test_a_429_pauses_every_waiter_until_the_servers_wait() -> None:
    clock = VirtualClock(start=T0 + 100)
    quota = HourlyQuota(limit=500, clock=clock)
    granted: list[float] = []

    async def worker() -> None:
        await quota.acquire()
        granted.append(clock.now())

    for _ in range(10):
        await quota.acquire()  # the bucket is empty now
    tasks = [asyncio.create_task(worker()) for _ in range(5)]
    await settle()
    until = await quota.throttled(30.0)
    assert until == T0 + 130
    await asyncio.gather(*tasks)
    assert min(granted) >= T0 + 130
    snap = quota.snapshot()
    assert snap.throttled == 1 and snap.paused_until is None


async def test_a_429_fails_queued_waiters_whose_max_wait_it_exceeds() -> None:
    clock = VirtualClock(start=T0 + 100)
    quota = HourlyQuota(limit=500, burst=1, rate=1.0, clock=clock)
    await quota.acquire()
    head = asyncio.create_task(quota.acquire())
    patient = asyncio.create_task(quota.acquire(max_wait=None))
    hurried = asyncio.create_task(quota.acquire(max_wait=5))
    await settle()
    await quota.throttled(1800.0)
    with pytest.raises(QuotaExhaustedError):
        await hurried
    assert clock.now() == T0 + 100  # failed at once, not after sleeping
    await asyncio.gather(head, patient)
    assert clock.now() == pytest.approx(T0 + 1901, abs=1e-3)  # the pause, then one per second


async def test_snapshot_reports_the_window() -> None:
    clock = VirtualClock(start=T0 + 100)
    quota = HourlyQuota(limit=4, clock=clock)
    for _ in range(4):
        await quota.acquire()
    late = asyncio.create_task(quota.acquire())
    await settle()
    snap = quota.snapshot()
    assert (snap.limit, snap.used, snap.remaining) == (4, 4, 0)
    assert snap.resets_at == pytest.approx(T0 + HOUR, abs=1e-3)
    assert snap.waits == 1 and snap.throttled == 0 and snap.paused_until is None
    await quota.throttled(None)
    snap = quota.snapshot()
    assert snap.paused_until == pytest.approx(T0 + HOUR + 1.0, abs=1e-3)
    await late
    assert clock.now() == pytest.approx(T0 + HOUR + 1.0, abs=1e-3)


async def test_logs_say_until_when_and_why_once_per_episode(
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock = VirtualClock(start=T0 + 100)
    quota = HourlyQuota(limit=30, clock=clock)
    with caplog.at_level(logging.INFO, logger="drchrono_async.ratelimit"):
        await asyncio.gather(*(quota.acquire() for _ in range(31)))
    lines = [r.getMessage() for r in caplog.records if r.name == "drchrono_async.ratelimit"]
    assert lines == [
        "rate limit: waiting until 2026-01-01T00:01:40.100+00:00 (burst limit)",
        "rate limit: waiting until 2026-01-01T01:00:00.000+00:00 (window spent)",
        # A pause's end is logged too (cron logs would otherwise go silent for an hour);
        # the burst bucket's tenth-of-a-second spacing is not.
        "rate limit: requests resume after 3498 s (window spent)",
    ]
