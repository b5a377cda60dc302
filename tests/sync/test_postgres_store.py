"""PostgresStore only: no DSN secret anywhere, reconnecting, schemas apart, U+0000."""

from __future__ import annotations

import asyncio

import psycopg
import pytest

from drchrono_async.errors import InvalidRequestError, StoreError
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
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE application_name = %s",
            (f"drchrono-async:{schema}"[:63],),
        )
        return len(await cur.fetchall())


async def test_a_connection_that_died_idle_is_replaced_before_any_statement(
    pg_backend: Backend,
) -> None:
    async with pg_backend.new() as store:
        assert isinstance(store, PostgresStore)
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


async def test_an_id_inserted_by_another_writer_meanwhile_goes_through_the_rule(
    pg_backend: Backend,
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
                        Row("6", None, {}, {}),
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
        assert result == WriteResult(written=1, skipped=1, marked_deleted=0)
        assert await store.get("patients", "5") == {"v": "other"}  # the newer version stays
        assert await store.ids("patients") == {"5", "6"}
