"""`FreshnessTargets`: how fresh each resource's copy should be, and the webhook sweep.

A target is a duration per resource: the copy of that resource should reflect every change
made on the server more than `target` ago (see `_scheduler` for exactly what the planner
promises, and when it cannot). Defaults go by class of resource:

- `schedule` (5m): appointments, what a front desk works from;
- `activity` (30m): patients and the clinical and billing data that change all day
  (clinical notes, line items, transactions, payments, messages, tasks, lab results);
- `record` (4h): the rest of a chart and its paperwork (allergies, medications, problems,
  documents, lab orders, communication logs...);
- `reference` (1d): everything else: offices, doctors, users, fee schedules, templates,
  profiles, categories.

Why these: an unchanged resource costs about one call a poll, so with these defaults a
practice costs `12 + 8 x 2 + 24 / 4 + 23 / 24`, some 35 calls an hour (an hourly quota of 500
for every practice serves a dozen), against about 204 for a pass over everything (~51
calls) every 15 minutes; with webhooks on, the four resources whose webhooks carry the
change (appointments, patients, line items, tasks) cost a sweep each every 6 hours, and a
practice about 18 calls an hour.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

import attrs

from .._checks import check_int, check_number
from ..errors import InvalidRequestError
from ..sync import DEFAULT_RESOURCES, versioned
from ..webhooks import EVENT_RESOURCES

__all__ = ["CLASSES", "CLASS_TARGETS", "DEFAULT_SWEEP", "WEBHOOK_RESOURCES", "FreshnessTargets"]

MINUTE, HOUR, DAY = 60.0, 3600.0, 86_400.0
MIN_TARGET = 10.0  # seconds: below this a target is a busy loop, not a freshness goal
MAX_TARGET = 30 * DAY
DEFAULT_SWEEP = 6 * HOUR
DEFAULT_TICK = 60
TICKS = (5, 10, 15, 20, 30, 60)  # seconds a cron's seconds column repeats evenly
_MAX_SPEC = 4096

CLASS_TARGETS: Mapping[str, float] = MappingProxyType(
    {"schedule": 5 * MINUTE, "activity": 30 * MINUTE, "record": 4 * HOUR, "reference": DAY}
)
"""Each class's default target, in seconds."""

_SCHEDULE = ("appointments",)
_ACTIVITY = (
    "patients",
    "clinical_notes",
    "line_items",
    "transactions",
    "patient_payments",
    "messages",
    "tasks",
    "lab_results",
)
_RECORD = (
    "allergies",
    "medications",
    "problems",
    "procedures",
    "amendments",
    "care_plans",
    "custom_vitals",
    "patient_vaccine_records",
    "patient_interventions",
    "patient_physical_exams",
    "patient_risk_assessments",
    "patient_communications",
    "implantable_devices",
    "clinical_note_field_values",
    "patient_payment_log",
    "patient_messages",
    "prescription_messages",
    "comm_logs",
    "documents",
    "task_notes",
    "lab_orders",
    "lab_documents",
    "lab_tests",
    "eligibility_checks",
)


def _classes() -> Mapping[str, str]:
    found: dict[str, str] = {}
    for name in DEFAULT_RESOURCES:
        if name in _SCHEDULE:
            found[name] = "schedule"
        elif name in _ACTIVITY:
            found[name] = "activity"
        elif name in _RECORD:
            found[name] = "record"
        else:
            found[name] = "reference"
    return MappingProxyType(found)


CLASSES: Mapping[str, str] = _classes()
"""Every syncable resource -> its class (a key of `CLASS_TARGETS`)."""

# A webhook of a record without a version only marks its row stale (the change itself comes
# with the next listing), so such resources are polled by their targets, webhooks or not.
WEBHOOK_RESOURCES: frozenset[str] = frozenset(
    name for name in EVENT_RESOURCES.values() if name in CLASSES and versioned(name)
)
"""The resources whose changes webhooks deliver (swept, not polled, with webhooks on)."""


def _check_target(value: object, what: str) -> float:
    return check_number(
        value, what, low=MIN_TARGET, high=MAX_TARGET, kind="a number of seconds (10 s to 30 d)"
    )


def _check_overrides(value: object) -> Mapping[str, float]:
    if not isinstance(value, Mapping):
        raise InvalidRequestError("targets must map resource or class names to seconds")
    checked: dict[str, float] = {}
    for name, seconds in value.items():
        if not isinstance(name, str) or (name not in CLASSES and name not in CLASS_TARGETS):
            shown = name if isinstance(name, str) and len(name) <= 64 and name.isprintable() else ""
            raise InvalidRequestError(
                "targets must name resources a sync copies or classes ("
                + ", ".join(CLASS_TARGETS)
                + ")"
                + (f"; {shown} is neither" if shown else "")
            )
        checked[name] = _check_target(seconds, f"the target of {name}")
    return MappingProxyType(checked)


