"""Fetching the current state of a few records, one GET each: the rows to write, the ids gone.

Used where a record's state must be read from the API rather than trusted from elsewhere:
ids that vanished from a full listing (a 404 confirms the delete), and rows a webhook
marked stale because its object carries no version to order it by.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import attrs

from .._endpoints import Endpoint
from ..errors import NotFoundError
from ._rows import local_time, row_from
from ._store import Row, SyncStore, WriteResult

if TYPE_CHECKING:
    from .._client import DrChronoClient

__all__ = ["Current", "fetch_current", "refresh"]


@attrs.frozen
class Current:
    """What the GETs found: live `rows` (each with its `observed_at`), ids answered 404, and
    `gone_at`, the version of those deletes (the first GET's send time: a lower bound)."""

    rows: tuple[Row, ...]
    gone: tuple[str, ...]
    gone_at: str | None


async def fetch_current(client: DrChronoClient, endpoint: Endpoint, ids: Sequence[str]) -> Current:
    """GET each id of `endpoint` (errors other than 404 propagate, typed)."""
    resource = getattr(client, endpoint.name)
    rows: list[Row] = []
    gone: list[str] = []
    first: str | None = None
    for rid in ids:
        # Sent no earlier than this: what comes back is at least this new.
        sent = local_time(client.server_time(), client.timezone)
        first = first or sent
        key: int | str = int(rid) if endpoint.id_type is int and rid.lstrip("-").isdigit() else rid
        try:
            record = await resource.get(key)
        except NotFoundError:
            gone.append(rid)
            continue
        row = row_from(record, endpoint, observed_at=sent)
        if row is not None:
            rows.append(row)
    return Current(tuple(rows), tuple(gone), first if gone else None)


async def refresh(
    client: DrChronoClient, store: SyncStore, endpoint: Endpoint, ids: Sequence[str]
) -> WriteResult:
    """Fetch `ids` and write what was found: rows as observed, 404s marked deleted."""
    found = await fetch_current(client, endpoint, ids)
    return await store.write(
        endpoint.name, list(found.rows), delete_ids=list(found.gone), deleted_at=found.gone_at
    )
