"""The sync engine, measured side by side in one run.

Run: `python benchmarks/sync.py` (from the repository root). Prints four tables and rewrites
its own section of `benchmarks/RESULTS.md` (between the `sync` markers):

1. calls: a backfill of appointments, patients, clinical notes and insurances against the
   minimum, the sum over resources (and listings) of ceil(records / max page size), with
   verbose listings (the default: pages of 50, 20 for notes) and without (goal <= 1.02x);
2. wall time: the same backfill from an emulator process on loopback at 100 ms per request,
   against the ideal for the concurrency used (goal: near 1x); shards=1 and shards=4 run
   interleaved round by round (`_bench.ainterleave`), best and median reported;
3. writes: rows per second of `SQLiteStore.write` and `PostgresStore.write` (pages of 250,
   each with its checkpoint) against the same driver's plain bulk insert of the same rows
   (goal <= 1.5x), the four interleaved round by round, best and median reported;
4. memory: the peak Python allocation of a sync of 10k and of 100k appointments (goal: flat).

Writes need the PostgreSQL server of `--dsn` (default: the test server on loopback); they
work in a schema of their own, dropped afterwards.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import sys
import tempfile
import time
import tracemalloc
from collections import Counter
from collections.abc import Awaitable, Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402

from drchrono_async import DrChronoClient, HourlyQuota, converter  # noqa: E402
from drchrono_async.records import Appointment  # noqa: E402
from drchrono_async.sync import SQLiteStore, Syncer, default_verbose  # noqa: E402
from drchrono_async.sync._rows import columns_for, row_from  # noqa: E402
from drchrono_async.testing import Emulator, VirtualClock  # noqa: E402

sys.path.insert(0, str(ROOT / "benchmarks"))
import _bench  # noqa: E402
import store_write  # noqa: E402
from paging import emulator_process  # noqa: E402

RESOURCES = ["appointments", "patients"]


# The quota settings each table ran with (a benchmark states them, see RESULTS.md).
QUOTA = (
    "the calls table runs `HourlyQuota(limit=10**8)` (burst 10, rate 10 a second) in"
    " virtual time, where its spacing is skipped, not slept; the wall-time and memory tables"
    " run with no client quota (`quota=None`); the emulator's own quota is 10**8 an hour: the"
    " quota is not what is measured here."
)
CALL_RESOURCES = ["appointments", "patients", "clinical_notes", "insurances"]


async def calls_against_minimum(appointments: int, patients: int) -> list[str]:
    out = [
        "| verbose | resource | records | minimum calls | calls | x minimum |",
        "|---|---|---:|---:|---:|---:|",
    ]
    for verbose in (True, False):
        emu = Emulator(
            seed=3,
            clock=VirtualClock(),
            quota=10**8,
            sizes={"appointments": appointments, "patients": patients,
                   "clinical_notes": appointments // 10, "insurances": 300},
        )  # fmt: skip
        with tempfile.TemporaryDirectory() as tmp:
            quota = HourlyQuota(limit=10**8, clock=emu.clock)
            async with (
                emu.client(quota=quota) as client,
                SQLiteStore(Path(tmp) / "s.db") as store,
            ):
                report = await Syncer(
                    client, store, resources=CALL_RESOURCES, verbose=None if verbose else False
                ).run()
        assert report.complete
        label = "on (default)" if verbose else "off"
        minimum_all = 0
        for name in CALL_RESOURCES:
            endpoint = emu.tables[name].endpoint
            verbosely = verbose and default_verbose(endpoint)
            page = endpoint.max_page_size_for(verbosely)
            # One listing per `sync_listings` entry: each is paged on its own.
            groups: dict[object, int] = {}
            for row in emu.tables[name]:
                group = tuple(row.get(k) for k in endpoint.sync_key.listing)
                groups[group] = groups.get(group, 0) + 1
            held = sum(groups.values())
            minimum = sum(math.ceil(n / page) for n in groups.values())
            minimum_all += minimum
            used = report[name].calls
            out.append(f"| {label} | {name} | {held} | {minimum} | {used} | {used / minimum:.3f} |")
        out.append(
            f"| {label} | all | | {minimum_all} | {report.calls} | "
            f"{report.calls / minimum_all:.3f} |"
        )
    return out


class WindowCounter(httpx.AsyncBaseTransport):
    """httpx's transport, counting requests per `date_range` window (the critical path)."""

    def __init__(self) -> None:
        self._inner = httpx.AsyncHTTPTransport()
        self.pages: Counter[str] = Counter()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.pages[request.url.params.get("date_range", "")] += 1
        return await self._inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self._inner.aclose()


