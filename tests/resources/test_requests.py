"""What the resources send (respx): pre-send checks, query formatting, bodies, actions."""

from __future__ import annotations

import asyncio
import datetime as dt
import itertools
import json
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import httpx
import pytest
import respx

from drchrono_async import DrChronoClient, InvalidRequestError, records
from drchrono_async.testing import VirtualClock

BASE = "https://drchrono.test"
PAGE: dict[str, Any] = {"next": None, "previous": None, "results": []}
# 2026-01-01T00:00:00Z: the VirtualClock's default start, so "today" is 2026-01-01.
TODAY = dt.date(2026, 1, 1)


@pytest.fixture
async def client() -> AsyncIterator[DrChronoClient]:
    async with DrChronoClient("tok", base_url=BASE, clock=VirtualClock()) as c:
        yield c


def query(route: respx.Route) -> dict[str, str]:
    return dict(route.calls.last.request.url.params)


# -- pre-send checks: nothing is sent --------------------------------------------------------


@pytest.mark.parametrize(
    ("resource", "kwargs", "match"),
    [
        ("appointments", {"since": dt.datetime(2026, 1, 1), "colour": "red"}, "no filter colour"),
        ("appointments", {"since": dt.datetime(2026, 1, 1), "doctor": "7"}, "doctor takes an int"),
        ("appointments", {"since": dt.datetime(2026, 1, 1), "doctor": True}, "doctor takes an int"),
        ("appointments", {"date": dt.datetime(2026, 1, 1)}, "dates, not datetimes|takes a date"),
        ("appointments", {"since": 12345}, "since takes a datetime"),
        ("appointments", {"since": "yesterday"}, "since takes a datetime"),
        ("appointments", {"date_range": "2026-01-05/2026-01-01"}, "starts after it ends"),
        ("appointments", {"date_range": "2026-01-01"}, "date_range must look like"),
        ("appointments", {"doctor": 1}, "needs since or date or date_range"),
        ("clinical_notes", {"patient": 1}, "needs since or date or date_range"),
        ("insurances", {"term": "aetna"}, "needs payer_type"),
        ("patients", {"page_size": 251}, "from 1 to 250 .the maximum for patients"),
        ("patients", {"verbose": True, "page_size": 51}, "from 1 to 50 .* verbose"),
        ("clinical_notes", {"since": dt.datetime(2026, 1, 1), "page_size": 21}, "from 1 to 20"),
        ("patients", {"page_size": 0}, "page_size must be"),
        ("patients", {"show_inactive": "yes"}, "show_inactive takes a bool"),
        ("appointment_templates", {"strict": "x"}, "strict is a flag"),
        ("eligibility_checks", {"service_types": "30"}, "list of strings"),
        ("patients", {"shards": 2}, "shards needs a date_range"),
        ("mu_2015_report", {"date_range": "2025-01-01/2025-12-31", "shards": 2}, "shards needs"),
    ],
)
@respx.mock
async def test_bad_listing_is_refused_before_sending(
    client: DrChronoClient, resource: str, kwargs: dict[str, Any], match: str
) -> None:
    route = respx.route(host="drchrono.test").respond(200, json=PAGE)
    with pytest.raises(InvalidRequestError, match=match):
        await getattr(client, resource).list(**kwargs)
    assert route.call_count == 0


