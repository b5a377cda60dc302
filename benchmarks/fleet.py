"""A fleet on one machine: worker processes, many practices, one application quota.

Run: `python benchmarks/fleet.py` (from the repository root; needs the PostgreSQL and Redis
servers of `--dsn` and `--redis`, by default the test servers on loopback). Prints a table and
rewrites its own section of `benchmarks/RESULTS.md` (between the `fleet` markers).

One emulator on loopback hosts 13 practices of one application, its quota counted per
application over a shortened hour (`--window` seconds, `--limit` calls). Twelve practices of
different sizes are registered in a fleet registry; the thirteenth is the web backend's, used
by a separate "interactive" process that makes one request every few seconds with
`priority="interactive"` on the same `RedisQuota` key as the workers. Three
`drchrono-async worker` processes then sync the twelve practices. Three phases:

1. the interactive process alone (no sync): its request latency, the baseline;
2. the fleet with the interactive process beside it, until every practice is synced;
3. the same fleet on fresh data, one worker `kill -9`ed when half of the calls are made.

Measured from the emulator's request log: utilisation of each full window while work was
left (calls it counted / limit), 429s, each practice's calls against its fair share
(max-min: the window's calls water-filled over what each practice still had to fetch), and
whether every practice's store equals its emulator practice at the end. The phases run once
each, one after another: interleaving does not apply (a phase is several processes sharing
windows), and the section says so; it states the quota settings and the machine's load
before and after, as every benchmark does (`_bench.Machine`).
"""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import random
import signal
import statistics
import sys
import time
import uuid
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
for _path in (ROOT, ROOT / "benchmarks"):  # runnable as `python benchmarks/fleet.py`
    if str(_path) not in sys.path:
        sys.path.insert(0, str(_path))

import _bench  # noqa: E402
import psycopg  # noqa: E402
import redis.asyncio as aioredis  # noqa: E402

from drchrono_async import DrChronoClient  # noqa: E402
from drchrono_async.fleet import (  # noqa: E402
    FleetConfig,
    PracticeRegistry,
    build_app,
    ensure_schema,
    schedule_all,
)
from drchrono_async.oauth import Token  # noqa: E402
from drchrono_async.ratelimit import RedisQuota  # noqa: E402
from drchrono_async.testing import Emulator  # noqa: E402

RESOURCES = ("appointments", "patients")
PRACTICES = 12
WORKERS = 3
# Appointments per practice: from a clinic's first month to a busy group's year.
APPOINTMENTS = (300, 600, 1000, 1500, 2200, 3000, 4000, 5000, 6500, 8000, 10000, 12500)
FAR = 253_402_300_799.0
SLOW = 0.1  # seconds: an interactive request slower than this is listed with when it began


@dataclass
class Settings:
    dsn: str
    redis: str
    window: float
    limit: int
    reserve: float
    release: float
    every: float
    baseline: float
    concurrency: int
    slice_pages: int


@dataclass
class Phase:
    name: str
    started: float = 0.0
    finished: float = 0.0
    latencies: list[float] = field(default_factory=list)
    slow: list[tuple[float, float]] = field(default_factory=list)  # (latency, into window)
    killed_at: float | None = None
    equal: int = 0
    failed_jobs: int = 0


# -- the interactive process -------------------------------------------------------------------


async def probe(args: argparse.Namespace) -> None:
    """Interactive requests at `--every` seconds (+-50%) until stdin closes; one line each."""
    redis = aioredis.Redis.from_url(args.redis)
    quota = RedisQuota(
        redis,
        key=args.quota_key,
        limit=args.limit,
        window=args.window,
        reserve=args.reserve,
        reserve_release=args.release,
    )
    token = os.environ["BENCH_TOKEN"]
    rng = random.Random(11)
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    closed = asyncio.ensure_future(reader.read())
    async with DrChronoClient(
        token, base_url=args.url, quota=quota, priority="interactive", max_wait=args.window * 2
    ) as client:
        first = True
        while not closed.done():
            await asyncio.wait({closed}, timeout=rng.uniform(0.5, 1.5) * args.every)
            if closed.done():
                break
            began, wall = time.perf_counter(), time.time()
            doctors = [d async for d in client.doctors.list()]
            took = time.perf_counter() - began
            assert doctors
            if not first:  # the first pays for the connection and the quota's set-up
                print(f"latency {took:.6f} {wall % args.window:.3f}", flush=True)
            first = False
    await redis.aclose()


