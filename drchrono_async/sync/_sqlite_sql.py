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
    same_state,
    same_version,
    upsert_condition,
    upsert_versions,
)
from ._store import ColumnType, KeyType, Row

__all__ = [
    "SAME",
    "SQL_TYPES",
    "Table",
    "Tally",
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


# The SQL functions the upsert calls, in a CASE, for each row it finds unchanged or only
# revised (`Tally`).
SAME = "drchrono_same"
REVISED = "drchrono_revised"


class Tally:
    """Counts the rows an upsert refreshed without a change (`count`) and those it wrote with
    the version they had (`revised`): registered on the connection as `drchrono_same(x)` and
    `drchrono_revised(x)`, which return `x`. The upsert's SET calls the first only where
    `same_state` holds, the second where only `same_version` does, so one `executemany`
    tells written rows from unchanged ones without reading any row back (`rowcount` counts
    both)."""

    def __init__(self) -> None:
        self.count = 0
        self.revised = 0

    def __call__(self, value: Any) -> Any:
        self.count += 1
        return value

    def revise(self, value: Any) -> Any:
        self.revised += 1
        return value

    @classmethod
    def on(cls, conn: sqlite3.Connection) -> Tally:
        tally = cls()
        conn.create_function(SAME, 1, tally)
        conn.create_function(REVISED, 1, tally.revise)
        return tally


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
            *(f"{c} = excluded.{c}" for c in ["payload", "updated_at", "deleted", *map(q, names)]),
            # Evaluated before any assignment takes effect: `t` is the stored row as it was.
            f"synced_at = CASE WHEN {same_state('t', 'excluded')}"
            f" THEN {SAME}(excluded.synced_at) WHEN {same_version('t', 'excluded')}"
            f" THEN {REVISED}(excluded.synced_at) ELSE excluded.synced_at END",
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
