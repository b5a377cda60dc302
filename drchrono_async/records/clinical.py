"""Clinical records: allergies, medications, problems, notes, vaccines, CQM data."""

import datetime as dt
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

import attrs

from ._base import ALWAYS, ID, READ_ONLY, WRITABLE, JSONObject, JSONObjects, Record

__all__ = [
    "Allergy",
    "CarePlan",
    "ClinicalNote",
    "ClinicalNoteFieldType",
    "ClinicalNoteFieldValue",
    "ClinicalNoteTemplate",
    "ImplantableDevice",
    "Medication",
    "PatientCommunication",
    "PatientIntervention",
    "PatientPhysicalExam",
    "PatientRiskAssessment",
    "PatientVaccineRecord",
    "Problem",
    "Procedure",
]


@attrs.frozen(kw_only=True)
class Allergy(Record):
    """An allergy on a patient's chart. `/api/allergies`."""

    doctor: int | None = attrs.field(default=None, metadata=WRITABLE)
    id: int | None = attrs.field(default=None, metadata=ID)
    patient: int | None = attrs.field(default=None, metadata=WRITABLE)
    description: str | None = attrs.field(default=None, metadata=WRITABLE)
    notes: str | None = attrs.field(default=None, metadata=WRITABLE)
    reaction: str | None = attrs.field(default=None, metadata=WRITABLE)
    rxnorm: str | None = attrs.field(default=None, metadata=WRITABLE)
    snomed_reaction: str | None = attrs.field(default=None, metadata=WRITABLE)
    status: str | None = attrs.field(default=None, metadata=WRITABLE)


@attrs.frozen(kw_only=True)
class Medication(Record):
    """A medication on a patient's chart. `/api/medications`."""

    daw: bool | None = attrs.field(default=None, metadata=WRITABLE)
    doctor: int | None = attrs.field(default=None, metadata=WRITABLE)
    id: int | None = attrs.field(default=None, metadata=ID)
    name: str | None = attrs.field(default=None, metadata=WRITABLE)
    patient: int | None = attrs.field(default=None, metadata=WRITABLE)
    prn: bool | None = attrs.field(default=None, metadata=WRITABLE)
    appointment: int | None = attrs.field(default=None, metadata=WRITABLE)
    date_prescribed: dt.date | None = attrs.field(default=None, metadata=WRITABLE)
    date_started_taking: dt.date | None = attrs.field(default=None, metadata=WRITABLE)
    date_stopped_taking: dt.date | None = attrs.field(default=None, metadata=WRITABLE)
    dispense_quantity: Decimal | None = attrs.field(default=None, metadata=WRITABLE)
    dosage_quantity: str | None = attrs.field(default=None, metadata=WRITABLE)
    dosage_units: str | None = attrs.field(default=None, metadata=WRITABLE)
    ndc: str | None = attrs.field(default=None, metadata=WRITABLE)
    notes: str | None = attrs.field(default=None, metadata=WRITABLE)
    frequency: str | None = attrs.field(default=None, metadata=WRITABLE)
    indication: str | None = attrs.field(default=None, metadata=WRITABLE)
    number_refills: int | None = attrs.field(default=None, metadata=WRITABLE)
    order_status: str | None = attrs.field(default=None, metadata=WRITABLE)
    pharmacy_note: str | None = attrs.field(default=None, metadata=WRITABLE)
    route: str | None = attrs.field(default=None, metadata=WRITABLE)
    rxnorm: str | None = attrs.field(default=None, metadata=WRITABLE)
    signature_note: str | None = attrs.field(default=None, metadata=WRITABLE)
    status: str | None = attrs.field(default=None, metadata=WRITABLE)


@attrs.frozen(kw_only=True)
class Problem(Record):
    """A problem (diagnosis) on a patient's chart. `/api/problems`."""

    doctor: int | None = attrs.field(default=None, metadata=WRITABLE)
    icd_version: int | None = attrs.field(default=None, metadata=WRITABLE)
    id: int | None = attrs.field(default=None, metadata=ID)
    patient: int | None = attrs.field(default=None, metadata=WRITABLE)
    date_changed: dt.date | None = attrs.field(default=None, metadata=WRITABLE)
    date_diagnosis: dt.date | None = attrs.field(default=None, metadata=WRITABLE)
    date_onset: dt.date | None = attrs.field(default=None, metadata=WRITABLE)
    description: str | None = attrs.field(default=None, metadata=WRITABLE)
    icd_code: str | None = attrs.field(default=None, metadata=WRITABLE)
    info_url: str | None = attrs.field(default=None, metadata=READ_ONLY)
    name: str | None = attrs.field(default=None, metadata=WRITABLE)
    notes: str | None = attrs.field(default=None, metadata=WRITABLE)
    status: str | None = attrs.field(default=None, metadata=WRITABLE)
    snomed_ct_code: str | None = attrs.field(default=None, metadata=WRITABLE)


