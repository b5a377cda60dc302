"""The freshness planner, pure: targets, order, sweeps, budget and feasibility (no I/O).

Time is a number passed in: hours of a fleet's life in microseconds.
"""

from __future__ import annotations

import math

import attrs
import pytest

from drchrono_async.errors import InvalidRequestError
from drchrono_async.fleet import (
    WEBHOOK_RESOURCES,
    Budget,
    FreshnessTargets,
    PollState,
    observe_slice,
    period_of,
    plan,
)

NOW = 1_767_225_600.0 + 1800  # half past an hour
HOUR = 3600.0


def budget(limit: int = 10_000, *, used: int = 0, reserve: int = 0, left: float = 60) -> Budget:
    """A one-hour window ending `left` seconds from NOW (60: one tick left, no pacing)."""
    return Budget(limit=limit, window=HOUR, used=used, reserve=reserve, resets_at=NOW + left)


def polled(key: str, resource: str, ago: float, **fields: object) -> PollState:
    """A resource backfilled long ago whose last poll started `ago` seconds before NOW."""
    return PollState(
        key, resource, backfilled=True, last_start=NOW - ago, last_end=NOW - ago + 1, **fields
    )  # type: ignore[arg-type]


def run(states: list[PollState], targets: FreshnessTargets, **options: object):  # type: ignore[no-untyped-def]
    pairs = [(s.practice, s.resource) for s in states]
    by_pair = {(s.practice, s.resource): s for s in states}
    return plan(pairs, by_pair, targets, options.pop("budget", budget()), now=NOW, **options)  # type: ignore[arg-type]


# -- targets --------------------------------------------------------------------------------


def test_class_defaults_and_the_cli_form() -> None:
    plain = FreshnessTargets()
    assert plain.target("appointments") == 300
    assert plain.target("patients") == 1800
    assert plain.target("allergies") == plain.target("documents") == 4 * 3600
    assert plain.target("offices") == plain.target("fee_schedules") == 86_400
    spec = FreshnessTargets.parse("appointments=5m,default=1d")
    # `default` replaces the class defaults of every resource the spec does not name.
    assert spec.target("appointments") == 300
    assert spec.target("patients") == spec.target("offices") == 86_400
    classes = FreshnessTargets.parse("activity=30m, patients=2m", sweep=3600)
    assert classes.target("clinical_notes") == 1800  # its class's entry
    assert classes.target("patients") == 120  # its own entry beats its class's
    assert classes.target("appointments") == 300  # untouched: its class default
    assert classes.sweep == 3600
    assert FreshnessTargets.parse("on", sweep=7200) == FreshnessTargets(sweep=7200)


@pytest.mark.parametrize(
    ("spec", "said"),
    [
        ("appointmentz=5m", "appointmentz: not a resource or class; did you mean appointments"),
        ("appointments=5", "appointments: a duration"),  # 5 s: below the 10 s floor
        ("appointments=soon", "appointments: a duration"),
        ("appointments", "NAME=DURATION"),
        ("appointments=5m,appointments=10m", "names appointments twice"),
        ("", "NAME=DURATION"),
    ],
)
def test_a_bad_spec_is_refused_naming_the_entry(spec: str, said: str) -> None:
    with pytest.raises(InvalidRequestError) as caught:
        FreshnessTargets.parse(spec)
    assert said in str(caught.value)


def test_settings_are_bounded() -> None:
    with pytest.raises(InvalidRequestError, match="tick"):
        FreshnessTargets(tick=7)
    with pytest.raises(InvalidRequestError, match="risk"):
        FreshnessTargets(risk=0.9)
    with pytest.raises(InvalidRequestError, match="fax_machines is neither"):
        FreshnessTargets({"fax_machines": 60})
    with pytest.raises(InvalidRequestError, match="target of patients"):
        FreshnessTargets({"patients": math.nan})


# -- order ----------------------------------------------------------------------------------


