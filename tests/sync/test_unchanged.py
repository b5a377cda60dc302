"""Rows the store already held as they are count `unchanged`, not `written`: in each store, for
each way a row can come back (an overlap re-listed, a stale row refreshed, a deleted one
revived, an archived one re-listed, child tables, misfits, a webhook), and through a sync."""

from __future__ import annotations

from typing import Any

from drchrono_async import metrics
from drchrono_async.sync import Column, PostgresStore, Row, SQLiteStore, Syncer, apply_event
from drchrono_async.sync._state import load
from drchrono_async.sync._store import ChildTable
from drchrono_async.testing import Emulator, VirtualClock

from .conftest import Backend
from .test_apply import event

Store = SQLiteStore | PostgresStore
HOUR = 3600.0
VITALS = ChildTable("vitals", ("vitals",))


def ts(n: int) -> str:
    return f"2024-05-01T09:{n // 60:02d}:{n % 60:02d}.000000"


def row(
    id_: str,
    n: int | None,
    *,
    seen: int | None = None,
    note: str = "",
    deleted: bool = False,
    payload: dict[str, Any] | None = None,
    **columns: Any,
) -> Row:
    """Version `n` of record `id_` (unversioned for None), listed at `seen`."""
    data = {"id": int(id_), "version": n, "note": note, **(payload or {})}
    observed = None if seen is None else ts(seen)
    return Row(id_, None if n is None else ts(n), data, columns, deleted, observed)


def counts(result: Any) -> tuple[int, int, int]:
    return result.written, result.unchanged, result.skipped


async def test_the_same_rows_again_are_unchanged_and_a_changed_one_is_written(
    store: Store, backend: Backend
) -> None:
    await store.ensure_resource("patients", [], key="integer")
    # 3 rows: PostgreSQL's one-statement path; 20: its staged path (see `_pg_write.SMALL`).
    for n in (3, 20):
        first = [row(str(i), 5, seen=10) for i in range(100 * n, 100 * n + n)]
        assert counts(await store.write("patients", first)) == (n, 0, 0)
        again = [row(r.id, 5, seen=20) for r in first]
        assert counts(await store.write("patients", again)) == (0, n, 0)
        # Still written over: the observation is the later one (a false delete loses to it).
        observed = await backend.column("patients", "observed_at", again[0].id)
        assert str(observed).replace(" ", "T").startswith(ts(20)[:19])
        changed = [*again[:-1], row(again[-1].id, 5, seen=30, note="edited")]  # same version
        result = await store.write("patients", changed)
        assert counts(result) == (1, n - 1, 0)
        assert result.revised == 1  # written at the version held: the payload only
        assert (await store.get("patients", changed[-1].id))["note"] == "edited"  # type: ignore[index]
        newer = [row(changed[-1].id, 6, seen=35, note="edited")]
        result = await store.write("patients", newer)
        assert counts(result) == (1, 0, 0) and result.revised == 0  # a new version
        older = [row(r.id, 4, seen=40) for r in first]
        assert counts(await store.write("patients", older)) == (0, 0, n)
    # One page listing an id twice (updated while paged): the second copy holds nothing new.
    assert counts(await store.write("patients", [row("7", 1), row("7", 1)])) == (1, 1, 0)


