"""PostgresStore only: no DSN secret anywhere, reconnecting, schemas apart, U+0000."""

from __future__ import annotations

import asyncio
import logging

import psycopg
import pytest

from drchrono_async.errors import InvalidRequestError, StoreError, StoreTimeoutError
from drchrono_async.sync import Column, PostgresStore, Row, WriteResult

from .conftest import POSTGRES_DSN, Backend


async def test_dsn_password_is_in_no_repr_or_error() -> None:
    store = PostgresStore("postgresql://sync:SECRETpw@127.0.0.1:1/test?connect_timeout=5")
    assert "SECRET" not in repr(store)
    with pytest.raises(StoreError) as info:
        await store.open()
    assert "SECRET" not in str(info.value) and info.value.__cause__ is None
    with pytest.raises(InvalidRequestError) as bad:
        PostgresStore("host=x password=SECRET port")
    assert "SECRET" not in str(bad.value)
    with pytest.raises(InvalidRequestError):
        PostgresStore(POSTGRES_DSN, schema='x"; DROP SCHEMA public; --')


async def _kill_sessions(schema: str) -> int:
    """Terminate every session the store of `schema` holds; returns how many."""
    async with await psycopg.AsyncConnection.connect(POSTGRES_DSN, autocommit=True) as admin:
        cur = await admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = %s",
            (f"drchrono-async:{schema}"[:63],),
        )
        return len(await cur.fetchall())


async def test_a_connection_that_died_idle_is_replaced_before_any_statement(
    pg_backend: Backend,
) -> None:
    # idle_check=0: every hand-out is checked (by default, connections idle for a second).
    async with PostgresStore(POSTGRES_DSN, schema=pg_backend.where, idle_check=0) as store:
        await store.ensure_resource("patients", [])
        await store.write("patients", [Row("1", None, {"id": 1}, {})])
        # A server restart, an idle timeout, a pooler recycling it: the next operation, and
        # the next page of a sync, go through on a new connection instead of failing.
        assert await _kill_sessions(pg_backend.where) >= 1
        assert await store.count("patients") == 1
        assert await _kill_sessions(pg_backend.where) >= 1
        await store.write("patients", [Row("2", None, {"id": 2}, {})])
        assert await store.count("patients") == 2
        assert await store.count("patients") == 2


async def test_schemas_are_apart_and_nul_is_kept_exact(pg_backend: Backend) -> None:
    other_schema = pg_backend.where + "_b"
    try:
        async with pg_backend.new() as a, PostgresStore(POSTGRES_DSN, schema=other_schema) as b:
            await a.ensure_resource("patients", [Column("name", "text")])
            await b.ensure_resource("patients", [Column("name", "text")])
            payload = {"id": 1, "name": "A\u0000B"}
            await a.write("patients", [Row("1", None, payload, {"name": "A\u0000B"})])
            assert await b.count("patients") == 0
            assert await a.get("patients", "1") == payload
        # text cannot hold it: the column is NULL (a misfit), the payload exact.
        assert await pg_backend.column("patients", "name", "1") is None
        assert await pg_backend.column("patients", "payload", "1") == {"id": 1, "name": "A\ufffdB"}
    finally:
        async with await psycopg.AsyncConnection.connect(POSTGRES_DSN, autocommit=True) as c:
            await c.execute(f'DROP SCHEMA IF EXISTS "{other_schema}" CASCADE')


