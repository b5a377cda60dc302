"""What the SQLite and PostgreSQL stores share: names, value checks, the upsert rule, checksums.

Identifiers (resource and column names) are checked against `NAME` before they go into any
statement, and are quoted; every value is a bound parameter.

Versions. Every time below is the practice's naive local time as the API writes it,
normalised to `YYYY-MM-DDTHH:MM:SS.ffffff` so that text order is time order (`check_version`
refuses any other text: PostgreSQL keeps them as `timestamp`, SQLite as this text, and both
must order them alike). A row carries:

- `updated_at`: the record's own version, where it has one;
- `observed_at`: when a listing or a GET of the API (the request's send time, by the
  server's clock) showed this state; None for a webhook's object, whose state is as old as
  the event;
- `deleted_at`: for a deleted row, the version of the delete (the delete's own `updated_at`,
  or when it was received or found); None while live;
- `stale_at`: when a delivery said the row changed but could not say to what (records with
  no version); a later observation clears it.

The upsert rule (`upsert_condition`), stored row `t`, incoming row `e`:

- over a live row: with a version, `e` is written unless `t`'s version is newer; without
  one on either side, the later observation wins (a webhook of such a record is never
  written over a row: it only marks it stale);
- over a deleted row: `e` revives or updates it only when its version or its observation
  is strictly newer than the delete (so a late redelivery never brings a deleted record
  back, and a listing that shows a record again after a false delete does);
- a delete (`mark_*`) wins over a live row unless that row's version is strictly newer.

Unchanged (`same_state`): a row the rule lets through over a stored row with the same
payload, version and delete marker leaves the data as it was: it is still written (its
`observed_at` and `synced_at` are refreshed, which clears a stale flag and keeps a later
false delete from winning), but counted `unchanged`, not `written`. An overlap re-listed, a
webhook redelivering what a listing stored, a stale row whose GET shows what was held.
Revised (`same_version`): a written row whose version and delete marker were held already,
only its payload differing (a listing bringing the verbose keys a webhook's object lacks):
counted `written` and also `revised`, so a safety sweep does not take it for a change the
webhooks missed.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from operator import attrgetter
from typing import Any, TypeVar

import orjson

from .._ids import MAX_ID_CHARS, check_object_id
from ..errors import InvalidRequestError
from ._store import Column, ColumnType, Row

__all__ = [
    "BASE_COLUMNS",
    "CHECKPOINTS",
    "COLUMN_TYPES",
    "DELIVERIES",
    "NAME",
    "TOKENS",
    "VERSIONS",
    "check_columns",
    "check_delivery",
    "check_id",
    "check_key",
    "check_name",
    "check_row",
    "check_time",
    "check_version",
    "checksum_add",
    "checksum_of",
    "deleted_version",
    "dump_checkpoint",
    "dump_payload",
    "indexed_columns",
    "layers",
    "mark_conditions",
    "now_utc",
    "payload_checksum",
    "same_state",
    "same_version",
    "unique",
    "upsert_condition",
    "upsert_versions",
]

T = TypeVar("T")

NAME = re.compile(r"[a-z][a-z0-9_]{0,62}\Z")

# Bookkeeping tables start with "_", which no resource name (NAME) can: they never collide.
CHECKPOINTS = "_checkpoints"
TOKENS = "_tokens"
DELIVERIES = "_deliveries"  # webhook delivery ids handled, for the receiver's dedupe

# The columns every resource table has; a record field of the same name lives in the payload
# only (`id` and `updated_at` are already there in their normalised form).
BASE_COLUMNS = frozenset(
    {
        "id",
        "payload",
        "payload_text",
        "updated_at",
        "deleted",
        "synced_at",
        "deleted_at",
        "observed_at",
        "stale_at",
    }
)
# Added to tables made before they existed, by `ensure_resource`.
VERSION_COLUMNS = ("deleted_at", "observed_at", "stale_at")
# The base columns that hold a version: timestamps in PostgreSQL, ISO text in SQLite.
VERSIONS = ("updated_at", *VERSION_COLUMNS)

COLUMN_TYPES: frozenset[str] = frozenset(
    {"text", "integer", "real", "boolean", "decimal", "date", "time", "timestamp"}
)


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
        if not isinstance(column.indexed, bool):
            raise InvalidRequestError(f"column {column.name}: indexed must be a bool")
        if column.name not in BASE_COLUMNS:
            out[column.name] = column.type
    return out


def indexed_columns(columns: Sequence[Column]) -> tuple[str, ...]:
    """The names of the (checked) columns to index, base columns left out, in order."""
    return tuple(dict.fromkeys(c.name for c in columns if c.indexed and c.name not in BASE_COLUMNS))


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


def _id_ok(value: str) -> bool:
    return check_object_id(value) == value


def check_id(id_: object, what: str = "id") -> str:
    """A record id as the stores key it (`_ids.check_object_id`: a positive 64-bit int, or
    printable text of 1 to 64 characters without outer whitespace); `InvalidRequestError`
    otherwise, never quoting it."""
    text = check_object_id(id_)
    if text is None:
        raise InvalidRequestError(
            f"{what} must be a positive int or printable text of 1 to {MAX_ID_CHARS} characters"
        )
    return text


def check_version(value: object, what: str = "a version") -> str | None:
    """None, or a normalised practice-local time `YYYY-MM-DDTHH:MM:SS.ffffff` (a real date and
    time: PostgreSQL stores it as a timestamp); `InvalidRequestError` otherwise."""
    return None if value is None else check_time(value, what)


def check_time(value: object, what: str) -> str:
    """A normalised practice-local time (see `check_version`), never None."""
    if (
        isinstance(value, str)
        and len(value) == 26
        and value.isascii()
        and value[10] == "T"
        and value[19] == "."
    ):
        try:
            parsed = dt.datetime.fromisoformat(value)
        except ValueError:
            pass
        else:
            if parsed.tzinfo is None:
                return value
    raise InvalidRequestError(f"{what} must be a normalised time YYYY-MM-DDTHH:MM:SS.ffffff")


def check_row(resource: str, row: object) -> Row:
    """`row` if it is a Row with a usable text id and normalised-or-None versions."""
    if not isinstance(row, Row):
        raise InvalidRequestError(f"rows of {resource} must be Row values")
    if not isinstance(row.id, str) or not _id_ok(row.id):
        raise InvalidRequestError(
            f"a row of {resource} has no id of printable text (1 to {MAX_ID_CHARS} chars)"
        )
    check_version(row.updated_at, f"a version of a row of {resource}")
    check_version(row.observed_at, f"a version of a row of {resource}")
    return row


def deleted_version(row: Row) -> str | None:
    """The `deleted_at` a row brings: for a row whose payload says deleted, the later of its
    version and its observation; None for a live row."""
    if not row.deleted:
        return None
    versions = [v for v in (row.updated_at, row.observed_at) if v is not None]
    return max(versions) if versions else None


def unique(ids: Sequence[str], resource: str) -> list[str]:
    """`ids` checked as non-empty strings, duplicates dropped, order kept."""
    if isinstance(ids, str):
        raise InvalidRequestError("delete_ids must be a sequence of ids, not one string")
    out: dict[str, None] = {}
    for id_ in ids:
        if not isinstance(id_, str) or not _id_ok(id_):
            raise InvalidRequestError(f"delete_ids of {resource} must be ids as text")
        out[id_] = None
    return list(out)


def layers(rows: Sequence[T], id_of: Callable[[T], str] = attrgetter("id")) -> list[list[T]]:
    """Rows (or anything `id_of` gives an id of) split so that no id repeats within a part;
    parts applied in order = rows in order.

    A set-based `INSERT ... SELECT ... ON CONFLICT` cannot touch one row twice; a page that
    repeats an id (a record updated while being paged) goes in several statements instead.
    """
    seen: dict[str, int] = {}
    out: list[list[T]] = [[]]
    for row in rows:
        key = id_of(row)
        n = seen.get(key, 0)
        seen[key] = n + 1
        if n == len(out):
            out.append([])
        out[n].append(row)
    return out


# A stored deleted row's delete version (NULL: unknown, a tombstone of old).
_DV = "COALESCE({t}.deleted_at, {t}.updated_at)"


def upsert_condition(table: str) -> str:
    """The `DO UPDATE ... WHERE` condition of the upsert rule, for stored row alias `table`.

    See the module's docstring. Comparisons with NULL are NULL, so each branch holds only
    where its versions exist.
    """
    t = table
    dv = _DV.format(t=t)
    return (
        f"CASE WHEN {t}.deleted THEN"
        f" (excluded.updated_at > {dv} OR excluded.observed_at > {dv}"
        f" OR ({dv} IS NULL AND (excluded.observed_at IS NOT NULL OR excluded.deleted)))"
        " ELSE"
        f" (excluded.updated_at IS NOT NULL AND ({t}.updated_at IS NULL"
        f" OR excluded.updated_at >= {t}.updated_at))"
        f" OR (excluded.updated_at IS NULL AND ({t}.updated_at IS NOT NULL"
        f" OR excluded.observed_at IS NULL OR {t}.observed_at IS NULL"
        f" OR excluded.observed_at >= {t}.observed_at))"
        " END"
    )


# What makes a stored row's state: `same_state` compares these (payload last: the dearest).
STATE_COLUMNS = ("deleted", "updated_at", "payload")


def same_state(stored: str, incoming: str, extra: Sequence[str] = ()) -> str:
    """SQL true when row alias `incoming` leaves row alias `stored` as it was: the same
    delete marker, version and payload (and `extra` columns: a store's other form of the
    payload). NULL-safe, and portable (no `IS` or `IS NOT DISTINCT FROM`). False or NULL
    when `stored` is absent (an outer join's NULLs): an inserted row is written."""
    return _same(stored, incoming, (*STATE_COLUMNS, *extra))


def same_version(stored: str, incoming: str) -> str:
    """SQL true when row alias `incoming` has the delete marker and version `stored` has,
    whatever its payload: written over, the row is *revised*, not changed on the server
    since it was stored (a listing bringing the verbose keys a webhook's object lacked)."""
    return _same(stored, incoming, STATE_COLUMNS[:-1])


def _same(stored: str, incoming: str, columns: Sequence[str]) -> str:
    parts = [
        f"({stored}.{c} = {incoming}.{c} OR ({stored}.{c} IS NULL AND {incoming}.{c} IS NULL))"
        for c in columns
    ]
    return f"({stored}.id IS NOT NULL AND {' AND '.join(parts)})"


def upsert_versions(table: str) -> list[tuple[str, str]]:
    """The `SET` assignments of the version columns when the upsert writes over `table`.

    `deleted_at` keeps the stronger of the stored delete and the incoming one while the row
    stays deleted; `stale_at` is cleared by an observation made after it.
    """
    t = table
    old = f"CASE WHEN {t}.deleted THEN {_DV.format(t=t)} END"
    return [
        (
            "deleted_at",
            f"CASE WHEN excluded.deleted THEN (CASE WHEN {old} > excluded.deleted_at"
            f" THEN {old} ELSE COALESCE(excluded.deleted_at, {old}) END) END",
        ),
        ("observed_at", "excluded.observed_at"),
        (
            "stale_at",
            f"CASE WHEN excluded.observed_at IS NOT NULL AND ({t}.stale_at IS NULL"
            f" OR {t}.stale_at <= excluded.observed_at) THEN NULL ELSE {t}.stale_at END",
        ),
    ]


def mark_conditions(table: str, version: str) -> tuple[str, str, str]:
    """The parts of marking an id deleted at `version` (an SQL expression, maybe NULL).

    Returns (the `WHERE` of the `DO UPDATE` that marks a live row: it wins unless the row's
    own version is strictly newer; the `WHERE` that raises an already deleted row's delete
    version; the `stale_at` expression: cleared when the delete is as new as the mark).
    """
    t = table
    dv = _DV.format(t=t)
    mark = (
        f"NOT {t}.deleted AND ({version} IS NULL OR {t}.updated_at IS NULL"
        f" OR {t}.updated_at <= {version})"
    )
    raise_ = f"{t}.deleted AND {version} IS NOT NULL AND ({dv} IS NULL OR {dv} < {version})"
    stale = f"CASE WHEN {t}.stale_at <= {version} THEN NULL ELSE {t}.stale_at END"
    return mark, raise_, stale


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
