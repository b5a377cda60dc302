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
    args = [
        "sync",
        "--emulator",
        "--plain",
        "--store",
        f"sqlite:///{db}",
        "--resource",
        "patients",
        "--resource",
        "appointments",
    ]
    assert main(args) == 0
    first = capsys.readouterr().out
    assert "patients: complete (full)" in first and "appointments: complete (backfill)" in first
    assert main(args) == 0  # the second run lists only what changed: one call each
    second = capsys.readouterr().out
    assert "patients: complete (incremental)" in second and "calls=1" in second


def test_the_database_holds_the_practice(tmp_path: Path) -> None:
    db = tmp_path / "practice.db"
    assert (
        main(
            ["sync", "--emulator", "--plain", "--store", f"sqlite:///{db}", "--resource", "doctors"]
        )
        == 0
    )

    async def count() -> int:
        async with SQLiteStore(db) as store:
            return await store.count("doctors")

    assert asyncio.run(count()) > 0


def test_sync_from_the_emulator_into_postgresql(capsys: pytest.CaptureFixture[str]) -> None:
    import uuid

    import psycopg

    from drchrono_async.sync import PostgresStore

    from .sync.conftest import POSTGRES_DSN, postgres_or_skip

    asyncio.run(postgres_or_skip())
    schema = f"test_cli_{uuid.uuid4().hex[:12]}"
    args = [
        "sync",
        "--emulator",
        "--plain",
        "--store",
        POSTGRES_DSN,
        "--schema",
        schema,
        "--resource",
        "patients",
    ]
    try:
        assert main(args) == 0
        assert "patients: complete (full)" in capsys.readouterr().out

        async def count() -> int:
            async with PostgresStore(POSTGRES_DSN, schema=schema) as store:
                return await store.count("patients")

        assert asyncio.run(count()) > 0
    finally:
        with psycopg.connect(POSTGRES_DSN, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


@pytest.mark.parametrize("store", ["mysql://x", "drchrono.db", "sqlite://relative.db"])
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


def test_sync_against_a_server_by_base_url(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from drchrono_async.testing import Emulator

    emu = Emulator(seed=4, sizes={"patients": 30})
    db = tmp_path / "served.db"

    async def run() -> int:
        async with emu.serve() as url:
            monkeypatch.setenv("DRCHRONO_ACCESS_TOKEN", emu.access_token)
            args = [
                "sync",
                "--plain",
                "--base-url",
                url,
                "--store",
                f"sqlite:///{db}",
                "--resource",
                "patients",
            ]
            from drchrono_async._sync_cli import _main
            from drchrono_async.cli import build_parser

            return await _main(build_parser().parse_args(args))

    assert asyncio.run(run()) == 0
    assert any(e.path == "/api/patients" for e in emu.requests)


def test_the_backfill_eta_counts_this_hour_then_whole_hours() -> None:
    from drchrono_async._sync_cli import backfill_eta

    assert backfill_eta(40, 100, 500, 1200) == "~40 calls left, within this hour"
    # 100 now, 500 in the next hour, 250 in the half hour after: 20m + 1h30m.
    assert backfill_eta(850, 100, 500, 1200) == "~850 calls left, about 1h50m at this quota"


def test_a_second_sync_of_the_same_store_exits_75_at_once_or_after_waiting(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import fcntl
    import os

    from drchrono_async._sync_cli import EXIT_LOCKED

    db = tmp_path / "practice.db"
    args = ["sync", "--emulator", "--plain", "--store", f"sqlite:///{db}", "--resource", "doctors"]
    # Another sync process holds the store's lock (its flock, as a running sync takes it).
    fd = os.open(f"{db}.sync.lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        assert main(args) == EXIT_LOCKED == 75
        err = capsys.readouterr().err
        assert "another sync holds the store's lock" in err and "did nothing" in err
        assert main([*args, "--wait-lock", "0.2"]) == EXIT_LOCKED
        assert "after waiting 0.2 s" in capsys.readouterr().err
    finally:
        os.close(fd)  # the other sync ends
    assert main([*args, "--wait-lock", "5"]) == 0


def test_verbose_is_chosen_per_resource(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = tmp_path / "v.db"
    base = ["sync", "--emulator", "--plain", "--store", f"sqlite:///{db}", "--resource", "patients"]
    base += ["--resource", "doctors"]
    assert main([*base, "--no-verbose", "patients"]) == 0
    out = capsys.readouterr()
    assert "verbose listings" not in out.out  # nothing listed verbosely
    assert "not copied: mu_2015_report:" in out.out  # the endpoints no sync copies, and why

    async def payload() -> dict[str, object]:
        async with SQLiteStore(db) as store:
            ids = sorted(await store.ids("patients"))
            found = await store.get("patients", ids[0])
            assert found is not None
            return found

    assert "primary_insurance" not in asyncio.run(payload())
    # Asked for verbose now: the copy made without it is listed again, with every key.
    assert main([*base, "--verbose", "patients"]) == 0
    assert "verbose listings (all keys, smaller pages): patients" in capsys.readouterr().out
    assert "primary_insurance" in asyncio.run(payload())
    assert main([*base, "--verbose", "nope"]) == 2


async def test_a_second_sync_reports_the_overlap_unchanged_not_written(tmp_path: Path) -> None:
    """The real entry point twice against one served demo-sized practice: the second run's
    overlap (the last 300 s before the first run began) is re-listed, and reported unchanged
    in its table and its JSON lines, with nothing written."""
    import json

    from drchrono_async.testing import Emulator

    from .test_cli_operating import cli

    emu = Emulator(seed=1)  # the demo's sizes
    args = ["sync", "--store", f"sqlite:///{tmp_path}/twice.db"]
    args += ["--resource", "patients", "--resource", "appointments"]
    async with emu.serve() as url:
        # Staff edit 3 patients just before the first run: inside the second run's overlap.
        log = await emu.activity.run(changes=3, creates=0, deletes=0, resources=["patients"])
        edited = len(set(log.changed["patients"]))
        token = {"DRCHRONO_ACCESS_TOKEN": emu.access_token}
        code, out, _ = await cli(*args, "--plain", "--base-url", url, **token)
        assert code == 0
        table = out[out.index("resource  ") :].splitlines()
        assert table[0].split()[3:6] == ["records", "written", "unchanged"]
        first = {line.split()[0]: line.split() for line in table[1:]}
        assert first["patients"][3] == first["patients"][4] != "0"  # all written
        code, _, err = await cli(*args, "--log-format", "json", "--base-url", url, **token)
    assert code == 0
    lines = [json.loads(line) for line in err.splitlines()]
    done = {r["resource"]: r for r in lines if r.get("event") == "resource"}
    patients = done["patients"]
    assert patients["status"] == "complete" and patients["mode"] == "incremental"
    assert patients["written"] == 0 and patients["unchanged"] == patients["records"] >= edited
    run = next(r for r in lines if r.get("event") == "run")
    assert run["written"] == 0 and run["unchanged"] == sum(d["unchanged"] for d in done.values())
