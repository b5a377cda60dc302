"""Whatever the server or the caller hands the quotas, later requests keep working.

A 429's wait and a response's `Date` come from the network; `max_wait` and the constructor's
settings come from the caller. None of them may break the quota for later requests (of every
process sharing it, for `RedisQuota`), and a bad caller value is an `InvalidRequestError`.
"""

from __future__ import annotations

import asyncio
import logging
import math
from typing import Any

import pytest
import redis.asyncio as aioredis

from drchrono_async.errors import InvalidRequestError, QuotaExhaustedError
from drchrono_async.ratelimit import HourlyQuota, RedisQuota
from drchrono_async.ratelimit._algorithm import Op, Params, State, step
from drchrono_async.ratelimit._lua import SCRIPT
from drchrono_async.ratelimit._redis import decode, script_args
from drchrono_async.ratelimit._scheduler import iso
from drchrono_async.testing import VirtualClock

T0 = 1_767_225_600.0  # the top of an hour
HOUR = 3600.0
DAY = 86400.0
HOSTILE_WAITS = [1e12, math.inf, -math.inf, math.nan, -5.0, 1e300, 3 * HOUR]


async def redis_now(client: aioredis.Redis) -> float:
    sec, usec = await client.time()
    return float(sec) + usec / 1e6


# -- one Date header far from the others --------------------------------------------------------


async def test_one_date_a_day_ahead_does_not_open_a_new_window_hourly() -> None:
    clock = VirtualClock(start=T0 + 100)
    quota = HourlyQuota(limit=10, clock=clock)
    granted = 0
    for i in range(40):  # one call a second, all inside the server's hour
        try:
            await quota.acquire(max_wait=0)
            granted += 1
        except QuotaExhaustedError:
            pass
        date = math.floor(clock.now())
        quota.observe_server_time(date + DAY if i == 4 else date)  # one bad proxy's reply
        clock.advance(1.0)
    assert granted == 10


async def test_one_date_a_day_ahead_does_not_open_a_new_window_redis(
    redis_client: aioredis.Redis, redis_key: str
) -> None:
    now = await redis_now(redis_client)
    # The server's clock: Redis's, shifted so that the test runs mid-hour on it.
    shift = (math.floor(now / HOUR) * HOUR + 1800.0) - now
    # A burst as large as the limit: the test runs in a few real milliseconds.
    quota = RedisQuota(redis_client, key=f"{redis_key}:quota", limit=10, burst=10,
                       rate=1000.0, clock=VirtualClock(start=now))  # fmt: skip
    granted = 0
    for i in range(30):
        try:
            await quota.acquire(max_wait=0)
            granted += 1
        except QuotaExhaustedError:
            pass
        date = math.floor(await redis_now(redis_client) + shift)
        quota.observe_server_time(date + DAY if i == 4 else date)
    assert granted == 10


async def test_a_non_finite_date_is_ignored_hourly() -> None:
    clock = VirtualClock(start=T0 + 100)
    quota = HourlyQuota(limit=10, clock=clock)
    for bad in (math.inf, -math.inf, math.nan, 1e300):
        quota.observe_server_time(bad)
    quota.observe_server_time(T0 + 190)  # the first usable one: the server is 90 s ahead
    await quota.acquire()
    # (0.35 s later: the estimate ages by the drift allowance until then)
    assert quota.snapshot().resets_at == pytest.approx(T0 + HOUR - 90, abs=0.5)


async def test_a_non_finite_date_is_ignored_redis(
    redis_client: aioredis.Redis, redis_key: str
) -> None:
    now = await redis_now(redis_client)
    quota = RedisQuota(redis_client, key=f"{redis_key}:quota", clock=VirtualClock(start=now))
    await quota.acquire()  # learns Redis's clock
    quota.observe_server_time(math.nan)  # must not hide the good one that follows
    quota.observe_server_time(math.inf)
    quota.observe_server_time(now + 90)
    await quota.acquire()  # sends the observation
    assert quota._last is not None
    state = quota._last[0]
    assert state.cal == 1 and state.off == pytest.approx(90, abs=1.0)


# -- hostile 429 waits --------------------------------------------------------------------------


