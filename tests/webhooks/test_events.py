"""Deliveries read into typed events: every event kind, bad headers, bad bodies, privacy."""

from __future__ import annotations

import re
import warnings
from typing import Any

import attrs
import orjson
import pytest

from drchrono_async import RecordDecodeWarning, make_converter, records
from drchrono_async._endpoints import BY_NAME
from drchrono_async.errors import InvalidRequestError, WebhookPayloadError
from drchrono_async.testing import Emulator
from drchrono_async.webhooks import EVENT_RESOURCES, WebhookEvent, parse_delivery
from tests.reference import reference_text

from .conftest import PATIENT_NAME, SECRET, patient, signed

# The 12 events of the v4 reference: event -> (endpoint, record type).
REFERENCE_EVENTS = {
    "APPOINTMENT_CREATE": ("appointments", records.Appointment),
    "APPOINTMENT_MODIFY": ("appointments", records.Appointment),
    "PATIENT_CREATE": ("patients", records.Patient),
    "PATIENT_MODIFY": ("patients", records.Patient),
    "PATIENT_PROBLEM_CREATE": ("problems", records.Problem),
    "PATIENT_PROBLEM_MODIFY": ("problems", records.Problem),
    "PATIENT_ALLERGY_CREATE": ("allergies", records.Allergy),
    "PATIENT_ALLERGY_MODIFY": ("allergies", records.Allergy),
    "PATIENT_MEDICATION_CREATE": ("medications", records.Medication),
    "PATIENT_MEDICATION_MODIFY": ("medications", records.Medication),
    "CLINICAL_NOTE_LOCK": ("clinical_notes", records.ClinicalNote),
    "CLINICAL_NOTE_UNLOCK": ("clinical_notes", records.ClinicalNote),
}


def parse(event: str, obj: Any = None, **kw: Any) -> WebhookEvent:
    headers, body = signed(event, obj, **kw)
    return parse_delivery(headers, body, SECRET)


@pytest.mark.parametrize("name", sorted(REFERENCE_EVENTS))
def test_each_reference_event_structures_its_object(emu: Emulator, name: str) -> None:
    resource, cls = REFERENCE_EVENTS[name]
    obj = emu.records(resource)[0]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the emulator's objects fit without leniency
        event = parse(name, obj, delivery="dlv-77")
    assert event.event == name and event.delivery_id == "dlv-77"
    assert event.resource == resource and not event.is_delete
    assert type(event.object) is cls
    assert event.object.raw == obj
    assert event.object_id == (str(obj["id"]) if "id" in obj else None)
    assert event.raw["object"] == obj and event.receiver == {"id": 7, "url": "https://x/hook"}


def test_the_reference_lists_no_event_this_module_does_not_know() -> None:
    text = reference_text()
    section = text[text.index("\nAPI Webhooks\n") :]
    section = section[: section.index("Webhooks verification")]
    listed = set(re.findall(r"^([A-Z][A-Z_]+[A-Z]) We will deliver", section, re.M))
    assert listed == set(REFERENCE_EVENTS)
    assert listed <= set(EVENT_RESOURCES)


def test_every_resource_is_an_endpoint_with_a_record_type() -> None:
    for name, resource in EVENT_RESOURCES.items():
        assert BY_NAME[resource].record_type is not None, name


def test_longest_prefix_wins_and_unlisted_compounds_stay_unknown(emu: Emulator) -> None:
    problem = emu.records("problems")[0]
    assert parse("PATIENT_PROBLEM_CREATE", problem).resource == "problems"
    # Not read as a patient: a store would upsert it into the wrong table.
    unknown = parse("PATIENT_VACCINE_RECORD_CREATE", {"id": 3, "vaccine": "x"})
    assert unknown.resource is None and unknown.object is None


def test_ping_has_no_object() -> None:
    event = parse("PING")
    assert (event.event, event.resource, event.object, event.object_id) == (
        "PING",
        None,
        None,
        None,
    )
    assert not event.is_delete
    assert parse("PING", {"id": 1}).object is None  # whatever it carries


