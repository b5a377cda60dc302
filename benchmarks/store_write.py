"""Sync store writes: rows per second of `write()` against the driver's plain bulk insert.

Run: `python benchmarks/store_write.py [--rows N] [--rounds R] [--drivers] [--dsn DSN]`.

Each store writes N rows (default 10,000) in pages of 250, one `write()` (one transaction, with
its checkpoint) per page, into an empty table. The baseline is the same driver inserting the
same rows into the same table layout, one transaction per page, with no upsert rule, no
checks and no checkpoint: `executemany(INSERT)` for sqlite3, `COPY` for psycopg. The goal is
a ratio (baseline rows/s over write() rows/s) of at most 1.5, by median.

Child tables: the same rows with `vitals` (one object of 4 keys) and `status_transitions`
(two objects) in their payloads, written with and without those child tables, first into an
empty table, then again as newer versions (whose children are replaced): what child tables
cost, only for the resources that have them.

`--drivers` also compares psycopg 3 with asyncpg (if installed) on the PostgreSQL bulk upsert:
plain COPY, executemany into INSERT ... ON CONFLICT, and COPY into a temporary table then
INSERT ... ON CONFLICT: the measurement behind PostgresStore's choice of driver.
PostgreSQL parts need a server (default: postgresql://postgres@127.0.0.1:5432/test); they
work in a schema of their own, dropped afterwards. Every comparison runs its variants
interleaved round by round (`_bench.ainterleave`, the order rotated each round) and reports
the best and the median round. Prints the tables with the machine's load, then rewrites its
own section of `benchmarks/RESULTS.md` (between the `store-write` markers).
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import os
import sqlite3
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import orjson

ROOT = Path(__file__).resolve().parents[1]
for _path in (ROOT, ROOT / "benchmarks"):  # runnable as `python benchmarks/store_write.py`
    if str(_path) not in sys.path:
        sys.path.insert(0, str(_path))

import _bench  # noqa: E402

from drchrono_async.sync import Column, PostgresStore, Row, SQLiteStore  # noqa: E402
from drchrono_async.sync._store import ChildTable  # noqa: E402

PAGE = 250
# write() over the plain bulk insert, by median: at most this. By median, not best: the best
# of a few rounds is one round, and on a busy disk one lucky round of either side moves it.
GOAL = 1.5
COLUMNS = [
    Column("patient", "integer"),
    Column("doctor", "integer"),
    Column("office", "integer"),
    Column("exam_room", "integer"),
    Column("scheduled_time", "timestamp"),
    Column("duration", "integer"),
    Column("reason", "text"),
    Column("notes", "text"),
    Column("status", "text"),
    Column("color", "text"),
    Column("price", "decimal"),
    Column("is_walk_in", "boolean"),
    Column("deleted_flag", "boolean"),
    Column("created_at", "timestamp"),
]
NAMES = [c.name for c in COLUMNS]
BASE = {"id", "payload", "payload_text", "updated_at", "deleted", "synced_at"}
CHILDREN = (
    ChildTable("vitals", ("vitals",)),
    ChildTable("status_transitions", ("status_transitions",)),
)


def typed(columns: list[Column]) -> list[str]:
    """The typed columns a store's table gets for `columns` (base names stay in the payload)."""
    return [c.name for c in columns if c.name not in BASE]


def make_rows(n: int) -> list[Row]:
    """Appointment-like rows: 14 typed columns and a payload of about 1 KB."""
    rows = []
    base = dt.datetime(2024, 5, 1, 9)
    for i in range(n):
        when = base + dt.timedelta(minutes=15 * i)
        columns: dict[str, Any] = {
            "patient": 100_000 + i,
            "doctor": 7,
            "office": 3,
            "exam_room": i % 5,
            "scheduled_time": when,
            "duration": 30,
            "reason": "Follow-up visit",
            "notes": "Patient reports improvement. " * 8,
            "status": "Complete",
            "color": "#a0c4ff",
            "price": Decimal("125.50"),
            "is_walk_in": i % 7 == 0,
            "deleted_flag": False,
            "created_at": when - dt.timedelta(days=3),
        }
        payload = {
            **{k: v for k, v in columns.items() if not isinstance(v, (dt.datetime, Decimal))},
            "id": 500_000 + i,
            "scheduled_time": when.isoformat(),
            "created_at": (when - dt.timedelta(days=3)).isoformat(),
            "updated_at": when.isoformat(),
            "price": "125.50",
            "custom_fields": [{"field_type": 12, "value": "x" * 20}] * 3,
            "reminders": [{"type": "email", "scheduled_time": when.isoformat()}],
            "icd10_codes": ["E11.9", "I10"],
        }
        rows.append(Row(str(500_000 + i), when.strftime("%Y-%m-%dT%H:%M:%S.%f"), payload, columns))
    return rows