def test_due_syncs_are_queued_most_behind_first() -> None:
    targets = FreshnessTargets(risk=0)
    states = [
        polled("a", "offices", 1.5 * 86_400),  # 1.5 targets old
        polled("a", "appointments", 3 * 300),  # 3 targets old: the most behind
        polled("b", "appointments", 1.2 * 300),
        polled("b", "patients", 300),  # 1/6 of its 30m: not due
        polled("c", "patients", 2 * 1800),
    ]
    found = run(states, targets)
    assert [(s.practice, s.resource) for s in found.syncs] == [
        ("a", "appointments"),
        ("c", "patients"),
        ("a", "offices"),
        ("b", "appointments"),
    ]
    assert [round(s.behind, 2) for s in found.syncs] == [3.0, 2.0, 1.5, 1.2]
    assert found.periods[("b", "patients")] == 1800


def test_a_sync_is_queued_a_tick_ahead_of_its_period() -> None:
    targets = FreshnessTargets(risk=0, tick=60)
    # 4m30s of a 5m period, and the last poll took 1 s: within a tick (60 s) of late.
    found = run([polled("a", "appointments", 270)], targets)
    assert [s.resource for s in found.syncs] == ["appointments"]
    # Not due: queued only ahead of time to spread the load, which a window spent past
    # the even line of the targets' demand (12 calls an hour here) never is.
    found = run([polled("a", "appointments", 200)], targets, budget=budget(used=100))
    assert found.syncs == ()


def test_a_long_last_sync_queues_the_next_at_most_a_tenth_of_a_period_early() -> None:
    targets = FreshnessTargets({"offices": 6 * HOUR}, risk=0, tick=60)
    # The last sync was a two-hour backfill: its length says nothing of a poll's.
    backfill = PollState(
        "a", "offices", backfilled=True, last_start=NOW - 4.5 * HOUR, last_end=NOW - 2.5 * HOUR
    )
    held = budget(used=10_000 - 1)  # no room to poll ahead of time
    assert run([backfill], targets, budget=held).syncs == ()
    due = attrs.evolve(backfill, last_start=NOW - 5.5 * HOUR)  # within 36 minutes
    assert [s.resource for s in run([due], targets, budget=held).syncs] == ["offices"]


def test_resources_not_due_yet_are_polled_ahead_up_to_an_even_spend() -> None:
    targets = FreshnessTargets(risk=0, tick=60)
    # Twelve practices in step (added together): none due (a 5m target, 100 s old).
    states = [polled(f"p{i:02d}", "appointments", 100 + i) for i in range(12)]
    # Demand: 12 resources polled 12 times an hour, 144 calls a window; half the window is
    # gone, so an even spend is at 144 x (1800 + 60) / 3600 = 74.4 calls; 70 used.
    found = run(states, targets, budget=budget(used=70, left=1800))
    assert [s.practice for s in found.syncs] == ["p11", "p10", "p09", "p08"]  # most behind
    assert all(s.kind == "poll" and s.behind < 1 for s in found.syncs)
    assert run(states, targets, budget=budget(used=75, left=1800)).syncs == ()
    # A resource in the first quarter of its period is never polled ahead.
    fresh = [polled(f"p{i:02d}", "appointments", 60) for i in range(12)]
    assert run(fresh, targets, budget=budget(used=0, left=1800)).syncs == ()
    # Targets the quota cannot meet: nothing ahead of time.
    scarce = run(states, targets, budget=budget(100, used=0, left=1800))
    assert not scarce.feasibility.feasible and scarce.syncs == ()


def test_a_pair_whose_job_waits_or_runs_is_left_to_it() -> None:
    targets = FreshnessTargets(risk=0)
    states = [polled("a", "appointments", 900), PollState("b", "appointments")]
    assert len(run(states, targets).syncs) == 2
    found = run(states, targets, queued={("a", "appointments"), ("b", "appointments")})
    assert found.syncs == () and found.held == ()


def test_a_poll_in_progress_is_left_to_its_job_unless_lost() -> None:
    targets = FreshnessTargets(risk=0)
    busy = attrs.evolve(polled("a", "appointments", 900), started=NOW - 60)
    assert run([busy], targets).syncs == ()
    lost = attrs.evolve(busy, started=NOW - 3 * HOUR)  # past two windows: its job is gone
    assert [s.resource for s in run([lost], targets).syncs] == ["appointments"]


# -- webhooks and sweeps --------------------------------------------------------------------


