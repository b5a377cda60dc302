"""Databases written by earlier releases migrate in place on `ensure_resource`.

The fixtures (`fixtures/make_layout1.py`) are the previous release's databases (text ids and
versions, no version columns) and current main's before this layout (text ids, text version
columns), as each release's own stores wrote them, with the answers those stores gave.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import random
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import psycopg
import pytest

from drchrono_async.errors import StoreError
from drchrono_async.sync import Column, PostgresStore, Row, SQLiteStore
from drchrono_async.sync._store import ChildTable

from .conftest import POSTGRES_DSN, Backend

FIXTURES = Path(__file__).with_name("fixtures")
ROOT = Path(__file__).resolve().parents[2]
Store = SQLiteStore | PostgresStore

DOCTORS = [Column("first_name", "text"), Column("last_name", "text")]
PATIENTS = [
    Column("first_name", "text"),
    Column("last_name", "text"),
    Column("doctor", "integer", indexed=True),
    Column("date_of_birth", "date"),
]
APPOINTMENTS = [
    Column("doctor", "integer", indexed=True),
    Column("patient", "integer", indexed=True),
    Column("scheduled_time", "timestamp", indexed=True),
    Column("duration", "integer"),
    Column("status", "text"),
]
VITALS = ChildTable("vitals", ("vitals",))
TRANSITIONS = ChildTable("status_transitions", ("status_transitions",))
INSURANCES = ChildTable("insurances", ("primary_insurance", "secondary_insurance"))


async def ensure_all(store: Store) -> None:
    """The tables as this release's engine asks for them."""
    await store.ensure_resource("doctors", DOCTORS, key="integer")
    await store.ensure_resource("patients", PATIENTS, key="integer", children=[INSURANCES])
    await store.ensure_resource(
        "appointments", APPOINTMENTS, key="text", children=[VITALS, TRANSITIONS]
    )


def expected(name: str) -> dict[str, Any]:
    answers: dict[str, Any] = json.loads((FIXTURES / f"layout1_{name}.json").read_text())
    return answers


async def load(backend: Backend, name: str) -> None:
    """Put the fixture where the backend's store will look."""
    if backend.kind == "sqlite":
        script = (FIXTURES / f"layout1_{name}.sqlite.sql").read_text()
        with contextlib.closing(sqlite3.connect(backend.where)) as conn:
            conn.executescript(script)
        return
    script = (FIXTURES / f"layout1_{name}.postgres.sql").read_text()
    async with await psycopg.AsyncConnection.connect(POSTGRES_DSN, autocommit=True) as conn:
        await conn.execute(f'CREATE SCHEMA "{backend.where}"')
        await conn.execute(f'SET search_path TO "{backend.where}"')
        await conn.execute(script.encode())  # DDL and INSERTs, one simple query


async def column_types(backend: Backend, table: str) -> dict[str, str]:
    if backend.kind == "sqlite":
        rows = await backend.sql(f"SELECT name, upper(type) FROM pragma_table_info('{table}')")
    else:
        rows = await backend.sql(
            "SELECT column_name, data_type FROM information_schema.columns"
            f" WHERE table_schema = current_schema() AND table_name = '{table}'",
        )
    return {str(n): str(t) for n, t in rows}


async def answers(store: Store) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name in ("doctors", "patients", "appointments"):
        out[name] = {
            "checksum": await store.checksum(name),
            "live": sorted(await store.ids(name)),
            "deleted": sorted(await store.ids(name, deleted=True)),
            "checkpoint": await store.checkpoint(name),
        }
    return out


