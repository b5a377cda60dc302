"""A simulated fleet: how fresh N practices' stores stay on one application quota.

Run: `python benchmarks/freshness.py` (from the repository root; needs the PostgreSQL and Redis
servers of `--dsn` and `--redis`, by default the test servers on loopback). `--quick`: three
practices for a few simulated hours (well under a minute). Prints a table and rewrites its own
section of `benchmarks/RESULTS.md` (between the `freshness` markers).

One emulator on loopback hosts N practices (half small, a third medium, the rest large: the
rates of `drchrono_async.testing.Simulation`), whose staff work continuously (`Simulation` at
the documented rates, the same seed for every variant: the same script of changes). Its
quota counts the application's calls: `--limit` per shortened hour (`--hour` seconds; every
rate, period, target and webhook redelivery delay is scaled by the same factor, and every time
below is given back in hour-equivalent units). Each practice is registered in a fleet registry
on PostgreSQL (a schema of its own, dropped at the end) and backfilled before the measurement
(by workers on a quota key of their own with no practical limit, and the emulator's limit
raised meanwhile: outside the measured quota). Then `drchrono-async worker` processes keep the
stores fresh, one variant at a time:

- naive: every resource of every practice synced every `--every` (`schedule_all` each period);
- freshness: webhooks into the fleet's receiver, and the freshness scheduler's per-resource
  targets (webhook-covered resources only swept).

Halfway, one more practice is added; its backfill runs under the measured quota beside the
rest. Measured per resource class: staleness (a change's time in the emulator to the moment
its version was written to the store, the row's `synced_at`; a change that never arrives
counts as infinite), calls per hour of the fleet in the measured hours, the share of the
quota left, 429s, the added practice's backfill progress, and whether every store equals its
emulator practice at the end (row count and checksum per resource).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import math
import os
import platform
import re
import socket
import sys
import time
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import psycopg  # noqa: E402
import redis.asyncio as aioredis  # noqa: E402

from drchrono_async.fleet import (  # noqa: E402
    FleetConfig,
    FreshnessTargets,
    PracticeRegistry,
    TickLog,
    build_app,
    ensure_schema,
    freshness_tick,
    schedule_all,
)
from drchrono_async.oauth import Token  # noqa: E402
from drchrono_async.ratelimit import RedisQuota  # noqa: E402
from drchrono_async.testing import DeliveryLog, Emulator, Simulation  # noqa: E402

RESULTS = ROOT / "benchmarks" / "RESULTS.md"
START, END = "<!-- freshness:start -->", "<!-- freshness:end -->"
HOUR = 3600.0
FAR = 253_402_300_799.0
# A small set per practice standing for each class: the busy webhook-covered records, and
# reference data the API has no event for.
COVERED = ("appointments", "patients", "medications")
REFERENCE = ("offices", "doctors", "fee_schedules")
RESOURCES = COVERED + REFERENCE
CLASSES = {
    "webhook-covered (versioned)": ("appointments", "patients"),
    "webhook-covered (marked stale)": ("medications",),
    "reference (polled)": REFERENCE,
}
EVENT_RESOURCE = {"APPOINTMENT": "appointments", "PATIENT": "patients"}
EVENT_RESOURCE["PATIENT_MEDICATION"] = "medications"
HOOK_EVENTS = [f"{stem}_{what}" for stem in EVENT_RESOURCE for what in ("CREATE", "MODIFY")]
SECRET = "bench-freshness-" + "5e" * 12
# Records per practice by profile: enough pages to make a full listing cost something.
RECORDS = {
    "small": {"appointments": 100, "patients": 40, "medications": 30},
    "medium": {"appointments": 300, "patients": 120, "medications": 90},
    "large": {"appointments": 1000, "patients": 400, "medications": 300},
}
QUIET = {  # everything else kept small: seeding 200 practices stays quick
    "clinical_notes": 5,
    "documents": 5,
    "problems": 5,
    "allergies": 5,
    "line_items": 5,
    "tasks": 5,
    "insurances": 5,
    "other": 5,
}


def profile(i: int) -> str:
    """Half small, a third medium, the rest large, interleaved."""
    slot = i % 20
    return "small" if slot < 10 else "medium" if slot < 17 else "large"


@dataclass
class Settings:
    dsn: str
    redis: str
    hour: float  # seconds of one shortened hour
    limit: int
    hours: float  # measured hours of activity
    drain: float  # hours after the activity at most, for the last changes to arrive
    every: float  # naive period, hours
    sweep: float  # freshness: sweep of webhook-covered resources, hours
    target: float  # freshness: target of reference resources, hours
    workers: int
    concurrency: int
    seed: int

    @property
    def scale(self) -> float:
        return HOUR / self.hour

    def real(self, hours: float) -> float:
        """Clock seconds of `hours` hour-equivalents."""
        return hours * self.hour


@dataclass
class Result:
    variant: str
    practices: int
    loss: float
    staleness: dict[str, list[float]] = field(default_factory=dict)  # resource -> hour-eq s
    lost: list[float] = field(default_factory=list)  # staleness of changes whose webhook was lost
    changes: int = 0
    calls_per_hour: float = 0.0
    peak_window: int = 0
    throttled: int = 0
    equal: int = 0
    compared: int = 0
    added_progress: dict[str, tuple[int, int]] = field(default_factory=dict)
    added_done_after: float | None = None  # hours after it was added
    added_calls: int = 0
    equal_on_arrival: int | None = None  # stores equal when every change had arrived
    settled_after: float | None = None  # hours after the activity until every store was equal
    wall: float = 0.0
    notes: list[str] = field(default_factory=list)


# -- processes -------------------------------------------------------------------------------


async def start_worker(
    s: Settings, schema: str, key: str, *, limit: int, rate: float, extra: list[str]
) -> asyncio.subprocess.Process:
    # Every job lists a resource without `since` in full: the schedule decides when to poll
    # (the Syncer's own day between full listings is not shortened with the hour).
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "drchrono_async.cli",
        "worker",
        "--store",
        s.dsn,
        "--schema",
        schema,
        "--redis",
        s.redis,
        "--quota-key",
        key,
        "--quota-limit",
        str(limit),
        "--quota-window",
        f"{s.hour:g}",
        "--quota-reserve",
        "0",
        "--rate",
        f"{rate:g}",
        "--burst",
        "20",
        "--concurrency",
        str(s.concurrency),
        "--slice-pages",
        "20",
        "--heartbeat",
        "1",
        "--stalled-after",
        "4",
        "--max-wait",
        "2",
        "--poll",
        "0.2",
        "--every",
        "0",
        "--full-every",
        "0",
        *extra,
        cwd=ROOT,
        env={**os.environ, "DRCHRONO_WEBHOOK_SECRET": SECRET},
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )


async def stop(procs: list[asyncio.subprocess.Process]) -> None:
    for proc in procs:
        if proc.returncode is None:
            proc.terminate()
    for proc in procs:
        try:
            await asyncio.wait_for(proc.wait(), 30)
        except TimeoutError:
            proc.kill()
            await proc.wait()


async def open_jobs(dsn: str, schema: str) -> int:
    async with await psycopg.AsyncConnection.connect(dsn) as conn:
        cur = await conn.execute(
            f"SELECT count(*) FROM \"{schema}\".procrastinate_jobs WHERE status IN ('todo',"
            " 'doing') AND task_name LIKE %s",
            ("%sync_resource",),
        )
        row = await cur.fetchone()
    return 0 if row is None else int(row[0])


async def drop_schemas(dsn: str, schema: str) -> None:
    async with await psycopg.AsyncConnection.connect(dsn, autocommit=True) as conn:
        cur = await conn.execute(
            "SELECT nspname FROM pg_namespace WHERE nspname = %s OR nspname LIKE %s",
            (schema, f"{schema}\\_p\\_%"),
        )
        for (name,) in await cur.fetchall():
            await conn.execute(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')


async def drop_keys(url: str, prefix: str) -> None:
    redis = aioredis.Redis.from_url(url)
    async for stale in redis.scan_iter(match=f"{prefix}*"):
        await redis.delete(stale)
    await redis.aclose()


# -- watching the stores ---------------------------------------------------------------------


class Watch:
    """When each change reached its store: the row's `synced_at` once the row holds the
    change's version (its marker; a created row: once it exists) or a later one."""

    def __init__(self, dsn: str, schemas: dict[int, str], fields: dict[str, str]) -> None:
        self.dsn = dsn
        self.schemas = schemas  # practice index -> its schema (once registered)
        self.fields = fields
        # (practice, resource, id) -> [(change index, marker)], oldest first
        self.pending: dict[tuple[int, str, str], list[tuple[int, str | None]]] = {}
        self.arrived: dict[int, float] = {}  # change index -> epoch it was written
        self.seen = 0
        self._types: dict[str, str] = {}

    def take(self, changes: list[Any]) -> None:
        for index in range(self.seen, len(changes)):
            c = changes[index]
            self.pending.setdefault((c.practice, c.resource, c.id), []).append((index, c.marker))
        self.seen = len(changes)

    async def look(self, conn: psycopg.AsyncConnection[Any]) -> None:
        by_resource: dict[str, dict[int, list[str]]] = defaultdict(lambda: defaultdict(list))
        for practice, resource, rid in self.pending:
            if practice in self.schemas:
                by_resource[resource][practice].append(rid)
        for resource, practices in by_resource.items():
            kind = await self._type(conn, resource)
            if kind is None:
                continue
            parts, args = [], []
            for practice, ids in practices.items():
                parts.append(
                    f"SELECT %s::int, id::text, payload->>%s, extract(epoch from synced_at)"
                    f' FROM "{self.schemas[practice]}"."{resource}"'
                    f" WHERE id = ANY(%s::{kind}[])"
                )
                args += [practice, self.fields[resource], ids]
            try:
                cur = await conn.execute(" UNION ALL ".join(parts), args)
            except psycopg.errors.UndefinedTable:  # a practice not synced yet
                await conn.rollback()
                continue
            for practice, rid, value, synced in await cur.fetchall():
                self._arrive((practice, resource, rid), value, float(synced))

    def _arrive(self, key: tuple[int, str, str], value: str | None, synced: float) -> None:
        waiting = self.pending.get(key)
        if not waiting:
            return
        markers = [m for _, m in waiting]
        if value in markers:
            upto = markers.index(value)
        elif markers[0] is None:  # a created row: it exists
            upto = 0
        else:
            return  # an older version still
        for index, _ in waiting[: upto + 1]:
            self.arrived[index] = synced
        rest = waiting[upto + 1 :]
        if rest:
            self.pending[key] = rest
        else:
            del self.pending[key]

    async def _type(self, conn: psycopg.AsyncConnection[Any], resource: str) -> str | None:
        if resource not in self._types:
            cur = await conn.execute(
                "SELECT data_type FROM information_schema.columns WHERE table_schema = ANY(%s)"
                " AND table_name = %s AND column_name = 'id' LIMIT 1",
                (list(self.schemas.values()), resource),
            )
            row = await cur.fetchone()
            if row is None:
                return None
            self._types[resource] = "text" if row[0] == "text" else "bigint"
        return self._types[resource]