@pytest.mark.parametrize(
    ("name", "method"),
    [
        ("doctors", "create"),
        ("doctors", "delete"),
        ("offices", "update"),
        ("clinical_notes", "patch"),
        ("iframe_integration", "list"),
        ("users", "create"),
    ],
)
def test_a_method_the_endpoint_lacks_does_not_exist(
    client: DrChronoClient, name: str, method: str
) -> None:
    # mypy refuses these calls (tests/test_typing.py); at run time there is no such method.
    with pytest.raises(AttributeError):
        getattr(getattr(client, name), method)


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda c: c.patients.get("12"), "ids are an integer"),
        (lambda c: c.patients.get(True), "ids are an integer"),
        (lambda c: c.appointments.get(""), "cannot be empty"),
        (lambda c: c.patients.patch(1), "at least one field"),
        (lambda c: c.patients.create({"id": 5, "gender": "Female"}), "read-only fields .* id"),
        (lambda c: c.patients.create([]), "at least one record"),
        (lambda c: c.patients.create(records.Problem(doctor=1)), "takes Patient, not Problem"),
        (lambda c: c.patients.create("x"), "record or a mapping"),
        (
            lambda c: c.documents.create([{"document": b"%PDF", "doctor": 1}]),
            "files cannot be uploaded in a bulk create",
        ),
        (
            lambda c: c.documents.create({"document": 42, "doctor": 1}),
            "document is a file field",
        ),
    ],
)
@respx.mock
async def test_bad_calls_are_refused_before_sending(
    client: DrChronoClient, call: Any, match: str
) -> None:
    route = respx.route(host="drchrono.test").respond(200, json={})
    with pytest.raises(InvalidRequestError, match=match):
        await call(client)
    assert route.call_count == 0


# -- query formatting ------------------------------------------------------------------------


@respx.mock
async def test_default_page_size_is_the_maximum(client: DrChronoClient) -> None:
    route = respx.get(f"{BASE}/api/patients").respond(200, json=PAGE)
    await client.patients.list()
    assert query(route) == {"page_size": "250"}
    await client.patients.list(verbose=True)
    assert query(route) == {"page_size": "50", "verbose": "true"}
    notes = respx.get(f"{BASE}/api/clinical_notes").respond(200, json=PAGE)
    await client.clinical_notes.list(date=dt.date(2026, 1, 1))
    assert query(notes)["page_size"] == "20"
    await client.patients.list(page_size=10)
    assert query(route)["page_size"] == "10"


@respx.mock
async def test_filters_are_formatted_for_the_api() -> None:
    route = respx.get(f"{BASE}/api/appointments").respond(200, json=PAGE)
    async with DrChronoClient(
        "tok", base_url=BASE, timezone="America/New_York", clock=VirtualClock()
    ) as client:
        aware = dt.datetime(2026, 3, 1, 17, 30, tzinfo=dt.UTC)
        await client.appointments.list(since=aware, doctor=7, show_archived=False, status="Arrived")
        assert query(route) == {
            "since": "2026-03-01T12:30:00",  # converted to the practice's zone, no suffix
            "doctor": "7",
            "show_archived": "false",
            "status": "Arrived",
            "page_size": "250",
        }
        await client.appointments.list(since="2026-03-01T17:30:00Z")
        assert query(route)["since"] == "2026-03-01T12:30:00"
        await client.appointments.list(since="2026-03-01 09:00:00")
        assert query(route)["since"] == "2026-03-01T09:00:00"
        await client.appointments.list(date="2026-03-02")
        assert query(route)["date"] == "2026-03-02"
        await client.appointments.list(since=dt.date(2026, 3, 1))
        assert query(route)["since"] == "2026-03-01T00:00:00"


@respx.mock
async def test_flag_and_list_filters(client: DrChronoClient) -> None:
    templates = respx.get(f"{BASE}/api/appointment_templates").respond(200, json=PAGE)
    await client.appointment_templates.list(strict=True, week_day="0,2")
    assert query(templates) == {"strict": "true", "week_day": "0,2", "page_size": "250"}
    await client.appointment_templates.list(strict=False)
    assert "strict" not in query(templates)
    checks = respx.get(f"{BASE}/api/eligibility_checks").respond(200, json=PAGE)
    await client.eligibility_checks.list(service_types=["30", "1"])
    assert query(checks)["service_types"] == "30,1"


# -- date_range windows ----------------------------------------------------------------------


@respx.mock
async def test_long_date_range_reaching_today_is_split(client: DrChronoClient) -> None:
    route = respx.get(f"{BASE}/api/appointments").respond(200, json=PAGE)
    paginator = client.appointments.list(date_range=(dt.date(2025, 6, 1), dt.date(2026, 12, 31)))
    assert paginator.shards == 4  # 579 days in windows of at most 190
    _ = [r async for r in paginator]
    ranges = sorted(dict(c.request.url.params)["date_range"] for c in route.calls)
    spans = [tuple(dt.date.fromisoformat(x) for x in r.split("/")) for r in ranges]
    assert spans[0][0] == dt.date(2025, 6, 1) and spans[-1][1] == dt.date(2026, 12, 31)
    for (_, end), (start, _) in itertools.pairwise(spans):
        assert start == end + dt.timedelta(days=1)  # no gap, no overlap
    assert all((b - a).days + 1 <= 190 for a, b in spans)