def with_nested(rows: list[Row], version: str | None = None) -> list[Row]:
    """`rows` with vitals and status transitions in their payloads (and `version`, if given)."""
    out = []
    for i, r in enumerate(rows):
        payload = {
            **r.payload,
            "vitals": {
                "blood_pressure_1": 120 + i % 20,
                "blood_pressure_2": 80,
                "weight": 150.5 + i % 40,
                "height": 70,
            },
            "status_transitions": [
                {"from_status": "", "to_status": "Arrived", "datetime": "2024-05-01T09:00:00"},
                {
                    "from_status": "Arrived",
                    "to_status": "Complete",
                    "datetime": "2024-05-01T09:30:00",
                },
            ],
        }
        out.append(Row(r.id, version or r.updated_at, payload, r.columns))
    return out


def pages(rows: list[Row]) -> list[list[Row]]:
    return [rows[i : i + PAGE] for i in range(0, len(rows), PAGE)]


# -- SQLite ------------------------------------------------------------------------------------


async def sqlite_write(rows: list[Row], columns: list[Column] = COLUMNS) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        async with SQLiteStore(Path(tmp) / "b.db") as store:
            await store.ensure_resource("appointments", columns)
            started = time.perf_counter()
            for n, page in enumerate(pages(rows)):
                await store.write("appointments", page, checkpoint={"page": n})
            return time.perf_counter() - started


async def sqlite_twice(
    first: list[Row], second: list[Row], children: tuple[ChildTable, ...]
) -> tuple[float, float]:
    """Seconds to write `first` into an empty table, then `second` (newer versions) over it."""
    with tempfile.TemporaryDirectory() as tmp:
        async with SQLiteStore(Path(tmp) / "b.db") as store:
            return await twice(store, first, second, children)


async def twice(
    store: SQLiteStore | PostgresStore,
    first: list[Row],
    second: list[Row],
    children: tuple[ChildTable, ...],
) -> tuple[float, float]:
    await store.ensure_resource("appointments", COLUMNS, children=children)
    out = []
    for rows in (first, second):
        started = time.perf_counter()
        for n, page in enumerate(pages(rows)):
            await store.write("appointments", page, checkpoint={"page": n})
        out.append(time.perf_counter() - started)
    return out[0], out[1]


async def sqlite_plain(rows: list[Row], columns: list[Column] = COLUMNS) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "b.db"
        async with SQLiteStore(path) as store:  # the same table layout
            await store.ensure_resource("appointments", columns)
        names = typed(columns)
        conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=FULL")
        cols = ", ".join(["id", "payload", "updated_at", "deleted", "synced_at", *names])
        sql = f"INSERT INTO appointments ({cols}) VALUES ({', '.join('?' * (5 + len(names)))})"

        def value(v: Any) -> Any:
            if isinstance(v, (dt.date, dt.time)):
                return v.isoformat()
            return str(v) if isinstance(v, Decimal) else v

        def run() -> float:
            started = time.perf_counter()
            now = dt.datetime.now(dt.UTC).isoformat()
            for page in pages(rows):
                params = [
                    (
                        r.id,
                        orjson.dumps(r.payload).decode(),
                        r.updated_at,
                        0,
                        now,
                        *[value(r.columns.get(n)) for n in names],
                    )
                    for r in page
                ]
                conn.execute("BEGIN")
                conn.executemany(sql, params)
                conn.execute("COMMIT")
            return time.perf_counter() - started

        try:
            # In a thread, as the store runs it: the same cost of leaving the event loop.
            return await asyncio.to_thread(run)
        finally:
            conn.close()


# -- PostgreSQL --------------------------------------------------------------------------------


async def drop_schema(dsn: str, schema: str) -> None:
    import psycopg

    async with await psycopg.AsyncConnection.connect(dsn, autocommit=True) as conn:
        await conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