async def test_what_each_way_back_counts_as(store: Store) -> None:
    await store.ensure_resource("allergies", [Column("reaction", "integer")], key="integer")
    # A record without a version, re-listed later as it was: unchanged.
    assert counts(await store.write("allergies", [row("1", None, seen=1)])) == (1, 0, 0)
    assert counts(await store.write("allergies", [row("1", None, seen=2)])) == (0, 1, 0)
    # A webhook marks it stale (no version to order by): the row is only flagged...
    marked = await store.mark_stale("allergies", row("1", None, note="new?"), at=ts(3))
    assert counts(marked) == (0, 0, 0) and await store.stale_ids("allergies", limit=5) == ["1"]
    # ...and its refresh, showing what was held, is unchanged and clears the flag.
    assert counts(await store.write("allergies", [row("1", None, seen=4)])) == (0, 1, 0)
    assert await store.stale_ids("allergies", limit=5) == []
    # A row marked deleted, listed again (a false delete): revived, so written.
    await store.write("allergies", [], delete_ids=["1"], deleted_at=ts(5))
    assert counts(await store.write("allergies", [row("1", None, seen=6)])) == (1, 0, 0)
    assert await store.is_deleted("allergies", "1") is False
    # A record archived in the API (its payload says so), listed again as it was: unchanged.
    gone = row("2", 7, seen=8, deleted=True, payload={"archived": True})
    assert counts(await store.write("allergies", [gone])) == (1, 0, 0)
    later = row("2", 7, seen=9, deleted=True, payload={"archived": True})
    assert counts(await store.write("allergies", [later])) == (0, 1, 0)
    assert await store.is_deleted("allergies", "2") is True
    # A value that does not fit its column: counted each time it is given, NULL both times.
    bad = row("3", 1, seen=1, reaction="severe")
    first, again = await store.write("allergies", [bad]), await store.write("allergies", [bad])
    assert (counts(first), first.misfits) == ((1, 0, 0), 1)
    assert (counts(again), again.misfits) == ((0, 1, 0), 1)


async def test_an_unchanged_parent_keeps_its_children_and_a_changed_one_replaces_them(
    store: Store, backend: Backend
) -> None:
    await store.ensure_resource("appointments", [], children=[VITALS])
    visits = [row(str(i), 1, payload={"vitals": {"weight": 150 + i}}) for i in range(1, 13)]
    assert counts(await store.write("appointments", visits)) == (12, 0, 0)
    assert counts(await store.write("appointments", visits)) == (0, 12, 0)
    edited = [*visits[:-1], row("12", 1, payload={"vitals": {"weight": 99, "height": 70}})]
    result = await store.write("appointments", edited)
    assert counts(result) == (1, 11, 0) and result.revised == 1
    stored = await backend.sql(
        "SELECT parent_id, weight, height FROM appointments__vitals ORDER BY weight"
    )
    assert [(str(p), w, h) for p, w, h in stored] == [
        ("12", 99, 70),
        *((str(i), 150 + i, None) for i in range(1, 12)),
    ]
    # Small pages (PostgreSQL's one-statement path) alike.
    assert counts(await store.write("appointments", edited[-2:])) == (0, 2, 0)


async def test_a_webhook_redelivering_the_stored_state_is_unchanged(store: Store) -> None:
    emu = Emulator(seed=12, sizes={"appointments": 3})
    record = emu.records("appointments")[0]
    first = await apply_event(store, event("APPOINTMENT_MODIFY", record, "d-1"))
    assert first is not None and counts(first) == (1, 0, 0)
    again = await apply_event(store, event("APPOINTMENT_MODIFY", record, "d-2"))
    assert again is not None and counts(again) == (0, 1, 0)
    edited = {**record, "notes": "moved"}
    last = await apply_event(store, event("APPOINTMENT_MODIFY", edited, "d-3"))
    assert last is not None and counts(last) == (1, 0, 0)


