"""The seeded practice: deterministic, sized as asked, consistent, typed as the records are."""

from __future__ import annotations

import datetime as dt
import itertools
from typing import Any

from drchrono_async import make_converter
from drchrono_async._endpoints import ENDPOINTS
from drchrono_async.records._base import api_fields
from drchrono_async.testing import EXTRA_FIELD, Emulator, VirtualClock

from .conftest import START


def test_the_same_seed_gives_the_same_practice() -> None:
    a = Emulator(seed=5, clock=VirtualClock(start=START), sizes={"appointments": 300})
    b = Emulator(seed=5, clock=VirtualClock(start=START), sizes={"appointments": 300})
    c = Emulator(seed=6, clock=VirtualClock(start=START), sizes={"appointments": 300})
    assert a.records("appointments") == b.records("appointments")
    assert a.records("patients") == b.records("patients")
    assert a.access_token == b.access_token
    assert a.records("appointments") != c.records("appointments")


def test_sizes_are_honoured() -> None:
    emu = Emulator(
        clock=VirtualClock(start=START),
        sizes={"appointments": 5_000, "patients": 17, "tasks": 4, "other": 1},
    )
    assert len(emu.records("appointments")) == 5_000
    assert len(emu.records("patients")) == 17
    assert len(emu.records("tasks")) == 4
    assert len(emu.records("sublabs")) == 1


def test_appointments_span_past_and_future_without_overlap(emu: Emulator) -> None:
    appts = emu.records("appointments")
    now = "2026-01-01T00:00:00"
    assert any(a["scheduled_time"] < now for a in appts)
    assert any(a["scheduled_time"] > now for a in appts)
    assert all(a["updated_at"] <= now and a["created_at"] <= a["updated_at"] for a in appts)
    slots: dict[tuple[Any, ...], list[tuple[dt.datetime, dt.datetime]]] = {}
    for a in appts:
        start = dt.datetime.fromisoformat(a["scheduled_time"])
        end = start + dt.timedelta(minutes=a["duration"])
        slots.setdefault((a["doctor"], a["office"], a["exam_room"]), []).append((start, end))
    for spans in slots.values():
        spans.sort()
        assert all(prev[1] <= nxt[0] for prev, nxt in itertools.pairwise(spans))


def test_references_point_at_existing_records(emu: Emulator) -> None:
    doctors = {d["id"] for d in emu.records("doctors")}
    offices = {o["id"]: o for o in emu.records("offices")}
    patients = {p["id"] for p in emu.records("patients")}
    for a in emu.records("appointments"):
        assert a["doctor"] in doctors and a["office"] in offices
        rooms = {r["index"] for r in offices[a["office"]]["exam_rooms"]}
        assert a["exam_room"] in rooms
        assert a["patient"] in patients or (a["patient"] is None and a["appt_is_break"])
    for name in ("problems", "allergies", "medications", "documents"):
        records = emu.records(name)
        assert records and all(r["patient"] in patients for r in records)
    users = emu.records("users")
    assert {u["doctor"] for u in users} <= doctors
    assert emu.record("users", emu.current_user_id) is not None
    notes = emu.records("clinical_notes")
    assert notes and all(emu.record("appointments", n["appointment"]) for n in notes)


def test_every_seeded_record_reads_strictly_as_its_record_class(emu: Emulator) -> None:
    """Every documented field is present (write-only ones absent) and every value fits its
    field's type as the client's strict converter reads it, so a record the emulator serves
    is one the client accepts without a decode warning."""
    strict = make_converter(strict=True)
    for endpoint in ENDPOINTS:
        record_type = endpoint.record_type
        if record_type is None:
            continue
        names = {f.name for f in api_fields(record_type)}
        records = emu.records(endpoint.name)
        assert records, endpoint.name
        for record in records[:20]:
            assert record[EXTRA_FIELD] is not None
            assert names - endpoint.write_only_fields <= record.keys(), endpoint.name
            assert not endpoint.write_only_fields & record.keys()
            strict.structure(record, record_type)
            if endpoint.id_type is str:
                assert isinstance(record["id"], str)
