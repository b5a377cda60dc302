"""Fixtures for the store tests: a SQLite file in tmp_path and a real PostgreSQL on loopback.

PostgreSQL tests skip when the server is absent, except under CI=true, where they fail.
Each test gets a schema of its own, dropped afterwards.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import attrs
import psycopg
import pytest

from drchrono_async.sync import PostgresStore, SQLiteStore

POSTGRES_DSN = os.environ.get(
    "DRCHRONO_TEST_POSTGRES_DSN", "postgresql://postgres@127.0.0.1:5432/test"
)


async def postgres_or_skip() -> None:
    """Skip (or under CI fail) when the test PostgreSQL is not reachable."""
    try:
        conn = await psycopg.AsyncConnection.connect(POSTGRES_DSN, connect_timeout=5)
    except psycopg.OperationalError as exc:
        reason = f"PostgreSQL is not reachable at {POSTGRES_DSN}: {type(exc).__name__}"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"{reason} (CI=true: the PostgreSQL tests must run)")
        pytest.skip(reason)
    await conn.close()


@attrs.define
class Backend:
    """One database under test: `new()` makes an unopened store on it (as often as asked)."""

    kind: str
    new: Callable[[], SQLiteStore | PostgresStore]
    where: str  # the SQLite path, or the PostgreSQL schema

    async def sql(self, query: str) -> list[tuple[Any, ...]]:
        """The rows of `query` (no parameters), run around the store on a connection of its
        own (PostgreSQL: with the test's schema first on the search path)."""
        if self.kind == "sqlite":
            import contextlib
            import sqlite3

            with contextlib.closing(sqlite3.connect(self.where)) as conn, conn:
                return conn.execute(query).fetchall()
        async with await psycopg.AsyncConnection.connect(POSTGRES_DSN, autocommit=True) as conn:
            await conn.execute(f'SET search_path TO "{self.where}"')
            cur = await conn.execute(query.encode())
            return await cur.fetchall() if cur.description else []

    async def column(self, resource: str, column: str, id: str) -> Any:
        """One stored column value, read around the store."""
        if self.kind == "sqlite":
            import sqlite3

            with sqlite3.connect(self.where) as conn:
                row = conn.execute(
                    f'SELECT "{column}" FROM "{resource}" WHERE id = ?', (id,)
                ).fetchone()
            return row[0]
        async with await psycopg.AsyncConnection.connect(POSTGRES_DSN) as conn:
            cur = await conn.execute(
                f'SELECT "{column}" FROM "{self.where}"."{resource}" WHERE id = %s', (id,)
            )
            row = await cur.fetchone()
            assert row is not None
            return row[0]


async def _postgres() -> AsyncIterator[Backend]:
    await postgres_or_skip()
    schema = f"test_{uuid.uuid4().hex[:16]}"
    yield Backend("postgres", lambda: PostgresStore(POSTGRES_DSN, schema=schema), schema)
    async with await psycopg.AsyncConnection.connect(POSTGRES_DSN, autocommit=True) as conn:
        await conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


@pytest.fixture(params=["sqlite", "postgres"])
async def backend(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Backend]:
    """Each database in turn."""
    if request.param == "sqlite":
        path = tmp_path / "sync.db"
        yield Backend("sqlite", lambda: SQLiteStore(path), str(path))
        return
    async for postgres in _postgres():
        yield postgres


@pytest.fixture
async def pg_backend() -> AsyncIterator[Backend]:
    """PostgreSQL only, in a schema of the test's own."""
    async for postgres in _postgres():
        yield postgres


@pytest.fixture
async def store(backend: Backend) -> AsyncIterator[SQLiteStore | PostgresStore]:
    """An open store on the backend, closed afterwards."""
    async with backend.new() as opened:
        yield opened