async def stores_equal(
    dsn: str, registry: PracticeRegistry, keys: dict[int, str], emu: Emulator
) -> tuple[int, dict[int, dict[str, tuple[int, int]]], list[str]]:
    """Practices whose every resource equals the emulator's; and rows held / live per
    practice and resource."""
    equal = 0
    rows: dict[int, dict[str, tuple[int, int]]] = {}
    unequal: list[str] = []
    for i, key in keys.items():
        same = True
        rows[i] = {}
        async with registry.data_store(key) as store:
            for resource in RESOURCES:
                live, digest = emu.practice(i).checksum(resource)
                try:
                    held = await store.count(resource)
                    ok = held == live and await store.checksum(resource) == digest
                except Exception:  # a resource never synced: no table yet
                    held, ok = 0, False
                rows[i][resource] = (held, live)
                same &= ok
                if not ok:
                    unequal.append(f"{key} {resource} ({held} rows of {live})")
        equal += same
    return equal, rows, unequal


# -- one run -----------------------------------------------------------------------------------


def make_emulator(s: Settings, n: int, loss: float) -> Emulator:
    sizes = [{**QUIET, **RECORDS[profile(i)]} for i in range(n)]
    sizes.append({**QUIET, **RECORDS["medium"]})  # the practice added halfway
    emu = Emulator(
        seed=s.seed,
        practices=n + 1,
        practice_sizes=sizes,
        quota=10**9,  # the backfill's; the measured limit is set after it
        quota_window=s.hour,
        quota_scope="application",
    )
    emu.webhooks.redelivery_after = tuple(d / s.scale for d in (HOUR, 3 * HOUR, 7 * HOUR))
    emu.webhooks.loss = loss
    emu.webhooks.concurrency = 8  # the live service does not deliver one at a time
    emu.webhooks.log = DeliveryLog(maxlen=5_000_000)
    return emu


