"""`kill -9` a sync process at random moments mid-sync; each resume ends with an exact copy.

The emulator serves on loopback from this process; the sync runs in a child process that is
killed with SIGKILL (no handler, no cleanup) at random moments, then started again.

The default size kills 6 runs of a 25-call sync, spread over its first two thirds; `make
soak` (the `soak` marker) runs the full size: 20 kills of a 130-call sync.
"""

from __future__ import annotations

import asyncio
import random
import sqlite3
import sys
from pathlib import Path

import attrs
import pytest

from drchrono_async._demo import emulator_checksum
from drchrono_async.sync import SQLiteStore
from drchrono_async.testing import Emulator

WORKER = Path(__file__).with_name("_sync_worker.py")
ROOT = Path(__file__).resolve().parents[2]
RESOURCES = ("appointments", "patients")


async def run_worker(emu: Emulator, url: str, db: Path, kill_after_calls: int | None) -> int | None:
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


def stored_rows(db: Path) -> int:
    """Rows committed to the killed run's database, read around the store."""
    if not db.exists():
        return 0
    with sqlite3.connect(db) as conn:
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master")}
        return sum(
            conn.execute(f'SELECT count(*) FROM "{t}"').fetchone()[0]
            for t in RESOURCES
            if t in tables
        )


@attrs.frozen
class Size:
    appointments: int
    patients: int
    kills: int
    # Each run is killed once the emulator has served between these many of its requests.
    kill_from: int
    kill_to: int


@pytest.mark.parametrize(
    "size",
    [
        # 25 calls uninterrupted; kills spread over about the first two thirds of the sync.
        pytest.param(Size(4000, 1500, kills=6, kill_from=3, kill_to=6), id="6-kills"),
        pytest.param(
            Size(24_000, 8000, kills=20, kill_from=1, kill_to=5),
            id="20-kills",
            marks=pytest.mark.soak,
        ),
    ],
)
async def test_kill_9s_lose_nothing_and_cost_under_twice_the_calls(
    tmp_path: Path, size: Size
) -> None:
    rng = random.Random(20)
    emu = Emulator(
        seed=9,
        quota=1_000_000,
        sizes={"appointments": size.appointments, "patients": size.patients},
    )
    async with emu.serve() as url:
        assert await run_worker(emu, url, tmp_path / "clean.db", None) == 0
        clean_calls = len(emu.requests)
        start = len(emu.requests)
        db = tmp_path / "killed.db"
        kills = 0
        kept = [0]  # rows committed after each kill
        for _ in range(size.kills):
            if await run_worker(emu, url, db, rng.randint(size.kill_from, size.kill_to)) is None:
                kills += 1
            kept.append(stored_rows(db))
        resumed_from = len(emu.requests)
        assert await run_worker(emu, url, db, None) == 0  # resumes to the end
        final_calls = len(emu.requests) - resumed_from
        killed_calls = len(emu.requests) - start
    print(
        f"{kills} kills; {killed_calls} calls against {clean_calls} uninterrupted;"
        f" rows kept after each kill: {kept}"
    )
    assert kills == size.kills  # every run was cut short mid-sync
    # A kill never takes back a committed page, and the killed runs moved the copy forward.
    assert kept == sorted(kept) and kept[-1] > 0
    # The last run resumed rather than started again, and the kills cost under twice the
    # calls of one uninterrupted sync.
    assert final_calls < clean_calls, (final_calls, clean_calls)
    assert killed_calls < 2 * clean_calls, (killed_calls, clean_calls)
    async with SQLiteStore(db) as store:
        for resource in RESOURCES:
            rows, digest = emulator_checksum(emu, resource)
            assert await store.count(resource) == rows
            assert await store.checksum(resource) == digest
