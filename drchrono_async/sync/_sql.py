"""What the SQLite and PostgreSQL stores share: names, value checks, the upsert rule, checksums.

Identifiers (resource and column names) are checked against `NAME` before they go into any
statement, and are quoted; every value is a bound parameter.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from decimal import Decimal
from typing import Any

import orjson

from ..errors import InvalidRequestError
from ._store import Column, ColumnType, Row

__all__ = [
    "BASE_COLUMNS",
    "CHECKPOINTS",
    "COLUMN_TYPES",
    "DELIVERIES",
    "NAME",
    "TOKENS",
    "ColumnValues",
    "check_columns",
    "check_delivery",
    "check_key",
    "check_name",
    "check_row",
    "checksum_add",
    "checksum_of",
    "dump_checkpoint",
    "dump_payload",
    "layers",
    "now_utc",
    "payload_checksum",
    "unique",
    "upsert_condition",
]

NAME = re.compile(r"[a-z][a-z0-9_]{0,62}\Z")

# Bookkeeping tables start with "_", which no resource name (NAME) can: they never collide.
CHECKPOINTS = "_checkpoints"
TOKENS = "_tokens"
DELIVERIES = "_deliveries"  # webhook delivery ids handled, for the receiver's dedupe

# The columns every resource table has; a record field of the same name lives in the payload
# only (`id` and `updated_at` are already there in their normalised form).
BASE_COLUMNS = frozenset({"id", "payload", "payload_text", "updated_at", "deleted", "synced_at"})

COLUMN_TYPES: frozenset[str] = frozenset(
    {"text", "integer", "real", "boolean", "decimal", "date", "time", "timestamp"}
)

# Which Python values each column type takes (None always). bool is an int: excluded apart.
_ACCEPTS: dict[str, tuple[type, ...]] = {
    "text": (str,),
    "integer": (int,),
    "real": (float, int),
    "boolean": (bool,),
    "decimal": (Decimal, int),
    "date": (dt.date,),
    "time": (dt.time,),
    "timestamp": (dt.datetime,),
}

# The exact types taken without a further look (the fast path; subclasses get one).
_EXACT: dict[str, frozenset[type]] = {
    "text": frozenset({str}),
    "integer": frozenset({int}),
    "real": frozenset({float, int}),
    "boolean": frozenset({bool}),
    "decimal": frozenset({Decimal, int}),
    "date": frozenset({dt.date}),
    "time": frozenset({dt.time}),
    "timestamp": frozenset({dt.datetime}),
}


def check_name(name: object, what: str) -> str:
    """`name` if it is a safe identifier, else `InvalidRequestError` (naming `what` only)."""
    if not isinstance(name, str) or not NAME.match(name):
        raise InvalidRequestError(f"{what} must match [a-z][a-z0-9_]{{0,62}}")
    return name


def check_delivery(delivery_id: object) -> str:
    """A webhook delivery id: printable text of at most 200 characters (kept as a value)."""
    if (
        not isinstance(delivery_id, str)
        or not 0 < len(delivery_id) <= 200
        or not delivery_id.isprintable()
    ):
        raise InvalidRequestError("a delivery id is printable text of 1 to 200 characters")
    return delivery_id


def check_key(key: object) -> str:
    """A token store key: any non-empty string up to 200 characters (a value, never SQL)."""
    if not isinstance(key, str) or not key or len(key) > 200:
        raise InvalidRequestError("key must be a non-empty string of at most 200 characters")
    return key


def check_columns(columns: Sequence[Column]) -> dict[str, ColumnType]:
    """The declared typed columns by name, base column names left out."""
    out: dict[str, ColumnType] = {}
    for column in columns:
        if not isinstance(column, Column):
            raise InvalidRequestError("columns must be Column values")
        check_name(column.name, "a column name")
        if column.type not in COLUMN_TYPES:
            raise InvalidRequestError(f"column {column.name} has an unknown type")
        if column.name not in BASE_COLUMNS:
            out[column.name] = column.type
    return out


class ColumnValues:
    """Checks a row's column values against their types and converts them, in table order.

    `names`: the table's typed columns in order; `declared`: the types the record class
    declares now. A column the table has but the class no longer declares (columns are never
    dropped) is written NULL; a value for a column not declared is refused.
    """

    def __init__(
        self,
        resource: str,
        names: Sequence[str],
        declared: Mapping[str, ColumnType],
        convert: Mapping[str, Callable[[Any], Any] | None],
    ) -> None:
        self.resource = resource
        self.names = tuple(names)
        self.known = BASE_COLUMNS | set(declared)
        self._types = [declared.get(n) for n in self.names]
        # Per column, the exact types taken at once (None always; nothing else when the
        # column is no longer declared, since such values are refused above).
        self._fast = [frozenset({type(None)} | (_EXACT[t] if t else set())) for t in self._types]
        self._convert = [
            (i, f) for i, t in enumerate(self._types) if t and (f := convert[t]) is not None
        ]

    def __call__(self, values: Mapping[str, Any]) -> list[Any]:
        if not self.known.issuperset(values):
            for name in values:
                if name not in self.known:
                    check_name(name, "a column name")
                    raise InvalidRequestError(
                        f"{self.resource} has no column {name}; see ensure_resource()"
                    )
        out = [values.get(n) for n in self.names]
        # C-level loops over the columns: this runs for every row of every page.
        if not all(map(frozenset.__contains__, self._fast, map(type, out))):
            for name, type_, value in zip(self.names, self._types, out, strict=True):
                if value is not None:
                    self._check(name, type_, value)
        for i, convert in self._convert:
            value = out[i]
            if value is not None:
                out[i] = convert(value)
        return out

    def _check(self, name: str, type_: str | None, value: Any) -> None:
        if type_ is None:
            return  # not declared any more: written NULL
        if (
            not isinstance(value, _ACCEPTS[type_])
            or (type_ in ("integer", "real", "decimal") and isinstance(value, bool))
            or (type_ == "date" and isinstance(value, dt.datetime))
        ):
            # The value's type, never the value: it may be patient data.
            raise InvalidRequestError(
                f"{self.resource}.{name} is a {type_} column; got a {type(value).__name__}"
            )


def dump_payload(resource: str, payload: Mapping[str, Any]) -> bytes:
    """The payload as JSON bytes (key order kept)."""
    if not isinstance(payload, Mapping):
        raise InvalidRequestError(f"a payload of {resource} is not a JSON object")
    try:
        return orjson.dumps(payload)
    except TypeError:  # orjson.JSONEncodeError: its message may quote the value
        raise InvalidRequestError(f"a payload of {resource} is not JSON") from None


def dump_checkpoint(checkpoint: Mapping[str, Any]) -> bytes:
    """The checkpoint as JSON bytes."""
    if not isinstance(checkpoint, Mapping):
        raise InvalidRequestError("checkpoint must be a JSON object (a mapping)")
    try:
        return orjson.dumps(checkpoint)
    except TypeError:
        raise InvalidRequestError("checkpoint is not JSON") from None


def check_row(resource: str, row: object) -> Row:
    """`row` if it is a Row with a text id and a text-or-None updated_at."""
    if not isinstance(row, Row):
        raise InvalidRequestError(f"rows of {resource} must be Row values")
    if not isinstance(row.id, str) or not row.id:
        raise InvalidRequestError(f"a row of {resource} has no text id")
    if row.updated_at is not None and not isinstance(row.updated_at, str):
        raise InvalidRequestError(f"a row of {resource} has an updated_at that is not text")
    return row


def unique(ids: Sequence[str], resource: str) -> list[str]:
    """`ids` checked as non-empty strings, duplicates dropped, order kept."""
    if isinstance(ids, str):
        raise InvalidRequestError("delete_ids must be a sequence of ids, not one string")
    out: dict[str, None] = {}
    for id_ in ids:
        if not isinstance(id_, str) or not id_:
            raise InvalidRequestError(f"delete_ids of {resource} must be non-empty strings")
        out[id_] = None
    return list(out)


def layers(rows: Sequence[Row]) -> list[list[Row]]:
    """Rows split so that no id repeats within a part; parts applied in order = rows in order.

    A set-based `INSERT ... SELECT ... ON CONFLICT` cannot touch one row twice; a page that
    repeats an id (a record updated while being paged) goes in several statements instead.
    """
    seen: dict[str, int] = {}
    out: list[list[Row]] = [[]]
    for row in rows:
        n = seen.get(row.id, 0)
        seen[row.id] = n + 1
        if n == len(out):
            out.append([])
        out[n].append(row)
    return out


def upsert_condition(table: str) -> str:
    """The `DO UPDATE ... WHERE` condition of the upsert rule, for stored row alias `table`.

    - no incoming version (`updated_at` NULL): the last write wins;
    - over a live row: written unless the stored version is newer;
    - over a deleted row: only a strictly newer version revives it, so neither a late
      redelivery of the version that was deleted nor an older one brings it back; a
      tombstone (deleted, no version) is only replaced by a deleted row.
    """
    t = table
    return (
        f"excluded.updated_at IS NULL"
        f" OR (NOT {t}.deleted AND ({t}.updated_at IS NULL"
        f" OR excluded.updated_at >= {t}.updated_at))"
        f" OR ({t}.deleted AND excluded.updated_at > {t}.updated_at)"
        f" OR ({t}.deleted AND {t}.updated_at IS NULL AND excluded.deleted)"
    )


def now_utc() -> dt.datetime:
    """The time of a write, aware UTC."""
    return dt.datetime.now(dt.UTC)


def canonical(payload: Mapping[str, Any]) -> bytes:
    """A payload's canonical JSON: keys sorted, no spaces."""
    return orjson.dumps(payload, option=orjson.OPT_SORT_KEYS)


def checksum_add(digest: Any, id_: str, data: bytes) -> None:
    """Feed one row (id, canonical JSON) to a SHA-256 `digest`, rows in id order."""
    digest.update(id_.encode())
    digest.update(b"\n")
    digest.update(data)
    digest.update(b"\n")


def checksum_of(items: Iterable[tuple[str, bytes]]) -> str:
    """SHA-256 over `id \\n canonical-json \\n` of each (id, canonical JSON), in given order."""
    digest = hashlib.sha256()
    for id_, data in items:
        checksum_add(digest, id_, data)
    return digest.hexdigest()


def payload_checksum(records: Iterable[tuple[str, Mapping[str, Any]]]) -> str:
    """The `SyncStore.checksum()` of records given as (id, payload) pairs, in any order.

    SHA-256 over the records sorted by id (as text), each fed as the id, a newline, the
    payload's canonical JSON (`orjson.OPT_SORT_KEYS`) and a newline. A store's checksum of a
    resource equals this over the same live records: compare a database with its source.
    """
    pairs = sorted((str(id_), canonical(payload)) for id_, payload in records)
    return checksum_of(pairs)
