"""The token store each sync database holds: compare-and-set, a lock across processes, and
no token in any repr or error."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

import pytest

from drchrono_async.errors import InvalidRequestError, TokenConflictError, TokenStoreError
from drchrono_async.oauth import Token, TokenStore
from drchrono_async.sync import PostgresStore, SQLiteStore

from .conftest import POSTGRES_DSN, Backend

ROOT = Path(__file__).resolve().parents[2]
ACCESS = "at_SECRETaccess0123456789"
REFRESH = "rt_SECRETrefresh0123456789"


def token(n: int) -> Token:
    return Token(access_token=f"{ACCESS}{n}", refresh_token=f"{REFRESH}{n}", expires_at=1e9 + n)


async def test_compare_and_set(store: SQLiteStore | PostgresStore) -> None:
    tokens = store.token_store()
    assert isinstance(tokens, TokenStore)
    assert await tokens.load() is None
    with pytest.raises(TokenConflictError):
        await tokens.save(token(1), replaces="rt_nothing_stored")
    await tokens.save(token(1))
    await tokens.save(token(2), replaces=token(1).refresh_token)
    with pytest.raises(TokenConflictError) as info:
        await tokens.save(token(3), replaces=token(1).refresh_token)  # a stale replacement
    assert "SECRET" not in str(info.value)
    assert await tokens.load() == token(2)
    assert await store.token_store("other").load() is None  # keys are apart
    for text in (repr(tokens), repr(store), str(tokens)):
        assert "SECRET" not in text


async def test_exactly_one_of_many_connections_replaces_the_token(backend: Backend) -> None:
    stores = [backend.new() for _ in range(6)]
    for store in stores:
        await store.open()
    try:
        await stores[0].token_store().save(token(0))
        old = token(0).refresh_token

        async def refresh(n: int) -> bool:
            try:
                await stores[n].token_store().save(token(n + 1), replaces=old)
            except TokenConflictError:
                return False
            return True

        won = await asyncio.gather(*(refresh(n) for n in range(len(stores))))
        assert sum(won) == 1
        winner = won.index(True)
        for store in stores:
            assert await store.token_store().load() == token(winner + 1)
    finally:
        for store in stores:
            await store.close()


async def test_save_inside_its_own_lock_does_not_deadlock(
    store: SQLiteStore | PostgresStore,
) -> None:
    tokens = store.token_store()
    async with asyncio.timeout(10), tokens.lock():
        await tokens.save(token(1))
    assert await tokens.load() == token(1)


async def test_lock_excludes_another_process(backend: Backend) -> None:
    if backend.kind == "sqlite":
        args = ["sqlite", backend.where]
    else:
        args = ["postgres", POSTGRES_DSN, backend.where]

    def other_process() -> str:
        run = subprocess.run(
            [sys.executable, "-m", "tests.sync._store_worker", "lock", *args],
            capture_output=True,
            text=True,
            cwd=ROOT,
            timeout=60,
        )
        assert run.returncode == 0, run.stderr
        return run.stdout.strip()

    async with backend.new() as store:
        async with store.token_store().lock():
            assert await asyncio.to_thread(other_process) == "blocked"
        assert await asyncio.to_thread(other_process) == "got"


async def test_lock_excludes_another_store_of_the_same_database(backend: Backend) -> None:
    async with backend.new() as a, backend.new() as b:
        async with a.token_store().lock():
            with pytest.raises(TimeoutError):
                async with asyncio.timeout(0.3), b.token_store().lock():
                    pass
        async with asyncio.timeout(10), b.token_store().lock():
            pass


async def test_unreadable_token_and_closed_store_name_no_value(
    backend: Backend, store: SQLiteStore | PostgresStore
) -> None:
    await store.token_store().save(token(1))
    garbage = '{"access_token": "at_SECRET x"}'
    if backend.kind == "sqlite":
        import sqlite3

        with sqlite3.connect(backend.where) as conn:
            conn.execute('UPDATE "_tokens" SET token = ?', (garbage,))
    else:
        import psycopg

        async with await psycopg.AsyncConnection.connect(POSTGRES_DSN, autocommit=True) as c:
            await c.execute(f'UPDATE "{backend.where}"."_tokens" SET token = %s', (garbage,))
    with pytest.raises(TokenStoreError) as info:
        await store.token_store().load()
    assert "SECRET" not in str(info.value) and info.value.__cause__ is None
    await store.close()
    with pytest.raises(TokenStoreError) as closed:
        await store.token_store().save(token(2))
    assert "SECRET" not in str(closed.value)


def test_token_store_checks_its_arguments(tmp_path: Path) -> None:
    for store in (SQLiteStore(tmp_path / "s.db"), PostgresStore(POSTGRES_DSN)):
        for key in ("", 5, "k" * 201):
            with pytest.raises(InvalidRequestError):
                store.token_store(key)  # type: ignore[arg-type]
