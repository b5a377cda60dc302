"""From a record to a store `Row`: the id, the normalised `updated_at`, typed columns, deleted.

Columns are the record class's scalar fields (text, numbers, booleans, dates and times); lists
and nested objects stay in the payload only. Column names are the field names, which come
from the library's record classes, never from the server.
"""

from __future__ import annotations

import datetime as dt
import logging
import types
import typing
from decimal import Decimal
from typing import Any

from .._endpoints import Endpoint
from .._ids import check_object_id
from ..records import Record, api_fields
from ._store import Column, ColumnType, Row, Scalar

__all__ = [
    "DELETED_FIELDS",
    "columns_for",
    "has_version",
    "local_time",
    "normalise_timestamp",
    "row_from",
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


_COLUMNS: dict[type[Record], tuple[Column, ...]] = {}


def columns_for(record_type: type[Record]) -> tuple[Column, ...]:
    """The scalar fields of `record_type` as columns, in the record's order."""
    if record_type in _COLUMNS:
        return _COLUMNS[record_type]
    columns = []
    for field in api_fields(record_type):
        kind = _column_type(field.type)
        if kind is not None and field.name not in RESERVED:
            columns.append(Column(field.name, kind))
    _COLUMNS[record_type] = tuple(columns)
    return _COLUMNS[record_type]


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


def row_from(record: Record, endpoint: Endpoint, *, observed_at: str | None = None) -> Row | None:
    """The row of `record`, or None when it has no usable id (nothing to key it on).

    An id that is not one (blank, too long, holding control characters) is refused here,
    with a warning naming the resource only, so that no store is asked to key on it.
    `observed_at`: when a listing or GET showed this state (see `Row`).
    """
    raw_id = getattr(record, "id", None)
    if raw_id is None:
        return None
    rid = check_object_id(raw_id)
    if rid is None:
        logger.warning(
            "sync: a record of %s has an id no store can key on; not stored", endpoint.name
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
    updated = getattr(record, "updated_at", None)
    return Row(
        id=rid,
        updated_at=normalise_timestamp(updated if isinstance(updated, dt.datetime) else None),
        payload=payload,
        columns=columns,
        deleted=deleted,
        observed_at=observed_at,
    )
