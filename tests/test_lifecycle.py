"""One lifecycle: everything that holds connections closes with `aclose()` and `async with`."""

from __future__ import annotations

import inspect

import pytest

from drchrono_async import DrChronoClient, OAuthApp
from drchrono_async.errors import StoreError
from drchrono_async.fleet import PracticeRegistry
from drchrono_async.sync import PostgresStore, SQLiteStore, SyncStore


def test_one_lifecycle_for_every_closeable() -> None:
    for cls in (DrChronoClient, OAuthApp, SQLiteStore, PostgresStore, PracticeRegistry):
        for name in ("aclose", "__aenter__", "__aexit__"):
            assert inspect.iscoroutinefunction(getattr(cls, name)), (cls, name)
    # The store protocol names aclose; the stores and the registry keep close() as its alias.
    assert "aclose" in dir(SyncStore) and "close" not in dir(SyncStore)
    for cls in (SQLiteStore, PostgresStore, PracticeRegistry):
        assert inspect.iscoroutinefunction(cls.close)


async def test_the_sqlite_store_closes_on_leaving_async_with() -> None:
    async with SQLiteStore(":memory:") as store:
        assert isinstance(store, SyncStore)
        assert await store.count("patients") == 0
    with pytest.raises(StoreError):
        await store.count("patients")
    await store.aclose()  # after async with: still safe