async def postgres_write(dsn: str, rows: list[Row], columns: list[Column] = COLUMNS) -> float:
    schema = f"bench_{uuid.uuid4().hex[:12]}"
    try:
        async with PostgresStore(dsn, schema=schema) as store:
            await store.ensure_resource("appointments", columns)
            started = time.perf_counter()
            for n, page in enumerate(pages(rows)):
                await store.write("appointments", page, checkpoint={"page": n})
            return time.perf_counter() - started
    finally:
        await drop_schema(dsn, schema)


async def postgres_twice(
    dsn: str, first: list[Row], second: list[Row], children: tuple[ChildTable, ...]
) -> tuple[float, float]:
    schema = f"bench_{uuid.uuid4().hex[:12]}"
    try:
        async with PostgresStore(dsn, schema=schema) as store:
            return await twice(store, first, second, children)
    finally:
        await drop_schema(dsn, schema)


async def postgres_plain(dsn: str, rows: list[Row], columns: list[Column] = COLUMNS) -> float:
    import psycopg

    schema = f"bench_{uuid.uuid4().hex[:12]}"
    try:
        async with PostgresStore(dsn, schema=schema) as store:  # the same table layout
            await store.ensure_resource("appointments", columns)
        names = typed(columns)
        cols = ", ".join(["id", "payload", "updated_at", "deleted", "synced_at", *names])
        copy = f'COPY "{schema}".appointments ({cols}) FROM STDIN'
        async with await psycopg.AsyncConnection.connect(dsn) as conn:
            started = time.perf_counter()
            now = dt.datetime.now(dt.UTC)
            for page in pages(rows):
                async with conn.transaction(), conn.cursor() as cur, cur.copy(copy) as sink:
                    for r in page:
                        await sink.write_row(
                            (
                                r.id,
                                orjson.dumps(r.payload).decode(),
                                r.updated_at,
                                False,
                                now,
                                *[r.columns.get(n) for n in names],
                            )
                        )
            return time.perf_counter() - started
    finally:
        await drop_schema(dsn, schema)


