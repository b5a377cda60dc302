"""The freshness planner: which syncs to queue now, pure (no I/O; `now` is given).

What a target promises. A poll lists what changed since the previous one, so once a poll
that started at `s` has ended, the copy holds every change made before `s`. The copy's *age*
is `now - s` for the last completed poll; a change older than the target is unseen only
while the age exceeds the target. So:

- With `risk` 0 (the default), each resource is polled every `target` seconds (queued a
  tick plus its usual duration early): its age stays under the target whenever the quota
  affords it. Every target is then a hard bound on the copy's age.
- With `risk` > 0 (an opt-in: fewer calls for lateness), quiet buys time: the planner
  keeps a smoothed count of the changes each resource's polls found (`changes`) over the
  seconds they covered (`observed`), both decaying with a half-life of a day, and
  estimates its change rate as `(changes + 1) / observed` (the `+ 1` is a prior: a
  resource seen quiet for an hour is not taken to never change). It then polls every
  `P = target + ln(1 / (1 - risk)) / rate` seconds, at most `4 x target`.
  What `risk` bounds, exactly: a change is seen past its target when it is made in the
  first `P - target` seconds of a period; if changes arrived as a Poisson stream at the
  estimated rate, the chance that one period holds at least one such change is `risk`.
  It is *not* the share of changes seen late: every change made in those seconds is late
  (by up to `P - target`, at most three targets), a fraction `(P - target) / P` of the
  changes whatever the rate, e.g. half of them when `P` is two targets. The bet is that
  a quiet resource's periods rarely hold a change at all; it is a bet on the past rate,
  not a bound: a quiet resource that wakes up is seen late until its rate rises and its
  period falls back toward the target.
- Resources whose changes webhooks deliver (with the fleet's webhooks on) are not polled
  for freshness at all: they are *swept* every `sweep` seconds as a safety net. A sweep
  that writes rows found changes the webhooks missed: it is counted (`missed`) and halves
  that resource's sweep period, down to its own target (never tighter than polling it
  without webhooks); each clean sweep relaxes the period by a tenth, up to `sweep`, so one
  lost delivery costs a few tighter sweeps, not a permanent poll.

Spreading. Practices added together come due together, and left alone would stay in step:
each period one burst, which the quota meters out late. So while the targets fit the quota
and every due sync is queued, resources not due yet (at least `EARLY_AFTER` of a period
old) are polled ahead, most behind first, as long as the window's use stays below an even
spend of the targets' demand (`demand x elapsed / window`): the spend stays near the
demand, and after one period the polls are spread over it.

Order and budget. The due syncs are ranked by how far behind they are: `age / period`
(1: exactly at its period; 2: twice as old as it should be). Each tick spends at most the
quota window's background permits left (the limit less the interactive reserve, never
planned into, less what this window used) and, while any practice's first sync (its
backfill) is pending, only `1 - backfill_share` of those. When the targets do not fit the
quota (see below) it also paces: the window's use may run at most `PACE` ticks' worth
ahead of an even spend over the window, so a scarce window serves the most-behind syncs
all window long rather than everything at its start; when they fit, whatever is due is
queued at once. Backfills are
queued whatever the budget (the quota meters them; the fleet's fairness priority shares
slots among practices), since no copy exists to be fresh yet.

Feasibility. In steady state every polled resource costs `calls / period` (its smoothed
calls per poll); when their sum exceeds the background budget per hour, the targets cannot
all be met: the planner's order then stretches every period by about the same factor
(`stretch`), and `Feasibility` says so, names the resources behind their period now, and
gives the quota (`needed_limit`, calls per window) that would meet them all with the same
reserve and backfill share.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Iterable, Mapping
from typing import Literal

import attrs

from ._freshness import WEBHOOK_RESOURCES, FreshnessTargets

__all__ = [
    "Budget",
    "Feasibility",
    "Late",
    "Plan",
    "PlannedSync",
    "PollState",
    "observe_slice",
    "period_of",
    "plan",
]

HALF_LIFE = 86_400.0  # seconds: how fast the observed change rate forgets
MAX_STRETCH = 4.0  # a quiet resource is polled at most every 4 targets
TIGHTEN = 0.5  # a missed change halves the sweep period
RELAX = 1.1  # each clean sweep lengthens it by a tenth
CALLS_WEIGHT = 0.3  # the newest poll's weight in the smoothed calls per poll
PACE = 4.0  # a scarce window's use runs at most this many ticks ahead of an even spend
MAX_LATE = 100  # resources named in a report at most (the count is always whole)
EARLY_AFTER = 0.25  # a resource is polled ahead of its period only once this far into it
LEAD_SHARE = 0.1  # a due sync is queued at most this share of its period early

Kind = Literal["backfill", "poll", "sweep"]
Pair = tuple[str, str]


@attrs.frozen
class PollState:
    """What the fleet knows of one (practice, resource): its polls so far.

    Times are epoch seconds. `started`: a poll in progress (its first slice's start) or
    None. `pending_calls`/`pending_changes`: what its slices so far spent and wrote.
    `calls`: smoothed calls per completed poll. `changes`/`observed`: the decayed count of
    changes polls found and the seconds they covered. `sweep`: the current sweep period
    (None: the configured one). `missed`: changes sweeps found that webhooks missed, in all.
    """

    practice: str
    resource: str
    backfilled: bool = False
    started: float | None = None
    pending_calls: int = 0
    pending_changes: int = 0
    last_start: float | None = None
    last_end: float | None = None
    calls: float = 1.0
    changes: float = 0.0
    observed: float = 0.0
    sweep: float | None = None
    missed: int = 0


@attrs.frozen
class Budget:
    """A quota window as the planner sees it: `limit` permits per `window` seconds, `used`
    so far in this window (every lane), `reserve` held for interactive callers, and
    `resets_at` (epoch) when the window ends."""

    limit: int
    window: float
    used: int
    reserve: int
    resets_at: float


@attrs.frozen
class PlannedSync:
    practice: str
    resource: str
    kind: Kind
    behind: float  # age / period: above 1 it is late (0 for a backfill)
    calls: float  # the calls it is expected to cost


@attrs.frozen
class Late:
    practice: str
    resource: str
    age: float  # seconds since the start of its last completed poll
    period: float  # the period it should be polled at


@attrs.frozen
class Feasibility:
    """Whether the targets fit the quota, in calls per hour, and what quota would do."""

    feasible: bool
    demand: float  # calls an hour the periods need
    budget: float  # calls an hour the polls may spend (reserve and backfill share left)
    needed_limit: int  # the quota limit per window that would meet every target
    stretch: float  # demand / budget when over (each period is met about this late)
    late: tuple[Late, ...]  # the resources behind their period now (at most MAX_LATE)
    late_count: int

    def describe(self) -> str:
        """One line for a log: counts and rates, no names."""
        if self.feasible:
            return (
                f"targets feasible: {self.demand:.0f} calls/h of {self.budget:.0f} available;"
                f" {self.late_count} resources behind"
            )
        return (
            f"targets NOT feasible: they need {self.demand:.0f} calls/h, {self.budget:.0f} "
            f"available (periods met about {self.stretch:.1f}x late); a quota of "
            f"{self.needed_limit} calls per window would meet them; {self.late_count} "
            "resources behind"
        )


@attrs.frozen
class Plan:
    """One tick's decisions: `syncs` to queue now, in order; `held` due but over this
    tick's budget; the `periods` chosen; `allowance` the calls polls could take."""

    syncs: tuple[PlannedSync, ...]
    held: tuple[PlannedSync, ...]
    periods: Mapping[Pair, float]
    feasibility: Feasibility
    allowance: float


def covered(resource: str, webhooks: bool) -> bool:
    """Whether webhooks deliver `resource`'s changes (so it is swept, not polled)."""
    return webhooks and resource in WEBHOOK_RESOURCES


def sweep_period(state: PollState, targets: FreshnessTargets) -> float:
    """The resource's current sweep period, within [its floor, the configured sweep]."""
    floor = targets.sweep_floor(state.resource)
    current = targets.sweep if state.sweep is None else state.sweep
    return min(targets.sweep, max(floor, current))


def period_of(state: PollState, targets: FreshnessTargets, *, webhooks: bool) -> float:
    """The seconds between polls (or sweeps) of this resource; see the module docstring."""
    if covered(state.resource, webhooks):
        return sweep_period(state, targets)
    target = targets.target(state.resource)
    if targets.risk <= 0 or state.observed <= 0:
        return target
    rate = (state.changes + 1.0) / state.observed
    slack = -math.log1p(-targets.risk) / rate
    return min(MAX_STRETCH * target, target + slack)


def observe_slice(
    state: PollState,
    *,
    started: float,
    ended: float,
    calls: int,
    changes: int,
    done: bool,
    targets: FreshnessTargets,
    webhooks: bool,
) -> tuple[PollState, int]:
    """The state after one slice (`done`: the poll completed); and the changes it counts
    as missed by the webhooks (a sweep's, else 0)."""
    calls, changes = max(0, calls), max(0, changes)
    begun = started if state.started is None else min(state.started, started)
    total_calls = state.pending_calls + calls
    total_changes = state.pending_changes + changes
    if not done:
        return attrs.evolve(
            state, started=begun, pending_calls=total_calls, pending_changes=total_changes
        ), 0
    finished = attrs.evolve(
        state,
        started=None,
        pending_calls=0,
        pending_changes=0,
        last_start=begun,
        last_end=max(begun, ended),
        backfilled=True,
    )
    if not state.backfilled:  # the first sync: its cost and rows say nothing of a poll's
        return finished, 0
    interval = 0.0 if state.last_start is None else max(0.0, begun - state.last_start)
    decay = 0.5 ** (interval / HALF_LIFE)
    weight = CALLS_WEIGHT if state.last_start is not None else 1.0
    finished = attrs.evolve(
        finished,
        calls=max(0.0, state.calls * (1 - weight) + total_calls * weight),
        changes=state.changes * decay + total_changes,
        observed=state.observed * decay + interval,
    )
    if not covered(state.resource, webhooks):
        return finished, 0
    current = sweep_period(state, targets)
    if total_changes:
        tighter = max(targets.sweep_floor(state.resource), current * TIGHTEN)
        return attrs.evolve(finished, sweep=tighter, missed=state.missed + total_changes), (
            total_changes
        )
    return attrs.evolve(finished, sweep=min(targets.sweep, current * RELAX)), 0


def _lead(state: PollState, period: float, tick: float) -> float:
    # Queued early by a tick (it may wait that long to be seen) and its usual duration, at
    # most a tenth of its period: the last sync may have been the backfill (minutes or
    # hours), and a lead of half a period would poll every resource twice as often.
    took = 0.0
    if state.last_start is not None and state.last_end is not None:
        took = max(0.0, state.last_end - state.last_start)
    return min(period * LEAD_SHARE, tick + took)


def plan(
    pairs: Iterable[Pair],
    states: Mapping[Pair, PollState],
    targets: FreshnessTargets,
    budget: Budget,
    *,
    now: float,
    webhooks: bool = False,
    stale_after: float | None = None,
    queued: Collection[Pair] = (),
) -> Plan:
    """Plan one tick for the (practice, resource) `pairs` to keep fresh.

    `states`: what is known of each (absent: never synced). A poll in progress is left
    alone (its job is queued or running) unless it began more than `stale_after` seconds
    ago (default two quota windows: a job lost for good), when it is planned again.
    `queued`: the pairs with a sync job waiting or running now (left to it, whatever
    their state says: a slice is recorded only when it ends).
    """
    stale = 2 * budget.window if stale_after is None else stale_after
    waiting = frozenset(queued)
    backfills: list[PlannedSync] = []
    due: list[PlannedSync] = []
    early: list[PlannedSync] = []  # not due yet: polled ahead only to spread the load
    periods: dict[Pair, float] = {}
    late: list[Late] = []
    demand = 0.0
    for pair in dict.fromkeys(pairs):
        state = states.get(pair) or PollState(*pair)
        busy = pair in waiting or (state.started is not None and now - state.started < stale)
        if not state.backfilled:
            if not busy:
                backfills.append(PlannedSync(*pair, "backfill", 0.0, state.calls))
            continue
        period = period_of(state, targets, webhooks=webhooks)
        periods[pair] = period
        demand += state.calls * 3600.0 / period
        age = math.inf if state.last_start is None else max(0.0, now - state.last_start)
        if age > period:
            late.append(Late(*pair, age, period))
        if busy:
            continue
        kind: Kind = "sweep" if covered(state.resource, webhooks) else "poll"
        planned = PlannedSync(*pair, kind, min(age / period, 1e9), state.calls)
        if age + _lead(state, period, targets.tick) >= period:
            due.append(planned)
        elif age >= EARLY_AFTER * period:
            early.append(planned)
    due.sort(key=lambda s: (-s.behind, s.practice, s.resource))

    share = 1.0 - targets.backfill_share if backfills else 1.0
    per_hour = 3600.0 / budget.window
    available = max(0, budget.limit - budget.reserve) * per_hour * share
    feasible = demand <= available
    fraction = (1 - budget.reserve / budget.limit) * share if budget.limit else 0.0
    needed = math.ceil(demand / per_hour / fraction) if fraction > 0 else 0

    left = max(0, budget.limit - budget.reserve - budget.used) * share
    allowance = left
    if not feasible:  # scarce: spend along the window, at most PACE ticks ahead of even
        total = max(0, budget.limit - budget.reserve)
        elapsed = min(budget.window, max(0.0, now - (budget.resets_at - budget.window)))
        line = total * min(1.0, (elapsed + targets.tick) / budget.window)
        ahead = total * PACE * targets.tick / budget.window
        allowance = max(0.0, min(left, (line + ahead - budget.used) * share))
    chosen: list[PlannedSync] = []
    held: list[PlannedSync] = []
    spent = 0.0
    for sync in due:
        fits = spent + sync.calls <= allowance
        # The most behind is never starved by its own size: taken once the window is not
        # ahead of its pace, if the permits left hold it.
        first = not chosen and allowance > 0 and spent + sync.calls <= left
        if not held and (fits or first):
            chosen.append(sync)
            spent += sync.calls
        else:
            held.append(sync)

    if feasible and not held and early:
        # Spread: what is not due yet is polled ahead, most behind first, while the window's
        # use is below an even spend of the targets' demand. Practices added together come
        # due together, and would stay in step, each period a burst the quota meters late;
        # this keeps the spend near the demand's even line and spreads them over a period.
        per_window = demand / per_hour
        elapsed = min(budget.window, max(0.0, now - (budget.resets_at - budget.window)))
        line = per_window * min(1.0, (elapsed + targets.tick) / budget.window)
        room = min(allowance, line - budget.used) - spent
        early.sort(key=lambda s: (-s.behind, s.practice, s.resource))
        for sync in early:
            if sync.calls > room:
                break
            chosen.append(sync)
            room -= sync.calls

    late.sort(key=lambda x: (-(x.age / x.period), x.practice, x.resource))
    report = Feasibility(
        feasible=feasible,
        demand=demand,
        budget=available,
        needed_limit=needed,
        stretch=demand / available if available > 0 else math.inf,
        late=tuple(late[:MAX_LATE]),
        late_count=len(late),
    )
    return Plan(tuple(backfills + chosen), tuple(held), periods, report, allowance)
