"""Lab records: sublabs, orders, documents, tests and results."""

import datetime as dt
from collections.abc import Sequence

import attrs

from ._base import ALWAYS, ID, READ_ONLY, WRITABLE, JSONObjects, Record

__all__ = ["LabDocument", "LabOrder", "LabOrderSummary", "LabResult", "LabTest", "Sublab"]


@attrs.frozen(kw_only=True)
class Sublab(Record):
    """A sublab (facility) of the practice's lab. `/api/sublabs`."""

    id: int | None = attrs.field(default=None, metadata=ID)
    name: str | None = attrs.field(default=None, metadata=WRITABLE)
    facility_code: str | None = attrs.field(default=None, metadata=WRITABLE)


@attrs.frozen(kw_only=True)
class LabOrder(Record):
    """A lab order. `/api/lab_orders`.

    `icd10_codes` is an array of objects (`{"code": ..., "description": ...}`, the
    description read-only), as the API's details of the field and its lab-integration guide
    show; the reference's object table only prints "array of icd10_code". `documents` has
    been published as an array of strings: digit strings are read as integers.
    """

    id: int | None = attrs.field(default=None, metadata=ID)
    sublab: int | None = attrs.field(default=None, metadata=WRITABLE)
    doctor: int | None = attrs.field(default=None, metadata=WRITABLE)
    patient: int | None = attrs.field(default=None, metadata=WRITABLE)
    documents: Sequence[int] | None = attrs.field(default=None, metadata=READ_ONLY)
    timestamp: dt.datetime | None = attrs.field(default=None, metadata=WRITABLE)
    status: str | None = attrs.field(default=None, metadata=WRITABLE)
    icd10_codes: JSONObjects | None = attrs.field(default=None, metadata=WRITABLE)
    requisition_id: str | None = attrs.field(default=None, metadata=READ_ONLY)
    accession_number: str | None = attrs.field(default=None, metadata=WRITABLE)
    notes: str | None = attrs.field(default=None, metadata=WRITABLE)
    priority: str | None = attrs.field(default=None, metadata=WRITABLE)


@attrs.frozen(kw_only=True)
class LabOrderSummary(Record):
    """The summary form of a lab order. `/api/lab_orders_summary`."""

    accession_number: str = attrs.field(metadata=ALWAYS)
    appointment: int = attrs.field(metadata=ALWAYS)
    created_at: dt.datetime = attrs.field(metadata=ALWAYS)
    doctor: int = attrs.field(metadata=ALWAYS)
    id: int = attrs.field(metadata=ALWAYS)
    lab: str = attrs.field(metadata=ALWAYS)
    notes: str = attrs.field(metadata=ALWAYS)
    origin: str = attrs.field(metadata=ALWAYS)
    patient: int = attrs.field(metadata=ALWAYS)
    priority: str = attrs.field(metadata=ALWAYS)
    status: str = attrs.field(metadata=ALWAYS)
    updated_at: dt.datetime = attrs.field(metadata=ALWAYS)


@attrs.frozen(kw_only=True)
class LabDocument(Record):
    """A document attached to a lab order. `/api/lab_documents`."""

    id: int | None = attrs.field(default=None, metadata=ID)
    lab_order: int | None = attrs.field(default=None, metadata=WRITABLE)
    document: str | None = attrs.field(default=None, metadata=WRITABLE)
    type: str | None = attrs.field(default=None, metadata=WRITABLE)
    timestamp: dt.datetime | None = attrs.field(default=None, metadata=READ_ONLY)


@attrs.frozen(kw_only=True)
class LabTest(Record):
    """A test requested by a lab order. `/api/lab_tests`."""

    id: int | None = attrs.field(default=None, metadata=ID)
    lab_order: int | None = attrs.field(default=None, metadata=WRITABLE)
    code: str | None = attrs.field(default=None, metadata=WRITABLE)
    name: str | None = attrs.field(default=None, metadata=WRITABLE)
    description: str | None = attrs.field(default=None, metadata=WRITABLE)
    collection_date: dt.datetime | None = attrs.field(default=None, metadata=WRITABLE)
    internal_notes: str | None = attrs.field(default=None, metadata=WRITABLE)
    report_notes: str | None = attrs.field(default=None, metadata=WRITABLE)
    status: str | None = attrs.field(default=None, metadata=WRITABLE)
    specimen_source: str | None = attrs.field(default=None, metadata=WRITABLE)
    specimen_condition: str | None = attrs.field(default=None, metadata=WRITABLE)
    specimen_total_volume: float | None = attrs.field(default=None, metadata=WRITABLE)


@attrs.frozen(kw_only=True)
class LabResult(Record):
    """A result of a lab test. `/api/lab_results`."""

    id: int | None = attrs.field(default=None, metadata=ID)
    lab_order: int | None = attrs.field(default=None, metadata=READ_ONLY)
    document: int | None = attrs.field(default=None, metadata=WRITABLE)
    lab_test: int | None = attrs.field(default=None, metadata=WRITABLE)
    specimen_received: dt.datetime | None = attrs.field(default=None, metadata=WRITABLE)
    results_released: dt.datetime | None = attrs.field(default=None, metadata=WRITABLE)
    test_performed: dt.datetime | None = attrs.field(default=None, metadata=WRITABLE)
    status: str | None = attrs.field(default=None, metadata=WRITABLE)
    value: str | int | float | None = attrs.field(default=None, metadata=WRITABLE)
    abnormal_status: str | None = attrs.field(default=None, metadata=WRITABLE)
    is_abnormal: bool | None = attrs.field(default=None, metadata=WRITABLE)
    normal_range: str | None = attrs.field(default=None, metadata=WRITABLE)
    observation_code: str | None = attrs.field(default=None, metadata=WRITABLE)
    observation_description: str | None = attrs.field(default=None, metadata=WRITABLE)
    group_code: str | None = attrs.field(default=None, metadata=WRITABLE)
    unit: str | None = attrs.field(default=None, metadata=WRITABLE)
    value_is_numeric: bool | None = attrs.field(default=None, metadata=WRITABLE)
    comments: str | None = attrs.field(default=None, metadata=WRITABLE)
