"""Both stores against one set of tests: the upsert rule, one transaction per write,
tombstones, columns, identifiers, reads, checksums."""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
from decimal import Decimal
from typing import Any

import pytest

from drchrono_async.errors import InvalidRequestError, StoreError
from drchrono_async.sync import (
    Column,
    PostgresStore,
    Row,
    SQLiteStore,
    SyncStore,
    WriteResult,
    payload_checksum,
)

from .conftest import Backend

Store = SQLiteStore | PostgresStore

COLUMNS = [
    Column("patient", "integer"),
    Column("reason", "text"),
    Column("price", "decimal"),
    Column("duration", "real"),
    Column("is_walk_in", "boolean"),
    Column("day", "date"),
    Column("start", "time"),
    Column("scheduled_time", "timestamp"),
    Column("id", "integer"),  # a base column's name: left to the payload
    Column("updated_at", "text"),
]


def ts(n: int) -> str:
    return f"2024-05-01T09:00:{n:02d}.000000"


def row(id: str, n: int | None, *, deleted: bool = False, **columns: Any) -> Row:
    """A record version `n` (its updated_at second), or unversioned when n is None."""
    payload = {"id": int(id), "version": n, "reason": f"r{n}"}
    return Row(id, None if n is None else ts(n), payload, columns, deleted)


async def test_both_stores_satisfy_the_protocol(store: Store) -> None:
    assert isinstance(store, SyncStore)


async def test_upsert_rule_older_is_skipped_equal_is_unchanged_newer_is_written(
    store: Store,
) -> None:
    await store.ensure_resource("appointments", COLUMNS)
    assert await store.write("appointments", [row("1", 5), row("2", 5), row("3", None)]) == (
        WriteResult(written=3, skipped=0, marked_deleted=0)
    )
    result = await store.write(
        "appointments",
        [row("1", 4), row("2", 5), row("3", 1)],  # older; equal; versioned over unversioned
    )
    assert result == WriteResult(written=1, skipped=1, marked_deleted=0, unchanged=1)
    assert (await store.get("appointments", "1")) == row("1", 5).payload
    assert (await store.get("appointments", "3")) == row("3", 1).payload
    result = await store.write("appointments", [row("1", 6), row("2", None)])
    assert result == WriteResult(written=2, skipped=0, marked_deleted=0)  # newer; unversioned
    assert (await store.get("appointments", "1"))["version"] == 6  # type: ignore[index]
    assert (await store.get("appointments", "2"))["version"] is None  # type: ignore[index]


async def test_an_id_repeated_in_one_page_ends_at_its_newest_version(store: Store) -> None:
    await store.ensure_resource("patients", [])
    result = await store.write("patients", [row("1", 1), row("1", 3), row("1", 2), row("2", 1)])
    assert result == WriteResult(written=3, skipped=1, marked_deleted=0)
    assert (await store.get("patients", "1"))["version"] == 3  # type: ignore[index]
    assert await store.count("patients") == 2


async def _fail_on_id(backend: Backend, resource: str, rid: str) -> None:
    """A trigger that makes the database refuse one row mid-write (a failure no check of
    the store's can see coming)."""
    if backend.kind == "sqlite":
        import sqlite3

        with sqlite3.connect(backend.where) as conn:
            conn.execute(
                f"CREATE TRIGGER refuse BEFORE INSERT ON {resource} WHEN NEW.id = '{rid}'"
                " BEGIN SELECT RAISE(ABORT, 'SECRET-refused'); END"
            )
        return
    import psycopg

    from .conftest import POSTGRES_DSN

    async with await psycopg.AsyncConnection.connect(POSTGRES_DSN, autocommit=True) as conn:
        await conn.execute(
            f'CREATE FUNCTION "{backend.where}".refuse() RETURNS trigger LANGUAGE plpgsql AS'
            f" $$ BEGIN IF NEW.id = '{rid}' THEN RAISE EXCEPTION 'SECRET-refused'; END IF;"
            " RETURN NEW; END $$"
        )
        await conn.execute(
            f'CREATE TRIGGER refuse BEFORE INSERT ON "{backend.where}".{resource}'
            f' FOR EACH ROW EXECUTE FUNCTION "{backend.where}".refuse()'
        )