async def run(s: Settings, variant: str, n: int, loss: float = 0.0) -> Result:
    result = Result(variant, n, loss)
    began = time.perf_counter()
    emu = make_emulator(s, n, loss)
    tag = uuid.uuid4().hex[:8]
    schema = f"bench_fresh_{tag}"
    prefix = f"bench:fresh:{tag}:"
    keys = {i: f"p{i:03d}" for i in range(n)}
    added = n
    try:
        async with emu.serve() as url, PracticeRegistry(s.dsn, schema=schema) as registry:
            for i, key in keys.items():
                token = Token(emu.practice(i).access_token, "unused-refresh", FAR)
                await registry.add(key, token, base_url=url, resources=RESOURCES, auth="fixed")
            config = FleetConfig(s.dsn, schema=schema, every=0)
            app = build_app(config)
            await ensure_schema(app, config)
            # The backfill, outside the measured quota: a key of its own, no practical limit.
            # Queued before the workers start, so the queue is never seen empty early.
            filler = build_app(config)  # an app opens once: the measurement has its own
            async with filler.open_async():
                await schedule_all(filler, registry, window=s.hour)
            filling = [
                await start_worker(s, schema, prefix + "backfill", limit=10**9, rate=1000, extra=[])
                for _ in range(s.workers)
            ]
            try:
                while True:
                    if not await open_jobs(s.dsn, schema):
                        break
                    await asyncio.sleep(0.5)
            finally:
                await stop(filling)
            print(
                f"  {variant} N={n}: backfilled in {time.perf_counter() - began:.0f} s", flush=True
            )
            # The backfill's calls count in the emulator's window: the measured limit starts
            # with a fresh window (the workers' quota key is new), or its first hour 429s.
            await asyncio.sleep(max(0.0, emu.window_resets_at() - emu.clock.now()))
            emu.quota = s.limit
            schemas = {i: registry.practice_schema(k) for i, k in keys.items()}
            fields = {"appointments": "notes", "patients": "nick_name", "medications": "notes"}
            fields.update(offices="fax_number", doctors="website", fee_schedules="description")
            watch = Watch(s.dsn, schemas, fields)
            sim = await measure(
                s, variant, n, emu, url, registry, app, schema, prefix, watch, result
            )
            # Who arrived when, per resource, in hour-equivalent seconds.
            lost = lost_changes(emu, sim)
            for index, change in enumerate(sim.changes):
                if change.practice >= n:
                    continue
                got = watch.arrived.get(index)
                late = math.inf if got is None else max(0.0, got - change.at) * s.scale
                result.staleness.setdefault(change.resource, []).append(late)
                if index in lost:
                    result.lost.append(late)
            result.changes = sum(1 for c in sim.changes if c.practice < n)
            if sim.failed:
                result.notes.append(f"{sim.failed} simulated changes refused by the emulator")
            all_keys = {**keys, added: "p_added"}
            result.equal, rows, unequal = await stores_equal(s.dsn, registry, all_keys, emu)
            if unequal:
                result.notes.append("not equal at the end: " + ", ".join(unequal[:10]))
            result.compared = len(all_keys)
            result.added_progress = rows[added]
    finally:
        if os.environ.get("BENCH_KEEP"):  # for a look afterwards
            print(f"  kept schema {schema}", flush=True)
        else:
            await drop_schemas(s.dsn, schema)
        await drop_keys(s.redis, prefix)
    result.wall = time.perf_counter() - began
    return result


