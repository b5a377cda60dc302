"""The emulator's REST behaviour, through plain httpx."""

from __future__ import annotations

import datetime as dt
from typing import Any

import httpx
import pytest

from drchrono_async._endpoints import BY_NAME, ENDPOINTS
from drchrono_async.testing import EXTRA_FIELD, Emulator

TODAY = dt.date(2026, 1, 1)  # the fixture clock's date (UTC practice)


async def all_pages(client: httpx.AsyncClient, url: str, **params: Any) -> list[dict[str, Any]]:
    results: list[dict[str, Any]] = []
    page = (await client.get(url, params=params)).json()
    results.extend(page["results"])
    while page["next"]:
        page = (await client.get(page["next"])).json()
        results.extend(page["results"])
    return results


# --- listing and pagination ------------------------------------------------------------------


async def test_every_listable_endpoint_lists(client: httpx.AsyncClient) -> None:
    for endpoint in ENDPOINTS:
        if "GET" not in endpoint.methods:
            continue
        params = {name: "x" for group in endpoint.required_filters for name in group[:1]}
        if "since" in params:
            params["since"] = "2000-01-01T00:00:00"
        if endpoint.name == "insurances":
            params = {"payer_type": "emdeon"}
        r = await client.get(endpoint.path, params=params)
        assert r.status_code == 200, (endpoint.name, r.text)
        body = r.json()
        assert set(body) == {"next", "previous", "results"}
        assert body["results"], endpoint.name


async def test_pages_walk_every_record_once_in_id_order(
    client: httpx.AsyncClient, emu: Emulator
) -> None:
    got = await all_pages(client, "/api/appointments", since="2000-01-01", page_size=37)
    ids = [int(a["id"]) for a in got]
    assert ids == sorted(ids)
    assert len(ids) == len(set(ids)) == len(emu.records("appointments"))


async def test_next_and_previous_carry_the_other_parameters(client: httpx.AsyncClient) -> None:
    first = (
        await client.get(
            "/api/appointments",
            params={"since": "2000-01-01", "doctor": "100001", "page_size": "5"},
        )
    ).json()
    assert first["previous"] is None
    nxt = httpx.URL(first["next"])
    assert nxt.params["since"] == "2000-01-01"
    assert nxt.params["doctor"] == "100001"
    assert nxt.params["page_size"] == "5"
    second = (await client.get(first["next"])).json()
    assert second["previous"] is not None
    back = (await client.get(second["previous"])).json()
    assert [a["id"] for a in back["results"]] == [a["id"] for a in first["results"]]
    # The second page kept the doctor filter: five more of that doctor's, none seen before.
    assert len(second["results"]) == 5
    assert {a["doctor"] for a in second["results"]} == {100001}
    assert not {a["id"] for a in second["results"]} & {a["id"] for a in first["results"]}


async def test_a_forged_cursor_is_a_404(client: httpx.AsyncClient) -> None:
    r = await client.get("/api/patients", params={"cursor": "!!not-a-cursor"})
    assert r.status_code == 404
    assert r.json() == {"detail": "Invalid cursor"}


async def test_verbose_keys_are_left_out_unless_asked(client: httpx.AsyncClient) -> None:
    keys = BY_NAME["appointments"].verbose_keys
    plain = (await client.get("/api/appointments", params={"since": "2000-01-01"})).json()
    assert not keys & plain["results"][0].keys()
    verbose = (
        await client.get("/api/appointments", params={"since": "2000-01-01", "verbose": "true"})
    ).json()
    assert keys <= verbose["results"][0].keys()
    one = plain["results"][0]["id"]
    assert not keys & (await client.get(f"/api/appointments/{one}")).json().keys()
    got = (await client.get(f"/api/appointments/{one}", params={"verbose": "true"})).json()
    assert keys <= got.keys()


async def test_records_carry_an_undocumented_field(client: httpx.AsyncClient) -> None:
    page = (await client.get("/api/patients")).json()
    assert page["results"] and all(EXTRA_FIELD in p for p in page["results"])


# --- filters ---------------------------------------------------------------------------------


def _ids(records: list[dict[str, Any]]) -> set[Any]:
    return {r["id"] for r in records}


