"""Both stores: a layout analysts can join: integer ids, timestamp versions, indexes, the live
views, and the rules of the names and values that reach it."""

from __future__ import annotations

import contextlib
import datetime as dt
import sqlite3
import warnings
from typing import Any

import pytest

from drchrono_async.errors import InvalidRequestError, StoreError
from drchrono_async.sync import Column, PostgresStore, Row, SQLiteStore, payload_checksum
from drchrono_async.sync._layout import index_name
from drchrono_async.sync._store import ChildTable

from .conftest import Backend

Store = SQLiteStore | PostgresStore
T = "2024-05-01T09:00:00.000000"


def row(id_: str, version: str | None = T, **payload: Any) -> Row:
    return Row(id_, version, {"id": id_, **payload}, {})


async def test_integer_ids_are_integers_in_the_database_and_text_to_the_engine(
    store: Store, backend: Backend
) -> None:
    rows = [row(i) for i in ("2", "10", "1", str(2**63 - 1))]
    await store.ensure_resource("doctors", [], key="integer")
    await store.ensure_resource("doctor_names", [], key="text")  # the same rows, text ids
    for resource in ("doctors", "doctor_names"):
        await store.write(resource, rows, delete_ids=["1", "7"])
        await store.mark_stale(resource, row("3", None), at=T)
    for method in ("ids", "checksum"):
        assert await getattr(store, method)("doctors") == await getattr(store, method)(
            "doctor_names"
        )
    assert await store.ids("doctors") == {"2", "3", "10", str(2**63 - 1)}
    assert await store.ids("doctors", deleted=True) == {"1", "7"}
    assert await store.stale_ids("doctors", limit=5) == ["3"]
    # Sorted as text ("10" before "2"), so an integer key does not change the digest.
    live = [(r.id, r.payload) for r in rows if r.id != "1"] + [("3", row("3").payload)]
    assert await store.checksum("doctors") == payload_checksum(live)
    assert await store.get("doctors", 10) == await store.get("doctors", "10") == {"id": "10"}
    assert await store.is_deleted("doctors", 7) is True
    assert await store.is_deleted("doctors", 8) is None
    types = await backend.sql(
        "SELECT DISTINCT typeof(id) FROM doctors"
        if backend.kind == "sqlite"
        else "SELECT DISTINCT pg_typeof(id)::text FROM doctors"
    )
    assert types == [("integer",)] if backend.kind == "sqlite" else [("bigint",)]


@pytest.mark.parametrize(
    "bad",
    ["007", "-17", "+17", "0", " 17", "17.0", "1_000", "\u0663", "9223372036854775808", "D-17"],
)
async def test_an_id_an_integer_key_cannot_hold_is_refused_before_anything_is_written(
    store: Store, bad: str
) -> None:
    await store.ensure_resource("doctors", [], key="integer")
    for call in (
        store.write("doctors", [row("1"), row(bad)], checkpoint={"page": 1}),
        store.write("doctors", [], delete_ids=["1", bad]),
        store.mark_stale("doctors", row(bad), at=T),
        store.get("doctors", bad),
        store.is_deleted("doctors", bad),
    ):
        with pytest.raises(InvalidRequestError) as info:
            await call
        assert bad.strip() not in str(info.value)  # ids are record content
    assert await store.ids("doctors", deleted=None) == set()
    assert await store.checkpoint("doctors") is None


@pytest.mark.parametrize(
    "bad",
    [
        "2024-05-01 09:00:00.000000",  # a space
        "2024-05-01T09:00:00",  # no microseconds: text order would not be time order
        "2024-13-01T09:00:00.000000",
        "2024-05-01T09:00:00.00000Z",
        "yesterday",
        "\uff12\uff10\uff12\uff14-05-01T09:00:00.000000",  # full-width digits
    ],
)
async def test_versions_are_normalised_times_or_refused(store: Store, bad: str) -> None:
    await store.ensure_resource("patients", [])
    for call in (
        store.write("patients", [row("1", bad)]),
        store.write("patients", [Row("1", None, {}, {}, observed_at=bad)]),
        store.write("patients", [], delete_ids=["1"], deleted_at=bad),
        store.mark_stale("patients", row("1", None), at=bad),
    ):
        with pytest.raises(InvalidRequestError):
            await call
    assert await store.ids("patients", deleted=None) == set()


async def test_indexed_columns_have_an_index_named_apart(store: Store, backend: Backend) -> None:
    long = "a" * 60
    columns = [
        Column("doctor", "integer", indexed=True),
        Column("scheduled_time", "timestamp", indexed=True),
        Column("notes", "text"),
        Column(long, "integer", indexed=True),
        Column("id", "integer", indexed=True),  # a base column's name: payload only
    ]
    await store.ensure_resource("appointments", columns)
    if backend.kind == "sqlite":
        rows = await backend.sql(
            "SELECT il.name, ii.name FROM pragma_index_list('appointments') AS il"
            " JOIN pragma_index_info(il.name) AS ii WHERE il.origin = 'c'"
        )
    else:
        rows = await backend.sql(
            "SELECT i.relname, a.attname FROM pg_index x"
            " JOIN pg_class i ON i.oid = x.indexrelid JOIN pg_class t ON t.oid = x.indrelid"
            " JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = ANY(x.indkey)"
            " WHERE t.relname = 'appointments' AND t.relnamespace = current_schema()::regnamespace"
            " AND NOT x.indisprimary"
        )
    indexes = {column: name for name, column in rows}
    assert indexes == {
        "doctor": "_appointments__doctor",
        "scheduled_time": "_appointments__scheduled_time",
        long: index_name("appointments", long),
        "stale_at": "appointments__stale",
    }
    assert len(indexes[long]) == 63


