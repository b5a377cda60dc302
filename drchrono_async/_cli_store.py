"""Opening a command's store, with one line and its own exit code for each setup mistake.

The stores' typed errors carry SQLite's error name or PostgreSQL's SQLSTATE, but some
mistakes are best caught before opening: a missing directory or a read-only one (SQLite
creates `-wal` and `-shm` files beside the database), a write lock another process holds
(checked with a short, stated wait instead of the store's 30 s `busy_timeout`), and
PostgreSQL's connection failures, which libpq reports without a SQLSTATE: one connection
made here tells a missing database from a refused login from an unreachable server.
"""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path
from typing import Any

from ._cli_exit import (
    EXIT_PG_AUTH,
    EXIT_PG_NO_DATABASE,
    EXIT_PG_UNREACHABLE,
    EXIT_STORE,
    EXIT_STORE_BUSY,
    EXIT_STORE_NO_DIRECTORY,
    EXIT_STORE_READ_ONLY,
    CommandError,
)
from .errors import InvalidRequestError

__all__ = ["BUSY_WAIT", "check_postgres", "check_sqlite", "open_store", "sqlite_path"]

# How long the pre-check waits for another process's write lock on a SQLite file.
BUSY_WAIT = 2.0
_PG_CONNECT_TIMEOUT = 10

# libpq reports connection failures as text only (no SQLSTATE before a session exists): its
# English phrases, matched to classify; the text itself is never shown (it quotes the DSN's
# user and host). A server with other lc_messages falls to EXIT_STORE, named by class.
_PG_NO_DATABASE = ('database "', "does not exist")
_PG_AUTH = (
    "password authentication failed",
    "authentication failed",
    "no pg_hba.conf entry",
    'role "',  # role "x" does not exist
    "no password supplied",
)
_PG_UNREACHABLE = (
    "connection refused",
    "failed to resolve host",
    "could not translate host name",
    "timeout expired",
    "no route to host",
    "network is unreachable",
    "no such file or directory",  # a Unix socket that is not there
    "could not connect",
    "server closed the connection",
)


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


def check_sqlite(path: str, *, busy_wait: float = BUSY_WAIT, file: bool = True) -> None:
    """Refuse, with the exit code of its kind, a SQLite file that cannot be written (with
    `file=False`, only a directory that cannot hold one: the demo decides about the file)."""
    if path == ":memory:":
        return
    db = Path(path)
    folder = db.parent if str(db.parent) else Path(".")
    if not folder.is_dir():
        raise CommandError(
            f"the store's directory {folder} does not exist (create it, or give another --store)",
            EXIT_STORE_NO_DIRECTORY,
        )
    if file and db.exists() and not os.access(db, os.R_OK | os.W_OK):
        raise CommandError(f"the store {db} is read-only", EXIT_STORE_READ_ONLY)
    if not os.access(folder, os.W_OK | os.X_OK):
        raise CommandError(
            f"the store's directory {folder} is read-only (SQLite writes the database and "
            "its -wal and -shm files there)",
            EXIT_STORE_READ_ONLY,
        )
    if file and db.exists():
        _check_not_busy(db, busy_wait)


def _check_not_busy(db: Path, wait: float) -> None:
    """Take and give back the write lock, waiting `wait` seconds for another writer."""
    try:
        conn = sqlite3.connect(db, timeout=wait, isolation_level=None)
    except sqlite3.Error as exc:
        raise CommandError(_sqlite_failed(exc), _sqlite_code(exc)) from None
    try:
        conn.execute("BEGIN IMMEDIATE")
        conn.execute("ROLLBACK")
    except sqlite3.Error as exc:
        code = _sqlite_code(exc)
        if code == EXIT_STORE_BUSY:
            raise CommandError(
                f"the store {db} is locked: another process held its write lock for over "
                f"{wait:g} s",
                EXIT_STORE_BUSY,
            ) from None
        raise CommandError(_sqlite_failed(exc), code) from None
    finally:
        conn.close()


def _sqlite_code(exc: sqlite3.Error) -> int:
    name = getattr(exc, "sqlite_errorname", "") or ""
    if name.startswith(("SQLITE_BUSY", "SQLITE_LOCKED")):
        return EXIT_STORE_BUSY
    if name.startswith("SQLITE_READONLY"):
        return EXIT_STORE_READ_ONLY
    return EXIT_STORE


def _sqlite_failed(exc: sqlite3.Error) -> str:
    name = getattr(exc, "sqlite_errorname", None) or type(exc).__name__
    return f"the store could not be opened ({name})"


async def check_postgres(dsn: str) -> None:
    """Connect once; refuse, with the exit code of its kind, a database that cannot be used."""
    from ._checks import needs_extra

    with needs_extra("postgres", "a postgresql:// store"):
        import psycopg

    try:
        conn = await psycopg.AsyncConnection.connect(dsn, connect_timeout=_PG_CONNECT_TIMEOUT)
    except psycopg.Error as exc:
        raise CommandError(*_pg_failure(exc)) from None
    except Exception as exc:  # a DSN psycopg cannot parse: its text may quote the password
        raise CommandError(
            f"--store is not a usable postgresql:// URL ({type(exc).__name__})", EXIT_STORE
        ) from None
    await conn.close()


def _pg_failure(exc: Exception) -> tuple[str, int]:
    text = str(exc).lower()
    kind = type(exc).__name__
    if all(word in text for word in _PG_NO_DATABASE) and 'role "' not in text:
        return f"the PostgreSQL database does not exist ({kind})", EXIT_PG_NO_DATABASE
    if any(phrase in text for phrase in _PG_AUTH):
        return f"PostgreSQL refused the user or password ({kind})", EXIT_PG_AUTH
    if any(phrase in text for phrase in _PG_UNREACHABLE):
        return f"the PostgreSQL server could not be reached ({kind})", EXIT_PG_UNREACHABLE
    return f"the PostgreSQL store could not be opened ({kind})", EXIT_STORE