@pytest.mark.parametrize("name", ["release", "main"])
async def test_an_earlier_releases_database_migrates_on_ensure(backend: Backend, name: str) -> None:
    await load(backend, name)
    before = expected(name)
    async with backend.new() as store:
        assert await answers(store) == before  # reads work on the old layout as they were
        await ensure_all(store)
        assert await answers(store) == before  # rows, tombstones, checkpoints: all there
        assert await store.get("doctors", 7) == await store.get("doctors", "7")
        assert (await store.get("doctors", "7") or {})["last_name"] == "House"
        assert await store.get("patients", "1004") is None  # a tombstone stays one
        assert await store.is_deleted("patients", 1004) is True
        assert await store.is_deleted("patients", "1003") is True
        assert (await store.get("appointments", "99_20240508") or {})["vitals"] == {
            "weight": 150.25
        }
        if name == "main":  # its stale mark survives the copy
            assert await store.stale_ids("appointments", limit=10) == ["504"]
        # The upsert rule reads the migrated versions: an older version is skipped, a late
        # redelivery does not revive the tombstone, a newer version is written.
        old = Row("7", "2024-04-01T00:00:00.000000", {"id": 7, "v": "old"}, {})
        assert (await store.write("doctors", [old])).skipped == 1
        late = Row("1004", "2024-05-01T00:00:00.000000", {"id": 1004}, {})
        assert (await store.write("patients", [late])).skipped == 1
        new = Row("8", "2024-06-01T00:00:00.000000", {"id": 8, "last_name": "C"}, {})
        assert (await store.write("doctors", [new])).written == 1

    ids = await column_types(backend, "doctors")
    appointments = await column_types(backend, "appointments")
    if backend.kind == "sqlite":
        assert ids["id"] == "INTEGER" and appointments["id"] == "TEXT"
        assert {appointments[c] for c in ("updated_at", "deleted_at", "observed_at")} == {
            "DATETIME"
        }
        assert await backend.sql("SELECT DISTINCT typeof(id) FROM patients") == [("integer",)]
    else:
        assert ids["id"] == "bigint" and appointments["id"] == "text"
        assert {appointments[c] for c in ("updated_at", "deleted_at", "stale_at")} == {
            "timestamp without time zone"
        }
        versions = await backend.sql("SELECT updated_at FROM doctors WHERE id = 7")
        assert versions == [(dt.datetime(2024, 5, 1, 9),)]
    # What analysts asked for: ids join references, the live view leaves the deleted out.
    joined = await backend.sql(
        "SELECT a.id, d.last_name FROM appointments__live AS a"
        " JOIN doctors AS d ON d.id = a.doctor ORDER BY a.id",
    )
    live_appointments = [i for i in before["appointments"]["live"]]
    assert [r[0] for r in joined] == sorted(live_appointments)
    assert await backend.sql("SELECT count(*) FROM patients__live") == [(2,)]
    layouts = await backend.sql("SELECT name, version, id_type FROM _schema ORDER BY name")
    assert ("doctors", 2, "integer") in layouts and ("appointments", 2, "text") in layouts
    # The child tables were filled from the payloads stored before they existed.
    vitals = await backend.sql(
        "SELECT parent_id, weight FROM appointments__vitals ORDER BY parent_id"
    )
    assert vitals == [("501", 180.5), ("502", 179.0), ("99_20240508", 150.25)]
    insurance = await backend.sql("SELECT parent_id, source FROM patients__insurances")
    assert sorted(insurance) == [(p, "primary_insurance") for p in (1001, 1002, 1003)]
    transitions = await backend.sql(
        "SELECT position, to_status FROM appointments__status_transitions"
        " WHERE parent_id = '501' ORDER BY position",
    )
    assert transitions == [(0, "Arrived"), (1, "Complete")]

    async with backend.new() as again:  # a second open finds nothing to do
        await ensure_all(again)
        after = await answers(again)
        assert after["patients"] == before["patients"]
        assert after["appointments"] == before["appointments"]


async def test_a_table_whose_ids_are_not_integers_is_left_as_it_was(backend: Backend) -> None:
    await load(backend, "release")
    await backend.sql(
        "INSERT INTO doctors (id, payload, deleted, synced_at)"
        " VALUES ('D-9', '{\"id\": \"D-9\"}', false, '2024-01-01T00:00:00+00:00')",
    )
    async with backend.new() as store:
        with pytest.raises(StoreError) as info:
            await store.ensure_resource("doctors", DOCTORS, key="integer")
        assert "D-9" not in str(info.value) and "left as it was" in str(info.value)
        assert sorted(await store.ids("doctors")) == ["7", "8", "D-9"]
        await store.ensure_resource("doctors", DOCTORS, key="text")  # text keys: fine
        assert await store.get("doctors", "D-9") == {"id": "D-9"}
    assert (await column_types(backend, "doctors"))["id"] in ("TEXT", "text")


async def test_a_migration_that_fails_half_way_rolls_back_whole(pg_backend: Backend) -> None:
    # A version that looks normalised but is no date: the check lets it by, the ALTER TABLE
    # fails on it after retyping `id` and `updated_at` of the rows before it.
    await load(pg_backend, "main")
    await pg_backend.sql(
        "UPDATE doctors SET observed_at = '2024-13-45T09:00:00.000000' WHERE id = '8'",
    )
    async with pg_backend.new() as store:
        with pytest.raises(StoreError):
            await store.ensure_resource("doctors", DOCTORS, key="integer")
        types = await column_types(pg_backend, "doctors")
        assert (types["id"], types["updated_at"]) == ("text", "text")
        assert await pg_backend.sql("SELECT count(*) FROM _schema WHERE name = 'doctors'") == [(0,)]
        assert sorted(await store.ids("doctors")) == ["7", "8"]


