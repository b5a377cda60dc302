"""`SQLiteStore`: a sync's whole state in one SQLite file (the default store).

Threading: sqlite3 blocks, so every call runs on ONE dedicated worker thread
(`ThreadPoolExecutor(max_workers=1)`), which opens the connection and is the only thread that
ever touches it. sqlite3's `check_same_thread` stays on as a guard. Each job is a whole
operation (a write's BEGIN ... COMMIT included), so a cancelled caller can never leave a
transaction open half-way: the job finishes (or rolls back) on its own.

Durability: WAL journal with `synchronous=FULL` by default: every committed `write()` is on
disk before it returns, so neither `kill -9` nor a power cut loses it. `synchronous="NORMAL"`
is faster and still loses nothing on a process crash, but a power cut may drop the last
commits (the database stays consistent: pages and their checkpoints go together); the token
lives in the same file, and a refreshed token lost that way would sign the sync out.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import os
import sqlite3
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import Any, Literal, TypeVar

import orjson

from .._checks import check_choice, check_number
from ..errors import DrChronoError, InvalidRequestError, StoreError, StoreTimeoutError
from ..oauth import CipherChoice, FileTokenStore, TokenStore
from ._layout import check_children, check_key_type, store_id
from ._locks import check_wait, file_lock
from ._sql import (
    CHECKPOINTS,
    DELIVERIES,
    canonical,
    check_columns,
    check_delivery,
    check_id,
    check_key,
    check_time,
    checksum_of,
    dump_checkpoint,
    indexed_columns,
    now_utc,
    unique,
)
from ._sqlite_open import connect, connect_read_only
from ._sqlite_schema import ensure, key_type
from ._sqlite_sql import (
    Table,
    Tally,
    check_limit,
    check_resource,
    check_version,
    memory_lock,
    q,
    table_for,
    transaction,
)
from ._sqlite_write import Children, backfill, write_page, write_stale
from ._store import ChildTable, Column, ColumnType, KeyType, Row, WriteResult

__all__ = ["SQLiteStore"]

T = TypeVar("T")


class SQLiteStore:
    """A `SyncStore` in a SQLite file: one table per resource, plus checkpoints and tokens.

    Each resource's table has `id` (`INTEGER PRIMARY KEY` for `key="integer"`, else `TEXT`),
    `payload` (the record's JSON as text), `updated_at`, `deleted` (0/1), `synced_at` (UTC ISO
    time of the write), the version columns `deleted_at`, `observed_at`, `stale_at` (ISO text,
    declared `DATETIME`), one column per scalar field, an index per `indexed` column, a view of
    its live rows `<resource>__live` and its child tables `<resource>__<child>` (see
    `_sqlite_schema`, `_children`). Bookkeeping tables start with `_` (`_checkpoints`,
    `_tokens`, `_schema`...), which no resource name can. The file is created readable by its
    owner only: it holds patient data and the OAuth token.

    `read_only=True` opens an existing file for reading only (`mode=ro`: a backup, a copy on
    a read-only mount, `status` of a file the process may not write): nothing is created or
    migrated, and a write fails with `StoreError`.

        async with SQLiteStore("practice.db") as store:
            ...

    Or `await store.open()` and, when done, `await store.aclose()` (`close()` is the same).
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        synchronous: Literal["FULL", "NORMAL"] = "FULL",
        busy_timeout: float = 30.0,
        read_only: bool = False,
    ) -> None:
        self._synchronous = check_choice(synchronous, "synchronous", ("FULL", "NORMAL"))
        if not isinstance(read_only, bool):
            raise InvalidRequestError("read_only must be True or False")
        self.read_only = read_only
        # A day: past it a writer that holds the file is stuck, not busy.
        self._busy_timeout = check_number(
            busy_timeout, "busy_timeout", low=0, high=86_400, kind="a number of seconds"
        )
        self.path = str(path) if str(path) == ":memory:" else Path(path)
        self._executor: ThreadPoolExecutor | None = None
        # Touched by the worker thread only (every job runs there, one at a time).
        self._conn: sqlite3.Connection | None = None
        self._tally = Tally()  # the connection's count of rows upserted unchanged
        self._tables: dict[str, Table] = {}
        self._children: dict[str, Children] = {}
        # Resource -> its ids' type, as ensured or as found by a read.
        self._keys: dict[str, KeyType] = {}
        # Resource -> what was ensured in this session (read on the event loop: a write's
        # `ensure_resource` then costs no trip to the worker thread).
        self._ensured: dict[str, tuple[object, ...]] = {}
        # The refresh lock: a flock beside the database, as FileTokenStore takes it.
        self._token_lock: AbstractAsyncContextManager[None] | FileTokenStore
        if isinstance(self.path, Path):
            self._token_lock = FileTokenStore(self.path.with_name(self.path.name + ".token"))
        else:
            self._token_lock = asyncio.Lock()
        self._memory_lock = asyncio.Lock()  # the sync lock of an in-memory database

    # -- lifecycle ---------------------------------------------------------------------------

    async def open(self, *, wait: float | None = None) -> None:
        """Open (creating the file mode 0600 if missing), set WAL, create bookkeeping tables.

        `wait`: how long the open waits for another connection's write lock (default
        `busy_timeout`). A file that cannot be used raises `StoreOpenError`, its `kind`
        saying why: `"missing_directory"`, `"read_only"` (the file or its directory),
        `"not_a_database"`, `"locked"` (past `wait`: a `StoreOpenTimeoutError`).
        """
        if self._executor is not None:
            return
        if wait is not None:
            wait = check_number(wait, "wait", low=0, high=86_400, kind="a number of seconds")
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="drchrono-sqlite")
        try:
            await self._call("open", "", self._open_sync, wait)
        except BaseException:
            self._executor.shutdown(wait=False)
            self._executor = None
            raise

    async def aclose(self) -> None:
        """Close the connection; safe to call twice."""
        executor, self._executor = self._executor, None
        self._ensured.clear()
        if executor is None:
            return
        try:
            await asyncio.get_running_loop().run_in_executor(executor, self._close_sync)
        finally:
            executor.shutdown(wait=False)

    async def close(self) -> None:
        """The same as `aclose()` (the name every other closeable of the library uses)."""
        await self.aclose()

    async def __aenter__(self) -> SQLiteStore:
        await self.open()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    def _open_sync(self, wait: float | None) -> None:
        if self.read_only:
            conn = connect_read_only(self.path, busy_timeout=self._busy_timeout)
            self._tally = Tally.on(conn)
            self._conn = conn
            return
        conn = connect(
            self.path,
            busy_timeout=self._busy_timeout,
            wait=self._busy_timeout if wait is None else wait,
            synchronous=self._synchronous,
        )
        self._tally = Tally.on(conn)
        self._conn = conn

    def _close_sync(self) -> None:
        conn, self._conn = self._conn, None
        self._tables.clear()
        self._children.clear()
        self._keys.clear()
        if conn is not None:
            conn.close()

    async def _call(
        self,
        op: str,
        resource: str,
        fn: Callable[..., T],
        *args: Any,
        error: type[DrChronoError] = StoreError,
    ) -> T:
        executor = self._executor
        if executor is None:
            raise error(f"{op}: the store is not open")
        try:
            return await asyncio.get_running_loop().run_in_executor(executor, fn, *args)
        except (sqlite3.Error, OverflowError) as exc:
            where = f" of {resource}" if resource else ""
            # The class and SQLite's error code only: messages may quote values.
            code = getattr(exc, "sqlite_errorname", None) or type(exc).__name__
            if code in ("SQLITE_BUSY", "SQLITE_LOCKED") and error is StoreError:
                raise StoreTimeoutError(
                    f"{op}{where}: another connection held the database's write lock for"
                    f" over busy_timeout={self._busy_timeout:g} s ({code})"
                ) from None
            raise error(f"{op}{where} failed ({code})") from None

    def _db(self) -> sqlite3.Connection:
        if self._conn is None:
            raise StoreError("the store is closed")
        return self._conn

    # -- schema ------------------------------------------------------------------------------

    async def ensure_resource(
        self,
        resource: str,
        columns: Sequence[Column],
        *,
        key: KeyType = "text",
        children: Sequence[ChildTable] = (),
    ) -> None:
        """Create the resource's table if missing, or migrate one of an older layout; add the
        columns it lacks (never drops), the indexes, the view and the child tables.

        Columns named like a base column (`id`, `updated_at`, ...) are left to the payload.
        """
        check_resource(resource)
        declared = check_columns(columns)
        kind = check_key_type(key)
        wanted = check_children(resource, children)
        indexed = indexed_columns(columns)
        signature = (declared, kind, indexed, wanted)
        if self._ensured.get(resource) == signature and self._executor is not None:
            return  # this session made it so already
        await self._call(
            "ensure_resource",
            resource,
            self._ensure_sync,
            resource,
            declared,
            kind,
            indexed,
            wanted,
        )
        self._ensured[resource] = signature

    def _ensure_sync(
        self,
        resource: str,
        declared: dict[str, ColumnType],
        key: KeyType,
        indexed: tuple[str, ...],
        children: tuple[ChildTable, ...],
    ) -> None:
        conn = self._db()
        with transaction(conn):
            made = ensure(conn, resource, declared, key, indexed, children)
            kids = backfill(conn, resource, made.children, made.created)
        self._tables[resource] = table_for(resource, made.names, declared, key)
        self._children[resource] = kids
        self._keys[resource] = key

    # -- writes ------------------------------------------------------------------------------

    async def write(
        self,
        resource: str,
        rows: Sequence[Row],
        *,
        checkpoint: Mapping[str, Any] | None = None,
        delete_ids: Sequence[str] = (),
        deleted_at: str | None = None,
        delivery_id: str | None = None,
    ) -> WriteResult:
        """Upsert `rows`, mark `delete_ids` deleted, save `checkpoint`: one transaction.

        Needs `ensure_resource(resource, ...)` first in this session (it knows the columns).
        With `delivery_id`, the delivery is claimed in the same transaction (see `SyncStore`).
        """
        check_resource(resource)
        ckpt = None if checkpoint is None else dump_checkpoint(checkpoint).decode()
        deletes = unique(delete_ids, resource)
        version = check_version(deleted_at)
        delivery = None if delivery_id is None else check_delivery(delivery_id)
        return await self._call(
            "write",
            resource,
            self._write_sync,
            resource,
            list(rows),
            ckpt,
            deletes,
            version,
            delivery,
        )

    def _table(self, resource: str, op: str) -> Table:
        table = self._tables.get(resource)
        if table is None:
            raise InvalidRequestError(f"call ensure_resource() for {resource} before {op}()")
        return table

    def _write_sync(
        self,
        resource: str,
        rows: list[Row],
        ckpt: str | None,
        deletes: list[str],
        version: str | None,
        delivery: str | None,
    ) -> WriteResult:
        table = self._table(resource, "write")
        result, children = write_page(
            self._db(),
            resource,
            table,
            self._children.get(resource, ()),
            rows,
            ckpt,
            deletes,
            version,
            delivery,
            self._tally,
        )
        self._children[resource] = children  # committed: the columns it added exist
        return result

    async def mark_stale(self, resource: str, row: Row, *, at: str) -> WriteResult:
        """Flag `row.id` stale since `at`, inserting `row` if absent (see `SyncStore`)."""
        check_resource(resource)
        since = check_time(at, "at")

        def run() -> WriteResult:
            table = self._table(resource, "mark_stale")
            result, children = write_stale(
                self._db(), resource, table, self._children.get(resource, ()), row, since
            )
            self._children[resource] = children
            return result

        return await self._call("mark_stale", resource, run)

    async def stale_ids(self, resource: str, *, limit: int) -> list[str]:
        """Up to `limit` ids flagged stale, the longest-stale first."""
        check_resource(resource)
        count = check_limit(limit)

        def run(conn: sqlite3.Connection, key: KeyType) -> list[str]:
            cur = conn.execute(
                f"SELECT id FROM {q(resource)} WHERE stale_at IS NOT NULL"
                " ORDER BY stale_at, id LIMIT ?",
                (count,),
            )
            return [str(r[0]) for r in cur]

        return await self._call("stale_ids", resource, self._read, resource, run, [])

    def lock(
        self, resources: Sequence[str], *, wait: float = 0.0
    ) -> contextlib.AbstractAsyncContextManager[None]:
        """The sync lock (see `SyncStore.lock`): for SQLite, one for the whole file, an
        `flock` on `<path>.sync.lock` (an in-memory database: this process only)."""
        names = [check_resource(r) for r in resources]
        seconds = check_wait(wait)
        label = names[0] if len(names) == 1 else "this database"
        if not isinstance(self.path, Path):
            return memory_lock(self._memory_lock, label, seconds)
        return file_lock(self.path.with_name(self.path.name + ".sync.lock"), label, seconds)

    # -- webhook deliveries -----------------------------------------------------------------

    async def delivery_handled(self, delivery_id: str) -> bool:
        delivery = check_delivery(delivery_id)

        def run() -> bool:
            sql = f"SELECT 1 FROM {q(DELIVERIES)} WHERE id = ?"
            return self._db().execute(sql, (delivery,)).fetchone() is not None

        return await self._call("delivery_handled", "", run)

    async def mark_delivery(self, delivery_id: str, *, retention: float) -> None:
        delivery = check_delivery(delivery_id)
        now = now_utc()
        cutoff = (now - dt.timedelta(seconds=retention)).isoformat()

        def run() -> None:
            conn = self._db()
            with transaction(conn):
                conn.execute(
                    f"INSERT INTO {q(DELIVERIES)} (id, handled_at) VALUES (?, ?)"
                    " ON CONFLICT (id) DO NOTHING",
                    (delivery, now.isoformat()),
                )
                conn.execute(f"DELETE FROM {q(DELIVERIES)} WHERE handled_at < ?", (cutoff,))

        await self._call("mark_delivery", "", run)

    # -- reads -------------------------------------------------------------------------------

    def _key(self, conn: sqlite3.Connection, resource: str) -> KeyType | None:
        """The type of the resource's ids, as ensured or as its table has it; None: none."""
        key = self._keys.get(resource) or key_type(conn, resource)
        if key is not None:
            self._keys[resource] = key
        return key

    def _read(self, resource: str, fn: Callable[[sqlite3.Connection, KeyType], T], empty: T) -> T:
        conn = self._db()
        key = self._key(conn, resource)
        return empty if key is None else fn(conn, key)

    async def checkpoint(self, resource: str) -> dict[str, Any] | None:
        """The resource's saved checkpoint, or None."""
        check_resource(resource)

        def run() -> dict[str, Any] | None:
            found = (
                self._db()
                .execute(f"SELECT checkpoint FROM {q(CHECKPOINTS)} WHERE resource = ?", (resource,))
                .fetchone()
            )
            return None if found is None else dict(orjson.loads(found[0]))

        return await self._call("checkpoint", resource, run)

    async def get(self, resource: str, id: str | int) -> dict[str, Any] | None:
        """The payload of one row as received, or None (also for a tombstone)."""
        check_resource(resource)
        id = check_id(id)

        def run(conn: sqlite3.Connection, key: KeyType) -> dict[str, Any] | None:
            found = conn.execute(
                f"SELECT payload FROM {q(resource)} WHERE id = ?", (store_id(id, key, resource),)
            ).fetchone()
            payload = None if found is None else orjson.loads(found[0])
            return payload or None  # `{}`: a tombstone

        return await self._call("get", resource, self._read, resource, run, None)

    async def is_deleted(self, resource: str, id: str | int) -> bool | None:
        """Whether the row is marked deleted; None when there is no row."""
        check_resource(resource)
        id = check_id(id)

        def run(conn: sqlite3.Connection, key: KeyType) -> bool | None:
            found = conn.execute(
                f"SELECT deleted FROM {q(resource)} WHERE id = ?", (store_id(id, key, resource),)
            ).fetchone()
            return None if found is None else bool(found[0])

        return await self._call("is_deleted", resource, self._read, resource, run, None)

    async def count(self, resource: str, *, deleted: bool = False) -> int:
        """Rows that are (deleted=True) or are not (False) marked deleted."""
        check_resource(resource)

        def run(conn: sqlite3.Connection, key: KeyType) -> int:
            sql = f"SELECT count(*) FROM {q(resource)} WHERE deleted = ?"
            return int(conn.execute(sql, (int(bool(deleted)),)).fetchone()[0])

        return await self._call("count", resource, self._read, resource, run, 0)

    async def ids(self, resource: str, *, deleted: bool | None = False) -> set[str]:
        """The ids held; `deleted=None` for all, else those with that marker."""
        check_resource(resource)

        def run(conn: sqlite3.Connection, key: KeyType) -> set[str]:
            if deleted is None:
                cur = conn.execute(f"SELECT id FROM {q(resource)}")
            else:
                sql = f"SELECT id FROM {q(resource)} WHERE deleted = ?"
                cur = conn.execute(sql, (int(bool(deleted)),))
            return {str(r[0]) for r in cur}

        return await self._call("ids", resource, self._read, resource, run, set())

    async def checksum(self, resource: str) -> str:
        """SHA-256 over the live rows sorted by id of (id, canonical payload JSON)."""
        check_resource(resource)

        def run(conn: sqlite3.Connection, key: KeyType) -> str:
            # BINARY collation compares UTF-8 bytes: the order of Python's sorted(str); an
            # integer id sorts as its text, so that the digest does not depend on the key.
            order = "id" if key == "text" else "CAST(id AS TEXT)"
            cur = conn.execute(
                f"SELECT id, payload FROM {q(resource)} WHERE NOT deleted ORDER BY {order}"
            )
            return checksum_of((str(i), canonical(orjson.loads(p))) for i, p in cur)

        return await self._call("checksum", resource, self._read, resource, run, checksum_of(()))

    # -- tokens ------------------------------------------------------------------------------

    def token_store(self, key: str = "default", *, cipher: CipherChoice = "env") -> TokenStore:
        """A `TokenStore` in this database's `_tokens` table, under `key`.

        Saves are compare-and-set inside `BEGIN IMMEDIATE` (SQLite's write lock, so atomic
        across processes). `lock()` is an flock on `<path>.token.lock` (as `FileTokenStore`
        takes it), not a database lock: a refresh takes a network round trip, and holding
        SQLite's write lock that long would stall the sync's writes.
        `cipher`: "env" encrypts with the keys in `DRCHRONO_TOKEN_KEYS` when it is set.
        """
        from ._db_tokens import SQLiteTokenStore

        return SQLiteTokenStore(self, check_key(key), cipher=cipher)

    def __repr__(self) -> str:
        return f"SQLiteStore({str(self.path)!r})"
