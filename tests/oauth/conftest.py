"""Fixtures of the token store tests: real Redis and PostgreSQL (never mocks), SQLite and files.

`token_backend` runs a test once per persistent token store: a file, a SQLite database's
`_tokens`, a PostgreSQL schema's `_tokens`, and a Redis key. Each has its own temporary
folder, schema or key prefix, removed afterwards; Redis and PostgreSQL skip when absent,
except under CI=true, where they fail.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
import redis.asyncio as aioredis

from drchrono_async.oauth import FileTokenStore, RedisTokenStore, TokenStore
from drchrono_async.sync import PostgresStore, SQLiteStore
from tests.ratelimit.conftest import REDIS_URL, redis_client, redis_key
from tests.sync.conftest import POSTGRES_DSN, postgres_or_skip

__all__ = ["REDIS_URL", "TokenBackend", "redis_client", "redis_key", "token_backend"]


class TokenBackend:
    """One persistent token store under test, and its stored bytes read around it."""

    def __init__(self, kind: str, where: str, opened: Any = None, redis: Any = None) -> None:
        self.kind = kind
        self.where = where  # the file, SQLite path, PostgreSQL schema or Redis key
        self._opened = opened  # the open SQLiteStore / PostgresStore
        self._redis = redis

    def new(self, **options: Any) -> TokenStore:
        """A token store on this backend (as many as asked, all on the same token)."""
        if self.kind == "file":
            return FileTokenStore(self.where, **options)
        if self.kind == "redis":
            return RedisTokenStore(self._redis, self.where, **options)
        store: TokenStore = self._opened.token_store(**options)
        return store

    async def raw(self) -> bytes | None:
        """The stored token as bytes, or None."""
        if self.kind == "file":
            return _read(Path(self.where))
        if self.kind == "redis":
            found: bytes | None = await self._redis.get(self.where)
            return found
        if self.kind == "sqlite":
            import sqlite3

            with sqlite3.connect(self.where) as conn:
                row = conn.execute('SELECT token FROM "_tokens"').fetchone()
            return None if row is None else str(row[0]).encode()
        async with await psycopg.AsyncConnection.connect(POSTGRES_DSN) as conn:
            cur = await conn.execute(f'SELECT token FROM "{self.where}"."_tokens"')
            row = await cur.fetchone()
        return None if row is None else str(row[0]).encode()

    async def put_raw(self, data: bytes) -> None:
        """Overwrite the stored token with `data`, around the store (it must exist)."""
        if self.kind == "file":
            _write(Path(self.where), data)
        elif self.kind == "redis":
            await self._redis.set(self.where, data)
        elif self.kind == "sqlite":
            import sqlite3

            with sqlite3.connect(self.where) as conn:
                conn.execute('UPDATE "_tokens" SET token = ?', (data.decode(),))
        else:
            async with await psycopg.AsyncConnection.connect(POSTGRES_DSN, autocommit=True) as c:
                await c.execute(f'UPDATE "{self.where}"."_tokens" SET token = %s', (data.decode(),))

    async def lose(self) -> None:
        """The token is gone: a deleted file, an evicted key, a deleted row."""
        if self.kind == "file":
            _unlink(Path(self.where))
        elif self.kind == "redis":
            await self._redis.delete(self.where)
        elif self.kind == "sqlite":
            import sqlite3

            with sqlite3.connect(self.where) as conn:
                conn.execute('DELETE FROM "_tokens"')
        else:
            async with await psycopg.AsyncConnection.connect(POSTGRES_DSN, autocommit=True) as c:
                await c.execute(f'DELETE FROM "{self.where}"."_tokens"')

    def __repr__(self) -> str:
        return f"TokenBackend({self.kind})"


# Plain functions: a few bytes on a local disk, read and written around the store.
def _read(path: Path) -> bytes | None:
    return path.read_bytes() if path.exists() else None


def _write(path: Path, data: bytes) -> None:
    path.write_bytes(data)


def _unlink(path: Path) -> None:
    path.unlink(missing_ok=True)


@pytest.fixture(params=["file", "sqlite", "postgres", "redis"])
async def token_backend(
    request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[TokenBackend]:
    """Each persistent token store in turn."""
    kind = request.param
    if kind == "file":
        yield TokenBackend("file", str(tmp_path / "token.json"))
    elif kind == "sqlite":
        path = tmp_path / "sync.db"
        async with SQLiteStore(path) as opened:
            yield TokenBackend("sqlite", str(path), opened=opened)
    elif kind == "postgres":
        await postgres_or_skip()
        schema = f"test_{uuid.uuid4().hex[:16]}"
        try:
            async with PostgresStore(POSTGRES_DSN, schema=schema) as opened:
                yield TokenBackend("postgres", schema, opened=opened)
        finally:
            async with await psycopg.AsyncConnection.connect(POSTGRES_DSN, autocommit=True) as c:
                await c.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
    else:
        client = aioredis.Redis.from_url(REDIS_URL)
        try:
            await client.ping()
        except (OSError, aioredis.ConnectionError) as exc:
            await client.aclose()
            reason = f"Redis is not reachable at {REDIS_URL}: {type(exc).__name__}"
            if os.environ.get("CI", "").lower() == "true":
                pytest.fail(f"{reason} (CI=true: the Redis tests must run)")
            pytest.skip(reason)
        key = f"drchrono-async-test:{uuid.uuid4().hex}:token"
        try:
            yield TokenBackend("redis", key, redis=client)
        finally:
            keys = [k async for k in client.scan_iter(match=f"{key}*")]
            if keys:
                await client.delete(*keys)
            await client.aclose()
