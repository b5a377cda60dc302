"""`DrChronoClient`: owns the HTTP client, the transport and one resource per endpoint.

Resources are built on first access (`_LazyResource`): a client or a `with_options` view
costs the same whatever the table's size, and most callers touch a handful of endpoints.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import math
import zoneinfo
from collections.abc import Iterator, Mapping
from types import TracebackType
from typing import Any

import httpx

from . import records
from ._auth import Auth, StaticAuth
from ._checks import check_base_url, check_int, check_number, check_seconds, check_secret
from ._converter import DrChronoConverter
from ._converter import converter as default_converter
from ._endpoints import BY_NAME, ENDPOINTS, Endpoint
from ._redact import protect_origin
from ._transport import CallCount, Transport, count_calls
from .errors import InvalidRequestError
from .oauth import DEFAULT_REFRESH_MARGIN, OAuthApp, RefreshingAuth, TokenStore
from .pagination import Paginator
from .ratelimit import Clock, HourlyQuota, Quota, SystemClock
from .ratelimit._priority import PriorityLike, check_priority
from .resources import (
    BaseResource,
    ConsentFormsResource,
    IframeIntegrationResource,
    MedicationsResource,
    OfficesResource,
    PatientsResource,
    ReadCreateResource,
    ReadOnlyResource,
    ReadWriteResource,
    Resource,
    ResourceContext,
    UsersResource,
    resource_class,
)

__all__ = ["DEFAULT_BASE_URL", "DEFAULT_TIMEOUT", "DrChronoClient"]

DEFAULT_BASE_URL = "https://drchrono.com"
# Pages of 250 appointments are large and the API is slow to build them: generous read time.
DEFAULT_TIMEOUT = httpx.Timeout(60.0, connect=10.0)
DEFAULT_MAX_CONCURRENCY = 8


class _Unset:
    """An option `with_options` leaves as the parent has it."""

    def __repr__(self) -> str:
        return "<unset>"


_UNSET = _Unset()


def _max_retries(value: object) -> int:
    return check_int(value, "max_retries", low=0, high=100)


class _Default:
    def __repr__(self) -> str:
        return "HourlyQuota()"


_DEFAULT_QUOTA: Any = _Default()


class DrChronoClient:
    """An asyncio client for the DrChrono v4 API.

    Use it as an async context manager::

        async with DrChronoClient(access_token="...") as client:
            me = await client.request("GET", "/api/users/current")

    Args:
        access_token: a fixed OAuth bearer token (visible ASCII). Never shown in `repr` or
            logs. Or, instead:
        oauth, token_store: an `OAuthApp` and the `TokenStore` holding its token: the client
            loads the token, refreshes it `refresh_margin` seconds (server time; at most
            half the token's lifetime) before it expires and on a 401, once across every
            coroutine and every process sharing the store, and saves each new token before
            using it. `aclose()` waits for a refresh in flight (at most 30 s).
        base_url: the API's origin; the token is sent to this origin only.
        timeout: an `httpx.Timeout` or seconds for every phase. Defaults to 60 s (10 s to
            connect) on a client this library creates; a caller's `http_client` keeps its own
            unless this is given.
        max_retries: how often a transient failure (connection error, timeout, 500/502/503/504,
            an HTML page instead of JSON) is retried. POST and PATCH are retried only when the
            request provably never reached the server.
        http_client: the caller's own `httpx.AsyncClient`; the library does not close it.
        transport: an httpx transport for a client this library creates (for example the
            emulator's in-process `emulator.transport`).
        quota: the scheduler every request takes a permit from. Default: a fresh
            `HourlyQuota()` (500 calls per clock hour) for this client alone; share one
            `HourlyQuota` between clients of one process, or a `RedisQuota` between processes.
            `None` sends without permits and raises `RateLimitError` on a 429.
        max_wait: the longest a request may wait for a permit or a 429 pause, in seconds;
            `None` waits as long as needed (jobs), `0` fails at once (web backends).
        priority: the quota lane of this client's requests: `"interactive"` (the default:
            someone is waiting for the answer) goes before every waiting `"background"`
            request and may spend the quota's reserve; give syncs and batch jobs
            `"background"`, or a `with_options(priority="background")` view.
        max_concurrency: the most requests in flight; also sizes the connection pool.
        clock: the time source for backoff (and the quota's, when it has none of its own).
        timezone: the practice's timezone (an IANA name or a tzinfo). The API reads and writes
            naive local times: an aware datetime passed to a filter or a write is converted
            to this zone first. Default UTC.
        converter: the converter that builds records: the lenient default, or
            `make_converter(strict=True)` to fail on any value that does not fit its field.

    Logging, process-wide: httpx logs every request's full URL at INFO, query values
    (patient names) included. So the first client (or `OAuthApp`) of the process adds
    logging filters to the `httpx` and `httpcore.*` loggers, and each client adds its
    `base_url`'s origin to the filters' list: on those origins every query value becomes
    `[redacted]`; every header value in httpcore's DEBUG lines does too. They stay for the
    life of the process, for every handler, and leave other origins' URLs as they are.
    On purpose, with no option to turn it off: patient data must never reach a log.
    """

    # One attribute per endpoint of the table (tests check that these match it).
    appointments: Resource[records.Appointment]
    custom_vitals: ReadOnlyResource[records.CustomVital]
    appointment_profiles: Resource[records.AppointmentProfile]
    appointment_templates: Resource[records.AppointmentTemplate]
    billing_profiles: ReadOnlyResource[records.BillingProfile]
    doctors: ReadOnlyResource[records.Doctor]
    documents: Resource[records.Document]
    offices: OfficesResource
    insurances: ReadOnlyResource[records.Insurance]
    consent_forms: ConsentFormsResource
    custom_insurance_plan_names: ReadOnlyResource[records.CustomInsurancePlanName]
    custom_appointment_fields: ReadWriteResource[records.CustomAppointmentField]
    custom_demographics: ReadWriteResource[records.CustomDemographic]
    patients: PatientsResource
    patient_flag_types: ReadWriteResource[records.PatientFlagType]
    patient_messages: ReadWriteResource[records.PatientMessage]
    patients_summary: Resource[records.PatientSummary]
    patient_payments: ReadCreateResource[records.PatientPayment]
    patient_payment_log: ReadOnlyResource[records.PatientPaymentLog]
    reminder_profiles: Resource[records.ReminderProfile]
    users: UsersResource
    user_groups: ReadOnlyResource[records.UserGroup]
    line_items: ReadCreateResource[records.LineItem]
    transactions: ReadOnlyResource[records.Transaction]
    allergies: ReadWriteResource[records.Allergy]
    medications: MedicationsResource
    problems: ReadWriteResource[records.Problem]
    procedures: ReadOnlyResource[records.Procedure]
    amendments: Resource[records.Amendment]
    clinical_note_templates: ReadOnlyResource[records.ClinicalNoteTemplate]
    clinical_notes: ReadOnlyResource[records.ClinicalNote]
    clinical_note_field_types: ReadOnlyResource[records.ClinicalNoteFieldType]
    clinical_note_field_values: ReadWriteResource[records.ClinicalNoteFieldValue]
    messages: Resource[records.Message]
    prescription_messages: ReadOnlyResource[records.PrescriptionMessage]
    fee_schedules: ReadOnlyResource[records.FeeSchedule]
    comm_logs: ReadWriteResource[records.CommLog]
    inventory_categories: ReadOnlyResource[records.InventoryCategory]
    inventory_vaccines: ReadCreateResource[records.InventoryVaccine]
    patient_vaccine_records: ReadWriteResource[records.PatientVaccineRecord]
    sublabs: ReadWriteResource[records.Sublab]
    lab_orders: ReadWriteResource[records.LabOrder]
    lab_orders_summary: ReadOnlyResource[records.LabOrderSummary]
    lab_documents: Resource[records.LabDocument]
    lab_tests: Resource[records.LabTest]
    lab_results: Resource[records.LabResult]
    care_plans: ReadOnlyResource[records.CarePlan]
    eligibility_checks: ReadOnlyResource[records.EligibilityCheck]
    tasks: ReadWriteResource[records.Task]
    task_categories: ReadWriteResource[records.TaskCategory]
    task_notes: ReadWriteResource[records.TaskNote]
    task_statuses: ReadWriteResource[records.TaskStatus]
    task_templates: ReadWriteResource[records.TaskTemplate]
    patient_interventions: ReadWriteResource[records.PatientIntervention]
    patient_physical_exams: ReadWriteResource[records.PatientPhysicalExam]
    patient_risk_assessments: ReadWriteResource[records.PatientRiskAssessment]
    patient_communications: ReadWriteResource[records.PatientCommunication]
    implantable_devices: ReadOnlyResource[records.ImplantableDevice]
    mu_2015_report: ReadOnlyResource[records.Mu2015Report]
    iframe_integration: IframeIntegrationResource

    def __init__(
        self,
        access_token: str | None = None,
        *,
        oauth: OAuthApp | None = None,
        token_store: TokenStore | None = None,
        refresh_margin: float = DEFAULT_REFRESH_MARGIN,
        base_url: str = DEFAULT_BASE_URL,
        timeout: httpx.Timeout | float | None = None,
        max_retries: int = 4,
        http_client: httpx.AsyncClient | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        quota: Quota | None = _DEFAULT_QUOTA,
        max_wait: float | None = None,
        max_concurrency: int = DEFAULT_MAX_CONCURRENCY,
        clock: Clock | None = None,
        timezone: str | dt.tzinfo = "UTC",
        converter: DrChronoConverter | None = None,
        priority: PriorityLike = "interactive",
    ) -> None:
        if (access_token is None) == (oauth is None):
            raise InvalidRequestError("give either access_token, or oauth with token_store")
        if (oauth is None) != (token_store is None):
            raise InvalidRequestError("oauth and token_store go together")
        if access_token is not None:
            check_secret(access_token, "access_token")
        refresh_margin = check_number(
            refresh_margin,
            "refresh_margin",
            low=0,
            high=86_400,
            high_open=True,
            kind="a number of seconds",
        )
        max_retries = _max_retries(max_retries)
        max_wait = check_seconds(max_wait, "max_wait")
        lane = check_priority(priority)
        max_concurrency = check_int(max_concurrency, "max_concurrency", low=1, high=1024)
        if http_client is not None and transport is not None:
            raise InvalidRequestError("give either http_client or transport, not both")
        if http_client is not None and not isinstance(http_client, httpx.AsyncClient):
            raise InvalidRequestError("http_client must be an httpx.AsyncClient")
        if transport is not None and not isinstance(transport, httpx.AsyncBaseTransport):
            raise InvalidRequestError("transport must be an httpx.AsyncBaseTransport")
        if converter is not None and not isinstance(converter, DrChronoConverter):
            raise InvalidRequestError("converter must be a DrChronoConverter")
        tz = _tzinfo(timezone)
        url = check_base_url(base_url)
        protect_origin(url)

        self.base_url = url
        self.max_concurrency = max_concurrency
        self._owns_http = http_client is None
        if http_client is None:
            # One connection per concurrent request: with httpx's default pool, measured here,
            # high concurrency opened a new TCP connection per request.
            limits = httpx.Limits(
                max_connections=max_concurrency, max_keepalive_connections=max_concurrency
            )
            http_client = httpx.AsyncClient(
                timeout=_timeout(timeout) or DEFAULT_TIMEOUT,
                limits=limits,
                transport=transport,
                follow_redirects=False,
            )
        self._http = http_client
        self._closed = False
        self._view = False
        self.clock: Clock = clock or getattr(quota, "clock", None) or SystemClock()
        if quota is _DEFAULT_QUOTA:
            quota = HourlyQuota(clock=self.clock)
        auth: Auth
        if oauth is not None and token_store is not None:
            auth = RefreshingAuth(
                oauth, token_store, server_now=self._server_now, margin=float(refresh_margin)
            )
        else:
            assert access_token is not None
            auth = StaticAuth(access_token)
        self.auth = auth
        self._transport = Transport(
            http=http_client,
            base_url=url,
            auth=auth,
            clock=self.clock,
            quota=quota,
            max_retries=max_retries,
            max_wait=max_wait,
            # On a caller's client, keep its timeout unless one is asked for explicitly.
            timeout=_timeout(timeout),
            max_concurrency=max_concurrency,
            priority=lane,
        )
        if converter is None:
            converter = default_converter
        self._converter = converter
        self.timezone = tz
        # What every resource of this client shares; each resource is built on first access.
        self._ctx = ResourceContext(transport=self._transport, converter=converter, tz=tz)

    @property
    def _resources(self) -> Mapping[str, BaseResource[Any]]:
        """`name -> resource` for every endpoint, each built when first looked up."""
        return _Resources(self)

    def server_time(self) -> float:
        """The API server's time now (epoch seconds), as this client's responses' `Date`
        headers say: the client's clock plus the offset they showed (0 before any answer)."""
        return self.clock.now() + self._transport.server_offset()

    _server_now = server_time

    def count_calls(self) -> contextlib.AbstractContextManager[CallCount]:
        """Count the HTTP requests sent while the block runs (`count.calls`): retries,
        redirect hops and 429 re-sends included, by any client, in this task and the tasks
        it starts (a context variable). The sync counts each resource's calls this way.

            with client.count_calls() as count:
                await client.patients.get(1)
            assert count.calls >= 1
        """
        return count_calls()

    async def granted_scopes(self) -> frozenset[str] | None:
        """The scopes the client's token was granted (an OAuth token says them), or None
        when not known (a fixed access token)."""
        return await self.auth.scopes()

    @property
    def quota(self) -> Quota | None:
        """The quota scheduler this client takes permits from."""
        return self._transport.quota

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        data: Mapping[str, Any] | None = None,
        files: Mapping[str, Any] | None = None,
    ) -> Any:
        """Send one request to `path` (relative to `base_url`) and return the decoded JSON.

        Returns `None` for an empty answer (204). Raises the typed errors of
        `drchrono_async.errors`. This is the escape hatch below the resources.
        """
        return await self._transport.request(
            method, path, params=params, json=json, data=data, files=files
        )

    async def fetch_all(self, listings: Mapping[str, Paginator[Any]]) -> dict[str, list[Any]]:
        """Run several listings concurrently and collect every record of each.

        `listings` maps a name of your choosing to a `resource.list(...)` paginator::

            got = await client.fetch_all({
                "patients": client.patients.list(since=since),
                "appointments": client.appointments.list(since=since),
            })

        Requests stay under the client's `max_concurrency` and the quota. The first failure
        cancels the other listings and is raised.
        """
        if not all(isinstance(p, Paginator) for p in listings.values()):
            raise InvalidRequestError("fetch_all takes a mapping of name -> resource.list(...)")

        async def collect(paginator: Paginator[Any]) -> list[Any]:
            return [record async for record in paginator]

        try:
            async with asyncio.TaskGroup() as group:
                tasks = {name: group.create_task(collect(p)) for name, p in listings.items()}
        except ExceptionGroup as group_error:
            # Callers catch our typed errors, not groups: raise the first failure itself.
            raise group_error.exceptions[0] from None
        return {name: task.result() for name, task in tasks.items()}

    def with_options(
        self,
        *,
        max_wait: float | _Unset | None = _UNSET,
        timeout: httpx.Timeout | float | _Unset = _UNSET,
        max_retries: int | _Unset = _UNSET,
        priority: PriorityLike | _Unset = _UNSET,
    ) -> DrChronoClient:
        """A light view of this client with other per-call options.

        The view shares the connection pool, the quota, the token (and its refreshes), the
        server clock offset and the closed state: one client serves a web handler that must
        fail fast (`client.with_options(max_wait=0, timeout=5)`) and a background job that
        waits (`client.with_options(priority="background")`). Making one is cheap (no pool,
        no resource is built: each of the view's resources is made on its first use), so a
        view per request is fine.
        Closing the parent closes its views; a view's own `aclose()` closes nothing shared.
        """
        checked: dict[str, Any] = {}
        if not isinstance(max_wait, _Unset):
            checked["max_wait"] = check_seconds(max_wait, "max_wait")
        if not isinstance(timeout, _Unset):
            checked["timeout"] = _timeout(timeout)
        if not isinstance(max_retries, _Unset):
            checked["max_retries"] = _max_retries(max_retries)
        if not isinstance(priority, _Unset):
            checked["priority"] = check_priority(priority)
        return self._derive(self._transport.with_options(**checked))

    def _derive(self, transport: Transport) -> DrChronoClient:
        """A view on `transport` (a copy of this client's, sharing its pool, quota, auth,
        life and server offset): not through `__init__`, which would make a new pool, quota
        and auth; and without the resources built so far, which send through the parent's
        transport: the view builds its own on first access."""
        view = object.__new__(type(self))
        view.__dict__.update(
            (name, value) for name, value in vars(self).items() if name not in BY_NAME
        )
        view._owns_http = False  # the pool is the parent's to close
        view._view = True
        view._transport = transport
        view._ctx = ResourceContext(
            transport=transport, converter=self._converter, tz=self.timezone
        )
        return view

    async def aclose(self) -> None:
        """Close the HTTP client if this library created it. Safe to call twice.

        With `oauth=`, a token refresh in flight and its save are waited for first (at most
        `oauth.CLOSE_WAIT`, 30 s): the server has rotated the refresh token by then.
        On a view (`with_options`), nothing shared is closed.
        """
        if self._view:
            return
        if self._closed:
            return
        self._closed = True
        self._transport.closed = True  # every resource and listing sees it
        if isinstance(self.auth, RefreshingAuth):
            await self.auth.aclose()
        if self._owns_http:
            await self._http.aclose()

    async def __aenter__(self) -> DrChronoClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    def __repr__(self) -> str:
        return f"DrChronoClient(base_url={str(self.base_url)!r})"


class _LazyResource:
    """One endpoint's resource, built on first access and then kept in the client's
    `__dict__`: a non-data descriptor, as `functools.cached_property`, so later reads find
    the instance attribute and never come here. The class annotations above say the types."""

    __slots__ = ("_cls", "_endpoint")

    def __init__(self, endpoint: Endpoint) -> None:
        self._endpoint = endpoint
        self._cls = resource_class(endpoint)

    def __get__(self, client: DrChronoClient | None, owner: type[Any] | None = None) -> Any:
        if client is None:
            return self
        resource = self._cls(client._ctx, self._endpoint)
        # setdefault: whoever stored first wins, so a resource is one object per client.
        return client.__dict__.setdefault(self._endpoint.name, resource)


for _endpoint in ENDPOINTS:
    setattr(DrChronoClient, _endpoint.name, _LazyResource(_endpoint))
del _endpoint


class _Resources(Mapping[str, BaseResource[Any]]):
    """A client's resources by endpoint name, built as they are looked up."""

    def __init__(self, client: DrChronoClient) -> None:
        self._client = client

    def __getitem__(self, name: str) -> BaseResource[Any]:
        if name not in BY_NAME:
            raise KeyError(name)
        resource: BaseResource[Any] = getattr(self._client, name)
        return resource

    def __iter__(self) -> Iterator[str]:
        return iter(BY_NAME)

    def __len__(self) -> int:
        return len(BY_NAME)


def _tzinfo(value: str | dt.tzinfo) -> dt.tzinfo:
    if isinstance(value, dt.tzinfo):
        return value
    if isinstance(value, str):
        if value.upper() == "UTC":
            return dt.UTC
        try:
            return zoneinfo.ZoneInfo(value)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            pass
    raise InvalidRequestError("timezone must be an IANA zone name or a tzinfo")


def _timeout(value: httpx.Timeout | float | None) -> httpx.Timeout | None:
    if value is None or isinstance(value, httpx.Timeout):
        return value
    seconds = check_number(
        value,
        "timeout",
        low=0,
        high=math.inf,
        low_open=True,
        kind="an httpx.Timeout or a number of seconds",
    )
    return httpx.Timeout(seconds)
