"""A practice's day, continuously: staff changes drawn as Poisson processes at realistic rates.

`Simulation(emulator, ["small", "large", ...])` gives practice i of the emulator the rates of
`RATES[profile]` (or a mapping of its own), draws every change of a run ahead of time from the
seed (`plan`), and `run` makes each one at its time on the emulator's clock through
`Activity.act` (so each is stamped, and raises its webhook, as a client's write would), and
records when it was made, which record and which version (`Change`): what a benchmark measures
staleness from. `scale` runs the day faster: at `scale=100` a simulated hour takes 36 clock
seconds.

The rates, per practice and per day (24 hours, evenly: a Poisson process of constant rate; a
real clinic's day peaks in office hours, which only bunches the same counts):

| per day | small (1 doctor) | medium (3 doctors) | large (10 doctors) |
|---|---:|---:|---:|
| appointments created / changed | 16 / 32 | 48 / 96 | 160 / 320 |
| patients created / changed | 2 / 4 | 6 / 12 | 20 / 40 |
| problems created / changed | 1 / 2 | 3 / 6 | 10 / 20 |
| medications created / changed | 2 / 3 | 6 / 9 | 20 / 30 |
| allergies created / changed | 0.5 / 0.5 | 1.5 / 1.5 | 5 / 5 |
| offices, doctors, users changed (each) | 1 a month | 1 a fortnight | 1 a week |
| fee schedules changed | 1 a fortnight | 1 a week | 2 a week |

Why: a doctor sees about 16 patients a day; each visit is booked once and changed about twice
(confirmed, checked in or completed); one visit in eight brings a new patient, one in four a
demographic change; a clinical list (problems, medications, allergies) changes at a few
visits a day per doctor; reference data (offices,
providers, users, prices) changes in an administrator's session, rarely.
"""

from __future__ import annotations

import heapq
import random
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING

import attrs

from .._checks import check_number
from ..errors import DrChronoError, InvalidRequestError
from ._activity import CREATABLE, EDITABLE

if TYPE_CHECKING:
    from ._emulator import Emulator

__all__ = ["DAY", "RATES", "Change", "PlannedChange", "Rate", "Simulation"]

DAY = 86_400.0
_MAX_PLANNED = 5_000_000  # changes one plan may hold: memory, not realism
_MONTH, _FORTNIGHT, _WEEK = 1 / 30, 1 / 14, 1 / 7


@attrs.frozen
class Rate:
    """Records created and changed per day (expected counts of a Poisson process)."""

    creates: float = 0.0
    changes: float = 0.0


def _profile(visits: float, clinical: float, reference: float, fees: float) -> dict[str, Rate]:
    """`visits` booked a day (each changed twice), clinical lists changed at `clinical`
    times the small practice's pace, reference records changed `reference` times a day."""
    return {
        "appointments": Rate(visits, 2 * visits),
        "patients": Rate(visits / 8, visits / 4),
        "problems": Rate(clinical, 2 * clinical),
        "medications": Rate(2 * clinical, 3 * clinical),
        "allergies": Rate(clinical / 2, clinical / 2),
        "offices": Rate(0, reference),
        "doctors": Rate(0, reference),
        "users": Rate(0, reference),
        "fee_schedules": Rate(0, fees),
    }


RATES: Mapping[str, Mapping[str, Rate]] = {
    "small": _profile(16, 1, _MONTH, _FORTNIGHT),
    "medium": _profile(48, 3, _FORTNIGHT, _WEEK),
    "large": _profile(160, 10, _WEEK, 2 * _WEEK),
}


@attrs.frozen
class PlannedChange:
    """A change a plan holds: `at` simulated seconds after the run's start."""

    at: float
    practice: int
    resource: str
    kind: str  # "create" or "change"


@attrs.frozen
class Change:
    """A change made: when (the emulator clock's time just before it), where, which record,
    and for a change the value written to the resource's `EDITABLE` field."""

    at: float
    practice: int
    resource: str
    kind: str
    id: str
    marker: str | None