async def test_a_failing_write_leaves_neither_rows_nor_checkpoint(
    store: Store, backend: Backend
) -> None:
    await store.ensure_resource("appointments", COLUMNS)
    await store.write("appointments", [row("1", 1)], checkpoint={"page": 1})
    await _fail_on_id(backend, "appointments", "3")
    page = [row("2", 1), row("3", 1), row("4", 1)]  # the database refuses id 3 mid-way
    with pytest.raises(StoreError) as info:
        await store.write("appointments", page, checkpoint={"page": 2}, delete_ids=["1", "99"])
    assert "SECRET" not in str(info.value) and info.value.__cause__ is None
    assert "write of appointments failed" in str(info.value)
    assert await store.checkpoint("appointments") == {"page": 1}
    assert await store.ids("appointments", deleted=None) == {"1"}
    assert await store.is_deleted("appointments", "1") is False
    # The store is usable afterwards.
    await store.write("appointments", [row("2", 1)], checkpoint={"page": 2})
    assert await store.ids("appointments") == {"1", "2"}


async def test_a_row_for_a_column_the_table_lacks_is_refused_before_writing(
    store: Store,
) -> None:
    await store.ensure_resource("appointments", COLUMNS)
    with pytest.raises(InvalidRequestError) as info:
        await store.write("appointments", [row("1", 1), row("2", 1, nosuch=1)], checkpoint={})
    assert "nosuch" in str(info.value)
    assert await store.ids("appointments", deleted=None) == set()
    assert await store.checkpoint("appointments") is None


async def test_typed_columns_hold_the_values(store: Store, backend: Backend) -> None:
    await store.ensure_resource("appointments", COLUMNS)
    values = {
        "patient": 2**62,
        "reason": "checkup",
        "price": Decimal("12.50"),
        "duration": 30,
        "is_walk_in": True,
        "day": dt.date(2024, 5, 1),
        "start": dt.time(9, 30),
        "scheduled_time": dt.datetime(2024, 5, 1, 9, 30),
    }
    await store.write("appointments", [row("1", 1, **values), row("2", 1)])
    got = {name: await backend.column("appointments", name, "1") for name in values}
    if backend.kind == "sqlite":
        expected = {
            **values,
            "price": "12.50",  # exact, as text
            "duration": 30.0,
            "is_walk_in": 1,
            "day": "2024-05-01",
            "start": "09:30:00",
            "scheduled_time": "2024-05-01T09:30:00",
        }
    else:
        expected = {**values, "duration": 30.0}
    assert got == expected
    assert await backend.column("appointments", "patient", "2") is None
    # A version: ISO text in SQLite, a timestamp in PostgreSQL.
    version = await backend.column("appointments", "updated_at", "1")
    assert version == (ts(1) if backend.kind == "sqlite" else dt.datetime(2024, 5, 1, 9, 0, 1))


async def test_ensure_resource_adds_missing_columns_and_never_drops(backend: Backend) -> None:
    async with backend.new() as store:
        await store.ensure_resource("patients", [Column("first_name", "text")])
        await store.write("patients", [row("1", 1, first_name="Ann")])
        await store.ensure_resource(
            "patients", [Column("first_name", "text"), Column("chart_id", "text")]
        )
        await store.write("patients", [row("2", 1, first_name="Bob", chart_id="C2")])
    assert await backend.column("patients", "first_name", "1") == "Ann"
    assert await backend.column("patients", "chart_id", "1") is None
    assert await backend.column("patients", "chart_id", "2") == "C2"
    async with backend.new() as store:  # a later version that no longer declares chart_id
        await store.ensure_resource("patients", [Column("first_name", "text")])
        await store.write("patients", [row("2", 2, first_name="Bob")])
        with pytest.raises(InvalidRequestError):
            await store.write("patients", [row("3", 1, chart_id="C3")])
        assert await store.get("patients", "1") == row("1", 1).payload  # rows kept
    assert await backend.column("patients", "chart_id", "2") is None  # the new version's


@pytest.mark.parametrize(
    "name",
    [
        'x"; DROP TABLE patients; --',
        "Appointments",
        "",
        "1abc",
        "a" * 64,
        "_checkpoints",
        "_tokens",
        "line-items",
        "pätients",
        "a b",
    ],
)
async def test_hostile_names_are_refused(store: Store, name: str) -> None:
    for call in (
        store.ensure_resource(name, []),
        store.ensure_resource("ok", [Column(name, "text")]),
        store.write(name, []),
        store.get(name, "1"),
        store.count(name),
        store.ids(name),
        store.is_deleted(name, "1"),
        store.checkpoint(name),
        store.checksum(name),
    ):
        with pytest.raises(InvalidRequestError) as info:
            await call
        assert not name or name not in str(info.value)


async def test_sqlite_reserved_names_are_refused(tmp_path: Any) -> None:
    async with SQLiteStore(tmp_path / "s.db") as store:
        with pytest.raises(InvalidRequestError):
            await store.ensure_resource("sqlite_master", [])


