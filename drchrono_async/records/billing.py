"""Billing records: line items, transactions, payments, fee schedules, eligibility."""

import datetime as dt
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

import attrs

from ._base import ALWAYS, JSONObject, JSONObjects, Record, key, read_only, writable

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
    state: str | None = read_only()


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

    appointment: int | None = writable()
    amount: Decimal | None = writable()
    created_at: dt.datetime | None = read_only()
    created_by: int | None = read_only()
    doctor: int | None = writable()
    id: int | None = key()
    line_item: int | None = writable()
    notes: str | None = writable()
    patient: int | None = writable()
    payment_transaction_type: str | None = writable()
    payment_method: str | None = writable()
    posted_date: dt.date | None = read_only()
    received_date: dt.date | None = writable()
    trace_number: str | None = writable()
    updated_at: dt.datetime | None = read_only()


@attrs.frozen(kw_only=True)
class PatientPaymentLog(Record):
    """An entry of the patient payment log. `/api/patient_payment_log`."""

    patient: int = attrs.field(metadata=ALWAYS)
    doctor: int = attrs.field(metadata=ALWAYS)
    appointment: int = attrs.field(metadata=ALWAYS)
    amount: Decimal = attrs.field(metadata=ALWAYS)
    payment_method: str = attrs.field(metadata=ALWAYS)
    created_by: int | None = read_only()
    action: str = attrs.field(metadata=ALWAYS)
    source: str = attrs.field(metadata=ALWAYS)
    updated_at: dt.datetime = attrs.field(metadata=ALWAYS)


@attrs.frozen(kw_only=True)
class LineItem(Record):
    """A billing line item of an appointment. `/api/line_items`."""

    adjustment: Decimal | None = read_only()
    appointment: int | None = writable()
    allowed: Decimal | None = writable()
    balance_ins: Decimal | None = read_only()
    balance_pt: Decimal | None = read_only()
    balance_total: Decimal | None = read_only()
    billed: Decimal | None = writable()
    billing_status: str | None = read_only()
    code: str | None = writable()
    denied_flag: bool | None = read_only()
    diagnosis_pointers: Sequence[Any] | None = writable()
    doctor: int | None = writable()
    id: int | None = key()
    ins1_paid: Decimal | None = read_only()
    ins2_paid: Decimal | None = read_only()
    ins3_paid: Decimal | None = read_only()
    ins_total: Decimal | None = read_only()
    insurance_status: str | None = read_only()
    modifiers: Sequence[Any] | None = writable()
    paid_total: Decimal | None = read_only()
    patient: int | None = read_only()
    price: Decimal | None = writable()
    procedure_type: str | None = writable()
    pt_paid: Decimal | None = read_only()
    quantity: Decimal | None = writable()
    units: str | None = read_only()
    posted_date: dt.datetime | None = read_only()
    updated_at: dt.datetime | None = read_only()
    service_date: dt.date | None = writable()
    description: str | None = read_only()
    expected_reimbursement: Decimal | None = read_only()


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
    insured_out_of_network_price: Decimal | None = read_only()
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
    appointment: int | None = read_only()
    cob_level: str = attrs.field(metadata=ALWAYS)
    payer_name: str | None = read_only()
    eligibility: str = attrs.field(metadata=ALWAYS)
    request_service_type: str | None = read_only()
    service_type_description: str | None = read_only()
    query_date: dt.datetime | None = read_only()
    coverage_subscriber: JSONObject = attrs.field(metadata=ALWAYS)
    # Needs verbose=true, so absent from plain listings despite "always present".
    coverage_details: JSONObject | None = read_only()