def test_an_unknown_event_is_accepted_and_keeps_its_raw_object() -> None:
    event = parse("VACCINE_ADMINISTERED", {"id": 9, "lot": "A1"})
    assert event.resource is None and event.object is None and not event.is_delete
    assert event.raw["object"] == {"id": 9, "lot": "A1"}
    unknown_delete = parse("VACCINE_DELETE", {"id": 9})
    assert unknown_delete.is_delete and unknown_delete.resource is None


@pytest.mark.parametrize(
    ("name", "resource", "cls"),
    [
        ("APPOINTMENT_DELETE", "appointments", records.Appointment),
        ("PATIENT_DELETE", "patients", records.Patient),
        ("PATIENT_PROBLEM_DELETE", "problems", records.Problem),
        ("LINE_ITEM_DELETE", "line_items", records.LineItem),
        ("TASK_DELETE", "tasks", records.Task),
    ],
)
def test_delete_events_name_the_resource_and_id(
    emu: Emulator, name: str, resource: str, cls: type[Any]
) -> None:
    obj = emu.records(resource)[1]
    event = parse(name, obj)
    assert event.is_delete and event.resource == resource
    assert event.object_id == str(obj["id"]) and type(event.object) is cls


def test_a_delete_needs_only_the_id_even_with_a_strict_converter() -> None:
    strict = make_converter(strict=True)
    obj = {"id": "90000001", "scheduled_time": "not a time"}
    headers, body = signed("APPOINTMENT_DELETE", obj)
    event = parse_delivery(headers, body, SECRET, converter=strict)
    assert event.object_id == "90000001" and event.object is None and event.is_delete
    assert event.raw["object"] == obj
    headers, body = signed("APPOINTMENT_MODIFY", obj)
    with pytest.raises(WebhookPayloadError, match=r"Appointment\.scheduled_time"):
        parse_delivery(headers, body, SECRET, converter=strict)
    headers, body = signed("TASK_DELETE", {"id": 12})
    assert parse_delivery(headers, body, SECRET).object_id == "12"  # integer ids as text
    for obj in ({}, {"id": None}, {"id": ""}, {"id": True}, {"id": [1]}, {"id": "9" * 65}):
        with pytest.raises(WebhookPayloadError, match=r"APPOINTMENT_DELETE: .*usable id"):
            parse("APPOINTMENT_DELETE", obj)


def test_a_known_event_whose_object_does_not_fit_names_event_and_field_only(
    emu: Emulator,
) -> None:
    obj = patient(emu)
    obj["date_of_birth"] = f"born {PATIENT_NAME}"
    headers, body = signed("PATIENT_MODIFY", obj)
    with pytest.raises(WebhookPayloadError) as info:
        parse_delivery(headers, body, SECRET, converter=make_converter(strict=True))
    assert str(info.value) == "PATIENT_MODIFY: Patient.date_of_birth does not fit its declared type"
    assert info.value.__cause__ is None and PATIENT_NAME not in str(info.value)
    # The default converter is the client's lenient one: the field is None, raw keeps it.
    with pytest.warns(RecordDecodeWarning, match=r"Patient\.date_of_birth"):
        event = parse_delivery(headers, body, SECRET)
    assert event.object is not None and event.object.date_of_birth is None  # type: ignore[attr-defined]
    assert event.object.raw["date_of_birth"] == f"born {PATIENT_NAME}"


@pytest.mark.parametrize("obj", [None, [1, 2], "text", 5])
def test_a_known_event_without_an_object_is_malformed(obj: Any) -> None:
    headers, _ = signed("APPOINTMENT_MODIFY")
    body = orjson.dumps({"receiver": {}, "object": obj})
    with pytest.raises(WebhookPayloadError, match="APPOINTMENT_MODIFY: the body has no object"):
        parse_delivery(headers, body, SECRET)


def nested(levels: int) -> Any:
    """An object `levels` containers deep, objects and arrays in turn, an object outside."""
    value: Any = 1
    for i in range(levels):
        value = {"k": value} if (levels - i) % 2 else [value]
    return value


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"", "not valid JSON"),
        (b"{not json", "not valid JSON"),
        (b"\xff\xfe", "not valid JSON"),
        (b"[]", "not a JSON object"),
        (b'"object"', "not a JSON object"),
        (b"null", "not a JSON object"),
        (orjson.dumps(nested(40)), "deeper than 32"),
        (b"[" * 5000 + b"]" * 5000, "not valid JSON"),  # orjson's own recursion limit
        (orjson.dumps({"receiver": [1]}), "receiver is not an object"),
    ],
)
def test_malformed_bodies(body: bytes, message: str) -> None:
    headers, _ = signed("PING")
    with pytest.raises(WebhookPayloadError, match=message) as info:
        parse_delivery(headers, body, SECRET)
    assert info.value.__cause__ is None