async def measure(
    s: Settings,
    variant: str,
    n: int,
    emu: Emulator,
    url: str,
    registry: PracticeRegistry,
    app: Any,
    schema: str,
    prefix: str,
    watch: Watch,
    result: Result,
) -> Simulation:
    profiles = [profile(i) for i in range(n)] + ["medium"]
    sim = Simulation(emu, profiles, seed=s.seed, scale=s.scale, resources=RESOURCES)
    key = prefix + "quota"
    rate = max(10.0, 4 * s.limit / s.hour)
    extra: list[str] = []
    port = 0
    targets = None
    if variant == "freshness":
        spec = f"default={s.real(s.target):g}s"
        extra = ["--freshness", spec, "--sweep", f"{s.real(s.sweep):g}s"]
        # Its own tick runs every scaled minute (a second or so): a 5-s tick, the least.
        targets = FreshnessTargets.parse(spec, sweep=s.real(s.sweep), tick=5)
        port = free_port()
        emu.webhooks.register(f"http://127.0.0.1:{port}/hooks", SECRET, HOOK_EVENTS)
    workers = [
        await start_worker(
            s,
            schema,
            key,
            limit=s.limit,
            rate=rate,
            extra=extra + (["--webhooks", f"127.0.0.1:{port}"] if port and not i else []),
        )
        for i in range(s.workers)
    ]
    if port:
        await listening(port)
    t0 = time.time()  # hours are counted from here (the quota's windows are the epoch's)
    activity = asyncio.create_task(sim.run(s.hours * HOUR))
    added_at: float | None = None
    added_key = "p_added"
    all_keys = {**{i: f"p{i:03d}" for i in range(n)}, n: added_key}
    next_check = 0.0
    looks = 0
    tasks: list[asyncio.Task[Any]] = []
    try:
        async with (
            app.open_async(),
            await psycopg.AsyncConnection.connect(s.dsn, autocommit=True) as conn,
        ):
            if variant == "naive":
                tasks.append(asyncio.create_task(naive_schedule(s, app, registry)))
            else:
                assert targets is not None
                tasks.append(asyncio.create_task(emu.webhooks.deliver_forever(0.02)))
                tasks.append(asyncio.create_task(tick(s, app, registry, key, rate, targets)))
            end = t0 + s.real(s.hours)
            limit = end + s.real(s.drain)
            while True:
                await asyncio.sleep(0.2)
                now = time.time()
                if added_at is None and now >= t0 + s.real(s.hours / 2):
                    token = Token(emu.practice(n).access_token, "unused-refresh", FAR)
                    await registry.add(
                        added_key, token, base_url=url, resources=RESOURCES, auth="fixed"
                    )
                    watch.schemas[n] = registry.practice_schema(added_key)
                    if variant == "naive":
                        await schedule_all(app, registry, window=s.hour)
                    added_at = now
                looks += 1
                check = result.added_done_after is None and looks % 5 == 0
                if (
                    check
                    and added_at is not None
                    and await added_done(registry, added_key, emu.practice(n))
                ):
                    result.added_done_after = (now - added_at) / s.hour
                watch.take(sim.changes)
                await watch.look(conn)
                if activity.done() and not watch.pending and now >= end and now >= next_check:
                    # Every change arrived: are the stores equal too (a webhook's object
                    # may lack what a sweep's listing brings)? Looked at once an hour.
                    next_check = now + s.hour
                    equal, _, _ = await stores_equal(s.dsn, registry, all_keys, emu)
                    if result.equal_on_arrival is None:
                        result.equal_on_arrival = equal
                    if equal == len(all_keys):
                        result.settled_after = (time.time() - end) / s.hour
                        break
                if now >= limit:
                    break
    finally:
        for task in tasks:
            task.cancel()
        activity.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await activity
        await stop(workers)
    window_calls: dict[int, int] = defaultdict(int)
    by_path: dict[str, int] = defaultdict(int)
    for e in emu.requests:
        if e.time < t0 or e.practice is None:
            continue
        if e.method != "GET":  # staff work (no API quota), not the fleet's
            continue
        if e.status == 429:
            result.throttled += 1
        if e.path.startswith("/api/") and e.status not in (None, 401, 429):
            if e.practice < n:
                window_calls[math.floor((e.time - t0) / s.hour)] += 1
                if os.environ.get("BENCH_DEBUG") and e.time < t0 + s.real(s.hours):
                    by_path[e.path.split("/")[2] + ("?since" if "since" in e.query else "")] += 1
            elif e.practice == n:
                result.added_calls += 1
    if by_path:
        print(f"  calls in the measured hours by path: {dict(by_path)}", flush=True)
    measured = [window_calls.get(w, 0) for w in range(int(s.hours))]
    result.calls_per_hour = sum(measured) / max(1, len(measured))
    result.peak_window = max(measured, default=0)
    return sim


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def listening(port: int) -> None:
    """Wait until the worker's webhook receiver accepts connections."""
    for _ in range(300):
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            await asyncio.sleep(0.1)
            continue
        writer.close()
        await writer.wait_closed()
        return
    raise RuntimeError("the worker's webhook receiver did not start")


