"""The one declarative table of the API's endpoints.

Everything that is the same for every endpoint (paths, allowed methods, filters and their
types, required filter groups, verbose keys, page sizes, file fields, actions) is data here.
The client's resources, the pre-send checks, the paginator and the emulator all read it, so an
endpoint is described once. Record types are named, not imported, so that this table stays
free of import cycles; `Endpoint.record_type` resolves the name.

Deliberate departures from the reference's printed types (each a typo there, used as the
other endpoints use the same name):
- `comm_logs` `since` is printed as integer; it is a timestamp like every other `since`.
- `procedures` `service_date` is printed as timestamp; it filters by a date.

Where captured live payloads and the API's own newer schema disagree with the reference's
object tables, the record types follow the live API and still read the reference's shape
(details in each record class's docstring):
- `appointments` `icd9_codes` / `icd10_codes`: arrays of strings (printed: string).
- `appointments` `status_transitions`: an array of objects (printed: one object).
- `appointments` `base_recurring_appointment`: an appointment id, a string (printed: integer).
- `appointments`: live objects carry unlisted keys (`first_edi_date`, `last_edi_date`,
  `ins1_status`, `ins2_status`, `payment_profile`, `resubmit_claim_original_id`,
  `is_telehealth`, `telehealth_url`, ...), kept in each record's `extra`.
- `lab_orders` `icd10_codes`: an array of `{"code", "description"}` objects (printed: "array
  of icd10_code"); `documents` has been published as strings (printed: integers).
- Not changed, noted: the newer schema prints `appointments` `billing_provider` and
  `supervising_provider` as strings and `cloned_from` as an integer; live payloads seen send
  `null` for all three, so the reference's integers are kept until a live value says more.
- appointments `id`: sent as a string ("usually numeric, but not always"); an integer sent
  instead is kept as its decimal text.
- messages `received_at` / `updated_at`, prescription_messages `created_at`: printed as
  boolean or string, sent as timestamps; task_categories `name`: printed boolean, a string;
  custom_insurance_plan_names `archived`: printed integer, a boolean (0/1 are read).
- task_templates: no `id` is printed, yet the endpoint takes PUT and PATCH by id; the record
  has one (an `id` the API sends is read, not left in `extra`).
- tasks `due_at_unknown` is printed as a string filter; the API reads it as a boolean
  (left as printed until a live capture settles it).
"""

from __future__ import annotations

import datetime as dt
import enum
from collections.abc import Mapping
from typing import Any, Literal

import attrs

__all__ = ["BY_NAME", "ENDPOINTS", "Action", "Endpoint", "FilterKind", "SyncKey"]


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

# The API refuses a date_range longer than this unless it lies wholly in the past.
MAX_DATE_RANGE_DAYS = 190
DEFAULT_PAGE_SIZE = 250
VERBOSE_MAX_PAGE_SIZE = 50

Returns = Literal["json", "text"] | str | None


