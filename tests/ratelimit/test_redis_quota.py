"""`RedisQuota` on the real Redis at 127.0.0.1:6379: several processes, one quota.

These use real short windows on purpose: the point is Redis `TIME` as the clock every process
shares, which a virtual clock cannot stand in for. They take a few seconds in all.
"""

from __future__ import annotations

import asyncio
import json
import math
import os
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio as aioredis

from drchrono_async.errors import InvalidRequestError, QuotaExhaustedError
from drchrono_async.ratelimit import Quota, RedisQuota
from drchrono_async.testing import VirtualClock

from .conftest import REDIS_URL

WORKER = Path(__file__).with_name("_redis_worker.py")
# The workers import the package of this checkout, not whichever one the interpreter has.
ROOT = Path(__file__).resolve().parents[2]


async def redis_now(client: aioredis.Redis) -> float:
    sec, usec = await client.time()
    return float(sec) + usec / 1e6


async def run_workers(
    key: str,
    *,
    processes: int,
    coroutines: int,
    limit: int,
    window: float,
    start_at: float,
    stop_at: float,
    options: dict[str, Any] | None = None,
) -> list[Any]:
    """Start the worker processes together; each returns the Redis TIME of its permits.

    With `options` (see `_redis_worker.py`), each returns [asked, granted] pairs.
    """
    path = os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p)
    env = {**os.environ, "PYTHONPATH": path}
    extra = [] if options is None else [json.dumps(options)]
    procs = [
        await asyncio.create_subprocess_exec(
            sys.executable,
            str(WORKER),
            REDIS_URL,
            key,
            str(limit),
            str(window),
            str(coroutines),
            repr(start_at),
            repr(stop_at),
            *extra,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env=env,
        )
        for _ in range(processes)
    ]
    results = []
    for proc in procs:
        out, err = await asyncio.wait_for(proc.communicate(), timeout=30)
        assert proc.returncode == 0, err.decode()[-2000:]
        results.append(json.loads(out))
    return results


async def first_grant(client: aioredis.Redis, key: str) -> None:
    """Return once the quota at `key` has granted a permit (polls Redis, at most 30 s)."""
    for _ in range(1500):
        if float(await client.hget(key, "used") or 0):
            return
        await asyncio.sleep(0.02)  # another process's progress: nothing here to await
    pytest.fail("the worker processes granted no permit within 30 s")


@pytest.mark.parametrize(
    ("window", "windows", "burst"),
    [
        # Three windows of a second, two of them full after the first grant (about 4.5 s in
        # all); a burst of the whole limit, so that the window's limit binds, not the bucket.
        pytest.param(1.0, 3, 20.0, id="1s"),
        pytest.param(2.0, 4, 10.0, id="2s", marks=pytest.mark.soak),
    ],
)
async def test_four_processes_share_one_quota(
    redis_client: aioredis.Redis, redis_key: str, window: float, windows: int, burst: float
) -> None:
    limit = 20
    now = await redis_now(redis_client)
    # Start on a window boundary, when the processes should be up.
    start_at = math.ceil((now + 1.0) / window) * window
    stop_at = start_at + windows * window
    pairs = await run_workers(
        f"{redis_key}:quota",
        processes=4,
        coroutines=25,
        limit=limit,
        window=window,
        start_at=start_at,
        stop_at=stop_at,
        options={"burst": burst, "rate": burst},
    )
    grants = [[t for _, t in g] for g in pairs]
    per_window = Counter(math.floor(t / window) for g in grants for t in g)
    assert per_window and max(per_window.values()) <= limit
    # A loaded machine may start the processes late: the windows after the first grant count.
    first = min(t for g in grants for t in g)
    full = range(math.floor(first / window) + 1, int(stop_at / window))
    counts = [per_window[w] for w in full]
    assert counts
    assert all(c >= 0.95 * limit for c in counts), counts
    assert sum(1 for g in grants if g) >= 2  # spent by several processes, not one


