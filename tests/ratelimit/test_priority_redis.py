"""Priority lanes and the reserve in `RedisQuota`, on the real Redis at 127.0.0.1:6379.

Several instances on one key stand for several processes (they share nothing but Redis);
the last test runs real processes, on real short windows, because Redis `TIME` is the clock
they share.
"""

from __future__ import annotations

import asyncio
import math
import statistics
from collections import Counter
from collections.abc import Awaitable
from typing import Any

import pytest
import redis.asyncio as aioredis

from drchrono_async.errors import InvalidRequestError, QuotaExhaustedError
from drchrono_async.ratelimit import RedisQuota
from drchrono_async.ratelimit._algorithm import Op, Reason

from .test_redis_quota import first_grant, redis_now, run_workers

T0 = 1_767_225_600.0


async def test_the_reserve_holds_across_processes(
    redis_client: aioredis.Redis, redis_key: str
) -> None:
    key = f"{redis_key}:quota"
    # Held for the whole window, so that the test never runs into the release.
    a = RedisQuota(redis_client, key=key, limit=10, reserve=3, reserve_release=0)
    b = RedisQuota(redis_client, key=key, limit=10, reserve=3, reserve_release=0)
    for _ in range(7):
        await a.acquire(priority="background")
    with pytest.raises(QuotaExhaustedError) as info:
        await b.acquire(priority="background", max_wait=0)
    assert "reserve held for interactive requests" in str(info.value)
    snap = await b.fetch_snapshot()
    assert (snap.used, snap.remaining, snap.reserved) == (7, 3, 3)
    for _ in range(3):
        await b.acquire(max_wait=0)  # interactive, in the other process
    with pytest.raises(QuotaExhaustedError):
        await a.acquire(max_wait=0)
    assert (await a.fetch_snapshot()).used == 10


async def test_a_waiting_interactive_request_holds_off_other_processes_background(
    redis_client: aioredis.Redis, redis_key: str
) -> None:
    # Explicit times on the script, as two processes would reach it.
    key = f"{redis_key}:quota"
    web = RedisQuota(redis_client, key=key, limit=100, burst=1, rate=1.0, reserve=0)
    sync = RedisQuota(redis_client, key=key, limit=100, burst=1, rate=1.0, reserve=0)
    assert web.params.claim == 0.25
    assert (await web._call(Op.ACQUIRE, now=T0 + 10)).granted
    d = await web._call(Op.ACQUIRE, now=T0 + 10)  # must wait 1 s for the next token
    assert (d.granted, d.reason) == (False, Reason.BURST)
    # The token is back at T0+11; the other process's background work may not take it ...
    d = await sync._call(Op.ACQUIRE, background=True, now=T0 + 11.01)
    assert (d.granted, d.reason, d.wait) == (False, Reason.YIELD, pytest.approx(0.24))
    assert (await web._call(Op.ACQUIRE, now=T0 + 11.02)).granted
    # ... and once the claim is over, background goes on.
    assert (await sync._call(Op.ACQUIRE, background=True, now=T0 + 12.3)).granted


async def test_redis_quota_checks_its_lane_settings(redis_client: aioredis.Redis) -> None:
    for bad in (
        {"claim": -1},
        {"claim": 11},
        {"claim": float("nan")},
        {"reserve": 1.5},
        {"reserve_release": 7200},
    ):
        with pytest.raises(InvalidRequestError):
            RedisQuota(redis_client, key="k", **bad)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("window", "windows", "burst"),
    [
        # Three windows of a second (about 4.5 s in all), the release and the interactive
        # pace scaled with the window; a burst of the whole limit, so that the window's limit
        # binds, not the bucket.
        pytest.param(1.0, 3, 20.0, id="1s"),
        pytest.param(2.0, 4, 10.0, id="2s", marks=pytest.mark.soak),
    ],
)
async def test_processes_of_both_lanes_share_one_quota(
    redis_client: aioredis.Redis, redis_key: str, window: float, windows: int, burst: float
) -> None:
    limit, reserve, release = 20, 5, 0.15 * window
    key = f"{redis_key}:quota"
    now = await redis_now(redis_client)
    start_at = math.ceil((now + 1.0) / window) * window
    stop_at = start_at + windows * window
    lanes = {"reserve": reserve, "reserve_release": release, "burst": burst, "rate": burst}

    def workers(processes: int, coroutines: int, options: dict[str, object]) -> Awaitable[Any]:
        return run_workers(
            key,
            processes=processes,
            coroutines=coroutines,
            limit=limit,
            window=window,
            start_at=start_at,
            stop_at=stop_at,
            options={**lanes, **options},
        )

    background = asyncio.create_task(workers(3, 8, {"priority": "background"}))
    await first_grant(redis_client, key)
    # One interactive request every quarter window at most: 4 a window, fewer than the
    # reserve.
    interactive = await workers(1, 1, {"every": window / 4})
    back = [pair for g in await background for pair in g]
    inter = [pair for g in interactive for pair in g]
    assert inter and back

    per_window = Counter(math.floor(t / window) for _, t in back + inter)
    assert max(per_window.values()) <= limit
    # Before the release, background work never spent the reserve, in any process.
    held = Counter(math.floor(t / window) for _, t in back if t % window < window - release)
    assert max(held.values()) <= limit - reserve
    # Windows with background demand throughout are spent, the reserve included.
    first = min(t for _, t in back)
    full = range(math.floor(first / window) + 1, int(stop_at / window))
    assert full and all(per_window[w] >= 0.95 * limit for w in full), per_window
    # ... by background work too, once the reserve is released.
    assert any(t % window >= window - release for _, t in back)
    # Interactive requests wait less than background ones.
    inter_waits = [t - asked for asked, t in inter]
    back_waits = [t - asked for asked, t in back]
    assert statistics.median(inter_waits) < statistics.median(back_waits)
    assert statistics.median(inter_waits) < window / 4
