"""The freshness scheduler's tick: read the fleet's state, plan, queue the planned syncs.

With `FleetConfig.freshness` set, a procrastinate periodic task runs `freshness_tick` every
`FreshnessTargets.tick` seconds, in place of the `every` schedule's pass over everything
(`schedule_all`, still there for `FleetConfig.every` without freshness: the naive schedule).
procrastinate defers one tick job per tick time for the whole fleet, whatever the number of
workers, and the tick task's lock runs one at a time. Syncs are queued with `defer_sync`:
its queueing lock (at most one waiting job per practice and resource) and fairness priority
hold as for the naive schedule.

`plan_fleet` plans without queueing anything: for `status`, a benchmark, or a person asking
what the targets cost (`Plan.feasibility`).
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Any

import attrs

from ..sync import DEFAULT_RESOURCES
from ._freshness import FreshnessTargets
from ._freshness_state import load_states
from ._scheduler import Budget, Pair, Plan, plan

if TYPE_CHECKING:
    import procrastinate

    from ..ratelimit import Quota
    from ._registry import PracticeRegistry

__all__ = ["TICK_TASK", "TickLog", "budget_of", "freshness_tick", "plan_fleet"]

TICK_TASK = "drchrono_async.fleet.freshness_tick"

logger = logging.getLogger("drchrono_async.fleet")

WARN_EVERY = 900.0  # seconds between repeats of the "not feasible" warning


async def budget_of(quota: Quota, *, now: float) -> Budget:
    """The quota's window as the planner sees it (a `RedisQuota` is asked for the shared
    count; another quota gives its own snapshot)."""
    params = getattr(quota, "params", None)
    fetch = getattr(quota, "fetch_snapshot", None)
    snap = await fetch() if fetch is not None else quota.snapshot()
    window = float(getattr(params, "window", 3600.0))
    limit = int(getattr(params, "limit", snap.limit))
    reserve = int(getattr(params, "reserve", 0))
    resets_at = snap.resets_at if snap.resets_at > now else now + window
    return Budget(limit=limit, window=window, used=snap.used, reserve=reserve, resets_at=resets_at)


async def plan_fleet(
    registry: PracticeRegistry,
    targets: FreshnessTargets,
    budget: Budget,
    *,
    webhooks: bool = False,
    now: float | None = None,
) -> Plan:
    """The plan for the registry's active practices now (nothing is queued)."""
    pairs: list[Pair] = [
        (practice.key, resource)
        for practice in await registry.practices(active_only=True)
        for resource in practice.sync_resources(DEFAULT_RESOURCES)
    ]
    states = await load_states(registry)
    return plan(
        pairs, states, targets, budget, now=time.time() if now is None else now, webhooks=webhooks
    )


@attrs.define
class TickLog:
    """When the tick last warned that the targets are not feasible (to repeat it only
    every `WARN_EVERY` seconds while they stay so)."""

    warned_at: float | None = None


async def freshness_tick(
    app: procrastinate.App,
    registry: PracticeRegistry,
    quota: Quota,
    targets: FreshnessTargets,
    *,
    webhooks: bool = False,
    window: float = 3600.0,
    now: float | None = None,
    log: TickLog | None = None,
) -> Plan:
    """Plan and queue the planned syncs; the plan. Logs an infeasible plan at WARNING."""
    from ._app import defer_sync

    now = time.time() if now is None else now
    budget = await budget_of(quota, now=now)
    planned = await plan_fleet(registry, targets, budget, webhooks=webhooks, now=now)
    queued = 0
    for sync in planned.syncs:
        if await defer_sync(app, registry, sync.practice, sync.resource, window=window):
            queued += 1
    report = planned.feasibility
    log = log if log is not None else TickLog()
    if not report.feasible:
        if log.warned_at is None or now - log.warned_at >= WARN_EVERY:
            log.warned_at = now
            logger.warning("fleet: freshness %s", report.describe())
    else:
        log.warned_at = None
    logger.info(
        "fleet: freshness tick: %d syncs planned (%d queued), %d due held for the budget",
        len(planned.syncs),
        queued,
        len(planned.held),
    )
    return planned


def tick_cron(tick: int) -> str:
    """The cron expression (procrastinate's sixth column is seconds) of a tick period."""
    return "* * * * *" if tick >= 60 else f"* * * * * */{tick}"


def tick_options() -> dict[str, Any]:
    # One tick runs at a time, and at most one waits.
    return {"lock": "freshness-tick", "queueing_lock": "freshness-tick"}
