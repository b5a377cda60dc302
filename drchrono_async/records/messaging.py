"""Messaging records: doctor messages, patient messages, eRx messages, comm logs."""

import datetime as dt
from decimal import Decimal

import attrs

from ._base import ALWAYS, ID, READ_ONLY, WRITABLE, JSONObject, JSONObjects, Record

__all__ = ["CommLog", "Message", "PatientMessage", "PrescriptionMessage"]


@attrs.frozen(kw_only=True)
class Message(Record):
    """A message in a doctor's inbox. `/api/messages`."""

    doctor: int | None = attrs.field(default=None, metadata=WRITABLE)
    title: str | None = attrs.field(default=None, metadata=WRITABLE)
    attachment: str | None = attrs.field(default=None, metadata=WRITABLE)
    owner: int | None = attrs.field(default=None, metadata=WRITABLE)
    patient: int | None = attrs.field(default=None, metadata=WRITABLE)
    responsible_user: int | None = attrs.field(default=None, metadata=WRITABLE)
    type: str | None = attrs.field(default=None, metadata=WRITABLE)
    archived: bool | None = attrs.field(default=None, metadata=READ_ONLY)
    id: int | None = attrs.field(default=None, metadata=ID)
    read: bool | None = attrs.field(default=None, metadata=READ_ONLY)
    # The reference prints "boolean" for these two timestamps (a typo).
    received_at: dt.datetime | None = attrs.field(default=None, metadata=READ_ONLY)
    updated_at: dt.datetime | None = attrs.field(default=None, metadata=READ_ONLY)
    starred: bool | None = attrs.field(default=None, metadata=READ_ONLY)
    workflow_step: str | None = attrs.field(default=None, metadata=READ_ONLY)
    message_notes: JSONObjects | None = attrs.field(default=None, metadata=WRITABLE)


@attrs.frozen(kw_only=True)
class PatientMessage(Record):
    """A message sent to a patient through onpatient. `/api/patient_messages`."""

    attachments: JSONObjects | None = attrs.field(default=None, metadata=WRITABLE)
    body: str | None = attrs.field(default=None, metadata=WRITABLE)
    created_at: dt.datetime | None = attrs.field(default=None, metadata=READ_ONLY)
    doctor: int | None = attrs.field(default=None, metadata=WRITABLE)
    id: int | None = attrs.field(default=None, metadata=ID)
    message: int | None = attrs.field(default=None, metadata=WRITABLE)
    patient: int | None = attrs.field(default=None, metadata=WRITABLE)
    subject: str | None = attrs.field(default=None, metadata=WRITABLE)
    updated_at: dt.datetime | None = attrs.field(default=None, metadata=READ_ONLY)


@attrs.frozen(kw_only=True)
class PrescriptionMessage(Record):
    """An electronic prescription message. `/api/prescription_messages`."""

    id: int = attrs.field(metadata=ALWAYS)
    doctor: int = attrs.field(metadata=ALWAYS)
    message_direction: str = attrs.field(metadata=ALWAYS)
    message_type: str = attrs.field(metadata=ALWAYS)
    message_status: str = attrs.field(metadata=ALWAYS)
    parent_message_id: int | None = attrs.field(default=None, metadata=READ_ONLY)
    patient: int | None = attrs.field(default=None, metadata=READ_ONLY)
    pharmacy: str = attrs.field(metadata=ALWAYS)
    created_at: dt.datetime = attrs.field(metadata=ALWAYS)  # printed "date"; `since` filters it
    json_data: JSONObject | None = attrs.field(default=None, metadata=READ_ONLY)


@attrs.frozen(kw_only=True)
class CommLog(Record):
    """A communication log entry for a patient. `/api/comm_logs`."""

    appointment: int | None = attrs.field(default=None, metadata=WRITABLE)
    archived: bool | None = attrs.field(default=None, metadata=READ_ONLY)
    author: int | None = attrs.field(default=None, metadata=READ_ONLY)
    cash_charged: Decimal | None = attrs.field(default=None, metadata=WRITABLE)
    created_at: dt.datetime | None = attrs.field(default=None, metadata=READ_ONLY)
    doctor: int | None = attrs.field(default=None, metadata=WRITABLE)
    duration: int | None = attrs.field(default=None, metadata=WRITABLE)
    id: int | None = attrs.field(default=None, metadata=ID)
    message: str | None = attrs.field(default=None, metadata=WRITABLE)
    patient: int | None = attrs.field(default=None, metadata=WRITABLE)
    scheduled_time: dt.datetime | None = attrs.field(default=None, metadata=WRITABLE)
    title: str | None = attrs.field(default=None, metadata=WRITABLE)
    type: str | None = attrs.field(default=None, metadata=WRITABLE)
    updated_at: dt.datetime | None = attrs.field(default=None, metadata=READ_ONLY)