async def test_concurrent_opens_migrate_once(pg_backend: Backend) -> None:
    await load(pg_backend, "main")
    stores = [pg_backend.new() for _ in range(4)]
    for store in stores:
        await store.open()
    try:
        await asyncio.gather(*(ensure_all(store) for store in stores))
        for store in stores:
            assert await answers(store) == expected("main")
    finally:
        for store in stores:
            await store.aclose()
    assert (await column_types(pg_backend, "patients"))["id"] == "bigint"


async def test_a_database_of_a_newer_layout_is_refused(backend: Backend) -> None:
    async with backend.new() as store:
        await store.ensure_resource("doctors", DOCTORS, key="integer")
    await backend.sql("UPDATE _schema SET version = 3 WHERE name = 'doctors'")
    with pytest.raises(StoreError) as info:
        async with backend.new():
            pass
    assert "newer" in str(info.value)


async def test_a_resource_keyed_anew_keeps_its_rows_and_children(backend: Backend) -> None:
    vitals = {"weight": 180.5}
    async with backend.new() as store:
        await store.ensure_resource("visits", [Column("n", "integer")], children=[VITALS])
        await store.write(
            "visits", [Row(str(i), None, {"id": i, "vitals": vitals}, {"n": i}) for i in (1, 2)]
        )
        digest = await store.checksum("visits")
        await store.ensure_resource(
            "visits", [Column("n", "integer")], key="integer", children=[VITALS]
        )
        assert await store.checksum("visits") == digest
        assert await store.get("visits", 2) == {"id": 2, "vitals": vitals}
        await store.write("visits", [Row("3", None, {"id": 3, "vitals": vitals}, {"n": 3})])
    types = await column_types(backend, "visits__vitals")
    assert types["parent_id"] in ("INTEGER", "bigint")
    rows = await backend.sql("SELECT parent_id, weight FROM visits__vitals ORDER BY parent_id")
    assert rows == [(1, 180.5), (2, 180.5), (3, 180.5)]


def test_sigkill_during_a_sqlite_migration_leaves_the_old_or_the_new_table(
    tmp_path: Path,
) -> None:
    script = (FIXTURES / "layout1_main.sqlite.sql").read_text()

    def fresh(name: str) -> Path:
        path = tmp_path / name
        with contextlib.closing(sqlite3.connect(path)) as conn:
            conn.executescript(script)
        return path

    # How long the whole migration is, in the worker's progress calls (every 20 SQLite
    # instructions): the kills below land inside it, wherever this SQLite spends them.
    steps = asyncio.run(_migrate_counting(fresh("measure.db")))
    seed = random.randrange(2**32)
    rng = random.Random(seed)
    killed = 0
    for run in range(6):
        path = fresh(f"run{run}.db")
        kill_at = rng.randrange(1, steps + 1)
        child = subprocess.run(
            [sys.executable, "-m", "tests.sync._store_worker", "migrate", str(path), str(kill_at)],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert child.returncode in (0, -signal.SIGKILL), (seed, kill_at, child.stderr)
        killed += child.returncode == -signal.SIGKILL
        with contextlib.closing(sqlite3.connect(path)) as conn:
            assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
            tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master")}
            assert not {t for t in tables if t.startswith("_rebuild_")}, (seed, kill_at)
            for table, ids in (("doctors", 2), ("patients", 4), ("appointments", 5)):
                count = conn.execute(f"SELECT count(*) FROM {table}").fetchone()
                assert count == (ids,), (seed, kill_at, table)
        # Each table is whole, in the old layout or the new: the next open finishes the job.
        assert asyncio.run(_open_and_answer(path)) == expected("main"), (seed, kill_at)
        with contextlib.closing(sqlite3.connect(path)) as conn:
            ids = conn.execute("SELECT DISTINCT typeof(id) FROM patients").fetchall()
            vitals = conn.execute("SELECT count(*) FROM appointments__vitals").fetchone()
        assert (ids, vitals) == ([("integer",)], (3,)), (seed, kill_at)
    assert killed >= 3, seed


async def _migrate_counting(path: Path) -> int:
    steps = 0

    def count() -> int:
        nonlocal steps
        steps += 1
        return 0

    async with SQLiteStore(path) as store:
        await store._call("test", "", lambda: store._db().set_progress_handler(count, 20))
        await ensure_all(store)
    return steps


async def _open_and_answer(path: Path) -> dict[str, Any]:
    async with SQLiteStore(path) as store:
        await ensure_all(store)
        return await answers(store)