async def test_int_filters_select_by_the_field_of_that_name(
    client: httpx.AsyncClient, emu: Emulator
) -> None:
    appointments = emu.records("appointments")
    for name, value in (("doctor", 100002), ("office", 200001)):
        got = await all_pages(client, "/api/appointments", since="2000-01-01", **{name: value})
        want = [a for a in appointments if a[name] == value]
        assert 0 < len(want) < len(appointments)
        assert _ids(got) == _ids(want)
    problems = emu.records("problems")
    patient = problems[0]["patient"]
    got = await all_pages(client, "/api/problems", patient=patient)
    assert _ids(got) == _ids([p for p in problems if p["patient"] == patient])


async def test_date_and_date_range_read_scheduled_time(
    client: httpx.AsyncClient, emu: Emulator
) -> None:
    first = dt.date.fromisoformat(emu.records("appointments")[0]["scheduled_time"][:10])
    day = await all_pages(client, "/api/appointments", date=str(first))
    assert day and all(a["scheduled_time"].startswith(str(first)) for a in day)
    last = first + dt.timedelta(days=30)
    month = await all_pages(client, "/api/appointments", date_range=f"{first}/{last}")
    want = [
        a
        for a in emu.records("appointments")
        if str(first) <= a["scheduled_time"][:10] <= str(last)
    ]
    assert len(want) > len(day)
    assert _ids(month) == _ids(want)


async def test_since_keeps_records_updated_at_or_after(
    client: httpx.AsyncClient, emu: Emulator
) -> None:
    since = "2025-12-15T00:00:00"
    got = await all_pages(client, "/api/appointments", since=since)
    stored = emu.records("appointments")
    want = [a for a in stored if a["updated_at"] >= since]
    assert 0 < len(want) < len(stored)
    assert _ids(got) == _ids(want)


async def test_timestamp_filters_refuse_a_timezone_suffix(client: httpx.AsyncClient) -> None:
    for since in ("2025-01-01T00:00:00Z", "2025-01-01T00:00:00+00:00"):
        r = await client.get("/api/patients", params={"since": since})
        assert r.status_code == 400
        assert "since" in r.json()


async def test_bad_filter_values_are_a_field_map(client: httpx.AsyncClient) -> None:
    r = await client.get("/api/appointments", params={"since": "2000-01-01", "doctor": "abc"})
    assert r.status_code == 400
    assert r.json() == {"doctor": ["Enter a whole number."]}


async def test_patient_name_filters_are_partial_and_case_insensitive(
    client: httpx.AsyncClient, emu: Emulator
) -> None:
    active = [p for p in emu.records("patients") if p["patient_status"] == "A"]
    part = active[0]["last_name"][1:4]
    got = await all_pages(client, "/api/patients", last_name=part.upper())
    want = [p for p in active if part.lower() in p["last_name"].lower()]
    assert 0 < len(want) < len(active)
    assert _ids(got) == _ids(want)


async def test_archived_and_inactive_rows_are_hidden_unless_asked(
    client: httpx.AsyncClient, emu: Emulator
) -> None:
    everyone = emu.records("patients")
    inactive = [p for p in everyone if p["patient_status"] != "A"]
    assert inactive
    listed = await all_pages(client, "/api/patients")
    assert len(listed) == len(everyone) - len(inactive)
    assert len(await all_pages(client, "/api/patients", show_inactive="true")) == len(everyone)


@pytest.mark.parametrize("endpoint", ["appointments", "clinical_notes"])
async def test_a_missing_required_filter_is_a_400_field_map(
    client: httpx.AsyncClient, endpoint: str
) -> None:
    r = await client.get(BY_NAME[endpoint].path, params={"patient": "1"})
    assert r.status_code == 400
    body = r.json()
    assert set(body) == {"since", "date", "date_range"}
    assert all(isinstance(v, list) and isinstance(v[0], str) for v in body.values())


async def test_insurances_need_payer_type(client: httpx.AsyncClient) -> None:
    r = await client.get("/api/insurances")
    assert r.status_code == 400
    assert r.json() == {"payer_type": ["This field is required."]}
    found = await all_pages(client, "/api/insurances", payer_type="gateway", term="aetna")
    assert found and all("aetna" in i["payer_name"].lower() for i in found)


# --- get, create, update, delete ---------------------------------------------------------------


async def test_get_is_200_or_404(client: httpx.AsyncClient, emu: Emulator) -> None:
    appt = emu.records("appointments")[0]
    r = await client.get(f"/api/appointments/{appt['id']}")
    assert r.status_code == 200
    assert r.json()["id"] == appt["id"]
    assert isinstance(r.json()["id"], str)
    assert (await client.get("/api/appointments/1")).status_code == 404
    assert (await client.get("/api/nothing_here")).status_code == 404


