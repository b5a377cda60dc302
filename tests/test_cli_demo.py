"""`make demo` runs `drchrono-async demo`: it must run and print what is true."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from drchrono_async._demo import demo
from drchrono_async.cli import main


async def test_the_demo_syncs_changes_and_proves_the_copy_equal(tmp_path: Path) -> None:
    lines: list[str] = []
    assert await demo(seed=3, path=tmp_path / "d.db", out=lines.append)
    text = "\n".join(lines)
    assert "the database equals the emulator" in text and "DIFFERENT" not in text
    first, second = re.findall(r"complete: (\d+) records, (\d+) calls", text)
    assert int(first[0]) > 1000 and int(second[0]) > 0  # the changes, and only them
    assert int(second[1]) < int(first[1]) // 3  # a handful of calls
    rows = re.findall(
        r"^\s+(\w+)\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)\s+[0-9a-f]{12} equal$", text, re.M
    )
    assert len(rows) > 50 and all(live == held for _, live, held, _, _ in rows)
    # Deleted rows are compared too: the appointments the practice deleted are marked.
    deleted = {name: (int(gone), int(marked)) for name, _, _, gone, marked in rows}
    assert (
        deleted["appointments"][0] > 0 and deleted["appointments"][1] >= deleted["appointments"][0]
    )
    # New in the copy: clinical notes, insurances, the payment log, eligibility checks.
    for name in ("clinical_notes", "insurances", "patient_payment_log", "eligibility_checks"):
        assert name in deleted
    assert "not copied (4 endpoints):" in text and "mu_2015_report:" in text


def test_main_runs_the_demo(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo", "--seed", "2", "--db", str(tmp_path / "x.db")]) == 0
    assert "the database equals the emulator" in capsys.readouterr().out


def test_the_demo_replaces_only_a_file_it_made(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    precious = tmp_path / "practice.db"
    precious.write_bytes(b"a 30,000-appointment database")
    assert main(["demo", "--seed", "2", "--db", str(precious)]) == 2
    assert "refusing to replace it" in capsys.readouterr().err
    assert precious.read_bytes() == b"a 30,000-appointment database"  # untouched
    own = tmp_path / "demo.db"
    assert main(["demo", "--seed", "2", "--db", str(own)]) == 0
    assert main(["demo", "--seed", "2", "--db", str(own)]) == 0  # its own: run again
    assert main(["demo", "--seed", "2", "--db", str(precious), "--overwrite"]) == 0
    assert (precious.stat().st_mode & 0o777) == 0o600  # patient data, owner only
