"""The one declarative table of the API's endpoints.

Everything that is the same for every endpoint (paths, allowed methods, filters and their
types, required filter groups, verbose keys, page sizes, file fields, actions) is data here, and
so is what differs from one endpoint to the next (which record field a filter selects by, which
fields a create must carry). The client's resources, the pre-send checks, the paginator and the
emulator all read it, so an endpoint is described once and the client and the emulator cannot
disagree about it. Record types are named, not imported, so that this table stays free of
import cycles; `Endpoint.record_type` resolves the name.

Deliberate departures from the reference's printed types (each a typo there, used as the
other endpoints use the same name):
- `comm_logs` `since` is printed as integer; it is a timestamp like every other `since`.
- `procedures` `service_date` is printed as timestamp; it filters by a date.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from typing import Any, Literal

import attrs

from .errors import InvalidRequestError

__all__ = ["BY_NAME", "ENDPOINTS", "Action", "Endpoint", "FilterKind"]


class FilterKind(enum.Enum):
    """How a filter value is checked and written into the query string."""

    INT = "integer"
    STR = "string"
    BOOL = "boolean"
    DATE = "date"
    DATE_RANGE = "date range"
    TIMESTAMP = "timestamp"
    STR_LIST = "array of strings"
    FLAG = "any"  # present or absent; its value is ignored by the API


INT = FilterKind.INT
STR = FilterKind.STR
BOOL = FilterKind.BOOL
DATE = FilterKind.DATE
DATE_RANGE = FilterKind.DATE_RANGE
TIMESTAMP = FilterKind.TIMESTAMP
STR_LIST = FilterKind.STR_LIST
FLAG = FilterKind.FLAG

# The most days (both ends included) a `date_range` may span unless it lies wholly in the past.
MAX_DATE_RANGE_DAYS = 190
DEFAULT_PAGE_SIZE = 250
VERBOSE_MAX_PAGE_SIZE = 50

Returns = Literal["json", "text"] | str | None


def _frozen(values: Any) -> frozenset[str]:
    return frozenset(values)


@attrs.frozen
class Action:
    """A call that is not plain CRUD, e.g. `POST /api/offices/{id}/add_exam_room`.

    `body`: the fields the call's body takes; `optional_body` those of them it may leave out.
    `returns`: a record type name (structured), "json" (decoded as is), "text" (XML exports)
    or None (an empty answer). `many`: the answer is a list of such records.
    """

    name: str
    method: str
    path: str
    body: tuple[str, ...] = ()
    params: Mapping[str, FilterKind] = attrs.field(factory=dict)
    returns: Returns = None
    many: bool = False
    optional_body: frozenset[str] = attrs.field(factory=frozenset, converter=_frozen)

    @optional_body.validator
    def _check_optional(self, _: Any, value: frozenset[str]) -> None:
        if not value <= set(self.body):
            raise InvalidRequestError(f"{self.name}: optional_body names fields not in body")

    @property
    def required_body(self) -> tuple[str, ...]:
        """The body fields the call must carry."""
        return tuple(name for name in self.body if name not in self.optional_body)


def _api_path(endpoint: Endpoint) -> str:
    return f"/api/{endpoint.name}"


@attrs.frozen
class Endpoint:
    """One API area: `client.<name>` is built from this.

    Filters select by the record field of the same name unless `filter_fields` names another
    (`since` selects by `updated_at` unless listed); `search_filters` match a case-insensitive
    part of any of their fields instead of a whole value.
    """

    name: str
    record: str | None
    methods: frozenset[str] = attrs.field(converter=_frozen)
    filters: Mapping[str, FilterKind] = attrs.field(factory=dict)
    # Each group: at least one of its filters must be given to list.
    required_filters: tuple[tuple[str, ...], ...] = ()
    verbose_keys: frozenset[str] = attrs.field(factory=frozenset, converter=_frozen)
    page_size: int = DEFAULT_PAGE_SIZE
    max_page_size: int = DEFAULT_PAGE_SIZE
    verbose_max_page_size: int = VERBOSE_MAX_PAGE_SIZE
    # Uploaded as multipart/form-data, returned as URLs.
    file_fields: frozenset[str] = attrs.field(factory=frozenset, converter=_frozen)
    actions: tuple[Action, ...] = ()
    id_type: type = int
    # DELETE sets this field instead of removing the record.
    soft_delete_field: str | None = None
    # The most days (both ends included) a `date_range` may span unless it lies wholly in the
    # past. Set only where a date_range selects records by date, so that a listing may be
    # split into windows.
    date_range_max_days: int | None = None
    path: str = attrs.field(kw_only=True, default=attrs.Factory(_api_path, takes_self=True))
    filter_fields: Mapping[str, str] = attrs.field(kw_only=True, factory=dict)
    search_filters: Mapping[str, tuple[str, ...]] = attrs.field(kw_only=True, factory=dict)
    # Accepted filters whose result depends on state outside the records (free slots, a
    # computed report): the emulator accepts and checks them but selects nothing by them.
    unmodelled_filters: frozenset[str] = attrs.field(
        kw_only=True, factory=frozenset, converter=_frozen
    )
    # Fields a create (POST) or a full update (PUT) must carry.
    required_fields: tuple[str, ...] = attrs.field(kw_only=True, default=())
    # Fields a write may send that the API never returns.
    write_only_fields: frozenset[str] = attrs.field(
        kw_only=True, factory=frozenset, converter=_frozen
    )

    def __attrs_post_init__(self) -> None:
        named = set(self.filter_fields) | set(self.search_filters) | self.unmodelled_filters
        unknown = named - set(self.filters)
        if unknown:
            raise InvalidRequestError(
                f"{self.name}: {sorted(unknown)} are not filters of the endpoint"
            )

    def max_page_size_for(self, verbose: bool) -> int:
        """The largest page the API serves for this listing."""
        return (
            min(self.max_page_size, self.verbose_max_page_size) if verbose else self.max_page_size
        )

    def default_page_size_for(self, verbose: bool) -> int:
        """The page size the API uses when none is asked for."""
        return min(self.page_size, self.max_page_size_for(verbose))

    def filter_field(self, name: str) -> str:
        """The record field filter `name` selects by."""
        default = "updated_at" if name == "since" else name
        return self.filter_fields.get(name, default)

    @property
    def record_type(self) -> type[Any] | None:
        """The attrs record class of this endpoint's objects."""
        if self.record is None:
            return None
        from drchrono_async import records

        return getattr(records, self.record)  # type: ignore[no-any-return]

    def action(self, name: str) -> Action:
        for action in self.actions:
            if action.name == name:
                return action
        raise KeyError(name)


