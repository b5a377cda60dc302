"""Fetch 200 pages of appointments over loopback with 100 ms latency: the library vs plain httpx.

Run: `python benchmarks/paging.py` (from the repository root). The emulator runs in a separate
process (`python -m drchrono_async.cli emulator`), so that building pages on the server does
not take CPU from the client (this is meant for a 2-core machine); the server adds the latency
to every request. The client lists one date range, wholly in the past, that holds
`pages x page_size` appointments:

- through `DrChronoClient` at concurrency 1, 4 and 16 (`max_concurrency` = `shards`; at 1 a
  single chain with `prefetch=1`), over httpx's default transport and over `httpx-aiohttp`;
- with a plain sequential `httpx.AsyncClient` loop that follows `next` (the floor at 1);
- with plain chains (httpx, and aiohttp itself) over the same windows at each concurrency
  above 1: the floor that the transport alone allows, measured in the same run.

Every variant runs once per round, the rounds interleaved (`_bench.ainterleave`, the order
rotated each round), so the machine's load drifts over all of them alike. It reports each
variant's best and median wall time, the pages fetched, the ratio to the ideal time (pages x
latency / concurrency), the ratio to the floor (plain httpx chains at the same concurrency,
the plain loop at 1), and the client's CPU time per page (`time.process_time()`: this process
only). The goals are ratios to the floor of the same run, not absolute figures: a busy
machine slows the floor too. Then it rewrites its own section of `benchmarks/RESULTS.md`
(between the `paging` markers).

The client's quota is `HourlyQuota(limit=1_000_000, burst=1_000, rate=10_000)`: the permit
path runs, but never waits (the real 500 per hour would make this an hours-long benchmark).
"""

from __future__ import annotations

import argparse
import asyncio
import bisect
import collections
import contextlib
import datetime as dt
import json
import math
import os
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
for _path in (ROOT, ROOT / "benchmarks"):  # runnable as `python benchmarks/paging.py`
    if str(_path) not in sys.path:
        sys.path.insert(0, str(_path))

import _bench  # noqa: E402

from drchrono_async import DrChronoClient  # noqa: E402
from drchrono_async.ratelimit import HourlyQuota  # noqa: E402
from drchrono_async.resources._query import split_date_range  # noqa: E402
from drchrono_async.testing import Emulator  # noqa: E402

PATH = "/api/appointments"
STARTUP_TIMEOUT = 60.0  # seconds for the emulator process to seed and listen
QUOTA = (
    "the client's `HourlyQuota(limit=1_000_000, burst=1_000, rate=10_000)`, which never waits "
    "here (the permit path runs); the plain loop and chains have none; the emulator's own "
    "quota is 10**8 an hour"
)
# The client's wall time over the floor's (plain httpx chains at the same concurrency; the
# plain loop at 1), by median: at most this. The client adds the quota,
# retries and typed records on the same two cores as the floor's bare `json.loads`.
GOAL_ONE, GOAL_WIDE = 1.05, 1.10


# -- the date range -------------------------------------------------------------------------


@dataclass(frozen=True)
class Plan:
    """The date range to list and what each way of listing it should fetch."""

    start: dt.date
    end: dt.date
    records: int
    pages: dict[int, int]  # shards -> pages fetched (the sum over the windows)
    longest: dict[int, int]  # shards -> pages of the longest window (the critical path)


