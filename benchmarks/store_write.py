"""Sync store writes: rows per second of `write()` against the driver's plain bulk insert.

Run: `python benchmarks/store_write.py [--rows N] [--repeat R] [--drivers] [--dsn DSN]`.

Each store writes N rows (default 10,000) in pages of 250, one `write()` (one transaction, with
its checkpoint) per page, into an empty table. The baseline is the same driver inserting the
same rows into the same table layout, one transaction per page, with no upsert rule, no
checks and no checkpoint: `executemany(INSERT)` for sqlite3, `COPY` for psycopg. The goal is
a ratio (baseline rows/s over write() rows/s) of at most 1.5.

Child tables: the same rows with `vitals` (one object of 4 keys) and `status_transitions`
(two objects) in their payloads, written with and without those child tables, first into an
empty table, then again as newer versions (whose children are replaced): what child tables
cost, only for the resources that have them.

`--drivers` also compares psycopg 3 with asyncpg (if installed) on the PostgreSQL bulk upsert:
plain COPY, executemany into INSERT ... ON CONFLICT, and COPY into a temporary table then
INSERT ... ON CONFLICT: the measurement behind PostgresStore's choice of driver.
PostgreSQL parts need a server (default: postgresql://postgres@127.0.0.1:5432/test); they
work in a schema of their own, dropped afterwards. Prints only; writes no file.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import os
import sqlite3
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from drchrono_async.sync import Column, PostgresStore, Row, SQLiteStore
from drchrono_async.sync._store import ChildTable

PAGE = 250
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


async def best(repeat: int, run: Callable[[], Awaitable[float]]) -> float:
    return min([await run() for _ in range(repeat)])


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


async def compare_drivers(dsn: str, rows: list[Row], repeat: int) -> None:
    """psycopg 3 vs asyncpg on the same table, three ways of bulk loading a page."""
    import psycopg

    try:
        import asyncpg
    except ImportError:
        asyncpg = None
        print("asyncpg is not installed: psycopg only")
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

    print(f"\nPostgreSQL drivers, {len(rows)} rows in pages of {PAGE} (best of {repeat}):")
    print(f"{'mode':<28}{'psycopg rows/s':>16}{'asyncpg rows/s':>16}")
    for mode in ("COPY (plain)", "executemany upsert", "COPY + INSERT ON CONFLICT"):
        a = len(rows) / await best(repeat, lambda m=mode: psycopg_run(m))
        b = len(rows) / await best(repeat, lambda m=mode: asyncpg_run(m)) if asyncpg else 0.0
        print(f"{mode:<28}{a:>16,.0f}{b:>16,.0f}")


async def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--drivers", action="store_true", help="also compare psycopg/asyncpg")
    parser.add_argument(
        "--dsn",
        default=os.environ.get(
            "DRCHRONO_TEST_POSTGRES_DSN", "postgresql://postgres@127.0.0.1:5432/test"
        ),
    )
    args = parser.parse_args(argv)
    rows = make_rows(args.rows)
    print(f"{args.rows} rows, pages of {PAGE}, best of {args.repeat}")
    print(f"{'store':<10}{'write() rows/s':>16}{'plain rows/s':>16}{'ratio':>8}")
    cases = [
        ("SQLite", lambda: sqlite_write(rows), lambda: sqlite_plain(rows)),
        (
            "Postgres",
            lambda: postgres_write(args.dsn, rows),
            lambda: postgres_plain(args.dsn, rows),
        ),
    ]
    worst = 0.0
    for name, write, plain in cases:
        w = await best(args.repeat, write)
        p = await best(args.repeat, plain)
        worst = max(worst, w / p)
        print(f"{name:<10}{len(rows) / w:>16,.0f}{len(rows) / p:>16,.0f}{w / p:>8.2f}")
    first = with_nested(rows)
    second = with_nested(rows, "2024-06-01T00:00:00.000000")
    print(f"\nchild tables (vitals, status_transitions: 3 rows a record), best of {args.repeat}:")
    print(f"{'store':<10}{'write':<8}{'with rows/s':>14}{'without rows/s':>16}{'ratio':>8}")
    both = [
        ("SQLite", lambda c: sqlite_twice(first, second, c)),
        ("Postgres", lambda c: postgres_twice(args.dsn, first, second, c)),
    ]
    for name, run in both:
        runs = {c: [await run(c) for _ in range(args.repeat)] for c in (CHILDREN, ())}
        for n, label in enumerate(("new", "newer")):
            w = min(r[n] for r in runs[CHILDREN])
            p = min(r[n] for r in runs[()])
            print(
                f"{name:<10}{label:<8}{len(rows) / w:>14,.0f}{len(rows) / p:>16,.0f}{w / p:>8.2f}"
            )
    if args.drivers:
        await compare_drivers(args.dsn, rows, args.repeat)
    return 0 if worst <= 1.5 else 1


if __name__ == "__main__":
    raise SystemExit(asyncio.run(main()))