@attrs.frozen(kw_only=True)
class Procedure(Record):
    """A procedure billed on an appointment. `/api/procedures`."""

    appointment: int = attrs.field(metadata=ALWAYS)
    code: str = attrs.field(metadata=ALWAYS)
    created_at: dt.datetime = attrs.field(metadata=ALWAYS)
    date: dt.date = attrs.field(metadata=ALWAYS)
    description: str = attrs.field(metadata=ALWAYS)
    doctor: int = attrs.field(metadata=ALWAYS)
    id: int = attrs.field(metadata=ALWAYS)
    patient: int = attrs.field(metadata=ALWAYS)
    procedure_type: str = attrs.field(metadata=ALWAYS)
    status: str = attrs.field(metadata=ALWAYS)
    updated_at: dt.datetime = attrs.field(metadata=ALWAYS)


@attrs.frozen(kw_only=True)
class ClinicalNoteTemplate(Record):
    """A clinical note template and its fields. `/api/clinical_note_templates`."""

    archived: bool = attrs.field(metadata=ALWAYS)
    doctor: int = attrs.field(metadata=ALWAYS)
    id: int = attrs.field(metadata=ALWAYS)
    is_onpatient: bool = attrs.field(metadata=ALWAYS)
    is_persistent: bool = attrs.field(metadata=ALWAYS)
    name: str = attrs.field(metadata=ALWAYS)
    order: JSONObject = attrs.field(metadata=ALWAYS)
    # Needs verbose=true, so absent from plain listings despite "always present".
    clinical_note_fields: JSONObjects | None = attrs.field(default=None, metadata=READ_ONLY)
    updated_at: dt.datetime = attrs.field(metadata=ALWAYS)


@attrs.frozen(kw_only=True)
class ClinicalNote(Record):
    """The clinical note of an appointment, by sections. `/api/clinical_notes`."""

    archived: bool = attrs.field(metadata=ALWAYS)
    appointment: int = attrs.field(metadata=ALWAYS)
    patient: int = attrs.field(metadata=ALWAYS)
    clinical_note_sections: JSONObjects = attrs.field(metadata=ALWAYS)


@attrs.frozen(kw_only=True)
class ClinicalNoteFieldType(Record):
    """A field of a clinical note template. `/api/clinical_note_field_types`."""

    allowed_values: Sequence[Any] = attrs.field(metadata=ALWAYS)
    archived: bool = attrs.field(metadata=ALWAYS)
    appointment: int = attrs.field(metadata=ALWAYS)
    clinical_note_template: int = attrs.field(metadata=ALWAYS)
    comment: str | None = attrs.field(default=None, metadata=READ_ONLY)
    data_type: str = attrs.field(metadata=ALWAYS)
    id: int = attrs.field(metadata=ALWAYS)
    name: str = attrs.field(metadata=ALWAYS)
    required: bool = attrs.field(metadata=ALWAYS)


@attrs.frozen(kw_only=True)
class ClinicalNoteFieldValue(Record):
    """The value of a clinical note field on one appointment. `/api/clinical_note_field_values`."""

    id: int | None = attrs.field(default=None, metadata=ID)
    appointment: int | None = attrs.field(default=None, metadata=WRITABLE)
    clinical_note_field: int | None = attrs.field(default=None, metadata=WRITABLE)
    value: str | None = attrs.field(default=None, metadata=WRITABLE)
    created_at: dt.datetime | None = attrs.field(default=None, metadata=WRITABLE)
    updated_at: dt.datetime | None = attrs.field(default=None, metadata=WRITABLE)


@attrs.frozen(kw_only=True)
class CarePlan(Record):
    """A care plan entry of a patient. `/api/care_plans`."""

    appointment: int = attrs.field(metadata=ALWAYS)
    code: str = attrs.field(metadata=ALWAYS)
    code_system: str = attrs.field(metadata=ALWAYS)
    created_at: dt.datetime = attrs.field(metadata=ALWAYS)
    description: str = attrs.field(metadata=ALWAYS)
    id: int = attrs.field(metadata=ALWAYS)
    instructions: str = attrs.field(metadata=ALWAYS)
    patient: int = attrs.field(metadata=ALWAYS)
    plan_type: int = attrs.field(metadata=ALWAYS)
    scheduled_date: dt.date = attrs.field(metadata=ALWAYS)
    title: str = attrs.field(metadata=ALWAYS)
    updated_at: dt.datetime = attrs.field(metadata=ALWAYS)