def test_a_webhook_covered_resource_is_only_swept() -> None:
    targets = FreshnessTargets(risk=0, sweep=6 * HOUR)
    states = [polled("a", "appointments", HOUR), polled("a", "offices", 2 * 86_400)]
    # Webhooks on: appointments (covered) an hour old is not due; offices (not covered) is.
    found = run(states, targets, webhooks=True)
    assert [(s.resource, s.kind) for s in found.syncs] == [("offices", "poll")]
    assert found.periods[("a", "appointments")] == 6 * HOUR
    # Six hours on, the sweep is due.
    swept = run([polled("a", "appointments", 6 * HOUR)], targets, webhooks=True)
    assert [(s.resource, s.kind) for s in swept.syncs] == [("appointments", "sweep")]
    # Webhooks off: the same resource is polled by its 5m target.
    off = run(states, targets, webhooks=False)
    assert [(s.resource, s.kind) for s in off.syncs] == [
        ("appointments", "poll"),
        ("offices", "poll"),
    ]


def test_a_resource_whose_webhooks_only_mark_rows_stale_is_polled_by_its_target() -> None:
    """Medications, allergies, problems and clinical notes carry no version: their webhooks
    only mark a row stale, so webhooks or not they are polled by target, never only swept."""
    assert {"appointments", "patients"} <= WEBHOOK_RESOURCES
    assert not {"medications", "allergies", "problems", "clinical_notes"} & WEBHOOK_RESOURCES
    targets = FreshnessTargets(risk=0, sweep=6 * HOUR)
    found = run([polled("a", "medications", 5 * HOUR)], targets, webhooks=True)
    assert [(s.resource, s.kind) for s in found.syncs] == [("medications", "poll")]
    assert found.periods[("a", "medications")] == targets.target("medications") == 4 * HOUR


def sweep(state: PollState, changes: int, targets: FreshnessTargets) -> tuple[PollState, int]:
    start = (state.last_start or NOW) + (state.sweep or targets.sweep)
    return observe_slice(
        state,
        started=start,
        ended=start + 2,
        calls=1,
        changes=changes,
        done=True,
        targets=targets,
        webhooks=True,
    )


def test_a_sweep_that_finds_changes_tightens_and_clean_sweeps_relax() -> None:
    targets = FreshnessTargets(sweep=8 * HOUR)
    state = polled("a", "patients", 0)
    state, missed = sweep(state, 3, targets)
    assert missed == 3 and state.missed == 3
    assert period_of(state, targets, webhooks=True) == 4 * HOUR  # halved
    state, missed = sweep(state, 1, targets)
    assert missed == 1 and state.missed == 4
    assert period_of(state, targets, webhooks=True) == 2 * HOUR
    for _ in range(10):  # never tighter than the resource's own target (patients: 30m)
        state, _missed = sweep(state, 5, targets)
    assert period_of(state, targets, webhooks=True) == 1800
    # Clean sweeps relax it by a tenth each, back to the configured sweep and no further.
    state, missed = sweep(state, 0, targets)
    assert missed == 0 and period_of(state, targets, webhooks=True) == pytest.approx(1980)
    for _ in range(60):
        state, _missed = sweep(state, 0, targets)
    assert period_of(state, targets, webhooks=True) == 8 * HOUR
    assert state.missed == 54  # the total kept


def test_only_a_sweep_counts_missed_changes() -> None:
    targets = FreshnessTargets()
    # Webhooks off: a poll that writes rows is simply a poll.
    state, missed = observe_slice(
        polled("a", "patients", 900),
        started=NOW,
        ended=NOW + 1,
        calls=2,
        changes=7,
        done=True,
        targets=targets,
        webhooks=False,
    )
    assert missed == 0 and state.sweep is None
    # Webhooks on but a resource they do not cover (offices): not a sweep either.
    state, missed = observe_slice(
        polled("a", "offices", 900),
        started=NOW,
        ended=NOW + 1,
        calls=1,
        changes=1,
        done=True,
        targets=targets,
        webhooks=True,
    )
    assert missed == 0
    # The first sync (a backfill) writes everything: never a missed change.
    state, missed = observe_slice(
        PollState("a", "patients"),
        started=NOW,
        ended=NOW + 9,
        calls=40,
        changes=4000,
        done=True,
        targets=targets,
        webhooks=True,
    )
    assert missed == 0 and state.backfilled and state.calls == 1.0


