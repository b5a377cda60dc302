"""`PostgresStore.sibling`: stores on other schemas that share one store's connections."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import psycopg
import pytest

from drchrono_async.errors import StoreError
from drchrono_async.sync import Column, PostgresStore, Row

from .conftest import POSTGRES_DSN, postgres_or_skip


@pytest.fixture
async def schemas() -> AsyncIterator[list[str]]:
    await postgres_or_skip()
    names = [f"test_sib_{uuid.uuid4().hex[:12]}_{n}" for n in range(3)]
    yield names
    async with await psycopg.AsyncConnection.connect(POSTGRES_DSN, autocommit=True) as conn:
        for name in names:
            await conn.execute(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')


def rows(n: int, start: int, **columns: object) -> list[Row]:
    return [
        Row(str(i), "2024-05-01T09:00:00.000000", {"id": i, "n": i}, columns)  # type: ignore[arg-type]
        for i in range(start, start + n)
    ]


async def backends(name: str) -> set[int]:
    """The server processes serving connections named for `name`'s schema."""
    async with await psycopg.AsyncConnection.connect(POSTGRES_DSN, autocommit=True) as conn:
        cur = await conn.execute(
            "SELECT pid FROM pg_stat_activity WHERE application_name = %s",
            (f"drchrono-async:{name}"[:63],),
        )
        return {row[0] for row in await cur.fetchall()}


async def test_siblings_write_their_own_schemas_through_one_pool(schemas: list[str]) -> None:
    owner_name, a_name, b_name = schemas
    async with PostgresStore(POSTGRES_DSN, schema=owner_name, pool_size=1) as owner:
        a, b = owner.sibling(a_name), owner.sibling(b_name)
        await a.open()
        await b.open()
        # Different resources on the one shared connection, through the staged path (20
        # rows: a temp table each): their temp tables must not be taken for each other's.
        await a.ensure_resource("patients", [Column("age", "integer")], key="integer")
        await b.ensure_resource("appointments", [Column("room", "text")], key="text")
        for start in (1, 101):
            assert (await a.write("patients", rows(20, start, age=3))).written == 20
            assert (await b.write("appointments", rows(20, start, room="x"))).written == 20
            assert (await a.write("patients", rows(20, start, age=3))).unchanged == 20
            assert (await b.write("appointments", rows(20, start, room="x"))).unchanged == 20
        assert await a.count("patients") == 40 and await b.count("appointments") == 40
        # Nothing of either in the other's schema.
        assert await a.ids("appointments") == set()
        # Every connection is the owner's (one, named for its schema).
        assert len(await backends(owner_name)) == 1
        assert await backends(a_name) == set() and await backends(b_name) == set()
        # Closing a sibling leaves the owner's pool open for the other.
        await a.aclose()
        assert await b.count("appointments") == 40
        with pytest.raises(StoreError, match="not open"):
            await a.count("patients")
        await b.aclose()
    # The owner closed: a sibling can no longer open.
    late = owner.sibling(a_name)
    with pytest.raises(StoreError, match="not open"):
        await late.open()
