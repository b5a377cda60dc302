"""Patient records: demographics, flags, consent forms, documents, onpatient access."""

import datetime as dt
from collections.abc import Sequence

import attrs

from ._base import ALWAYS, ID, READ_ONLY, WRITABLE, JSONObject, JSONObjects, Record

__all__ = [
    "Amendment",
    "ConsentForm",
    "CustomDemographic",
    "Document",
    "OnpatientAccess",
    "Patient",
    "PatientFlagType",
    "PatientSummary",
]


@attrs.frozen(kw_only=True)
class Patient(Record):
    """A patient's demographics, insurances and flags. `/api/patients`."""

    auto_accident_insurance: JSONObject | None = attrs.field(default=None, metadata=WRITABLE)
    date_of_birth: dt.date | None = attrs.field(default=None, metadata=WRITABLE)
    doctor: int | None = attrs.field(default=None, metadata=WRITABLE)
    gender: str | None = attrs.field(default=None, metadata=WRITABLE)
    address: str | None = attrs.field(default=None, metadata=WRITABLE)
    cell_phone: str | None = attrs.field(default=None, metadata=WRITABLE)
    chart_id: str | None = attrs.field(default=None, metadata=WRITABLE)
    city: str | None = attrs.field(default=None, metadata=WRITABLE)
    created_at: dt.datetime | None = attrs.field(default=None, metadata=READ_ONLY)
    custom_demographics: JSONObjects | None = attrs.field(default=None, metadata=WRITABLE)
    default_pharmacy: str | None = attrs.field(default=None, metadata=WRITABLE)
    disable_sms_messages: bool | None = attrs.field(default=None, metadata=WRITABLE)
    email: str | None = attrs.field(default=None, metadata=WRITABLE)
    emergency_contact_name: str | None = attrs.field(default=None, metadata=WRITABLE)
    emergency_contact_phone: str | None = attrs.field(default=None, metadata=WRITABLE)
    emergency_contact_relation: str | None = attrs.field(default=None, metadata=WRITABLE)
    employer: str | None = attrs.field(default=None, metadata=WRITABLE)
    employer_address: str | None = attrs.field(default=None, metadata=WRITABLE)
    employer_city: str | None = attrs.field(default=None, metadata=WRITABLE)
    employer_state: str | None = attrs.field(default=None, metadata=WRITABLE)
    employer_zip_code: str | None = attrs.field(default=None, metadata=WRITABLE)
    ethnicity: str | None = attrs.field(default=None, metadata=WRITABLE)
    first_name: str | None = attrs.field(default=None, metadata=WRITABLE)
    home_phone: str | None = attrs.field(default=None, metadata=WRITABLE)
    id: int | None = attrs.field(default=None, metadata=ID)
    last_name: str | None = attrs.field(default=None, metadata=WRITABLE)
    middle_name: str | None = attrs.field(default=None, metadata=WRITABLE)
    nick_name: str | None = attrs.field(default=None, metadata=WRITABLE)
    offices: Sequence[int] | None = attrs.field(default=None, metadata=READ_ONLY)
    patient_flags: JSONObjects | None = attrs.field(default=None, metadata=READ_ONLY)
    patient_flags_attached: JSONObjects | None = attrs.field(default=None, metadata=WRITABLE)
    patient_photo: str | None = attrs.field(default=None, metadata=WRITABLE)
    patient_photo_date: dt.date | None = attrs.field(default=None, metadata=WRITABLE)
    patient_payment_profile: str | None = attrs.field(default=None, metadata=WRITABLE)
    patient_status: str | None = attrs.field(default=None, metadata=WRITABLE)
    preferred_language: str | None = attrs.field(default=None, metadata=WRITABLE)
    primary_care_physician: str | None = attrs.field(default=None, metadata=WRITABLE)
    primary_insurance: JSONObject | None = attrs.field(default=None, metadata=WRITABLE)
    race: str | None = attrs.field(default=None, metadata=WRITABLE)
    referring_doctor: JSONObject | None = attrs.field(default=None, metadata=WRITABLE)
    referring_source: str | None = attrs.field(default=None, metadata=WRITABLE)
    responsible_party_name: str | None = attrs.field(default=None, metadata=WRITABLE)
    responsible_party_relation: str | None = attrs.field(default=None, metadata=WRITABLE)
    responsible_party_phone: str | None = attrs.field(default=None, metadata=WRITABLE)
    responsible_party_email: str | None = attrs.field(default=None, metadata=WRITABLE)
    secondary_insurance: JSONObject | None = attrs.field(default=None, metadata=WRITABLE)
    social_security_number: str | None = attrs.field(default=None, metadata=WRITABLE)
    state: str | None = attrs.field(default=None, metadata=WRITABLE)
    tertiary_insurance: JSONObject | None = attrs.field(default=None, metadata=WRITABLE)
    updated_at: dt.datetime | None = attrs.field(default=None, metadata=READ_ONLY)
    workers_comp_insurance: JSONObject | None = attrs.field(default=None, metadata=WRITABLE)
    zip_code: str | None = attrs.field(default=None, metadata=WRITABLE)


