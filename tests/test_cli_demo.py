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
    rows = re.findall(r"^\s+(\w+)\s+(\d+)\s+(\d+)\s+[0-9a-f]{12} equal$", text, re.M)
    assert len(rows) > 20 and all(a == b for _, a, b in rows)


def test_main_runs_the_demo(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo", "--seed", "2", "--db", str(tmp_path / "x.db")]) == 0
    assert "the database equals the emulator" in capsys.readouterr().out