def test_slices_add_up_to_one_poll() -> None:
    targets = FreshnessTargets()
    state = polled("a", "appointments", 600, calls=2.0)
    state, _ = observe_slice(
        state,
        started=NOW,
        ended=NOW + 5,
        calls=3,
        changes=40,
        done=False,
        targets=targets,
        webhooks=False,
    )
    assert state.started == NOW and state.pending_calls == 3
    state, _ = observe_slice(
        state,
        started=NOW + 30,
        ended=NOW + 40,
        calls=2,
        changes=10,
        done=True,
        targets=targets,
        webhooks=False,
    )
    assert state.started is None and state.pending_calls == 0
    assert state.last_start == NOW and state.last_end == NOW + 40  # the poll's first slice
    assert state.calls == pytest.approx(2.0 * 0.7 + 5 * 0.3)
    assert state.changes == pytest.approx(50) and state.observed == pytest.approx(600, rel=0.01)


# -- change rate ----------------------------------------------------------------------------


def test_quiet_stretches_a_period_within_bounds_and_risk_zero_never() -> None:
    quiet = polled("a", "appointments", 0, observed=86_400.0, changes=0.0)
    busy = polled("a", "appointments", 0, observed=86_400.0, changes=2000.0)
    targets = FreshnessTargets(risk=0.05)
    stretched = period_of(quiet, targets, webhooks=False)
    assert 300 < stretched <= 4 * 300
    assert stretched == pytest.approx(min(1200, 300 + math.log(1 / 0.95) * 86_400))
    assert period_of(busy, targets, webhooks=False) == pytest.approx(300, abs=3)
    unknown = polled("a", "appointments", 0)  # nothing observed yet: its target
    assert period_of(unknown, targets, webhooks=False) == 300
    assert period_of(quiet, FreshnessTargets(risk=0), webhooks=False) == 300


# -- budget and feasibility -----------------------------------------------------------------


def test_infeasible_targets_are_reported_with_the_quota_that_would_meet_them() -> None:
    targets = FreshnessTargets(risk=0)
    # Six practices' appointments at 5m, 2 calls a poll: 6 * 2 * 12 = 144 calls an hour.
    states = [polled(f"p{i}", "appointments", 400, calls=2.0) for i in range(6)]
    scarce = run(states, targets, budget=budget(100, reserve=10))
    report = scarce.feasibility
    assert not report.feasible
    assert report.demand == pytest.approx(144)
    assert report.budget == pytest.approx(90)  # the reserve is no budget
    assert report.stretch == pytest.approx(1.6)
    assert report.needed_limit == 160  # 160 less its 10% reserve: 144
    assert report.late_count == 6 and {x.practice for x in report.late} == {
        f"p{i}" for i in range(6)
    }
    assert "NOT feasible" in report.describe() and "160" in report.describe()
    # With that quota, the same targets fit.
    enough = run(states, targets, budget=budget(160, reserve=16)).feasibility
    assert enough.feasible and enough.needed_limit <= 160


def test_polls_never_plan_into_the_reserve_and_leave_backfills_their_share() -> None:
    targets = FreshnessTargets(risk=0, backfill_share=0.25)
    due = [polled(f"p{i}", "appointments", 400 + i) for i in range(12)]
    new = PollState("fresh", "appointments")  # a new practice: its first sync pending
    # 100 a window, 10 held for interactive callers, 80 used: 10 background permits left.
    tight = budget(100, used=80, reserve=10)
    alone = run(due, targets, budget=tight)
    assert len(alone.syncs) == 10 and len(alone.held) == 2  # the reserve stays whole
    shared = run([*due, new], targets, budget=tight)
    kinds = [s.kind for s in shared.syncs]
    assert kinds.count("backfill") == 1  # queued whatever the budget
    assert kinds.count("poll") == 7  # 10 * (1 - 0.25), rounded down
    assert shared.feasibility.budget == pytest.approx(90 * 0.75)
    # The held ones are the least behind.
    assert min(s.behind for s in shared.syncs if s.kind == "poll") >= max(
        s.behind for s in shared.held
    )
    spent = run(due, targets, budget=budget(100, used=90, reserve=10))
    assert spent.syncs == ()  # only the reserve is left: nothing planned into it