async def tick(
    s: Settings,
    app: Any,
    registry: PracticeRegistry,
    key: str,
    rate: float,
    targets: FreshnessTargets,
) -> None:
    """The freshness scheduler's tick, as the workers' periodic task runs it, at its 60 s
    scaled (a cron's tick cannot be shortened; the workers' own ticks still run too)."""
    redis = aioredis.Redis.from_url(s.redis)
    quota = RedisQuota(
        redis, key=key, limit=s.limit, window=s.hour, reserve=0, rate=rate, burst=20.0
    )
    log = TickLog()  # an infeasible plan is warned about once a (real) 15 minutes
    try:
        while True:
            await freshness_tick(
                app, registry, quota, targets, webhooks=True, window=s.hour, log=log
            )
            await asyncio.sleep(max(0.2, 60.0 / s.scale))
    finally:
        await redis.aclose()


async def naive_schedule(s: Settings, app: Any, registry: PracticeRegistry) -> None:
    """Every resource of every practice every `--every` (the first pass: the workers')."""
    while True:
        await asyncio.sleep(s.real(s.every))
        await schedule_all(app, registry, window=s.hour)


async def added_done(registry: PracticeRegistry, key: str, practice: Any) -> bool:
    """Whether the added practice's store holds as many rows as it has records, everywhere."""
    async with registry.data_store(key) as store:
        for resource in RESOURCES:
            try:
                if await store.count(resource) < len(practice.live(resource)):
                    return False
            except Exception:  # not synced yet: no table
                return False
    return True


