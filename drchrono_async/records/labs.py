"""Lab records: sublabs, orders, documents, tests and results."""

import datetime as dt
from collections.abc import Sequence

import attrs

from ._base import ALWAYS, JSONObjects, Record, key, read_only, writable

__all__ = ["LabDocument", "LabOrder", "LabOrderSummary", "LabResult", "LabTest", "Sublab"]


@attrs.frozen(kw_only=True)
class Sublab(Record):
    """A sublab (facility) of the practice's lab. `/api/sublabs`."""

    id: int | None = key()
    name: str | None = writable()
    facility_code: str | None = writable()


@attrs.frozen(kw_only=True)
class LabOrder(Record):
    """A lab order. `/api/lab_orders`.

    `icd10_codes` is an array of objects (`{"code": ..., "description": ...}`, the
    description read-only), as the API's details of the field and its lab-integration guide
    show; the reference's object table only prints "array of icd10_code". `documents` has
    been published as an array of strings: digit strings are read as integers.
    """

    id: int | None = key()
    sublab: int | None = writable()
    doctor: int | None = writable()
    patient: int | None = writable()
    documents: Sequence[int] | None = read_only()
    timestamp: dt.datetime | None = writable()
    status: str | None = writable()
    icd10_codes: JSONObjects | None = writable()
    requisition_id: str | None = read_only()
    accession_number: str | None = writable()
    notes: str | None = writable()
    priority: str | None = writable()


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

    id: int | None = key()
    lab_order: int | None = writable()
    document: str | None = writable()
    type: str | None = writable()
    timestamp: dt.datetime | None = read_only()


@attrs.frozen(kw_only=True)
class LabTest(Record):
    """A test requested by a lab order. `/api/lab_tests`."""

    id: int | None = key()
    lab_order: int | None = writable()
    code: str | None = writable()
    name: str | None = writable()
    description: str | None = writable()
    collection_date: dt.datetime | None = writable()
    internal_notes: str | None = writable()
    report_notes: str | None = writable()
    status: str | None = writable()
    specimen_source: str | None = writable()
    specimen_condition: str | None = writable()
    specimen_total_volume: float | None = writable()


@attrs.frozen(kw_only=True)
class LabResult(Record):
    """A result of a lab test. `/api/lab_results`."""

    id: int | None = key()
    lab_order: int | None = read_only()
    document: int | None = writable()
    lab_test: int | None = writable()
    specimen_received: dt.datetime | None = writable()
    results_released: dt.datetime | None = writable()
    test_performed: dt.datetime | None = writable()
    status: str | None = writable()
    value: str | int | float | None = writable()
    abnormal_status: str | None = writable()
    is_abnormal: bool | None = writable()
    normal_range: str | None = writable()
    observation_code: str | None = writable()
    observation_description: str | None = writable()
    group_code: str | None = writable()
    unit: str | None = writable()
    value_is_numeric: bool | None = writable()
    comments: str | None = writable()