def plan_range(
    *, seed: int, size: int, page_size: int, pages: int, shards: tuple[int, ...]
) -> Plan:
    """A date range wholly in the past that holds `pages` full pages at every shard count.

    The emulator's seed is deterministic, so an in-process emulator with the same seed and
    size tells which days hold how many appointments. Ranges are tried nearest to
    `pages x page_size` records first; the first whose windows (split as the library splits
    them) fetch exactly `pages` pages at the widest shard count wins, else the closest.
    """
    emulator = Emulator(seed=seed, sizes={"appointments": size})
    today = emulator.local_now().date()
    per_day = collections.Counter(
        dt.date.fromisoformat(r["scheduled_time"][:10]) for r in emulator.records("appointments")
    )
    days = sorted(d for d in per_day if d < today)
    prefix = [0]
    for d in days:
        prefix.append(prefix[-1] + per_day[d])

    def count(a: dt.date, b: dt.date) -> int:
        return prefix[bisect.bisect_right(days, b)] - prefix[bisect.bisect_left(days, a)]

    def split(a: dt.date, b: dt.date, n: int) -> list[int]:
        windows = split_date_range((a, b), today=today, shards=n, limit_days=None)
        return [math.ceil(count(x, y) / page_size) for x, y in windows]

    want = pages * page_size
    widest = max(shards)
    best: tuple[tuple[int, int], Plan] | None = None
    last = today - dt.timedelta(days=1)
    # Bounded search: every end date in the past 60 days, every length the seed can fill.
    for back in range(60):
        end = last - dt.timedelta(days=back)
        for length in range(widest, len(days) - back):
            start = end - dt.timedelta(days=length - 1)
            if start < days[0]:
                break
            n = count(start, end)
            if n < want - page_size:
                continue
            if n > want:
                break
            by_shards = {s: split(start, end, s) for s in shards}
            total = {s: sum(p) for s, p in by_shards.items()}
            spread = max(by_shards[widest]) - min(by_shards[widest])
            score = (sum(abs(t - pages) for t in total.values()), spread)
            plan = Plan(start, end, n, total, {s: max(p) for s, p in by_shards.items()})
            if best is None or score < best[0]:
                best = (score, plan)
            if score == (0, 1) or (score == (0, 0)):
                return plan
    if best is None:
        raise SystemExit(f"no past date range of the seed holds {pages} pages; raise --size")
    return best[1]


# -- the emulator process -------------------------------------------------------------------


@contextlib.contextmanager
def emulator_process(*, seed: int, size: int, latency: float) -> Iterator[tuple[str, str]]:
    """Run the emulator CLI on a free loopback port; yields (base URL, access token).

    The process is terminated on the way out whatever happens (and killed if it lingers).
    """
    cmd = [
        sys.executable,
        "-m",
        "drchrono_async.cli",
        "emulator",
        "--host",
        "127.0.0.1",
        "--port",
        "0",
        "--seed",
        str(seed),
        "--latency",
        str(latency),
        "--quota",
        "100000000",  # the server's hourly quota must not be what is measured
        "--size",
        f"appointments={size}",
    ]
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
    }
    proc = subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT, env=env
    )
    # readline() blocks: a timer kills a process that never gets to print its address.
    watchdog = threading.Timer(STARTUP_TIMEOUT, proc.kill)
    watchdog.start()
    try:
        url = token = None
        assert proc.stdout is not None
        for _ in range(100):  # the banner is a handful of lines
            line = proc.stdout.readline()
            if not line:
                break
            if line.startswith("DrChrono emulator at "):
                url = line.split(" at ", 1)[1].strip()
            elif line.strip().startswith("access token:"):
                token = line.split(":", 1)[1].strip()
            if url and token:
                break
        watchdog.cancel()
        if not (url and token):
            err = proc.stderr.read() if proc.stderr and proc.poll() is not None else ""
            raise RuntimeError(f"the emulator did not start: {err.strip()[-2000:]}")
        # Keep draining its output so that a full pipe can never block the server.
        for stream in (proc.stdout, proc.stderr):
            threading.Thread(target=_drain, args=(stream,), daemon=True).start()
        yield url, token
    finally:
        watchdog.cancel()
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


def _drain(stream: object) -> None:
    read = getattr(stream, "read", None)
    if read is not None:
        with contextlib.suppress(ValueError, OSError):
            while read(65536):
                pass


# -- the ways of listing --------------------------------------------------------------------


@dataclass
class Run:
    wall: float
    cpu: float
    pages: int
    records: int


