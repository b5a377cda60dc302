"""The lazily built resources keep their static types, and a typo stays a type error."""

from __future__ import annotations

import textwrap
from pathlib import Path

from mypy import api

ROOT = Path(__file__).resolve().parents[1]

SNIPPET = textwrap.dedent(
    """
    from drchrono_async import DrChronoClient

    def use(client: DrChronoClient) -> None:
        reveal_type(client.appointments)  # line 5
        reveal_type(client.with_options(max_wait=0).patients)  # line 6
        client.appointmnts  # line 7: error
    """
)


def test_resources_are_typed_and_unknown_names_are_errors(tmp_path: Path) -> None:
    snippet = tmp_path / "snippet.py"
    snippet.write_text(SNIPPET)
    out, err, status = api.run(
        [
            "--strict",
            "--no-error-summary",
            "--cache-dir",
            str(ROOT / ".mypy_cache"),
            "--python-version",
            "3.11",
            str(snippet),
        ]
    )
    lines = {int(line.split(":")[1]): line for line in out.splitlines() if ":" in line}
    assert "Resource[drchrono_async.records." in lines[5] and "Appointment]" in lines[5], out
    assert "PatientsResource" in lines[6], out
    assert "has no attribute" in lines[7] and "appointmnts" in lines[7], out + err
    assert status == 1  # type errors found, not a crash (2)
