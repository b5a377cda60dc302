"""Opening a SQLite store's file, and why it could not be: `StoreOpenError` kinds.

The file is created mode 0600 before SQLite sees it (its -wal and -shm files copy the
mode); one the process may not write is refused (SQLite would open it read-only, and only
the first write would fail, pages later). Then WAL, and the bookkeeping tables made in one
write transaction, which waits `wait` seconds for another connection's write lock. A
failure is classified here, once, from what failed (the `errno` of creating the file,
SQLite's error name) and a look at the directory and the file: a missing directory, a
read-only file or directory, a file that is no database, a write lock held past the wait.
Messages name the path the caller gave; never a file's content.
"""

from __future__ import annotations

import errno
import os
import sqlite3
from pathlib import Path

from ..errors import StoreError, StoreOpenError, StoreOpenTimeoutError
from ._sqlite_schema import create_bookkeeping
from ._sqlite_sql import transaction

__all__ = ["connect", "connect_read_only"]

_MISSING = {errno.ENOENT, errno.ENOTDIR}
_READ_ONLY = {errno.EACCES, errno.EPERM, errno.EROFS}


def connect(
    path: Path | str, *, busy_timeout: float, wait: float, synchronous: str
) -> sqlite3.Connection:
    """An open connection to `path` (":memory:" or a file), WAL, bookkeeping tables made;
    `StoreOpenError` (a kind) or `StoreError` otherwise. `wait`: for the open's write lock;
    `busy_timeout`: for every later statement."""
    if isinstance(path, Path):
        if not path.exists():
            try:
                os.close(os.open(path, os.O_RDWR | os.O_CREAT, 0o600))
            except OSError as exc:
                raise _from_os(path, exc) from None
        elif path.is_file() and not os.access(path, os.R_OK | os.W_OK):
            # SQLite would open it read-only and fail at the first write, pages later.
            raise StoreOpenError(f"the store {path} is read-only", kind="read_only")
    try:
        conn = sqlite3.connect(path, timeout=wait, isolation_level=None)
    except sqlite3.Error as exc:
        raise _from_sqlite(path, exc, wait) from None
    try:
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute(f"PRAGMA synchronous={synchronous}")  # checked: FULL or NORMAL
        with transaction(conn):
            create_bookkeeping(conn)
        conn.execute(f"PRAGMA busy_timeout = {round(busy_timeout * 1000)}")
    except sqlite3.Error as exc:
        conn.close()
        raise _from_sqlite(path, exc, wait) from None
    except BaseException:
        conn.close()
        raise
    return conn


def connect_read_only(path: Path | str, *, busy_timeout: float) -> sqlite3.Connection:
    """A connection that reads `path` and can write nothing (`mode=ro`): for a file the
    process may not write (a backup, a copy mounted read-only). It creates nothing: a
    missing file is `StoreOpenError` "missing_directory" or a plain `StoreError`, a file
    that is no database "not_a_database"; a write through it fails with `StoreError`."""
    if not isinstance(path, Path):
        raise StoreError("open: a read-only store needs a file")
    if not path.is_file():
        if not _folder(path).is_dir():
            raise _missing(path)
        raise StoreError(f"open: the store {path} does not exist")
    try:
        conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, isolation_level=None)
    except sqlite3.Error as exc:
        raise _from_sqlite(path, exc, 0.0) from None
    try:
        conn.execute(f"PRAGMA busy_timeout = {round(busy_timeout * 1000)}")
        conn.execute("SELECT count(*) FROM sqlite_master").fetchone()  # is it a database?
    except sqlite3.Error as exc:
        conn.close()
        raise _from_sqlite(path, exc, 0.0) from None
    return conn


def _folder(path: Path) -> Path:
    return path.parent if str(path.parent) else Path(".")


def _missing(path: Path) -> StoreOpenError:
    folder = _folder(path)
    what = "is not a directory" if folder.exists() else "does not exist"
    return StoreOpenError(f"the store's directory {folder} {what}", kind="missing_directory")


def _read_only_folder(path: Path) -> StoreOpenError:
    return StoreOpenError(
        f"the store's directory {_folder(path)} is read-only (SQLite writes the database and"
        " its -wal and -shm files there)",
        kind="read_only",
    )


def _from_os(path: Path, exc: OSError) -> StoreError:
    """Creating the file failed."""
    if exc.errno in _MISSING:
        return _missing(path)
    if exc.errno in _READ_ONLY:
        return _read_only_folder(path)
    name = errno.errorcode.get(exc.errno or 0, type(exc).__name__)
    return StoreError(f"open: the store {path} could not be created ({name})")


def _from_sqlite(path: Path | str, exc: sqlite3.Error, wait: float) -> StoreError:
    """SQLite refused the open; its error name and a look at the files say why."""
    # The class and SQLite's error name only: messages may quote values.
    name = getattr(exc, "sqlite_errorname", None) or type(exc).__name__
    if name.startswith(("SQLITE_BUSY", "SQLITE_LOCKED")):
        return StoreOpenTimeoutError(
            f"the store {path} is locked: another process held its write lock for over {wait:g} s",
            kind="locked",
        )
    if isinstance(path, Path):
        folder = _folder(path)
        if name.startswith("SQLITE_NOTADB") or path.is_dir():
            return StoreOpenError(
                f"the store {path} is not a SQLite database ({name})", kind="not_a_database"
            )
        if name.startswith(("SQLITE_READONLY", "SQLITE_CANTOPEN")):
            if not folder.is_dir():
                return _missing(path)
            if path.exists() and not os.access(path, os.R_OK | os.W_OK):
                return StoreOpenError(f"the store {path} is read-only", kind="read_only")
            if not os.access(folder, os.W_OK | os.X_OK):
                return _read_only_folder(path)
            if name.startswith("SQLITE_READONLY"):  # a read-only mount, say
                return StoreOpenError(f"the store {path} is read-only ({name})", kind="read_only")
    return StoreError(f"open failed ({name})")
