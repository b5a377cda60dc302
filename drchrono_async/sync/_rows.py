"""From a record to a store `Row`: the id, the normalised `updated_at`, typed columns, deleted.

Columns are the record class's scalar fields (text, numbers, booleans, dates and times); lists
and nested objects stay in the payload only. Column names are the field names, which come
from the library's record classes, never from the server.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import types
import typing
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

import attrs
import orjson

from .._endpoints import Endpoint, FilterKind
from .._ids import check_object_id
from ..records import Record, api_fields
from ._store import ChildTable, Column, ColumnType, KeyType, Row, Scalar, SyncStore

__all__ = [
    "DELETED_FIELDS",
    "TableSpec",
    "columns_for",
    "ensure_table",
    "has_version",
    "key_of",
    "local_time",
    "normalise_timestamp",
    "row_from",
    "table_spec",
]

logger = logging.getLogger("drchrono_async.sync")

# Payload flags that say the API keeps a record only as soft-deleted or archived.
DELETED_FIELDS = ("archived", "deleted_flag")
# Columns every resource table has of its own; a record field of the same name is skipped.
RESERVED = frozenset({"id", "payload", "updated_at", "deleted", "synced_at"})

_TYPES: tuple[tuple[type, ColumnType], ...] = (
    (bool, "boolean"),  # before int: a bool is an int
    (int, "integer"),
    (float, "real"),
    (Decimal, "decimal"),
    (dt.datetime, "timestamp"),  # before date: a datetime is a date
    (dt.date, "date"),
    (dt.time, "time"),
    (str, "text"),
)


def _column_type(annotation: Any) -> ColumnType | None:
    args = typing.get_args(annotation)
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        kinds = [a for a in args if a is not type(None)]
        return _column_type(kinds[0]) if len(kinds) == 1 else None
    for python_type, column_type in _TYPES:
        if annotation is python_type:
            return column_type
    return None


_COLUMNS: dict[tuple[type[Record], frozenset[str]], tuple[Column, ...]] = {}
# Filters whose record fields deserve an index: references (`doctor`) and dates.
_INDEXED_KINDS = frozenset({FilterKind.INT, FilterKind.DATE, FilterKind.DATE_RANGE})


def columns_for(
    record_type: type[Record], indexed: frozenset[str] = frozenset()
) -> tuple[Column, ...]:
    """The scalar fields of `record_type` as columns, in the record's order; those named in
    `indexed` are marked for an index."""
    cache = (record_type, indexed)
    if cache in _COLUMNS:
        return _COLUMNS[cache]
    columns = []
    for field in api_fields(record_type):
        kind = _column_type(field.type)
        if kind is not None and field.name not in RESERVED:
            columns.append(Column(field.name, kind, indexed=field.name in indexed))
    _COLUMNS[cache] = tuple(columns)
    return _COLUMNS[cache]


@attrs.frozen
class TableSpec:
    """What a store needs to keep an endpoint's records: columns, key type, child tables."""

    columns: tuple[Column, ...]
    key: KeyType
    children: tuple[ChildTable, ...]


_SPECS: dict[str, TableSpec] = {}


def table_spec(endpoint: Endpoint) -> TableSpec:
    """The endpoint's table: its record's scalar fields (indexed where the API filters on
    them), the key type of `SyncKey`, and the child tables of `sync_children`."""
    spec = _SPECS.get(endpoint.name)
    if spec is None:
        record_type = endpoint.record_type
        assert record_type is not None, endpoint.name
        indexed = frozenset(
            endpoint.filter_field(name)
            for name, kind in endpoint.filters.items()
            if kind in _INDEXED_KINDS
        )
        spec = _SPECS[endpoint.name] = TableSpec(
            columns=columns_for(record_type, indexed),
            key=_key_type(endpoint, record_type),
            children=tuple(ChildTable(name, keys) for name, keys in endpoint.sync_children),
        )
    return spec


async def ensure_table(store: SyncStore, endpoint: Endpoint) -> None:
    """`store.ensure_resource` with the endpoint's table spec (cheap once done)."""
    spec = table_spec(endpoint)
    await store.ensure_resource(endpoint.name, spec.columns, key=spec.key, children=spec.children)


