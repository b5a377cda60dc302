"""The README a newcomer follows: install before use, every extra listed, every snippet runs
as pasted (`asyncio.run`, nothing from a test fixture) or is a part of an `examples/` script
that runs here, the counts it states match the code, and "Operating" says each exit code."""

from __future__ import annotations

import asyncio
import re
import sys
import tomllib
import warnings
from pathlib import Path
from typing import Any

import pytest

from drchrono_async._cli_exit import CODES
from drchrono_async._endpoints import ENDPOINTS
from drchrono_async.sync import DEFAULT_RESOURCES, not_synced

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
_BLOCK = re.compile(r"^```python\n(.*?)^```", re.S | re.M)


def _text() -> str:
    return README.read_text(encoding="utf-8")


def _section(text: str, heading: str) -> str:
    _, sep, rest = text.partition(f"\n{heading}\n")
    assert sep, f"the README has no {heading}"
    return re.split(r"\n## ", rest, maxsplit=1)[0]


def _outside_tour() -> list[tuple[int, str]]:
    text = _text()
    tour = _section(text, "## Tour")
    rest = text.replace(tour, "")
    return list(enumerate(_BLOCK.findall(rest)))


def test_the_newcomers_path_is_in_order() -> None:
    text = _text()
    for heading in ("### Listing", "### Filtering", "### Concurrency", "### Writing"):
        assert heading in text
    first_code = text.index("```python")
    assert text.index("## Install") < text.index("pip install drchrono-async") < first_code
    assert text.index("make demo") < text.index("## Quick start")
    assert text.index("make test ") < text.index("## Quick start")
    assert text.index("## Quick start") < text.index("## Keeping a database in sync")


def test_every_extra_is_listed_with_what_it_brings() -> None:
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"][
        "optional-dependencies"
    ]
    install = _section(_text(), "## Install")
    for name in extras:
        row = re.search(rf"^\| `{name}`[^\n]*\|([^|\n]+)\|([^|\n]+)\|$", install, re.M)
        if row is None:  # a row may name two extras (dev, bench)
            row = re.search(rf"^\|[^|\n]*`{name}`[^|\n]*\|([^|\n]+)\|([^|\n]+)\|$", install, re.M)
        assert row is not None, f"extra {name} is not in the Install table"
        assert row.group(1).strip() and row.group(2).strip()


def test_the_counts_match_the_code() -> None:
    text = _text()
    found = re.search(r"\((\d+) in all\)", text)
    assert found is not None and int(found.group(1)) == len(ENDPOINTS)
    copied = re.search(r"Every endpoint with data of its own is copied: (\d+) in all", text)
    assert copied is not None and int(copied.group(1)) == len(DEFAULT_RESOURCES)
    assert len(DEFAULT_RESOURCES) + sum(1 for e in ENDPOINTS if not_synced(e)) == len(ENDPOINTS)


def test_operating_documents_every_exit_code_and_the_logs() -> None:
    operating = _section(_text(), "## Operating")
    for heading in ("### Exit codes", "### Logs"):
        assert heading in operating
    for code, meaning in CODES:
        assert f"| {code} | {meaning} |" in operating


def test_every_benchmark_section_states_its_quota() -> None:
    results = (ROOT / "benchmarks" / "RESULTS.md").read_text(encoding="utf-8")
    sections = re.split(r"^## ", results, flags=re.M)[1:]
    assert len(sections) >= 9
    for section in sections:
        assert "Quota:" in section, section.splitlines()[0]


@pytest.mark.parametrize("index_block", _outside_tour(), ids=lambda ib: f"block-{ib[0]}")
def test_each_snippet_runs_as_pasted(
    index_block: tuple[int, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    index, block = index_block
    monkeypatch.chdir(tmp_path)  # a snippet may write drchrono.db where it runs
    code = compile(block, f"README.md#block-{index}", "exec")  # no top-level await
    namespace: dict[str, Any] = {"__name__": "__readme__"}
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # an example must not lean on lenient decoding
        exec(code, namespace)  # a NameError here is a variable the README never defined


def test_the_tour_is_examples_tour_in_order() -> None:
    script = (ROOT / "examples" / "tour.py").read_text(encoding="utf-8")
    body = script[script.index("async def tour(") :]
    at = 0
    for block in _BLOCK.findall(_section(_text(), "## Tour")):
        indented = "".join(
            f"    {line}" if line.strip() else line for line in block.splitlines(True)
        )
        found = body.find(indented, at)
        assert found >= 0, f"not in examples/tour.py (or out of order):\n{block}"
        at = found + len(indented)


def test_the_tour_runs(capsys: Any) -> None:
    sys.path.insert(0, str(ROOT / "examples"))
    try:
        import tour  # examples/tour.py
    finally:
        sys.path.remove(str(ROOT / "examples"))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        asyncio.run(tour.main())
    out = capsys.readouterr().out
    assert "appointments changed in 30 days" in out
    assert "409: overlaps appointment" in out
    assert "2 allergies created in one call" in out
    assert "404 GET /api/patients/1" in out
    verbose = re.search(r"^(\d+) with vitals", out, re.M)
    assert verbose is not None and int(verbose.group(1)) > 0
    windows = re.search(r"^(\d+) appointments in 8 windows", out, re.M)
    assert windows is not None and int(windows.group(1)) > 0
