"""Opening a command's store. The stores say why one cannot be opened (`StoreOpenError` and
its `kind`: a missing directory, a read-only file or directory, not a database, a write lock
held past the wait, a PostgreSQL database missing, a server not reached, a login refused);
`_cli_exit` maps each kind to its exit code. The command line only chooses the waits: a
SQLite open waits `BUSY_WAIT` for another process's write lock, not the store's 30 s
`busy_timeout`, so a cron job stuck behind another says so at once.
"""

from __future__ import annotations

from typing import Any

from ._cli_exit import EXIT_STORE, CommandError
from .errors import InvalidRequestError

__all__ = ["BUSY_WAIT", "check_postgres", "open_checked", "open_store", "sqlite_path"]

# How long opening a SQLite file waits for another process's write lock.
BUSY_WAIT = 2.0
_PG_CONNECT_TIMEOUT = 10.0


def sqlite_path(url: str) -> str:
    return url[len("sqlite:///") :]


def open_store(url: str, *, schema: str = "drchrono") -> Any:
    """A `SyncStore` for `sqlite:///path` or `postgresql://...` (not yet opened)."""
    from .sync import PostgresStore, SQLiteStore

    if url.startswith("sqlite:///") and len(url) > len("sqlite:///"):
        return SQLiteStore(sqlite_path(url))
    if url.startswith(("postgresql://", "postgres://")):
        return PostgresStore(url, schema=schema)
    raise InvalidRequestError("--store must be sqlite:///PATH or postgresql://...")


async def open_checked(url: str, schema: str) -> Any:
    """The store, opened; a setup mistake is the store's `StoreOpenError` (its exit code)."""
    from .sync import SQLiteStore

    store = open_store(url, schema=schema)
    if isinstance(store, SQLiteStore):
        await store.open(wait=BUSY_WAIT)
    else:
        await store.open()
    return store


async def check_postgres(dsn: str) -> None:
    """Connect once, creating nothing: the store's `StoreOpenError` if it cannot be used."""
    from .sync import PostgresStore

    try:
        store = PostgresStore(dsn, connect_timeout=_PG_CONNECT_TIMEOUT)
    except InvalidRequestError as exc:  # names no part of the DSN (it may hold a password)
        raise CommandError(
            f"--store is not a usable postgresql:// URL ({exc})", EXIT_STORE
        ) from None
    await store.ping()
