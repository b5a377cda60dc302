"""Worker processes: two never run one (practice, resource) at once; `kill -9` loses nothing.

The emulators serve on loopback from this process; the workers are `drchrono-async worker`
processes sharing the queue (PostgreSQL) and the quota (Redis) as a fleet would.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import psycopg
import pytest

from drchrono_async.fleet import PracticeRegistry
from drchrono_async.testing import Emulator
from tests.ratelimit.conftest import REDIS_URL

from .conftest import POSTGRES_DSN, config_for, queue_everything, wait_until_idle
from .test_worker import RESOURCES, assert_equal, fixed

ROOT = Path(__file__).resolve().parents[2]


async def start_worker(schema: str, quota_key: str, *extra: str) -> asyncio.subprocess.Process:
    """A worker process; `extra` arguments override the defaults (the last one wins)."""
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "drchrono_async.cli",
        "worker",
        "--store",
        POSTGRES_DSN,
        "--schema",
        schema,
        "--redis",
        REDIS_URL,
        "--quota-key",
        quota_key,
        "--quota-limit",
        "100000",
        "--concurrency",
        "2",
        "--slice-pages",
        "1",
        "--heartbeat",
        "0.5",
        "--stalled-after",
        "2",
        "--max-wait",
        "5",
        "--poll",
        "0.05",
        *extra,
        cwd=ROOT,
        stdout=asyncio.subprocess.DEVNULL,
    )


async def stop_worker(proc: asyncio.subprocess.Process) -> int:
    if proc.returncode is None:
        proc.terminate()  # SIGTERM: graceful
    return await asyncio.wait_for(proc.wait(), 30)


@contextlib.asynccontextmanager
async def practices(
    registry: PracticeRegistry, sizes: dict[str, dict[str, int]]
) -> AsyncIterator[dict[str, Emulator]]:
    emulators = {k: Emulator(seed=i + 10, sizes=s) for i, (k, s) in enumerate(sizes.items())}
    async with contextlib.AsyncExitStack() as stack:
        for key, emu in emulators.items():
            url = await stack.enter_async_context(emu.serve())
            await registry.add(key, fixed(emu), base_url=url, resources=RESOURCES, auth="fixed")
        yield emulators


async def running_workers(schema: str) -> set[int]:
    async with await psycopg.AsyncConnection.connect(POSTGRES_DSN) as conn:
        cur = await conn.execute(
            f'SELECT DISTINCT worker_id FROM "{schema}".procrastinate_jobs'
            " WHERE status = 'doing' AND worker_id IS NOT NULL"
        )
        return {r[0] for r in await cur.fetchall()}


async def run_intervals(schema: str) -> dict[str, list[tuple[int, int]]]:
    """Per lock, when each job ran: from its `started` event to the event that ended it.

    In event ids, not in the events' `at`: `at` is when the statement that wrote the event
    began, and the fetch that starts a job can begin before the previous job of its lock
    ends (it waits, or compiles its plan) and still see it ended. An event's id is drawn as
    its row is written, so a job taken after its predecessor ended has a higher `started` id
    than the predecessor's end.
    """
    async with await psycopg.AsyncConnection.connect(POSTGRES_DSN) as conn:
        cur = await conn.execute(
            f"SELECT j.lock, e.job_id, e.type::text, e.id"
            f' FROM "{schema}".procrastinate_events e'
            f' JOIN "{schema}".procrastinate_jobs j ON j.id = e.job_id'
            " WHERE j.lock IS NOT NULL ORDER BY e.id"
        )
        rows = await cur.fetchall()
    open_at: dict[int, int] = {}
    out: dict[str, list[tuple[int, int]]] = {}
    for lock, job, kind, at in rows:
        if kind == "started":
            open_at[job] = at
        elif job in open_at and kind in (
            "succeeded",
            "failed",
            "deferred_for_retry",
            "aborted",
            "cancelled",
        ):
            out.setdefault(lock, []).append((open_at.pop(job), at))
    assert not open_at, "a job never ended"
    return out


async def test_two_workers_never_run_one_resource_at_once(
    registry: PracticeRegistry, redis_key: str
) -> None:
    sizes = {f"p{i}": {"appointments": 600, "patients": 400} for i in range(3)}
    async with practices(registry, sizes) as emulators:
        await queue_everything(config_for(registry.schema))
        procs = [await start_worker(registry.schema, f"{redis_key}:quota") for _ in range(2)]
        seen: set[int] = set()

        async def sample() -> None:
            seen.update(await running_workers(registry.schema))

        try:
            state = await wait_until_idle(registry.schema, every=sample, limit=120)
        finally:
            codes = [await stop_worker(p) for p in procs]
        assert codes == [0, 0]
        assert state["failed"] == 0
        for key, emu in emulators.items():
            await assert_equal(registry, key, emu)
    assert len(seen) == 2  # both workers ran jobs
    intervals = await run_intervals(registry.schema)
    assert len(intervals) == len(sizes) * len(RESOURCES)
    runs = 0
    for lock, spans in intervals.items():
        spans.sort()
        runs += len(spans)
        for (_, end), (start, _) in itertools.pairwise(spans):
            assert start > end, f"two jobs of {lock} overlapped"
    assert runs >= 2 * len(intervals)  # slices of one call: resources took several jobs


@pytest.mark.parametrize(
    "big",
    [
        # 10 calls: the kill lands after 5, with both resources part-way.
        pytest.param({"appointments": 1250, "patients": 750}, id="2k"),
        pytest.param({"appointments": 3000, "patients": 1500}, id="4.5k", marks=pytest.mark.soak),
    ],
)
async def test_a_worker_killed_mid_job_loses_nothing(
    registry: PracticeRegistry, redis_key: str, big: dict[str, int]
) -> None:
    sizes = {"big": big}
    async with practices(registry, sizes) as emulators:
        emu = emulators["big"]
        reached = asyncio.Event()

        def count(_: object) -> None:
            if len(emu.requests) >= 5:
                reached.set()

        emu.faults.hook = count
        await queue_everything(config_for(registry.schema))
        first = await start_worker(registry.schema, f"{redis_key}:quota")
        await asyncio.wait_for(reached.wait(), 30)
        first.kill()  # SIGKILL: no handler, no clean-up, its jobs stay "doing"
        await first.wait()
        emu.faults.hook = None
        stuck = await running_workers(registry.schema)
        assert len(stuck) == 1  # the dead worker still holds its jobs
        served = len(emu.requests)
        second = await start_worker(registry.schema, f"{redis_key}:quota")
        try:
            state = await wait_until_idle(registry.schema)
        finally:
            assert await stop_worker(second) == 0
        # A job killed after queueing its follow-up is marked failed (the follow-up resumes
        # from the same checkpoint); one killed before is given back to the queue.
        assert state["failed"] <= 2  # the dead worker ran at most two jobs
        assert len(emu.requests) > served  # the second worker did the rest
        await assert_equal(registry, "big", emu)
