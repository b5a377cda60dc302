"""`drchrono-async status`: what each resource's copy holds and why it is or is not current.

The store is made by a real sync against the emulator (one resource fails: the API answers
500 until the retries give up; another stops after its first page); `status` then runs as
the real command in a subprocess, with no credentials and no emulator to call.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from pathlib import Path

import pytest

from drchrono_async.sync import (
    ResourceReport,
    ResourceStatus,
    SQLiteStore,
    Syncer,
    resource_statuses,
)
from drchrono_async.testing import Emulator, VirtualClock

ROOT = Path(__file__).resolve().parents[1]


async def status(*argv: str) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "drchrono_async.cli",
        "status",
        *argv,
        cwd=ROOT,
        env={"PATH": "/usr/bin:/bin"},  # no token, no client id: status needs none
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


@pytest.fixture
async def synced(tmp_path: Path) -> Path:
    """A SQLite copy: patients done, doctors failed (500s), appointments stopped mid-way."""
    emu = Emulator(seed=6, clock=VirtualClock(start=time.time()), sizes={"appointments": 600})
    emu.faults.script(["500"] * 5, path_prefix="/api/doctors")  # 1 try + 4 retries
    path = tmp_path / "copy.db"
    async with emu.client() as client, SQLiteStore(path) as store:
        syncer: Syncer

        def progress(report: ResourceReport) -> None:
            if report.resource == "appointments" and report.pages == 1:
                syncer.stop()  # this page is written; the listing stays in progress

        syncer = Syncer(
            client,
            store,
            resources=["patients", "doctors", "appointments"],
            progress=progress,
            concurrency=1,
        )
        report = await syncer.run()
    assert report["patients"].complete and not report["doctors"].complete
    assert report["appointments"].status == "incomplete"
    return path


async def test_status_says_what_each_resource_holds_and_exits_by_it(synced: Path) -> None:
    store = f"sqlite:///{synced}"
    missing = synced.with_name("missing.db")
    (code, out, err), (code_one, plain, _), (code_gone, _, gone) = await asyncio.gather(
        status("--store", store, "--json"),
        status("--store", store, "--resource", "patients", "--max-age", "1h"),
        status("--store", f"sqlite:///{missing}"),
    )
    assert code == 1 and err == ""
    shown = json.loads(out)
    assert shown["version"] == 1 and shown["store"] == "sqlite" and shown["current"] is False
    assert shown["practice"] is None and shown["quota"]["known"] is False
    by = {r["resource"]: r for r in shown["resources"]}
    assert set(by) == {"patients", "doctors", "appointments"}

    patients = by["patients"]
    assert patients["state"] == "done" and patients["current"] is True
    assert patients["rows"] == {"live": 200, "deleted": 0}  # the seed's 200 patients
    assert patients["last_done_at"] == patients["last_run"]["finished_at"]
    assert patients["last_run"]["records"] == 200 and patients["watermark"]
    assert patients["next_run"] == {"state": "unknown", "at": None, "attempt": 0}

    doctors = by["doctors"]
    assert doctors["state"] == "failed" and doctors["current"] is False
    assert doctors["last_run"]["error"] == "ServerError" and doctors["last_done_at"] is None
    assert doctors["last_run"]["calls"] == 5 and "ServerError" in doctors["reason"]

    appointments = by["appointments"]
    assert appointments["state"] == "stopped" and appointments["rows"]["live"] > 0
    listing = appointments["listing"]
    assert listing["kind"] == "backfill" and listing["pages"] >= 1
    assert listing["chains_done"] < listing["chains"]

    # One resource, current and recent: exit 0, a plain table (stdout is no terminal).
    assert code_one == 0, plain
    lines = plain.splitlines()
    assert lines[1].split()[:4] == ["resource", "state", "last", "complete"]
    assert lines[2].split()[:2] == ["patients", "done"]
    assert lines[-1].startswith("current:")

    # A store that does not exist is one line and exit 2, and it is not created.
    assert code_gone == 2 and gone.count("\n") == 1 and "does not exist" in gone
    assert not missing.exists()


def test_current_means_done_skipped_counts_unless_strict_and_max_age_bounds_it() -> None:
    def resource(state: str, done_at: float | None) -> ResourceStatus:
        return ResourceStatus("patients", state, done_at, None, None, 0, 0, True, None)  # type: ignore[arg-type]

    now = 10_000.0
    assert resource("done", now - 60).is_current(now=now, max_age=120)
    assert not resource("done", now - 600).is_current(now=now, max_age=120)
    assert resource("skipped", None).is_current(now=now)
    assert not resource("skipped", None).is_current(now=now, strict=True)
    for state in ("failed", "quota", "stopped", "unknown", "never"):
        assert not resource(state, now).is_current(now=now), state


async def test_resource_statuses_reads_any_open_store_and_names_a_bad_resource(
    synced: Path,
) -> None:
    from drchrono_async.errors import InvalidRequestError

    async with SQLiteStore(synced) as store:
        found = await resource_statuses(store, ["doctors", "lab_results"])
        with pytest.raises(InvalidRequestError, match=r"^patient is not a resource"):
            await resource_statuses(store, ["patient"])
    assert [(r.resource, r.state) for r in found] == [
        ("doctors", "failed"),
        ("lab_results", "never"),
    ]


async def test_status_reads_a_file_it_may_not_write(synced: Path) -> None:
    from tests.sync.test_store_open import immutable

    synced.with_name(synced.name + "-wal").unlink(missing_ok=True)
    synced.with_name(synced.name + "-shm").unlink(missing_ok=True)
    before = content(synced)
    with immutable(synced):  # a backup, a read-only mount: even root cannot write it
        code, out, err = await status("--store", f"sqlite:///{synced}", "--json")
    assert code == 1 and err == "", err  # doctors failed: not current, but read
    by = {r["resource"]: r for r in json.loads(out)["resources"]}
    assert by["patients"]["rows"] == {"live": 200, "deleted": 0}
    assert content(synced) == before


def content(path: Path) -> bytes:
    return path.read_bytes()