async def start_probe(
    s: Settings, url: str, token: str, key: str, every: float
) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable,
        __file__,
        "--probe",
        "--url",
        url,
        "--quota-key",
        key,
        "--redis",
        s.redis,
        "--limit",
        str(s.limit),
        "--window",
        str(s.window),
        "--reserve",
        str(s.reserve),
        "--release",
        str(s.release),
        "--every",
        str(every),
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        cwd=ROOT,
        env={**os.environ, "BENCH_TOKEN": token},
    )


async def stop_probe(proc: asyncio.subprocess.Process) -> list[tuple[float, float]]:
    """Each interactive request's latency and when it began, in seconds into its window."""
    assert proc.stdin is not None and proc.stdout is not None
    proc.stdin.close()
    out, _ = await asyncio.wait_for(proc.communicate(), 120)
    if proc.returncode != 0:
        raise RuntimeError(f"the interactive process failed ({proc.returncode})")
    rows = [line.split() for line in out.decode().splitlines() if line]
    return [(float(r[1]), float(r[2])) for r in rows]


# -- workers and the queue -----------------------------------------------------------------------


async def start_worker(s: Settings, schema: str, key: str) -> asyncio.subprocess.Process:
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
        str(s.limit),
        "--quota-window",
        str(s.window),
        "--quota-reserve",
        str(s.reserve),
        "--quota-release",
        str(s.release),
        "--concurrency",
        str(s.concurrency),
        "--slice-pages",
        str(s.slice_pages),
        "--heartbeat",
        "1",
        "--stalled-after",
        "4",
        "--max-wait",
        "5",
        "--poll",
        "0.2",
        "--every",
        "0",  # one pass: no quarter-hour re-sync in the middle of a measurement
        cwd=ROOT,
        stdout=asyncio.subprocess.DEVNULL,
    )


async def queue_state(dsn: str, schema: str) -> dict[str, int]:
    async with await psycopg.AsyncConnection.connect(dsn) as conn:
        cur = await conn.execute(
            "SELECT count(*) FILTER (WHERE status IN ('todo', 'doing')),"
            " count(*) FILTER (WHERE status = 'failed')"
            f' FROM "{schema}".procrastinate_jobs WHERE task_name LIKE %s',
            ("%sync_resource",),
        )
        row = await cur.fetchone()
    assert row is not None
    return {"open": row[0], "failed": row[1]}