async def test_a_webhook_keeps_the_stored_verbose_keys_its_object_lacks(store: Store) -> None:
    emu = Emulator(seed=12, sizes={"appointments": 3})
    listed = {**emu.records("appointments")[0]}  # as a verbose listing shows it
    listed.update(
        updated_at="2024-05-01T09:00:00",
        extended_updated_at="2024-05-01T09:00:00",
        reminders=[{"type": "email", "scheduled_time": "2024-05-02T09:00:00"}],
    )
    plain = {k: v for k, v in listed.items() if k not in ("reminders", "extended_updated_at")}
    plain = {k: v for k, v in plain.items() if k not in ("vitals", "custom_vitals")}
    plain = {k: v for k, v in plain.items() if k not in ("clinical_note", "status_transitions")}
    first = await apply_event(store, event("APPOINTMENT_MODIFY", listed, "v-1"))
    assert first is not None and counts(first) == (1, 0, 0)
    # A webhook's plain object, a newer version: written, the verbose keys held are kept.
    moved = {**plain, "updated_at": "2024-05-01T10:00:00", "notes": "moved"}
    result = await apply_event(store, event("APPOINTMENT_MODIFY", moved, "v-2"))
    assert result is not None and counts(result) == (1, 0, 0)
    held = await store.get("appointments", listed["id"])  # type: ignore[arg-type]
    assert held is not None and held["notes"] == "moved"
    assert held["reminders"] == listed["reminders"]
    assert held["extended_updated_at"] == "2024-05-01T09:00:00"
    # The next listing brings the verbose keys' values at that version: revised, not a
    # change the webhooks missed.
    relisted = {**listed, **moved, "extended_updated_at": "2024-05-01T10:00:00"}
    result = await apply_event(store, event("APPOINTMENT_MODIFY", relisted, "v-3"))
    assert result is not None and counts(result) == (1, 0, 0) and result.revised == 1
    # A late plain object is ordered by its own version, not by the kept keys': a vitals
    # change stored at 11:00 makes the row newer than a delivery of 10:30.
    vitals = {**relisted, "extended_updated_at": "2024-05-01T11:00:00"}
    assert (await apply_event(store, event("APPOINTMENT_MODIFY", vitals, "v-4"))) is not None
    late = {**plain, "updated_at": "2024-05-01T10:30:00", "notes": "late"}
    result = await apply_event(store, event("APPOINTMENT_MODIFY", late, "v-5"))
    assert result is not None and counts(result) == (0, 0, 1)
    held = await store.get("appointments", listed["id"])  # type: ignore[arg-type]
    assert held is not None and held["notes"] == "moved"


async def test_a_sync_with_nothing_new_reports_its_overlap_unchanged(backend: Backend) -> None:
    emu = Emulator(seed=9, clock=VirtualClock(), sizes={"patients": 40})
    recorder = metrics.Metrics(process=False)
    previous = metrics.install(recorder)
    try:
        async with backend.new() as store, emu.client() as client:
            changed = await _four_runs(emu, Syncer(client, store, resources=["patients"]))
            # The run's record keeps the counts, for `status` and a scheduler.
            last = load("patients", await store.checkpoint("patients")).last_run
            assert last is not None and (last.written, last.unchanged) == (1, changed[1])
    finally:
        metrics.install(previous)
    # Metrics count the rows written: 40, then those changed, then 1; never the overlap.
    written = recorder.registry.get_sample_value(
        "drchrono_records_written_total", {"practice": "default", "resource": "patients"}
    )
    assert written == 40 + changed[0] + 1


async def _four_runs(emu: Emulator, syncer: Syncer) -> tuple[int, int]:
    """A first run; staff change some records; a run that lists them; one with nothing
    new; one after a change. Returns (records changed, the last run's unchanged)."""
    first = (await syncer.run())["patients"]
    assert first.complete and (first.written, first.unchanged) == (40, 0)
    log = await emu.activity.run(changes=12, creates=0, deletes=0, resources=["patients"])
    changed = len(set(log.changed["patients"]))
    emu.clock.advance(60)  # type: ignore[attr-defined]
    second = (await syncer.run())["patients"]
    assert (second.mode, second.written, second.unchanged) == ("incremental", changed, 0)
    # Nothing changed since: the overlap (300 s before the last listing's start) lists the
    # same records again, which the store holds as they are.
    emu.clock.advance(60)  # type: ignore[attr-defined]
    third = (await syncer.run())["patients"]
    assert (third.records, third.written, third.unchanged) == (changed, 0, changed)
    assert third.skipped == third.deleted == 0
    # One record changed meanwhile: that one is written, the rest of the overlap is not.
    await emu.activity.run(changes=1, creates=0, deletes=0, resources=["patients"])
    emu.clock.advance(60)  # type: ignore[attr-defined]
    fourth = (await syncer.run())["patients"]
    assert fourth.written == 1 and fourth.unchanged == fourth.records - 1 >= changed - 1
    return changed, fourth.unchanged