async def test_a_429_seen_by_one_process_pauses_all(
    redis_client: aioredis.Redis, redis_key: str
) -> None:
    key = f"{redis_key}:quota"
    now = await redis_now(redis_client)
    workers = asyncio.create_task(
        run_workers(
            key,
            processes=2,
            coroutines=5,
            limit=1000,
            window=60.0,
            start_at=now + 0.8,
            stop_at=now + 30.0,
            options={"run_for": 2.2},  # each stops 2.2 s after it starts, however late
        )
    )
    await first_grant(redis_client, key)  # the workers are up and spending
    mine = RedisQuota(redis_client, key=key, limit=1000, window=60.0)
    # The pause must end well before the workers stop: 1.7 s to spare for a loaded machine
    # to notice the first grant late.
    await mine.throttled(0.5)
    assert mine._last is not None
    paused_from = mine._last[1].now
    grants = sorted(t for g in await workers for _, t in g)
    assert any(t < paused_from for t in grants)
    assert any(t >= paused_from + 0.5 for t in grants)
    assert not [t for t in grants if paused_from <= t < paused_from + 0.5]
    snap = await mine.fetch_snapshot()
    assert snap.throttled == 1


async def test_instances_share_counts_and_the_key_expires(
    redis_client: aioredis.Redis, redis_key: str
) -> None:
    key = f"{redis_key}:quota"
    a = RedisQuota(redis_client, key=key, limit=5, window=3600.0)
    b = RedisQuota(redis_client, key=key, limit=5, window=3600.0)
    assert isinstance(a, Quota)
    for _ in range(3):
        await a.acquire()
    for _ in range(2):
        await b.acquire()
    with pytest.raises(QuotaExhaustedError) as info:
        await a.acquire(max_wait=0)
    assert info.value.resets_at > a.clock.now()
    snap = await b.fetch_snapshot()
    assert (snap.used, snap.remaining, snap.waits) == (5, 0, 1)
    ttl = await redis_client.ttl(key)
    assert 0 < ttl <= 2 * 3600 + 60


async def test_a_cancelled_redis_waiter_gives_its_permit_back(
    redis_client: aioredis.Redis, redis_key: str
) -> None:
    key = f"{redis_key}:quota"
    quota = RedisQuota(redis_client, key=key, limit=100, window=3600.0)
    await quota.fetch_snapshot()  # connect and load the script outside the measured part
    given_back = 0
    real_give_back = quota._give_back

    def spy(task: asyncio.Task[Any]) -> None:
        nonlocal given_back
        given_back += int(not task.cancelled() and task.result().granted)
        real_give_back(task)

    quota._give_back = spy  # type: ignore[method-assign]
    for _ in range(20):
        task = asyncio.create_task(quota.acquire())
        await asyncio.sleep(0)  # cancel while the script call is in flight
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    await quota._settle()
    # Most cancels land while the script call is in flight, which then grants a permit that
    # must go back; under load a cancel may land before the call starts (nothing granted).
    # Whichever way each one fell, the path ran, and no permit leaked.
    assert 1 <= given_back <= 20
    snap = await quota.fetch_snapshot()
    assert snap.used == 0


async def test_waits_are_slept_on_the_injected_clock(
    redis_client: aioredis.Redis, redis_key: str
) -> None:
    # The permit's time is Redis's; the sleeping is done on the quota's own clock.
    clock = VirtualClock(start=1_767_225_600.0)
    quota = RedisQuota(
        redis_client,
        key=f"{redis_key}:quota",
        limit=50,
        burst=2,
        rate=0.001,
        window=3600.0,
        clock=clock,
    )
    await quota.acquire()
    await quota.acquire()
    waiter = asyncio.create_task(quota.acquire(max_wait=10))
    with pytest.raises(QuotaExhaustedError):
        await waiter  # the next token is 1000 s away
    assert clock.now() == 1_767_225_600.0


async def test_the_key_follows_the_application_by_default(redis_client: aioredis.Redis) -> None:
    import uuid

    from drchrono_async.ratelimit._redis import application_key

    one, two = f"app-one-{uuid.uuid4().hex}", f"app-two-{uuid.uuid4().hex}"
    a = RedisQuota(redis_client, client_id=one)
    b = RedisQuota(redis_client, client_id=one)
    other = RedisQuota(redis_client, client_id=two)
    # Every worker of one application (whatever its practice's token) shares one key.
    assert a.key == b.key == application_key(one) != other.key
    assert one not in a.key  # the client id itself is not written to Redis
    try:
        await a.acquire()
        assert b.snapshot().used == 0  # not yet synced: b has not asked Redis
        await b.acquire()
        assert b.snapshot().used == 2 and other.snapshot().used == 0
    finally:
        await redis_client.delete(a.key, other.key)
    assert RedisQuota(redis_client, key="custom").key == "custom"
    for bad in ({}, {"client_id": ""}, {"key": ""}, {"client_id": 5}):
        with pytest.raises(InvalidRequestError):
            RedisQuota(redis_client, **bad)