def lost_changes(emu: Emulator, sim: Simulation) -> set[int]:
    """Indexes of the changes whose webhook delivery was lost."""
    lost = [e for e in emu.webhooks.log if e.outcome == "lost" and e.record_id is not None]
    if not lost:
        return set()
    latest: dict[tuple[str, str], list[tuple[float, int]]] = defaultdict(list)
    for index, c in enumerate(sim.changes):
        latest[(c.resource, c.id)].append((c.at, index))
    found = set()
    for entry in lost:
        resource = EVENT_RESOURCE.get(entry.event.rsplit("_", 1)[0])
        made = latest.get((resource or "", entry.record_id or ""), [])
        before = [index for at, index in made if at <= entry.at]
        if before:
            found.add(before[-1])
    return found


# -- the report ----------------------------------------------------------------------------------


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return math.nan
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))]


def span(seconds: float) -> str:
    """Hour-equivalent seconds, readable."""
    if math.isnan(seconds):
        return "-"
    if math.isinf(seconds):
        return "never"
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 2 * HOUR:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / HOUR:.1f} h"


def table(s: Settings, results: list[Result]) -> list[str]:
    lines = [
        "| variant | practices | webhooks lost | class | changes | staleness p50 / p95 / max |"
        " never arrived | calls / hour | quota left | 429s | stores equal at the end |",
        "|---|---:|---:|---|---:|---:|---:|---:|---:|---:|---|",
    ]
    for r in results:
        for name, members in CLASSES.items():
            values = [v for m in members for v in r.staleness.get(m, [])]
            never = sum(1 for v in values if math.isinf(v))
            figures = " / ".join(span(pct(values, q)) for q in (0.5, 0.95, 1.0))
            lines.append(
                f"| {r.variant} | {r.practices} | {r.loss:.0%} | {name} | {len(values)} |"
                f" {figures} | {never} | {r.calls_per_hour:.0f} (peak {r.peak_window}) |"
                f" {1 - r.calls_per_hour / s.limit:.0%} | {r.throttled} |"
                f" {settled(r)} |"
            )
    return lines


