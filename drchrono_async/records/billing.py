"""Billing records: line items, transactions, payments, fee schedules, eligibility."""

import datetime as dt
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

import attrs

from ._base import ALWAYS, ID, READ_ONLY, WRITABLE, JSONObject, JSONObjects, Record

__all__ = [
    "BillingProfile",
    "CustomInsurancePlanName",
    "EligibilityCheck",
    "FeeSchedule",
    "Insurance",
    "LineItem",
    "PatientPayment",
    "PatientPaymentLog",
    "Transaction",
]


@attrs.frozen(kw_only=True)
class BillingProfile(Record):
    """A named set of billing codes. `/api/billing_profiles`."""

    archived: bool = attrs.field(metadata=ALWAYS)
    cpt_codes: JSONObjects = attrs.field(metadata=ALWAYS)
    created_at: dt.datetime = attrs.field(metadata=ALWAYS)
    custom_procedure_codes: JSONObjects = attrs.field(metadata=ALWAYS)
    doctor: int = attrs.field(metadata=ALWAYS)
    hcpcs_codes: JSONObjects = attrs.field(metadata=ALWAYS)
    icd9_codes: Sequence[str] = attrs.field(metadata=ALWAYS)
    icd10_codes: Sequence[str] = attrs.field(metadata=ALWAYS)
    id: int = attrs.field(metadata=ALWAYS)
    name: str = attrs.field(metadata=ALWAYS)
    updated_at: dt.datetime = attrs.field(metadata=ALWAYS)


@attrs.frozen(kw_only=True)
class Insurance(Record):
    """An insurance payer known to the API. `/api/insurances`."""

    payer_name: str = attrs.field(metadata=ALWAYS)
    payer_id: str = attrs.field(metadata=ALWAYS)
    state: str | None = attrs.field(default=None, metadata=READ_ONLY)


@attrs.frozen(kw_only=True)
class CustomInsurancePlanName(Record):
    """A custom insurance plan name. `/api/custom_insurance_plan_names`."""

    archived: bool = attrs.field(metadata=ALWAYS)  # printed "integer"; a flag elsewhere
    created_at: dt.datetime = attrs.field(metadata=ALWAYS)
    doctor: int = attrs.field(metadata=ALWAYS)
    id: int = attrs.field(metadata=ALWAYS)
    insurance_plan_name: str = attrs.field(metadata=ALWAYS)
    updated_at: dt.datetime = attrs.field(metadata=ALWAYS)
    user: int = attrs.field(metadata=ALWAYS)


@attrs.frozen(kw_only=True)
class PatientPayment(Record):
    """A payment made by a patient. `/api/patient_payments`."""

    appointment: int | None = attrs.field(default=None, metadata=WRITABLE)
    amount: Decimal | None = attrs.field(default=None, metadata=WRITABLE)
    created_at: dt.datetime | None = attrs.field(default=None, metadata=READ_ONLY)
    created_by: int | None = attrs.field(default=None, metadata=READ_ONLY)
    doctor: int | None = attrs.field(default=None, metadata=WRITABLE)
    id: int | None = attrs.field(default=None, metadata=ID)
    line_item: int | None = attrs.field(default=None, metadata=WRITABLE)
    notes: str | None = attrs.field(default=None, metadata=WRITABLE)
    patient: int | None = attrs.field(default=None, metadata=WRITABLE)
    payment_transaction_type: str | None = attrs.field(default=None, metadata=WRITABLE)
    payment_method: str | None = attrs.field(default=None, metadata=WRITABLE)
    posted_date: dt.date | None = attrs.field(default=None, metadata=READ_ONLY)
    received_date: dt.date | None = attrs.field(default=None, metadata=WRITABLE)
    trace_number: str | None = attrs.field(default=None, metadata=WRITABLE)
    updated_at: dt.datetime | None = attrs.field(default=None, metadata=READ_ONLY)