@pytest.mark.parametrize("wait", HOSTILE_WAITS)
async def test_a_hostile_429_wait_means_until_the_next_window_hourly(wait: float) -> None:
    clock = VirtualClock(start=T0 + 100)
    quota = HourlyQuota(limit=500, clock=clock)
    await quota.acquire()
    until = await quota.throttled(wait)
    assert until == pytest.approx(T0 + HOUR + 1.0, abs=1e-3)  # the next window plus the guard
    snap = quota.snapshot()
    assert snap.paused_until == pytest.approx(until) and snap.remaining == 0
    await quota.acquire()  # sleeps (in virtual time) until the pause ends, then is granted
    assert clock.now() == pytest.approx(T0 + HOUR + 1.0, abs=1e-3)
    assert quota.snapshot().used == 1


async def test_a_429_wait_up_to_the_end_of_the_next_window_is_honoured() -> None:
    clock = VirtualClock(start=T0 + 100)
    quota = HourlyQuota(limit=500, clock=clock)
    # Ends 1 s before the next window ends: the server may be counting in that window.
    assert await quota.throttled(2 * HOUR - 101.0) == pytest.approx(T0 + 2 * HOUR - 1.0)
    # 2 s later than the next window's end plus the guard: taken as "until the next window".
    fresh = HourlyQuota(limit=500, clock=clock)
    assert await fresh.throttled(2 * HOUR - 100.0 + 2.0) == pytest.approx(T0 + HOUR + 1.0)


async def test_hostile_waits_log_only_bounded_times(caplog: pytest.LogCaptureFixture) -> None:
    clock = VirtualClock(start=T0 + 100)
    quota = HourlyQuota(limit=500, clock=clock)
    with caplog.at_level(logging.INFO, logger="drchrono_async.ratelimit"):
        for wait in HOSTILE_WAITS:
            await quota.throttled(wait)
    lines = {r.getMessage() for r in caplog.records if r.name == "drchrono_async.ratelimit"}
    assert lines == {
        "rate limit: 429 received, all requests paused until "
        "2026-01-01T01:00:01.000+00:00 (next window)"
    }


def test_iso_never_raises() -> None:
    for ts in (1e12, 1e300, -1e300, math.inf, -math.inf, math.nan):
        text = iso(ts)
        assert isinstance(text, str) and len(text) < 40
    assert iso(T0) == "2026-01-01T00:00:00.000+00:00"


@pytest.mark.parametrize("wait", HOSTILE_WAITS)
async def test_a_hostile_429_wait_cannot_break_the_shared_quota(
    redis_client: aioredis.Redis, redis_key: str, wait: float
) -> None:
    key = f"{redis_key}:quota"
    quota = RedisQuota(redis_client, key=key, limit=500, window=HOUR)
    other = RedisQuota(redis_client, key=key, limit=500, window=HOUR)  # another process
    await quota.acquire()
    until = await quota.throttled(wait)
    assert math.isfinite(until)
    assert 0 < await redis_client.pttl(key) <= (2 * HOUR + 60) * 1000
    with pytest.raises(QuotaExhaustedError) as info:
        await other.acquire(max_wait=0)
    snap = await other.fetch_snapshot()
    assert snap.paused_until is not None
    assert info.value.resets_at == pytest.approx(snap.paused_until, abs=0.5)
    assert snap.paused_until == pytest.approx(snap.resets_at + 1.0, abs=0.5)  # next window
    # Once the pause is over (on Redis's clock, passed explicitly), permits flow again.
    assert other._last is not None
    after = other._last[1].paused_until + 0.001
    assert (await other._call(Op.ACQUIRE, now=after)).granted


async def test_the_script_itself_ignores_non_finite_text(
    redis_client: aioredis.Redis, redis_key: str
) -> None:
    # A caller of the script other than `script_args` (or an older one) may send "inf"/"nan".
    p = Params(limit=50, window=60.0)
    script = redis_client.register_script(SCRIPT)
    key = f"{redis_key}:raw"
    state = State()
    t = T0 + 10
    for op, obs, arg in [
        (Op.ACQUIRE, "", ""),
        (Op.PEEK, "nan", ""),
        (Op.PEEK, "inf", ""),
        (Op.THROTTLE, "-inf", "inf"),
        (Op.THROTTLE, "", "nan"),
        (Op.THROTTLE, "", "-inf"),
    ]:
        args = script_args(p, op, now=t)
        args[11], args[12] = obs, arg
        _, theirs = decode(await script(keys=[key], args=args))
        mine = step(state, p, t, op)
        assert theirs == mine
        t += 1.0
    assert 0 < await redis_client.pttl(key) <= (2 * 60 + 60) * 1000


