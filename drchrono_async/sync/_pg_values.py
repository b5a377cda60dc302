"""PostgresStore's values and small statements: column types, row parameters, lock keys."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Any, LiteralString

import attrs
import orjson

from ._columns import ColumnValues
from ._layout import store_id
from ._sql import deleted_version, dump_payload
from ._store import KeyType, Row

__all__ = [
    "CONVERT",
    "ROW_COLUMNS",
    "SQL_TYPES",
    "PgTable",
    "encode",
    "lock_key",
    "params",
    "payload",
]

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

# Text holding U+0000 does not fit PostgreSQL's text: ColumnValues stores it NULL.
CONVERT: dict[str, Callable[[Any], Any] | None] = {
    "text": None,
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


# The columns a row's parameters fill, in order (then the table's typed columns).
ROW_COLUMNS = (
    "id",
    "payload",
    "payload_text",
    "updated_at",
    "deleted",
    "synced_at",
    "deleted_at",
    "observed_at",
)


@attrs.frozen
class PgTable:
    """What writing one resource needs: its typed columns and the type of its ids."""

    values: ColumnValues
    key: KeyType

    @property
    def names(self) -> tuple[str, ...]:
        return self.values.names


def encode(data: bytes) -> tuple[str, str | None]:
    """JSON for a jsonb column, and the exact JSON where they differ (else None).

    jsonb cannot hold U+0000: it gets U+FFFD there, and the exact JSON goes to the row's
    `payload_text`, which `get()` reads."""
    if _NUL in data:
        return data.replace(_NUL, b"\\ufffd").decode(), data.decode()
    return data.decode(), None


def params(resource: str, table: PgTable, row: Row, now: Any) -> tuple[tuple[Any, ...], int]:
    """A row's parameters in `ROW_COLUMNS` order and its typed columns, and its misfits."""
    data, exact = encode(dump_payload(resource, row.payload))
    values, misfits = table.values(row.id, row.columns)
    out = (
        store_id(row.id, table.key, resource),
        data,
        exact,
        row.updated_at,
        row.deleted,
        now,
        deleted_version(row),
        row.observed_at,
        *values,
    )
    return out, misfits