@dataclass
class Variant:
    label: str
    concurrency: int
    transport: str  # "httpx" or "aiohttp"
    plain: bool = False
    runs: list[Run] = field(default_factory=list)

    @property
    def key(self) -> str:
        return f"{self.label}, C={self.concurrency}"

    @property
    def wall(self) -> float:
        return statistics.median(r.wall for r in self.runs)

    @property
    def best(self) -> float:
        return min(r.wall for r in self.runs)

    @property
    def pages(self) -> int:
        return self.runs[0].pages

    @property
    def cpu_ms_per_page(self) -> float:
        return statistics.median(r.cpu / r.pages * 1000 for r in self.runs)


def make_transport(kind: str, concurrency: int) -> httpx.AsyncBaseTransport | None:
    if kind == "httpx":
        return None  # the client builds its own, with limits sized to max_concurrency
    from drchrono_async.transports import aiohttp_transport

    return aiohttp_transport(max_concurrency=concurrency)


async def library(
    url: str, token: str, plan: Plan, page_size: int, concurrency: int, transport: str
) -> tuple[int, int]:
    """Every page of the range through DrChronoClient; returns (pages, records)."""
    quota = HourlyQuota(limit=1_000_000, burst=1_000, rate=10_000)
    async with DrChronoClient(
        token,
        base_url=url,
        quota=quota,
        max_concurrency=concurrency,
        transport=make_transport(transport, concurrency),
    ) as client:
        listing = client.appointments.list(
            date_range=(plan.start, plan.end),
            shards=concurrency,
            page_size=page_size,
            prefetch=1,
        )
        pages = records = 0
        async for page in listing.pages():
            pages += 1
            records += len(page.results)
    return pages, records


async def plain_loop(url: str, token: str, plan: Plan, page_size: int) -> tuple[int, int]:
    """What one would write without the library: one httpx client, follow `next`."""
    headers = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(headers=headers, timeout=60) as http:

        async def get(target: str, params: dict[str, str] | None) -> bytes:
            response = await http.get(target, params=params)
            response.raise_for_status()
            return response.content

        return await _chain(get, url, (plan.start, plan.end), page_size)


async def plain_chains(
    url: str, token: str, plan: Plan, page_size: int, concurrency: int, kind: str
) -> tuple[int, int]:
    """The floor under the library: `concurrency` plain chains over the same windows.

    No quota, no retries, no records: decoded JSON only, over a pool of `concurrency`
    connections of httpx (httpcore) or of aiohttp itself.
    """
    today = dt.date.today()
    windows = split_date_range(
        (plan.start, plan.end), today=today, shards=concurrency, limit_days=None
    )
    headers = {"Authorization": f"Bearer {token}"}
    results: list[tuple[int, int]]
    if kind == "aiohttp":
        import aiohttp

        connector = aiohttp.TCPConnector(limit=concurrency)
        async with aiohttp.ClientSession(headers=headers, connector=connector) as session:

            async def get_aiohttp(target: str, params: dict[str, str] | None) -> bytes:
                async with session.get(target, params=params) as response:
                    response.raise_for_status()
                    return await response.read()

            results = await asyncio.gather(
                *(_chain(get_aiohttp, url, w, page_size) for w in windows)
            )
    else:
        limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
        async with httpx.AsyncClient(headers=headers, timeout=60, limits=limits) as http:

            async def get_httpx(target: str, params: dict[str, str] | None) -> bytes:
                response = await http.get(target, params=params)
                response.raise_for_status()
                return response.content

            results = await asyncio.gather(*(_chain(get_httpx, url, w, page_size) for w in windows))
    return sum(p for p, _ in results), sum(r for _, r in results)


async def _chain(
    get: Callable[[str, dict[str, str] | None], Awaitable[bytes]],
    url: str,
    window: tuple[dt.date, dt.date],
    page_size: int,
) -> tuple[int, int]:
    """Follow `next` from the first page of one date window; returns (pages, records)."""
    params: dict[str, str] | None = {
        "date_range": f"{window[0]}/{window[1]}",
        "page_size": str(page_size),
    }
    target: str | None = f"{url}{PATH}"
    pages = records = 0
    for _ in range(100_000):  # bounded: a next that never ends is a bug here
        if target is None:
            break
        data = json.loads(await get(target, params))
        pages += 1
        records += len(data["results"])
        target, params = data["next"], None
    return pages, records