@attrs.frozen(kw_only=True)
class PatientVaccineRecord(Record):
    """A vaccine administered to (or refused by) a patient. `/api/patient_vaccine_records`."""

    administered_at: int | None = attrs.field(default=None, metadata=WRITABLE)
    administered_by: int | None = attrs.field(default=None, metadata=WRITABLE)
    administered_start: dt.datetime | None = attrs.field(default=None, metadata=WRITABLE)
    amount: Decimal | None = attrs.field(default=None, metadata=WRITABLE)
    # Untyped in the reference; its values are codes such as "CP" or "RE".
    completion_status: str | None = attrs.field(default=None, metadata=WRITABLE)
    comments: str | None = attrs.field(default=None, metadata=WRITABLE)
    consent_form: int | None = attrs.field(default=None, metadata=WRITABLE)
    cpt_code: str | None = attrs.field(default=None, metadata=WRITABLE)
    created_at: dt.datetime | None = attrs.field(default=None, metadata=READ_ONLY)
    cvx_code: str | None = attrs.field(default=None, metadata=WRITABLE)
    doses: Sequence[int] | None = attrs.field(default=None, metadata=WRITABLE)
    entered_by: int | None = attrs.field(default=None, metadata=READ_ONLY)
    funding_eligibility: str | None = attrs.field(default=None, metadata=WRITABLE)
    id: int | None = attrs.field(default=None, metadata=ID)
    name: str | None = attrs.field(default=None, metadata=WRITABLE)
    next_dose_date: dt.date | None = attrs.field(default=None, metadata=WRITABLE)
    observed_immunity: int | None = attrs.field(default=None, metadata=WRITABLE)
    ordering_doctor: int | None = attrs.field(default=None, metadata=WRITABLE)
    patient: int | None = attrs.field(default=None, metadata=WRITABLE)
    record_source: str | None = attrs.field(default=None, metadata=WRITABLE)
    route: str | None = attrs.field(default=None, metadata=WRITABLE)
    site: str | None = attrs.field(default=None, metadata=WRITABLE)
    units: str | None = attrs.field(default=None, metadata=WRITABLE)
    updated_at: dt.datetime | None = attrs.field(default=None, metadata=READ_ONLY)
    vaccine_inventory: int | None = attrs.field(default=None, metadata=WRITABLE)
    vis: int | None = attrs.field(default=None, metadata=READ_ONLY)


@attrs.frozen(kw_only=True)
class ImplantableDevice(Record):
    """An implantable device recorded for a patient. `/api/implantable_devices`."""

    archived: bool = attrs.field(metadata=ALWAYS)
    brand_name: str = attrs.field(metadata=ALWAYS)
    company_name: str = attrs.field(metadata=ALWAYS)
    created_at: dt.datetime = attrs.field(metadata=ALWAYS)
    expiration_date: dt.date = attrs.field(metadata=ALWAYS)
    gmdn_pt_name: str = attrs.field(metadata=ALWAYS)
    id: int = attrs.field(metadata=ALWAYS)
    manufacturing_date: dt.date = attrs.field(metadata=ALWAYS)
    patient: int = attrs.field(metadata=ALWAYS)
    procedure: int = attrs.field(metadata=ALWAYS)
    serial_number: str = attrs.field(metadata=ALWAYS)
    status: str = attrs.field(metadata=ALWAYS)
    udi: str = attrs.field(metadata=ALWAYS)
    updated_at: dt.datetime = attrs.field(metadata=ALWAYS)
    version_or_model: str = attrs.field(metadata=ALWAYS)


@attrs.frozen(kw_only=True)
class _CodedPatientObservation(Record):
    """The shape shared by the four CQM objects below: a coded observation of a patient."""

    code: str | None = attrs.field(default=None, metadata=WRITABLE)
    code_system: str | None = attrs.field(default=None, metadata=WRITABLE)
    created_at: dt.datetime | None = attrs.field(default=None, metadata=READ_ONLY)
    doctor: int | None = attrs.field(default=None, metadata=WRITABLE)
    effective_time: dt.datetime | None = attrs.field(default=None, metadata=WRITABLE)
    id: int | None = attrs.field(default=None, metadata=ID)
    name: str | None = attrs.field(default=None, metadata=READ_ONLY)
    patient: int | None = attrs.field(default=None, metadata=WRITABLE)
    value_code: str | None = attrs.field(default=None, metadata=WRITABLE)
    value_code_system: str | None = attrs.field(default=None, metadata=WRITABLE)
    value_code_name: str | None = attrs.field(default=None, metadata=READ_ONLY)


@attrs.frozen(kw_only=True)
class PatientIntervention(_CodedPatientObservation):
    """A CQM intervention recorded for a patient. `/api/patient_interventions`."""


@attrs.frozen(kw_only=True)
class PatientPhysicalExam(_CodedPatientObservation):
    """A CQM physical exam recorded for a patient. `/api/patient_physical_exams`."""


@attrs.frozen(kw_only=True)
class PatientRiskAssessment(_CodedPatientObservation):
    """A CQM risk assessment recorded for a patient. `/api/patient_risk_assessments`."""


@attrs.frozen(kw_only=True)
class PatientCommunication(_CodedPatientObservation):
    """A CQM communication recorded for a patient. `/api/patient_communications`."""
