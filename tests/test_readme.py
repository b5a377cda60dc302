"""The README's examples run: every python block from "## Tour" on, in order, on the emulator."""

from __future__ import annotations

import ast
import re
import warnings
from pathlib import Path
from typing import Any

from drchrono_async.testing import Emulator, VirtualClock

README = Path(__file__).resolve().parents[1] / "README.md"
_BLOCK = re.compile(r"^```python\n(.*?)^```", re.S | re.M)


def _blocks() -> tuple[list[str], list[str]]:
    text = README.read_text(encoding="utf-8")
    head, sep, tour = text.partition("\n## Tour\n")
    assert sep, "the README has no Tour section"
    return _BLOCK.findall(head), _BLOCK.findall(tour)


def test_the_tour_covers_what_the_issue_names() -> None:
    text = README.read_text(encoding="utf-8")
    for heading in (
        "### Listing",
        "### Filtering",
        "### Concurrency",
        "### Writing",
        "### Uploading",
    ):
        assert heading in text
    assert text.index("make demo") < text.index("make test") < text.index("## Quick start")


def test_quick_start_compiles_and_uses_the_documented_names() -> None:
    quick, _ = _blocks()
    assert quick, "no quick start example"
    for block in quick:
        compile(block, "README.md", "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)
    assert "async with DrChronoClient(access_token=" in quick[0]


async def test_every_tour_example_runs(capsys: Any) -> None:
    _, tour = _blocks()
    assert len(tour) >= 8
    emulator = Emulator(seed=5, clock=VirtualClock(), sizes={"appointments": 1_500})
    async with emulator.client() as client:
        namespace: dict[str, Any] = {"client": client, "emulator": emulator}
        for index, block in enumerate(tour):
            code = compile(
                block, f"README.md#tour-{index}", "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT
            )
            with warnings.catch_warnings():
                warnings.simplefilter("error")  # an example must not lean on lenient decoding
                result = eval(code, namespace)
                if result is not None:
                    await result
    out = capsys.readouterr().out
    assert "appointments changed in 30 days" in out
    assert "409: overlaps appointment" in out
    assert "2 allergies created in one call" in out
    assert "404 GET /api/patients/1" in out
    verbose = re.search(r"^(\d+) with vitals", out, re.M)
    assert verbose is not None and int(verbose.group(1)) > 0
    windows = re.search(r"^(\d+) appointments in 8 windows", out, re.M)
    assert windows is not None and int(windows.group(1)) > 0
    assert emulator.count(status=429) == 0
