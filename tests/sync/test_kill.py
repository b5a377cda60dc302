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


async def run_worker(url: str, token: str, db: Path, kill_after: float | None) -> int | None:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, str(WORKER), url, token, str(db), cwd=ROOT
    )
    if kill_after is None:
        return await asyncio.wait_for(proc.wait(), 120)
    try:
        return await asyncio.wait_for(proc.wait(), kill_after)  # finished before the kill
    except TimeoutError:
        proc.kill()  # SIGKILL: the process gets no chance to clean up
        await proc.wait()
        return None


async def test_twenty_kill_9s_lose_nothing_and_cost_under_twice_the_calls(
    tmp_path: Path,
) -> None:
    rng = random.Random(20)
    emu = Emulator(seed=9, quota=1_000_000, sizes={"appointments": 24_000, "patients": 8_000})
    async with emu.serve() as url:
        assert await run_worker(url, emu.access_token, tmp_path / "clean.db", None) == 0
        clean_calls = len(emu.requests)
        start = len(emu.requests)
        db = tmp_path / "killed.db"
        kills = 0
        for _ in range(20):
            if await run_worker(url, emu.access_token, db, rng.uniform(0.35, 0.65)) is None:
                kills += 1
        assert await run_worker(url, emu.access_token, db, None) == 0  # resumes to the end
        killed_calls = len(emu.requests) - start
    print(f"{kills} kills; {killed_calls} calls against {clean_calls} uninterrupted")
    assert kills >= 12  # most runs really were cut short, mid-sync
    assert killed_calls < 2 * clean_calls, (killed_calls, clean_calls)
    async with SQLiteStore(db) as store:
        for resource in RESOURCES:
            rows, digest = emulator_checksum(emu, resource)
            assert await store.count(resource) == rows
            assert await store.checksum(resource) == digest