async def test_a_stored_endless_pause_heals(redis_client: aioredis.Redis, redis_key: str) -> None:
    # An older version could store `paused = inf`, or a pause 1e12 s long, in the hash.
    key = f"{redis_key}:quota"
    quota = RedisQuota(redis_client, key=key, limit=500, window=HOUR)
    await quota.acquire()
    await redis_client.hset(key, "paused", "inf")  # unreadable: no pause
    await quota.acquire(max_wait=0)
    assert (await quota.fetch_snapshot()).paused_until is None
    assert 0 < await redis_client.pttl(key) <= (2 * HOUR + 60) * 1000
    await redis_client.hset(key, "paused", repr(await redis_now(redis_client) + 1e12))
    with pytest.raises(QuotaExhaustedError) as info:  # beyond the bound: the next window
        await quota.acquire(max_wait=0)
    snap = await quota.fetch_snapshot()
    assert snap.paused_until is not None and snap.used == 2
    assert snap.paused_until == pytest.approx(snap.resets_at + 1.0, abs=0.5)
    assert info.value.resets_at == pytest.approx(snap.paused_until, abs=0.5)
    assert 0 < await redis_client.pttl(key) <= (2 * HOUR + 60) * 1000


# -- caller values ------------------------------------------------------------------------------

BAD_MAX_WAITS: list[Any] = [math.nan, -1.0, -math.inf, "5", True, object(), b"1"]


@pytest.mark.parametrize("max_wait", BAD_MAX_WAITS)
async def test_acquire_refuses_a_bad_max_wait(max_wait: Any) -> None:
    clock = VirtualClock(start=T0 + 100)
    quota = HourlyQuota(limit=5, clock=clock)
    with pytest.raises(InvalidRequestError):
        await quota.acquire(max_wait=max_wait)
    assert quota.snapshot().used == 0 and clock.now() == T0 + 100
    await quota.acquire()  # the refusal left nothing behind in the queue
    assert quota.snapshot().used == 1


async def test_acquire_max_wait_inf_means_no_limit_and_nan_is_refused() -> None:
    clock = VirtualClock(start=T0 + 100)
    quota = HourlyQuota(limit=1, clock=clock)
    with pytest.raises(InvalidRequestError):
        await quota.acquire(max_wait=math.nan)
    await quota.acquire(max_wait=math.inf)
    head = asyncio.create_task(quota.acquire(max_wait=math.inf))
    queued = asyncio.create_task(quota.acquire(max_wait=math.inf))
    await asyncio.gather(head, queued)
    assert clock.now() == pytest.approx(T0 + 2 * HOUR, abs=1e-3)


BAD_SETTINGS: list[dict[str, Any]] = [
    {"limit": 0},
    {"limit": -3},
    {"limit": True},
    {"limit": 2.5},
    {"limit": "500"},
    {"window": 0.0},
    {"window": math.nan},
    {"window": math.inf},
    {"window": -HOUR},
    {"window": 1e-300},
    {"window": "3600"},
    {"burst": math.nan},
    {"burst": 0.5},
    {"burst": math.inf},
    {"rate": 0.0},
    {"rate": math.nan},
    {"rate": math.inf},
    {"rate": 1e-300},
    {"rate": None},
    {"margin": -1.0},
    {"margin": math.nan},
    {"margin": math.inf},
    {"margin": False},
]


@pytest.mark.parametrize("settings", BAD_SETTINGS)
def test_hourly_quota_refuses_bad_settings(settings: dict[str, Any]) -> None:
    with pytest.raises(InvalidRequestError):
        HourlyQuota(**settings)


@pytest.mark.parametrize(
    "settings",
    [*BAD_SETTINGS, {"guard": math.nan}, {"guard": -1.0}, {"drift": 1.0}, {"drift": math.nan},
     {"step": 0.0}, {"step": math.inf}, {"confirm": 0}, {"confirm": 1.5}, {"confirm": True}],
)  # fmt: skip
def test_params_refuse_bad_settings(settings: dict[str, Any]) -> None:
    with pytest.raises(InvalidRequestError):
        Params(**settings)


@pytest.mark.parametrize("key", ["", None, b"drchrono:quota", 42])
async def test_redis_quota_refuses_a_bad_key(redis_client: aioredis.Redis, key: Any) -> None:
    with pytest.raises(InvalidRequestError):
        RedisQuota(redis_client, key=key)


@pytest.mark.parametrize("settings", BAD_SETTINGS[:6])
async def test_redis_quota_refuses_bad_settings(
    redis_client: aioredis.Redis, redis_key: str, settings: dict[str, Any]
) -> None:
    with pytest.raises(InvalidRequestError):
        RedisQuota(redis_client, key=f"{redis_key}:quota", **settings)