@respx.mock
async def test_long_date_range_wholly_in_the_past_is_one_request(client: DrChronoClient) -> None:
    route = respx.get(f"{BASE}/api/appointments").respond(200, json=PAGE)
    paginator = client.appointments.list(date_range="2024-01-01/2025-06-30")
    assert paginator.shards == 1
    _ = [r async for r in paginator]
    assert route.call_count == 1


@respx.mock
async def test_shards_split_any_date_range(client: DrChronoClient) -> None:
    route = respx.get(f"{BASE}/api/clinical_notes").respond(200, json=PAGE)
    paginator = client.clinical_notes.list(date_range="2025-01-01/2025-01-10", shards=4)
    _ = [r async for r in paginator]
    got = sorted(dict(c.request.url.params)["date_range"] for c in route.calls)
    assert got == [
        "2025-01-01/2025-01-03",
        "2025-01-04/2025-01-06",
        "2025-01-07/2025-01-08",
        "2025-01-09/2025-01-10",
    ]


# -- writes ----------------------------------------------------------------------------------


@respx.mock
async def test_create_from_a_mapping_sends_json_and_returns_a_record(
    client: DrChronoClient,
) -> None:
    route = respx.post(f"{BASE}/api/appointments").respond(
        201, json={"id": "991", "doctor": 1, "scheduled_time": "2026-02-01T09:00:00"}
    )
    appt = await client.appointments.create(
        {
            "doctor": 1,
            "scheduled_time": dt.datetime(2026, 2, 1, 9, 0),
            "duration": 30,
            "notes": None,
        }
    )
    assert isinstance(appt, records.Appointment)
    assert appt.id == "991"
    sent = json.loads(route.calls.last.request.content)
    assert sent == {
        "doctor": 1,
        "scheduled_time": "2026-02-01T09:00:00",
        "duration": 30,
        "notes": None,
    }


@respx.mock
async def test_create_from_a_record_sends_writable_fields_only(client: DrChronoClient) -> None:
    route = respx.post(f"{BASE}/api/problems").respond(
        201, json={"id": 5, "doctor": 1, "patient": 2}
    )
    problem = records.Problem(doctor=1, patient=2, name="Asthma", id=99, info_url="https://x")
    created = await client.problems.create(problem)
    sent = json.loads(route.calls.last.request.content)
    assert sent["doctor"] == 1 and sent["patient"] == 2 and sent["name"] == "Asthma"
    assert "id" not in sent and "info_url" not in sent  # read-only
    assert created.id == 5


@respx.mock
async def test_bulk_create_sends_a_json_list_and_returns_records(client: DrChronoClient) -> None:
    route = respx.post(f"{BASE}/api/allergies").respond(
        201, json=[{"id": 1, "doctor": 1, "patient": 2}, {"id": 2, "doctor": 1, "patient": 3}]
    )
    made = await client.allergies.create([{"doctor": 1, "patient": 2}, {"doctor": 1, "patient": 3}])
    assert [a.id for a in made] == [1, 2]
    assert json.loads(route.calls.last.request.content) == [
        {"doctor": 1, "patient": 2},
        {"doctor": 1, "patient": 3},
    ]
    assert route.calls.last.request.headers["Content-Type"] == "application/json"


@respx.mock
async def test_file_fields_are_uploaded_as_multipart(client: DrChronoClient) -> None:
    route = respx.post(f"{BASE}/api/documents").respond(
        201, json={"id": 3, "document": "https://files.test/d.pdf"}
    )
    doc = await client.documents.create(
        {
            "doctor": 1,
            "patient": 2,
            "date": dt.date(2026, 1, 5),
            "description": "Lab report",
            "metatags": ["lab", "blood"],
            "document": ("report.pdf", b"%PDF-1.4 fake", "application/pdf"),
        }
    )
    assert doc.document == "https://files.test/d.pdf"
    request = route.calls.last.request
    assert request.headers["Content-Type"].startswith("multipart/form-data")
    body = request.content
    assert b'name="metatags"\r\n\r\n["lab","blood"]' in body
    assert b'name="date"\r\n\r\n2026-01-05' in body
    assert b'filename="report.pdf"' in body and b"%PDF-1.4 fake" in body


