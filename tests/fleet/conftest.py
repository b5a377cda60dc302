"""Fixtures for the fleet tests: the real PostgreSQL and Redis on loopback, never mocks.

Each test gets a registry schema of its own (its practices' schemas are named after it) and
a Redis key prefix of its own; all are dropped afterwards. Absent servers skip the tests,
except under CI=true, where they fail.
"""

from __future__ import annotations

import asyncio
import re
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable

import psycopg
import pytest
import redis.asyncio as aioredis

from drchrono_async.fleet import (
    FleetConfig,
    PracticeRegistry,
    build_app,
    ensure_schema,
    schedule_all,
)
from drchrono_async.ratelimit import RedisQuota
from tests.ratelimit.conftest import redis_client, redis_key  # noqa: F401  (fixtures)
from tests.sync.conftest import POSTGRES_DSN, postgres_or_skip

__all__ = ["POSTGRES_DSN", "jobs_state", "queue_everything", "wait_until_idle"]


@pytest.fixture
async def fleet_schema() -> AsyncIterator[str]:
    """A registry schema of this test's own; it and its practices' schemas dropped after."""
    await postgres_or_skip()
    schema = f"tf_{uuid.uuid4().hex[:12]}"
    yield schema
    async with await psycopg.AsyncConnection.connect(POSTGRES_DSN, autocommit=True) as conn:
        cur = await conn.execute(
            "SELECT nspname FROM pg_namespace WHERE nspname = %s OR nspname LIKE %s",
            (schema, f"{schema}\\_p\\_%"),
        )
        for (name,) in await cur.fetchall():
            await conn.execute(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')


@pytest.fixture
async def registry(fleet_schema: str) -> AsyncIterator[PracticeRegistry]:
    async with PracticeRegistry(POSTGRES_DSN, schema=fleet_schema) as opened:
        yield opened


@pytest.fixture
def quota_factory(
    redis_client: aioredis.Redis,  # noqa: F811
    redis_key: str,  # noqa: F811
) -> Callable[..., RedisQuota]:
    def make(**params: float) -> RedisQuota:
        options = {"limit": 100_000, "burst": 1000.0, "rate": 1000.0, **params}
        return RedisQuota(redis_client, key=f"{redis_key}:quota", **options)  # type: ignore[arg-type]

    return make


def config_for(schema: str, **options: object) -> FleetConfig:
    base: dict[str, object] = {"heartbeat": 0.5, "stalled_after": 2.0, "max_wait": 1.0}
    return FleetConfig(POSTGRES_DSN, schema=schema, **{**base, **options})  # type: ignore[arg-type]


async def jobs_state(schema: str) -> dict[str, int]:
    """Counts of the queue's sync jobs: doing, due (todo now), later (todo in the future)."""
    async with await psycopg.AsyncConnection.connect(POSTGRES_DSN) as conn:
        cur = await conn.execute(
            f"SELECT count(*) FILTER (WHERE status = 'doing'),"
            f" count(*) FILTER (WHERE status = 'todo' AND (scheduled_at IS NULL"
            f"   OR scheduled_at <= now())),"
            f" count(*) FILTER (WHERE status = 'todo' AND scheduled_at > now()),"
            f" count(*) FILTER (WHERE status = 'failed')"
            f' FROM "{schema}".procrastinate_jobs WHERE task_name LIKE %s',
            ("%sync_resource",),
        )
        row = await cur.fetchone()
    assert row is not None
    return {"doing": row[0], "due": row[1], "later": row[2], "failed": row[3]}


async def wait_until_idle(
    schema: str,
    *,
    limit: float = 40.0,
    also: Callable[[], Awaitable[bool]] | None = None,
    every: Callable[[], Awaitable[object]] | None = None,
) -> dict[str, int]:
    """Poll the queue until no sync job runs or is due (the work is done, or waits for a
    quota reset) and `also()` holds; `every()` runs at each poll. Fails after `limit`
    seconds of real time."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + limit
    quiet = 0
    while True:
        if every is not None:
            await every()
        state = await jobs_state(schema)
        idle = state["doing"] == 0 and state["due"] == 0
        quiet = quiet + 1 if idle else 0
        if quiet >= 3 and (also is None or await also()):
            return state
        if loop.time() > deadline:
            raise AssertionError(f"the queue did not settle: {state}")
        await asyncio.sleep(0.1)


async def queue_everything(config: FleetConfig) -> None:
    """Create the queue and queue every active practice's syncs (as a worker's start does),
    so that the queue is not taken for idle before a worker has started."""
    app = build_app(config)
    await ensure_schema(app, config)
    async with app.open_async(), PracticeRegistry(config.dsn, schema=config.schema) as reg:
        await schedule_all(app, reg, window=3600.0)


async def printed(proc: asyncio.subprocess.Process, pattern: str, what: str) -> str:
    """The first group of `pattern` in the worker's stderr (e.g. the address it serves at);
    its stderr is drained from then on, so the worker never blocks on a full pipe."""
    assert proc.stderr is not None
    while True:
        line = (await asyncio.wait_for(proc.stderr.readline(), 30)).decode()
        assert line, f"the worker ended before serving {what}"
        if found := re.search(pattern, line):
            break

    async def drain() -> None:
        assert proc.stderr is not None
        while await proc.stderr.read(65_536):
            pass

    asyncio.get_running_loop().create_task(drain())
    return found.group(1)
