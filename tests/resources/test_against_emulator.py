"""Every resource kind end to end: DrChronoClient -> transport -> the in-process emulator."""

from __future__ import annotations

import datetime as dt
import itertools
from collections import Counter
from collections.abc import AsyncIterator
from decimal import Decimal

import httpx
import pytest

from drchrono_async import (
    BadRequestError,
    ConflictError,
    DrChronoClient,
    NotFoundError,
    records,
)
from drchrono_async.testing import EXTRA_FIELD, Emulator, VirtualClock


@pytest.fixture
def emulator() -> Emulator:
    return Emulator(seed=7, clock=VirtualClock(), sizes={"appointments": 3_000})


@pytest.fixture
async def client(emulator: Emulator) -> AsyncIterator[DrChronoClient]:
    async with emulator.client() as c:
        yield c


def _scheduled(record: dict[str, object]) -> dt.date:
    return dt.datetime.fromisoformat(str(record["scheduled_time"])).date()


# -- listing ---------------------------------------------------------------------------------


async def test_over_long_date_range_returns_exactly_the_records_of_the_range(
    client: DrChronoClient, emulator: Emulator
) -> None:
    today = emulator.local_now().date()
    start, end = today - dt.timedelta(days=200), today + dt.timedelta(days=200)
    listing = client.appointments.list(date_range=(start, end))
    assert listing.shards == 3  # 401 days, reaching into the future: windows of <= 190
    got = [appt.id async for appt in listing]
    expected = {
        str(r["id"])
        for r in emulator.records("appointments")
        if start <= _scheduled(r) <= end and not r.get("deleted_flag")
    }
    assert len(expected) > 100  # the seed fills the range: an empty listing cannot pass
    assert len(got) == len(set(got)), "duplicates"
    assert set(got) == expected, "missing or extra records"
    assert emulator.count(status=400) == 0  # no window was refused


async def test_shards_ordered_yield_in_date_order(
    client: DrChronoClient, emulator: Emulator
) -> None:
    today = emulator.local_now().date()
    span = (today - dt.timedelta(days=60), today)
    # 61 days in 6 windows: the first is 11 days long, the others 10.
    bounds = [span[0] + dt.timedelta(days=d) for d in (0, 11, 21, 31, 41, 51, 61)]
    windows = list(itertools.pairwise(bounds))
    listing = client.appointments.list(date_range=span, shards=6, ordered=True)
    seen = [appt.scheduled_time.date() async for appt in listing if appt.scheduled_time]
    index = [next(i for i, (a, b) in enumerate(windows) if a <= d < b) for d in seen]
    assert len(set(index)) == 6 and index == sorted(index)
    sent = sorted({e.query["date_range"] for e in emulator.requests if "date_range" in e.query})
    assert sent == [f"{a}/{b - dt.timedelta(days=1)}" for a, b in windows]


async def test_list_pages_carry_the_filters_and_the_maximum_page_size(
    client: DrChronoClient, emulator: Emulator
) -> None:
    doctor = emulator.records("doctors")[0]["id"]
    since = emulator.local_now() - dt.timedelta(days=3650)
    got = [a async for a in client.appointments.list(since=since, doctor=doctor)]
    assert got and all(a.doctor == doctor for a in got)
    expected = [r for r in emulator.records("appointments") if r["doctor"] == doctor]
    expected = [r for r in expected if not r.get("deleted_flag")]
    assert len(got) == len(expected)
    sizes = [e.query.get("page_size") for e in emulator.requests if e.path == "/api/appointments"]
    assert set(sizes) <= {"250", None}  # None: the follow-up pages carry it in the cursor
    assert sizes[0] == "250"


async def test_verbose_keys_only_when_asked(client: DrChronoClient, emulator: Emulator) -> None:
    plain = (await client.patients.list(page_size=5)).results[0]
    assert plain.primary_insurance is None and "primary_insurance" not in plain.raw
    rich = (await client.patients.list(page_size=5, verbose=True)).results[0]
    assert "primary_insurance" in rich.raw


async def test_unknown_fields_reach_the_caller(client: DrChronoClient) -> None:
    doctor = (await client.doctors.list()).results[0]
    assert EXTRA_FIELD in doctor.extra


