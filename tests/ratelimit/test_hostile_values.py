"""Nothing a server says (a 429's wait, a Date) can break a quota or move its window."""

from __future__ import annotations

import math

import pytest
import redis.asyncio as aioredis

from drchrono_async.errors import InvalidRequestError, QuotaExhaustedError
from drchrono_async.ratelimit import HourlyQuota, RedisQuota
from drchrono_async.ratelimit._algorithm import Params
from drchrono_async.ratelimit._scheduler import iso
from drchrono_async.testing import VirtualClock

HOSTILE_WAITS = [1e12, 1e308, float("inf"), float("-inf"), float("nan"), -5.0, 3 * 3600.0]


@pytest.mark.parametrize("wait", HOSTILE_WAITS)
async def test_an_unbelievable_429_wait_pauses_until_the_next_window_only(wait: float) -> None:
    clock = VirtualClock()
    quota = HourlyQuota(limit=10, clock=clock)
    await quota.acquire()
    resets_at = quota.snapshot().resets_at
    paused_until = await quota.throttled(wait)
    assert paused_until == pytest.approx(resets_at + quota.params.guard, abs=1e-3)
    await quota.acquire()  # waits the pause out (virtual time), then works
    assert clock.now() == pytest.approx(paused_until, abs=1e-3)
    assert "epoch" not in iso(quota.snapshot().resets_at)


async def test_a_wait_that_is_not_a_number_is_the_next_window() -> None:
    quota = HourlyQuota(limit=10, clock=VirtualClock())
    await quota.acquire()
    resets_at = quota.snapshot().resets_at
    assert await quota.throttled("5") == pytest.approx(resets_at + 1.0)  # type: ignore[arg-type]


async def test_a_believable_wait_is_kept() -> None:
    clock = VirtualClock()
    quota = HourlyQuota(limit=10, clock=clock)
    await quota.acquire()
    start = clock.now()
    assert await quota.throttled(30.0) == pytest.approx(start + 30.0)
    await quota.acquire()
    assert clock.now() == pytest.approx(start + 30.0, abs=1e-3)


async def test_one_date_a_day_ahead_does_not_open_a_new_window() -> None:
    """Grants per server hour stay within the limit when one Date header lies."""
    clock = VirtualClock(start=1_767_225_600.0 + 1800)  # half past an hour
    quota = HourlyQuota(limit=10, burst=10, rate=10, clock=clock)
    granted: list[float] = []
    for i in range(40):
        await quota.acquire()
        granted.append(clock.now())
        quota.observe_server_time(math.floor(clock.now()))  # the true server clock
        if i == 3:
            quota.observe_server_time(math.floor(clock.now()) + 86_400)  # one stray Date
    hours: dict[int, int] = {}
    for t in granted:
        hours[int(t // 3600)] = hours.get(int(t // 3600), 0) + 1
    assert max(hours.values()) <= 10


async def test_a_real_clock_step_is_still_followed_after_confirmation() -> None:
    clock = VirtualClock(start=1_767_225_600.0 + 100)
    quota = HourlyQuota(limit=10, clock=clock)
    quota.observe_server_time(math.floor(clock.now()))
    before = quota.snapshot().resets_at
    for _ in range(quota.params.confirm):
        quota.observe_server_time(math.floor(clock.now()) + 1800)  # server is 30 min ahead
    assert quota.snapshot().resets_at == pytest.approx(before - 1800, abs=2)


@pytest.mark.parametrize("bad", [float("nan"), -1, "5", True, [1]])
async def test_max_wait_must_be_seconds_or_none(bad: object) -> None:
    quota = HourlyQuota(clock=VirtualClock())
    with pytest.raises(InvalidRequestError):
        await quota.acquire(max_wait=bad)  # type: ignore[arg-type]
    await quota.acquire(max_wait=float("inf"))  # no limit


@pytest.mark.parametrize(
    "kwargs",
    [
        {"limit": 0},
        {"limit": 1.5},
        {"window": 0},
        {"window": float("inf")},
        {"rate": -1},
        {"burst": float("nan")},
        {"margin": "1"},
    ],
)
def test_quota_settings_are_checked(kwargs: dict[str, object]) -> None:
    with pytest.raises(InvalidRequestError):
        HourlyQuota(**kwargs)  # type: ignore[arg-type]
    with pytest.raises(InvalidRequestError):
        Params(**kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize("wait", HOSTILE_WAITS)
async def test_redis_quota_survives_any_wait_and_keeps_a_short_ttl(
    redis_client: aioredis.Redis, redis_key: str, wait: float
) -> None:
    clock = VirtualClock()
    key = f"{redis_key}:quota"
    quota = RedisQuota(redis_client, key=key, limit=10, window=60.0, clock=clock)
    other = RedisQuota(redis_client, key=key, limit=10, window=60.0, clock=clock)
    await quota.acquire()
    await quota.throttled(wait)
    assert 0 < await redis_client.pttl(key) <= 2 * 60 * 1000
    with pytest.raises(QuotaExhaustedError):
        await other.acquire(max_wait=0)  # the pause holds for every process ...
    snap = await other.fetch_snapshot()
    assert snap.paused_until is not None and snap.paused_until <= snap.resets_at + 61.0
    assert "epoch" not in iso(snap.paused_until)  # ... and ends by the next window's end


async def test_redis_quota_refuses_a_bad_key(redis_client: aioredis.Redis) -> None:
    with pytest.raises(InvalidRequestError):
        RedisQuota(redis_client, key="")


@pytest.mark.parametrize("date", [float("nan"), float("inf"), float("-inf"), 1e300, -1e300])
async def test_a_date_no_clock_could_show_is_ignored(
    redis_client: aioredis.Redis, redis_key: str, date: float
) -> None:
    clock = VirtualClock(start=1_767_225_600.0 + 100)
    hourly = HourlyQuota(limit=10, clock=clock)
    shared = RedisQuota(redis_client, key=f"{redis_key}:q", limit=10, clock=clock)
    for quota in (hourly, shared):
        quota.observe_server_time(date)
        quota.observe_server_time(clock.now() + 30)  # a sane Date after it still counts
    # RedisQuota sends it with its next call; it must be the sane one, not a stuck nan.
    assert shared._pending_obs is not None and abs(shared._pending_obs - 30) < 1
    for quota in (hourly, shared):
        await quota.acquire()
        snap = quota.snapshot()
        assert math.isfinite(snap.resets_at) and snap.resets_at > clock.now()
    assert hourly._state.cal == 1 and hourly._state.off == pytest.approx(30, abs=1)
