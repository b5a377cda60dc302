"""SIGTERM mid-job: a worker process stops gracefully and loses nothing.

The signal reaches a `drchrono-async worker` while both its jobs (long slices of two
resources) are mid-way and one of them waits for a page. The worker must exit 0 soon; each
running slice finishes the page it is on, writes it, and its job is queued again: no job is
left "doing" or "failed". A second worker then finishes the practice without fetching any
page twice (every page the first worker fetched was kept), the store equal to the emulator.
"""

from __future__ import annotations

import asyncio
import os
import signal
from collections import Counter

import pytest

from drchrono_async.fleet import PracticeRegistry
from drchrono_async.testing import Emulator
from drchrono_async.testing._faults import FaultContext

from .conftest import config_for, jobs_state, queue_everything, wait_until_idle
from .test_processes import practices, start_worker, stop_worker
from .test_worker import assert_equal

SIGNAL_AT = 6  # requests served before the signal (both resources are a few pages in)


def pages(emu: Emulator) -> Counter[tuple[str, tuple[tuple[str, str], ...]]]:
    """How often each page (path and query) was fetched with success."""
    return Counter(
        (e.path, tuple(sorted(e.query.items())))
        for e in emu.requests
        if e.path.startswith("/api/") and e.status == 200
    )


@pytest.mark.parametrize(
    "big",
    [
        # 17 calls: the signal lands after 6, with both resources part-way.
        pytest.param({"appointments": 2000, "patients": 1500}, id="3.5k"),
        pytest.param({"appointments": 4000, "patients": 3000}, id="7k", marks=pytest.mark.soak),
    ],
)
async def test_sigterm_mid_job_requeues_the_running_slices(
    registry: PracticeRegistry, redis_key: str, big: dict[str, int]
) -> None:
    sizes = {"big": big}
    async with practices(registry, sizes) as emulators:
        emu = emulators["big"]
        await queue_everything(config_for(registry.schema))
        # Slices far longer than the practice: only the signal ends them early.
        first = await start_worker(registry.schema, f"{redis_key}:quota", "--slice-pages", "1000")
        in_flight: list[FaultContext] = []

        def signal_mid_request(ctx: FaultContext) -> None:
            if ctx.index == SIGNAL_AT:
                in_flight.append(ctx)
                os.kill(first.pid, signal.SIGTERM)  # the worker waits for this answer

        emu.faults.hook = signal_mid_request
        try:
            code = await asyncio.wait_for(first.wait(), 15)  # graceful, and bounded
        finally:
            emu.faults.hook = None
            if first.returncode is None:  # it hung: leave no process behind
                first.kill()
                await first.wait()
        assert code == 0 and len(in_flight) == 1
        served = len(emu.requests)
        # The page in flight was answered, and both slices were queued again.
        ctx = in_flight[0]
        answered = [e for e in emu.requests if (e.path, e.query) == (ctx.path, ctx.query)]
        assert [e.status for e in answered] == [200]
        assert await jobs_state(registry.schema) == {"doing": 0, "due": 2, "later": 0, "failed": 0}
        async with registry.data_store("big") as store:
            kept = await store.count("appointments") + await store.count("patients")
        assert kept > 0

        second = await start_worker(registry.schema, f"{redis_key}:quota")
        try:
            state = await wait_until_idle(registry.schema)
        finally:
            assert await stop_worker(second) == 0
        assert state == {"doing": 0, "due": 0, "later": 0, "failed": 0}
        assert len(emu.requests) > served  # the second worker did the rest
        twice = [page for page, n in pages(emu).items() if n > 1]
        assert twice == []  # every page the first worker fetched was written and kept
        await assert_equal(registry, "big", emu)