@attrs.frozen(kw_only=True)
class PatientSummary(Record):
    """The short form of a patient (identity fields only). `/api/patients_summary`."""

    date_of_birth: dt.date | None = attrs.field(default=None, metadata=WRITABLE)
    doctor: int | None = attrs.field(default=None, metadata=WRITABLE)
    gender: str | None = attrs.field(default=None, metadata=WRITABLE)
    chart_id: str | None = attrs.field(default=None, metadata=WRITABLE)
    first_name: str | None = attrs.field(default=None, metadata=WRITABLE)
    last_name: str | None = attrs.field(default=None, metadata=WRITABLE)
    id: int | None = attrs.field(default=None, metadata=ID)


@attrs.frozen(kw_only=True)
class PatientFlagType(Record):
    """A kind of flag that can be attached to patients. `/api/patient_flag_types`."""

    archived: bool | None = attrs.field(default=None, metadata=READ_ONLY)
    color: str | None = attrs.field(default=None, metadata=WRITABLE)
    created_at: dt.datetime | None = attrs.field(default=None, metadata=READ_ONLY)
    doctor: int | None = attrs.field(default=None, metadata=WRITABLE)
    id: int | None = attrs.field(default=None, metadata=ID)
    name: str | None = attrs.field(default=None, metadata=WRITABLE)
    priority: int | None = attrs.field(default=None, metadata=WRITABLE)
    updated_at: dt.datetime | None = attrs.field(default=None, metadata=READ_ONLY)


@attrs.frozen(kw_only=True)
class CustomDemographic(Record):
    """A custom demographic field defined for patients. `/api/custom_demographics`."""

    id: int | None = attrs.field(default=None, metadata=ID)
    archived: bool | None = attrs.field(default=None, metadata=WRITABLE)
    doctor: int | None = attrs.field(default=None, metadata=WRITABLE)
    name: str | None = attrs.field(default=None, metadata=WRITABLE)
    template_name: str | None = attrs.field(default=None, metadata=WRITABLE)
    allowed_values: Sequence[str] | None = attrs.field(default=None, metadata=WRITABLE)
    description: str | None = attrs.field(default=None, metadata=WRITABLE)


@attrs.frozen(kw_only=True)
class OnpatientAccess(Record):
    """The state of a patient's onpatient portal access. `/api/patients/{id}/onpatient_access`."""

    # Printed as always present, but null until the patient activates / access is disabled.
    activated_on: dt.datetime | None = attrs.field(default=None, metadata=READ_ONLY)
    doctor: int = attrs.field(metadata=ALWAYS)
    disabled_by: int | None = attrs.field(default=None, metadata=READ_ONLY)
    disabled_on: dt.datetime | None = attrs.field(default=None, metadata=READ_ONLY)
    enabled_by: int = attrs.field(metadata=ALWAYS)
    enabled_on: dt.datetime = attrs.field(metadata=ALWAYS)
    id: int = attrs.field(metadata=ALWAYS)


@attrs.frozen(kw_only=True)
class ConsentForm(Record):
    """A consent form that can be applied to appointments. `/api/consent_forms`."""

    archived: bool | None = attrs.field(default=None, metadata=READ_ONLY)
    assign_by_default: bool | None = attrs.field(default=None, metadata=WRITABLE)
    created_at: dt.datetime | None = attrs.field(default=None, metadata=READ_ONLY)
    doctor: int | None = attrs.field(default=None, metadata=WRITABLE)
    id: int | None = attrs.field(default=None, metadata=ID)
    is_mandatory: bool | None = attrs.field(default=None, metadata=WRITABLE)
    order: int | None = attrs.field(default=None, metadata=READ_ONLY)
    title: str | None = attrs.field(default=None, metadata=WRITABLE)
    updated_at: dt.datetime | None = attrs.field(default=None, metadata=READ_ONLY)
    uri: str | None = attrs.field(default=None, metadata=WRITABLE)


@attrs.frozen(kw_only=True)
class Document(Record):
    """A document (file) filed in a patient's chart. `/api/documents`."""

    archived: bool | None = attrs.field(default=None, metadata=READ_ONLY)
    date: dt.date | None = attrs.field(default=None, metadata=WRITABLE)
    description: str | None = attrs.field(default=None, metadata=WRITABLE)
    doctor: int | None = attrs.field(default=None, metadata=WRITABLE)
    document: str | None = attrs.field(default=None, metadata=WRITABLE)
    patient: int | None = attrs.field(default=None, metadata=WRITABLE)
    metatags: Sequence[str] | None = attrs.field(default=None, metadata=WRITABLE)
    id: int | None = attrs.field(default=None, metadata=ID)
    updated_at: dt.datetime | None = attrs.field(default=None, metadata=READ_ONLY)


@attrs.frozen(kw_only=True)
class Amendment(Record):
    """An amendment to a patient's record. `/api/amendments`."""

    amendment_name: str | None = attrs.field(default=None, metadata=WRITABLE)
    amendment_file: str | None = attrs.field(default=None, metadata=WRITABLE)
    doctor: int | None = attrs.field(default=None, metadata=WRITABLE)
    patient: int | None = attrs.field(default=None, metadata=WRITABLE)
    appointment: int | None = attrs.field(default=None, metadata=WRITABLE)
    comments: str | None = attrs.field(default=None, metadata=WRITABLE)
    id: int | None = attrs.field(default=None, metadata=ID)
