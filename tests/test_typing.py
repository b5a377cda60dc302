"""mypy refuses what the API refuses: methods an endpoint does not allow are type errors."""

from __future__ import annotations

import textwrap
from pathlib import Path

from mypy import api

ROOT = Path(__file__).resolve().parents[1]

SNIPPET = textwrap.dedent(
    """
    from drchrono_async import DrChronoClient, records

    async def use(client: DrChronoClient) -> None:
        await client.doctors.create({"first_name": "A"})  # line 5: error
        await client.line_items.delete(1)  # line 6: error
        await client.offices.update(1, {"name": "x"})  # line 7: error
        await client.iframe_integration.list()  # line 8: error
        await client.users.patch(1, first_name="A")  # line 9: error
        appointment: records.Appointment = await client.appointments.create({"doctor": 1})
        doctors = client.doctors.list()
        await client.patients.delete(1)
        await client.offices.patch(1, name="x")
        await client.lab_orders.update(1, {"doctor": 1})
        doctor: records.Doctor = await client.doctors.get(1)
        user = await client.users.current()
        await client.iframe_integration.enable()
        records.Appointment(doctor=1, notes="x")  # optional fields have defaults
        records.Appointment(doctr=1)  # line 19: error (no such field)
        records.FeeSchedule(code="99213")  # line 20: error (required fields missing)
    """
)


def test_mypy_refuses_methods_the_endpoint_does_not_allow(tmp_path: Path) -> None:
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
    errors = [line for line in out.splitlines() if ": error:" in line]
    lines = sorted({int(line.split(":")[1]) for line in errors})
    assert lines == [5, 6, 7, 8, 9, 19, 20], out + err
    assert all("has no attribute" in line for line in errors if int(line.split(":")[1]) < 10)
    assert status == 1  # mypy's "type errors found", not a crash (2)