def appointment(**over: Any) -> dict[str, Any]:
    body = {
        "doctor": 100001,
        "office": 200001,
        "exam_room": 1,
        "patient": 5000001,
        "scheduled_time": "2026-03-02T07:00:00",
        "duration": 30,
    }
    return {**body, **over}


async def test_create_is_201_with_the_record(
    client: httpx.AsyncClient, emu: Emulator, clock: Any
) -> None:
    r = await client.post("/api/appointments", json=appointment(reason="Checkup"))
    assert r.status_code == 201
    made = r.json()
    assert isinstance(made["id"], str)
    assert made["reason"] == "Checkup"
    assert made["updated_at"] == "2026-01-01T00:00:00"
    assert made["deleted_flag"] is False
    assert emu.record("appointments", made["id"]) is not None
    got = (await client.get(f"/api/appointments/{made['id']}")).json()
    assert got["scheduled_time"] == "2026-03-02T07:00:00"


async def test_bulk_create_takes_a_json_list(client: httpx.AsyncClient) -> None:
    body = [
        appointment(scheduled_time="2026-03-02T06:00:00"),
        appointment(scheduled_time="2026-03-02T06:30:00"),
    ]
    r = await client.post("/api/appointments", json=body)
    assert r.status_code == 201
    made = r.json()
    assert isinstance(made, list) and len(made) == 2
    assert made[0]["id"] != made[1]["id"]


async def test_create_without_a_required_field_is_a_400(client: httpx.AsyncClient) -> None:
    body = appointment()
    del body["doctor"]
    r = await client.post("/api/appointments", json=body)
    assert r.status_code == 400
    assert r.json() == {"doctor": ["This field is required."]}
    r = await client.post("/api/appointments", json=appointment(doctor="abc"))
    assert r.status_code == 400
    assert "doctor" in r.json()


async def test_overlapping_appointments_are_a_409_unless_allowed(
    client: httpx.AsyncClient,
) -> None:
    assert (await client.post("/api/appointments", json=appointment())).status_code == 201
    clash = appointment(scheduled_time="2026-03-02T07:15:00")
    r = await client.post("/api/appointments", json=clash)
    assert r.status_code == 409
    # Another exam room is not an overlap; nor is an explicit allow_overlapping.
    other_room = appointment(scheduled_time="2026-03-02T07:15:00", exam_room=2)
    assert (await client.post("/api/appointments", json=other_room)).status_code == 201
    allowed = {**clash, "allow_overlapping": True}
    assert (await client.post("/api/appointments", json=allowed)).status_code == 201
    # Back to back does not overlap.
    after = appointment(scheduled_time="2026-03-02T07:30:00", exam_room=3)
    assert (await client.post("/api/appointments", json=after)).status_code == 201


async def test_put_and_patch_are_204_and_stamp_updated_at(
    client: httpx.AsyncClient, emu: Emulator, clock: Any
) -> None:
    made = (await client.post("/api/appointments", json=appointment())).json()
    clock.advance(90)
    r = await client.patch(f"/api/appointments/{made['id']}", json={"notes": "bring x-rays"})
    assert r.status_code == 204
    assert r.content == b""
    now = emu.record("appointments", made["id"])
    assert now is not None
    assert now["notes"] == "bring x-rays"
    assert now["updated_at"] == "2026-01-01T00:01:30"
    r = await client.put(f"/api/appointments/{made['id']}", json=appointment(duration=15))
    assert r.status_code == 204
    assert emu.record("appointments", made["id"])["duration"] == 15  # type: ignore[index]
    bad = await client.put(f"/api/appointments/{made['id']}", json={"notes": "x"})
    assert bad.status_code == 400  # PUT replaces: required fields must be there


async def test_moving_onto_another_appointment_is_a_409(client: httpx.AsyncClient) -> None:
    a = (await client.post("/api/appointments", json=appointment())).json()
    b = (
        await client.post(
            "/api/appointments", json=appointment(scheduled_time="2026-03-02T09:00:00")
        )
    ).json()
    r = await client.patch(
        f"/api/appointments/{b['id']}", json={"scheduled_time": a["scheduled_time"]}
    )
    assert r.status_code == 409


async def test_delete_appointment_is_soft(client: httpx.AsyncClient) -> None:
    made = (await client.post("/api/appointments", json=appointment())).json()
    assert (await client.delete(f"/api/appointments/{made['id']}")).status_code == 204
    got = await client.get(f"/api/appointments/{made['id']}")
    assert got.status_code == 200
    assert got.json()["deleted_flag"] is True
    listed = await all_pages(client, "/api/appointments", date="2026-03-02")
    assert made["id"] not in {a["id"] for a in listed}
    shown = await all_pages(client, "/api/appointments", date="2026-03-02", show_archived="true")
    assert made["id"] in {a["id"] for a in shown}


