"""The typed, versioned checkpoint: rows of the version before resume; newer ones are refused;
unreadable ones restart the resource; reports say their outcome as an enum."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import pytest

from drchrono_async import HourlyQuota
from drchrono_async.errors import QuotaExhaustedError, StoreError
from drchrono_async.sync import Outcome, SQLiteStore, Syncer
from drchrono_async.sync._rows import row_from
from drchrono_async.sync._state import VERSION, Checkpoint, dump, load
from drchrono_async.testing import Emulator, VirtualClock

from .test_engine import assert_equal

CAPTURED = json.loads((Path(__file__).with_name("checkpoints_v1.json")).read_text())


def test_a_version_1_row_loads_as_typed_state() -> None:
    cp = load("appointments", CAPTURED["checkpoints"]["appointments"])
    assert cp.version == VERSION and cp.listing is not None
    assert cp.listing.kind == "backfill" and cp.listing.start == 1767225600.0
    first, second, third = cp.listing.chains[:3]
    assert first.next and first.pages == 1 and first.reached == "2025-05-01" and not first.done
    assert second.done and third.pages == 0 and third.reached is None and not third.restarted
    done = load("patients", CAPTURED["checkpoints"]["patients-done"])
    assert done.listing is None and done.watermark == "2025-12-31T23:55:00"
    assert done.full_at == done.reconciled_at == 1767225600.0 and not done.backfilled
    # And back: what a store keeps is the new version, which loads to the same state.
    assert load("appointments", dump(cp)) == cp and dump(cp)["version"] == VERSION


def test_a_newer_version_is_refused_and_garbage_starts_over(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with pytest.raises(StoreError, match="newer drchrono-async"):
        load("patients", {"version": VERSION + 1, "watermark": None})
    for garbage in (
        {"listing": {"kind": "sideways", "chains": []}},
        {"version": "2"},
        {"listing": {"kind": "full"}},
        {"full_at": "yesterday"},
    ):
        with caplog.at_level(logging.WARNING, logger="drchrono_async.sync"):
            assert load("patients", garbage) == Checkpoint()
        assert "starts over" in caplog.records[-1].getMessage()


async def _first_pages(client: Any, store: SQLiteStore, resource: str, raw: dict[str, Any]) -> None:
    """The rows the interrupted run had written: each started chain's first page."""
    from drchrono_async._endpoints import BY_NAME

    endpoint = BY_NAME[resource]
    for chain in raw["listing"]["chains"]:
        if chain.get("pages", 0) or chain["next"] or chain["done"]:
            page = await getattr(client, resource).list(**chain["params"], prefetch=0)
            rows = [r for r in (row_from(x, endpoint) for x in page.results) if r is not None]
            await store.write(resource, rows)


async def test_a_sync_interrupted_before_the_upgrade_resumes_after_it(tmp_path: Path) -> None:
    spec = CAPTURED["emulator"]
    emu = Emulator(seed=spec["seed"], clock=VirtualClock(), sizes=spec["sizes"])
    async with SQLiteStore(tmp_path / "old.db") as store, emu.client() as client:
        from drchrono_async._endpoints import BY_NAME
        from drchrono_async.sync._rows import columns_for

        for resource in ("appointments", "patients"):
            record_type = BY_NAME[resource].record_type
            assert record_type is not None
            await store.ensure_resource(resource, columns_for(record_type))
            raw = CAPTURED["checkpoints"][resource]
            await _first_pages(client, store, resource, raw)
            await store.write(resource, [], checkpoint=raw)  # the old row, as it was
        before = len(emu.requests)
        report = await Syncer(client, store, resources=["appointments", "patients"]).run()
        assert report.complete and report["patients"].mode == "full"
        # Resumed, not restarted: patients from its saved link (2 of 3 pages), appointments
        # from its chains (the finished window is not fetched again).
        assert report["patients"].pages == 2
        fetched = [e.query.get("date_range") for e in emu.requests[before:]]
        assert "2025-05-03/2025-09-01" not in fetched
        for resource in ("appointments", "patients"):
            # Resumed as it was listed before the upgrade: without verbose keys.
            await assert_equal(emu, store, resource, verbose=False)
        assert (await store.checkpoint("patients") or {})["version"] == VERSION


async def test_reports_say_their_outcome_and_error_type(tmp_path: Path) -> None:
    emu = Emulator(seed=3, clock=VirtualClock(), sizes={"patients": 30, "doctors": 3})
    # One call this hour (no reserve): the second resource finds no permit and must not wait.
    quota = HourlyQuota(1, clock=emu.clock, reserve=0)
    async with (
        SQLiteStore(tmp_path / "o.db") as store,
        emu.client(quota=quota, max_wait=0) as client,
    ):
        report = await Syncer(client, store, resources=["doctors", "patients"], concurrency=1).run()
    outcomes = {r.resource: (r.outcome, r.error_type) for r in report.resources}
    assert outcomes["doctors"] == (Outcome.DONE, None)
    assert outcomes["patients"] == (Outcome.QUOTA, QuotaExhaustedError)


async def test_each_run_leaves_how_it_ended_in_the_checkpoint(tmp_path: Path) -> None:
    emu = Emulator(seed=3, clock=VirtualClock(), sizes={"patients": 30, "doctors": 3})
    quota = HourlyQuota(1, clock=emu.clock, reserve=0)
    async with SQLiteStore(tmp_path / "r.db") as store:
        async with emu.client(quota=quota, max_wait=0) as client:
            await Syncer(client, store, resources=["doctors", "patients"], concurrency=1).run()
        doctors = load("doctors", await store.checkpoint("doctors")).last_run
        patients = load("patients", await store.checkpoint("patients")).last_run
        assert doctors is not None and doctors.outcome == "done" and doctors.calls == 1
        assert doctors.done_at == doctors.finished_at
        assert patients is not None and patients.outcome == "quota"
        assert patients.error == "QuotaExhaustedError" and patients.done_at is None
