"""PostgresStore's values and small statements: column types, row parameters, lock keys."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, LiteralString

import orjson

from ._sql import ColumnValues, dump_payload
from ._store import Row

if TYPE_CHECKING:
    import psycopg

__all__ = ["CONVERT", "SQL_TYPES", "exists", "lock_key", "params", "payload"]

SQL_TYPES: dict[str, LiteralString] = {
    "text": "text",
    "integer": "bigint",
    "real": "double precision",
    "boolean": "boolean",
    "decimal": "numeric",
    "date": "date",
    "time": "time",
    "timestamp": "timestamp",
}

_NUL = b"\\u0000"


def _text(value: str) -> str:
    # PostgreSQL text cannot hold NUL; the column is a query aid, the payload stays exact.
    return value.replace("\x00", "\ufffd") if "\x00" in value else value


CONVERT: dict[str, Callable[[Any], Any] | None] = {
    "text": _text,
    "integer": None,
    "real": None,  # an int is valid input for double precision
    "boolean": None,
    "decimal": None,
    "date": None,
    "time": None,
    "timestamp": None,
}


def lock_key(*parts: str) -> int:
    """A signed 64-bit advisory lock key for these names."""
    digest = hashlib.sha256("\x1f".join(("drchrono-async", *parts)).encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


def payload(payload: Any, text: str | None) -> dict[str, Any]:
    return dict(orjson.loads(text) if text is not None else payload)


async def exists(conn: psycopg.AsyncConnection[Any], schema: str, table: str) -> bool:
    cur = await conn.execute(
        "SELECT 1 FROM information_schema.tables WHERE table_schema = %s AND table_name = %s",
        (schema, table),
    )
    return await cur.fetchone() is not None


def params(resource: str, table: ColumnValues, row: Row, now: Any) -> tuple[Any, ...]:
    data = dump_payload(resource, row.payload)
    exact = None
    if _NUL in data:
        exact = data.decode()
        data = data.replace(_NUL, b"\\ufffd")
    return (
        row.id,
        data.decode(),
        exact,
        row.updated_at,
        row.deleted,
        now,
        *table(row.columns),
    )