async def compare_drivers(dsn: str, rows: list[Row], rounds: int) -> list[str]:
    """psycopg 3 vs asyncpg on the same table, three ways of bulk loading a page."""
    import psycopg

    try:
        import asyncpg
    except ImportError:
        asyncpg = None  # psycopg only; the table says so
    cols = ["id", "payload", "updated_at", "deleted", "synced_at", *NAMES]
    names = ", ".join(cols)
    sets = ", ".join(f"{c} = excluded.{c}" for c in cols[1:])
    rule = (
        "excluded.updated_at IS NULL OR t.updated_at IS NULL OR excluded.updated_at >= t.updated_at"
    )
    now = dt.datetime.now(dt.UTC)
    tuples = [
        (
            r.id,
            orjson.dumps(r.payload).decode(),
            r.updated_at,
            False,
            now,
            *[r.columns[n] for n in NAMES],
        )
        for r in rows
    ]
    batches = [tuples[i : i + PAGE] for i in range(0, len(tuples), PAGE)]

    def statements(table: str, ph: Callable[[int], str]) -> tuple[str, str]:
        values = ", ".join(ph(i) for i in range(len(cols)))
        upsert = f"ON CONFLICT (id) DO UPDATE SET {sets} WHERE {rule}"
        return (
            f"INSERT INTO {table} AS t ({names}) VALUES ({values}) {upsert}",
            f"INSERT INTO {table} AS t ({names}) SELECT {names} FROM pg_temp.staging {upsert}",
        )

    async def psycopg_run(mode: str) -> float:
        schema = f"bench_{uuid.uuid4().hex[:12]}"
        table = f'"{schema}".appointments'
        many, from_temp = statements(table, lambda i: "%s")
        try:
            async with PostgresStore(dsn, schema=schema) as store:
                await store.ensure_resource("appointments", COLUMNS)
            async with await psycopg.AsyncConnection.connect(dsn) as conn:
                await conn.execute(
                    f"CREATE TEMP TABLE staging (LIKE {table}) ON COMMIT DELETE ROWS"
                )
                await conn.commit()
                started = time.perf_counter()
                for batch in batches:
                    async with conn.transaction(), conn.cursor() as cur:
                        if mode == "executemany upsert":
                            await cur.executemany(many, batch)
                            continue
                        target = table if mode == "COPY (plain)" else "pg_temp.staging"
                        async with cur.copy(f"COPY {target} ({names}) FROM STDIN") as sink:
                            for t in batch:
                                await sink.write_row(t)
                        if mode != "COPY (plain)":
                            await cur.execute(from_temp)
                return time.perf_counter() - started
        finally:
            await drop_schema(dsn, schema)

    async def asyncpg_run(mode: str) -> float:
        schema = f"bench_{uuid.uuid4().hex[:12]}"
        table = f'"{schema}".appointments'
        many, from_temp = statements(table, lambda i: f"${i + 1}")
        try:
            async with PostgresStore(dsn, schema=schema) as store:
                await store.ensure_resource("appointments", COLUMNS)
            conn = await asyncpg.connect(dsn)
            try:
                await conn.execute(
                    f"CREATE TEMP TABLE staging (LIKE {table}) ON COMMIT DELETE ROWS"
                )
                started = time.perf_counter()
                for batch in batches:
                    async with conn.transaction():
                        if mode == "executemany upsert":
                            await conn.executemany(many, batch)
                        elif mode == "COPY (plain)":
                            await conn.copy_records_to_table(
                                "appointments", schema_name=schema, records=batch, columns=cols
                            )
                        else:
                            await conn.copy_records_to_table("staging", records=batch, columns=cols)
                            await conn.execute(from_temp)
                return time.perf_counter() - started
            finally:
                await conn.close()
        finally:
            await drop_schema(dsn, schema)

    modes = ("COPY (plain)", "executemany upsert", "COPY + INSERT ON CONFLICT")
    variants: dict[str, Callable[[], Awaitable[float]]] = {}
    for mode in modes:
        variants[f"psycopg, {mode}"] = lambda m=mode: psycopg_run(m)
        if asyncpg is not None:
            variants[f"asyncpg, {mode}"] = lambda m=mode: asyncpg_run(m)
    samples = await _bench.ainterleave(variants, rounds, progress=_bench.stderr)
    n = len(rows)
    out = [
        "| mode | psycopg rows/s (best / median) | asyncpg rows/s (best / median) |",
        "|---|---:|---:|",
    ]
    for mode in modes:
        cells = []
        for driver in ("psycopg", "asyncpg"):
            name = f"{driver}, {mode}"
            if name not in samples.samples:
                cells.append("not installed")
                continue
            cells.append(f"{n / samples.best(name):,.0f} / {n / samples.median(name):,.0f}")
        out.append(f"| {mode} | {cells[0]} | {cells[1]} |")
    return out


