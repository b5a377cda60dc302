"""SQLiteStore's statements and values: column types, the upsert and marks, transactions.

Identifiers are checked against `_sql.NAME` and quoted before they reach a statement; every
value is a bound parameter.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from typing import Any

import attrs

from .._checks import check_int
from ..errors import InvalidRequestError, StoreLockedError
from ._columns import ColumnValues
from ._layout import check_resource as check_resource_name
from ._layout import store_id
from ._locks import locked_message
from ._sql import (
    check_version,
    deleted_version,
    dump_payload,
    mark_conditions,
    upsert_condition,
    upsert_versions,
)
from ._store import ColumnType, KeyType, Row

__all__ = [
    "SQL_TYPES",
    "Table",
    "check_limit",
    "check_resource",
    "check_version",
    "memory_lock",
    "params",
    "q",
    "table_for",
    "transaction",
]

SQL_TYPES: dict[str, str] = {
    "text": "TEXT",
    "integer": "INTEGER",
    "real": "REAL",
    "boolean": "INTEGER",  # 0/1
    "decimal": "TEXT",  # exact: NUMERIC affinity would turn "12.50" into a float
    # ISO 8601 text, so text order is time order; declared so tools see dates and times
    # (NUMERIC affinity leaves ISO text as it is: see `_sqlite_schema`).
    "date": "DATE",
    "time": "TIME",
    "timestamp": "DATETIME",
}


def _iso(value: Any) -> str:
    return str(value.isoformat())


CONVERT: dict[str, Callable[[Any], Any] | None] = {
    "text": None,
    "integer": None,
    "real": float,
    "boolean": int,
    "decimal": str,
    "date": _iso,
    "time": _iso,
    "timestamp": _iso,
}


def q(name: str) -> str:
    """Quote an identifier already checked against NAME (so it holds no quote)."""
    return f'"{name}"'


@attrs.frozen
class Table:
    """What writing one resource needs: its typed columns and the statements."""

    values: ColumnValues
    key: KeyType
    upsert: str
    mark: str
    raise_mark: str
    stale: str


def table_for(
    resource: str, names: tuple[str, ...], declared: Mapping[str, ColumnType], key: KeyType
) -> Table:
    """The statements of `resource`'s table, whose typed columns are `names` in order."""
    t = q(resource)
    base = ["id", "payload", "updated_at", "deleted", "synced_at", "deleted_at", "observed_at"]
    cols = ", ".join([*base, *map(q, names)])
    sets = ", ".join(
        [
            *(
                f"{c} = excluded.{c}"
                for c in ["payload", "updated_at", "deleted", "synced_at", *map(q, names)]
            ),
            *(f"{c} = {expr}" for c, expr in upsert_versions("t")),
        ]
    )
    marks = ", ".join("?" * (len(base) + len(names)))
    mark, raise_mark, stale = mark_conditions("t", "excluded.deleted_at")
    _, raise_mark, raise_stale = mark_conditions("t", ":v")
    return Table(
        values=ColumnValues(resource, names, declared, CONVERT),
        key=key,
        upsert=(
            f"INSERT INTO {t} AS t ({cols}) VALUES ({marks})"
            f" ON CONFLICT (id) DO UPDATE SET {sets} WHERE {upsert_condition('t')}"
        ),
        mark=(
            f"INSERT INTO {t} AS t (id, payload, updated_at, deleted, synced_at, deleted_at)"
            " VALUES (?, '{}', NULL, 1, ?, ?) ON CONFLICT (id) DO UPDATE"
            " SET deleted = 1, synced_at = excluded.synced_at,"
            f" deleted_at = excluded.deleted_at, stale_at = {stale} WHERE {mark}"
        ),
        raise_mark=(
            f"UPDATE {t} AS t SET deleted_at = :v, synced_at = :now, stale_at = {raise_stale}"
            f" WHERE t.id = :id AND {raise_mark}"
        ),
        stale=(
            f"INSERT INTO {t} AS t ({cols}, stale_at) VALUES ({marks}, ?)"
            " ON CONFLICT (id) DO UPDATE SET stale_at = CASE WHEN t.stale_at IS NULL"
            " OR excluded.stale_at > t.stale_at THEN excluded.stale_at ELSE t.stale_at END"
        ),
    )


@contextlib.contextmanager
def transaction(conn: sqlite3.Connection) -> Iterator[None]:
    """BEGIN IMMEDIATE (the write lock at once: no upgrade deadlock) ... COMMIT or ROLLBACK."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


def check_resource(resource: str) -> str:
    check_resource_name(resource)
    if resource.startswith("sqlite_"):  # SQLite reserves these table names
        raise InvalidRequestError("a resource name must not start with sqlite_")
    return resource


def check_limit(limit: object) -> int:
    return check_int(limit, "limit", low=0, high=1_000_000)


@contextlib.asynccontextmanager
async def memory_lock(lock: asyncio.Lock, label: str, wait: float) -> AsyncIterator[None]:
    try:
        await asyncio.wait_for(lock.acquire(), timeout=wait if wait > 0 else 1e-9)
    except TimeoutError:
        raise StoreLockedError(locked_message(label, wait), resource=label) from None
    try:
        yield
    finally:
        lock.release()


def params(resource: str, table: Table, row: Row, now: str) -> tuple[tuple[Any, ...], int]:
    values, misfits = table.values(row.id, row.columns)
    params = (
        store_id(row.id, table.key, resource),
        dump_payload(resource, row.payload).decode(),
        row.updated_at,
        1 if row.deleted else 0,
        now,
        deleted_version(row),
        row.observed_at,
        *values,
    )
    return params, misfits
