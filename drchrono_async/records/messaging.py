"""Messaging records: doctor messages, patient messages, eRx messages, comm logs."""

import datetime as dt
from decimal import Decimal

import attrs

from ._base import ALWAYS, JSONObject, JSONObjects, Record, key, read_only, writable

__all__ = ["CommLog", "Message", "PatientMessage", "PrescriptionMessage"]


@attrs.frozen(kw_only=True)
class Message(Record):
    """A message in a doctor's inbox. `/api/messages`."""

    doctor: int | None = writable()
    title: str | None = writable()
    attachment: str | None = writable()
    owner: int | None = writable()
    patient: int | None = writable()
    responsible_user: int | None = writable()
    type: str | None = writable()
    archived: bool | None = read_only()
    id: int | None = key()
    read: bool | None = read_only()
    # The reference prints "boolean" for these two timestamps (a typo).
    received_at: dt.datetime | None = read_only()
    updated_at: dt.datetime | None = read_only()
    starred: bool | None = read_only()
    workflow_step: str | None = read_only()
    message_notes: JSONObjects | None = writable()


@attrs.frozen(kw_only=True)
class PatientMessage(Record):
    """A message sent to a patient through onpatient. `/api/patient_messages`."""

    attachments: JSONObjects | None = writable()
    body: str | None = writable()
    created_at: dt.datetime | None = read_only()
    doctor: int | None = writable()
    id: int | None = key()
    message: int | None = writable()
    patient: int | None = writable()
    subject: str | None = writable()
    updated_at: dt.datetime | None = read_only()


@attrs.frozen(kw_only=True)
class PrescriptionMessage(Record):
    """An electronic prescription message. `/api/prescription_messages`."""

    id: int = attrs.field(metadata=ALWAYS)
    doctor: int = attrs.field(metadata=ALWAYS)
    message_direction: str = attrs.field(metadata=ALWAYS)
    message_type: str = attrs.field(metadata=ALWAYS)
    message_status: str = attrs.field(metadata=ALWAYS)
    parent_message_id: int | None = read_only()
    patient: int | None = read_only()
    pharmacy: str = attrs.field(metadata=ALWAYS)
    created_at: dt.datetime = attrs.field(metadata=ALWAYS)  # printed "date"; `since` filters it
    json_data: JSONObject | None = read_only()


@attrs.frozen(kw_only=True)
class CommLog(Record):
    """A communication log entry for a patient. `/api/comm_logs`."""

    appointment: int | None = writable()
    archived: bool | None = read_only()
    author: int | None = read_only()
    cash_charged: Decimal | None = writable()
    created_at: dt.datetime | None = read_only()
    doctor: int | None = writable()
    duration: int | None = writable()
    id: int | None = key()
    message: str | None = writable()
    patient: int | None = writable()
    scheduled_time: dt.datetime | None = writable()
    title: str | None = writable()
    type: str | None = writable()
    updated_at: dt.datetime | None = read_only()
