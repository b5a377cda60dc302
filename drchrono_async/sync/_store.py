"""What the sync engine needs of a database: the `SyncStore` protocol and the values it moves.

A store keeps, for each resource (an endpoint's name, e.g. `"appointments"`), one table of
rows keyed by the record's id, and beside them, in the same database, the resource's
checkpoint. `write()` puts a page of rows and the new checkpoint in ONE transaction: after a
crash at any instant the database holds a page and the checkpoint that follows it, or neither.

The upsert rule: a row never replaces a stored row with an older version. Where both carry
`updated_at`, the incoming row is written only if its `updated_at` is not older than the
stored one; otherwise it is counted as `skipped`. A row the store already held as it is (the
same version, payload and delete marker: an overlap re-listed) is counted `unchanged`, not
`written`, though its observation is refreshed. Re-fetched overlap and late webhook
redeliveries therefore cannot roll data back. A deleted row carries the version of its
delete: only a strictly newer version, or a listing made after the delete, revives it.
(The whole rule, with records that have no version: `_sql`'s docstring.)
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from decimal import Decimal
from typing import Any, Literal, Protocol, runtime_checkable

import attrs

from ..oauth import TokenStore

__all__ = ["ChildTable", "Column", "ColumnType", "KeyType", "Row", "SyncStore", "WriteResult"]

# The scalar types a record field may have that become columns of their own.
ColumnType = Literal["text", "integer", "real", "boolean", "decimal", "date", "time", "timestamp"]
Scalar = str | int | float | bool | Decimal | dt.date | dt.time | dt.datetime | None


@attrs.frozen
class Column:
    """One scalar field of a record, stored as a column of the resource's table.

    `indexed`: the store keeps an index on it (the columns the API filters on: references
    such as `doctor` and `patient`, and dates), so that analysts' joins and ranges are fast.
    """

    name: str
    type: ColumnType
    indexed: bool = False


KeyType = Literal["integer", "text"]


@attrs.frozen
class ChildTable:
    """Objects nested in a record, kept as a table of their own, `<resource>__<name>`.

    `keys`: the payload keys holding them. Each key's value is a list of objects (one row
    per object, in order) or one object (one row); several keys fill one table (a patient's
    five insurances), a `source` column naming the key of each row. The rows of a parent
    are replaced whenever the parent row is written, in the same transaction, so they
    always match the parent's payload.
    """

    name: str
    keys: tuple[str, ...]


@attrs.frozen
class Row:
    """One record as the store keeps it.

    `id`: the record's id as text (appointment ids are strings; others are integers).
    `updated_at`: the record's `updated_at` normalised to `YYYY-MM-DDTHH:MM:SS.ffffff` (so
    text order is time order), or None when the record has none.
    `payload`: the record's JSON object exactly as the API sent it.
    `columns`: the typed scalar fields, by column name (a subset of the table's columns).
    `deleted`: the API marks it deleted or archived, or it vanished from the API.
    `observed_at`: when the API showed this state (a listing's or a GET's send time, by the
    server's clock, in the practice's local time, normalised as `updated_at`); None for a
    webhook's object, which is only as new as its event.
    """

    id: str
    updated_at: str | None
    payload: Mapping[str, Any]
    columns: Mapping[str, Scalar]
    deleted: bool = False
    observed_at: str | None = None


@attrs.frozen
class WriteResult:
    """What one `write()` did.

    Each row given is counted once: `written` (inserted, or its stored state changed),
    `unchanged` (the store held it already: the same version, the same payload and the same
    delete marker; only when it was seen is refreshed, which clears a stale flag) or
    `skipped` (the upsert rule kept the stored row). So `written > 0 or marked_deleted > 0`
    says the write changed what the store holds.
    """

    written: int  # rows inserted or changed
    skipped: int  # rows not written because the stored version is newer
    marked_deleted: int  # ids newly marked deleted
    # The write named a webhook delivery already handled: nothing was written.
    duplicate: bool = False
    # Column values that did not fit their column: stored NULL (the payload keeps them).
    misfits: int = 0
    unchanged: int = 0  # rows the store already held as they are (an overlap re-listed)
    # Of `written`, rows whose version and delete marker the store held already: only the
    # payload changed (a listing's verbose keys over a webhook's object), not the record.
    revised: int = 0


@runtime_checkable
class SyncStore(Protocol):
    """A database the sync engine writes into. `SQLiteStore` and `PostgresStore` implement it.

    Use as an async context manager (`async with store:`), or `await open()` / `await aclose()`.
    Names of resources and columns come from the library's endpoint table and record classes,
    never from the server: stores may use them as identifiers (quoted).
    """

    async def open(self) -> None:
        """Connect, and create the bookkeeping tables (checkpoints, tokens) if missing."""
        ...

    async def aclose(self) -> None:
        """Close the connection; safe to call twice."""
        ...

    async def ensure_resource(
        self,
        resource: str,
        columns: Sequence[Column],
        *,
        key: KeyType = "text",
        children: Sequence[ChildTable] = (),
    ) -> None:
        """Create the resource's table if missing; add any column it lacks (never drops).

        `key`: the type of the resource's ids in the store (`"integer"` where the API's ids
        are integers, so that they join the integer reference columns of other tables;
        `Row.id` stays text either way). `children`: the nested objects kept as child tables.
        """
        ...

    async def write(
        self,
        resource: str,
        rows: Sequence[Row],
        *,
        checkpoint: Mapping[str, Any] | None = None,
        delete_ids: Sequence[str] = (),
        deleted_at: str | None = None,
        delivery_id: str | None = None,
    ) -> WriteResult:
        """Upsert `rows`, mark `delete_ids` deleted, and save `checkpoint`: one transaction.

        `checkpoint=None` leaves the stored checkpoint as it is. A delete of an id the store
        does not hold inserts a tombstone row (payload `{}`, deleted), so a later, older
        redelivery cannot bring the record back. Marking keeps the payload.
        `deleted_at`: the version of the deletes (normalised practice-local time); a delete
        loses to a stored row whose `updated_at` is strictly newer. None: unversioned, it
        wins over any live row.

        A column value that does not fit its column is stored NULL with a warning naming
        the resource, id and field (`WriteResult.misfits` counts them); the payload keeps it.

        `delivery_id`: the webhook delivery these rows come from, claimed under a unique
        key in the same transaction; if it was claimed before, nothing is written and the
        result says `duplicate`.
        """
        ...

    async def mark_stale(self, resource: str, row: Row, *, at: str) -> WriteResult:
        """A delivery said `row.id` changed, but its object has no version to order it by.

        The row is inserted from `row` if the store has none (live, unobserved), and in every
        case flagged stale since `at` (normalised practice-local time) until an observation
        made at or after `at` (a listing's page, a GET) is written over it. Needs
        `ensure_resource` as `write` does. The result's `written` is 1 when it inserted the
        row, else 0: a held row is only flagged (its refresh says whether it changed).
        """
        ...

    async def stale_ids(self, resource: str, *, limit: int) -> list[str]:
        """Up to `limit` ids flagged stale, the longest-stale first."""
        ...

    def lock(
        self, resources: Sequence[str], *, wait: float = 0.0
    ) -> AbstractAsyncContextManager[None]:
        """Hold the sync lock of `resources` (all of them, or none) for a run.

        Another holder (a process or task) of any of them makes it wait up to `wait`
        seconds, then raise `errors.StoreLockedError`. The lock is the database's
        (PostgreSQL advisory locks, a file lock beside a SQLite file), so it also excludes
        other processes and machines, and it goes with a holder that dies.
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

    async def get(self, resource: str, id: str | int) -> dict[str, Any] | None:
        """The payload of one row as received, or None (also for a tombstone)."""
        ...

    async def is_deleted(self, resource: str, id: str | int) -> bool | None:
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