class Simulation:
    """Staff work on every practice of an emulator at `RATES` (see the module's table).

    Args:
        emulator: whose practices work (practice i gets `profiles[i]`).
        profiles: per practice, a name of `RATES` or a mapping of resource to `Rate`.
        seed: the same seed draws the same plan (each practice, resource and kind from a
            generator of its own, so adding a practice changes no other's changes).
        scale: simulated seconds per clock second (100: an hour in 36 s).
        resources: only these resources work (default: every one a profile names).
    """

    def __init__(
        self,
        emulator: Emulator,
        profiles: Sequence[str | Mapping[str, Rate]],
        *,
        seed: int | str = 0,
        scale: float = 1.0,
        resources: Iterable[str] | None = None,
    ) -> None:
        self._emu = emulator
        if isinstance(profiles, (str, bytes)) or not isinstance(profiles, Sequence):
            raise InvalidRequestError("profiles must be a list, one profile per practice")
        if not 1 <= len(profiles) <= len(emulator.practices):
            raise InvalidRequestError("profiles must have one entry per practice (or fewer)")
        self._rates = [_rates_of(p) for p in profiles]
        self._seed = seed
        self.scale = check_number(scale, "scale", low=0, low_open=True, high=1e6)
        self._only = None if resources is None else frozenset(resources)
        if self._only is not None and not self._only <= set(EDITABLE):
            raise InvalidRequestError("resources must be names the activity can change")
        self.changes: list[Change] = []
        self.failed = 0  # changes the emulator refused (counted, never raised)

    def rates(self, practice: int) -> Mapping[str, Rate]:
        """Practice `practice`'s rates (per day), as drawn (filtered by `resources`)."""
        return {
            r: rate
            for r, rate in self._rates[practice].items()
            if self._only is None or r in self._only
        }

    def plan(self, duration: float) -> list[PlannedChange]:
        """Every change of the first `duration` simulated seconds, by time."""
        duration = check_number(duration, "duration", low=0, high=366 * DAY)
        streams = []
        for practice in range(len(self._rates)):
            for resource, rate in self.rates(practice).items():
                for kind, per_day in (("create", rate.creates), ("change", rate.changes)):
                    if per_day > 0:
                        streams.append(self._stream(practice, resource, kind, per_day, duration))
        planned = list(heapq.merge(*streams, key=lambda c: c.at))
        if len(planned) > _MAX_PLANNED:
            raise InvalidRequestError(f"a plan holds at most {_MAX_PLANNED} changes")
        return planned

    def _stream(
        self, practice: int, resource: str, kind: str, per_day: float, duration: float
    ) -> list[PlannedChange]:
        rng = random.Random(f"simulation:{self._seed}:{practice}:{resource}:{kind}")
        rate = per_day / DAY
        at, out = 0.0, list[PlannedChange]()
        while True:
            at += rng.expovariate(rate)
            if at >= duration or len(out) > _MAX_PLANNED:
                return out
            out.append(PlannedChange(at, practice, resource, kind))

    async def run(self, duration: float) -> list[Change]:
        """Make the changes of `plan(duration)`, each at its (scaled) time from now on the
        emulator's clock; returns those made (also appended to `changes`). Cancel it to
        stop early: what was made stays recorded."""
        clock = self._emu.clock
        start = clock.now()
        made: list[Change] = []
        for planned in self.plan(duration):
            wait = start + planned.at / self.scale - clock.now()
            if wait > 0:
                await clock.sleep(wait)
            activity = self._emu.practice(planned.practice).activity
            at = clock.now()
            try:
                act = await activity.act(planned.resource, planned.kind)
            except DrChronoError:  # e.g. nothing left to change: counted, the run goes on
                self.failed += 1
                continue
            change = Change(at, planned.practice, act.resource, act.kind, act.id, act.marker)
            made.append(change)
            self.changes.append(change)
        return made

    def expected(self, duration: float) -> dict[str, float]:
        """Expected changes (creates and changes) per resource over `duration` simulated
        seconds, over every practice."""
        out: dict[str, float] = {}
        for practice in range(len(self._rates)):
            for resource, rate in self.rates(practice).items():
                out[resource] = out.get(resource, 0.0) + (
                    (rate.creates + rate.changes) * duration / DAY
                )
        return out

    def __repr__(self) -> str:
        return f"Simulation(practices={len(self._rates)}, scale={self.scale:g})"


def _rates_of(profile: str | Mapping[str, Rate]) -> dict[str, Rate]:
    if isinstance(profile, str):
        found = RATES.get(profile)
        if found is None:
            raise InvalidRequestError("a profile is one of " + ", ".join(RATES) + " or a mapping")
        return dict(found)
    if not isinstance(profile, Mapping):
        raise InvalidRequestError("a profile is a name of RATES or a mapping of Rate")
    out = {}
    for resource, rate in profile.items():
        if resource not in EDITABLE or not isinstance(rate, Rate):
            raise InvalidRequestError("a profile maps resources the activity changes to a Rate")
        for value in (rate.creates, rate.changes):
            check_number(value, "a rate", low=0, high=1e6, kind="changes per day")
        if rate.creates and resource not in CREATABLE:
            raise InvalidRequestError("only appointments and clinical lists are created")
        out[resource] = rate
    return out