def test_a_scarce_window_is_paced_not_spent_at_its_start() -> None:
    targets = FreshnessTargets(risk=0, tick=60)
    due = [polled(f"p{i}", "appointments", 400 + i) for i in range(40)]
    # A minute into a window of 60 permits (one a minute): by the tick's end, 2 permits
    # of an even spend, and 4 ticks' worth ahead: 6.
    early = run(due, targets, budget=budget(60, left=59 * 60))
    assert len(early.syncs) == 6 and early.allowance == pytest.approx(6)
    # Half way with 30 used: on the line, so again the tick's and 4 ticks ahead: 5.
    half = run(due, targets, budget=budget(60, used=30, left=30 * 60))
    assert len(half.syncs) == 5
    # Spent ahead of the line: nothing this tick.
    assert run(due, targets, budget=budget(60, used=45, left=30 * 60)).syncs == ()
    # The window's last tick may spend what is left.
    late = run(due, targets, budget=budget(60, used=40, left=30))
    assert len(late.syncs) == 20


def test_a_poll_that_costs_nothing_is_planned_as_free() -> None:
    # A resource skipped for a scope the token lacks answers without a call: its polls cost
    # nothing, and the demand comes to say so instead of one call a poll.
    targets = FreshnessTargets()
    state = polled("a", "line_items", 1800)
    for i in range(20):
        start = NOW + i * 1800
        state, _ = observe_slice(
            state,
            started=start,
            ended=start,
            calls=0,
            changes=0,
            done=True,
            targets=targets,
            webhooks=False,
        )
    assert state.calls < 0.01
    report = run([state], FreshnessTargets(risk=0)).feasibility
    assert report.demand < 0.1


def test_targets_that_fit_are_not_paced() -> None:
    targets = FreshnessTargets(risk=0, tick=60)
    # Twenty resources due at once, 240 calls an hour in all, in a window of 500: all now.
    due = [polled(f"p{i}", "appointments", 400) for i in range(20)]
    found = run(due, targets, budget=budget(500, left=59 * 60))
    assert found.feasibility.feasible and len(found.syncs) == 20 and found.held == ()


# -- risk: an opt-in, and what it bounds ----------------------------------------------------


def test_targets_are_hard_bounds_by_default() -> None:
    targets = FreshnessTargets()
    assert targets.risk == 0 and FreshnessTargets.parse("on").risk == 0
    # Seen quiet for a day: with risk it would stretch; by default it is polled at its target.
    quiet = polled("a", "appointments", 301, observed=86_400.0, changes=0.0)
    assert period_of(quiet, targets, webhooks=False) == 300
    assert period_of(quiet, FreshnessTargets(risk=0.05), webhooks=False) > 300
    planned = run([quiet], targets)
    assert [(s.resource, s.kind) for s in planned.syncs] == [("appointments", "poll")]
    assert planned.periods[("a", "appointments")] == 300


def test_risk_bounds_periods_holding_a_late_change_not_the_share_of_late_changes() -> None:
    import random

    target, risk = 300.0, 0.05
    rate = math.log(1 / (1 - risk)) / target  # chosen so that the period is two targets
    state = polled("a", "appointments", 0, observed=86_400.0, changes=rate * 86_400.0 - 1)
    period = period_of(state, FreshnessTargets(risk=risk), webhooks=False)
    assert period == pytest.approx(2 * target)
    # Changes as a Poisson stream at that rate; a change made at `t` into a period is seen
    # at the period's end, late when `period - t > target`.
    rng = random.Random(7)
    periods, holding_late, changes, late = 100_000, 0, 0, 0
    for _ in range(periods):
        t, any_late = rng.expovariate(rate), False
        while t < period:
            changes += 1
            if period - t > target:
                late += 1
                any_late = True
            t += rng.expovariate(rate)
        holding_late += any_late
    assert holding_late / periods == pytest.approx(risk, abs=0.003)
    assert late / changes == pytest.approx((period - target) / period, abs=0.02)  # a half
