"""The client against payloads it did not generate: the golden fixtures of this folder.

Every answer comes from `httpx.MockTransport` serving a fixture as recorded (see SOURCES.md for
where each shape comes from), so what is checked is the client's reading of the live shapes:
typed errors, the 429 wait, following `next`, record types, webhook deliveries, tokens.
"""

from __future__ import annotations

import datetime as dt
import json
import warnings
from decimal import Decimal
from typing import Any

import httpx
import pytest

from drchrono_async import DrChronoClient, OAuthApp
from drchrono_async._converter import RecordDecodeWarning, converter, make_converter
from drchrono_async.errors import (
    BadRequestError,
    RateLimitError,
    ResponseDecodeError,
    WebhookSignatureError,
)
from drchrono_async.ratelimit import HourlyQuota
from drchrono_async.records import Appointment, LineItem, Patient
from drchrono_async.testing import VirtualClock
from drchrono_async.webhooks import parse_delivery

from ._golden import PAGES, load, response, serving

BASE = "https://drchrono.com"
TOKEN = "golden-access-token"
# Keys the live appointment carries that no record field declares (kept in `extra`).
LIVE_ONLY_APPOINTMENT_KEYS = {
    "first_edi_date",
    "last_edi_date",
    "ins1_status",
    "ins2_status",
    "payment_profile",
    "resubmit_claim_original_id",
    "is_telehealth",
    "telehealth_url",
}
LIVE_ONLY_PATIENT_KEYS = {
    "office_phone",
    "date_of_first_appointment",
    "date_of_last_appointment",
    "copay",
    "preferred_pharmacies",
}
STRICT = make_converter(strict=True)


@pytest.fixture
def clock() -> VirtualClock:
    return VirtualClock()


def client(transport: httpx.AsyncBaseTransport, clock: VirtualClock, **options: Any) -> Any:
    options.setdefault("quota", None)
    options.setdefault("max_retries", 0)
    return DrChronoClient(TOKEN, base_url=BASE, transport=transport, clock=clock, **options)


def naive(value: Any) -> bool:
    return isinstance(value, dt.datetime) and value.tzinfo is None


# --- errors -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "fields"),
    [
        ("drf_400_field_errors.json", {"patient": ["This field may not be null."]}),
        (
            "drf_400_nested_field_errors.json",
            {
                "doctor": ["This field is required."],
                "scheduled_time": [
                    "Datetime has wrong format. Use one of these formats instead: "
                    "YYYY-MM-DDThh:mm[:ss[.uuuuuu]][+HH:MM|-HH:MM|Z]."
                ],
                "vitals.height": ["A valid number is required."],
            },
        ),
    ],
)
async def test_a_drf_400_is_a_bad_request_with_its_field_map(
    name: str, fields: dict[str, list[str]], clock: VirtualClock
) -> None:
    golden = load(name)
    calls: list[httpx.Request] = []
    async with client(serving(name, calls=calls), clock) as c:
        with pytest.raises(BadRequestError) as info:
            await c.appointments.create(
                {
                    "doctor": 362213,
                    "exam_room": 1,
                    "office": 1,
                    "patient": None,
                    "scheduled_time": dt.datetime(2023, 6, 30, 10),
                    "duration": 15,
                }
            )
    error = info.value
    assert (error.status_code, error.method, error.path) == (400, "POST", "/api/appointments")
    assert error.body == golden["body"]
    assert error.field_errors == fields
    # The message names the fields, never the messages (they may echo values).
    assert all(key.split(".")[0] in str(error) for key in fields)
    assert "may not be null" not in str(error) and "wrong format" not in str(error)
    assert len(calls) == 1  # a 400 is not retried


@pytest.mark.parametrize(
    ("name", "wait"),
    [("throttled_429_body_only.json", 2710.0), ("throttled_429_retry_after.json", 38.0)],
)
async def test_a_429_without_a_quota_raises_with_the_wait(
    name: str, wait: float, clock: VirtualClock
) -> None:
    async with client(serving(name), clock) as c:
        with pytest.raises(RateLimitError) as info:
            await c.appointments.get("257781246")
    assert info.value.status_code == 429
    assert info.value.retry_after == wait
    assert info.value.body == load(name)["body"]


@pytest.mark.parametrize(
    ("name", "wait"),
    [("throttled_429_body_only.json", 2710.0), ("throttled_429_retry_after.json", 38.0)],
)
async def test_a_429_pauses_the_quota_that_long_then_resends(
    name: str, wait: float, clock: VirtualClock
) -> None:
    answers = [load(name), {"status": 200, "headers": {}, "body": load("appointment.json")}]
    sent_at: list[float] = []

    def handler(request: httpx.Request) -> httpx.Response:
        sent_at.append(clock.now())
        return response(answers[len(sent_at) - 1])

    quota = HourlyQuota(500, clock=clock)
    async with client(httpx.MockTransport(handler), clock, quota=quota) as c:
        record = await c.appointments.get("257781300")
    assert record.id == "257781300"
    assert len(sent_at) == 2
    paused = sent_at[1] - sent_at[0]
    assert wait <= paused <= wait + quota.params.margin + 1.0, paused
    snapshot = quota.snapshot()
    assert snapshot.throttled == 1
    # Nothing else gets a permit before the wait is over either.
    assert snapshot.used == 2


