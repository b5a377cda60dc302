"""Scheduling records: appointments, their profiles, templates, vitals and fields."""

import datetime as dt
from collections.abc import Sequence

import attrs

from ._base import (
    ALWAYS,
    ID,
    READ_ONLY,
    WRITABLE,
    Codes,
    JSONObject,
    JSONObjectOrObjects,
    JSONObjects,
    Record,
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

    doctor: int | None = attrs.field(default=None, metadata=WRITABLE)
    duration: int | None = attrs.field(default=None, metadata=WRITABLE)
    exam_room: int | None = attrs.field(default=None, metadata=WRITABLE)
    office: int | None = attrs.field(default=None, metadata=WRITABLE)
    patient: int | None = attrs.field(default=None, metadata=WRITABLE)
    scheduled_time: dt.datetime | None = attrs.field(default=None, metadata=WRITABLE)
    color: str | None = attrs.field(default=None, metadata=WRITABLE)
    custom_vitals: JSONObjects | None = attrs.field(default=None, metadata=WRITABLE)
    notes: str | None = attrs.field(default=None, metadata=WRITABLE)
    profile: int | None = attrs.field(default=None, metadata=WRITABLE)
    reason: str | None = attrs.field(default=None, metadata=WRITABLE)
    reminder_profile: int | None = attrs.field(default=None, metadata=WRITABLE)
    status: str | None = attrs.field(default=None, metadata=WRITABLE)
    status_transitions: JSONObjectOrObjects | None = attrs.field(default=None, metadata=READ_ONLY)
    vitals: JSONObject | None = attrs.field(default=None, metadata=WRITABLE)
    supervising_provider: int | None = attrs.field(default=None, metadata=WRITABLE)
    billing_status: str | None = attrs.field(default=None, metadata=WRITABLE)
    billing_provider: int | None = attrs.field(default=None, metadata=WRITABLE)
    billing_notes: JSONObjects | None = attrs.field(default=None, metadata=READ_ONLY)
    clinical_note: JSONObject | None = attrs.field(default=None, metadata=READ_ONLY)
    icd10_codes: Codes | None = attrs.field(default=None, metadata=READ_ONLY)
    icd9_codes: Codes | None = attrs.field(default=None, metadata=READ_ONLY)
    id: str | None = attrs.field(default=None, metadata=ID)
    reminders: JSONObjects | None = attrs.field(default=None, metadata=READ_ONLY)
    created_at: dt.datetime | None = attrs.field(default=None, metadata=READ_ONLY)
    updated_at: dt.datetime | None = attrs.field(default=None, metadata=READ_ONLY)
    first_billed_date: dt.datetime | None = attrs.field(default=None, metadata=READ_ONLY)
    last_billed_date: dt.datetime | None = attrs.field(default=None, metadata=READ_ONLY)
    deleted_flag: bool | None = attrs.field(default=None, metadata=READ_ONLY)
    primary_insurer_payer_id: str | None = attrs.field(default=None, metadata=READ_ONLY)
    primary_insurer_name: str | None = attrs.field(default=None, metadata=READ_ONLY)
    primary_insurance_id_number: str | None = attrs.field(default=None, metadata=READ_ONLY)
    secondary_insurer_payer_id: str | None = attrs.field(default=None, metadata=READ_ONLY)
    secondary_insurer_name: str | None = attrs.field(default=None, metadata=READ_ONLY)
    secondary_insurance_id_number: str | None = attrs.field(default=None, metadata=READ_ONLY)
    allow_overlapping: bool | None = attrs.field(default=None, metadata=WRITABLE)
    appt_is_break: bool | None = attrs.field(default=None, metadata=READ_ONLY)
    cloned_from: int | None = attrs.field(default=None, metadata=READ_ONLY)
    extended_updated_at: dt.datetime | None = attrs.field(default=None, metadata=READ_ONLY)
    recurring_appointment: bool | None = attrs.field(default=None, metadata=READ_ONLY)
    base_recurring_appointment: str | None = attrs.field(default=None, metadata=READ_ONLY)
    is_walk_in: bool | None = attrs.field(default=None, metadata=WRITABLE)
    is_virtual_base: bool | None = attrs.field(default=None, metadata=READ_ONLY)
    custom_fields: JSONObjects | None = attrs.field(default=None, metadata=WRITABLE)


@attrs.frozen(kw_only=True)
class CustomVital(Record):
    """A custom vital type defined by a doctor or practice group. `/api/custom_vitals`."""

    archived: bool = attrs.field(metadata=ALWAYS)
    data_type: str = attrs.field(metadata=ALWAYS)
    doctor: int = attrs.field(metadata=ALWAYS)
    id: int = attrs.field(metadata=ALWAYS)
    is_fraction_field: bool = attrs.field(metadata=ALWAYS)
    name: str = attrs.field(metadata=ALWAYS)
    allowed_values: Sequence[str] | None = attrs.field(default=None, metadata=READ_ONLY)
    description: str | None = attrs.field(default=None, metadata=READ_ONLY)
    fraction_delimiter: str | None = attrs.field(default=None, metadata=READ_ONLY)
    unit: str | None = attrs.field(default=None, metadata=READ_ONLY)


@attrs.frozen(kw_only=True)
class AppointmentProfile(Record):
    """A preset of color, duration and reason for new appointments. `/api/appointment_profiles`."""

    color: str | None = attrs.field(default=None, metadata=WRITABLE)
    duration: int | None = attrs.field(default=None, metadata=WRITABLE)
    name: str | None = attrs.field(default=None, metadata=WRITABLE)
    online_scheduling: bool | None = attrs.field(default=None, metadata=WRITABLE)
    reason: str | None = attrs.field(default=None, metadata=WRITABLE)
    sort_order: int | None = attrs.field(default=None, metadata=WRITABLE)
    archived: bool | None = attrs.field(default=None, metadata=READ_ONLY)
    id: int | None = attrs.field(default=None, metadata=ID)


@attrs.frozen(kw_only=True)
class AppointmentTemplate(Record):
    """A recurring block of the calendar bound to a profile. `/api/appointment_templates`."""

    duration: int | None = attrs.field(default=None, metadata=WRITABLE)
    exam_room: int | None = attrs.field(default=None, metadata=WRITABLE)
    office: int | None = attrs.field(default=None, metadata=WRITABLE)
    profile: int | None = attrs.field(default=None, metadata=WRITABLE)
    scheduled_time: dt.time | None = attrs.field(default=None, metadata=WRITABLE)
    week_days: Sequence[int] | None = attrs.field(default=None, metadata=WRITABLE)
    archived: bool | None = attrs.field(default=None, metadata=READ_ONLY)
    id: int | None = attrs.field(default=None, metadata=ID)
    open_slots: JSONObjects | None = attrs.field(default=None, metadata=READ_ONLY)


@attrs.frozen(kw_only=True)
class CustomAppointmentField(Record):
    """A custom field that appointments of a doctor may carry. `/api/custom_appointment_fields`."""

    archived: bool | None = attrs.field(default=None, metadata=READ_ONLY)
    doctor: int | None = attrs.field(default=None, metadata=WRITABLE)
    field_name: str | None = attrs.field(default=None, metadata=WRITABLE)
    field_desc: str | None = attrs.field(default=None, metadata=WRITABLE)
    id: int | None = attrs.field(default=None, metadata=ID)
    order: int | None = attrs.field(default=None, metadata=READ_ONLY)
    created_at: dt.datetime | None = attrs.field(default=None, metadata=READ_ONLY)
    updated_at: dt.datetime | None = attrs.field(default=None, metadata=READ_ONLY)


@attrs.frozen(kw_only=True)
class ReminderProfile(Record):
    """A named set of appointment reminders. `/api/reminder_profiles`."""

    doctor: int | None = attrs.field(default=None, metadata=WRITABLE)
    name: str | None = attrs.field(default=None, metadata=WRITABLE)
    reminders: JSONObjects | None = attrs.field(default=None, metadata=WRITABLE)
    id: int | None = attrs.field(default=None, metadata=ID)
