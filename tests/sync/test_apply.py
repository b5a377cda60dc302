"""Webhook events into the sync stores: the upsert rule, deletes, delivery claims."""

from __future__ import annotations

import orjson
import pytest

from drchrono_async.errors import InvalidRequestError
from drchrono_async.sync import PostgresStore, SQLiteStore, StoreDedupe, apply_event
from drchrono_async.testing import Emulator
from drchrono_async.webhooks import WebhookEvent, parse_delivery

SECRET = "whsec-apply-test"


def event(name: str, obj: dict[str, object] | None, delivery: str) -> WebhookEvent:
    headers = {
        "X-drchrono-event": name,
        "X-drchrono-delivery": delivery,
        "X-drchrono-signature": SECRET,
    }
    body: dict[str, object] = {"receiver": {"id": 1}}
    if obj is not None:
        body["object"] = obj
    return parse_delivery(headers, orjson.dumps(body), SECRET)


@pytest.fixture(scope="module")
def emu() -> Emulator:
    return Emulator(seed=12, sizes={"appointments": 5, "patients": 5})


async def test_an_older_redelivery_never_rolls_a_newer_row_back(
    store: SQLiteStore | PostgresStore, emu: Emulator
) -> None:
    old = emu.records("appointments")[0]
    new = {**old, "updated_at": "2099-01-01T00:00:00", "notes": "newer"}
    first = await apply_event(store, event("APPOINTMENT_MODIFY", new, "d-new"))
    assert first is not None and first.written == 1
    late = await apply_event(store, event("APPOINTMENT_MODIFY", old, "d-old"))
    assert late is not None and late.skipped == 1 and late.written == 0
    assert await store.get("appointments", str(old["id"])) == new
    # apply_event never claims the delivery (the receiver's dedupe does, after the handler
    # returned): the same delivery again is applied again, harmlessly.
    again = await apply_event(store, event("APPOINTMENT_MODIFY", new, "d-new"))
    assert again is not None and not again.duplicate
    assert await store.get("appointments", str(old["id"])) == new
    assert not await store.delivery_handled("d-new")


async def test_deletes_mark_rows_and_tombstone_unknown_ids(
    store: SQLiteStore | PostgresStore, emu: Emulator
) -> None:
    patient = emu.records("patients")[0]
    await apply_event(store, event("PATIENT_CREATE", patient, "p-1"))
    gone = await apply_event(store, event("PATIENT_DELETE", {"id": patient["id"]}, "p-2"))
    assert gone is not None and gone.marked_deleted == 1
    assert await store.is_deleted("patients", str(patient["id"])) is True
    assert await store.get("patients", str(patient["id"])) == patient  # the payload is kept
    # A delete before its create (deliveries out of order): the late create stays deleted.
    await apply_event(store, event("APPOINTMENT_DELETE", {"id": "777"}, "a-1"))
    late = {**emu.records("appointments")[1], "id": "777"}
    await apply_event(store, event("APPOINTMENT_CREATE", late, "a-2"))
    assert await store.is_deleted("appointments", "777") is True


async def test_ping_and_unknown_events_write_nothing(store: SQLiteStore | PostgresStore) -> None:
    assert await apply_event(store, event("PING", None, "x-1")) is None
    assert await apply_event(store, event("SOMETHING_NEW", {"id": 1}, "x-2")) is None
    assert not await store.delivery_handled("x-1")


async def test_store_dedupe_answers_from_the_database(store: SQLiteStore | PostgresStore) -> None:
    dedupe = StoreDedupe(store)
    assert await dedupe.claim("r-1")
    await dedupe.complete("r-1")
    assert not await dedupe.claim("r-1")
    await dedupe.release("r-2")  # nothing to undo
    with pytest.raises(InvalidRequestError):
        StoreDedupe(store, retention=60)  # shorter than the 7 h of redeliveries
