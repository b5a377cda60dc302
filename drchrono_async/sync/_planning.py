"""Which listing a resource needs next, and its windows: pure functions of the checkpoint.

- a listing in progress is resumed first (the engine's business, before this is asked);
- an endpoint listed by date (`date_range`) whose `since` selects on updates is backfilled
  (and reconciled) by one `since` chain from the backfill's first day: the minimum calls,
  every date at once. With `shards > 1`, for wall time, in windows instead: the past cut in
  `shards` windows after a one-record probe finds where the records begin, and the future
  in windows of the longest span the endpoint accepts, listed at once. Afterwards it is
  listed incrementally with `since`;
- an endpoint whose `since` filters on updates: first a full listing, then `since` listings,
  and every `reconcile_every` seconds a full listing instead (a reconciliation, which finds
  the ids that vanished);
- an endpoint without such a `since` is listed in full every `full_every` seconds.
"""

from __future__ import annotations

import datetime as dt
import math
from typing import Any

import attrs

from .._endpoints import Endpoint
from ..resources import split_date_range
from ._state import Chain, Checkpoint, ListingState, Mode

__all__ = ["SHOW_ALL", "SyncSettings", "new_listing", "since_on_updates", "windowed", "windows"]

# Soft-deleted and archived records are listed too, and kept with the deleted marker.
SHOW_ALL = ("show_archived", "show_inactive")


@attrs.frozen
class SyncSettings:
    """The checked settings of a `Syncer` that planning and listing read (see its docstring)."""

    overlap: float
    full_every: float
    reconcile_every: float
    backfill_from: dt.date
    backfill_ahead: int
    shards: int
    confirm_limit: int
    verbose: frozenset[str] = frozenset()  # the resources listed with verbose=true


def since_on_updates(endpoint: Endpoint) -> bool:
    # Some endpoints' `since` selects by creation (the table says): it would miss changes.
    return "since" in endpoint.filters and endpoint.filter_field("since") == "updated_at"


def windowed(endpoint: Endpoint) -> bool:
    return endpoint.date_range_max_days is not None and "date_range" in endpoint.filters


def shown(endpoint: Endpoint) -> dict[str, Any]:
    """The filters that list deleted and archived records too, where the endpoint has them."""
    return {k: True for k in SHOW_ALL if k in endpoint.filters}


def new_listing(
    endpoint: Endpoint,
    cp: Checkpoint,
    *,
    now: float,
    tz: dt.tzinfo,
    settings: SyncSettings,
    earliest: dt.date | None = None,
) -> ListingState | None:
    """The listing `endpoint` needs at server time `now`, or None when it is up to date.

    A copy held without verbose keys is listed again in full once verbose is asked for.
    """
    verbose = endpoint.name in settings.verbose
    base: dict[str, Any] = {
        **shown(endpoint),
        "page_size": endpoint.max_page_size_for(verbose),
        **({"verbose": True} if verbose else {}),
    }
    copied = cp.backfilled or cp.full_at is not None or cp.watermark is not None
    kind: Mode
    if windowed(endpoint) and (not cp.backfilled or (verbose and not cp.verbose)):
        kind = "backfill"
    elif verbose and not cp.verbose and copied:
        kind = "full"
    elif since_on_updates(endpoint) and cp.watermark is not None:
        reconciled = cp.reconciled_at if cp.reconciled_at is not None else -math.inf
        kind = "reconcile" if now - reconciled >= settings.reconcile_every else "incremental"
    elif (
        since_on_updates(endpoint)
        or now - (cp.full_at if cp.full_at is not None else -math.inf) >= settings.full_every
    ):
        kind = "full"
    else:
        return None
    if kind == "incremental":
        params = [{**base, "since": cp.watermark}]
    elif by_since(endpoint, settings):
        # Everything changed since the backfill's first day, in one chain: the minimum calls
        # (windows end on partial pages) and every date, however far ahead.
        params = [{**base, "since": f"{settings.backfill_from.isoformat()}T00:00:00"}]
    elif windowed(endpoint):
        spans = windows(endpoint, now, tz, settings, earliest if kind == "backfill" else None)
        params = [{**base, "date_range": w} for w in spans]
    else:
        params = [base]
    # One listing per entry of `sync_listings` (a filter the API requires), each windowed.
    extra: tuple[Any, ...] = endpoint.sync_listings or ({},)
    chains = [Chain(params={**p, **dict(more)}) for more in extra for p in params]
    return ListingState(kind=kind, chains=chains, verbose=verbose)


def by_since(endpoint: Endpoint, settings: SyncSettings) -> bool:
    """Whether a listing of everything (a backfill, a reconciliation) of a date-windowed
    endpoint is one `since` chain rather than `date_range` windows: where `since` selects
    on updates (so that it returns every record changed since the backfill's first day,
    archived ones with `show_archived`) and one stream is asked for (`shards=1`); windows
    stay where they buy wall time (`shards > 1`, listed at once)."""
    return windowed(endpoint) and since_on_updates(endpoint) and settings.shards == 1


def default_verbose(endpoint: Endpoint) -> bool:
    """Whether a sync lists `endpoint` with verbose=true unless told otherwise."""
    if endpoint.sync_verbose is not None:
        return endpoint.sync_verbose
    return bool(endpoint.verbose_keys)


def windows(
    endpoint: Endpoint,
    now: float,
    tz: dt.tzinfo,
    settings: SyncSettings,
    earliest: dt.date | None = None,
) -> list[str]:
    """A backfill's `date_range` windows: the past (whole, or cut in `shards` from the
    earliest record), then the future in the longest spans the endpoint accepts."""
    today = dt.datetime.fromtimestamp(now, tz).date()
    start, shards = settings.backfill_from, settings.shards
    spans: list[tuple[dt.date, dt.date]] = []
    if start < today:
        past = (start, today - dt.timedelta(days=1))
        if shards == 1 or earliest is None or not past[0] < earliest < past[1]:
            spans += split_date_range(past, today=today, shards=shards, limit_days=None)
        else:
            # Equal spans from the earliest record on; the first window still starts at
            # `backfill_from`, so a listing that is not in date order loses nothing.
            cut = split_date_range((earliest, past[1]), today=today, shards=shards, limit_days=None)
            spans += [(past[0], cut[0][1]), *cut[1:]]
    future = (max(today, start), today + dt.timedelta(days=settings.backfill_ahead))
    spans += split_date_range(
        future, today=today, shards=None, limit_days=endpoint.date_range_max_days
    )
    return [f"{a.isoformat()}/{b.isoformat()}" for a, b in spans]