ENDPOINTS: tuple[Endpoint, ...] = (
    Endpoint(
        "appointments",
        "Appointment",
        date_range_max_days=MAX_DATE_RANGE_DAYS,
        methods={"GET", "POST", "PUT", "PATCH", "DELETE"},
        filters={
            "date": DATE,
            "date_range": DATE_RANGE,
            "doctor": INT,
            "office": INT,
            "patient": INT,
            "since": TIMESTAMP,
            "status": STR,
            "show_archived": BOOL,
        },
        required_filters=(("since", "date", "date_range"),),
        verbose_keys={
            "clinical_note",
            "custom_vitals",
            "extended_updated_at",
            "reminders",
            "status_transitions",
            "vitals",
        },
        id_type=str,
        soft_delete_field="deleted_flag",
        filter_fields={"date": "scheduled_time", "date_range": "scheduled_time"},
        required_fields=("doctor", "exam_room", "office", "patient", "scheduled_time"),
        write_only_fields={"reminder_profile"},
    ),
    Endpoint(
        "custom_vitals",
        "CustomVital",
        methods={"GET"},
        filters={"doctor": INT, "show_archived": BOOL},
    ),
    Endpoint(
        "appointment_profiles",
        "AppointmentProfile",
        methods={"GET", "POST", "PUT", "PATCH", "DELETE"},
        filters={"doctor": INT, "show_archived": BOOL},
        required_fields=("color", "duration", "name", "online_scheduling", "reason"),
    ),
    Endpoint(
        "appointment_templates",
        "AppointmentTemplate",
        methods={"GET", "POST", "PUT", "PATCH", "DELETE"},
        filters={
            "available": DATE,
            "doctor": INT,
            "office": INT,
            "profile": INT,
            "show_archived": BOOL,
            "strict": FLAG,
            "week_day": STR,
        },
        verbose_keys={"open_slots"},
        filter_fields={"week_day": "week_days"},
        unmodelled_filters={"available", "strict"},
    ),
    Endpoint(
        "billing_profiles",
        "BillingProfile",
        methods={"GET"},
        filters={"doctor": INT},
    ),
    Endpoint(
        "doctors",
        "Doctor",
        methods={"GET"},
    ),
    Endpoint(
        "documents",
        "Document",
        methods={"GET", "POST", "PUT", "PATCH", "DELETE"},
        filters={"doctor": INT, "patient": INT, "since": TIMESTAMP},
        file_fields={"document"},
        soft_delete_field="archived",
        required_fields=("date", "description", "doctor", "document", "patient"),
    ),
    Endpoint(
        "offices",
        "Office",
        methods={"GET", "PATCH"},
        filters={"show_archived": BOOL},
        verbose_keys={"online_timeslots"},
        actions=(
            Action(
                "add_exam_room",
                "POST",
                "/api/offices/{id}/add_exam_room",
                body=("name", "online_scheduling"),
                optional_body={"online_scheduling"},
                returns="Office",
            ),
        ),
    ),
    Endpoint(
        "insurances",
        "Insurance",
        methods={"GET"},
        filters={"payer_type": STR, "term": STR},
        required_filters=(("payer_type",),),
        search_filters={"term": ("payer_name", "payer_id", "state")},
    ),
    Endpoint(
        "consent_forms",
        "ConsentForm",
        methods={"GET", "POST", "PUT", "PATCH"},
        filters={"doctor": INT},
        file_fields={"uri"},
        actions=(
            Action(
                "apply_to_appointment",
                "POST",
                "/api/consent_forms/{id}/apply_to_appointment",
                body=("appointment",),
                returns=None,
            ),
            Action(
                "unapply_from_appointment",
                "POST",
                "/api/consent_forms/{id}/unapply_from_appointment",
                body=("appointment",),
                returns=None,
            ),
        ),
        required_fields=("doctor", "title", "uri"),
    ),
    Endpoint(
        "custom_insurance_plan_names",
        "CustomInsurancePlanName",
        methods={"GET"},
        filters={
            "doctor": INT,
            "user": INT,
            "name": STR,
            "since": TIMESTAMP,
            "show_archived": BOOL,
        },
        search_filters={"name": ("insurance_plan_name",)},
    ),
    Endpoint(
        "custom_appointment_fields",
        "CustomAppointmentField",
        methods={"GET", "POST", "PUT", "PATCH"},
        filters={"doctor": INT, "show_archived": BOOL},
    ),
    Endpoint(
        "custom_demographics",
        "CustomDemographic",
        methods={"GET", "POST", "PUT", "PATCH"},
        filters={"doctor": INT, "show_archived": BOOL},
    ),
    Endpoint(
        "patients",
        "Patient",
        methods={"GET", "POST", "PUT", "PATCH", "DELETE"},
        filters={
            "date_of_birth": DATE,
            "doctor": INT,
            "email": STR,
            "ethnicity": STR,
            "first_name": STR,
            "gender": STR,
            "last_name": STR,
            "offices": STR,
            "preferred_language": STR,
            "race": STR,
            "since": TIMESTAMP,
            "show_inactive": BOOL,
        },
        verbose_keys={
            "auto_accident_insurance",
            "primary_insurance",
            "secondary_insurance",
            "tertiary_insurance",
            "custom_demographics",
            "patient_flags",
            "patient_flags_attached",
            "referring_doctor",
            "workers_comp_insurance",
        },
        file_fields={"patient_photo"},
        actions=(
            Action(
                "ccda",
                "GET",
                "/api/patients/{id}/ccda",
                params={"date": DATE, "date_range": DATE_RANGE},
                returns="text",
            ),
            Action(
                "qrda1",
                "GET",
                "/api/patients/{id}/qrda1",
                params={"start_date": DATE, "end_date": DATE},
                returns="text",
            ),
            Action(
                "onpatient_access",
                "GET",
                "/api/patients/{id}/onpatient_access",
                returns="OnpatientAccess",
                many=True,
            ),
            Action(
                "send_onpatient_access", "POST", "/api/patients/{id}/onpatient_access", returns=None
            ),
            Action(
                "revoke_onpatient_access",
                "DELETE",
                "/api/patients/{id}/onpatient_access",
                returns=None,
            ),
        ),
        search_filters={"first_name": ("first_name",), "last_name": ("last_name",)},
        required_fields=("doctor", "gender"),
    ),
    Endpoint(
        "patient_flag_types",
        "PatientFlagType",
        methods={"GET", "POST", "PUT", "PATCH"},
        filters={"doctor": INT},
    ),
    Endpoint(
        "patient_messages",
        "PatientMessage",
        methods={"GET", "POST", "PUT", "PATCH"},
        filters={"doctor": INT, "patient": INT, "since": TIMESTAMP},
    ),
    Endpoint(
        "patients_summary",
        "PatientSummary",
        methods={"GET", "POST", "PUT", "PATCH", "DELETE"},
        filters={
            "date_of_birth": DATE,
            "doctor": INT,
            "first_name": STR,
            "gender": STR,
            "last_name": STR,
            "since": TIMESTAMP,
        },
        search_filters={"first_name": ("first_name",), "last_name": ("last_name",)},
    ),
    Endpoint(
        "patient_payments",
        "PatientPayment",
        methods={"GET", "POST"},
        filters={"doctor": INT, "patient": INT, "since": TIMESTAMP},
    ),
    Endpoint(
        "patient_payment_log",
        "PatientPaymentLog",
        methods={"GET"},
        filters={"doctor": INT, "office": INT, "since": TIMESTAMP},
    ),
    Endpoint(
        "reminder_profiles",
        "ReminderProfile",
        methods={"GET", "POST", "PUT", "PATCH", "DELETE"},
        required_fields=("doctor", "name", "reminders"),
    ),
    Endpoint(
        "users",
        "User",
        methods={"GET"},
        actions=(Action("current", "GET", "/api/users/current", returns="User"),),
    ),
    Endpoint(
        "user_groups",
        "UserGroup",
        methods={"GET"},
    ),
    Endpoint(
        "line_items",
        "LineItem",
        methods={"GET", "POST"},
        filters={
            "appointment": INT,
            "doctor": INT,
            "office": INT,
            "patient": INT,
            "service_date": DATE,
            "posted_date": DATE,
            "since": TIMESTAMP,
        },
        required_fields=("appointment", "code", "doctor", "price", "procedure_type"),
    ),
    Endpoint(
        "transactions",
        "Transaction",
        methods={"GET"},
        filters={"appointment": INT, "line_item": INT, "posted_date": DATE, "since": TIMESTAMP},
    ),
    Endpoint(
        "allergies",
        "Allergy",
        methods={"GET", "POST", "PUT", "PATCH"},
        filters={"patient": INT},
        verbose_keys={"description"},
        required_fields=("doctor", "patient"),
    ),
    Endpoint(
        "medications",
        "Medication",
        methods={"GET", "POST", "PUT", "PATCH"},
        filters={"patient": INT},
        actions=(
            Action(
                "append_to_pharmacy_note",
                "PATCH",
                "/api/medications/{id}/append_to_pharmacy_note",
                body=("text",),
                returns="json",
            ),
        ),
        required_fields=("doctor", "patient"),
    ),
    Endpoint(
        "problems",
        "Problem",
        methods={"GET", "POST", "PUT", "PATCH"},
        filters={"patient": INT},
        required_fields=("doctor", "patient"),
    ),
    Endpoint(
        "procedures",
        "Procedure",
        methods={"GET"},
        filters={"appointment": INT, "doctor": INT, "patient": INT, "service_date": DATE},
        filter_fields={"service_date": "date"},
    ),
    Endpoint(
        "amendments",
        "Amendment",
        methods={"GET", "POST", "PUT", "PATCH", "DELETE"},
        filters={"appointment": INT, "patient": INT},
        required_fields=("amendment_name", "doctor", "patient"),
    ),
    Endpoint(
        "clinical_note_templates",
        "ClinicalNoteTemplate",
        methods={"GET"},
        filters={"show_archived": BOOL},
        verbose_keys={"clinical_note_fields"},
    ),
    Endpoint(
        "clinical_notes",
        "ClinicalNote",
        date_range_max_days=MAX_DATE_RANGE_DAYS,
        methods={"GET"},
        filters={
            "date": DATE,
            "date_range": DATE_RANGE,
            "office": INT,
            "patient": INT,
            "show_archived": BOOL,
            "since": TIMESTAMP,
        },
        required_filters=(("since", "date", "date_range"),),
        page_size=5,
        max_page_size=20,
        verbose_max_page_size=20,
        filter_fields={"date": "scheduled_time", "date_range": "scheduled_time"},
    ),
    Endpoint(
        "clinical_note_field_types",
        "ClinicalNoteFieldType",
        methods={"GET"},
        filters={"clinical_note_template": INT, "show_archived": BOOL},
    ),
    Endpoint(
        "clinical_note_field_values",
        "ClinicalNoteFieldValue",
        methods={"GET", "POST", "PUT", "PATCH"},
        filters={
            "appointment": INT,
            "clinical_note_field": INT,
            "clinical_note_template": INT,
            "show_archived": BOOL,
            "show_persistent": BOOL,
            "since": TIMESTAMP,
        },
        unmodelled_filters={"show_persistent"},
    ),
    Endpoint(
        "messages",
        "Message",
        methods={"GET", "POST", "PUT", "PATCH", "DELETE"},
        filters={
            "received_since": TIMESTAMP,
            "updated_since": TIMESTAMP,
            "doctor": INT,
            "owner": INT,
            "patient": INT,
            "responsible_user": INT,
            "show_archived": BOOL,
        },
        file_fields={"attachment"},
        filter_fields={"received_since": "received_at", "updated_since": "updated_at"},
    ),
    Endpoint(
        "prescription_messages",
        "PrescriptionMessage",
        methods={"GET"},
        filters={"since": TIMESTAMP, "doctor": INT, "patient": INT, "parent_message": INT},
    ),
    Endpoint(
        "fee_schedules",
        "FeeSchedule",
        methods={"GET"},
        filters={"since": TIMESTAMP, "doctor": INT, "payer_id": INT, "code_type": STR, "code": STR},
    ),
    Endpoint(
        "comm_logs",
        "CommLog",
        methods={"GET", "POST", "PUT", "PATCH"},
        filters={"doctor": INT, "patient": INT, "since": TIMESTAMP},
    ),
    Endpoint(
        "inventory_categories",
        "InventoryCategory",
        methods={"GET"},
        filters={"doctor": INT, "since": TIMESTAMP},
    ),
    Endpoint(
        "inventory_vaccines",
        "InventoryVaccine",
        methods={"GET", "POST"},
        filters={"doctor": INT, "cvx_code": STR, "status": STR, "since": TIMESTAMP},
    ),
    Endpoint(
        "patient_vaccine_records",
        "PatientVaccineRecord",
        methods={"GET", "POST", "PUT", "PATCH"},
        filters={"doctor": INT, "patient": INT, "cvx_code": STR, "since": TIMESTAMP},
    ),
    Endpoint(
        "sublabs",
        "Sublab",
        methods={"GET", "POST", "PATCH", "PUT"},
    ),
    Endpoint(
        "lab_orders",
        "LabOrder",
        methods={"GET", "POST", "PATCH", "PUT"},
        filters={"doctor": INT, "since": TIMESTAMP},
    ),
    Endpoint(
        "lab_orders_summary",
        "LabOrderSummary",
        methods={"GET"},
        filters={"doctor": INT, "patient": INT, "since": TIMESTAMP},
    ),
    Endpoint(
        "lab_documents",
        "LabDocument",
        methods={"GET", "POST", "PATCH", "PUT", "DELETE"},
        filters={"doctor": INT, "since": TIMESTAMP},
        file_fields={"document"},
    ),
    Endpoint(
        "lab_tests",
        "LabTest",
        methods={"GET", "POST", "PATCH", "PUT", "DELETE"},
        filters={"order": INT},
    ),
    Endpoint(
        "lab_results",
        "LabResult",
        methods={"GET", "POST", "PATCH", "PUT", "DELETE"},
        filters={"doctor": INT, "order": INT},
    ),
    Endpoint(
        "care_plans",
        "CarePlan",
        methods={"GET"},
        filters={"doctor": INT, "patient": INT, "plan_type": INT},
    ),
    Endpoint(
        "eligibility_checks",
        "EligibilityCheck",
        methods={"GET"},
        filters={
            "patient": INT,
            "appointment": INT,
            "appointment_date": DATE,
            "appointment_date_range": DATE_RANGE,
            "query_date": DATE,
            "query_date_range": DATE_RANGE,
            "service_types": STR_LIST,
            "eligibilities": STR_LIST,
        },
        verbose_keys={"coverage_details"},
        filter_fields={
            "appointment_date_range": "appointment_date",
            "query_date_range": "query_date",
        },
    ),
    Endpoint(
        "tasks",
        "Task",
        methods={"GET", "POST", "PUT", "PATCH"},
        filters={
            "assignee_user": INT,
            "assignee_group": INT,
            "status": INT,
            "category": INT,
            "due_at_date": DATE,
            "due_at_range": DATE_RANGE,
            "due_at_since": TIMESTAMP,
            "due_at_unknown": STR,
            "since": TIMESTAMP,
            "show_archived": BOOL,
        },
        filter_fields={
            "due_at_date": "due_at",
            "due_at_range": "due_at",
            "due_at_since": "due_at",
        },
        unmodelled_filters={"due_at_unknown"},
        required_fields=("status", "title"),
    ),
    Endpoint(
        "task_categories",
        "TaskCategory",
        methods={"GET", "POST", "PUT", "PATCH"},
        filters={"since": TIMESTAMP, "show_archived": BOOL},
    ),
    Endpoint(
        "task_notes",
        "TaskNote",
        methods={"GET", "POST", "PUT", "PATCH"},
        filters={"task": INT, "since": TIMESTAMP},
    ),
    Endpoint(
        "task_statuses",
        "TaskStatus",
        methods={"GET", "POST", "PUT", "PATCH"},
        filters={"since": TIMESTAMP, "show_archived": BOOL},
    ),
    Endpoint(
        "task_templates",
        "TaskTemplate",
        methods={"GET", "POST", "PUT", "PATCH"},
        filters={
            "assignee_user": INT,
            "assignee_group": INT,
            "status": INT,
            "category": INT,
            "since": TIMESTAMP,
            "show_archived": BOOL,
        },
    ),
    Endpoint(
        "patient_interventions",
        "PatientIntervention",
        methods={"GET", "POST", "PUT", "PATCH"},
        filters={"doctor": INT, "patient": INT},
    ),
    Endpoint(
        "patient_physical_exams",
        "PatientPhysicalExam",
        methods={"GET", "POST", "PUT", "PATCH"},
        filters={"doctor": INT, "patient": INT},
    ),
    Endpoint(
        "patient_risk_assessments",
        "PatientRiskAssessment",
        methods={"GET", "POST", "PUT", "PATCH"},
        filters={"doctor": INT, "patient": INT},
    ),
    Endpoint(
        "patient_communications",
        "PatientCommunication",
        methods={"GET", "POST", "PUT", "PATCH"},
        filters={"doctor": INT, "patient": INT},
    ),
    Endpoint(
        "implantable_devices",
        "ImplantableDevice",
        methods={"GET"},
        filters={"doctor": INT, "patient": INT},
    ),
    Endpoint(
        "mu_2015_report",
        "Mu2015Report",
        methods={"GET"},
        filters={"date_range": DATE_RANGE, "stage": INT},
        unmodelled_filters={"date_range", "stage"},
    ),
    Endpoint(
        "iframe_integration",
        None,
        methods=set(),
        actions=(
            Action("enable", "POST", "/api/iframe_integration"),
            Action("disable", "DELETE", "/api/iframe_integration"),
        ),
    ),
)

BY_NAME: Mapping[str, Endpoint] = {e.name: e for e in ENDPOINTS}
