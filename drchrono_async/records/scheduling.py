"""Scheduling records: appointments, their profiles, templates, vitals and fields."""

import datetime as dt
from collections.abc import Sequence

import attrs

from ._base import (
    ALWAYS,
    Codes,
    JSONObject,
    JSONObjectOrObjects,
    JSONObjects,
    Record,
    key,
    read_only,
    writable,
)

__all__ = [
    "Appointment",
    "AppointmentProfile",
    "AppointmentTemplate",
    "CustomAppointmentField",
    "CustomVital",
    "ReminderProfile",
]


@attrs.frozen(kw_only=True)
class Appointment(Record):
    """An appointment, or a break (no patient), on a doctor's calendar. `/api/appointments`.

    Where the live API departs from the reference, the fields follow the live API and still
    read the reference's shape:

    - `icd9_codes`, `icd10_codes`: arrays of strings (the reference prints a string); a
      comma-separated string is split (see `Codes`).
    - `status_transitions`: an array of transition objects (the reference prints one object);
      a lone object is read as a list of it (see `JSONObjectOrObjects`).
    - `base_recurring_appointment`: the id of an appointment, so a string like `id` (the
      reference prints an integer; an integer is read as its decimal string).
    - Live payloads carry keys the reference does not list (`first_edi_date`, `last_edi_date`,
      `ins1_status`, `ins2_status`, `payment_profile`, `resubmit_claim_original_id`,
      `is_telehealth`, `telehealth_url`, `created_by`, ...): they are kept in `extra`.
    """

    doctor: int | None = writable()
    duration: int | None = writable()
    exam_room: int | None = writable()
    office: int | None = writable()
    patient: int | None = writable()
    scheduled_time: dt.datetime | None = writable()
    color: str | None = writable()
    custom_vitals: JSONObjects | None = writable()
    notes: str | None = writable()
    profile: int | None = writable()
    reason: str | None = writable()
    reminder_profile: int | None = writable()
    status: str | None = writable()
    status_transitions: JSONObjectOrObjects | None = read_only()
    vitals: JSONObject | None = writable()
    supervising_provider: int | None = writable()
    billing_status: str | None = writable()
    billing_provider: int | None = writable()
    billing_notes: JSONObjects | None = read_only()
    clinical_note: JSONObject | None = read_only()
    icd10_codes: Codes | None = read_only()
    icd9_codes: Codes | None = read_only()
    id: str | None = key()
    reminders: JSONObjects | None = read_only()
    created_at: dt.datetime | None = read_only()
    updated_at: dt.datetime | None = read_only()
    first_billed_date: dt.datetime | None = read_only()
    last_billed_date: dt.datetime | None = read_only()
    deleted_flag: bool | None = read_only()
    primary_insurer_payer_id: str | None = read_only()
    primary_insurer_name: str | None = read_only()
    primary_insurance_id_number: str | None = read_only()
    secondary_insurer_payer_id: str | None = read_only()
    secondary_insurer_name: str | None = read_only()
    secondary_insurance_id_number: str | None = read_only()
    allow_overlapping: bool | None = writable()
    appt_is_break: bool | None = read_only()
    cloned_from: int | None = read_only()
    extended_updated_at: dt.datetime | None = read_only()
    recurring_appointment: bool | None = read_only()
    base_recurring_appointment: str | None = read_only()
    is_walk_in: bool | None = writable()
    is_virtual_base: bool | None = read_only()
    custom_fields: JSONObjects | None = writable()


@attrs.frozen(kw_only=True)
class CustomVital(Record):
    """A custom vital type defined by a doctor or practice group. `/api/custom_vitals`."""

    archived: bool = attrs.field(metadata=ALWAYS)
    data_type: str = attrs.field(metadata=ALWAYS)
    doctor: int = attrs.field(metadata=ALWAYS)
    id: int = attrs.field(metadata=ALWAYS)
    is_fraction_field: bool = attrs.field(metadata=ALWAYS)
    name: str = attrs.field(metadata=ALWAYS)
    allowed_values: Sequence[str] | None = read_only()
    description: str | None = read_only()
    fraction_delimiter: str | None = read_only()
    unit: str | None = read_only()


@attrs.frozen(kw_only=True)
class AppointmentProfile(Record):
    """A preset of color, duration and reason for new appointments. `/api/appointment_profiles`."""

    color: str | None = writable()
    duration: int | None = writable()
    name: str | None = writable()
    online_scheduling: bool | None = writable()
    reason: str | None = writable()
    sort_order: int | None = writable()
    archived: bool | None = read_only()
    id: int | None = key()


@attrs.frozen(kw_only=True)
class AppointmentTemplate(Record):
    """A recurring block of the calendar bound to a profile. `/api/appointment_templates`."""

    duration: int | None = writable()
    exam_room: int | None = writable()
    office: int | None = writable()
    profile: int | None = writable()
    scheduled_time: dt.time | None = writable()
    week_days: Sequence[int] | None = writable()
    archived: bool | None = read_only()
    id: int | None = key()
    open_slots: JSONObjects | None = read_only()


@attrs.frozen(kw_only=True)
class CustomAppointmentField(Record):
    """A custom field that appointments of a doctor may carry. `/api/custom_appointment_fields`."""

    archived: bool | None = read_only()
    doctor: int | None = writable()
    field_name: str | None = writable()
    field_desc: str | None = writable()
    id: int | None = key()
    order: int | None = read_only()
    created_at: dt.datetime | None = read_only()
    updated_at: dt.datetime | None = read_only()


@attrs.frozen(kw_only=True)
class ReminderProfile(Record):
    """A named set of appointment reminders. `/api/reminder_profiles`."""

    doctor: int | None = writable()
    name: str | None = writable()
    reminders: JSONObjects | None = writable()
    id: int | None = key()
