"""A worker's `--metrics-port`, scraped, and `status` of each practice it synced.

One practice syncs; the other's token is refused, so its job fails and its retry is queued
for later. The worker is the real `drchrono-async worker` process; its metrics are read over
HTTP and compared with what the emulator saw; the status comes from the store, the
registry and the job queue, never from the API.
"""

from __future__ import annotations

import asyncio
import sys
import time

import psycopg
import pytest

from drchrono_async.errors import StoreError
from drchrono_async.fleet import PracticeRegistry, practice_status
from drchrono_async.oauth import Token
from drchrono_async.sync import store_status
from drchrono_async.testing import Emulator
from tests.ratelimit.conftest import REDIS_URL
from tests.test_metrics import get, parse, value

from .conftest import POSTGRES_DSN, config_for, printed, queue_everything, wait_until_idle
from .test_processes import ROOT, stop_worker
from .test_worker import fixed


async def test_a_worker_serves_metrics_and_status_reads_each_practice(
    registry: PracticeRegistry, redis_key: str
) -> None:
    emu = Emulator(seed=21, sizes={"patients": 30})
    schema = registry.schema
    async with emu.serve() as url:
        refused = Token("refused-0123456789", "unused-refresh", 253_402_300_799.0)
        for key, token in (("north", fixed(emu)), ("broken", refused)):
            await registry.add(key, token, base_url=url, resources=["patients"], auth="fixed")
        await queue_everything(config_for(schema, every=0))
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "drchrono_async.cli", "worker",
            "--store", POSTGRES_DSN, "--schema", schema, "--redis", REDIS_URL,
            "--quota-key", f"{redis_key}:quota", "--quota-limit", "100000",
            "--every", "0", "--heartbeat", "0.5", "--stalled-after", "2", "--poll", "0.05",
            "--metrics-port", "0",
            cwd=ROOT, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        try:
            port = int(
                await printed(proc, r"metrics at http://127\.0\.0\.1:(\d+)/metrics", "metrics")
            )
            await wait_until_idle(schema)
            code, text = await asyncio.to_thread(get, f"http://127.0.0.1:{port}/metrics")
            health = await asyncio.to_thread(get, f"http://127.0.0.1:{port}/healthz")
        finally:
            assert await stop_worker(proc) == 0
        north = await practice_status(POSTGRES_DSN, "north", schema=schema)
        broken = await practice_status(POSTGRES_DSN, "broken", schema=schema)
        alone = await store_status(POSTGRES_DSN, schema=f"{schema}_p_north")
        with pytest.raises(StoreError, match="no sync state"):
            await store_status(POSTGRES_DSN, schema=f"{schema}_none")
    assert code == 200 and health == (200, "ok\n")
    got = parse(text)
    ok = emu.count(status=200)
    assert ok > 0 and emu.count(status=401) == 1 and len(emu.requests) == ok + 1
    assert value(got, "drchrono_calls_total", method="GET", status_class="2xx") == ok
    assert value(got, "drchrono_calls_total", method="GET", status_class="4xx") == 1
    assert value(got, "drchrono_permit_wait_seconds_count", lane="background") == ok + 1
    assert value(got, "drchrono_quota_limit") == 100_000
    n = {"practice": "north", "resource": "patients"}
    b = {"practice": "broken", "resource": "patients"}
    assert value(got, "drchrono_records_written_total", **n) == 30
    assert value(got, "drchrono_sync_runs_total", **n, outcome="done") == 1
    assert value(got, "drchrono_sync_runs_total", **b, outcome="failed") == 1
    assert value(got, "drchrono_job_failures_total", **b) == 1
    assert value(got, "drchrono_job_retries_total", **b) == 1
    assert value(got, "drchrono_job_failures_total", **n) == 0
    assert ("drchrono_sync_lag_seconds", frozenset(n.items())) in got
    assert ("drchrono_sync_lag_seconds", frozenset(b.items())) not in got  # never done

    assert north.is_current() and north.practice == "north" and north.active
    (r,) = north.resources
    assert (r.state, r.live, r.next_run.state) == ("done", 30, "none")
    assert north.quota.known and north.quota.calls == ok  # the registry's count
    assert alone.is_current() and alone.resources[0].live == 30

    assert not broken.is_current()
    (r,) = broken.resources
    assert r.state == "failed" and r.last_run is not None
    assert r.last_run.error == "AuthenticationError" and r.live == 0
    # The retry the failed job queued, its first: five seconds after it failed (due by
    # now on a slow machine).
    assert r.next_run.attempt == 1 and r.next_run.state in ("scheduled", "queued")
    if r.next_run.state == "scheduled":
        assert r.next_run.at is not None and 0 < r.next_run.at - time.time() <= 5
    assert broken.quota.calls == 1
    # Status created nothing where no store was.
    async with await psycopg.AsyncConnection.connect(POSTGRES_DSN) as conn:
        cur = await conn.execute("SELECT to_regnamespace(%s)", (f"{schema}_none",))
        assert (await cur.fetchone()) == (None,)