def settled(r: Result) -> str:
    text = f"{r.equal} of {r.compared}"
    if r.equal_on_arrival is not None and r.equal_on_arrival != r.equal:
        text += f" ({r.equal_on_arrival} when the last change arrived"
        if r.settled_after is not None:
            text += f"; all {r.settled_after:.1f} h after the activity"
        text += ")"
    return text


def detail(results: list[Result]) -> list[str]:
    lines = [
        "| variant | practices | webhooks lost | resource | p50 / p95 / max | changes lost on"
        " the way: max staleness |",
        "|---|---:|---:|---|---:|---:|",
    ]
    for r in results:
        for resource in RESOURCES:
            values = r.staleness.get(resource, [])
            figures = " / ".join(span(pct(values, q)) for q in (0.5, 0.95, 1.0))
            lost = "-"
            if r.loss and resource in COVERED:
                lost = span(max(r.lost, default=math.nan))
            lines.append(
                f"| {r.variant} | {r.practices} | {r.loss:.0%} | {resource} | {figures} | {lost} |"
            )
    return lines


def added(results: list[Result]) -> list[str]:
    lines = [
        "| variant | practices | added practice: rows stored / records, per resource | complete"
        " after | its calls |",
        "|---|---:|---|---:|---:|",
    ]
    for r in results:
        rows = ", ".join(f"{k} {h}/{lv}" for k, (h, lv) in r.added_progress.items())
        done = "-" if r.added_done_after is None else f"{r.added_done_after:.1f} h"
        lines.append(f"| {r.variant} | {r.practices} | {rows} | {done} | {r.added_calls} |")
    return lines


def write_results(text: str) -> None:
    old = RESULTS.read_text(encoding="utf-8")
    block = f"{START}\n{text}\n{END}"
    if START in old:
        new = re.sub(re.escape(START) + ".*?" + re.escape(END), lambda _: block, old, flags=re.S)
    else:
        new = old.rstrip("\n") + "\n\n" + block + "\n"
    RESULTS.write_text(new, encoding="utf-8")


async def bench(s: Settings, sizes: list[int], variants: list[str], loss: float) -> list[Result]:
    results = []
    for n in sizes:
        for variant in variants:
            r = await run(s, variant, n)
            results.append(r)
            print(f"  {variant} N={n}: {r.wall:.0f} s, {r.equal} of {r.compared} equal", flush=True)
    if loss and "freshness" in variants:
        r = await run(s, "freshness", max(sizes), loss)
        results.append(r)
        print(f"  freshness N={max(sizes)} loss {loss:.0%}: {r.wall:.0f} s", flush=True)
    return results


