"""What some endpoints do beyond generic CRUD, registered per endpoint.

`_api` serves every endpoint from the table in `drchrono_async._endpoints`; where the live API
does more (appointments refuse overlaps, patients get chart ids, offices add exam rooms), the
endpoint registers hooks in `BEHAVIOURS` instead of the generic code branching on names.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

import attrs

from drchrono_async._endpoints import Action, Endpoint

from ._schema import TRUE
from ._store import Row, Table
from ._wire import EmuRequest, EmuResponse, json_response, parse_ts

if TYPE_CHECKING:
    from ._api import Api

__all__ = ["BEHAVIOURS", "ActionCall", "Behaviour", "behaviour_of", "default_action"]


@attrs.frozen
class ActionCall:
    """One call of an action, as its handler sees it. `row` is None for actions without `{id}`."""

    api: Api
    endpoint: Endpoint
    action: Action
    row: Row | None
    body: Mapping[str, Any]
    req: EmuRequest
    user_id: int


ActionHandler = Callable[[ActionCall], EmuResponse]


@attrs.frozen
class Behaviour:
    """Hooks of one endpoint; each is optional.

    - `nullable`: required fields a write may nonetheless set to null.
    - `validate(item, errors)`: more checks of a create or full update; adds to `errors`.
    - `complete(api, record, key)`: fills a new record before it is stored.
    - `refresh(api, record)`: updates a changed record's derived fields before it is stored.
    - `conflict(table, record, exclude)`: a 409 body when the record may not be stored; run on
      create, and on update when the update touches one of `conflict_fields`.
    - `actions`: handlers by action name (others get `default_action`).
    """

    nullable: frozenset[str] = frozenset()
    validate: Callable[[Mapping[str, Any], dict[str, list[str]]], None] | None = None
    complete: Callable[[Api, dict[str, Any], int], None] | None = None
    refresh: Callable[[Api, dict[str, Any]], None] | None = None
    conflict: Callable[[Table, Mapping[str, Any], int | None], Any] | None = None
    conflict_fields: frozenset[str] = frozenset()
    actions: Mapping[str, ActionHandler] = attrs.field(factory=dict)


def default_action(call: ActionCall) -> EmuResponse:
    """An action without a handler answers what its table entry says it returns."""
    action = call.action
    if action.many:
        return json_response(200, [])
    if action.returns is None:
        return EmuResponse(204, b"", None)
    if call.row is not None:
        return EmuResponse(200, call.row.encoded(False, call.endpoint.verbose_keys))
    return json_response(200, {})


# --- appointments -----------------------------------------------------------------------------


def _appointment_validate(item: Mapping[str, Any], errors: dict[str, list[str]]) -> None:
    # The duration may come from the appointment profile instead.
    if "duration" not in item and not item.get("profile"):
        errors.setdefault("duration", ["This field is required."])


def _appointment_complete(api: Api, record: dict[str, Any], key: int) -> None:
    record["appt_is_break"] = record.get("patient") is None
    record["extended_updated_at"] = api.stamp()
    record.setdefault("status", "")
    if record.get("duration") is None and record.get("profile"):
        profile = api.tables["appointment_profiles"].rows.get(int(record["profile"]))
        record["duration"] = profile.data.get("duration", 30) if profile else 30


def _appointment_refresh(api: Api, record: dict[str, Any]) -> None:
    record["appt_is_break"] = record.get("patient") is None
    record["extended_updated_at"] = api.stamp()


def _appointment_overlap(table: Table, appt: Mapping[str, Any], exclude: int | None) -> Any:
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


# --- patients ---------------------------------------------------------------------------------


def _patient_complete(api: Api, record: dict[str, Any], key: int) -> None:
    if not record.get("chart_id"):
        last = str(record.get("last_name") or "X")[:4].upper()
        first = str(record.get("first_name") or "X")[:2].upper()
        record["chart_id"] = f"{last}{first}{key:06d}"
    record["patient_status"] = record.get("patient_status") or "A"


def _patient_export(call: ActionCall) -> EmuResponse:
    """`ccda` and `qrda1`: a small XML document about the patient."""
    row = call.row
    name = f"{row.get('first_name')} {row.get('last_name')}" if row else ""
    key = row.key if row else ""
    xml = (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f'<ClinicalDocument kind="{call.action.name}"><patient id="{key}">'
        f"<name>{name}</name></patient></ClinicalDocument>\n"
    )
    return EmuResponse(200, xml.encode(), "application/xml")


# --- other actions ----------------------------------------------------------------------------


def _current_user(call: ActionCall) -> EmuResponse:
    """`/api/users/current` redirects to the signed-in user's own record."""
    location = f"{call.req.origin}/api/users/{call.user_id}"
    return EmuResponse(302, b"", None, [("Location", location)])


def _add_exam_room(call: ActionCall) -> EmuResponse:
    row = call.row
    assert row is not None  # the action's path has an {id}
    rooms = list(row.data.get("exam_rooms") or [])
    rooms.append(
        {
            "index": len(rooms) + 1,
            "name": str(call.body["name"]),
            "online_scheduling": str(call.body.get("online_scheduling", "")).lower() in TRUE,
        }
    )
    call.api.save(call.endpoint, row, {**row.data, "exam_rooms": rooms})
    return EmuResponse(200, row.encoded(False, call.endpoint.verbose_keys))


def _append_to_pharmacy_note(call: ActionCall) -> EmuResponse:
    row = call.row
    assert row is not None  # the action's path has an {id}
    note = str(row.data.get("pharmacy_note") or "")
    text = str(call.body["text"])
    note = f"{note}\n\n{text}" if note else text
    call.api.save(call.endpoint, row, {**row.data, "pharmacy_note": note})
    return json_response(200, {"pharmacy_note": note})


BEHAVIOURS: Mapping[str, Behaviour] = {
    "appointments": Behaviour(
        nullable=frozenset({"patient"}),  # a break has no patient
        validate=_appointment_validate,
        complete=_appointment_complete,
        refresh=_appointment_refresh,
        conflict=_appointment_overlap,
        conflict_fields=frozenset({"scheduled_time", "duration", "doctor", "office", "exam_room"}),
    ),
    "patients": Behaviour(
        complete=_patient_complete,
        actions={"ccda": _patient_export, "qrda1": _patient_export},
    ),
    "users": Behaviour(actions={"current": _current_user}),
    "offices": Behaviour(actions={"add_exam_room": _add_exam_room}),
    "medications": Behaviour(actions={"append_to_pharmacy_note": _append_to_pharmacy_note}),
}
_PLAIN = Behaviour()


def behaviour_of(endpoint: Endpoint) -> Behaviour:
    """The endpoint's hooks (none for most endpoints)."""
    return BEHAVIOURS.get(endpoint.name, _PLAIN)
