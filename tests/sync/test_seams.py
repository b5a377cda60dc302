"""The sync at its seams, in both stores: odd values, versions of deletes, false deletes, ids,
acknowledging only what was handled, reopening, and one sync per store at a time."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import math
from decimal import Decimal
from typing import Any

import httpx
import orjson
import pytest

from drchrono_async.errors import InvalidRequestError, StoreLockedError
from drchrono_async.sync import (
    Column,
    PostgresStore,
    Row,
    SQLiteStore,
    StoreDedupe,
    Syncer,
    apply_event,
)
from drchrono_async.testing import Emulator, VirtualClock
from drchrono_async.webhooks import WebhookEvent, WebhookReceiver, parse_delivery

from .conftest import Backend
from .test_engine import assert_equal

Store = SQLiteStore | PostgresStore
SECRET = "whsec-seams-test"

COLUMNS = [
    Column("patient", "integer"),
    Column("reason", "text"),
    Column("price", "decimal"),
    Column("duration", "real"),
    Column("is_walk_in", "boolean"),
    Column("day", "date"),
]


def ts(n: int) -> str:
    return f"2024-05-01T09:00:{n:02d}.000000"


def row(
    id: str, n: int | None, *, observed: int | None = None, deleted: bool = False, **columns: Any
) -> Row:
    payload = {"id": id, "version": n}
    seen = None if observed is None else ts(observed)
    return Row(id, None if n is None else ts(n), payload, columns, deleted, seen)


def event(name: str, obj: dict[str, Any], delivery: str = "d-1") -> WebhookEvent:
    headers = {
        "X-drchrono-event": name,
        "X-drchrono-delivery": delivery,
        "X-drchrono-signature": SECRET,
    }
    return parse_delivery(headers, orjson.dumps({"receiver": {}, "object": obj}), SECRET)


# -- 1. a value that does not fit its column never stops a page ------------------------------


MISFITS: list[tuple[str, Any]] = [
    ("patient", 2**63),  # beyond a signed 64-bit integer
    ("patient", 99999999999999999999),  # what the converter makes of "99999999999999999999"
    ("patient", -(2**63) - 1),
    ("patient", "SECRET-text"),  # a wrong type (a user hook's, say)
    ("patient", True),
    ("duration", math.nan),
    ("duration", math.inf),
    ("duration", 10**400),  # an int no double holds
    ("price", Decimal("NaN")),
    ("price", Decimal("1e200000")),  # beyond PostgreSQL's numeric
    ("price", 1.5),
    ("reason", "lone \ud800 surrogate"),
    ("is_walk_in", 1),
    ("day", dt.datetime(2024, 1, 1)),
]


@pytest.mark.parametrize(
    ("field", "value"), MISFITS, ids=[f"{f}-{i}" for i, (f, _) in enumerate(MISFITS)]
)
async def test_a_value_that_does_not_fit_is_stored_null_and_the_page_written(
    store: Store, backend: Backend, caplog: pytest.LogCaptureFixture, field: str, value: Any
) -> None:
    await store.ensure_resource("appointments", COLUMNS)
    page = [row("1", 1, patient=7), row("2", 1, **({"reason": "ok"} | {field: value})), row("3", 1)]
    with caplog.at_level(logging.WARNING, logger="drchrono_async.sync"):
        result = await store.write("appointments", page, checkpoint={"page": 1})
    assert result.written == 3 and result.misfits == 1
    assert await store.checkpoint("appointments") == {"page": 1}
    assert await backend.column("appointments", field, "2") is None
    assert await backend.column("appointments", "patient", "1") == 7  # its neighbours intact
    assert await store.get("appointments", "2") == page[1].payload  # the payload as received
    (warning,) = [r.getMessage() for r in caplog.records if "does not fit" in r.getMessage()]
    assert "appointments" in warning and " 2:" in warning and field in warning
    assert repr(value) not in warning and str(value) not in warning


async def test_text_with_nul_is_kept_where_the_store_can_hold_it(
    store: Store, backend: Backend
) -> None:
    await store.ensure_resource("appointments", COLUMNS)
    payload = {"id": "1", "reason": "A\u0000B"}
    result = await store.write("appointments", [Row("1", ts(1), payload, {"reason": "A\x00B"})])
    stored = await backend.column("appointments", "reason", "1")
    # PostgreSQL's text cannot hold U+0000 (NULL, counted); SQLite's can.
    assert (stored, result.misfits) == ((None, 1) if backend.kind == "postgres" else ("A\x00B", 0))
    assert await store.get("appointments", "1") == payload


async def test_a_sync_with_values_beyond_64_bits_completes_exactly(backend: Backend) -> None:
    emu = Emulator(seed=4, clock=VirtualClock(), sizes={"appointments": 40})
    rows = list(emu.tables["appointments"])
    rows[3].data["doctor"] = 2**63
    rows[17].data["patient"] = "99999999999999999999"
    rows[25].data["duration"] = 2**64 - 1  # the largest integer JSON decoders keep exact
    async with backend.new() as store, emu.client() as client:
        syncer = Syncer(client, store, resources=["appointments"])
        first = await syncer.run()
        assert first.complete and first["appointments"].misfits == 3
        await assert_equal(emu, store, "appointments")  # every payload exact
        second = await syncer.run()  # and the next run does not stumble on them either
        assert second.complete and second.calls <= 2
    assert await backend.column("appointments", "doctor", str(rows[3].data["id"])) is None


async def test_a_webhook_with_a_value_beyond_64_bits_is_answered_200(store: Store) -> None:
    emu = Emulator(seed=4, sizes={"appointments": 2})
    obj = {**emu.records("appointments")[0], "doctor": 2**63}

    async def handler(e: WebhookEvent) -> None:
        await apply_event(store, e)

    receiver = WebhookReceiver(SECRET, handler)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(receiver), base_url="http://h") as h:
        headers = {
            "X-drchrono-event": "APPOINTMENT_MODIFY",
            "X-drchrono-delivery": "big-1",
            "X-drchrono-signature": SECRET,
        }
        answer = await h.post("/", headers=headers, content=orjson.dumps({"object": obj}))
    assert answer.status_code == 200
    assert await store.get("appointments", obj["id"]) == obj


# -- 2. deletes carry a version; 5. a false delete is not forever ----------------------------


async def test_a_delete_wins_over_anything_not_strictly_newer(store: Store) -> None:
    await store.ensure_resource("patients", [])
    await store.write("patients", [row("1", 1)])
    # CREATE (T1) applied, the MODIFY (T2) failed, the DELETE (T3) applied ...
    assert (await store.write("patients", [], delete_ids=["1"], deleted_at=ts(3))).marked_deleted
    # ... then the MODIFY is redelivered: older than the delete, it stays deleted.
    late = await store.write("patients", [row("1", 2)])
    assert late.skipped == 1 and await store.is_deleted("patients", "1") is True
    # The delete's own version counts too: an equal one does not revive it, a newer one does.
    assert (await store.write("patients", [row("1", 3)])).skipped == 1
    assert (await store.write("patients", [row("1", 4)])).written == 1
    assert await store.is_deleted("patients", "1") is False
    # A delete older than what is stored loses: the stored row is strictly newer.
    older = await store.write("patients", [], delete_ids=["1"], deleted_at=ts(2))
    assert older.marked_deleted == 0
    assert await store.is_deleted("patients", "1") is False
    # A tombstone (a delete before any create) keeps its version as well.
    await store.write("patients", [], delete_ids=["9"], deleted_at=ts(5))
    assert (await store.write("patients", [row("9", 5)])).skipped == 1
    assert await store.is_deleted("patients", "9") is True


async def test_a_listing_that_shows_a_record_again_undoes_a_false_delete(store: Store) -> None:
    await store.ensure_resource("patients", [])
    await store.write("patients", [row("1", 1, observed=2)])
    # Reconciliation saw a 404 at T5 (a transient gap) and marked it deleted.
    await store.write("patients", [], delete_ids=["1"], deleted_at=ts(5))
    # A listing at T4 (sent before the 404) cannot tell: it stays deleted.
    assert (await store.write("patients", [row("1", 1, observed=4)])).skipped == 1
    assert await store.is_deleted("patients", "1") is True
    # A listing at T6 shows it live with the same updated_at: it is live.
    assert (await store.write("patients", [row("1", 1, observed=6)])).written == 1
    assert await store.is_deleted("patients", "1") is False
    assert await store.checksum("patients") != await _empty_checksum()
    # Unless its own payload says deleted.
    await store.write("patients", [row("1", 1, observed=7, deleted=True)])
    assert await store.is_deleted("patients", "1") is True


async def _empty_checksum() -> str:
    from drchrono_async.sync import payload_checksum

    return payload_checksum([])


async def test_a_sync_revives_a_record_falsely_marked_deleted(backend: Backend) -> None:
    clock = VirtualClock()
    emu = Emulator(seed=6, clock=clock, sizes={"patients": 12})
    async with backend.new() as store, emu.client() as client:
        assert (await Syncer(client, store, resources=["patients"]).run()).complete
        victim = str(emu.records("patients")[5]["id"])
        # A reconciliation's GET answered 404 by mistake (a gap in the service): marked.
        clock.advance(60)
        stamp = dt.datetime.fromtimestamp(clock.now(), dt.UTC).replace(tzinfo=None)
        await store.write(
            "patients", [], delete_ids=[victim], deleted_at=stamp.isoformat(timespec="microseconds")
        )
        assert await store.is_deleted("patients", victim) is True
        clock.advance(3600)
        report = await Syncer(client, store, resources=["patients"], reconcile_every=0).run()
        assert report.complete and report["patients"].mode == "reconcile"
        assert await store.is_deleted("patients", victim) is False
        await assert_equal(emu, store, "patients")


# -- 3. acknowledged only when handled; 4. applying after a reopen ---------------------------


async def test_a_handler_that_fails_after_applying_is_run_again_on_redelivery(
    backend: Backend,
) -> None:
    emu = Emulator(seed=4, sizes={"appointments": 2})
    obj = emu.records("appointments")[0]
    calls: list[str] = []
    async with backend.new() as store:

        async def handler(e: WebhookEvent) -> None:
            await apply_event(store, e)
            calls.append(e.delivery_id)
            if len(calls) == 1:
                raise RuntimeError("the rest of the handler failed")

        receiver = WebhookReceiver(SECRET, handler, dedupe=StoreDedupe(store))
        transport = httpx.ASGITransport(receiver)
        headers = {
            "X-drchrono-event": "APPOINTMENT_MODIFY",
            "X-drchrono-delivery": "r-1",
            "X-drchrono-signature": SECRET,
        }
        body = orjson.dumps({"object": obj})
        async with httpx.AsyncClient(transport=transport, base_url="http://h") as http:
            first = await http.post("/", headers=headers, content=body)
            assert first.status_code == 500
            assert not await store.delivery_handled("r-1")
            again = await http.post("/", headers=headers, content=body)  # DrChrono, 1 h on
            assert again.status_code == 200 and calls == ["r-1", "r-1"]
            third = await http.post("/", headers=headers, content=body)
            assert third.status_code == 200 and calls == ["r-1", "r-1"]  # handled: not again
        assert await store.delivery_handled("r-1")


async def test_applying_works_after_the_same_store_is_closed_and_opened(
    backend: Backend,
) -> None:
    emu = Emulator(seed=4, sizes={"appointments": 3})
    first, second = emu.records("appointments")[:2]
    store = backend.new()
    await store.open()
    await apply_event(store, event("APPOINTMENT_MODIFY", first, "o-1"))
    await store.close()
    await store.open()
    try:
        result = await apply_event(store, event("APPOINTMENT_MODIFY", second, "o-2"))
        assert result is not None and result.written == 1
        assert await store.get("appointments", second["id"]) == second
    finally:
        await store.close()


# -- 6. ids are checked where they enter --------------------------------------------------


async def test_ids_may_be_int_or_text_and_bad_ones_are_refused(store: Store) -> None:
    await store.ensure_resource("patients", [])
    await store.write("patients", [Row("123", None, {"id": 123}, {})])
    assert await store.get("patients", 123) == {"id": 123}
    assert await store.get("patients", "123") == {"id": 123}
    assert await store.is_deleted("patients", 123) is False
    assert await store.get("patients", 124) is None
    for bad in ("", " 1", "1\n", "a\x00b", "x" * 65, "\u2028", True, 1.5, None):
        with pytest.raises(InvalidRequestError):
            await store.get("patients", bad)  # type: ignore[arg-type]
        with pytest.raises(InvalidRequestError):
            await store.is_deleted("patients", bad)  # type: ignore[arg-type]
    for bad_row in ("a\x00b", "x" * 65, " 1"):
        with pytest.raises(InvalidRequestError):
            await store.write("patients", [Row(bad_row, None, {}, {})])
        with pytest.raises(InvalidRequestError):
            await store.write("patients", [], delete_ids=[bad_row])


async def test_a_listed_record_with_an_unusable_id_is_left_out_not_the_page(
    backend: Backend,
) -> None:
    emu = Emulator(seed=4, clock=VirtualClock(), sizes={"appointments": 30})
    rows = list(emu.tables["appointments"])
    rows[4].data["id"] = "bad\x00id"
    rows[9].data["id"] = "z" * 500
    async with backend.new() as store, emu.client() as client:
        report = await Syncer(client, store, resources=["appointments"]).run()
    assert report.complete and report["appointments"].unkeyed == 2
    assert report["appointments"].written == 28


# -- 8. one sync per store at a time ---------------------------------------------------------


async def test_a_second_sync_of_the_same_store_waits_or_stops_at_once(backend: Backend) -> None:
    emu = Emulator(seed=4, clock=VirtualClock(), sizes={"appointments": 30, "patients": 10})
    async with backend.new() as one, backend.new() as two, emu.client() as client:
        first = Syncer(client, one, resources=["appointments", "patients"])
        second = Syncer(client, two, resources=["patients"])
        async with one.lock(["appointments", "patients"]):  # as the first run holds it
            before = len(emu.requests)
            with pytest.raises(StoreLockedError) as info:
                await second.run()
            assert info.value.resource in ("patients", "this database")
            assert len(emu.requests) == before  # it sent nothing
        waiting = Syncer(client, two, resources=["patients"], wait_lock=30)
        async with one.lock(["patients"]):
            task = asyncio.create_task(waiting.run())
            await asyncio.sleep(0.2)
            assert not task.done()  # waiting for the lock
        report = await task  # released: it runs
        assert report.complete
        assert (await first.run()).complete


async def test_a_run_right_after_another_finds_the_lock_released(backend: Backend) -> None:
    """The lock is let go when a run returns, not some time later: back-to-back runs of one
    store (a loop, a cron job just after another) never find it taken."""
    async with backend.new() as store:
        for _ in range(20):
            async with store.lock(["patients", "appointments"]):
                pass