@attrs.frozen
class Action:
    """A call that is not plain CRUD, e.g. `POST /api/offices/{id}/add_exam_room`.

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


def _frozen(values: Any) -> frozenset[str]:
    return frozenset(values)


@attrs.frozen
class SyncKey:
    """How the sync keys an endpoint's records in a store: data, read by the sync engine.

    `fields`: the record fields whose values make the key (several are joined by `:`).
    `listing`: filters of the listing a record came from that belong to its key (the same
    payer appears under each `payer_type` of `/api/insurances`). `hashed`: the records have
    no id of their own, so the key is `h:` and the first 32 hex digits of a SHA-256 over the
    `fields`' values (a record that does carry an `id` is keyed by it). `gettable`:
    `GET <path>/<key>` answers the record, so one that vanished from a listing or that a
    webhook marked stale can be read on its own; otherwise only a full listing can tell.
    """

    fields: tuple[str, ...] = ("id",)
    listing: tuple[str, ...] = ()
    hashed: bool = False
    gettable: bool = True
    # The key's type in a store where the record field's own type would mislead (a clinical
    # note is keyed by its appointment, whose ids are text); None: the field's type.
    type: Literal["integer", "text"] | None = None


@attrs.frozen
class Endpoint:
    """One API area: `client.<name>` is built from this."""

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
    # Filter -> the record field it selects on, where they differ (`since`: `updated_at`).
    filter_fields: Mapping[str, str] = attrs.field(factory=dict)
    # Filters that match case-insensitively on part of the value, not the whole of it.
    contains_filters: frozenset[str] = attrs.field(factory=frozenset, converter=_frozen)
    # Fields a create or a replace (PUT) must carry.
    required_fields: tuple[str, ...] = ()
    # The OAuth scopes a token needs for this endpoint (granted as `<scope>:read`/`:write`).
    scopes: frozenset[str] = attrs.field(factory=frozenset, converter=_frozen)
    # The longest `date_range` the API accepts unless it lies wholly in the past. Set only
    # where a date_range selects records by date, so that a listing may be split into windows.
    date_range_max_days: int | None = None
    # The sync: how records are keyed; the listings a copy makes (one per entry, for a
    # filter the API requires, such as `payer_type`); the nested objects kept as child
    # tables (name -> payload keys); why the endpoint is not copied at all, if it is not.
    sync_key: SyncKey = SyncKey()
    sync_listings: tuple[Mapping[str, str], ...] = ()
    sync_children: tuple[tuple[str, tuple[str, ...]], ...] = ()
    not_synced: str | None = None
    # Whether a sync asks for `verbose=true` by default: None, where the endpoint has verbose
    # keys; True where verbose brings what the records are for although no key is hidden.
    sync_verbose: bool | None = None

    @property
    def path(self) -> str:
        """The endpoint's path: `/api/<name>` for every endpoint of the reference."""
        return f"/api/{self.name}"

    def filter_field(self, name: str) -> str:
        """The record field the filter `name` selects on."""
        return self.filter_fields.get(name, "updated_at" if name == "since" else name)

    def date_range_accepted(self, start: dt.date, end: dt.date, today: dt.date) -> bool:
        """Whether the API takes `date_range=start/end` (both inclusive) on this endpoint.

        The one rule the client (which splits ranges into windows) and the emulator (which
        refuses the rest with a 400) both read: at most `date_range_max_days` days, counted
        inclusively, unless the range lies wholly in the past.
        """
        limit = self.date_range_max_days
        return limit is None or end < today or (end - start).days + 1 <= limit

    def max_page_size_for(self, verbose: bool) -> int:
        """The largest page the API serves for this listing."""
        return (
            min(self.max_page_size, self.verbose_max_page_size) if verbose else self.max_page_size
        )

    def default_page_size_for(self, verbose: bool) -> int:
        """The page size the API uses when none is asked for."""
        return min(self.page_size, self.max_page_size_for(verbose))

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
        from .errors import InvalidRequestError

        raise InvalidRequestError(f"{self.name} has no such action")