async def test_clinical_notes_page_in_twenties(client: DrChronoClient, emulator: Emulator) -> None:
    today = emulator.local_now().date()
    listing = client.clinical_notes.list(date_range=(today - dt.timedelta(days=3000), today))
    sizes = [len(page.results) async for page in listing.pages()]
    assert max(sizes) == 20  # the maximum page size of clinical notes, asked for by default


async def test_prefetch_stays_one_page_ahead_against_the_emulator(
    client: DrChronoClient, emulator: Emulator
) -> None:
    since = emulator.local_now() - dt.timedelta(days=3650)
    taken = 0
    async for _page in client.appointments.list(since=since, page_size=100).pages():
        taken += 1
        for _ in range(200):  # the caller works; the prefetcher may run meanwhile
            await _yield()
        served = emulator.count(path="/api/appointments")
        assert served - taken <= 1
    assert taken > 3


async def _yield() -> None:
    import asyncio

    await asyncio.sleep(0)


async def test_transient_faults_mid_listing_lose_nothing(
    client: DrChronoClient, emulator: Emulator
) -> None:
    since = emulator.local_now() - dt.timedelta(days=3650)
    emulator.faults.script([None, "500", "html", None, "500"])
    got = [a.id async for a in client.appointments.list(since=since, page_size=200)]
    expected = {str(r["id"]) for r in emulator.records("appointments") if not r.get("deleted_flag")}
    assert len(expected) > 1000  # many pages, so the faults hit mid-listing
    assert len(got) == len(set(got)) and set(got) == expected
    assert emulator.count(status=500) == 2


async def test_missing_required_filter_would_be_a_400_but_is_caught_before(
    client: DrChronoClient, emulator: Emulator
) -> None:
    from drchrono_async import InvalidRequestError

    with pytest.raises(InvalidRequestError):
        client.insurances.list(term="a")
    assert emulator.count(path="/api/insurances") == 0
    insurers = [i async for i in client.insurances.list(payer_type="emdeon")]
    assert insurers and all(isinstance(i, records.Insurance) for i in insurers)


# -- writing ---------------------------------------------------------------------------------


async def test_patient_crud(client: DrChronoClient, emulator: Emulator) -> None:
    doctor = emulator.records("doctors")[0]["id"]
    created = await client.patients.create(
        {
            "doctor": doctor,
            "gender": "Female",
            "first_name": "Ada",
            "date_of_birth": dt.date(1990, 5, 17),
        }
    )
    assert isinstance(created, records.Patient) and created.id is not None
    fetched = await client.patients.get(created.id)
    assert fetched.first_name == "Ada" and fetched.date_of_birth == dt.date(1990, 5, 17)
    await client.patients.patch(created.id, last_name="Lovelace")
    assert (await client.patients.get(created.id)).last_name == "Lovelace"
    await client.patients.update(
        created.id, records.Patient(doctor=doctor, gender="Female", first_name="Augusta")
    )
    assert (await client.patients.get(created.id)).first_name == "Augusta"
    await client.patients.delete(created.id)
    with pytest.raises(NotFoundError):
        await client.patients.get(created.id)


async def test_appointment_overlap_and_soft_delete(
    client: DrChronoClient, emulator: Emulator
) -> None:
    office = emulator.records("offices")[0]
    doctor = emulator.records("doctors")[0]["id"]
    when = dt.datetime.combine(emulator.local_now().date() + dt.timedelta(days=400), dt.time(9))
    body = {
        "doctor": doctor,
        "office": office["id"],
        "exam_room": 1,
        "patient": emulator.records("patients")[0]["id"],
        "scheduled_time": when,
        "duration": 30,
    }
    first = await client.appointments.create(body)
    assert isinstance(first.id, str)
    with pytest.raises(ConflictError):
        await client.appointments.create(body)
    second = await client.appointments.create({**body, "allow_overlapping": True})
    assert second.id != first.id
    await client.appointments.delete(first.id)
    still = await client.appointments.get(first.id)
    assert still.deleted_flag is True  # soft delete


async def test_bulk_create(client: DrChronoClient, emulator: Emulator) -> None:
    doctor = emulator.records("doctors")[0]["id"]
    patients = [p["id"] for p in emulator.records("patients")[:3]]
    made = await client.allergies.create(
        [{"doctor": doctor, "patient": p, "reaction": "Hives"} for p in patients]
    )
    assert [a.patient for a in made] == patients
    assert all(isinstance(a, records.Allergy) and a.id is not None for a in made)