@pytest.mark.parametrize("extra", [1, 20], ids=["small-page", "bulk-copy-page"])
async def test_an_id_inserted_by_another_writer_meanwhile_goes_through_the_rule(
    pg_backend: Backend, extra: int
) -> None:
    async with pg_backend.new() as store:
        await store.ensure_resource("patients", [])
        table = f'"{pg_backend.where}".patients'
        async with await psycopg.AsyncConnection.connect(POSTGRES_DSN) as other:
            # Another writer holds a newer version of id 5, not committed yet: the store's
            # look-up does not see it, and its COPY of id 5 waits on the other's lock.
            await other.execute(
                f"INSERT INTO {table} (id, payload, updated_at, deleted, synced_at)"
                " VALUES ('5', '{\"v\": \"other\"}', '2024-05-01T09:00:09.000000', false, now())"
            )
            write = asyncio.create_task(
                store.write(
                    "patients",
                    [
                        Row("5", "2024-05-01T09:00:01.000000", {"v": "mine"}, {}),
                        *(Row(str(100 + i), None, {}, {}) for i in range(extra)),
                    ],
                )
            )
            async with asyncio.timeout(30):
                while True:  # until the store's session waits for the other's row lock
                    cur = await other.execute("SELECT count(*) FROM pg_locks WHERE NOT granted")
                    row = await cur.fetchone()
                    if (row is not None and row[0] > 0) or write.done():
                        break
                    await asyncio.sleep(0.01)
            await other.commit()
        result = await write
        assert result == WriteResult(written=extra, skipped=1, marked_deleted=0)
        assert await store.get("patients", "5") == {"v": "other"}  # the newer version stays
        assert await store.ids("patients") == {"5", *(str(100 + i) for i in range(extra))}


async def test_a_lock_held_elsewhere_ends_in_a_typed_error_after_the_stated_time(
    pg_backend: Backend, caplog: pytest.LogCaptureFixture
) -> None:
    store = PostgresStore(POSTGRES_DSN, schema=pg_backend.where, lock_timeout=1.0, slow_after=0.2)
    async with store:
        await store.ensure_resource("patients", [])
        await store.write("patients", [Row("1", None, {"id": 1}, {})])
        table = f'"{pg_backend.where}".patients'
        async with await psycopg.AsyncConnection.connect(POSTGRES_DSN) as other:
            await other.execute("SET application_name = 'a-migration'")
            await other.execute(f"LOCK TABLE {table} IN ACCESS EXCLUSIVE MODE")  # held
            with caplog.at_level(logging.WARNING, logger="drchrono_async.sync"):
                with pytest.raises(StoreTimeoutError) as info:
                    await store.write("patients", [Row("2", None, {"id": 2}, {})])
                assert "lock_timeout=1 s" in str(info.value)
                with pytest.raises(StoreTimeoutError):
                    await store.count("patients")  # reads wait on it too, as long
            await other.rollback()
        # Logged while it waited: on what (the blocking session), never a query's text.
        slow = [r.getMessage() for r in caplog.records if "has run" in r.getMessage()]
        assert slow and "a-migration" in slow[0] and "LOCK TABLE" not in slow[0]
        assert await store.count("patients") == 1  # nothing of the failed write was kept
        await store.write("patients", [Row("2", None, {"id": 2}, {})])


async def test_timeouts_and_the_pool_size_are_checked() -> None:
    for bad in (
        {"lock_timeout": 0},
        {"statement_timeout": float("nan")},
        {"pool_size": 0},
        {"pool_size": True},
        {"slow_after": -1},
    ):
        with pytest.raises(InvalidRequestError):
            PostgresStore(POSTGRES_DSN, **bad)  # type: ignore[arg-type]


async def test_a_sync_goes_on_when_its_connections_die_between_pages(pg_backend: Backend) -> None:
    from drchrono_async.sync import Syncer
    from drchrono_async.testing import Emulator, VirtualClock

    emu = Emulator(seed=9, clock=VirtualClock(), sizes={"patients": 1200})
    kills = 0

    def between_pages(report: object) -> None:
        nonlocal kills
        if kills < 3:  # a server restart while the sync waits for its next page
            with psycopg.connect(POSTGRES_DSN, autocommit=True) as admin:
                cur = admin.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                    " WHERE application_name = %s",
                    (f"drchrono-async:{pg_backend.where}"[:63],),
                )
                kills += len(cur.fetchall()) > 0

    # idle_check=0: the emulator answers in microseconds; over the network every page is
    # tens of milliseconds away, over the 50 ms default.
    store = PostgresStore(POSTGRES_DSN, schema=pg_backend.where, idle_check=0)
    async with store, emu.client() as client:
        report = await Syncer(client, store, resources=["patients"], progress=between_pages).run()
    assert kills == 3 and report.complete and report["patients"].pages >= 5
    async with pg_backend.new() as check:
        assert await check.count("patients") == 1200