def _key_type(endpoint: Endpoint, record_type: type[Record]) -> KeyType:
    rule = endpoint.sync_key
    if rule.type is not None:
        return rule.type
    if rule.hashed or rule.listing or len(rule.fields) != 1:
        return "text"
    types_ = {f.name: f.type for f in api_fields(record_type)}
    return "integer" if _column_type(types_.get(rule.fields[0])) == "integer" else "text"


def key_of(
    record: Record, endpoint: Endpoint, listing: Mapping[str, Any] | None = None
) -> str | None:
    """The record's key by its endpoint's `SyncKey`, or None when it has no usable one."""
    rule = endpoint.sync_key
    if rule.hashed:
        own = record.raw.get("id")
        if own is not None:
            return check_object_id(own)
        values = [record.raw.get(name) for name in rule.fields]
        try:
            digest = hashlib.sha256(orjson.dumps(values, option=orjson.OPT_SORT_KEYS))
        except TypeError:  # not JSON (a user hook's value): nothing to key on
            return None
        return "h:" + digest.hexdigest()[:32]
    parts: list[str] = []
    for name in rule.listing:
        value = (listing or {}).get(name)
        text = check_object_id(value) if value is not None else None
        if text is None:
            return None
        parts.append(text)
    for name in rule.fields:
        value = getattr(record, name, None)
        text = check_object_id(value) if value is not None else None
        if text is None:
            return None
        parts.append(text)
    return check_object_id(":".join(parts))


def normalise_timestamp(value: dt.datetime | None) -> str | None:
    """`YYYY-MM-DDTHH:MM:SS.ffffff`, so that text order is time order (naive, as the API).

    Years below 1000 keep their four digits (strftime's `%Y` would drop them and sort
    year 1 after year 2020)."""
    if value is None:
        return None
    return value.replace(tzinfo=None).isoformat(timespec="microseconds")


def local_time(epoch: float, tz: dt.tzinfo) -> str:
    """An epoch time as the practice's wall time, normalised as `updated_at` is."""
    return (
        dt.datetime.fromtimestamp(epoch, tz).replace(tzinfo=None).isoformat(timespec="microseconds")
    )


def has_version(endpoint: Endpoint) -> bool:
    """Whether the endpoint's records carry `updated_at`, by which their states are ordered."""
    record_type = endpoint.record_type
    return record_type is not None and "updated_at" in {f.name for f in api_fields(record_type)}


def versioned(resource: str) -> bool:
    """Whether the records of endpoint `resource` carry a version: a webhook's object is then
    written as it is; without one (allergies, problems, medications) it only marks the row
    stale, and a listing or GET brings the change."""
    from .._endpoints import BY_NAME

    endpoint = BY_NAME.get(resource)
    return endpoint is not None and has_version(endpoint)


def row_from(
    record: Record,
    endpoint: Endpoint,
    *,
    observed_at: str | None = None,
    listing: Mapping[str, Any] | None = None,
) -> Row | None:
    """The row of `record`, or None when it has no usable key (nothing to key it on).

    The key follows the endpoint's `SyncKey` (its id, by default; `listing`: the filters
    of the listing the record came from). A key that is not one (blank, too long, holding
    control characters) is refused here, with a warning naming the resource only, so that
    no store is asked to key on it. `observed_at`: when a listing or GET showed this state.
    The row's version is the later of `updated_at` and `extended_updated_at` (where a
    record has it: a change to an appointment's vitals moves only the latter).
    """
    rule = endpoint.sync_key
    if not rule.hashed and all(getattr(record, name, None) is None for name in (*rule.fields,)):
        return None  # no id at all: the converter warned already
    rid = key_of(record, endpoint, listing)
    if rid is None:
        logger.warning(
            "sync: a record of %s has no key a store can keep; not stored", endpoint.name
        )
        return None
    payload = record.raw
    flags = (
        (*DELETED_FIELDS, endpoint.soft_delete_field)
        if endpoint.soft_delete_field
        else (DELETED_FIELDS)
    )
    deleted = any(payload.get(name) is True for name in flags if name)
    columns: dict[str, Scalar] = {}
    for column in columns_for(type(record)):
        columns[column.name] = getattr(record, column.name)
    versions = [
        v
        for v in (getattr(record, "updated_at", None), getattr(record, "extended_updated_at", None))
        if isinstance(v, dt.datetime)
    ]
    return Row(
        id=rid,
        updated_at=normalise_timestamp(max(versions) if versions else None),
        payload=payload,
        columns=columns,
        deleted=deleted,
        observed_at=observed_at,
    )