async def measure(job: Callable[[], Awaitable[tuple[int, int]]]) -> Run:
    cpu0, wall0 = time.process_time(), time.perf_counter()
    pages, records = await job()
    wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
    return Run(wall=wall, cpu=cpu, pages=pages, records=records)


async def run_all(
    url: str, token: str, plan: Plan, variants: list[Variant], page_size: int, rounds: int
) -> _bench.Samples:
    def job(v: Variant) -> Callable[[], Awaitable[tuple[int, int]]]:
        if v.plain and v.concurrency == 1:
            return lambda: plain_loop(url, token, plan, page_size)
        if v.plain:
            return lambda: plain_chains(url, token, plan, page_size, v.concurrency, v.transport)
        return lambda: library(url, token, plan, page_size, v.concurrency, v.transport)

    # Warm up: imports, the converter's generated code, the server's query caches. Not the
    # single chains (20 s each): the others have run the same code by then.
    for v in variants:
        if v.concurrency > 1:
            await measure(job(v))

    def sample(v: Variant) -> Callable[[], Awaitable[float]]:
        async def one() -> float:
            run = await measure(job(v))
            if run.records != plan.records:
                raise SystemExit(f"{v.label}: {run.records} records instead of {plan.records}")
            v.runs.append(run)
            return run.wall

        return one

    # Interleaved rounds, the order rotated: a slow spell of the machine hits every variant.
    return await _bench.ainterleave(
        {v.key: sample(v) for v in variants}, rounds, progress=_bench.stderr
    )


# -- the report -----------------------------------------------------------------------------


def floor_of(v: Variant, variants: list[Variant]) -> Variant | None:
    """The floor `v` is measured against: plain httpx at the same concurrency (the loop at 1).

    Plain httpx, whatever `v`'s transport: the client's aiohttp transport still goes through
    httpx's client, so plain aiohttp chains are a row of the table, not the floor.
    """
    if v.plain and v.transport == "httpx":
        return None
    for f in variants:
        if f.plain and f.transport == "httpx" and f.concurrency == v.concurrency:
            return f
    return None