@attrs.frozen(kw_only=True)
class PatientPaymentLog(Record):
    """An entry of the patient payment log. `/api/patient_payment_log`."""

    patient: int = attrs.field(metadata=ALWAYS)
    doctor: int = attrs.field(metadata=ALWAYS)
    appointment: int = attrs.field(metadata=ALWAYS)
    amount: Decimal = attrs.field(metadata=ALWAYS)
    payment_method: str = attrs.field(metadata=ALWAYS)
    created_by: int | None = attrs.field(default=None, metadata=READ_ONLY)
    action: str = attrs.field(metadata=ALWAYS)
    source: str = attrs.field(metadata=ALWAYS)
    updated_at: dt.datetime = attrs.field(metadata=ALWAYS)


@attrs.frozen(kw_only=True)
class LineItem(Record):
    """A billing line item of an appointment. `/api/line_items`."""

    adjustment: Decimal | None = attrs.field(default=None, metadata=READ_ONLY)
    appointment: int | None = attrs.field(default=None, metadata=WRITABLE)
    allowed: Decimal | None = attrs.field(default=None, metadata=WRITABLE)
    balance_ins: Decimal | None = attrs.field(default=None, metadata=READ_ONLY)
    balance_pt: Decimal | None = attrs.field(default=None, metadata=READ_ONLY)
    balance_total: Decimal | None = attrs.field(default=None, metadata=READ_ONLY)
    billed: Decimal | None = attrs.field(default=None, metadata=WRITABLE)
    billing_status: str | None = attrs.field(default=None, metadata=READ_ONLY)
    code: str | None = attrs.field(default=None, metadata=WRITABLE)
    denied_flag: bool | None = attrs.field(default=None, metadata=READ_ONLY)
    diagnosis_pointers: Sequence[Any] | None = attrs.field(default=None, metadata=WRITABLE)
    doctor: int | None = attrs.field(default=None, metadata=WRITABLE)
    id: int | None = attrs.field(default=None, metadata=ID)
    ins1_paid: Decimal | None = attrs.field(default=None, metadata=READ_ONLY)
    ins2_paid: Decimal | None = attrs.field(default=None, metadata=READ_ONLY)
    ins3_paid: Decimal | None = attrs.field(default=None, metadata=READ_ONLY)
    ins_total: Decimal | None = attrs.field(default=None, metadata=READ_ONLY)
    insurance_status: str | None = attrs.field(default=None, metadata=READ_ONLY)
    modifiers: Sequence[Any] | None = attrs.field(default=None, metadata=WRITABLE)
    paid_total: Decimal | None = attrs.field(default=None, metadata=READ_ONLY)
    patient: int | None = attrs.field(default=None, metadata=READ_ONLY)
    price: Decimal | None = attrs.field(default=None, metadata=WRITABLE)
    procedure_type: str | None = attrs.field(default=None, metadata=WRITABLE)
    pt_paid: Decimal | None = attrs.field(default=None, metadata=READ_ONLY)
    quantity: Decimal | None = attrs.field(default=None, metadata=WRITABLE)
    units: str | None = attrs.field(default=None, metadata=READ_ONLY)
    posted_date: dt.datetime | None = attrs.field(default=None, metadata=READ_ONLY)
    updated_at: dt.datetime | None = attrs.field(default=None, metadata=READ_ONLY)
    service_date: dt.date | None = attrs.field(default=None, metadata=WRITABLE)
    description: str | None = attrs.field(default=None, metadata=READ_ONLY)
    expected_reimbursement: Decimal | None = attrs.field(default=None, metadata=READ_ONLY)