async def test_delete_marks_keep_the_payload_and_only_a_newer_version_revives(
    store: Store,
) -> None:
    await store.ensure_resource("patients", [])
    await store.write("patients", [row("1", 5), row("2", 5)])
    result = await store.write("patients", [], delete_ids=["1", "1"])
    assert result == WriteResult(written=0, skipped=0, marked_deleted=1)
    assert await store.is_deleted("patients", "1") is True
    assert await store.get("patients", "1") == row("1", 5).payload  # marking keeps the payload
    again = await store.write("patients", [row("1", 5), row("1", 4)], delete_ids=["1"])
    assert again == WriteResult(written=0, skipped=2, marked_deleted=0)  # redeliveries
    assert (await store.count("patients"), await store.count("patients", deleted=True)) == (1, 1)
    assert await store.write("patients", [row("1", 6)]) == WriteResult(1, 0, 0)
    assert await store.is_deleted("patients", "1") is False


async def test_a_delete_of_an_unknown_id_leaves_a_tombstone(store: Store) -> None:
    await store.ensure_resource("patients", [])
    result = await store.write("patients", [], delete_ids=["7"])
    assert result == WriteResult(written=0, skipped=0, marked_deleted=1)
    assert await store.get("patients", "7") is None
    assert await store.is_deleted("patients", "7") is True
    assert await store.is_deleted("patients", "8") is None
    late = await store.write("patients", [row("7", 3)])  # a late redelivery of its creation
    assert late == WriteResult(written=0, skipped=1, marked_deleted=0)
    assert await store.get("patients", "7") is None
    assert await store.ids("patients", deleted=True) == {"7"}
    assert await store.ids("patients") == set()


async def test_rows_arriving_deleted_are_counted_as_deleted(store: Store) -> None:
    await store.ensure_resource("patients", [])
    await store.write("patients", [row("1", 1), row("2", 1, deleted=True), row("3", 1)])
    assert await store.count("patients") == 2
    assert await store.count("patients", deleted=True) == 1
    assert await store.ids("patients") == {"1", "3"}
    assert await store.ids("patients", deleted=True) == {"2"}
    assert await store.ids("patients", deleted=None) == {"1", "2", "3"}
    assert await store.get("patients", "2") == row("2", 1).payload


async def test_reads_of_a_resource_never_written(store: Store) -> None:
    assert await store.get("nothing", "1") is None
    assert await store.is_deleted("nothing", "1") is None
    assert await store.count("nothing") == 0
    assert await store.ids("nothing", deleted=None) == set()
    assert await store.checkpoint("nothing") is None
    assert await store.checksum("nothing") == hashlib.sha256(b"").hexdigest()
    with pytest.raises(InvalidRequestError):
        await store.write("nothing", [row("1", 1)])  # ensure_resource first


async def test_checkpoint_round_trip_and_none_keeps_it(store: Store) -> None:
    await store.ensure_resource("patients", [])
    checkpoint = {"since": "2024-05-01T00:00:00", "cursor": None, "n": [1, 2]}
    await store.write("patients", [row("1", 1)], checkpoint=checkpoint)
    await store.write("patients", [row("2", 1)])
    assert await store.checkpoint("patients") == checkpoint
    assert await store.checkpoint("appointments") is None
    with pytest.raises(InvalidRequestError):
        await store.write("patients", [], checkpoint={"bad": {1, 2}})


PAYLOADS: list[dict[str, Any]] = [
    {"id": 1, "big": 2**62, "neg": -(2**63), "digits": "007", "float": 0.1, "whole": 3.0},
    {"id": 2, "nested": {"b": [1, "2", None, True, {"z": []}], "a": {}}, "empty": ""},
    {"id": 3, "text": 'Zoë 🩺 "quoted" \\ back\\u0000slash', "nul": "a\u0000b", "ctl": "\x01\n"},
    {"id": 4, "price": "12.50", "flag": False, "none": None, "list": []},
]


async def test_payloads_read_back_equal_with_their_types(store: Store) -> None:
    await store.ensure_resource("items", [Column("text", "text"), Column("nul", "text")])
    rows = [Row(str(p["id"]), None, p, {"nul": p.get("nul")}) for p in PAYLOADS]
    await store.write("items", rows)
    for payload in PAYLOADS:
        got = await store.get("items", str(payload["id"]))
        assert got == payload
        assert got is not None
        for key, value in payload.items():
            assert type(got[key]) is type(value), key


