"""The README's SQL examples run as they are, on both stores, and answer right.

The queries are read out of README.md (its ```sql blocks in "Keeping a database in sync"),
so the text a reader copies is the text tested. Rows go in through the store's API as the
sync writes them; each query runs on the store's own database through its driver.
"""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path
from typing import Any

from drchrono_async.sync import Column, PostgresStore, Row, SQLiteStore
from drchrono_async.sync._store import ChildTable

from .conftest import Backend

README = Path(__file__).resolve().parents[2] / "README.md"
Store = SQLiteStore | PostgresStore


def readme_queries() -> list[str]:
    text = README.read_text()
    section = text[text.index("## Keeping a database in sync") :]
    section = section[: section.index("\n## ", 1)]
    return re.findall(r"```sql\n(.*?)```", section, flags=re.S)


def ts(day: int, hour: int, minute: int = 0) -> dt.datetime:
    return dt.datetime(2024, 5, day, hour, minute)


def version(day: int) -> str:
    return f"2024-05-{day:02d}T12:00:00.000000"


async def fill(store: Store) -> None:
    """Doctors, patients and appointments with vitals, as the sync would write them."""
    await store.ensure_resource(
        "doctors", [Column("first_name", "text"), Column("last_name", "text")], key="integer"
    )
    await store.ensure_resource(
        "patients",
        [
            Column("first_name", "text"),
            Column("last_name", "text"),
            Column("doctor", "integer", indexed=True),
        ],
        key="integer",
    )
    await store.ensure_resource(
        "appointments",
        [
            Column("doctor", "integer", indexed=True),
            Column("patient", "integer", indexed=True),
            Column("scheduled_time", "timestamp", indexed=True),
            Column("status", "text"),
        ],
        key="text",
        children=[
            ChildTable("vitals", ("vitals",)),
            ChildTable("status_transitions", ("status_transitions",)),
        ],
    )
    doctors = [(7, "Gregory", "House"), (8, "Lisa", "Cuddy")]
    await store.write(
        "doctors",
        [
            Row(
                str(i),
                version(1),
                {"id": i, "first_name": f, "last_name": n},
                {"first_name": f, "last_name": n},
            )
            for i, f, n in doctors
        ],
    )
    patients = [(1001, "Ann", 7), (1002, "Bob", 7), (1003, "Cy", 8), (1004, "Dee", 8)]
    await store.write(
        "patients",
        [
            Row(
                str(i),
                version(1),
                {"id": i, "first_name": f, "last_name": "Doe", "doctor": d},
                {"first_name": f, "last_name": "Doe", "doctor": d},
            )
            for i, f, d in patients
        ],
    )

    def appointment(
        id_: str,
        when: dt.datetime,
        doctor: int,
        patient: int,
        vitals: Any,
        *,
        deleted: bool = False,
    ) -> Row:
        payload = {
            "id": id_,
            "doctor": doctor,
            "patient": patient,
            "scheduled_time": when.isoformat(),
            "status": "Complete",
            "deleted_flag": deleted,
            "vitals": vitals,
            "status_transitions": [{"from_status": "", "to_status": "Complete"}],
            "updated_at": version(when.day),
        }
        columns = {
            "doctor": doctor,
            "patient": patient,
            "scheduled_time": when,
            "status": "Complete",
        }
        return Row(id_, version(when.day), payload, columns, deleted=deleted)

    def vitals(bp1: int, bp2: int, weight: float, height: int) -> dict[str, Any]:
        return {
            "blood_pressure_1": bp1,
            "blood_pressure_2": bp2,
            "weight": weight,
            "height": height,
        }

    await store.write(
        "appointments",
        [
            appointment("501", ts(6, 9), 7, 1001, vitals(120, 80, 180.5, 70)),
            appointment("502", ts(6, 10), 7, 1002, vitals(118, 76, 150.0, 64)),
            appointment("503", ts(6, 11), 8, 1002, None),
            appointment("504", ts(7, 9), 7, 1001, vitals(125, 82, 178.0, 70)),
            # Dee's only appointment arrives archived; Ann's 506 is deleted after.
            appointment("505", ts(7, 9, 30), 8, 1004, vitals(130, 85, 140.0, 60), deleted=True),
            appointment("506", ts(8, 9), 7, 1001, vitals(140, 90, 181.0, 70)),
        ],
    )
    await store.write("appointments", [], delete_ids=["506"], deleted_at=version(9))


async def run(backend: Backend, query: str) -> list[tuple[Any, ...]]:
    """The query's rows, from the store's database through its own driver, values as text
    where the stores differ in type (a date, a timestamp)."""
    rows = await backend.sql(query)
    out = []
    for row in rows:
        out.append(
            tuple(v.isoformat() if isinstance(v, (dt.date, dt.datetime)) else v for v in row)
        )
    return out


async def test_the_readme_sql_runs_on_both_stores(backend: Backend) -> None:
    per_doctor, without, vitals = readme_queries()
    async with backend.new() as store:
        await fill(store)
    assert await run(backend, per_doctor) == [
        ("Cuddy", "2024-05-06", 1),
        ("House", "2024-05-06", 2),
        ("House", "2024-05-07", 1),
    ]
    assert await run(backend, without) == [(1003, "Cy", "Doe"), (1004, "Dee", "Doe")]
    assert await run(backend, vitals) == [
        ("2024-05-06T09:00:00", 120, 80, 180.5, 70),
        ("2024-05-07T09:00:00", 125, 82, 178.0, 70),
    ]


def test_the_readme_has_the_three_queries() -> None:
    queries = readme_queries()
    assert len(queries) == 3
    assert all("::" not in q and "CAST" not in q.upper() for q in queries)  # no casts
