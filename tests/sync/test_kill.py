"""`kill -9` a sync process at 20 random moments; each resume ends with an exact copy.

The emulator serves on loopback from this process; the sync runs in a child process that is
killed with SIGKILL (no handler, no cleanup) at random moments, then started again.
"""

from __future__ import annotations

import asyncio
import random
import sys
from pathlib import Path

from drchrono_async._demo import emulator_checksum
from drchrono_async.sync import SQLiteStore
from drchrono_async.testing import Emulator

WORKER = Path(__file__).with_name("_sync_worker.py")
ROOT = Path(__file__).resolve().parents[2]
RESOURCES = ("appointments", "patients")


async def run_worker(
    emu: Emulator, url: str, db: Path, kill_after_calls: int | None
) -> int | None:
    """Run a sync process; with `kill_after_calls`, SIGKILL it once the emulator has served
    that many of its requests (a moment in its work, whatever the machine's speed)."""
    reached = asyncio.Event()
    served = 0

    def count(_: object) -> None:  # the emulator's per-request hook; injects no fault
        nonlocal served
        served += 1
        if kill_after_calls is not None and served >= kill_after_calls:
            reached.set()

    emu.faults.hook = count
    proc = await asyncio.create_subprocess_exec(
        sys.executable, str(WORKER), url, emu.access_token, str(db), cwd=ROOT
    )
    if kill_after_calls is None:
        return await asyncio.wait_for(proc.wait(), 120)
    finished = asyncio.ensure_future(proc.wait())
    killing = asyncio.ensure_future(reached.wait())
    await asyncio.wait({finished, killing}, timeout=120, return_when=asyncio.FIRST_COMPLETED)
    killing.cancel()
    if finished.done():
        return finished.result()  # finished before the kill
    proc.kill()  # SIGKILL: the process gets no chance to clean up
    await proc.wait()
    return None


async def test_twenty_kill_9s_lose_nothing_and_cost_under_twice_the_calls(
    tmp_path: Path,
) -> None:
    rng = random.Random(20)
    emu = Emulator(seed=9, quota=1_000_000, sizes={"appointments": 24_000, "patients": 8_000})
    async with emu.serve() as url:
        assert await run_worker(emu, url, tmp_path / "clean.db", None) == 0
        clean_calls = len(emu.requests)
        start = len(emu.requests)
        db = tmp_path / "killed.db"
        kills = 0
        for _ in range(20):
            if await run_worker(emu, url, db, rng.randint(1, 5)) is None:
                kills += 1
        assert await run_worker(emu, url, db, None) == 0  # resumes to the end
        killed_calls = len(emu.requests) - start
    print(f"{kills} kills; {killed_calls} calls against {clean_calls} uninterrupted")
    assert kills == 20  # every run was cut short mid-sync
    assert killed_calls < 2 * clean_calls, (killed_calls, clean_calls)
    async with SQLiteStore(db) as store:
        for resource in RESOURCES:
            rows, digest = emulator_checksum(emu, resource)
            assert await store.count(resource) == rows
            assert await store.checksum(resource) == digest