async def test_bad_write_is_a_field_map(client: DrChronoClient) -> None:
    with pytest.raises(BadRequestError) as info:
        await client.patients.create({"first_name": "NoDoctor"})
    assert "doctor" in info.value.field_errors


async def test_document_upload_returns_a_url(client: DrChronoClient, emulator: Emulator) -> None:
    doctor = emulator.records("doctors")[0]["id"]
    patient = emulator.records("patients")[0]["id"]
    doc = await client.documents.create(
        {
            "doctor": doctor,
            "patient": patient,
            "date": dt.date(2026, 1, 5),
            "description": "Referral letter",
            "metatags": ["referral", "cardiology"],
            "document": ("referral.pdf", b"%PDF-1.4 test", "application/pdf"),
        }
    )
    assert doc.document and doc.document.startswith("http")
    assert list(doc.metatags or []) == ["referral", "cardiology"]
    async with httpx.AsyncClient(transport=emulator.transport) as http:
        assert (await http.get(doc.document)).content == b"%PDF-1.4 test"


async def test_money_round_trips_as_decimal(client: DrChronoClient, emulator: Emulator) -> None:
    patient = emulator.records("patients")[0]["id"]
    payment = await client.patient_payments.create({"patient": patient, "amount": Decimal("42.10")})
    assert payment.amount == Decimal("42.10")


# -- actions ---------------------------------------------------------------------------------


async def test_actions(client: DrChronoClient, emulator: Emulator) -> None:
    office = emulator.records("offices")[0]
    updated = await client.offices.add_exam_room(office["id"], name="Room X")
    assert isinstance(updated, records.Office) and updated.id == office["id"]
    rooms = [room.get("name") for room in updated.exam_rooms or []]
    assert rooms[-1] == "Room X" and len(rooms) == len(office.get("exam_rooms") or []) + 1
    stored = emulator.record("offices", office["id"]) or {}
    assert stored["exam_rooms"][-1]["name"] == "Room X"  # the change reached the server

    me = await client.users.current()
    assert isinstance(me, records.User) and me.id == emulator.current_user_id
    assert emulator.count(status=302) == 1

    med = emulator.records("medications")[0]
    note = await client.medications.append_to_pharmacy_note(med["id"], "Take with food")
    old = med.get("pharmacy_note")
    want = f"{old}\n\nTake with food" if old else "Take with food"
    assert note == {"pharmacy_note": want}
    assert (emulator.record("medications", med["id"]) or {})["pharmacy_note"] == want

    patient = emulator.records("patients")[0]
    xml = await client.patients.ccda(patient["id"])
    assert 'kind="ccda"' in xml and f'<patient id="{patient["id"]}">' in xml
    assert f"<name>{patient['first_name']} {patient['last_name']}</name>" in xml
    access_path = f"/api/patients/{patient['id']}/onpatient_access"
    assert await client.patients.onpatient_access(patient["id"]) == []  # none sent yet
    await client.patients.send_onpatient_access(patient["id"])
    await client.patients.revoke_onpatient_access(patient["id"])
    assert [e.method for e in emulator.requests.filter(path=access_path)] == [
        "GET",
        "POST",
        "DELETE",
    ]

    form = emulator.records("consent_forms")[0]["id"]
    appt = emulator.records("appointments")[0]["id"]
    await client.consent_forms.apply_to_appointment(form, appointment=appt)
    await client.consent_forms.unapply_from_appointment(form, appointment=appt)
    for action in ("apply_to_appointment", "unapply_from_appointment"):
        path = f"/api/consent_forms/{form}/{action}"
        assert emulator.count(method="POST", path=path) == 1

    await client.iframe_integration.enable()
    await client.iframe_integration.disable()
    iframe = emulator.requests.filter(path="/api/iframe_integration")
    assert [e.method for e in iframe] == ["POST", "DELETE"]
    statuses = Counter(e.status for e in emulator.requests)
    assert not [s for s in statuses if s is None or s >= 400]


async def test_emulator_client_is_wired_to_the_emulator_and_takes_options(
    emulator: Emulator,
) -> None:
    async with emulator.client(max_wait=0, quota=None, max_concurrency=3) as c:
        assert str(c.base_url) == emulator.base_url
        assert c.clock is emulator.clock and c.quota is None and c.max_concurrency == 3
        await c.doctors.list()
    assert emulator.count(path="/api/doctors") == 1