async def test_delete_without_soft_delete_removes(client: httpx.AsyncClient) -> None:
    made = (await client.post("/api/patients", json={"doctor": 100001, "gender": "Female"})).json()
    assert made["chart_id"]
    assert (await client.delete(f"/api/patients/{made['id']}")).status_code == 204
    assert (await client.get(f"/api/patients/{made['id']}")).status_code == 404


async def test_methods_the_table_does_not_allow_are_405(client: httpx.AsyncClient) -> None:
    assert (await client.post("/api/doctors", json={})).status_code == 405
    office = (await client.get("/api/offices")).json()["results"][0]["id"]
    assert (await client.put(f"/api/offices/{office}", json={})).status_code == 405
    assert (
        await client.patch(f"/api/offices/{office}", json={"online_scheduling": True})
    ).status_code == 204


# --- special cases ---------------------------------------------------------------------------


async def test_users_current_redirects_with_302(client: httpx.AsyncClient, emu: Emulator) -> None:
    r = await client.get("/api/users/current")
    assert r.status_code == 302
    location = r.headers["Location"]
    assert location == f"{emu.base_url}/api/users/{emu.current_user_id}"
    me = await client.get(location)
    assert me.status_code == 200
    assert me.json()["id"] == emu.current_user_id
    assert emu.count(path="/api/users/current", status=302) == 1


async def test_multipart_upload_stores_the_file_and_returns_a_url(
    client: httpx.AsyncClient,
) -> None:
    data = {
        "doctor": "100001",
        "patient": "5000001",
        "date": "2025-12-30",
        "description": "Lab report",
        "metatags": '["lab", "blood"]',
    }
    files = {"document": ("report.pdf", b"%PDF-1.4 hello", "application/pdf")}
    r = await client.post("/api/documents", data=data, files=files)
    assert r.status_code == 201, r.text
    doc = r.json()
    assert doc["doctor"] == 100001
    assert doc["metatags"] == ["lab", "blood"]
    assert doc["document"].startswith("http://") and doc["document"].endswith("report.pdf")
    fetched = await client.get(doc["document"])
    assert fetched.content == b"%PDF-1.4 hello"
    as_json = await client.post("/api/documents", json={**data, "document": "x"})
    assert as_json.status_code == 400
    assert "document" in as_json.json()


async def test_add_exam_room_returns_the_office(client: httpx.AsyncClient) -> None:
    office = (await client.get("/api/offices")).json()["results"][0]
    before = len(office["exam_rooms"])
    r = await client.post(f"/api/offices/{office['id']}/add_exam_room", json={"name": "Room X"})
    assert r.status_code == 200
    rooms = r.json()["exam_rooms"]
    assert len(rooms) == before + 1 and rooms[-1]["name"] == "Room X"
    r = await client.post(f"/api/offices/{office['id']}/add_exam_room", json={})
    assert r.status_code == 400


async def test_other_actions(client: httpx.AsyncClient) -> None:
    patient = (await client.get("/api/patients")).json()["results"][0]["id"]
    ccda = await client.get(f"/api/patients/{patient}/ccda")
    assert ccda.status_code == 200 and ccda.text.startswith("<?xml")
    assert (await client.post(f"/api/patients/{patient}/onpatient_access")).status_code == 204
    med = (await client.get("/api/medications")).json()["results"][0]["id"]
    r = await client.patch(f"/api/medications/{med}/append_to_pharmacy_note", json={"text": "hi"})
    assert r.status_code == 200 and r.json()["pharmacy_note"].endswith("hi")
    assert (await client.get("/api/patients/1/ccda")).status_code == 404


async def test_form_encoded_writes_are_coerced(client: httpx.AsyncClient) -> None:
    r = await client.post(
        "/api/patients", data={"doctor": "100002", "gender": "Male", "first_name": "Zed"}
    )
    assert r.status_code == 201
    assert r.json()["doctor"] == 100002


async def test_responses_carry_the_emulator_clock_as_date(
    client: httpx.AsyncClient, clock: Any
) -> None:
    clock.advance(3725)
    r = await client.get("/api/doctors")
    assert r.headers["Date"] == "Thu, 01 Jan 2026 01:02:05 GMT"