def table(variants: list[Variant], samples: _bench.Samples, latency: float) -> str:
    lines = [
        "| variant | concurrency | pages | best s | median s | ideal s | x ideal (best / median) "
        "| x floor (best / median) | client CPU ms/page |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for v in variants:
        ideal = v.pages * latency / v.concurrency
        floor = floor_of(v, variants)
        vs_floor = (
            f"{samples.ratio(v.key, floor.key, 'best'):.3f} / "
            f"{samples.ratio(v.key, floor.key, 'median'):.3f}"
            if floor
            else ""
        )
        lines.append(
            f"| {v.label} | {v.concurrency} | {v.pages} | {v.best:.3f} | {v.wall:.3f} | "
            f"{ideal:.3f} | {v.best / ideal:.3f} / {v.wall / ideal:.3f} | {vs_floor} | "
            f"{v.cpu_ms_per_page:.2f} |"
        )
    return "\n".join(lines)


def goals(variants: list[Variant], samples: _bench.Samples) -> list[str]:
    """The client against the floor of this same run, by median (best and paired too)."""
    out = []
    widest = max(v.concurrency for v in variants)
    for v in variants:
        floor = floor_of(v, variants)
        if floor is None or v.plain or v.concurrency not in (1, widest):
            continue
        goal = GOAL_ONE if v.concurrency == 1 else GOAL_WIDE
        median = samples.ratio(v.key, floor.key, "median")
        ok = "met" if median <= goal else "NOT met"
        out.append(
            f"- {v.label} at concurrency {v.concurrency}: client/floor {median:.3f}x by median "
            f"({samples.ratio(v.key, floor.key, 'best'):.3f}x by best, "
            f"{samples.ratio(v.key, floor.key, 'paired'):.3f}x paired by round; the floor: "
            f"{floor.label}; goal <= {goal:.2f}x by median): {ok}"
        )
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pages", type=int, default=200)
    parser.add_argument("--page-size", type=int, default=250)
    parser.add_argument("--latency", type=float, default=0.1, help="seconds per request")
    parser.add_argument(
        "--rounds", "--repeat", dest="rounds", type=int, default=3, help="interleaved rounds"
    )
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--size", type=int, default=100_000, help="appointments seeded in the emulator"
    )
    parser.add_argument(
        "--concurrency", default="1,4,16", help="comma-separated concurrency levels"
    )
    parser.add_argument(
        "--transports", default="httpx,aiohttp", help="httpx, aiohttp or both (comma-separated)"
    )
    parser.add_argument("--no-write", action="store_true", help="do not update RESULTS.md")
    args = parser.parse_args(argv)
    levels = tuple(sorted({int(c) for c in args.concurrency.split(",")}))
    kinds = [k.strip() for k in args.transports.split(",") if k.strip()]

    plan = plan_range(
        seed=args.seed, size=args.size, page_size=args.page_size, pages=args.pages, shards=levels
    )
    print(
        f"date range {plan.start}/{plan.end}: {plan.records} appointments, "
        f"pages by shards {plan.pages}, longest window {plan.longest}",
        file=sys.stderr,
    )
    variants = [Variant("plain httpx loop", 1, "httpx", plain=True)]
    for kind in kinds:
        for c in levels:
            # aiohttp's interest is throughput at high concurrency; one chain adds little.
            if kind == "aiohttp" and c == 1 and len(levels) > 1:
                continue
            variants.append(Variant(f"DrChronoClient, {kind} transport", c, kind))
    for kind in kinds:
        for c in levels:
            if c > 1:  # the floor of each client variant above 1, measured in the same run
                variants.append(Variant(f"plain {kind} chains (floor)", c, kind, plain=True))

    machine = _bench.Machine.start(quota=QUOTA, command=_bench.command("paging.py", argv))
    with emulator_process(seed=args.seed, size=args.size, latency=args.latency) as (url, token):
        samples = asyncio.run(run_all(url, token, plan, variants, args.page_size, args.rounds))
    machine.stop()

    header = machine.header(
        samples.method() + " Before the rounds, every variant above concurrency 1 ran once "
        "as a warm-up."
    )
    result = table(variants, samples, args.latency)
    checks = goals(variants, samples)
    print(header + "\n")
    print(result)
    print("\n".join(checks))
    longest = ", ".join(f"{s} -> {plan.longest[s]}" for s in levels)
    section = (
        f"## Paging: {args.pages} pages over loopback, {args.latency * 1000:.0f} ms latency "
        "per request\n\n"
        f"The emulator runs in its own process (`python -m drchrono_async.cli emulator "
        f"--latency {args.latency} --size appointments={args.size} --seed {args.seed}`) on "
        f"127.0.0.1. Every variant lists `date_range={plan.start}/{plan.end}` (wholly in the "
        f"past, {plan.records} appointments) with page size {args.page_size}; concurrency C is "
        f"`max_concurrency=C` and `shards=C` (at 1 a single chain with `prefetch=1`). The "
        "plain loop is one `httpx.AsyncClient` following `next` and decoding with `json.loads`; "
        "the plain chains (floor) do the same over the C windows at once, without quota, "
        "retries or records, on httpx or on aiohttp itself. "
        f"Ideal = pages x {args.latency} s / C; more pages are fetched with more windows "
        "(each window ends on a partial page), and the longest window (pages by C: "
        f"{longest}) is a floor just above the ideal. x floor is a variant's wall time over "
        "that of the plain httpx chains at the same concurrency (of the plain loop at 1) in "
        "this same run: the goals are stated against it, since a busy machine slows the "
        "floor as it slows the client, and x ideal with it. CPU is `time.process_time()` of "
        f"the client process only. httpx {httpx.__version__}.\n\n"
        f"{header}\n\n{result}\n\n" + "\n".join(checks)
    )
    if not args.no_write:
        _bench.write_section("paging", section)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