@respx.mock
async def test_patch_sends_only_the_given_fields_and_multipart_for_files(
    client: DrChronoClient, tmp_path: Any
) -> None:
    route = respx.patch(f"{BASE}/api/patients/4").respond(204)
    assert await client.patients.patch(4, first_name="Ann") is None
    assert json.loads(route.calls.last.request.content) == {"first_name": "Ann"}
    photo = tmp_path / "me.png"
    photo.write_bytes(b"\x89PNG")
    await client.patients.patch(4, patient_photo=photo, patient_photo_date=dt.date(2026, 1, 2))
    request = route.calls.last.request
    assert request.headers["Content-Type"].startswith("multipart/form-data")
    assert b'filename="me.png"' in request.content


@respx.mock
async def test_update_and_delete(client: DrChronoClient) -> None:
    put = respx.put(f"{BASE}/api/appointment_profiles/8").respond(204)
    delete = respx.delete(f"{BASE}/api/appointments/abc-9").respond(204)
    await client.appointment_profiles.update(
        8,
        {
            "name": "Physical",
            "duration": 30,
            "color": "#fff",
            "reason": "",
            "online_scheduling": False,
        },
    )
    assert json.loads(put.calls.last.request.content)["duration"] == 30
    await client.appointments.delete("abc-9")  # string ids (appointments) are not numbers
    assert delete.call_count == 1


@respx.mock
async def test_decimals_and_date_ranges_in_bodies(client: DrChronoClient) -> None:
    route = respx.post(f"{BASE}/api/patient_payments").respond(
        201, json={"id": 1, "amount": "12.50"}
    )
    payment = await client.patient_payments.create({"patient": 1, "amount": Decimal("12.50")})
    assert json.loads(route.calls.last.request.content)["amount"] == "12.50"
    assert payment.amount == Decimal("12.50")


# -- actions ---------------------------------------------------------------------------------


@respx.mock
async def test_actions(client: DrChronoClient) -> None:
    office = {"id": 3, "name": "Main", "exam_rooms": [{"index": 1, "name": "A"}]}
    add = respx.post(f"{BASE}/api/offices/3/add_exam_room").respond(200, json=office)
    got = await client.offices.add_exam_room(3, name="A")
    assert isinstance(got, records.Office) and got.id == 3
    assert json.loads(add.calls.last.request.content) == {"name": "A", "online_scheduling": False}

    apply = respx.post(f"{BASE}/api/consent_forms/9/apply_to_appointment").respond(204)
    unapply = respx.post(f"{BASE}/api/consent_forms/9/unapply_from_appointment").respond(204)
    await client.consent_forms.apply_to_appointment(9, appointment=77)
    await client.consent_forms.unapply_from_appointment(9, appointment=77)
    assert json.loads(apply.calls.last.request.content) == {"appointment": 77}
    assert unapply.call_count == 1

    note = respx.patch(f"{BASE}/api/medications/5/append_to_pharmacy_note").respond(
        200, json={"pharmacy_note": "old\n\nnew"}
    )
    assert await client.medications.append_to_pharmacy_note(5, "new") == {
        "pharmacy_note": "old\n\nnew"
    }
    assert json.loads(note.calls.last.request.content) == {"text": "new"}

    xml = "<ClinicalDocument/>"
    ccda = respx.get(f"{BASE}/api/patients/2/ccda").respond(
        200, text=xml, headers={"Content-Type": "application/xml"}
    )
    assert await client.patients.ccda(2, date_range="2025-01-01/2025-02-01") == xml
    assert query(ccda) == {"date_range": "2025-01-01/2025-02-01"}
    respx.get(f"{BASE}/api/patients/2/qrda1").respond(200, text="<QRDA/>")
    assert await client.patients.qrda1(2, start_date=dt.date(2025, 1, 1)) == "<QRDA/>"

    access = [
        {
            "id": 1,
            "doctor": 1,
            "enabled_by": 2,
            "enabled_on": "2025-01-01T10:00:00",
            "activated_on": None,
            "disabled_by": None,
            "disabled_on": None,
        }
    ]
    respx.get(f"{BASE}/api/patients/2/onpatient_access").respond(200, json=access)
    send = respx.post(f"{BASE}/api/patients/2/onpatient_access").respond(204)
    revoke = respx.delete(f"{BASE}/api/patients/2/onpatient_access").respond(204)
    invites = await client.patients.onpatient_access(2)
    assert [type(i) for i in invites] == [records.OnpatientAccess]
    await client.patients.send_onpatient_access(2)
    await client.patients.revoke_onpatient_access(2)
    assert send.call_count == 1 and revoke.call_count == 1

    respx.get(f"{BASE}/api/users/current").respond(302, headers={"Location": "/api/users/12"})
    user = {
        "id": 12,
        "username": "drx",
        "doctor": 12,
        "plan_type": "",
        "is_doctor": True,
        "is_staff": False,
        "permissions": {},
    }
    respx.get(f"{BASE}/api/users/12").respond(200, json=user)
    me = await client.users.current()
    assert isinstance(me, records.User) and me.id == 12

    enable = respx.post(f"{BASE}/api/iframe_integration").respond(201, content=b"")
    disable = respx.delete(f"{BASE}/api/iframe_integration").respond(204)
    await client.iframe_integration.enable()
    await client.iframe_integration.disable()
    assert enable.call_count == 1 and disable.call_count == 1