async def test_checksum_is_over_live_rows_and_matches_payload_checksum(store: Store) -> None:
    await store.ensure_resource("items", [])
    rows = [Row(str(p["id"]), None, p, {}) for p in PAYLOADS]
    rows.append(Row("10", None, {"id": 10, "b": 1, "a": 2}, {}))  # "10" sorts before "2"
    await store.write("items", rows[::-1])
    expected = payload_checksum((r.id, r.payload) for r in rows)
    assert await store.checksum("items") == expected
    reordered = {"a": 2, "id": 10, "b": 1}  # key order does not matter
    assert payload_checksum([(r.id, r.payload) for r in rows[:-1]] + [("10", reordered)]) == (
        expected
    )
    await store.write("items", [], delete_ids=["3", "99"])
    live = [(r.id, r.payload) for r in rows if r.id != "3"]
    assert await store.checksum("items") == payload_checksum(live)
    await store.write("items", [Row("1", None, {**PAYLOADS[0], "digits": "008"}, {})])
    assert await store.checksum("items") != payload_checksum(live)


def test_payload_checksum_format() -> None:
    # Spelled out so that another implementation (the emulator's) can match it: ids sorted as
    # text ("10" before "2"), each "id\n" + canonical JSON + "\n".
    data = b'10\n{"id":10}\n2\n{"a":1,"id":2}\n'
    got = payload_checksum([("2", {"id": 2, "a": 1}), ("10", {"id": 10})])
    assert got == hashlib.sha256(data).hexdigest()


async def test_closed_store_raises_and_closes_twice(backend: Backend) -> None:
    store = backend.new()
    with pytest.raises(StoreError):
        await store.count("patients")
    await store.open()
    await store.open()  # idempotent
    await store.ensure_resource("patients", [])
    await store.aclose()
    await store.aclose()
    await store.close()  # the older name of aclose, kept
    with pytest.raises(StoreError):
        await store.get("patients", "1")
    async with backend.new() as again:  # the data outlived the connection
        assert await again.count("patients") == 0
    with pytest.raises(StoreError):  # leaving `async with` closed it
        await again.count("patients")
    await store.open()  # a closed store opens again
    assert await store.count("patients") == 0
    await store.close()


async def test_concurrent_calls_on_one_store_do_not_mix_transactions(store: Store) -> None:
    resources = [f"r{i}" for i in range(8)]
    for resource in resources:
        await store.ensure_resource(resource, [Column("n", "integer")])

    async def sync(resource: str) -> None:
        for page in range(5):
            rows = [Row(f"{page}-{i}", None, {"i": i}, {"n": i}) for i in range(20)]
            await store.write(resource, rows, checkpoint={"page": page})
            assert await store.count(resource) == 20 * (page + 1)

    await asyncio.gather(*map(sync, resources))
    for resource in resources:
        assert await store.checkpoint(resource) == {"page": 4}


async def test_a_delivery_id_is_claimed_with_its_rows_and_only_once(store: Store) -> None:
    await store.ensure_resource("appointments", COLUMNS)
    first = Row("1", "2026-01-01T10:00:00.000000", {"id": 1, "v": "first"}, {})
    again = Row("1", "2026-01-01T11:00:00.000000", {"id": 1, "v": "again"}, {})
    assert not await store.delivery_handled("d-1")
    result = await store.write("appointments", [first], delivery_id="d-1")
    assert result.written == 1 and not result.duplicate
    assert await store.delivery_handled("d-1")
    # The same delivery again (a redelivery racing the first): nothing is written.
    result = await store.write("appointments", [again], delivery_id="d-1")
    assert result.duplicate and result.written == 0
    assert await store.get("appointments", "1") == {"id": 1, "v": "first"}
    # A failing write claims nothing: its transaction rolled back whole.
    with pytest.raises(InvalidRequestError):
        await store.write(
            "appointments", [Row("2", None, {"id": 2}, {"nope": 1})], delivery_id="d-2"
        )
    assert not await store.delivery_handled("d-2")


async def test_marked_deliveries_are_kept_for_their_retention_then_forgotten(
    store: Store,
) -> None:
    await store.mark_delivery("old", retention=3600)
    await store.mark_delivery("old", retention=3600)  # twice is fine
    assert await store.delivery_handled("old")
    # A mark with a retention of zero forgets every earlier one.
    await store.mark_delivery("new", retention=0)
    assert not await store.delivery_handled("old")
    for bad in ("", "x" * 201, "a\nb", 5):
        with pytest.raises(InvalidRequestError):
            await store.delivery_handled(bad)  # type: ignore[arg-type]