async def drop_schemas(dsn: str, schema: str) -> None:
    async with await psycopg.AsyncConnection.connect(dsn, autocommit=True) as conn:
        cur = await conn.execute(
            "SELECT nspname FROM pg_namespace WHERE nspname = %s OR nspname LIKE %s",
            (schema, f"{schema}\\_p\\_%"),
        )
        for (name,) in await cur.fetchall():
            await conn.execute(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')


# -- one phase -----------------------------------------------------------------------------------


def make_emulator(s: Settings, seed: int) -> Emulator:
    sizes = [{"appointments": n, "patients": max(20, n // 3)} for n in APPOINTMENTS]
    sizes.append({"appointments": 10, "patients": 10})  # the web backend's practice
    return Emulator(
        seed=seed,
        practices=PRACTICES + 1,
        practice_sizes=sizes,
        quota=s.limit,
        quota_window=s.window,
        quota_scope="application",
    )


async def run_fleet(s: Settings, phase: Phase, *, kill_after: int | None) -> Emulator:
    """Sync the twelve practices with WORKERS worker processes and the interactive process."""
    emu = make_emulator(s, seed=5)
    schema = f"bench_fleet_{uuid.uuid4().hex[:10]}"
    key = f"bench:fleet:{uuid.uuid4().hex[:10]}:quota"
    redis = aioredis.Redis.from_url(s.redis)
    try:
        async with emu.serve() as url:
            async with PracticeRegistry(s.dsn, schema=schema) as registry:
                for i in range(PRACTICES):
                    token = Token(emu.practice(i).access_token, "unused-refresh", FAR)
                    await registry.add(
                        f"p{i:02d}", token, base_url=url, resources=RESOURCES, auth="fixed"
                    )
                # Queue every sync before the workers start, so the queue is never idle early.
                config = FleetConfig(s.dsn, schema=schema)
                app = build_app(config)
                await ensure_schema(app, config)
                async with app.open_async():
                    await schedule_all(app, registry, window=s.window)
            await align(s.window)  # start with a window, so the first full one is the second
            phase.started = time.time()
            prober = await start_probe(s, url, emu.practice(PRACTICES).access_token, key, s.every)
            workers = [await start_worker(s, schema, key) for _ in range(WORKERS)]
            quiet = refused = 0
            state = {"open": 1, "failed": 0}
            try:
                while quiet < 3:
                    await asyncio.sleep(1.0)
                    due = kill_after is not None and phase.killed_at is None
                    if due and fleet_calls(emu) >= (kill_after or 0):
                        workers[0].send_signal(signal.SIGKILL)
                        phase.killed_at = time.time()
                        print(f"  worker {workers[0].pid} killed (SIGKILL)", flush=True)
                    try:
                        state = await queue_state(s.dsn, schema)
                    except psycopg.OperationalError as exc:
                        # A shared server out of connections ("too many clients"): ask again
                        # in a second; the work goes on in the workers meanwhile.
                        refused += 1
                        if refused > 60:
                            raise
                        print(f"  queue state not read ({type(exc).__name__})", flush=True)
                        quiet = 0
                        continue
                    refused = 0
                    quiet = quiet + 1 if state["open"] == 0 else 0
                    if time.time() - phase.started > 3600:
                        raise RuntimeError("the fleet did not finish within an hour")
                phase.finished = last_fleet_call(emu)
                phase.failed_jobs = state["failed"]
            finally:
                for proc in workers:
                    if proc.returncode is None:
                        proc.terminate()
                for proc in workers:
                    await asyncio.wait_for(proc.wait(), 60)
                probes = await stop_probe(prober)
                phase.latencies = [lat for lat, _ in probes]
                phase.slow = sorted((lat, at) for lat, at in probes if lat > SLOW)
            phase.equal = await stores_equal(s, schema, emu)
    finally:
        await drop_schemas(s.dsn, schema)
        async for stale in redis.scan_iter(match=f"{key}*"):
            await redis.delete(stale)
        await redis.aclose()
    return emu


async def align(window: float) -> None:
    """Sleep to 1 s after the next window boundary."""
    now = time.time()
    await asyncio.sleep(math.floor(now / window) * window + window + 1.0 - now)


def fleet_calls(emu: Emulator) -> int:
    return sum(
        1 for e in emu.requests if counted(e) and e.practice is not None and e.practice < PRACTICES
    )


def last_fleet_call(emu: Emulator) -> float:
    return max(e.time for e in emu.requests if e.practice is not None and e.practice < PRACTICES)


def counted(entry: Any) -> bool:
    return entry.path.startswith("/api/") and entry.status not in (None, 401, 429)


async def stores_equal(s: Settings, schema: str, emu: Emulator) -> int:
    equal = 0
    async with PracticeRegistry(s.dsn, schema=schema) as registry:
        for i in range(PRACTICES):
            same = True
            async with registry.data_store(f"p{i:02d}") as store:
                for resource in RESOURCES:
                    rows, digest = emu.practice(i).checksum(resource)
                    same &= await store.count(resource) == rows
                    same &= await store.checksum(resource) == digest
            equal += same
    return equal


# -- analysis -----------------------------------------------------------------------------------


def water_fill(capacity: float, demands: dict[int, float]) -> dict[int, float]:
    """Max-min fair shares of `capacity` among `demands`."""
    shares = {p: 0.0 for p in demands}
    left = {p: d for p, d in demands.items() if d > 0}
    while left and capacity > 1e-9:
        even = capacity / len(left)
        small = {p: d for p, d in left.items() if d <= even}
        if not small:
            for p in left:
                shares[p] += even
            break
        for p, d in small.items():
            shares[p] += d
            capacity -= d
            del left[p]
    return shares


@dataclass
class Analysis:
    windows: list[tuple[int, int]]  # (counted calls, interactive calls) per full busy window
    throttled: int
    calls: dict[int, int]
    share: dict[int, float]  # calls / fair share over the contended windows
    done_window: dict[int, int]  # the window (from the first) in which a practice finished
    per_window: list[list[int]]  # calls per practice (and the interactive's last) per window


def analyse(emu: Emulator, phase: Phase, s: Settings) -> Analysis:
    entries = [e for e in emu.requests if e.practice is not None and e.time >= phase.started]
    throttled = sum(1 for e in entries if e.status == 429)
    first = math.floor(phase.started / s.window)
    last = math.floor(phase.finished / s.window)  # the window the work ended in: partial
    per: dict[int, Counter[int]] = defaultdict(Counter)
    for e in entries:
        if counted(e) and e.practice is not None:
            per[math.floor(e.time / s.window)][e.practice] += 1
    total = Counter[int]()
    for w in per:
        for p, n in per[w].items():
            if p < PRACTICES:
                total[p] += n
    windows = []
    fair_sum: dict[int, float] = defaultdict(float)
    got_sum: Counter[int] = Counter()
    done_so_far: Counter[int] = Counter()
    done_window: dict[int, int] = {}
    for w in range(first, last + 1):
        calls = per.get(w, Counter())
        fleet = {p: n for p, n in calls.items() if p < PRACTICES}
        if first < w < last:
            windows.append((sum(calls.values()), calls.get(PRACTICES, 0)))
            demand = {p: float(total[p] - done_so_far[p]) for p in range(PRACTICES)}
            fair = water_fill(sum(fleet.values()), demand)
            for p in range(PRACTICES):
                fair_sum[p] += fair[p]
                got_sum[p] += fleet.get(p, 0)
        for p, n in fleet.items():
            done_so_far[p] += n
            if done_so_far[p] == total[p]:
                done_window.setdefault(p, w - first)
    share = {p: got_sum[p] / fair_sum[p] if fair_sum[p] else math.nan for p in range(PRACTICES)}
    grid = [
        [per.get(w, Counter()).get(p, 0) for p in range(PRACTICES + 1)]
        for w in range(first, last + 1)
    ]
    return Analysis(windows, throttled, dict(total), share, done_window, grid)


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return math.nan
    return ordered[min(len(ordered) - 1, math.ceil(q * len(ordered)) - 1)]


# -- the report ----------------------------------------------------------------------------------


def report(s: Settings, base: Phase, runs: list[tuple[Phase, Analysis]]) -> list[str]:
    b50, b99 = pct(base.latencies, 0.5), pct(base.latencies, 0.99)
    lines = [
        "| run | full windows | utilisation (min / mean) | 429s | practices' share of fair"
        " (min / max) | interactive requests | interactive p50 / p99 | x no sync (p50 / p99)"
        " | stores equal | wall s |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
        f"| no sync (interactive alone) | - | - | - | - | {len(base.latencies)} |"
        f" {b50 * 1000:.1f} ms / {b99 * 1000:.1f} ms | 1.00 / 1.00 | - |"
        f" {base.finished - base.started:.0f} |",
    ]
    for phase, a in runs:
        util = [c / s.limit for c, _ in a.windows]
        shares = [v for v in a.share.values() if not math.isnan(v)]
        p50, p99 = pct(phase.latencies, 0.5), pct(phase.latencies, 0.99)
        used = f"{min(util):.2%} / {statistics.fmean(util):.2%}" if util else "-"
        fair = f"{min(shares):.2f} / {max(shares):.2f}" if shares else "-"
        lines.append(
            f"| {phase.name} | {len(a.windows)} | {used} | {a.throttled} |"
            f" {fair} | {len(phase.latencies)} |"
            f" {p50 * 1000:.1f} ms / {p99 * 1000:.1f} ms | {p50 / b50:.2f} / {p99 / b99:.2f} |"
            f" {phase.equal} of {PRACTICES} | {phase.finished - phase.started:.0f} |"
        )
    return lines


def practice_table(a: Analysis) -> list[str]:
    lines = [
        "| practice | appointments | calls | share of fair (contended windows) |"
        " finished in window |",
        "|---|---:|---:|---:|---:|",
    ]
    for p in range(PRACTICES):
        share = a.share[p]
        lines.append(
            f"| p{p:02d} | {APPOINTMENTS[p]} | {a.calls.get(p, 0)} |"
            f" {'-' if math.isnan(share) else f'{share:.2f}'} | {a.done_window.get(p, '-')} |"
        )
    return lines


def print_grid(a: Analysis) -> None:
    print("calls per window (rows) and practice (columns; the last: interactive)")
    for i, row in enumerate(a.per_window):
        print(f"  {i:>2}: " + " ".join(f"{n:>3}" for n in row) + f" = {sum(row)}")


async def bench(s: Settings, *, kill: bool, detail: bool = False) -> list[str]:
    base = Phase("no sync")
    emu = make_emulator(s, seed=5)
    key = f"bench:fleet:{uuid.uuid4().hex[:10]}:quota"
    async with emu.serve() as url:
        base.started = time.time()
        # Alone, the rate does not matter (no permit is scarce): one a second, more samples.
        prober = await start_probe(s, url, emu.practice(PRACTICES).access_token, key, 1.0)
        await asyncio.sleep(s.baseline)
        base.latencies = [lat for lat, _ in await stop_probe(prober)]
        base.finished = time.time()
    redis = aioredis.Redis.from_url(s.redis)
    async for stale in redis.scan_iter(match=f"{key}*"):
        await redis.delete(stale)
    await redis.aclose()
    print(f"no sync: {len(base.latencies)} interactive requests", flush=True)

    runs: list[tuple[Phase, Analysis]] = []
    phase = Phase(f"{WORKERS} workers")
    emu = await run_fleet(s, phase, kill_after=None)
    first = analyse(emu, phase, s)
    runs.append((phase, first))
    if detail:
        print_grid(first)
    print(f"{phase.name}: {phase.finished - phase.started:.0f} s, {phase.equal} equal", flush=True)
    if kill:
        killed = Phase(f"{WORKERS} workers, one kill -9ed halfway")
        half = sum(first.calls.values()) // 2
        emu = await run_fleet(s, killed, kill_after=half)
        runs.append((killed, analyse(emu, killed, s)))
        if detail:
            print_grid(runs[-1][1])
        print(
            f"{killed.name}: {killed.finished - killed.started:.0f} s, {killed.equal} equal",
            flush=True,
        )
    lines = report(s, base, runs)
    for phase, _ in runs:
        if phase.slow:
            listed = ", ".join(f"{lat:.2f} s at {at:.1f} s" for lat, at in phase.slow)
            lines.append(
                f"\n{phase.name}: interactive requests over {SLOW * 1000:.0f} ms, with"
                f" when they began (seconds into a {s.window:g}-s window): {listed}."
            )
    notes = [
        "",
        "Each kill -9ed worker's running jobs were given back after its heartbeat stopped"
        " (4 s here) and resumed from their checkpoints. The interactive requests that took"
        " a quarter of a second or more are the ones that came after the workers had spent"
        f" the reserve released in a window's last {s.release:g} s (see the times above): they"
        " waited for the next window, as a request after an hour's released reserve is spent"
        " waits for the next hour."
        " Practices finish in order of size: none waits"
        " behind a larger one.",
    ]
    return [*lines, *notes, "", *practice_table(first)]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--dsn",
        default=os.environ.get(
            "DRCHRONO_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test"
        ),
    )
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/0")
    parser.add_argument("--window", type=float, default=30.0, help="the shortened hour, s")
    parser.add_argument("--limit", type=int, default=60, help="calls per window")
    parser.add_argument(
        "--reserve",
        type=float,
        default=0.2,
        help="share of each window held for interactive requests",
    )
    parser.add_argument(
        "--release",
        type=float,
        default=3.0,
        help="seconds before a window's end the reserve goes to the workers",
    )
    parser.add_argument(
        "--every", type=float, default=5.0, help="seconds between interactive requests (mean)"
    )
    parser.add_argument(
        "--baseline", type=float, default=60.0, help="seconds of interactive requests alone"
    )
    parser.add_argument("--concurrency", type=int, default=3, help="jobs per worker")
    parser.add_argument("--slice-pages", type=int, default=2)
    parser.add_argument("--no-kill", action="store_true", help="skip the kill -9 run")
    parser.add_argument(
        "--detail", action="store_true", help="print each run's calls per window and practice"
    )
    parser.add_argument("--no-write", action="store_true", help="do not update RESULTS.md")
    parser.add_argument("--probe", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    parser.add_argument("--quota-key", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.probe:
        asyncio.run(probe(args))
        return 0
    s = Settings(
        args.dsn,
        args.redis,
        args.window,
        args.limit,
        args.reserve,
        args.release,
        args.every,
        args.baseline,
        args.concurrency,
        args.slice_pages,
    )
    quota = (
        f"the workers' and the probe's `RedisQuota` on one key, {s.limit} per {s.window:g}-s"
        f" window, reserve {s.reserve:.0%} released {s.release:g} s before its end, burst 10 and"
        " rate 10 a second (the defaults); the emulator counts the application's calls, the"
        " same limit per window"
    )
    machine = _bench.Machine.start(quota=quota, command=_bench.command("fleet.py", argv))
    started = time.perf_counter()
    lines = asyncio.run(bench(s, kill=not args.no_kill, detail=args.detail))
    took = time.perf_counter() - started
    machine.stop()
    method = (
        "Method: the phases run one after another (the interactive process alone, then the"
        " fleet, then the fleet with a kill), each once; interleaving does not apply: a phase"
        " is a run of several processes over shared windows, not a variant to repeat round by"
        " round. Utilisation, 429s, shares and stores equal are counts and move little with"
        " load; the interactive latencies are times and do move with it (the load above is the"
        f" machine's while it ran; {took:.0f} s in all)."
    )
    text = "\n".join(
        [
            "## A fleet: worker processes, 12 practices, one application quota",
            "",
            f"{WORKERS} `drchrono-async worker` processes ({s.concurrency} jobs each, slices of"
            f" {s.slice_pages} pages) sync 12 practices of one emulator (appointments and patients;"
            f" {min(APPOINTMENTS)} to {max(APPOINTMENTS)} appointments) on loopback, whose quota"
            f" counts the application's calls: {s.limit} per {s.window:g}-s window (a shortened"
            f" hour), reserve {s.reserve:.0%}. A separate process makes an interactive request (one"
            f" page of doctors of a 13th practice) every {s.every:g} s on average on the same"
            " `RedisQuota` key. Utilisation: calls the emulator counted in each full window while"
            " work was left, over the limit. Share of fair: a practice's calls over its max-min"
            " fair share of each such window (the window's fleet calls water-filled over what each"
            " practice still had to fetch); 1.00 is exactly fair.",
            "",
            machine.header(method),
            "",
            *lines,
        ]
    )
    print(text)
    if not args.no_write:
        _bench.write_section("fleet", text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