async def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000)
    parser.add_argument(
        "--rounds", "--repeat", dest="rounds", type=int, default=7, help="interleaved rounds"
    )
    parser.add_argument("--drivers", action="store_true", help="also compare psycopg/asyncpg")
    parser.add_argument("--no-write", action="store_true", help="do not update RESULTS.md")
    parser.add_argument(
        "--dsn",
        default=os.environ.get(
            "DRCHRONO_TEST_POSTGRES_DSN", "postgresql://postgres@127.0.0.1:5432/test"
        ),
    )
    args = parser.parse_args(argv)
    rows = make_rows(args.rows)
    n = len(rows)
    machine = _bench.Machine.start(
        quota="none (no request is sent: rows straight into the stores)",
        command=_bench.command("store_write.py", argv),
    )
    print(f"{n} rows, pages of {PAGE}, {args.rounds} interleaved rounds", file=sys.stderr)

    # write() against the plain bulk insert: the four variants interleaved round by round.
    plain = await _bench.ainterleave(
        {
            "SQLite write()": lambda: sqlite_write(rows),
            "SQLite plain": lambda: sqlite_plain(rows),
            "Postgres write()": lambda: postgres_write(args.dsn, rows),
            "Postgres plain": lambda: postgres_plain(args.dsn, rows),
        },
        args.rounds,
        progress=_bench.stderr,
    )
    writes = [
        "| store | write() rows/s (best / median) | plain rows/s (best / median) "
        "| x plain (best / median) |",
        "|---|---:|---:|---:|",
    ]
    worst = 0.0
    for store, label in (
        ("SQLite", "SQLiteStore (sqlite3)"),
        ("Postgres", "PostgresStore (psycopg 3)"),
    ):
        w, p = f"{store} write()", f"{store} plain"
        worst = max(worst, plain.ratio(w, p, "median"))
        writes.append(
            f"| {label} | {n / plain.best(w):,.0f} / {n / plain.median(w):,.0f} "
            f"| {n / plain.best(p):,.0f} / {n / plain.median(p):,.0f} "
            f"| {plain.ratio(w, p, 'best'):.2f} / {plain.ratio(w, p, 'median'):.2f} |"
        )

    # Child tables: each run writes the rows new, then newer; the sample is the sum of both,
    # each half is kept for its own row.
    first = with_nested(rows)
    second = with_nested(rows, "2024-06-01T00:00:00.000000")
    halves: dict[str, list[tuple[float, float]]] = {}

    def twice_variant(
        name: str, run: Callable[[], Awaitable[tuple[float, float]]]
    ) -> Callable[[], Awaitable[float]]:
        async def one() -> float:
            new, newer = await run()
            halves.setdefault(name, []).append((new, newer))
            return new + newer

        return one

    children = {
        "SQLite, with": lambda: sqlite_twice(first, second, CHILDREN),
        "SQLite, without": lambda: sqlite_twice(first, second, ()),
        "Postgres, with": lambda: postgres_twice(args.dsn, first, second, CHILDREN),
        "Postgres, without": lambda: postgres_twice(args.dsn, first, second, ()),
    }
    await _bench.ainterleave(
        {name: twice_variant(name, run) for name, run in children.items()},
        args.rounds,
        progress=_bench.stderr,
    )
    child = [
        "| store | write | with child tables rows/s (best / median) "
        "| without rows/s (best / median) | x without (best / median) |",
        "|---|---|---:|---:|---:|",
    ]
    for store in ("SQLite", "Postgres"):
        for i, label in enumerate(("new", "newer")):
            w = [h[i] for h in halves[f"{store}, with"][-args.rounds :]]
            o = [h[i] for h in halves[f"{store}, without"][-args.rounds :]]
            wb, wm, ob, om = min(w), statistics.median(w), min(o), statistics.median(o)
            child.append(
                f"| {store} | {label} | {n / wb:,.0f} / {n / wm:,.0f} "
                f"| {n / ob:,.0f} / {n / om:,.0f} | {wb / ob:.2f} / {wm / om:.2f} |"
            )
    drivers: list[str] = []
    if args.drivers:
        drivers = await compare_drivers(args.dsn, rows, args.rounds)
    machine.stop()

    header = machine.header(
        plain.method()
        + " The child-table runs (and the drivers' with `--drivers`) are interleaved the same way,"
        " in rounds of their own."
    )
    parts = [
        header,
        "",
        "### write() against the driver's plain bulk insert",
        *writes,
        "",
        "### Child tables (vitals, status_transitions: 3 rows a record)",
        *child,
    ]
    if drivers:
        parts += ["", "### PostgreSQL drivers, the same pages", *drivers]
    text = "\n".join(parts)
    print(text)
    ok = worst <= GOAL
    verdict = (
        f"write() at most {GOAL}x the plain bulk insert, by median: "
        f"{'met' if ok else 'NOT met'} (worst {worst:.2f}x)"
    )
    print(verdict)
    if not args.no_write:
        _bench.write_section(
            "store-write",
            "## Store writes: `write()` against the driver's plain bulk insert\n\n"
            f"{n} appointment-like rows (14 typed columns, a payload of about 1 KB) in pages of "
            f"{PAGE}, one `write()` (one transaction with its checkpoint) per page, into an "
            "empty table of a fresh store (a temporary SQLite file; a PostgreSQL schema of its "
            "own on loopback, dropped afterwards). Plain is the same driver inserting the same "
            "rows into the same table layout, one transaction per page, with no upsert rule, "
            "checks or checkpoint: `executemany(INSERT)` for sqlite3, `COPY` for psycopg. "
            "The child-table rows write the same rows with `vitals` and `status_transitions` "
            "in their payloads, with and without those child tables, new and then as newer "
            "versions (whose children are replaced).\n\n"
            f"{text}\n\n- {verdict}",
        )
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(asyncio.run(main()))
