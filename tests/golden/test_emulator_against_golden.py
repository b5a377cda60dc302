"""The emulator against the golden fixtures: its answers must have the live shapes.

The emulator builds its records from the client's own record classes, so its tests mostly
check agreement with ourselves; here its answers are compared with shapes neither side
generated (SOURCES.md). Where the emulator knowingly differs, the difference is spelled out
below (`EMULATOR_LACKS`, `EMULATOR_ADDS`) and asserted exactly, so that a new difference, or
one that goes away, fails the test instead of passing unnoticed.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from typing import Any

import httpx
import orjson
import pytest

from drchrono_async.errors import RateLimitError
from drchrono_async.records import Appointment, Patient, api_fields
from drchrono_async.testing import EXTRA_FIELD, Emulator, VirtualClock

from ._golden import PAGES, json_type, load

# Keys live objects carry that the reference does not document and the emulator does not send.
LIVE_UNDOCUMENTED = {
    "appointments": {
        "first_edi_date",
        "last_edi_date",
        "ins1_status",
        "ins2_status",
        "payment_profile",
        "resubmit_claim_original_id",
        "is_telehealth",
        "telehealth_url",
    },
    "patients": {
        "office_phone",
        "date_of_first_appointment",
        "date_of_last_appointment",
        "copay",
        "preferred_pharmacies",
    },
}
EMULATOR_LACKS = LIVE_UNDOCUMENTED
# Keys the emulator sends that the golden object lacks: its deliberate undocumented key, and
# `custom_fields`, which the reference documents for appointments but the captured *listed*
# appointment does not carry (the captured POST answer does).
EMULATOR_ADDS = {
    ("appointments", "list"): {EXTRA_FIELD, "custom_fields"},
    ("appointments", "create"): {EXTRA_FIELD},
    ("patients", "list"): {EXTRA_FIELD},
}
THROTTLED = re.compile(r"Request was throttled\. Expected available in \d+(\.\d+)? seconds?\.")
NOT_ALLOWED = re.compile(r'Method "[A-Z]+" not allowed\.')


@pytest.fixture
def emu() -> Emulator:
    sizes = {"appointments": 40, "patients": 12, "clinical_notes": 3, "other": 2}
    return Emulator(seed=11, clock=VirtualClock(), sizes=sizes, quota=1_000_000)


@pytest.fixture
async def http(emu: Emulator) -> AsyncIterator[httpx.AsyncClient]:
    headers = {"Authorization": f"Bearer {emu.access_token}"}
    async with httpx.AsyncClient(
        transport=emu.transport, base_url=emu.base_url, headers=headers
    ) as client:
        yield client


def compare(golden: dict[str, Any], ours: dict[str, Any]) -> tuple[set[str], set[str], list[str]]:
    """(keys only the golden has, keys only ours has, keys whose non-null JSON types differ)."""
    types = [
        f"{key}: golden {json_type(golden[key])}, emulator {json_type(ours[key])}"
        for key in golden.keys() & ours.keys()
        if golden[key] is not None
        and ours[key] is not None
        and json_type(golden[key]) != json_type(ours[key])
    ]
    return set(golden) - set(ours), set(ours) - set(golden), sorted(types)


def documented(record: type) -> set[str]:
    """The keys the reference documents for a record class (checked against the reference by
    tests/records/test_reference.py)."""
    return {a.name for a in api_fields(record)}


# --- error bodies -------------------------------------------------------------------------------


async def test_a_missing_required_field_is_a_drf_field_map(http: httpx.AsyncClient) -> None:
    golden = load("drf_400_field_errors.json")["body"]
    answer = await http.post("/api/appointments", json={"duration": 30})
    assert answer.status_code == 400
    body = answer.json()
    # The golden's shape: an object of field -> list of message strings.
    for shape in (golden, body):
        assert isinstance(shape, dict) and shape
        assert all(
            isinstance(v, list) and v and all(isinstance(m, str) for m in v) for v in shape.values()
        )
    assert {"doctor", "exam_room", "office", "scheduled_time"} <= set(body)


async def test_a_null_patient_is_refused_in_the_golden_words(http: httpx.AsyncClient) -> None:
    """`{"patient": ["This field may not be null."]}` where a patient is required (an
    appointment without one is a break, so appointments take a null patient)."""
    golden = load("drf_400_field_errors.json")["body"]
    answer = await http.post("/api/problems", json={"doctor": 100001, "patient": None})
    assert answer.status_code == 400
    assert answer.json() == golden
    doctor = (await http.get("/api/doctors")).json()["results"][0]
    office = (await http.get("/api/offices")).json()["results"][0]
    a_break = {
        "doctor": doctor["id"],
        "office": office["id"],
        "exam_room": 1,
        "patient": None,
        "scheduled_time": "2026-03-02T12:00:00",
        "duration": 30,
    }
    created = await http.post("/api/appointments", json=a_break)
    assert created.status_code == 201, created.text
    assert created.json()["patient"] is None and created.json()["appt_is_break"] is True


async def test_the_429_body_carries_the_wait_in_the_golden_words(emu: Emulator) -> None:
    for name in ("throttled_429_body_only.json", "throttled_429_retry_after.json"):
        golden = load(name)["body"]
        assert set(golden) == {"detail"} and THROTTLED.fullmatch(golden["detail"]), name
    emu.quota = 1
    async with emu.client(quota=None, max_retries=0) as client:
        await client.doctors.list()
        with pytest.raises(RateLimitError) as info:
            await client.doctors.list()
    body = info.value.body
    assert set(body) == {"detail"} and THROTTLED.fullmatch(body["detail"]), body
    # The client reads the emulator's wait as it reads the live one: to the end of the hour.
    assert info.value.retry_after == pytest.approx(emu.window_resets_at() - emu.clock.now(), abs=1)


async def test_a_refused_method_is_the_drf_405(http: httpx.AsyncClient) -> None:
    golden = load("drf_405_method_not_allowed.json")
    doctor = (await http.get("/api/doctors")).json()["results"][0]["id"]
    answer = await http.delete(f"/api/doctors/{doctor}")
    assert answer.status_code == golden["status"]
    assert answer.json() == golden["body"]
    assert NOT_ALLOWED.fullmatch(answer.json()["detail"])
    allowed = {m.strip() for m in answer.headers["Allow"].split(",")}
    assert allowed - {"HEAD", "OPTIONS"} == {
        m.strip() for m in golden["headers"]["Allow"].split(",")
    } - {"HEAD", "OPTIONS"}


# --- list pages ---------------------------------------------------------------------------------


async def test_list_pages_carry_the_golden_keys(http: httpx.AsyncClient) -> None:
    golden = [load(name)["body"] for name in PAGES]
    pages = [
        (
            await http.get("/api/appointments", params={"since": "2000-01-01", "page_size": 15})
        ).json()
    ]
    while pages[-1]["next"]:
        pages.append((await http.get(pages[-1]["next"])).json())
    assert len(pages) == len(golden) == 3
    for ours, theirs in zip(pages, golden, strict=True):
        assert set(ours) == set(theirs)  # next, previous, results: no count
        assert {k: json_type(v) for k, v in ours.items()} == {
            k: json_type(v) for k, v in theirs.items()
        }


# --- records ------------------------------------------------------------------------------------


def check_object(
    resource: str, how: str, golden: dict[str, Any], ours: dict[str, Any], record: type
) -> None:
    only_golden, only_ours, types = compare(golden, ours)
    assert only_golden == EMULATOR_LACKS[resource], "keys live objects have and the emulator lacks"
    assert only_ours == EMULATOR_ADDS[(resource, how)], "keys the emulator adds"
    assert only_ours - {EXTRA_FIELD} <= documented(record)
    assert not types, types


async def test_a_listed_appointment_has_the_golden_keys_and_types(
    http: httpx.AsyncClient,
) -> None:
    golden = load(PAGES[0])["body"]["results"][0]
    listed = (await http.get("/api/appointments", params={"since": "2000-01-01"})).json()
    ours = listed["results"][0]
    assert isinstance(ours["id"], str)
    check_object("appointments", "list", golden, ours, Appointment)


async def test_a_created_appointment_answers_the_golden_keys_and_types(
    http: httpx.AsyncClient,
) -> None:
    golden = load("appointment.json")
    doctor = (await http.get("/api/doctors")).json()["results"][0]
    office = (await http.get("/api/offices")).json()["results"][0]
    patient = (await http.get("/api/patients")).json()["results"][0]
    created = await http.post(
        "/api/appointments",
        json={
            "doctor": doctor["id"],
            "office": office["id"],
            "exam_room": 1,
            "patient": patient["id"],
            "scheduled_time": "2026-03-02T10:00:00",
            "duration": 15,
            "reason": "Vaccination",
        },
    )
    assert created.status_code == 201, created.text
    check_object("appointments", "create", golden, created.json(), Appointment)


async def test_a_listed_patient_has_the_golden_keys_and_types(http: httpx.AsyncClient) -> None:
    golden = load("patient.json")
    ours = (await http.get("/api/patients")).json()["results"][0]
    check_object("patients", "list", golden, ours, Patient)


async def test_line_item_money_is_strings(http: httpx.AsyncClient) -> None:
    golden = load("line_item.json")
    ours = (await http.get("/api/line_items")).json()["results"][0]
    only_golden, only_ours, types = compare(golden, ours)
    assert not only_golden and only_ours == {EXTRA_FIELD}
    assert not types, types
    money = {k for k, v in golden.items() if isinstance(v, str) and re.fullmatch(r"-?\d+\.\d\d", v)}
    assert len(money) == 15
    assert all(ours[k] is None or isinstance(ours[k], str) for k in money)


# --- webhooks and tokens ------------------------------------------------------------------------


async def test_a_webhook_delivery_has_the_golden_headers_and_body(
    emu: Emulator, http: httpx.AsyncClient
) -> None:
    golden = load("webhook_appointment_modify.json")
    received: list[httpx.Request] = []

    def receiver(request: httpx.Request) -> httpx.Response:
        received.append(request)
        return httpx.Response(200)

    emu.webhooks.transport = httpx.MockTransport(receiver)
    secret = golden["headers"]["X-drchrono-signature"]
    emu.webhooks.register("https://example.org/drchrono/hook", secret, ["APPOINTMENT_MODIFY"])
    appointment = emu.records("appointments")[0]
    patched = await http.patch(f"/api/appointments/{appointment['id']}", json={"notes": "x"})
    assert patched.status_code == 204
    await emu.webhooks.deliver_due()
    (delivery,) = received
    assert delivery.method == golden["method"]
    for name in golden["headers"]:
        assert name.lower() in {k.lower() for k in delivery.headers}, name
    assert delivery.headers["X-drchrono-event"] == "APPOINTMENT_MODIFY"
    assert delivery.headers["X-drchrono-signature"] == secret  # the secret itself
    body = orjson.loads(delivery.content)
    # The live body also carries the practice's group id; the emulator's does not.
    assert set(golden["body"]) - set(body) == {"practice_group_id"}
    assert set(body) - set(golden["body"]) == set()
    listed = load(PAGES[0])["body"]["results"][0]
    check_object("appointments", "list", listed, body["object"], Appointment)


async def test_the_token_answer_has_the_golden_keys_and_types(
    emu: Emulator, http: httpx.AsyncClient
) -> None:
    golden = load("token_answer.json")
    answer = await http.post(
        "/o/token/",
        data={
            "grant_type": "authorization_code",
            "code": emu.issue_code(),
            "client_id": emu.client_id,
            "client_secret": emu.client_secret,
            "redirect_uri": emu.redirect_uri,
        },
    )
    assert answer.status_code == golden["status"]
    body = answer.json()
    assert {k: json_type(v) for k, v in body.items()} == {
        k: json_type(v) for k, v in golden["body"].items()
    }
    assert body["expires_in"] == golden["body"]["expires_in"]
    for name in ("Cache-Control", "Pragma"):
        assert answer.headers[name] == golden["headers"][name]


async def test_the_client_reads_the_emulator_and_the_golden_alike(emu: Emulator) -> None:
    """One record of each kind through the client: the same extra keys policy, the same
    types, whichever side produced the JSON."""
    async with emu.client(quota=None) as client:
        appointment = (await client.appointments.list(since="2000-01-01")).results[0]
        patient = (await client.patients.list()).results[0]
    assert isinstance(appointment, Appointment) and isinstance(appointment.id, str)
    assert isinstance(patient, Patient) and isinstance(patient.id, int)
    assert set(appointment.extra) == set(patient.extra) == {EXTRA_FIELD}
