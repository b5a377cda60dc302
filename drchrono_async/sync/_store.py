"""What the sync engine needs of a database: the `SyncStore` protocol and the values it moves.

A store keeps, for each resource (an endpoint's name, e.g. `"appointments"`), one table of
rows keyed by the record's id, and beside them, in the same database, the resource's
checkpoint. `write()` puts a page of rows and the new checkpoint in ONE transaction: after a
crash at any instant the database holds a page and the checkpoint that follows it, or neither.

The upsert rule: a row never replaces a stored row with an older version. Where both carry
`updated_at`, the incoming row is written only if its `updated_at` is not older than the
stored one; otherwise it is counted as `skipped`. Re-fetched overlap and late webhook
redeliveries therefore cannot roll data back.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any, Literal, Protocol, runtime_checkable

import attrs

from ..oauth import TokenStore

__all__ = ["Column", "ColumnType", "Row", "SyncStore", "WriteResult"]

# The scalar types a record field may have that become columns of their own.
ColumnType = Literal["text", "integer", "real", "boolean", "decimal", "date", "time", "timestamp"]
Scalar = str | int | float | bool | Decimal | dt.date | dt.time | dt.datetime | None


@attrs.frozen
class Column:
    """One scalar field of a record, stored as a column of the resource's table."""

    name: str
    type: ColumnType


@attrs.frozen
class Row:
    """One record as the store keeps it.

    `id`: the record's id as text (appointment ids are strings; others are integers).
    `updated_at`: the record's `updated_at` normalised to `YYYY-MM-DDTHH:MM:SS.ffffff` (so
    text order is time order), or None when the record has none.
    `payload`: the record's JSON object exactly as the API sent it.
    `columns`: the typed scalar fields, by column name (a subset of the table's columns).
    `deleted`: the API marks it deleted or archived, or it vanished from the API.
    """

    id: str
    updated_at: str | None
    payload: Mapping[str, Any]
    columns: Mapping[str, Scalar]
    deleted: bool = False


@attrs.frozen
class WriteResult:
    """What one `write()` did."""

    written: int  # rows inserted or updated
    skipped: int  # rows not written because the stored version is newer
    marked_deleted: int  # ids newly marked deleted
    # The write named a webhook delivery already handled: nothing was written.
    duplicate: bool = False


@runtime_checkable
class SyncStore(Protocol):
    """A database the sync engine writes into. `SQLiteStore` and `PostgresStore` implement it.

    Use as an async context manager (`async with store:`), or `await open()` / `await close()`.
    Names of resources and columns come from the library's endpoint table and record classes,
    never from the server: stores may use them as identifiers (quoted).
    """

    async def open(self) -> None:
        """Connect, and create the bookkeeping tables (checkpoints, tokens) if missing."""
        ...

    async def close(self) -> None:
        """Close the connection; safe to call twice."""
        ...

    async def ensure_resource(self, resource: str, columns: Sequence[Column]) -> None:
        """Create the resource's table if missing; add any column it lacks (never drops)."""
        ...

    async def write(
        self,
        resource: str,
        rows: Sequence[Row],
        *,
        checkpoint: Mapping[str, Any] | None = None,
        delete_ids: Sequence[str] = (),
        delivery_id: str | None = None,
    ) -> WriteResult:
        """Upsert `rows`, mark `delete_ids` deleted, and save `checkpoint`: one transaction.

        `checkpoint=None` leaves the stored checkpoint as it is. A delete of an id the store
        does not hold inserts a tombstone row (payload `{}`, deleted), so a later, older
        redelivery cannot bring the record back. Marking keeps the payload.

        `delivery_id`: the webhook delivery these rows come from, claimed under a unique
        key in the same transaction; if it was claimed before, nothing is written and the
        result says `duplicate`.
        """
        ...

    async def delivery_handled(self, delivery_id: str) -> bool:
        """Whether a write (or `mark_delivery`) has claimed this webhook delivery id."""
        ...

    async def mark_delivery(self, delivery_id: str, *, retention: float) -> None:
        """Claim a delivery id (if not yet), and forget those older than `retention` s."""
        ...

    async def checkpoint(self, resource: str) -> dict[str, Any] | None:
        """The resource's saved checkpoint (a JSON object), or None."""
        ...

    async def get(self, resource: str, id: str) -> dict[str, Any] | None:
        """The payload of one row as received, or None (also for a tombstone)."""
        ...

    async def is_deleted(self, resource: str, id: str) -> bool | None:
        """Whether the row is marked deleted; None when there is no row."""
        ...

    async def count(self, resource: str, *, deleted: bool = False) -> int:
        """Rows of the resource that are (deleted=True) or are not (False) marked deleted."""
        ...

    async def ids(self, resource: str, *, deleted: bool | None = False) -> set[str]:
        """The ids held; `deleted=None` for all, else those with that marker."""
        ...

    async def checksum(self, resource: str) -> str:
        """A hex SHA-256 over the live rows (sorted by id) of (id, canonical payload JSON).

        Canonical JSON: keys sorted, no spaces, as `orjson.dumps(payload,
        option=orjson.OPT_SORT_KEYS)`. The demo compares it with the emulator's records.
        """
        ...

    def token_store(self, key: str = "default") -> TokenStore:
        """A `TokenStore` kept in this database (for `DrChronoClient(token_store=...)`)."""
        ...
