"""A large sync through a bad day: 500s, dropped connections, HTML pages and 429s.

In SQLite and in PostgreSQL (the real server on loopback).

The database must end equal to the emulator: every id, every payload, nothing extra.
"""

from __future__ import annotations

from drchrono_async import HourlyQuota
from drchrono_async._demo import emulator_checksum
from drchrono_async.sync import Syncer
from drchrono_async.testing import Emulator, VirtualClock

from .conftest import Backend

RESOURCES = ["appointments", "patients"]


async def test_a_faulty_day_still_ends_with_an_exact_copy(backend: Backend) -> None:
    emu = Emulator(
        seed=11,
        clock=VirtualClock(),
        quota=100_000,
        sizes={"appointments": 50_000, "patients": 10_000},
    )
    emu.faults.error_rate = 0.05
    emu.faults.drop_rate = 0.02
    emu.faults.html_rate = 0.02
    async with emu.client(quota=HourlyQuota(limit=100_000, clock=emu.clock)) as client, \
            backend.new() as store:  # fmt: skip
        # A few 429s on top, whatever the quota says (the client waits them out).
        emu.faults.script(["429", None, None, "429"], path_prefix="/api/appointments")
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
            assert await store.ids(resource, deleted=None) >= {
                str(r["id"]) for r in emu.records(resource)
            }
    faults = {e.fault for e in emu.requests if e.fault}
    assert {"500", "drop", "html", "429"} <= faults
