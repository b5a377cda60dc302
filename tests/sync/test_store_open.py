"""A store that cannot be opened says why, typed: `StoreOpenError.kind`, from the store itself
(the library user's `open()` and the command line's exit codes alike), never a bare OSError
nor a driver's message (which may quote a DSN's password)."""

from __future__ import annotations

import contextlib
import os
import socket
import sqlite3
import subprocess
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from drchrono_async.errors import (
    StoreError,
    StoreOpenError,
    StoreOpenTimeoutError,
    StoreTimeoutError,
)
from drchrono_async.sync import PostgresStore, SQLiteStore
from drchrono_async.sync._pg_errors import open_error

from .conftest import POSTGRES_DSN, Backend, postgres_or_skip


async def open_error_of(store: SQLiteStore | PostgresStore) -> StoreOpenError:
    with pytest.raises(StoreOpenError) as info:
        await store.open()
    await store.aclose()  # nothing was left open
    return info.value


def cannot_run(reason: str) -> None:
    """Skip outside CI; under CI=true a test that cannot run is a failure, never a skip."""
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{reason} (CI=true: this test must run)")
    pytest.skip(reason)


@contextlib.contextmanager
def immutable(path: Path) -> Iterator[None]:
    """`path` unwritable even for root: the immutable attribute where it can be set, else
    (not root) its mode bits."""
    if os.geteuid() != 0:
        mode = path.stat().st_mode
        path.chmod(0o555 if path.is_dir() else 0o444)
        try:
            yield
        finally:
            path.chmod(mode)
        return
    if subprocess.run(["chattr", "+i", str(path)], capture_output=True).returncode:
        cannot_run("running as root where chattr cannot set the immutable attribute")
    try:
        yield
    finally:
        subprocess.run(["chattr", "-i", str(path)], check=True)


# -- SQLite -----------------------------------------------------------------------------------


async def test_a_missing_directory(tmp_path: Path) -> None:
    error = await open_error_of(SQLiteStore(tmp_path / "nowhere" / "p.db"))
    assert error.kind == "missing_directory"
    assert str(error) == f"the store's directory {tmp_path / 'nowhere'} does not exist"
    assert not (tmp_path / "nowhere").exists()
    (tmp_path / "afile").write_text("")
    error = await open_error_of(SQLiteStore(tmp_path / "afile" / "p.db"))
    assert error.kind == "missing_directory" and "is not a directory" in str(error)


async def test_a_read_only_directory_new_file_or_old(tmp_path: Path) -> None:
    folder = tmp_path / "ro"
    folder.mkdir()
    async with SQLiteStore(folder / "old.db"):
        pass  # a database made before the directory became read-only
    (folder / "old.db-wal").unlink(missing_ok=True)
    (folder / "old.db-shm").unlink(missing_ok=True)
    with immutable(folder):
        for name in ("new.db", "old.db"):  # cannot create it; cannot create its -wal
            error = await open_error_of(SQLiteStore(folder / name))
            assert error.kind == "read_only", name
            assert f"the store's directory {folder} is read-only" in str(error)
    assert not (folder / "new.db").exists()


async def test_a_directory_root_cannot_write_either() -> None:
    if not os.path.isdir("/sys/kernel"):  # noqa: ASYNC240  (a stat, before any await)
        cannot_run("no sysfs here")
    # sysfs takes no new file from anyone, root included.
    error = await open_error_of(SQLiteStore("/sys/kernel/drchrono-test.db"))
    assert error.kind == "read_only"


async def test_a_read_only_file(tmp_path: Path) -> None:
    db = tmp_path / "ro.db"
    async with SQLiteStore(db):
        pass
    with immutable(db):
        error = await open_error_of(SQLiteStore(db))
    assert error.kind == "read_only" and str(error) == f"the store {db} is read-only"


async def test_a_file_that_is_not_a_database(tmp_path: Path) -> None:
    db = tmp_path / "notes.db"
    db.write_text("SECRET-patient-note " * 50)
    error = await open_error_of(SQLiteStore(db))
    assert error.kind == "not_a_database" and "SECRET" not in str(error)
    assert db.read_text().startswith("SECRET")  # left as it was
    (tmp_path / "adir.db").mkdir()
    assert (await open_error_of(SQLiteStore(tmp_path / "adir.db"))).kind == "not_a_database"


async def test_a_write_lock_held_past_the_stated_wait(tmp_path: Path) -> None:
    db = tmp_path / "busy.db"
    holder = sqlite3.connect(db, isolation_level=None)
    holder.execute("CREATE TABLE t (x)")
    holder.execute("BEGIN IMMEDIATE")  # another process's writer
    try:
        store = SQLiteStore(db, busy_timeout=30)
        with pytest.raises(StoreOpenTimeoutError) as info:
            await store.open(wait=0.2)  # not the 30 s every later statement waits
        await store.aclose()
        assert info.value.kind == "locked" and isinstance(info.value, StoreTimeoutError)
        assert str(info.value) == (
            f"the store {db} is locked: another process held its write lock for over 0.2 s"
        )
    finally:
        holder.close()
    async with SQLiteStore(db) as store:  # the lock gone, it opens
        assert await store.checkpoint("patients") is None