async def test_an_html_200_page_is_a_transient_decode_error(clock: VirtualClock) -> None:
    calls: list[httpx.Request] = []
    async with client(serving("html_200_page.json", calls=calls), clock, max_retries=1) as c:
        with pytest.raises(ResponseDecodeError) as info:
            await c.appointments.get("257781246")
    assert info.value.status_code == 200
    assert len(calls) == 2  # retried once, like a 5xx


# --- a listing --------------------------------------------------------------------------------


async def test_a_listing_follows_next_to_the_last_page_and_types_every_record(
    clock: VirtualClock,
) -> None:
    pages = [load(name) for name in PAGES]
    calls: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        assert request.url.path == "/api/appointments"
        number = int(request.url.params.get("page", "1"))
        return response(pages[number - 1])

    async with client(httpx.MockTransport(handler), clock) as c:
        records = [r async for r in c.appointments.list(date=dt.date(2023, 6, 24))]

    # Every page fetched once, in order, each after the first exactly at the previous `next`.
    assert calls[0].url.params["date"] == "2023-06-24"
    assert [str(r.url) for r in calls[1:]] == [p["body"]["next"] for p in pages[:-1]]
    expected = [item for page in pages for item in page["body"]["results"]]
    assert [r.id for r in records] == [item["id"] for item in expected]
    for record, item in zip(records, expected, strict=True):
        assert isinstance(record, Appointment)
        assert isinstance(record.id, str)
        assert naive(record.scheduled_time) and naive(record.created_at)
        assert naive(record.updated_at)
        assert record.icd10_codes == item["icd10_codes"]
        assert record.icd9_codes == item["icd9_codes"]
        assert set(record.extra) == LIVE_ONLY_APPOINTMENT_KEYS
        assert record.raw == item
    a_break = records[2]
    assert a_break.appt_is_break is True
    assert a_break.patient is None and a_break.first_billed_date is None


# --- records ----------------------------------------------------------------------------------


async def test_the_live_appointment_decodes_to_its_declared_types(clock: VirtualClock) -> None:
    golden = load("appointment.json")
    calls: list[httpx.Request] = []
    answer = {"status": 200, "headers": {"Content-Type": "application/json"}, "body": golden}

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        return response(answer)

    with warnings.catch_warnings():
        warnings.simplefilter("error", RecordDecodeWarning)  # every value fits its field
        async with client(httpx.MockTransport(handler), clock) as c:
            record = await c.appointments.get("257781300")
    assert calls[0].url.path == "/api/appointments/257781300"
    assert record.id == "257781300"
    assert record.scheduled_time == dt.datetime(2023, 6, 30, 10, 0)
    for name in (
        "scheduled_time",
        "created_at",
        "updated_at",
        "extended_updated_at",
        "first_billed_date",
        "last_billed_date",
    ):
        assert naive(getattr(record, name)), name
    assert (record.doctor, record.duration, record.exam_room) == (362213, 15, 1)
    assert record.icd9_codes == [] and record.icd10_codes == []
    assert record.status_transitions == golden["status_transitions"]
    assert record.vitals == golden["vitals"]
    assert record.clinical_note is None and record.profile is None
    assert record.billing_provider is None and record.supervising_provider is None
    assert dict(record.extra) == {k: golden[k] for k in LIVE_ONLY_APPOINTMENT_KEYS}
    # The strict converter takes it too: nothing was let through by leniency.
    assert STRICT.structure(golden, Appointment) == record


def test_a_space_separated_or_bare_date_timestamp_reads_the_same() -> None:
    """DESIGN.md fact (no public capture shows one): some endpoints send `2023-06-24 22:31:17`
    or a bare date where a timestamp is declared."""
    golden = load("appointment.json")
    golden["updated_at"] = golden["updated_at"].replace("T", " ")
    golden["first_billed_date"] = golden["first_billed_date"][:10]
    record = STRICT.structure(golden, Appointment)
    assert record.updated_at == dt.datetime(2023, 6, 24, 22, 31, 17)
    assert record.first_billed_date == dt.datetime(2023, 6, 30)