def test_index_names_fit_and_never_collide() -> None:
    names = {
        index_name(table, column)
        for table in ("a", "a_", "a__b", "x" * 63, "x" * 62 + "y")
        for column in ("b", "b_", "b__c", "c", "y" * 63, "y" * 62 + "z")
    }
    assert len(names) == 30 and all(len(n) <= 63 and n.startswith("_") for n in names)


async def test_the_live_view_is_the_live_rows_read_only_and_follows_new_columns(
    store: Store, backend: Backend
) -> None:
    await store.ensure_resource("patients", [Column("first_name", "text")], key="integer")
    await store.write(
        "patients",
        [
            Row("1", T, {"id": 1}, {"first_name": "Ann"}),
            Row("2", T, {"id": 2}, {"first_name": "Bob"}, deleted=True),
            Row("3", T, {"id": 3}, {"first_name": "Cy"}),
        ],
        delete_ids=["3", "4"],
    )
    assert await backend.sql("SELECT id, first_name FROM patients__live") == [(1, "Ann")]
    await store.ensure_resource(
        "patients", [Column("first_name", "text"), Column("chart_id", "text")], key="integer"
    )
    await store.write("patients", [Row("5", T, {"id": 5}, {"chart_id": "C5"})])
    got = await backend.sql("SELECT id, chart_id FROM patients__live ORDER BY id")
    assert got == [(1, None), (5, "C5")]
    with pytest.raises((sqlite3.Error, Exception)) as info:
        await backend.sql("DELETE FROM patients__live")
    assert "view" in str(info.value).lower()
    assert await store.count("patients") == 2  # nothing went through the view


async def test_sqlite_declares_versions_so_tools_read_them(tmp_path: Any) -> None:
    path = tmp_path / "s.db"
    async with SQLiteStore(path) as store:
        await store.ensure_resource(
            "patients", [Column("born", "date"), Column("seen", "timestamp")]
        )
        await store.write(
            "patients",
            [Row("1", T, {}, {"born": dt.date(1980, 2, 29), "seen": dt.datetime(2024, 5, 1, 9)})],
        )
    # Python's own converters (detect_types) read every declared column without failing:
    # DATETIME is not `timestamp`, whose converter cannot read ISO text with its `T`.
    with (
        contextlib.closing(sqlite3.connect(path, detect_types=sqlite3.PARSE_DECLTYPES)) as conn,
        warnings.catch_warnings(),
    ):
        warnings.simplefilter("ignore", DeprecationWarning)  # Python 3.12's, of the converters
        got = conn.execute(
            "SELECT updated_at, born, seen, date(updated_at) FROM patients"
        ).fetchone()
    assert got == (T, dt.date(1980, 2, 29), "2024-05-01T09:00:00", "2024-05-01")
    with contextlib.closing(sqlite3.connect(path)) as conn:
        types = dict(
            conn.execute("SELECT name, type FROM pragma_table_info('patients')").fetchall()
        )
    assert (types["updated_at"], types["observed_at"], types["born"], types["seen"]) == (
        "DATETIME",
        "DATETIME",
        "DATE",
        "DATETIME",
    )


@pytest.mark.parametrize(
    ("resource", "children", "key"),
    [
        ("a__b", (), "text"),  # "__" is kept for the names derived from a resource
        ("a" * 58, (), "text"),  # "<resource>__live" would pass 63 characters
        ("patients", (ChildTable("live", ("x",)),), "text"),
        ("patients", (ChildTable("stale", ("x",)),), "text"),
        ("patients", (ChildTable("c" * 54, ("x",)),), "text"),  # a 64-character table
        ("patients", (ChildTable("x", ("a",)), ChildTable("x", ("b",))), "text"),
        ("patients", (ChildTable("x", ()),), "text"),
        ("patients", (ChildTable("x", ("a", "a")),), "text"),
        ("patients", (ChildTable("x", ["a"]),), "text"),  # type: ignore[arg-type]
        ("patients", (ChildTable("X", ("a",)),), "text"),
        ("patients", "vitals", "text"),
        ("patients", (), "bigint"),
    ],
)
async def test_names_and_arguments_the_layout_cannot_take_are_refused(
    store: Store, resource: str, children: Any, key: Any
) -> None:
    with pytest.raises(InvalidRequestError):
        await store.ensure_resource(resource, [], key=key, children=children)
    with pytest.raises(InvalidRequestError):
        await store.ensure_resource("patients", [Column("x", "text", indexed="yes")])  # type: ignore[arg-type]


async def test_reads_of_an_integer_table_opened_fresh_know_its_key(backend: Backend) -> None:
    async with backend.new() as store:
        await store.ensure_resource("doctors", [], key="integer")
        await store.write("doctors", [row("5")])
    async with backend.new() as store:  # no ensure_resource: the key comes from the table
        assert await store.get("doctors", "5") == {"id": "5"}
        with pytest.raises(InvalidRequestError):
            await store.get("doctors", "05")
        assert await store.checksum("doctors") == payload_checksum([("5", {"id": "5"})])


async def test_a_write_to_a_table_keyed_anew_elsewhere_fails_typed(backend: Backend) -> None:
    async with backend.new() as store:
        await store.ensure_resource("doctors", [], key="text")
        await store.write("doctors", [row("D-1")])
        with pytest.raises(StoreError):
            await store.ensure_resource("doctors", [], key="integer")
        assert await store.ids("doctors") == {"D-1"}
