"""The sync engine, measured side by side in one run.

Run: `python benchmarks/sync.py` (from the repository root). Prints four tables and rewrites
its own section of `benchmarks/RESULTS.md` (between the `sync` markers):

1. calls: a backfill of appointments, patients, clinical notes and insurances against the
   minimum, the sum over resources (and listings) of ceil(records / max page size), with
   verbose listings (the default: pages of 50, 20 for notes) and without (goal <= 1.02x);
2. wall time: the same backfill from an emulator process on loopback at 100 ms per request,
   against the ideal for the concurrency used (goal: near 1x);
3. writes: rows per second of `SQLiteStore.write` and `PostgresStore.write` (pages of 250,
   each with its checkpoint) against the same driver's plain bulk insert of the same rows
   (goal <= 1.5x);
4. memory: the peak Python allocation of a sync of 10k and of 100k appointments (goal: flat).

Writes need the PostgreSQL server of `--dsn` (default: the test server on loopback); they
work in a schema of their own, dropped afterwards.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import math
import os
import platform
import re
import sys
import tempfile
import time
import tracemalloc
from collections import Counter
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
import store_write  # noqa: E402
from paging import emulator_process  # noqa: E402

RESULTS = ROOT / "benchmarks" / "RESULTS.md"
START, END = "<!-- sync:start -->", "<!-- sync:end -->"
RESOURCES = ["appointments", "patients"]


# The quota settings each table ran with (a benchmark states them, see RESULTS.md).
QUOTA = (
    "Quota: the calls table runs `HourlyQuota(limit=10**8)` (burst 10, rate 10 a second) in"
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


async def wall_time(appointments: int, latency: float) -> list[str]:
    out = [
        "| shards | windows at once | pages | seconds | ideal | x ideal |"
        " longest window (pages x latency) | x longest |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    with emulator_process(seed=5, size=appointments, latency=latency) as (url, token):
        for shards in (1, 4):
            counter = WindowCounter()
            with tempfile.TemporaryDirectory() as tmp:
                async with (
                    DrChronoClient(
                        token, base_url=url, quota=None, max_concurrency=16, transport=counter
                    ) as client,
                    SQLiteStore(Path(tmp) / "w.db") as store,
                ):
                    syncer = Syncer(client, store, resources=["appointments"], shards=shards)
                    # A first backfill's plan costs one call per window: the windows it lists.
                    windows = (await syncer.plan()).calls
                    started = time.perf_counter()
                    report = await syncer.run()
                    seconds = time.perf_counter() - started
            assert report.complete
            pages = report["appointments"].pages
            # shards=1 lists one window after another; more list the past's shards and the
            # future's windows at once. Ideal: the pages spread evenly over those streams.
            streams = 1 if shards == 1 else windows
            ideal = math.ceil(pages / streams) * latency
            # The windows are not equal: the run cannot end before its longest one has.
            longest = (pages if shards == 1 else max(counter.pages.values())) * latency
            out.append(
                f"| {shards} | {streams} | {pages} | {seconds:.2f} | {ideal:.2f} |"
                f" {seconds / ideal:.2f} | {longest:.2f} | {seconds / longest:.2f} |"
            )
    return out


async def writes(rows_total: int, dsn: str, repeat: int = 5) -> list[str]:
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
        "| store | rows | write() rows/s | plain bulk insert rows/s | x plain |",
        "|---|---:|---:|---:|---:|",
    ]
    cases = [
        ("SQLiteStore (sqlite3)", store_write.sqlite_write, store_write.sqlite_plain, ()),
        (
            "PostgresStore (psycopg 3)",
            store_write.postgres_write,
            store_write.postgres_plain,
            (dsn,),
        ),
    ]
    for name, write, plain, head in cases:
        # Rounds interleaved (write, plain, write, ...), the best of each: a disk or server
        # hiccup then costs one round of one side, not a whole side.
        ws, ps = [], []
        for _ in range(repeat):
            ws.append(await write(*head, rows, columns))
            ps.append(await plain(*head, rows, columns))
        w, p = min(ws), min(ps)
        n = len(rows)
        out.append(f"| {name} | {n} | {n / w:,.0f} | {n / p:,.0f} | {w / p:.2f} |")
    return out


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


def write_results(text: str) -> None:
    section = f"{START}\n{text}\n{END}"
    old = RESULTS.read_text(encoding="utf-8")
    if START in old and END in old:
        new = re.sub(re.escape(START) + r".*?" + re.escape(END), lambda _: section, old, flags=re.S)
    else:
        new = old.rstrip("\n") + "\n\n" + section + "\n"
    RESULTS.write_text(new, encoding="utf-8")


async def main(args: argparse.Namespace) -> str:
    parts = [
        "### Calls against the minimum",
        *await calls_against_minimum(50_000, 10_000),
        "",
        f"### Wall time, emulator process on loopback, {args.latency * 1000:.0f} ms per request",
        *await wall_time(args.wall_size, args.latency),
        "",
        "### Writes: SQLite and PostgreSQL against their drivers' plain bulk insert",
        *await writes(20_000, args.dsn),
        "",
        "### Peak memory",
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
    parser.add_argument("--no-write", action="store_true")
    parser.add_argument(
        "--dsn",
        default=os.environ.get(
            "DRCHRONO_TEST_POSTGRES_DSN", "postgresql://postgres@127.0.0.1:5432/test"
        ),
    )
    ns = parser.parse_args()
    text = asyncio.run(main(ns))
    print(text)
    command = "python benchmarks/sync.py" + "".join(f" {a}" for a in sys.argv[1:])
    section = (
        f"## The sync engine\n\nPython {platform.python_version()} on {platform.machine()},"
        f" {dt.date.today().isoformat()}. {QUOTA} Command: `{command}`\n\n{text}"
    )
    if not ns.no_write:
        write_results(section)