@attrs.frozen
class FreshnessTargets:
    """Freshness targets per resource, the webhook sweep, and the planner's knobs.

    Args:
        targets: resource or class name -> seconds (overrides; see the module docstring).
        default: seconds for every resource neither it nor its class names in `targets`;
            None: the class defaults (`CLASS_TARGETS`).
        sweep: seconds between safety sweeps of a webhook-covered resource while the
            fleet's webhooks are on (the starting and the loosest period; a missed change
            halves it, down to the resource's own target).
        risk: 0 (the default): every target is a hard bound on the copy's age (each
            resource is polled every `target` seconds, as the quota affords). Above 0, an
            opt-in that trades lateness for calls: a quiet resource is polled every
            `P = target + ln(1 / (1 - risk)) / rate` seconds (at most `4 x` the target),
            `rate` its smoothed observed change rate. What `risk` bounds: if changes arrive
            as a Poisson stream at that rate, the chance that one period holds any change
            seen past its target (one made in its first `P - target` seconds) is `risk`. It
            does not bound the share of changes seen late: every change made in those
            seconds is late, by up to `P - target`, so a fraction `(P - target) / P` of the
            changes is, whatever the rate (half of them when `P` is two targets). A quiet
            resource has few periods holding any change, which is the bet; one that wakes
            up is seen late until its rate catches up. At most 0.5.
        backfill_share: of the background permits left in a quota window, the fraction
            polls leave to the first syncs (backfills) of new practices while any is
            pending.
        tick: seconds between the scheduler's ticks (a divisor of a minute).
    """

    targets: Mapping[str, float] = attrs.field(factory=dict, converter=_check_overrides)
    default: float | None = None
    sweep: float = DEFAULT_SWEEP
    risk: float = 0.0
    backfill_share: float = 0.25
    tick: int = DEFAULT_TICK

    def __attrs_post_init__(self) -> None:
        if self.default is not None:
            _check_target(self.default, "the default target")
        check_number(self.sweep, "sweep", low=60, high=MAX_TARGET, kind="a number of seconds")
        check_number(self.risk, "risk", low=0, high=0.5, kind="a probability")
        check_number(self.backfill_share, "backfill_share", low=0, high=0.9, kind="a fraction")
        if check_int(self.tick, "tick", low=1, high=60) not in TICKS:
            raise InvalidRequestError("tick must be one of " + ", ".join(map(str, TICKS)))

    def target(self, resource: str) -> float:
        """The target of `resource`, in seconds."""
        if resource in self.targets:
            return self.targets[resource]
        kind = CLASSES.get(resource, "reference")
        if kind in self.targets:
            return self.targets[kind]
        return self.default if self.default is not None else CLASS_TARGETS[kind]

    def sweep_floor(self, resource: str) -> float:
        """The tightest sweep period of `resource`: its target (no sweep beats a poll)."""
        return min(self.target(resource), self.sweep)

    @classmethod
    def parse(cls, spec: str, **options: Any) -> FreshnessTargets:
        """Targets from the CLI's form `appointments=5m,activity=30m,default=1d` (`on`:
        the class defaults).

        Raises `InvalidRequestError` naming the entry it cannot read (an unknown resource
        with the nearest names). `options`: the other fields (`sweep=...`).
        """
        from .._cli_args import check_names, parse_duration

        if not isinstance(spec, str) or not 0 < len(spec) <= _MAX_SPEC:
            raise InvalidRequestError("--freshness must be NAME=DURATION[,NAME=DURATION...]")
        targets: dict[str, float] = {}
        default: float | None = None
        if spec.strip() == "on":
            return cls(**options)
        known = (*CLASSES, *CLASS_TARGETS, "default")
        for entry in spec.split(","):
            name, sep, text = entry.strip().partition("=")
            name = name.strip()
            if not sep or not name:
                raise InvalidRequestError(
                    "--freshness must be NAME=DURATION[,NAME=DURATION...] (NAME: a resource, "
                    "a class or default)"
                )
            try:
                check_names([name], known, flag="--freshness", what="a resource or class")
            except ValueError as exc:
                raise InvalidRequestError(str(exc)) from None
            try:
                seconds = parse_duration(text, low=MIN_TARGET, high=MAX_TARGET)
            except ValueError as exc:
                raise InvalidRequestError(f"--freshness {name}: {exc}") from None
            if name in targets or (name == "default" and default is not None):
                raise InvalidRequestError(f"--freshness names {name} twice")
            if name == "default":
                default = seconds
            else:
                targets[name] = seconds
        return cls(targets, default=default, **options)
