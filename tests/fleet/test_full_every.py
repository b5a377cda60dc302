"""`FleetRuntime(full_every=...)` / `worker --full-every`: a resource without `since` is listed
again by the next job only once that long has passed since its last full listing."""

from __future__ import annotations

from drchrono_async.fleet import FleetRuntime, FreshnessTargets, Outcome, PracticeRegistry
from drchrono_async.oauth import Token
from drchrono_async.ratelimit import HourlyQuota
from drchrono_async.testing import Emulator, VirtualClock

FAR = 253_402_300_799.0
SMALL = {"medications": 30, "patients": 10, "appointments": 10, "other": 3}
SMALL.update(clinical_notes=3, documents=3, problems=3, allergies=3, line_items=3, tasks=3)


async def test_full_every_decides_whether_a_job_lists_a_resource_without_since(
    registry: PracticeRegistry,
) -> None:
    clock = VirtualClock(start=1_800_000_000.0)
    emu = Emulator(seed=2, clock=clock, sizes=SMALL)
    async with emu.serve() as url:
        token = Token(emu.access_token, "unused-refresh", FAR)
        await registry.add("med", token, base_url=url, resources=["medications"], auth="fixed")
        quota = HourlyQuota(limit=10_000, clock=clock)
        default = FleetRuntime(registry, quota, slice_pages=100, max_wait=0.5)
        first = await default.sync_slice("med", "medications")
        assert first.outcome is Outcome.DONE and first.calls >= 1
        act = await emu.activity.act("medications", "change")
        clock.advance(600)
        # The Syncer's default (a day): a job ten minutes later does nothing for it.
        assert (await default.sync_slice("med", "medications")).calls == 0
        async with registry.data_store("med") as store:
            stored = await store.get("medications", act.id)
        assert stored is not None and stored["notes"] != act.marker
        # full_every=0 (a schedule that decides when to poll): this job lists it, and the
        # change arrives.
        eager = FleetRuntime(registry, quota, slice_pages=100, max_wait=0.5, full_every=0.0)
        assert (await eager.sync_slice("med", "medications")).calls >= 1
        async with registry.data_store("med") as store:
            stored = await store.get("medications", act.id)
        assert stored is not None and stored["notes"] == act.marker


async def test_a_freshness_fleet_lists_a_resource_without_since_at_every_poll(
    registry: PracticeRegistry,
) -> None:
    """With freshness targets the planner decides when a poll is due: a poll within a day of
    the last full listing still lists it (full_every defaults to 0), so targets shorter than
    a day hold for offices, doctors and medications too."""
    clock = VirtualClock(start=1_800_000_000.0)
    emu = Emulator(seed=3, clock=clock, sizes=SMALL)
    async with emu.serve() as url:
        token = Token(emu.access_token, "unused-refresh", FAR)
        await registry.add("fresh", token, base_url=url, resources=["medications"], auth="fixed")
        quota = HourlyQuota(limit=10_000, clock=clock)
        runtime = FleetRuntime(
            registry,
            quota,
            slice_pages=100,
            max_wait=0.5,
            freshness=FreshnessTargets.parse("default=15m"),
            clock=clock.now,
        )
        assert (await runtime.sync_slice("fresh", "medications")).calls >= 1
        act = await emu.activity.act("medications", "change")
        clock.advance(600)
        assert (await runtime.sync_slice("fresh", "medications")).calls >= 1
        async with registry.data_store("fresh") as store:
            stored = await store.get("medications", act.id)
        assert stored is not None and stored["notes"] == act.marker
