"""What `status --freshness` adds for a fleet practice: each resource's freshness and the
fleet's plan.

Per resource, from the registry's `freshness` table (the planner's memory) and the targets:
its kind (polled, swept, or its first sync still pending), its target and the period the
planner keeps it at now, the copy's age (now less the start of its last completed poll),
whether it is behind (age over period), and the changes sweeps found that webhooks missed.
For the whole fleet, the planner's verdict (`plan_fleet(...).feasibility`): whether the
targets fit the quota, and the quota that would meet them. Nothing is queued, and nothing
here calls the API.

The budget the plan is made against: a shared quota's own count when one is given (a
`RedisQuota`: every worker's and web backend's calls); else the limit and reserve of the
quota given (default: the workers' defaults, 500 an hour and a 10% reserve) with the
registry's count of the fleet's sync calls this window (`source` `registry`), or 0 when the
registry counted none this window (`none`: no job spent a call yet, or another window
length than the workers').
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Literal

import attrs

if TYPE_CHECKING:
    from .fleet import Budget, FreshnessTargets, PracticeRegistry
    from .ratelimit import Quota

__all__ = ["FleetFreshness", "FreshnessBudget", "ResourceFreshness", "read_freshness"]

Kind = Literal["poll", "sweep", "backfill"]
Source = Literal["quota", "registry", "none"]


@attrs.frozen
class ResourceFreshness:
    """One resource's freshness: `kind` (`poll`, `sweep`: webhooks cover it, or `backfill`:
    its first sync under the planner is pending), `target` and `period` (seconds: the
    planner's period now, the target stretched by `risk`, or the sweep period), `age` of
    the copy (None: no poll completed), `behind` (age over period; None without an age),
    and `missed`: changes sweeps found that webhooks missed, in all."""

    kind: Kind
    target: float
    period: float
    age: float | None
    behind: bool | None
    missed: int


@attrs.frozen
class FreshnessBudget:
    """The quota window the plan was made against, and where `used` came from: `quota` (a
    shared quota's count), `registry` (the fleet's sync calls the registry counted this
    window) or `none` (nothing counted this window: taken as 0)."""

    source: Source
    limit: int
    window: float
    used: int
    reserve: int


@attrs.frozen
class FleetFreshness:
    """The fleet's freshness plan: the knobs it was made with, the budget, and the
    planner's verdict (`feasible`; `demand` and `available` in calls an hour; the
    `needed_limit` per window that would meet every target; `stretch`, None when no call
    is available; `late_count` of resources behind their period; `summary` in words)."""

    risk: float
    sweep: float
    webhooks: bool
    budget: FreshnessBudget
    feasible: bool
    demand: float
    available: float
    needed_limit: int
    stretch: float | None
    late_count: int
    summary: str


async def _budget(
    registry: PracticeRegistry, quota: Quota | None, window: float, now: float
) -> tuple[Budget, Source]:
    from .fleet import budget_of
    from .ratelimit import HourlyQuota

    if quota is not None and getattr(quota, "fetch_snapshot", None) is not None:
        return await budget_of(quota, now=now), "quota"  # shared: its count is the fleet's
    base = await budget_of(quota or HourlyQuota(window=window), now=now)
    calls, start = await registry.window_usage(window=base.window)
    resets_at = start + base.window
    if calls is None:
        return attrs.evolve(base, used=0, resets_at=resets_at), "none"
    return attrs.evolve(base, used=calls, resets_at=resets_at), "registry"


async def read_freshness(
    registry: PracticeRegistry,
    key: str,
    resources: Sequence[str],
    targets: FreshnessTargets,
    *,
    webhooks: bool,
    quota: Quota | None,
    window: float,
    now: float,
) -> tuple[dict[str, ResourceFreshness], FleetFreshness]:
    """Each of `resources`' freshness for practice `key`, and the fleet's plan now."""
    from .fleet import WEBHOOK_RESOURCES, PollState, load_states, period_of, plan_fleet

    states = await load_states(registry)
    budget, source = await _budget(registry, quota, window, now)
    report = (await plan_fleet(registry, targets, budget, webhooks=webhooks, now=now)).feasibility
    found: dict[str, ResourceFreshness] = {}
    for name in resources:
        state = states.get((key, name)) or PollState(key, name)
        period = period_of(state, targets, webhooks=webhooks)
        kind: Kind = "poll"
        if not state.backfilled:
            kind = "backfill"
        elif webhooks and name in WEBHOOK_RESOURCES:
            kind = "sweep"
        age = None if state.last_start is None else max(0.0, now - state.last_start)
        found[name] = ResourceFreshness(
            kind,
            targets.target(name),
            period,
            age,
            None if age is None else age > period,
            state.missed,
        )
    fleet = FleetFreshness(
        risk=targets.risk,
        sweep=targets.sweep,
        webhooks=webhooks,
        budget=FreshnessBudget(source, budget.limit, budget.window, budget.used, budget.reserve),
        feasible=report.feasible,
        demand=report.demand,
        available=report.budget,
        needed_limit=report.needed_limit,
        stretch=report.stretch if math.isfinite(report.stretch) else None,
        late_count=report.late_count,
        summary=report.describe(),
    )
    return found, fleet


def fleet_json(fleet: FleetFreshness) -> dict[str, Any]:
    """The top-level `freshness` object of `status --json`."""
    b = fleet.budget
    return {
        "risk": fleet.risk,
        "sweep_seconds": fleet.sweep,
        "webhooks": fleet.webhooks,
        "budget": {
            "source": b.source,
            "limit": b.limit,
            "window_seconds": b.window,
            "used": b.used,
            "reserve": b.reserve,
        },
        "feasible": fleet.feasible,
        "demand_per_hour": fleet.demand,
        "available_per_hour": fleet.available,
        "needed_limit": fleet.needed_limit,
        "stretch": fleet.stretch,
        "late_count": fleet.late_count,
        "summary": fleet.summary,
    }


def resource_json(found: ResourceFreshness) -> dict[str, Any]:
    """A resource's `freshness` object in `status --json`."""
    return {
        "kind": found.kind,
        "target_seconds": found.target,
        "period_seconds": found.period,
        "age_seconds": found.age,
        "behind": found.behind,
        "missed": found.missed,
    }