async def wall_time(appointments: int, latency: float, rounds: int) -> tuple[list[str], str]:
    """shards=1 and shards=4, interleaved round by round on one emulator process."""
    out = [
        "| shards | windows at once | pages | best s | median s | ideal s "
        "| x ideal (best / median) | longest window (pages x latency) "
        "| x longest (best / median) |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    seen: dict[int, tuple[int, int, float]] = {}  # shards -> (streams, pages, longest s)
    with emulator_process(seed=5, size=appointments, latency=latency) as (url, token):

        def variant(shards: int) -> Callable[[], Awaitable[float]]:
            async def one() -> float:
                counter = WindowCounter()
                with tempfile.TemporaryDirectory() as tmp:
                    async with (
                        DrChronoClient(
                            token, base_url=url, quota=None, max_concurrency=16, transport=counter
                        ) as client,
                        SQLiteStore(Path(tmp) / "w.db") as store,
                    ):
                        syncer = Syncer(client, store, resources=["appointments"], shards=shards)
                        # A first backfill's plan costs one call per window: the windows it
                        # lists.
                        windows = (await syncer.plan()).calls
                        started = time.perf_counter()
                        report = await syncer.run()
                        seconds = time.perf_counter() - started
                assert report.complete
                pages = report["appointments"].pages
                # shards=1 lists one window after another; more list the past's shards and
                # the future's windows at once.
                streams = 1 if shards == 1 else windows
                # The windows are not equal: the run cannot end before its longest one has.
                longest = (pages if shards == 1 else max(counter.pages.values())) * latency
                seen[shards] = (streams, pages, longest)
                return seconds

            return one

        samples = await _bench.ainterleave(
            {f"shards={s}": variant(s) for s in (1, 4)}, rounds, progress=_bench.stderr
        )
    for shards in (1, 4):
        name = f"shards={shards}"
        streams, pages, longest = seen[shards]
        # Ideal: the pages spread evenly over the streams.
        ideal = math.ceil(pages / streams) * latency
        best, median = samples.best(name), samples.median(name)
        out.append(
            f"| {shards} | {streams} | {pages} | {best:.2f} | {median:.2f} | {ideal:.2f} |"
            f" {best / ideal:.2f} / {median / ideal:.2f} | {longest:.2f} |"
            f" {best / longest:.2f} / {median / longest:.2f} |"
        )
    return out, samples.method()


async def writes(rows_total: int, dsn: str, rounds: int) -> tuple[list[str], str]:
    """`write()` of real appointment rows against the same driver's plain bulk insert.

    The rows are the emulator's appointments as the engine makes them (`row_from`); both
    sides write pages of 250, one transaction each, into the same table layout (see
    `store_write.py`: plain is `executemany(INSERT)` for sqlite3, `COPY` for psycopg).
    """
    emu = Emulator(seed=4, sizes={"appointments": rows_total, "patients": 0})
    endpoint = emu.tables["appointments"].endpoint
    records = converter.structure_many(emu.records("appointments"), Appointment)
    rows = [r for r in (row_from(a, endpoint) for a in records) if r is not None]
    columns = columns_for(Appointment)
    out = [
        "| store | rows | write() rows/s (best / median) | plain bulk insert rows/s "
        "(best / median) | x plain (best / median) |",
        "|---|---:|---:|---:|---:|",
    ]
    # All four interleaved round by round: a disk or server hiccup costs one round of one
    # variant, and a slow spell of the machine hits every variant alike.
    samples = await _bench.ainterleave(
        {
            "sqlite write": lambda: store_write.sqlite_write(rows, columns),
            "sqlite plain": lambda: store_write.sqlite_plain(rows, columns),
            "postgres write": lambda: store_write.postgres_write(dsn, rows, columns),
            "postgres plain": lambda: store_write.postgres_plain(dsn, rows, columns),
        },
        rounds,
        progress=_bench.stderr,
    )
    n = len(rows)
    for name, key in (
        ("SQLiteStore (sqlite3)", "sqlite"),
        ("PostgresStore (psycopg 3)", "postgres"),
    ):
        w, p = f"{key} write", f"{key} plain"
        out.append(
            f"| {name} | {n} | {n / samples.best(w):,.0f} / {n / samples.median(w):,.0f} "
            f"| {n / samples.best(p):,.0f} / {n / samples.median(p):,.0f} "
            f"| {samples.ratio(w, p, 'best'):.2f} / {samples.ratio(w, p, 'median'):.2f} |"
        )
    return out, samples.method()


async def memory(sizes: list[int]) -> list[str]:
    # The emulator runs in its own process: its tables and page caches are not the sync's.
    out = [
        "| appointments | peak MiB during the sync | MiB still held after it |",
        "|---:|---:|---:|",
    ]
    for size in sizes:
        with (
            emulator_process(seed=6, size=size, latency=0.0) as (url, token),
            tempfile.TemporaryDirectory() as tmp,
        ):
            async with (
                DrChronoClient(token, base_url=url, quota=None) as client,
                SQLiteStore(Path(tmp) / "m.db") as store,
            ):
                tracemalloc.start()
                report = await Syncer(client, store, resources=["appointments"]).run()
                held, peak = tracemalloc.get_traced_memory()
                tracemalloc.stop()
            assert report.complete
        out.append(f"| {size} | {peak / 2**20:.1f} | {held / 2**20:.1f} |")
    return out


async def main(args: argparse.Namespace) -> str:
    wall, wall_method = await wall_time(args.wall_size, args.latency, args.rounds)
    write, write_method = await writes(20_000, args.dsn, args.write_rounds)
    parts = [
        "### Calls against the minimum",
        "",
        "Counts, in virtual time: the same on any machine, under any load.",
        "",
        *await calls_against_minimum(50_000, 10_000),
        "",
        f"### Wall time, emulator process on loopback, {args.latency * 1000:.0f} ms per request",
        "",
        wall_method,
        "",
        *wall,
        "",
        "### Writes: SQLite and PostgreSQL against their drivers' plain bulk insert",
        "",
        write_method,
        "",
        *write,
        "",
        "### Peak memory",
        "",
        "Python allocations (`tracemalloc`), not times: load moves them only through how"
        " many pages are in flight at once.",
        "",
        *await memory([10_000, 100_000]),
        "",
        "A backfill or a `since` listing keeps nothing per record (the ids of a listing are"
        " kept only by full and reconciling listings, which look for vanished records): what"
        " is held after the sync does not grow with the records, and the peak is a few pages"
        " being decoded and written at once. With shards=1 the windows are listed one after"
        " another; the time over the latency is the decoding of each page (50"
        " appointments: verbose, the default), its write with its checkpoint, and the"
        " emulator's own work. With"
        " shards=4 the past's four shards and the future's windows are listed at once; they"
        " are not equal (no run can end before its longest window has), and the decoding and"
        " writing of all of them share one process.",
    ]
    return "\n".join(parts)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--latency", type=float, default=0.1)
    parser.add_argument("--wall-size", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=3, help="interleaved wall-time rounds")
    parser.add_argument("--write-rounds", type=int, default=5, help="interleaved write rounds")
    parser.add_argument("--no-write", action="store_true")
    parser.add_argument(
        "--dsn",
        default=os.environ.get(
            "DRCHRONO_TEST_POSTGRES_DSN", "postgresql://postgres@127.0.0.1:5432/test"
        ),
    )
    ns = parser.parse_args()
    machine = _bench.Machine.start(quota=QUOTA, command=_bench.command("sync.py"))
    text = asyncio.run(main(ns))
    machine.stop()
    header = machine.header(
        "Method: each table says how it was taken; the timed ones interleave their variants "
        "round by round."
    )
    section = f"## The sync engine\n\n{header}\n\n{text}"
    print(section)
    if not ns.no_write:
        _bench.write_section("sync", section)
