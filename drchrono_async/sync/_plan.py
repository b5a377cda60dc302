"""What a run will cost, before it sends anything: `SyncPlan` and its `PlanItem`s."""

from __future__ import annotations

import datetime as dt
from typing import Any

import attrs

from .._endpoints import Endpoint
from ._estimate import calls_left
from ._state import ListingState

__all__ = ["PlanItem", "SyncPlan", "plan_item", "quota_settings"]


@attrs.frozen
class PlanItem:
    """One resource's part of a plan: the listing it will make and its floor in calls.

    `estimate`: the calls it is expected to take, where something tells (a backfill in
    progress, from its pages so far); None where only the floor is known (a first
    backfill: the API gives no count, so its size shows with its first pages).
    """

    resource: str
    mode: str  # "" when the resource is up to date
    calls: int
    verbose: bool = False  # listed with verbose=true: every key, fewer records a page
    page_size: int = 0  # records a page holds in this listing
    estimate: int | None = None


@attrs.frozen
class SyncPlan:
    """What a run will cost at least, and in how many quota hours (`limit` per hour).

    `rate` and `burst`: the client quota's spacing (calls a second, and back to back), which
    bound the run's wall time when the hour's limit does not (`seconds`). `shards`: the
    windows a backfill's past is cut into (each costs at least a call).
    """

    items: tuple[PlanItem, ...]
    limit: int | None
    rate: float | None = None
    burst: float | None = None
    shards: int = 1

    @property
    def calls(self) -> int:
        """The floor: no run of this plan costs fewer."""
        return sum(i.calls for i in self.items)

    @property
    def expected(self) -> int:
        """The calls expected: each item's estimate where there is one, else its floor."""
        return sum(max(i.calls, i.estimate or 0) for i in self.items)

    @property
    def quota_hours(self) -> int:
        """Hours of quota the calls need at least (1 when there is no quota to go by)."""
        return 1 if not self.limit else max(1, -(-self.calls // self.limit))

    @property
    def seconds(self) -> float:
        """The least wall time the quota's spacing allows for the expected calls (0 when
        there is no spacing to go by): the burst at once, the rest at `rate` a second."""
        if not self.rate:
            return 0.0
        return max(0.0, self.expected - (self.burst or 0.0)) / self.rate


def plan_item(endpoint: Endpoint, listing: ListingState, held: int, today: dt.date) -> PlanItem:
    """The plan of one listing; `held`: the live rows the store holds of the endpoint;
    `today`: the practice's date on the server's clock."""
    calls = sum(1 for c in listing.chains if not c.done)
    page = endpoint.max_page_size_for(listing.verbose)
    estimate = None
    if listing.kind != "incremental" and listing.start is None:
        # What the store holds is at least what a listing of everything returns (none, the
        # first time: then the floor of a call a chain stands).
        calls = max(calls, -(-held // page))
    elif listing.kind == "backfill" and any(c.pages for c in listing.chains):
        estimate = calls_left(listing.chains, today)
    return PlanItem(endpoint.name, listing.kind, calls, listing.verbose, page, estimate)


def quota_settings(quota: Any) -> tuple[int | None, float | None, float | None]:
    """(limit, rate, burst) of a client's quota; None where the quota does not tell."""
    if quota is None:
        return None, None, None
    params = getattr(quota, "params", None)
    rate = getattr(params, "rate", None)
    burst = getattr(params, "burst", None)
    return (
        quota.snapshot().limit,
        float(rate) if isinstance(rate, int | float) else None,
        float(burst) if isinstance(burst, int | float) else None,
    )
