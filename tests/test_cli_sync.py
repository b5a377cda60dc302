"""`drchrono-async sync`: an emulator's practice into SQLite, then an incremental run."""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path

import pytest

from drchrono_async._sync_cli import parse_every
from drchrono_async.cli import main
from drchrono_async.sync import SQLiteStore


def test_sync_from_the_emulator_into_sqlite_and_again(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "practice.db"
    args = ["sync", "--emulator", "--plain", "--store", f"sqlite:///{db}",
            "--resource", "patients", "--resource", "appointments"]  # fmt: skip
    assert main(args) == 0
    first = capsys.readouterr().out
    assert "patients: complete (full)" in first and "appointments: complete (backfill)" in first
    assert main(args) == 0  # the second run lists only what changed: one call each
    second = capsys.readouterr().out
    assert "patients: complete (incremental)" in second and "calls=1" in second


def test_the_database_holds_the_practice(tmp_path: Path) -> None:
    db = tmp_path / "practice.db"
    assert main(["sync", "--emulator", "--plain", "--store", f"sqlite:///{db}",
                 "--resource", "doctors"]) == 0  # fmt: skip

    async def count() -> int:
        async with SQLiteStore(db) as store:
            return await store.count("doctors")

    assert asyncio.run(count()) > 0


@pytest.mark.parametrize("store", ["postgresql://x/y", "mysql://x", "drchrono.db"])
def test_an_unsupported_store_is_refused_with_a_message(
    store: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["sync", "--emulator", "--plain", "--store", store]) == 2
    assert "drchrono-async sync:" in capsys.readouterr().err


def test_every_parses_durations() -> None:
    assert parse_every("90s") == 90 and parse_every("1h") == 3600 and parse_every("2") == 2
    for bad in ("0s", "h", "-1m", "1w"):
        with pytest.raises(argparse.ArgumentTypeError):
            parse_every(bad)
