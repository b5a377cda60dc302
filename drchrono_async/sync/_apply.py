"""Webhook events into a sync store, in any order of arrival, ending in the newest state.

DrChrono redelivers a failed delivery at +1 h, +3 h and +7 h with the object as it was at the
event, so deliveries arrive out of order. The rule (`apply_event`):

- a CREATE or MODIFY of a record with a version (`updated_at`) goes through the sync's upsert
  rule: it never replaces a newer row, and revives a deleted row only when it is strictly
  newer than the delete. Its object is the API's plain serialisation: the verbose keys the
  stored row holds (a listing's) are kept until a listing brings their new values;
- a DELETE carries a version: the object's own `updated_at` where it has one, else the time
  the delivery is applied (by the API server's clock when a client is given). It wins over
  any stored state that is not strictly newer, so a late MODIFY never brings it back. (A
  soft delete's object, marked deleted or archived, is written as the row's last state.);
- a CREATE or MODIFY of a record without a version (allergies, problems, medications)
  cannot be ordered by its payload: it only marks the row stale (inserting it if the store
  has none) and the current state is fetched with one GET, at once when a client is given
  (in that client's quota lane), else by the next sync run of that resource.

Deliveries are marked handled by the receiver's dedupe after the handler returned, never
here: a handler that fails after writing is redelivered and applied again, which the rule
makes harmless.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from typing import TYPE_CHECKING

import attrs

from .._checks import check_number
from .._endpoints import BY_NAME
from ..errors import InvalidRequestError
from ._refresh import refresh
from ._rows import ensure_table, has_version, key_of, local_time, normalise_timestamp, row_from
from ._store import Row, SyncStore, WriteResult

if TYPE_CHECKING:
    from .._client import DrChronoClient
    from .._endpoints import Endpoint
    from ..records import Record
    from ..webhooks import WebhookEvent

__all__ = ["DEFAULT_RETENTION", "StoreDedupe", "apply_event"]

logger = logging.getLogger("drchrono_async.sync")

# Redeliveries come up to 7 hours after the event; a day leaves room for a late manual one.
DEFAULT_RETENTION = 86_400.0


async def apply_event(
    store: SyncStore,
    event: WebhookEvent,
    *,
    client: DrChronoClient | None = None,
    timezone: dt.tzinfo | None = None,
    received_at: float | None = None,
) -> WriteResult | None:
    """Write `event`'s object into `store` (or mark its id deleted); None if nothing to write.

    Nothing is written for PING, an event of no known resource, or an object without an id.
    See the module's docstring for the ordering rule. `client`: fetches the current state of
    records without a version at once (one GET); without it they wait, marked stale, for
    the next sync. `timezone`: the practice's (default: the client's, else UTC), in which
    the API's times are written. `received_at`: when the delivery arrived (epoch seconds;
    default now), the version of a delete whose object has none and the time a row is
    marked stale: a delivery kept and applied later is ordered by its arrival.
    """
    resource = event.resource
    endpoint = BY_NAME.get(resource) if resource else None
    if endpoint is None or endpoint.record_type is None:
        return None
    if timezone is not None and not isinstance(timezone, dt.tzinfo):
        raise InvalidRequestError("timezone must be a tzinfo")
    tz = timezone or (client.timezone if client is not None else dt.UTC)
    if received_at is not None:
        now = check_number(received_at, "received_at", low=0, high=253_402_300_799.0)
    else:
        now = client.server_time() if client is not None else time.time()
    # Cheap after the first time: the store remembers what it ensured in this session.
    await ensure_table(store, endpoint)
    if event.is_delete:
        # The store's key: the id, or what the endpoint keys on (a note, its appointment).
        key = key_of(event.object, endpoint) if event.object is not None else event.object_id
        if key is None:
            logger.warning(
                "sync: a %s delivery names no %s a store could key on; nothing marked",
                event.event,
                endpoint.name,
            )
            return None
        gone = row_from(event.object, endpoint) if event.object is not None else None
        if gone is not None and gone.deleted and gone.updated_at is not None:
            # A soft delete: the object is the record as deleted, with its version.
            return await store.write(endpoint.name, [gone])
        updated = getattr(event.object, "updated_at", None)
        version = normalise_timestamp(updated) if isinstance(updated, dt.datetime) else None
        return await store.write(
            endpoint.name,
            [],
            delete_ids=[key],
            deleted_at=version or local_time(now, tz),
        )
    if event.object is None:
        return None
    row = row_from(event.object, endpoint)
    if row is None:
        logger.warning(
            "sync: a %s delivery's object has no key a store can keep; not written", event.event
        )
        return None
    if has_version(endpoint):
        row = await _keep_verbose(store, endpoint, event.object, row)
        return await store.write(endpoint.name, [row])
    marked = await store.mark_stale(endpoint.name, row, at=local_time(now, tz))
    if client is None or not endpoint.sync_key.gettable:
        return marked  # read by the next sync (its listing, where no route reads one record)
    return await refresh(client, store, endpoint, [row.id])


async def _keep_verbose(store: SyncStore, endpoint: Endpoint, record: Record, row: Row) -> Row:
    """`row` with the verbose keys its stored row holds and the object lacks.

    A webhook's object is the API's plain serialisation, without the verbose keys a listing
    stores (an appointment's vitals, a patient's insurances). Written as it is, the copy
    would lose them until the next listing; so those the stored row holds are kept, in the
    payload and their columns, until a listing brings their current values (it counts the
    row `revised`, not changed). The version stays the object's own: a kept key never makes
    a late delivery look newer than it is.
    """
    missing = [key for key in sorted(endpoint.verbose_keys) if key not in row.payload]
    if not missing:
        return row
    stored = await store.get(endpoint.name, row.id)
    kept = {key: stored[key] for key in missing if key in stored} if stored else {}
    if not kept:
        return row
    from .. import converter  # the package's, as the receiver structures objects with

    merged = converter.structure({**row.payload, **kept}, type(record))
    whole = row_from(merged, endpoint)
    if whole is None or whole.id != row.id:
        return row
    return attrs.evolve(whole, updated_at=row.updated_at, deleted=row.deleted)


class StoreDedupe:
    """A `webhooks.DeliveryDedupe` kept in a sync store's `_deliveries` table.

    `claim` answers whether the delivery is not yet handled; `complete` records it (kept
    `retention` seconds) after the handler returned; `release` has nothing to undo. Two
    copies of one delivery racing each other may both run the handler: writes through
    `apply_event` make that harmless (the same state written twice); side effects of a
    handler outside the database can run twice, so pair it with `RedisDedupe` if they must
    not. A handler that raised leaves the delivery unrecorded: its redelivery runs again.
    """

    def __init__(self, store: SyncStore, *, retention: float = DEFAULT_RETENTION) -> None:
        self._retention = check_number(
            retention,
            "retention",
            low=8 * 3600,
            high=90 * 86_400,
            kind="a number of seconds",
            tail=" (8 hours to 90 days)",
        )
        self._store = store

    async def claim(self, delivery_id: str) -> bool:
        return not await self._store.delivery_handled(delivery_id)

    async def complete(self, delivery_id: str) -> None:
        await self._store.mark_delivery(delivery_id, retention=self._retention)

    async def release(self, delivery_id: str) -> None:
        return None

    def __repr__(self) -> str:
        return f"StoreDedupe({self._store!r})"
