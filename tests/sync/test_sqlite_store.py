"""SQLiteStore only: kill -9 mid-write loses nothing, the file's mode, WAL."""

from __future__ import annotations

import contextlib
import random
import signal
import sqlite3
import stat
import subprocess
import sys
from pathlib import Path

import orjson
import pytest

from drchrono_async.errors import InvalidRequestError, StoreTimeoutError
from drchrono_async.sync import Row, SQLiteStore

from ._store_worker import PAGE

ROOT = Path(__file__).resolve().parents[2]


def test_sigkill_at_a_random_moment_loses_no_committed_page(tmp_path: Path) -> None:
    path = tmp_path / "crash.db"
    seed = random.randrange(2**32)
    reported = -1
    for run in range(8):
        # The writer kills itself at a random SQLite instruction: inside some page's write.
        child = subprocess.run(
            [sys.executable, "-m", "tests.sync._store_worker", "pages", str(path), str(seed + run)],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert child.returncode == -signal.SIGKILL, (seed, child.stderr)
        reported = max([reported, *map(int, child.stdout.split())])

        with contextlib.closing(sqlite3.connect(path)) as conn:
            assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
            found = conn.execute(
                "SELECT checkpoint FROM _checkpoints WHERE resource = 'appointments'"
            ).fetchone()
            page = -1 if found is None else orjson.loads(found[0])["page"]
            ids = {r[0] for r in conn.execute("SELECT id FROM appointments")}
            pages = {r[0] for r in conn.execute("SELECT DISTINCT page FROM appointments")}
        assert page >= reported, seed  # every commit it reported is there
        assert ids == {f"{p}-{i}" for p in range(page + 1) for i in range(PAGE)}, seed
        assert pages == set(range(page + 1)), seed
    assert reported >= 0, seed  # pages were written at all


async def test_file_is_private_and_in_wal_mode(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    async with SQLiteStore(path) as store:
        await store.ensure_resource("patients", [])
        for name in ("s.db", "s.db-wal"):
            assert stat.S_IMODE((tmp_path / name).stat().st_mode) == 0o600, name
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    conn.close()


def test_arguments_are_checked(tmp_path: Path) -> None:
    with pytest.raises(InvalidRequestError):
        SQLiteStore(tmp_path / "s.db", synchronous="OFF")  # type: ignore[arg-type]
    with pytest.raises(InvalidRequestError):
        SQLiteStore(tmp_path / "s.db", busy_timeout="1")  # type: ignore[arg-type]


async def test_in_memory_database_works(tmp_path: Path) -> None:
    async with SQLiteStore(":memory:") as store:
        await store.ensure_resource("patients", [])
        assert await store.count("patients") == 0
        async with store.token_store().lock():
            pass


async def test_a_write_lock_held_elsewhere_ends_in_a_typed_error_after_busy_timeout(
    tmp_path: Path,
) -> None:
    path = tmp_path / "busy.db"
    async with SQLiteStore(path, busy_timeout=0.2) as store:
        await store.ensure_resource("patients", [])
        other = sqlite3.connect(path, isolation_level=None)
        try:
            other.execute("BEGIN IMMEDIATE")  # another process writing, or stuck
            with pytest.raises(StoreTimeoutError) as info:
                await store.write("patients", [Row("1", None, {"id": 1}, {})])
            assert "busy_timeout=0.2 s" in str(info.value)
            other.execute("ROLLBACK")
        finally:
            other.close()
        await store.write("patients", [Row("1", None, {"id": 1}, {})])
        assert await store.count("patients") == 1