@attrs.frozen(kw_only=True)
class Transaction(Record):
    """An insurance transaction on a line item. `/api/transactions`."""

    adjustment: Decimal = attrs.field(metadata=ALWAYS)
    adjustment_group_code: str = attrs.field(metadata=ALWAYS)
    adjustment_reason: str = attrs.field(metadata=ALWAYS)
    appointment: int = attrs.field(metadata=ALWAYS)
    check_date: dt.date = attrs.field(metadata=ALWAYS)
    claim_status: str = attrs.field(metadata=ALWAYS)
    created_at: dt.datetime = attrs.field(metadata=ALWAYS)
    doctor: int = attrs.field(metadata=ALWAYS)
    id: int = attrs.field(metadata=ALWAYS)
    ins_paid: Decimal = attrs.field(metadata=ALWAYS)
    ins_name: int = attrs.field(metadata=ALWAYS)
    line_item: int = attrs.field(metadata=ALWAYS)
    patient: int = attrs.field(metadata=ALWAYS)
    posted_date: dt.datetime = attrs.field(metadata=ALWAYS)
    trace_number: str = attrs.field(metadata=ALWAYS)
    updated_at: dt.datetime = attrs.field(metadata=ALWAYS)


@attrs.frozen(kw_only=True)
class FeeSchedule(Record):
    """A fee schedule entry for a billing code. `/api/fee_schedules`."""

    id: int = attrs.field(metadata=ALWAYS)
    doctor: int = attrs.field(metadata=ALWAYS)
    code: str = attrs.field(metadata=ALWAYS)
    code_type: str = attrs.field(metadata=ALWAYS)
    cpt_hcpcs_modifier1: str = attrs.field(metadata=ALWAYS)
    cpt_hcpcs_modifier2: str = attrs.field(metadata=ALWAYS)
    cpt_hcpcs_modifier3: str = attrs.field(metadata=ALWAYS)
    cpt_hcpcs_modifier4: str = attrs.field(metadata=ALWAYS)
    office: int = attrs.field(metadata=ALWAYS)
    ndc_code: str = attrs.field(metadata=ALWAYS)
    ndc_quantity: Decimal = attrs.field(metadata=ALWAYS)
    ndc_units: str = attrs.field(metadata=ALWAYS)
    base_price: Decimal = attrs.field(metadata=ALWAYS)
    insured_price: Decimal = attrs.field(metadata=ALWAYS)
    cash_price: Decimal = attrs.field(metadata=ALWAYS)
    insured_out_of_network_price: Decimal | None = attrs.field(default=None, metadata=READ_ONLY)
    payer_id: str = attrs.field(metadata=ALWAYS)
    plan_name: str = attrs.field(metadata=ALWAYS)
    allowed_amount: Decimal = attrs.field(metadata=ALWAYS)
    billing_description: str = attrs.field(metadata=ALWAYS)
    description: str = attrs.field(metadata=ALWAYS)
    picklist_category: str = attrs.field(metadata=ALWAYS)
    created_at: dt.datetime = attrs.field(metadata=ALWAYS)
    updated_at: dt.datetime = attrs.field(metadata=ALWAYS)


@attrs.frozen(kw_only=True)
class EligibilityCheck(Record):
    """The outcome of an insurance eligibility check. `/api/eligibility_checks`."""

    patient: int = attrs.field(metadata=ALWAYS)
    appointment: int | None = attrs.field(default=None, metadata=READ_ONLY)
    cob_level: str = attrs.field(metadata=ALWAYS)
    payer_name: str | None = attrs.field(default=None, metadata=READ_ONLY)
    eligibility: str = attrs.field(metadata=ALWAYS)
    request_service_type: str | None = attrs.field(default=None, metadata=READ_ONLY)
    service_type_description: str | None = attrs.field(default=None, metadata=READ_ONLY)
    query_date: dt.datetime | None = attrs.field(default=None, metadata=READ_ONLY)
    coverage_subscriber: JSONObject = attrs.field(metadata=ALWAYS)
    # Needs verbose=true, so absent from plain listings despite "always present".
    coverage_details: JSONObject | None = attrs.field(default=None, metadata=READ_ONLY)
