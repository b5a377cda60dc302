"""A sync through a bad day: 500s, dropped connections, HTML pages and 429s.

In SQLite and in PostgreSQL (the real server on loopback).

The database must end equal to the emulator: every id, every payload, nothing extra.

The default size is 7,000 records (28 pages) on a day twice as bad as the soak's: one of each
fault is scripted so that every kind is met whatever the draw, and random ones come on top.
`make soak` (the `soak` marker) runs 60,000 records (240 pages).
"""

from __future__ import annotations

import attrs
import pytest

from drchrono_async import HourlyQuota
from drchrono_async._demo import emulator_checksum
from drchrono_async.sync import Syncer
from drchrono_async.testing import Emulator, VirtualClock

from .conftest import Backend

# With the endpoints a complete copy added and their verbose keys (the default).
RESOURCES = ["appointments", "patients", "clinical_notes", "insurances", "eligibility_checks"]


@attrs.frozen
class Day:
    appointments: int
    patients: int
    error_rate: float
    drop_rate: float
    html_rate: float


@pytest.mark.parametrize(
    "day",
    [
        # Verbose pages hold 50: 1,500 appointments and 500 patients are 40 pages.
        pytest.param(Day(1500, 500, error_rate=0.10, drop_rate=0.04, html_rate=0.04), id="2k"),
        pytest.param(
            Day(50_000, 10_000, error_rate=0.05, drop_rate=0.02, html_rate=0.02),
            id="60k",
            marks=pytest.mark.soak,
        ),
    ],
)
async def test_a_faulty_day_still_ends_with_an_exact_copy(backend: Backend, day: Day) -> None:
    emu = Emulator(
        seed=11,
        clock=VirtualClock(),
        quota=100_000,
        sizes={"appointments": day.appointments, "patients": day.patients},
    )
    emu.faults.error_rate = day.error_rate
    emu.faults.drop_rate = day.drop_rate
    emu.faults.html_rate = day.html_rate
    async with (
        emu.client(quota=HourlyQuota(limit=100_000, clock=emu.clock)) as client,
        backend.new() as store,
    ):
        # A few 429s on top, whatever the quota says (the client waits them out), and one
        # fault of each other kind mid-way through the patients.
        emu.faults.script(["429", None, None, "429"], path_prefix="/api/appointments")
        emu.faults.script([None, "500", None, "drop", "html"], path_prefix="/api/patients")
        report = None
        for _ in range(5):  # a run that meets more faults than its retries finishes next time
            report = await Syncer(client, store, resources=RESOURCES).run()
            if report.complete:
                break
        assert report is not None and report.complete
        for resource in RESOURCES:
            rows, digest = emulator_checksum(emu, resource)
            assert await store.count(resource) == rows
            assert await store.checksum(resource) == digest
            live, deleted = emu.practice(0).expected(resource)
            assert await store.ids(resource, deleted=None) >= set(live) | deleted
    faults = [e.fault for e in emu.requests if e.fault]
    print(f"{len(emu.requests)} requests, faults: {faults}")
    assert {"500", "drop", "html", "429"} <= set(faults)
    assert len(faults) >= 5 + 3  # random faults came on top of the 5 scripted ones