def test_depth_limit_is_exact() -> None:
    headers, _ = signed("PING")
    assert parse_delivery(headers, orjson.dumps(nested(32)), SECRET).event == "PING"
    with pytest.raises(WebhookPayloadError):
        parse_delivery(headers, orjson.dumps(nested(33)), SECRET)


def test_body_size_is_bounded() -> None:
    headers, body = signed("PING")
    assert parse_delivery(headers, body, SECRET, max_body=len(body)).event == "PING"
    with pytest.raises(WebhookPayloadError, match="over"):
        parse_delivery(headers, body, SECRET, max_body=len(body) - 1)
    with pytest.raises(InvalidRequestError):
        parse_delivery(headers, body.decode(), SECRET)  # type: ignore[arg-type]
    for bad in (0, "1", 1.5, True):
        with pytest.raises(InvalidRequestError):
            parse_delivery(headers, body, SECRET, max_body=bad)  # type: ignore[arg-type]
    assert parse_delivery(headers, memoryview(body), SECRET).event == "PING"


@pytest.mark.parametrize(
    ("header", "value"),
    [
        ("X-drchrono-event", None),
        ("X-drchrono-event", ""),
        ("X-drchrono-event", "appointment_create"),
        ("X-drchrono-event", "APPOINTMENT-CREATE"),
        ("X-drchrono-event", "APPOINTMENT CREATE"),
        ("X-drchrono-event", "A" * 65),
        ("X-drchrono-event", "ÄPPOINTMENT"),
        ("X-drchrono-delivery", None),
        ("X-drchrono-delivery", ""),
        ("X-drchrono-delivery", "has space"),
        ("X-drchrono-delivery", "tab\there"),
        ("X-drchrono-delivery", "x" * 129),
        ("X-drchrono-delivery", "ü"),
    ],
)
def test_bad_event_and_delivery_headers(header: str, value: str | None) -> None:
    headers, body = signed("PING")
    if value is None:
        del headers[header]
    else:
        headers[header] = value
    with pytest.raises(WebhookPayloadError) as info:
        parse_delivery(headers, body, SECRET)
    assert header in str(info.value)
    assert value is None or len(value) < 2 or value not in str(info.value)


def test_repeated_event_or_delivery_headers_are_malformed() -> None:
    headers, body = signed("PING")
    for name in ("x-drchrono-event", "x-drchrono-delivery"):
        pairs = [*headers.items(), (name, headers[name.replace("x-d", "X-d")])]
        with pytest.raises(WebhookPayloadError, match="more than once"):
            parse_delivery(pairs, body, SECRET)


def test_bounds_are_inclusive() -> None:
    event = parse("A" * 64, delivery="d" * 128)
    assert event.event == "A" * 64 and event.delivery_id == "d" * 128


def test_repr_shows_event_and_delivery_only(emu: Emulator) -> None:
    receiver = {"id": 7, "secret_token": SECRET, "url": "https://x/hook"}
    event = parse("PATIENT_MODIFY", patient(emu), delivery="dlv-9", receiver=receiver)
    assert repr(event) == "WebhookEvent(event='PATIENT_MODIFY', delivery_id='dlv-9')"
    assert str(event) == repr(event) and PATIENT_NAME not in repr([event])
    # The receiver may describe the webhook with its secret: redacted before anyone sees it.
    assert event.receiver == {"id": 7, "secret_token": "[redacted]", "url": "https://x/hook"}
    assert SECRET not in orjson.dumps(event.raw).decode()
    assert event.object is not None and event.object.first_name == PATIENT_NAME  # type: ignore[attr-defined]


def test_events_are_frozen_and_hashable(emu: Emulator) -> None:
    event = parse("APPOINTMENT_MODIFY", emu.records("appointments")[0])
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        event.event = "PING"  # type: ignore[misc]
    assert hash(event) == hash(parse("APPOINTMENT_MODIFY", emu.records("appointments")[0]))
