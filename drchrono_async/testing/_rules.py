"""What single endpoints of the emulator do beyond the generic REST behaviour.

The generic list/get/create/update/delete in `_api.py` serve every endpoint from the table;
an endpoint whose live counterpart has rules of its own (appointments refuse overlaps,
patients get a chart id) registers a `Rules` here, keyed by the endpoint's name. Nothing
else in the emulator branches on an endpoint's name.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from typing import Any

from ._store import Row, Table
from ._wire import parse_ts

__all__ = ["RULES", "Rules", "rules_for"]

Predicate = Callable[[Row], bool]
Tables = Mapping[str, Table]


class Rules:
    """The hooks, each a no-op by default."""

    # Required fields that may be sent as null (the rest answer "This field may not be null.").
    nullable: frozenset[str] = frozenset()
    # A create answers the verbose keys too, without `verbose=true`.
    verbose_create_answer = False

    def check(self, item: Mapping[str, Any], errors: dict[str, list[str]]) -> None:
        """A create or replace: add field errors beyond the table's required fields."""

    def new_row(self, record: dict[str, Any], key: int, stamp: str, tables: Tables) -> None:
        """A new record, defaults filled: set what the server derives."""

    def changed(self, record: dict[str, Any], stamp: str) -> None:
        """An updated record (merged): set what the server derives."""

    def conflict(
        self, table: Table, record: Mapping[str, Any], exclude: int | None, sent: set[str]
    ) -> Any:
        """The 409 body when the write would conflict with another record, else None."""
        return None

    def filter(self, name: str, raw: str) -> Predicate | None:
        """A filter the endpoint reads its own way, or None for the generic reading."""
        return None

    # A second time `since` selects on (the emulator's model of `extended_updated_at`).
    since_also: str | None = None


class AppointmentRules(Rules):
    """Overlaps in one exam room are refused; breaks are appointments without a patient."""

    nullable = frozenset({"patient"})
    # `extended_updated_at` moves when vitals or custom vitals change without the
    # appointment itself: the emulator lists such an appointment for a `since` after it.
    since_also = "extended_updated_at"
    # A live POST answer carries clinical_note, custom_vitals, extended_updated_at, reminders,
    # status_transitions and vitals (tests/golden/appointment.json, from a public capture).
    verbose_create_answer = True
    PLACE = frozenset({"scheduled_time", "duration", "doctor", "office", "exam_room"})

    def check(self, item: Mapping[str, Any], errors: dict[str, list[str]]) -> None:
        if "duration" not in item and not item.get("profile"):
            errors.setdefault("duration", ["This field is required."])

    def new_row(self, record: dict[str, Any], key: int, stamp: str, tables: Tables) -> None:
        record["appt_is_break"] = record.get("patient") is None
        record["extended_updated_at"] = stamp
        record.setdefault("status", "")
        if record.get("duration") is None and record.get("profile"):
            profile = tables["appointment_profiles"].rows.get(int(record["profile"]))
            record["duration"] = profile.data.get("duration", 30) if profile else 30

    def changed(self, record: dict[str, Any], stamp: str) -> None:
        record["appt_is_break"] = record.get("patient") is None
        record["extended_updated_at"] = stamp

    def conflict(
        self, table: Table, record: Mapping[str, Any], exclude: int | None, sent: set[str]
    ) -> Any:
        if exclude is not None and not self.PLACE & sent:
            return None  # an update that does not move the appointment
        return _overlap(table, record, exclude)


class PatientRules(Rules):
    """A chart id from the name, and active unless said otherwise."""

    def new_row(self, record: dict[str, Any], key: int, stamp: str, tables: Tables) -> None:
        if not record.get("chart_id"):
            last = str(record.get("last_name") or "X")[:4].upper()
            first = str(record.get("first_name") or "X")[:2].upper()
            record["chart_id"] = f"{last}{first}{key:06d}"
        record["patient_status"] = record.get("patient_status") or "A"


class InsuranceRules(Rules):
    """`term` searches the payer's name, id and state."""

    def filter(self, name: str, raw: str) -> Predicate | None:
        if name != "term":
            return None
        needle = raw.lower()
        return lambda row: any(
            needle in str(row.get(k) or "").lower() for k in ("payer_name", "payer_id", "state")
        )


RULES: dict[str, Rules] = {
    "appointments": AppointmentRules(),
    "patients": PatientRules(),
    "insurances": InsuranceRules(),
}
_GENERIC = Rules()


def rules_for(endpoint_name: str) -> Rules:
    """The rules of an endpoint (the no-op rules when it has none of its own)."""
    return RULES.get(endpoint_name, _GENERIC)


def _overlap(table: Table, appt: Mapping[str, Any], exclude: int | None) -> Any:
    """The conflict body when `appt` overlaps a live appointment in the same exam room."""
    if appt.get("allow_overlapping"):
        return None
    start = parse_ts(str(appt.get("scheduled_time")))
    if start is None:
        return None
    end = start + dt.timedelta(minutes=int(appt.get("duration") or 0))
    lo = (start - dt.timedelta(days=1)).isoformat(timespec="seconds")
    hi = end.isoformat(timespec="seconds")
    doctor, office, room = appt.get("doctor"), appt.get("office"), appt.get("exam_room")
    for other in table.rows.values():
        d = other.data
        when = d["scheduled_time"]
        if not (lo <= when < hi) or other.key == exclude or d.get("deleted_flag"):
            continue
        if d["doctor"] != doctor or d["office"] != office or d["exam_room"] != room:
            continue
        other_start = dt.datetime.fromisoformat(when)
        other_end = other_start + dt.timedelta(minutes=int(d.get("duration") or 0))
        if other_start < end and start < other_end:
            return {
                "non_field_errors": [
                    f"This appointment overlaps with appointment {d['id']} in exam room "
                    f"{room}. Set allow_overlapping to book it anyway."
                ]
            }
    return None
