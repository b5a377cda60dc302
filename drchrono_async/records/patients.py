"""Patient records: demographics, flags, consent forms, documents, onpatient access."""

import datetime as dt
from collections.abc import Sequence

import attrs

from ._base import ALWAYS, JSONObject, JSONObjects, Record, key, read_only, writable

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

    auto_accident_insurance: JSONObject | None = writable()
    date_of_birth: dt.date | None = writable()
    doctor: int | None = writable()
    gender: str | None = writable()
    address: str | None = writable()
    cell_phone: str | None = writable()
    chart_id: str | None = writable()
    city: str | None = writable()
    created_at: dt.datetime | None = read_only()
    custom_demographics: JSONObjects | None = writable()
    default_pharmacy: str | None = writable()
    disable_sms_messages: bool | None = writable()
    email: str | None = writable()
    emergency_contact_name: str | None = writable()
    emergency_contact_phone: str | None = writable()
    emergency_contact_relation: str | None = writable()
    employer: str | None = writable()
    employer_address: str | None = writable()
    employer_city: str | None = writable()
    employer_state: str | None = writable()
    employer_zip_code: str | None = writable()
    ethnicity: str | None = writable()
    first_name: str | None = writable()
    home_phone: str | None = writable()
    id: int | None = key()
    last_name: str | None = writable()
    middle_name: str | None = writable()
    nick_name: str | None = writable()
    offices: Sequence[int] | None = read_only()
    patient_flags: JSONObjects | None = read_only()
    patient_flags_attached: JSONObjects | None = writable()
    patient_photo: str | None = writable()
    patient_photo_date: dt.date | None = writable()
    patient_payment_profile: str | None = writable()
    patient_status: str | None = writable()
    preferred_language: str | None = writable()
    primary_care_physician: str | None = writable()
    primary_insurance: JSONObject | None = writable()
    race: str | None = writable()
    referring_doctor: JSONObject | None = writable()
    referring_source: str | None = writable()
    responsible_party_name: str | None = writable()
    responsible_party_relation: str | None = writable()
    responsible_party_phone: str | None = writable()
    responsible_party_email: str | None = writable()
    secondary_insurance: JSONObject | None = writable()
    social_security_number: str | None = writable()
    state: str | None = writable()
    tertiary_insurance: JSONObject | None = writable()
    updated_at: dt.datetime | None = read_only()
    workers_comp_insurance: JSONObject | None = writable()
    zip_code: str | None = writable()


@attrs.frozen(kw_only=True)
class PatientSummary(Record):
    """The short form of a patient (identity fields only). `/api/patients_summary`."""

    date_of_birth: dt.date | None = writable()
    doctor: int | None = writable()
    gender: str | None = writable()
    chart_id: str | None = writable()
    first_name: str | None = writable()
    last_name: str | None = writable()
    id: int | None = key()


@attrs.frozen(kw_only=True)
class PatientFlagType(Record):
    """A kind of flag that can be attached to patients. `/api/patient_flag_types`."""

    archived: bool | None = read_only()
    color: str | None = writable()
    created_at: dt.datetime | None = read_only()
    doctor: int | None = writable()
    id: int | None = key()
    name: str | None = writable()
    priority: int | None = writable()
    updated_at: dt.datetime | None = read_only()


@attrs.frozen(kw_only=True)
class CustomDemographic(Record):
    """A custom demographic field defined for patients. `/api/custom_demographics`."""

    id: int | None = key()
    archived: bool | None = writable()
    doctor: int | None = writable()
    name: str | None = writable()
    template_name: str | None = writable()
    allowed_values: Sequence[str] | None = writable()
    description: str | None = writable()


@attrs.frozen(kw_only=True)
class OnpatientAccess(Record):
    """The state of a patient's onpatient portal access. `/api/patients/{id}/onpatient_access`."""

    # Printed as always present, but null until the patient activates / access is disabled.
    activated_on: dt.datetime | None = read_only()
    doctor: int = attrs.field(metadata=ALWAYS)
    disabled_by: int | None = read_only()
    disabled_on: dt.datetime | None = read_only()
    enabled_by: int = attrs.field(metadata=ALWAYS)
    enabled_on: dt.datetime = attrs.field(metadata=ALWAYS)
    id: int = attrs.field(metadata=ALWAYS)


@attrs.frozen(kw_only=True)
class ConsentForm(Record):
    """A consent form that can be applied to appointments. `/api/consent_forms`."""

    archived: bool | None = read_only()
    assign_by_default: bool | None = writable()
    created_at: dt.datetime | None = read_only()
    doctor: int | None = writable()
    id: int | None = key()
    is_mandatory: bool | None = writable()
    order: int | None = read_only()
    title: str | None = writable()
    updated_at: dt.datetime | None = read_only()
    uri: str | None = writable()


@attrs.frozen(kw_only=True)
class Document(Record):
    """A document (file) filed in a patient's chart. `/api/documents`."""

    archived: bool | None = read_only()
    date: dt.date | None = writable()
    description: str | None = writable()
    doctor: int | None = writable()
    document: str | None = writable()
    patient: int | None = writable()
    metatags: Sequence[str] | None = writable()
    id: int | None = key()
    updated_at: dt.datetime | None = read_only()


@attrs.frozen(kw_only=True)
class Amendment(Record):
    """An amendment to a patient's record. `/api/amendments`."""

    amendment_name: str | None = writable()
    amendment_file: str | None = writable()
    doctor: int | None = writable()
    patient: int | None = writable()
    appointment: int | None = writable()
    comments: str | None = writable()
    id: int | None = key()
