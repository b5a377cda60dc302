"""Webhook events into a sync store: the same upsert rule as the sync, and delivery dedupe.

`apply_event(store, event)` writes a delivery's object (or its deletion) in one transaction
that also claims the delivery id, so a redelivery hours later neither runs twice nor rolls a
newer row back (the upsert compares `updated_at`). `StoreDedupe` lets a `WebhookReceiver`
ask the same database whether a delivery was already handled.
"""

from __future__ import annotations

import weakref
from typing import TYPE_CHECKING, Any

from .._endpoints import BY_NAME
from ..errors import InvalidRequestError
from ._rows import columns_for, row_from
from ._store import SyncStore, WriteResult

if TYPE_CHECKING:
    from ..webhooks import WebhookEvent

__all__ = ["DEFAULT_RETENTION", "StoreDedupe", "apply_event"]

# Redeliveries come up to 7 hours after the event; a day leaves room for a late manual one.
DEFAULT_RETENTION = 86_400.0

_ensured: weakref.WeakKeyDictionary[Any, set[str]] = weakref.WeakKeyDictionary()


async def apply_event(store: SyncStore, event: WebhookEvent) -> WriteResult | None:
    """Write `event`'s object into `store` (or mark its id deleted); None if nothing to write.

    Nothing is written for PING, an event of no known resource, or an object without an id.
    The delivery id is claimed in the same transaction: a second delivery of it writes
    nothing (`WriteResult.duplicate`). An older object than the stored one is skipped.
    """
    resource = event.resource
    endpoint = BY_NAME.get(resource) if resource else None
    if endpoint is None or endpoint.record_type is None:
        return None
    done = _ensured.setdefault(store, set())
    if endpoint.name not in done:
        await store.ensure_resource(endpoint.name, columns_for(endpoint.record_type))
        done.add(endpoint.name)
    if event.is_delete:
        if not event.object_id:
            return None
        return await store.write(
            endpoint.name, [], delete_ids=[event.object_id], delivery_id=event.delivery_id
        )
    if event.object is None:
        return None
    row = row_from(event.object, endpoint)
    if row is None:
        return None
    return await store.write(endpoint.name, [row], delivery_id=event.delivery_id)


class StoreDedupe:
    """A `webhooks.DeliveryDedupe` kept in a sync store's `_deliveries` table.

    `claim` answers whether the delivery is not yet handled; `complete` records it (kept
    `retention` seconds); `release` has nothing to undo. With a handler that writes through
    `apply_event`, the claim that counts is the one inside that write's transaction: two
    copies of one delivery racing each other write once. Side effects of a handler outside
    the database can run twice in that race; pair it with `RedisDedupe` if they must not.
    """

    def __init__(self, store: SyncStore, *, retention: float = DEFAULT_RETENTION) -> None:
        if isinstance(retention, bool) or not isinstance(retention, (int, float)) or not (
            8 * 3600 <= retention <= 90 * 86_400
        ):
            raise InvalidRequestError("retention must be 8 hours to 90 days, in seconds")
        self._store = store
        self._retention = float(retention)

    async def claim(self, delivery_id: str) -> bool:
        return not await self._store.delivery_handled(delivery_id)

    async def complete(self, delivery_id: str) -> None:
        await self._store.mark_delivery(delivery_id, retention=self._retention)

    async def release(self, delivery_id: str) -> None:
        return None

    def __repr__(self) -> str:
        return f"StoreDedupe({self._store!r})"