# -- PostgreSQL -------------------------------------------------------------------------------


async def test_a_database_that_does_not_exist() -> None:
    await postgres_or_skip()
    dsn = POSTGRES_DSN.rsplit("/", 1)[0] + "/drchrono_no_such_db"
    error = await open_error_of(PostgresStore(dsn))
    assert error.kind == "database_missing"
    assert str(error) == "the PostgreSQL database does not exist (OperationalError)"


async def test_a_server_nothing_listens_for() -> None:
    with socket.socket() as sock:  # a free port, closed again: nothing listens there
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    error = await open_error_of(PostgresStore(f"postgresql://u:SECRETPW@127.0.0.1:{port}/test"))
    assert error.kind == "unreachable" and "SECRETPW" not in str(error)
    error = await open_error_of(PostgresStore("postgresql://u@no-such-host.invalid/test"))
    assert error.kind == "unreachable" and "no-such-host" not in str(error)


async def test_a_role_refused() -> None:
    await postgres_or_skip()
    dsn = POSTGRES_DSN.replace("postgres@", "drchrono_no_role:SECRETPW@", 1)
    assert dsn != POSTGRES_DSN
    error = await open_error_of(PostgresStore(dsn))
    assert error.kind == "auth_failed" and "SECRETPW" not in str(error)
    assert "drchrono_no_role" not in str(error)


def test_the_sqlstate_classifies_when_the_error_carries_one() -> None:
    # With trust authentication a wrong password never fails: the SQLSTATEs the server
    # sends with a refused login (and with a missing database), as psycopg raises them.
    for state, kind in (("28P01", "auth_failed"), ("28000", "auth_failed"),
                        ("3D000", "database_missing"), ("08006", "unreachable")):  # fmt: skip
        exc = psycopg.errors.lookup(state)("FATAL: SECRET in the server's text")
        found = open_error(exc)
        assert found is not None and found.kind == kind, state
        assert "SECRET" not in str(found)
    assert open_error(psycopg.errors.lookup("53300")("too many clients")) is None


async def test_ping_connects_once_and_makes_nothing(pg_backend: Backend) -> None:
    schema = pg_backend.where
    await PostgresStore(POSTGRES_DSN, schema=schema).ping()
    async with await psycopg.AsyncConnection.connect(POSTGRES_DSN) as conn:
        cur = await conn.execute(
            "SELECT count(*) FROM information_schema.schemata WHERE schema_name = %s", (schema,)
        )
        assert (await cur.fetchone()) == (0,)
    bad = POSTGRES_DSN.rsplit("/", 1)[0] + "/drchrono_no_such_db"
    with pytest.raises(StoreOpenError) as info:
        await PostgresStore(bad).ping()
    assert info.value.kind == "database_missing"


def test_open_errors_are_store_errors() -> None:
    assert issubclass(StoreOpenError, StoreError)
    assert issubclass(StoreOpenTimeoutError, StoreOpenError)
    assert issubclass(StoreOpenTimeoutError, StoreTimeoutError)


async def test_a_read_only_store_reads_and_writes_nothing(tmp_path: Path) -> None:
    from drchrono_async.sync import Row

    path = tmp_path / "copy.db"
    async with SQLiteStore(path) as store:
        await store.ensure_resource("patients", [], key="integer")
        await store.write("patients", [Row("1", None, {"id": 1}, {})])
    before = path.read_bytes()
    async with SQLiteStore(path, read_only=True) as reader:
        assert await reader.count("patients") == 1
        assert await reader.get("patients", "1") == {"id": 1}
        with pytest.raises(StoreError):  # the table's check, or else the write, refused
            await reader.ensure_resource("patients", [], key="integer")
            await reader.write("patients", [Row("2", None, {"id": 2}, {})])
        assert await reader.count("patients") == 1
    assert path.read_bytes() == before
    # Nothing is created: a missing file is an error, not a new database.
    with pytest.raises(StoreError, match="does not exist"):
        await SQLiteStore(tmp_path / "none.db", read_only=True).open()
    assert not (tmp_path / "none.db").exists()
    error = await open_error_of(SQLiteStore(tmp_path / "no" / "x.db", read_only=True))
    assert error.kind == "missing_directory"
    (tmp_path / "junk.db").write_bytes(b"not a database" * 100)
    error = await open_error_of(SQLiteStore(tmp_path / "junk.db", read_only=True))
    assert error.kind == "not_a_database"
