"""Both stores: nested objects as child tables (`<resource>__<child>`): rows, inferred
columns, safe names, bounds, and when the rows of a parent are replaced."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest

from drchrono_async.errors import StoreError
from drchrono_async.sync import Column, PostgresStore, Row, SQLiteStore
from drchrono_async.sync._children import MAX_COLUMNS, MAX_ITEMS, column_name
from drchrono_async.sync._store import ChildTable

from .conftest import Backend
from .test_stores import _fail_on_id

Store = SQLiteStore | PostgresStore
VITALS = ChildTable("vitals", ("vitals",))
TRANSITIONS = ChildTable("status_transitions", ("status_transitions",))
INSURANCES = ChildTable("insurances", ("primary_insurance", "secondary_insurance"))


def ts(n: int) -> str:
    return f"2024-05-01T09:00:{n:02d}.000000"


def visit(id_: str, n: int, **payload: Any) -> Row:
    return Row(id_, ts(n), {"id": id_, **payload}, {})


async def columns(backend: Backend, table: str) -> dict[str, str]:
    if backend.kind == "sqlite":
        query = f"SELECT name, upper(type) FROM pragma_table_info('{table}')"
    else:
        query = (
            "SELECT column_name, data_type FROM information_schema.columns"
            f" WHERE table_schema = current_schema() AND table_name = '{table}'"
            " ORDER BY ordinal_position"
        )
    return {str(n): str(t) for n, t in await backend.sql(query)}


async def test_items_become_rows_with_their_source_position_and_payload(
    store: Store, backend: Backend
) -> None:
    await store.ensure_resource("appointments", [], children=[VITALS, TRANSITIONS])
    await store.ensure_resource("patients", [], key="integer", children=[INSURANCES])
    transitions = [{"to_status": "Arrived"}, "a note", None, {"to_status": "Complete"}]
    await store.write(
        "appointments",
        [
            visit("1", 1, vitals={"weight": 180.5}, status_transitions=transitions),
            visit("2", 1, vitals=None, status_transitions="not a list"),
            visit("3", 1),
        ],
    )
    insurance = {"insurance_company": "Acme", "is_subscriber_the_patient": True}
    await store.write(
        "patients",
        [
            Row(
                "7",
                ts(1),
                {"primary_insurance": insurance, "secondary_insurance": {**insurance, "rank": 2}},
                {},
            )
        ],
    )
    got = await backend.sql(
        "SELECT parent_id, source, position, to_status FROM appointments__status_transitions"
        " ORDER BY position"
    )
    assert got == [
        ("1", "status_transitions", 0, "Arrived"),
        ("1", "status_transitions", 1, None),
        ("1", "status_transitions", 2, None),
        ("1", "status_transitions", 3, "Complete"),
    ]
    assert await backend.sql("SELECT parent_id, position, weight FROM appointments__vitals") == [
        ("1", 0, 180.5)
    ]
    payloads = await backend.sql(
        "SELECT payload FROM appointments__status_transitions ORDER BY position"
    )
    if backend.kind == "sqlite":
        import orjson

        payloads = [(orjson.loads(p),) for (p,) in payloads]
    assert [p for (p,) in payloads] == transitions  # each item's JSON as received
    got = await backend.sql(
        "SELECT parent_id, source, position, insurance_company, rank"
        " FROM patients__insurances ORDER BY source"
    )
    assert got == [
        (7, "primary_insurance", 0, "Acme", None),
        (7, "secondary_insurance", 0, "Acme", 2),
    ]


async def test_columns_are_typed_by_the_first_json_value_of_their_key(
    store: Store, backend: Backend, caplog: pytest.LogCaptureFixture
) -> None:
    await store.ensure_resource("appointments", [], children=[VITALS])
    first = {
        "height": 70,
        "weight": 180.5,
        "fasting": True,
        "taken": "2024-05-01",  # a string that looks like a date stays text
        "nested": {"a": 1},
        "later": None,
        "many": [1, 2],
    }
    await store.write("appointments", [visit("1", 1, vitals=first)])
    types = await columns(backend, "appointments__vitals")
    if backend.kind == "sqlite":
        expected = {"height": "INTEGER", "weight": "REAL", "fasting": "INTEGER", "taken": "TEXT"}
    else:
        expected = {
            "height": "bigint",
            "weight": "double precision",
            "fasting": "boolean",
            "taken": "text",
        }
    assert {k: v for k, v in types.items() if k in expected or k in first} == expected
    # A whole number then one with a fraction is one number: the column becomes real. Later
    # values of another type are misfits: NULL there, kept in the payload, warned of.
    later = {"height": 70.5, "weight": 181, "fasting": "yes", "taken": 5, "later": "now"}
    with caplog.at_level(logging.WARNING, logger="drchrono_async.sync"):
        result = await store.write("appointments", [visit("2", 1, vitals=later)])
    assert result.misfits == 2
    got = await backend.sql(
        "SELECT height, weight, fasting, taken, later FROM appointments__vitals ORDER BY parent_id"
    )
    assert got == [(70, 180.5, True, "2024-05-01", None), (70.5, 181.0, None, None, "now")]
    if backend.kind == "postgres":
        assert (await columns(backend, "appointments__vitals"))["height"] == "double precision"
    text = " ".join(r.getMessage() for r in caplog.records)
    assert "appointments__vitals 2: field fasting" in text and "field height" not in text
    assert "yes" not in text and "70.5" not in text
    # A new key seen whole and with a fraction in one write is real from the start.
    mixed = [visit("3", 1, vitals={"pulse": 60}), visit("4", 1, vitals={"pulse": 61.5})]
    assert (await store.write("appointments", mixed)).misfits == 0
    got = await backend.sql("SELECT pulse FROM appointments__vitals WHERE pulse IS NOT NULL")
    assert sorted(v for (v,) in got) == [60, 61.5]


def test_keys_become_safe_names_deterministically() -> None:
    taken: list[str] = []

    def name(key: str) -> str:
        out = column_name(key, taken)
        taken.append(out)
        return out

    assert name("Blood-Pressure 1") == "blood_pressure_1"
    assert name("blood_pressure_1") == "blood_pressure_1_2"  # the first key keeps the name
    assert name("BLOOD PRESSURE 1") == "blood_pressure_1_3"
    assert name("1st") == "f_1st"
    assert name("position") == "f_position"  # a base column's name
    assert name("payload_text") == "f_payload_text"
    assert name("") == "f_"
    assert name("Größe") == "gr__e"
    assert name('x"; DROP TABLE patients; --') == "x___drop_table_patients____"
    assert name("k" * 100) == "k" * 63
    assert name("k" * 99) == "k" * 61 + "_2"


async def test_names_and_types_are_kept_across_sessions_and_stores_alike(
    backend: Backend,
) -> None:
    async with backend.new() as store:
        await store.ensure_resource("appointments", [], children=[VITALS])
        await store.write("appointments", [visit("1", 1, vitals={"Weight": 1, "n": "a"})])
    async with backend.new() as store:
        await store.ensure_resource("appointments", [], children=[VITALS])
        # Seen first now, but "weight" came second: it takes the next name, not "weight".
        await store.write("appointments", [visit("2", 1, vitals={"weight": 2.5, "Weight": 3})])
    got = await backend.sql(
        "SELECT parent_id, weight, weight_2, n FROM appointments__vitals ORDER BY parent_id"
    )
    assert got == [("1", 1, None, "a"), ("2", 3, 2.5, None)]
    mapping = await backend.sql("SELECT key, name, type FROM _child_columns ORDER BY ordinal")
    assert mapping == [
        ("Weight", "weight", "integer"),
        ("n", "n", "text"),
        ("weight", "weight_2", "real"),
    ]


async def test_bounds_on_columns_items_and_keys(
    store: Store, backend: Backend, caplog: pytest.LogCaptureFixture
) -> None:
    await store.ensure_resource("appointments", [], children=[VITALS, TRANSITIONS])
    wide = {f"k{i:03d}": i for i in range(MAX_COLUMNS + 30)}
    wide["x" * 201] = 1  # too long a key for a column: payload only
    many = [{"to_status": f"s{i}", "secret": "SECRET"} for i in range(MAX_ITEMS + 5)]
    with caplog.at_level(logging.WARNING, logger="drchrono_async.sync"):
        await store.write("appointments", [visit("1", 1, vitals=wide, status_transitions=many)])
    typed = set(await columns(backend, "appointments__vitals")) - {
        "parent_id",
        "source",
        "position",
        "payload",
        "payload_text",
    }
    assert typed == {f"k{i:03d}" for i in range(MAX_COLUMNS)}
    count = await backend.sql(
        "SELECT count(*), max(position) FROM appointments__status_transitions"
    )
    assert count == [(MAX_ITEMS, MAX_ITEMS - 1)]
    said = [r.getMessage() for r in caplog.records if "items" in r.getMessage()]
    assert said and "appointments 1: status_transitions holds over 1000 items" in said[0]
    assert not any("SECRET" in r.getMessage() for r in caplog.records)
    assert (await store.get("appointments", "1") or {})["status_transitions"] == many


async def test_children_are_replaced_only_when_the_upsert_writes_their_parent(
    store: Store, backend: Backend
) -> None:
    await store.ensure_resource("appointments", [], children=[VITALS])

    async def weights() -> list[tuple[Any, ...]]:
        return await backend.sql(
            "SELECT parent_id, weight FROM appointments__vitals ORDER BY parent_id"
        )

    await store.write(
        "appointments",
        [visit("1", 5, vitals={"weight": 1.5}), visit("2", 5, vitals={"weight": 2.5})],
    )
    # An older version: skipped, and so are its children; a newer one replaces them.
    result = await store.write(
        "appointments", [visit("1", 4, vitals={"weight": 9.5}), visit("2", 6, vitals=None)]
    )
    assert (result.written, result.skipped) == (1, 1)
    assert await weights() == [("1", 1.5)]
    # A page repeating an id ends with its last written version's children.
    await store.write(
        "appointments",
        [visit("3", 1, vitals={"weight": 3.0}), visit("3", 2, vitals={"weight": 3.5})],
    )
    assert await weights() == [("1", 1.5), ("3", 3.5)]
    # Marks and tombstones leave children alone; so does a stale mark of a held row.
    await store.write("appointments", [], delete_ids=["1", "9"])
    await store.mark_stale("appointments", visit("3", 9, vitals={"weight": 0.5}), at=ts(9))
    assert await weights() == [("1", 1.5), ("3", 3.5)]
    # A stale mark that inserts its row writes its children; a row arriving deleted too.
    await store.mark_stale("appointments", visit("4", 1, vitals={"weight": 4.5}), at=ts(9))
    await store.write(
        "appointments", [Row("5", ts(1), {"vitals": {"weight": 5.5}}, {}, deleted=True)]
    )
    assert await weights() == [("1", 1.5), ("3", 3.5), ("4", 4.5), ("5", 5.5)]


@pytest.mark.parametrize("size", [3, 40], ids=["small-page", "bulk-page"])
async def test_each_write_path_replaces_the_children_of_what_it_wrote(
    store: Store, backend: Backend, size: int
) -> None:
    # PostgreSQL writes a small page in one statement, a page of new ids by COPY, a page of
    # held ids through its staging table: each must say which rows it wrote.
    await store.ensure_resource("appointments", [], children=[VITALS])
    ids = [str(i) for i in range(size)]
    await store.write("appointments", [visit(i, 1, vitals={"n": 1}) for i in ids])
    older = [visit(i, 0, vitals={"n": 0}) for i in ids[: size // 2]]
    newer = [visit(i, 2, vitals={"n": 2}) for i in ids[size // 2 :]]
    result = await store.write("appointments", older + newer)
    assert (result.written, result.skipped) == (len(newer), len(older))
    got = dict(await backend.sql("SELECT parent_id, n FROM appointments__vitals"))
    assert got == {i: (1 if i in ids[: size // 2] else 2) for i in ids}


async def test_a_failed_write_takes_its_new_columns_with_it(store: Store, backend: Backend) -> None:
    await store.ensure_resource("appointments", [], children=[VITALS])
    await store.write("appointments", [visit("1", 1, vitals={"weight": 1.5})])
    await _fail_on_id(backend, "appointments", "3")
    with pytest.raises(StoreError):
        await store.write(
            "appointments",
            [visit("2", 1, vitals={"pulse": 60}), visit("3", 1, vitals={"pulse": 61})],
        )
    assert "pulse" not in await columns(backend, "appointments__vitals")
    assert await backend.sql("SELECT key FROM _child_columns") == [("weight",)]
    await store.write("appointments", [visit("2", 1, vitals={"pulse": 60})])  # added now
    assert await backend.sql(
        "SELECT parent_id, pulse FROM appointments__vitals WHERE pulse IS NOT NULL"
    ) == [("2", 60)]


async def test_a_child_table_added_later_is_filled_from_stored_payloads(
    store: Store, backend: Backend
) -> None:
    await store.ensure_resource("appointments", [Column("n", "integer")])
    rows = [visit(str(i), 1, vitals={"weight": i + 0.5}) for i in range(1200)]  # >1 page
    await store.write("appointments", rows, delete_ids=["7"])
    await store.ensure_resource("appointments", [Column("n", "integer")], children=[VITALS])
    got = await backend.sql("SELECT count(*), sum(weight) FROM appointments__vitals")
    assert got == [(1200, sum(i + 0.5 for i in range(1200)))]  # the marked one's payload too


async def test_postgres_keeps_u0000_of_an_item_exact(pg_backend: Backend) -> None:
    async with pg_backend.new() as store:
        await store.ensure_resource("appointments", [], children=[VITALS])
        result = await store.write("appointments", [visit("1", 1, vitals={"note": "a\u0000b"})])
        assert result.misfits == 1  # text cannot hold it: NULL, kept in the payload
    got = await pg_backend.sql("SELECT note, payload, payload_text FROM appointments__vitals")
    assert got == [(None, {"note": "a\ufffdb"}, '{"note":"a\\u0000b"}')]


async def test_writers_meeting_the_same_new_key_add_one_column(pg_backend: Backend) -> None:
    stores = [pg_backend.new() for _ in range(4)]
    for store in stores:
        await store.open()
        await store.ensure_resource("appointments", [], children=[VITALS])
    try:
        await asyncio.gather(
            *(
                store.write("appointments", [visit(str(n), 1, vitals={"pulse": n})])
                for n, store in enumerate(stores)
            )
        )
    finally:
        for store in stores:
            await store.aclose()
    assert await pg_backend.sql("SELECT name FROM _child_columns") == [("pulse",)]
    got = await pg_backend.sql("SELECT parent_id, pulse FROM appointments__vitals ORDER BY 1")
    assert got == [(str(n), n) for n in range(4)]


@pytest.mark.parametrize("size", [3, 40], ids=["small-page", "bulk-page"])
async def test_children_left_by_a_parent_deleted_by_hand_do_not_stop_its_writes(
    store: Store, backend: Backend, size: int
) -> None:
    await store.ensure_resource("appointments", [], children=[VITALS])
    ids = [str(i) for i in range(size)]
    await store.write("appointments", [visit(i, 1, vitals={"n": 1}) for i in ids])
    await backend.sql("DELETE FROM appointments")  # its child rows stay behind
    await store.write("appointments", [visit(i, 2, vitals={"n": 2}) for i in ids])
    got = await backend.sql("SELECT parent_id, n FROM appointments__vitals")
    assert dict(got) == dict.fromkeys(ids, 2) and len(got) == size


async def test_the_primary_key_serves_look_ups_by_parent(store: Store, backend: Backend) -> None:
    # (parent_id, source, position): its index leads with parent_id, so a second index on
    # parent_id would only slow every write down.
    await store.ensure_resource("appointments", [], children=[VITALS])
    await store.write("appointments", [visit("1", 1, vitals={"n": 1})])
    if backend.kind == "sqlite":
        plan = await backend.sql(
            "EXPLAIN QUERY PLAN SELECT * FROM appointments__vitals WHERE parent_id = '1'"
        )
        assert "USING INDEX" in plan[0][-1] and "(parent_id=?)" in plan[0][-1]
    else:
        found = await backend.sql(
            "SELECT indexdef FROM pg_indexes WHERE schemaname = current_schema()"
            " AND tablename = 'appointments__vitals'"
        )
        assert [d for (d,) in found if '(parent_id, source, "position")' in d]