def hours_arg(text: str) -> float:
    """A duration in hour-equivalents: 30m, 6h, 1d or a bare number of hours."""
    m = re.fullmatch(r"(\d+(?:\.\d+)?)([smhd]?)", text.strip())
    if not m:
        raise argparse.ArgumentTypeError("a duration: 30m, 6h, 1d (bare: hours)")
    unit = {"s": 1 / 3600, "m": 1 / 60, "h": 1.0, "d": 24.0, "": 1.0}[m.group(2)]
    return float(m.group(1)) * unit


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--dsn",
        default=os.environ.get(
            "DRCHRONO_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test"
        ),
    )
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/0")
    parser.add_argument("--practices", default="10,50,200", help="N per run, comma-separated")
    parser.add_argument("--hour", type=float, default=36.0, help="seconds of a shortened hour")
    parser.add_argument("--limit", type=int, default=500, help="calls per (shortened) hour")
    parser.add_argument("--hours", type=hours_arg, default=12.0, help="measured activity")
    parser.add_argument("--drain", type=hours_arg, default=8.0, help="after it, at most")
    parser.add_argument("--every", type=hours_arg, default=1.0, help="naive: period")
    parser.add_argument("--sweep", type=hours_arg, default=6.0, help="freshness: sweep")
    parser.add_argument("--target", type=hours_arg, default=6.0, help="freshness: reference")
    parser.add_argument("--loss", type=float, default=0.1, help="webhooks lost, a loss run")
    parser.add_argument("--variants", default="naive,freshness")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--quick", action="store_true", help="N=3 for a few hours")
    parser.add_argument("--no-write", action="store_true", help="do not update RESULTS.md")
    args = parser.parse_args(argv)
    if args.quick:  # a smoke run: the sweep's floor (60 s) bounds how short an hour gets
        args.practices, args.hours, args.drain, args.loss = "3", 1.0, 3.0, 0.0
        args.hour, args.sweep, args.target, args.every = 20.0, 3.0, 3.0, 0.5
    s = Settings(
        args.dsn,
        args.redis,
        args.hour,
        args.limit,
        args.hours,
        args.drain,
        args.every,
        args.sweep,
        args.target,
        args.workers,
        args.concurrency,
        args.seed,
    )
    sizes = [int(x) for x in args.practices.split(",")]
    variants = [v for v in args.variants.split(",") if v]
    started = time.perf_counter()
    results = asyncio.run(bench(s, sizes, variants, args.loss))
    took = time.perf_counter() - started
    command = "python benchmarks/freshness.py" + (" " + " ".join(argv or sys.argv[1:])).rstrip()
    text = "\n".join(
        [
            "## Freshness: a simulated fleet on one application quota",
            "",
            f"N practices of one emulator on loopback, staff working at the documented rates"
            f" (`Simulation`, seed {s.seed}, the same script for every variant), one quota of"
            f" {s.limit} calls per shortened hour of {s.hour:g} s ({s.scale:g}x): every rate,"
            " period and redelivery delay is scaled by the same factor, and **every time below"
            " is in hour-equivalent units** (a real deployment's seconds, minutes, hours)."
            f" Measured: {s.hours:g} h of activity, then up to {s.drain:g} h for the last"
            " changes to arrive. Practices backfilled first on a quota key of their own with no"
            " practical limit (outside the measured quota); one more added halfway, under it."
            f" {s.workers} `drchrono-async worker` processes ({s.concurrency} jobs each)."
            f" Quota: the emulator counts {s.limit} calls per {s.hour:g}-s hour per application;"
            f" the workers share one `RedisQuota` key of {s.limit} per {s.hour:g} s, reserve 0,"
            f" rate {max(10.0, 4 * s.limit / s.hour):.3g} a second, burst 20."
            " Naive: `schedule_all` of every resource of every practice every"
            f" {s.every:g} h. Staleness: a change's time in the emulator to its version's"
            " `synced_at` in the store; never arrived = infinite. Calls / hour: the fleet's (not"
            " the added practice's) calls the emulator counted, per measured hour (peak: the"
            f" busiest hour). Python {platform.python_version()}, {os.cpu_count()} CPUs (load"
            f" {os.getloadavg()[0]:.1f} at the end), {dt.date.today().isoformat()}; {took:.0f} s"
            " in all.",
            "",
            f"Command: `{command}`",
            "",
            *table(s, results),
            "",
            *detail(results),
            "",
            *added(results),
            *[f"\n{r.variant} N={r.practices}: {note}" for r in results for note in r.notes],
        ]
    )
    print(text)
    if not args.no_write:
        write_results(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
