"""Clinical records: allergies, medications, problems, notes, vaccines, CQM data."""

import datetime as dt
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

import attrs

from ._base import ALWAYS, JSONObject, JSONObjects, Record, key, read_only, writable

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

    doctor: int | None = writable()
    id: int | None = key()
    patient: int | None = writable()
    description: str | None = writable()
    notes: str | None = writable()
    reaction: str | None = writable()
    rxnorm: str | None = writable()
    snomed_reaction: str | None = writable()
    status: str | None = writable()


@attrs.frozen(kw_only=True)
class Medication(Record):
    """A medication on a patient's chart. `/api/medications`."""

    daw: bool | None = writable()
    doctor: int | None = writable()
    id: int | None = key()
    name: str | None = writable()
    patient: int | None = writable()
    prn: bool | None = writable()
    appointment: int | None = writable()
    date_prescribed: dt.date | None = writable()
    date_started_taking: dt.date | None = writable()
    date_stopped_taking: dt.date | None = writable()
    dispense_quantity: Decimal | None = writable()
    dosage_quantity: str | None = writable()
    dosage_units: str | None = writable()
    ndc: str | None = writable()
    notes: str | None = writable()
    frequency: str | None = writable()
    indication: str | None = writable()
    number_refills: int | None = writable()
    order_status: str | None = writable()
    pharmacy_note: str | None = writable()
    route: str | None = writable()
    rxnorm: str | None = writable()
    signature_note: str | None = writable()
    status: str | None = writable()


@attrs.frozen(kw_only=True)
class Problem(Record):
    """A problem (diagnosis) on a patient's chart. `/api/problems`."""

    doctor: int | None = writable()
    icd_version: int | None = writable()
    id: int | None = key()
    patient: int | None = writable()
    date_changed: dt.date | None = writable()
    date_diagnosis: dt.date | None = writable()
    date_onset: dt.date | None = writable()
    description: str | None = writable()
    icd_code: str | None = writable()
    info_url: str | None = read_only()
    name: str | None = writable()
    notes: str | None = writable()
    status: str | None = writable()
    snomed_ct_code: str | None = writable()


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
    clinical_note_fields: JSONObjects | None = read_only()
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
    comment: str | None = read_only()
    data_type: str = attrs.field(metadata=ALWAYS)
    id: int = attrs.field(metadata=ALWAYS)
    name: str = attrs.field(metadata=ALWAYS)
    required: bool = attrs.field(metadata=ALWAYS)


@attrs.frozen(kw_only=True)
class ClinicalNoteFieldValue(Record):
    """The value of a clinical note field on one appointment. `/api/clinical_note_field_values`."""

    id: int | None = key()
    appointment: int | None = writable()
    clinical_note_field: int | None = writable()
    value: str | None = writable()
    created_at: dt.datetime | None = writable()
    updated_at: dt.datetime | None = writable()


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

    administered_at: int | None = writable()
    administered_by: int | None = writable()
    administered_start: dt.datetime | None = writable()
    amount: Decimal | None = writable()
    # Untyped in the reference; its values are codes such as "CP" or "RE".
    completion_status: str | None = writable()
    comments: str | None = writable()
    consent_form: int | None = writable()
    cpt_code: str | None = writable()
    created_at: dt.datetime | None = read_only()
    cvx_code: str | None = writable()
    doses: Sequence[int] | None = writable()
    entered_by: int | None = read_only()
    funding_eligibility: str | None = writable()
    id: int | None = key()
    name: str | None = writable()
    next_dose_date: dt.date | None = writable()
    observed_immunity: int | None = writable()
    ordering_doctor: int | None = writable()
    patient: int | None = writable()
    record_source: str | None = writable()
    route: str | None = writable()
    site: str | None = writable()
    units: str | None = writable()
    updated_at: dt.datetime | None = read_only()
    vaccine_inventory: int | None = writable()
    vis: int | None = read_only()


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

    code: str | None = writable()
    code_system: str | None = writable()
    created_at: dt.datetime | None = read_only()
    doctor: int | None = writable()
    effective_time: dt.datetime | None = writable()
    id: int | None = key()
    name: str | None = read_only()
    patient: int | None = writable()
    value_code: str | None = writable()
    value_code_system: str | None = writable()
    value_code_name: str | None = read_only()


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
