"""A complete copy: every data endpoint, keyed by its table rule; verbose keys at a cost the
plan shows; nested changes picked up; which endpoints are not copied, and why."""

from __future__ import annotations

from typing import Any

from drchrono_async._endpoints import BY_NAME, ENDPOINTS
from drchrono_async.sync import DEFAULT_RESOURCES, Syncer, default_verbose, not_synced
from drchrono_async.testing import Emulator, VirtualClock

from ._memory_store import MemoryStore
from .conftest import Backend

HOUR = 3600.0
DAY = 86_400.0
NEW = ["clinical_notes", "insurances", "eligibility_checks", "task_templates",
       "patient_payment_log"]  # fmt: skip


def test_every_data_endpoint_is_copied_and_the_rest_say_why() -> None:
    skipped = {e.name: not_synced(e) for e in ENDPOINTS if not_synced(e)}
    assert set(skipped) == {"patients_summary", "lab_orders_summary", "mu_2015_report",
                            "iframe_integration"}  # fmt: skip
    assert all(reason and len(reason) > 10 for reason in skipped.values())
    listable = {e.name for e in ENDPOINTS if "GET" in e.methods} - set(skipped)
    assert listable == set(DEFAULT_RESOURCES)
    for name in NEW:
        assert name in DEFAULT_RESOURCES, name


async def assert_copy(emu: Emulator, store: Any, resource: str) -> None:
    """The store holds the emulator's records under the sync's keys: live ones exact, the
    ones the API lists as deleted marked, nothing else live."""
    live, deleted = emu.practice(0).expected(resource, verbose=default_verbose(BY_NAME[resource]))
    assert await store.ids(resource, deleted=False) == set(live)
    for key, view in live.items():
        assert await store.get(resource, key) == view, (resource, key)
    for key in deleted:
        assert await store.is_deleted(resource, key) is True


async def test_the_new_endpoints_are_copied_exactly_in_both_stores(backend: Backend) -> None:
    clock = VirtualClock()
    emu = Emulator(seed=8, clock=clock, sizes={"appointments": 200, "clinical_notes": 60,
                                               "insurances": 30, "eligibility_checks": 12,
                                               "task_templates": 7,
                                               "patient_payment_log": 15})  # fmt: skip
    async with backend.new() as store, emu.client() as client:
        syncer = Syncer(client, store, resources=NEW)
        first = await syncer.run()
        assert first.complete, first.table()
        for resource in NEW:
            await assert_copy(emu, store, resource)
        # Insurances: three listings, one per payer type; their keys say the type.
        assert first["insurances"].pages == 3
        assert all(k.split(":")[0] in ("emdeon", "gateway", "ihcfa")
                   for k in await store.ids("insurances"))  # fmt: skip
        assert all(k.startswith("h:") for k in await store.ids("eligibility_checks"))
        # Things vanish from the API: a payer and a check no listing shows any more.
        gone_payer = next(iter(emu.tables["insurances"]))
        emu.tables["insurances"].remove(gone_payer.key)
        gone_check = next(iter(emu.tables["eligibility_checks"]))
        emu.tables["eligibility_checks"].remove(gone_check.key)
        clock.advance(DAY + HOUR)  # their daily full listings are due
        second = await syncer.run()
        assert second.complete
        assert second["insurances"].deleted == 1 and second["eligibility_checks"].deleted == 1
        for resource in NEW:
            await assert_copy(emu, store, resource)
        assert await store.count("insurances", deleted=True) == 1


async def test_a_vitals_change_alone_is_picked_up_by_the_incremental_run() -> None:
    """A change to an appointment's vitals moves `extended_updated_at` only; the verbose
    `since` listing returns the appointment and the row's version is that time."""
    clock = VirtualClock()
    emu = Emulator(seed=8, clock=clock, sizes={"appointments": 120})
    store = MemoryStore()
    async with emu.client() as client:
        syncer = Syncer(client, store, resources=["appointments"])
        assert (await syncer.run()).complete
        clock.advance(HOUR)
        row = next(iter(emu.tables["appointments"]))
        stamp = emu.local_now().isoformat(timespec="seconds")
        row.data["vitals"] = {"blood_pressure_1": 131, "blood_pressure_2": 84, "weight": 181.5}
        row.data["extended_updated_at"] = stamp  # the appointment's updated_at is unchanged
        row.touch()
        emu.tables["appointments"].changed()
        clock.advance(60)
        second = await syncer.run()
    assert second["appointments"].mode == "incremental" and second["appointments"].calls == 1
    stored = await store.get("appointments", str(row.data["id"]))
    assert stored is not None and stored["vitals"]["blood_pressure_1"] == 131


async def test_verbose_costs_calls_that_the_plan_shows_before_anything_is_sent() -> None:
    emu = Emulator(seed=8, clock=VirtualClock(), sizes={"patients": 600})
    async with emu.client() as client:
        plain = Syncer(client, MemoryStore(), resources=["patients"], verbose=False)
        rich = Syncer(client, MemoryStore(), resources=["patients"])  # verbose by default
        before = len(emu.requests)
        (p,), (r,) = (await plain.plan()).items, (await rich.plan()).items
        assert len(emu.requests) == before
        assert (p.verbose, p.page_size, r.verbose, r.page_size) == (False, 250, True, 50)
        plain_run, rich_run = await plain.run(), await rich.run()
        # A store that holds them costs its pages in the plan: 600 / 50.
        assert (await rich.plan()).items[0].mode in ("", "incremental")
    assert plain_run["patients"].calls == 3 and rich_run["patients"].calls == 12
    again = Syncer(client, rich.store, resources=["patients"], full_every=0, reconcile_every=0)
    assert (await again.plan()).items[0].calls == 12


def test_the_default_verbose_set_is_the_endpoints_with_verbose_keys() -> None:
    chosen = {e.name for e in ENDPOINTS if e.name in DEFAULT_RESOURCES and default_verbose(e)}
    assert {"appointments", "patients", "allergies", "clinical_notes"} <= chosen
    assert "doctors" not in chosen and "line_items" not in chosen


async def test_clinical_note_events_reach_the_copy_keyed_by_appointment() -> None:
    import orjson

    from drchrono_async.sync import apply_event
    from drchrono_async.webhooks import parse_delivery

    emu = Emulator(seed=8, clock=VirtualClock(), sizes={"clinical_notes": 5})
    store = MemoryStore()
    note = next(iter(emu.tables["clinical_notes"])).view(False, frozenset())

    def delivery(name: str, n: int) -> Any:
        headers = {"X-drchrono-event": name, "X-drchrono-delivery": f"n-{n}",
                   "X-drchrono-signature": "s3cret"}  # fmt: skip
        return parse_delivery(headers, orjson.dumps({"object": note}), "s3cret")

    key = str(note["appointment"])
    await apply_event(store, delivery("CLINICAL_NOTE_LOCK", 1))
    assert await store.get("clinical_notes", key) == note  # new: kept, marked stale
    assert await store.stale_ids("clinical_notes", limit=10) == [key]
    await apply_event(store, delivery("CLINICAL_NOTE_DELETE", 2))
    assert await store.is_deleted("clinical_notes", key) is True