ENDPOINTS: tuple[Endpoint, ...] = (
    Endpoint(
        "appointments",
        "Appointment",
        date_range_max_days=MAX_DATE_RANGE_DAYS,
        sync_children=(
            ("vitals", ("vitals",)),
            ("custom_vitals", ("custom_vitals",)),
            ("status_transitions", ("status_transitions",)),
        ),
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
        scopes=["calendar", "clinical"],
    ),
    Endpoint(
        "custom_vitals",
        "CustomVital",
        methods={"GET"},
        filters={"doctor": INT, "show_archived": BOOL},
        scopes=["clinical", "settings"],
    ),
    Endpoint(
        "appointment_profiles",
        "AppointmentProfile",
        methods={"GET", "POST", "PUT", "PATCH", "DELETE"},
        filters={"doctor": INT, "show_archived": BOOL},
        required_fields=("color", "duration", "name", "online_scheduling", "reason"),
        scopes=["calendar", "settings"],
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
        scopes=["calendar", "settings"],
    ),
    Endpoint(
        "billing_profiles",
        "BillingProfile",
        methods={"GET"},
        filters={"doctor": INT},
        scopes=["billing"],
    ),
    Endpoint(
        "doctors",
        "Doctor",
        methods={"GET"},
        scopes=["user"],
    ),
    Endpoint(
        "documents",
        "Document",
        methods={"GET", "POST", "PUT", "PATCH", "DELETE"},
        filters={"doctor": INT, "patient": INT, "since": TIMESTAMP},
        file_fields={"document"},
        soft_delete_field="archived",
        required_fields=("date", "description", "doctor", "document", "patient"),
        scopes=["patients"],
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
                returns="Office",
            ),
        ),
        scopes=["user"],
    ),
    Endpoint(
        "insurances",
        "Insurance",
        methods={"GET"},
        filters={"payer_type": STR, "term": STR},
        required_filters=(("payer_type",),),
        scopes=["user"],
        # One listing per documented payer type; a payer id is unique within its type only.
        sync_key=SyncKey(fields=("payer_id",), listing=("payer_type",), gettable=False),
        sync_listings=(
            {"payer_type": "emdeon"},
            {"payer_type": "gateway"},
            {"payer_type": "ihcfa"},
        ),
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
        scopes=["patients"],
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
        filter_fields={"name": "insurance_plan_name"},
        contains_filters=["name"],
        scopes=["settings"],
    ),
    Endpoint(
        "custom_appointment_fields",
        "CustomAppointmentField",
        methods={"GET", "POST", "PUT", "PATCH"},
        filters={"doctor": INT, "show_archived": BOOL},
        scopes=["clinical", "settings"],
    ),
    Endpoint(
        "custom_demographics",
        "CustomDemographic",
        methods={"GET", "POST", "PUT", "PATCH"},
        filters={"doctor": INT, "show_archived": BOOL},
        scopes=["patients", "settings"],
    ),
    Endpoint(
        "patients",
        "Patient",
        methods={"GET", "POST", "PUT", "PATCH", "DELETE"},
        sync_children=(
            (
                "insurances",
                (
                    "primary_insurance",
                    "secondary_insurance",
                    "tertiary_insurance",
                    "auto_accident_insurance",
                    "workers_comp_insurance",
                ),
            ),
        ),
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
        contains_filters=["first_name", "last_name"],
        required_fields=("doctor", "gender"),
        scopes=["patients"],
    ),
    Endpoint(
        "patient_flag_types",
        "PatientFlagType",
        methods={"GET", "POST", "PUT", "PATCH"},
        filters={"doctor": INT},
        scopes=["patients", "settings"],
    ),
    Endpoint(
        "patient_messages",
        "PatientMessage",
        methods={"GET", "POST", "PUT", "PATCH"},
        filters={"doctor": INT, "patient": INT, "since": TIMESTAMP},
        scopes=["messages", "patients"],
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
        contains_filters=["first_name", "last_name"],
        scopes=["patients:summary"],
        not_synced="a summary view of `patients`, which is copied whole",
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
        scopes=["billing"],
        # No id is documented or seen: an entry of the log is keyed by all it says (a log
        # entry does not change; a changed one is a new entry, the old one marked vanished).
        sync_key=SyncKey(
            fields=(
                "patient",
                "doctor",
                "appointment",
                "amount",
                "payment_method",
                "created_by",
                "action",
                "source",
                "updated_at",
            ),
            hashed=True,
            gettable=False,
        ),
    ),
    Endpoint(
        "reminder_profiles",
        "ReminderProfile",
        methods={"GET", "POST", "PUT", "PATCH", "DELETE"},
        required_fields=("doctor", "name", "reminders"),
        scopes=["calendar"],
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
        scopes=["billing"],
    ),
    Endpoint(
        "transactions",
        "Transaction",
        methods={"GET"},
        filters={"appointment": INT, "line_item": INT, "posted_date": DATE, "since": TIMESTAMP},
        scopes=["billing"],
    ),
    Endpoint(
        "allergies",
        "Allergy",
        methods={"GET", "POST", "PUT", "PATCH"},
        filters={"patient": INT},
        verbose_keys={"description"},
        required_fields=("doctor", "patient"),
        scopes=["clinical"],
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
        scopes=["clinical"],
    ),
    Endpoint(
        "problems",
        "Problem",
        methods={"GET", "POST", "PUT", "PATCH"},
        filters={"patient": INT},
        required_fields=("doctor", "patient"),
        scopes=["clinical"],
    ),
    Endpoint(
        "procedures",
        "Procedure",
        methods={"GET"},
        filters={"appointment": INT, "doctor": INT, "patient": INT, "service_date": DATE},
        filter_fields={"service_date": "date"},
        scopes=["billing"],
    ),
    Endpoint(
        "amendments",
        "Amendment",
        methods={"GET", "POST", "PUT", "PATCH", "DELETE"},
        filters={"appointment": INT, "patient": INT},
        required_fields=("amendment_name", "doctor", "patient"),
        scopes=["clinical"],
    ),
    Endpoint(
        "clinical_note_templates",
        "ClinicalNoteTemplate",
        methods={"GET"},
        filters={"show_archived": BOOL},
        verbose_keys={"clinical_note_fields"},
        scopes=["clinical"],
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
        scopes=["clinical"],
        # One note per appointment, keyed by it (as text, as appointment ids are, so that
        # notes join appointments); no route reads one note by that key.
        sync_key=SyncKey(fields=("appointment",), gettable=False, type="text"),
        # Without verbose a note's sections come without their values.
        sync_verbose=True,
        sync_children=(("sections", ("clinical_note_sections",)),),
    ),
    Endpoint(
        "clinical_note_field_types",
        "ClinicalNoteFieldType",
        methods={"GET"},
        filters={"clinical_note_template": INT, "show_archived": BOOL},
        scopes=["clinical"],
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
        scopes=["clinical"],
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
        scopes=["messages"],
    ),
    Endpoint(
        "prescription_messages",
        "PrescriptionMessage",
        methods={"GET"},
        filters={"since": TIMESTAMP, "doctor": INT, "patient": INT, "parent_message": INT},
        # `since` selects what was received or sent since, not what changed: listed in full.
        filter_fields={"since": "created_at"},
        scopes=["clinical"],
    ),
    Endpoint(
        "fee_schedules",
        "FeeSchedule",
        methods={"GET"},
        filters={"since": TIMESTAMP, "doctor": INT, "payer_id": INT, "code_type": STR, "code": STR},
        scopes=["billing"],
    ),
    Endpoint(
        "comm_logs",
        "CommLog",
        methods={"GET", "POST", "PUT", "PATCH"},
        filters={"doctor": INT, "patient": INT, "since": TIMESTAMP},
        scopes=["calendar"],
    ),
    Endpoint(
        "inventory_categories",
        "InventoryCategory",
        methods={"GET"},
        filters={"doctor": INT, "since": TIMESTAMP},
        scopes=["clinical"],
    ),
    Endpoint(
        "inventory_vaccines",
        "InventoryVaccine",
        methods={"GET", "POST"},
        filters={"doctor": INT, "cvx_code": STR, "status": STR, "since": TIMESTAMP},
        scopes=["clinical"],
    ),
    Endpoint(
        "patient_vaccine_records",
        "PatientVaccineRecord",
        methods={"GET", "POST", "PUT", "PATCH"},
        filters={"doctor": INT, "patient": INT, "cvx_code": STR, "since": TIMESTAMP},
        scopes=["clinical"],
    ),
    Endpoint(
        "sublabs",
        "Sublab",
        methods={"GET", "POST", "PATCH", "PUT"},
        scopes=["labs"],
    ),
    Endpoint(
        "lab_orders",
        "LabOrder",
        methods={"GET", "POST", "PATCH", "PUT"},
        filters={"doctor": INT, "since": TIMESTAMP},
        # `since` selects what was created since, not what changed: a sync lists it in full.
        filter_fields={"since": "timestamp"},
        scopes=["labs"],
    ),
    Endpoint(
        "lab_orders_summary",
        "LabOrderSummary",
        methods={"GET"},
        filters={"doctor": INT, "patient": INT, "since": TIMESTAMP},
        scopes=["clinical"],
        not_synced="a summary of `lab_orders`, which is copied whole",
    ),
    Endpoint(
        "lab_documents",
        "LabDocument",
        methods={"GET", "POST", "PATCH", "PUT", "DELETE"},
        filters={"doctor": INT, "since": TIMESTAMP},
        file_fields={"document"},
        # `since` selects what was created since, not what changed: a sync lists it in full.
        filter_fields={"since": "timestamp"},
        scopes=["labs"],
    ),
    Endpoint(
        "lab_tests",
        "LabTest",
        methods={"GET", "POST", "PATCH", "PUT", "DELETE"},
        filters={"order": INT},
        scopes=["labs"],
    ),
    Endpoint(
        "lab_results",
        "LabResult",
        methods={"GET", "POST", "PATCH", "PUT", "DELETE"},
        filters={"doctor": INT, "order": INT},
        scopes=["labs"],
    ),
    Endpoint(
        "care_plans",
        "CarePlan",
        methods={"GET"},
        filters={"doctor": INT, "patient": INT, "plan_type": INT},
        scopes=["clinical"],
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
        scopes=["calendar", "patients"],
        # No id is documented: a check is keyed by who, when and what was asked (a re-run of
        # the same question at the same time is the same check, its answer updated).
        sync_key=SyncKey(
            fields=("patient", "appointment", "query_date", "cob_level", "request_service_type"),
            hashed=True,
            gettable=False,
        ),
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
        filter_fields={"due_at_date": "due_at", "due_at_range": "due_at", "due_at_since": "due_at"},
        required_fields=("status", "title"),
        scopes=["tasks"],
    ),
    Endpoint(
        "task_categories",
        "TaskCategory",
        methods={"GET", "POST", "PUT", "PATCH"},
        filters={"since": TIMESTAMP, "show_archived": BOOL},
        scopes=["tasks"],
    ),
    Endpoint(
        "task_notes",
        "TaskNote",
        methods={"GET", "POST", "PUT", "PATCH"},
        filters={"task": INT, "since": TIMESTAMP},
        scopes=["tasks"],
    ),
    Endpoint(
        "task_statuses",
        "TaskStatus",
        methods={"GET", "POST", "PUT", "PATCH"},
        filters={"since": TIMESTAMP, "show_archived": BOOL},
        scopes=["tasks"],
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
        scopes=["tasks"],
    ),
    Endpoint(
        "patient_interventions",
        "PatientIntervention",
        methods={"GET", "POST", "PUT", "PATCH"},
        filters={"doctor": INT, "patient": INT},
        scopes=["clinical", "patients"],
    ),
    Endpoint(
        "patient_physical_exams",
        "PatientPhysicalExam",
        methods={"GET", "POST", "PUT", "PATCH"},
        filters={"doctor": INT, "patient": INT},
        scopes=["clinical", "patients"],
    ),
    Endpoint(
        "patient_risk_assessments",
        "PatientRiskAssessment",
        methods={"GET", "POST", "PUT", "PATCH"},
        filters={"doctor": INT, "patient": INT},
        scopes=["clinical", "patients"],
    ),
    Endpoint(
        "patient_communications",
        "PatientCommunication",
        methods={"GET", "POST", "PUT", "PATCH"},
        filters={"doctor": INT, "patient": INT},
        scopes=["clinical", "patients"],
    ),
    Endpoint(
        "implantable_devices",
        "ImplantableDevice",
        methods={"GET"},
        filters={"doctor": INT, "patient": INT},
        scopes=["clinical"],
    ),
    Endpoint(
        "mu_2015_report",
        "Mu2015Report",
        methods={"GET"},
        filters={"date_range": DATE_RANGE, "stage": INT},
        scopes=["clinical"],
        not_synced="a report computed from the practice's data, not data of its own",
    ),
    Endpoint(
        "iframe_integration",
        None,
        methods=set(),
        not_synced="a setting switched on and off, with nothing to list",
        actions=(
            Action("enable", "POST", "/api/iframe_integration"),
            Action("disable", "DELETE", "/api/iframe_integration"),
        ),
    ),
)

BY_NAME: Mapping[str, Endpoint] = {e.name: e for e in ENDPOINTS}