async def test_the_live_patient_decodes_with_nulls_blanks_and_unknown_keys(
    clock: VirtualClock,
) -> None:
    golden = load("patient.json")
    answer = {"status": 200, "headers": {"Content-Type": "application/json"}, "body": golden}
    with warnings.catch_warnings():
        warnings.simplefilter("error", RecordDecodeWarning)
        async with client(httpx.MockTransport(lambda _: response(answer)), clock) as c:
            record = await c.patients.get(104857601)
    assert isinstance(record, Patient)
    assert record.id == 104857601
    assert record.date_of_birth == dt.date(1984, 3, 2)
    assert naive(record.created_at) and naive(record.updated_at)
    assert record.offices == [388125]
    assert record.middle_name is None and record.emergency_contact_relation is None
    assert record.patient_photo == "" and record.patient_photo_date is None
    assert record.referring_source is None and record.responsible_party_email is None
    assert dict(record.extra) == {k: golden[k] for k in LIVE_ONLY_PATIENT_KEYS}
    assert record.extra["copay"] == ""  # money as a string, blank here
    assert STRICT.structure(golden, Patient) == record


async def test_line_item_money_strings_become_decimals(clock: VirtualClock) -> None:
    golden = load("line_item.json")
    page = {
        "status": 200,
        "headers": {"Content-Type": "application/json"},
        "body": {"next": None, "previous": None, "results": [golden]},
    }
    async with client(httpx.MockTransport(lambda _: response(page)), clock) as c:
        (record,) = [r async for r in c.line_items.list(patient=104857601)]
    assert isinstance(record, LineItem)
    money = [
        k
        for k, v in golden.items()
        if isinstance(v, str)
        and k
        in {
            "adjustment",
            "allowed",
            "balance_ins",
            "balance_pt",
            "balance_total",
            "billed",
            "ins1_paid",
            "ins2_paid",
            "ins3_paid",
            "ins_total",
            "paid_total",
            "price",
            "pt_paid",
            "quantity",
            "expected_reimbursement",
        }
    ]
    assert len(money) == 15
    for key in money:
        value = getattr(record, key)
        assert isinstance(value, Decimal) and value == Decimal(golden[key]), key
        assert str(value) == golden[key]  # the cents survive: "0.00" stays "0.00"
    assert record.service_date == dt.date(2023, 6, 24)
    assert naive(record.posted_date)
    assert converter.unstructure(record)["price"] == "100.00"
    assert STRICT.structure(golden, LineItem) == record


# --- webhooks and tokens ------------------------------------------------------------------------


def test_the_webhook_delivery_passes_parse_delivery() -> None:
    golden = load("webhook_appointment_modify.json")
    headers = golden["headers"]
    body = json.dumps(golden["body"]).encode()
    secret = headers["X-drchrono-signature"]
    event = parse_delivery(headers, body, secret, converter=STRICT)
    assert event.event == "APPOINTMENT_MODIFY"
    assert event.delivery_id == headers["X-drchrono-delivery"]
    assert (event.resource, event.is_delete) == ("appointments", False)
    assert event.object_id == "257781246"
    assert isinstance(event.object, Appointment)
    assert event.object.id == "257781246"
    assert set(event.object.extra) == LIVE_ONLY_APPOINTMENT_KEYS
    assert event.raw["practice_group_id"] == 222
    assert event.receiver == golden["body"]["receiver"]
    # Lower-case header names (ASGI's) read the same; another secret does not pass.
    lower = [(k.lower().encode(), v.encode()) for k, v in headers.items()]
    assert parse_delivery(lower, body, secret).delivery_id == event.delivery_id
    with pytest.raises(WebhookSignatureError):
        parse_delivery(headers, body, "another-secret")


async def test_the_token_answer_builds_a_token(clock: VirtualClock) -> None:
    golden = load("token_answer.json")["body"]
    calls: list[httpx.Request] = []
    app = OAuthApp(
        "golden-client-id",
        "golden-client-secret",
        "https://example.org/oauth/callback",
        base_url=BASE,
        transport=serving("token_answer.json", calls=calls),
        clock=clock,
    )
    async with app:
        sent = clock.now()
        token = await app.exchange_code("golden-code")
        refreshed = await app.refresh(token.refresh_token)
    assert token.access_token == golden["access_token"]
    assert token.refresh_token == golden["refresh_token"]
    assert token.expires_at == sent + golden["expires_in"]
    assert token.scope == golden["scope"]
    assert {"calendar:read", "patients:write", "clinical:read"} <= token.scopes
    assert refreshed == token
    assert [r.url.path for r in calls] == ["/o/token/", "/o/token/"]
    forms = [dict(httpx.QueryParams(r.content.decode())) for r in calls]
    assert forms[0]["grant_type"] == "authorization_code" and forms[0]["code"] == "golden-code"
    assert forms[1]["grant_type"] == "refresh_token"
    assert forms[1]["refresh_token"] == golden["refresh_token"]


async def test_a_429_from_the_token_endpoint_is_a_rate_limit_error(clock: VirtualClock) -> None:
    app = OAuthApp(
        "golden-client-id",
        "golden-client-secret",
        "https://example.org/oauth/callback",
        base_url=BASE,
        transport=serving("throttled_429_body_only.json"),
        clock=clock,
    )
    async with app:
        with pytest.raises(RateLimitError) as info:
            await app.exchange_code("golden-code")
    assert info.value.retry_after == 2710.0