# -- malformed answers -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        [],
        {"results": {"a": 1}},
        {"next": None},
        {"results": [1, 2]},
        {"results": [], "next": 5},
    ],
)
@respx.mock
async def test_malformed_pages_are_typed_errors(client: DrChronoClient, body: Any) -> None:
    from drchrono_async import ResponseDecodeError

    respx.get(f"{BASE}/api/patients").respond(200, json=body)
    with pytest.raises(ResponseDecodeError):
        await client.patients.list()


@respx.mock
async def test_get_of_a_non_object_is_a_typed_error(client: DrChronoClient) -> None:
    from drchrono_async import ResponseDecodeError

    respx.get(f"{BASE}/api/patients/1").respond(200, json=[1])
    with pytest.raises(ResponseDecodeError):
        await client.patients.get(1)


@pytest.mark.filterwarnings("ignore::drchrono_async.RecordDecodeWarning")  # minimal records
@respx.mock
async def test_fetch_all_runs_listings_concurrently(client: DrChronoClient) -> None:
    in_flight = 0
    most = 0

    async def slow_page(request: httpx.Request) -> httpx.Response:
        nonlocal in_flight, most
        in_flight += 1
        most = max(most, in_flight)
        for _ in range(20):
            await asyncio.sleep(0)
        in_flight -= 1
        return httpx.Response(200, json={"next": None, "previous": None, "results": [{"id": 1}]})

    respx.get(f"{BASE}/api/doctors").mock(side_effect=slow_page)
    respx.get(f"{BASE}/api/offices").mock(side_effect=slow_page)
    respx.get(f"{BASE}/api/users").mock(side_effect=slow_page)
    got = await client.fetch_all(
        {"d": client.doctors.list(), "o": client.offices.list(), "u": client.users.list()}
    )
    assert [type(v[0]) for v in got.values()] == [records.Doctor, records.Office, records.User]
    assert most == 3


@respx.mock
async def test_fetch_all_raises_the_first_failure_itself(client: DrChronoClient) -> None:
    from drchrono_async import NotFoundError

    respx.get(f"{BASE}/api/doctors").respond(200, json=PAGE)
    respx.get(f"{BASE}/api/offices").respond(404)
    with pytest.raises(NotFoundError):
        await client.fetch_all({"d": client.doctors.list(), "o": client.offices.list()})
    with pytest.raises(InvalidRequestError):
        await client.fetch_all({"d": [1, 2]})  # type: ignore[dict-item]
