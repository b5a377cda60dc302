"""`SQLiteStore`: a practice's copy in one SQLite file (stdlib `sqlite3`, off the event loop).

One connection, used by one worker thread only (sqlite3 connections must not be shared
between threads at once; `check_same_thread=False` only because that thread is not the
one that opened the pool). WAL journal, `synchronous=NORMAL`: a committed page survives the
process being killed (`kill -9`), not a power cut of the machine; use `synchronous="FULL"`
for that. Each `write()` is one `BEGIN IMMEDIATE ... COMMIT` holding the page's rows, the
delete marks and the checkpoint. Table and column names come from the endpoint table and
the record classes, are checked against a strict pattern and quoted; values are always
parameters.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import hashlib
import re
import sqlite3
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal, TypeVar

import orjson

from ..errors import InvalidRequestError, StoreError, TokenConflictError, TokenStoreError
from ..oauth import FileTokenStore, Token
from ._store import Column, Row, Scalar, WriteResult

__all__ = ["SQLiteStore"]

R = TypeVar("R")
_NAME = re.compile(r"[a-z][a-z0-9_]{0,62}")
_RESERVED = {"id", "payload", "updated_at", "deleted", "synced_at"}
_SQL_TYPES = {
    "text": "TEXT", "integer": "INTEGER", "real": "REAL", "boolean": "INTEGER",
    "decimal": "TEXT", "date": "TEXT", "time": "TEXT", "timestamp": "TEXT",
}  # fmt: skip


def _ident(name: str) -> str:
    if not isinstance(name, str) or not _NAME.fullmatch(name) or name.startswith("sync_"):
        raise InvalidRequestError("store names are lowercase letters, digits and _")
    return f'"{name}"'


def _value(value: Scalar) -> Any:
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, (dt.date, dt.time)):  # datetime is a date
        return value.isoformat()
    return value


class SQLiteStore:
    """A `SyncStore` in the SQLite file at `path` (created if missing)."""

    def __init__(
        self, path: str | Path, *, synchronous: Literal["NORMAL", "FULL"] = "NORMAL"
    ) -> None:
        if synchronous not in ("NORMAL", "FULL"):
            raise InvalidRequestError('synchronous is "NORMAL" or "FULL"')
        self.path = Path(path)
        self._synchronous = synchronous
        self._conn: sqlite3.Connection | None = None
        self._pool: ThreadPoolExecutor | None = None
        self._columns: dict[str, set[str]] = {}

    # -- lifetime -------------------------------------------------------------------------------

    async def open(self) -> None:
        if self._conn is not None:
            return
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="drchrono-sqlite")
        self._conn = await self._run(self._connect)

    def _connect(self) -> sqlite3.Connection:
        try:
            conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute(f"PRAGMA synchronous={self._synchronous}")
            conn.execute(
                "CREATE TABLE IF NOT EXISTS sync_checkpoints "
                "(resource TEXT PRIMARY KEY, state TEXT NOT NULL, saved_at TEXT NOT NULL)"
            )
            conn.execute(
                "CREATE TABLE IF NOT EXISTS sync_tokens (key TEXT PRIMARY KEY, token TEXT NOT NULL)"
            )
        except sqlite3.Error as exc:
            raise StoreError(f"cannot open the SQLite store ({type(exc).__name__})") from None
        return conn

    async def close(self) -> None:
        conn, pool = self._conn, self._pool
        self._conn, self._pool = None, None
        if pool is None:
            return
        if conn is not None:
            await asyncio.get_running_loop().run_in_executor(pool, conn.close)
        pool.shutdown(wait=True)  # a write in progress finishes first

    async def __aenter__(self) -> SQLiteStore:
        await self.open()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def _run(self, fn: Callable[..., R], *args: Any) -> R:
        if self._pool is None:
            raise InvalidRequestError("the store is not open")
        # Shielded: a cancelled caller leaves the thread's transaction to finish (or roll
        # back) whole, never half done.
        future = asyncio.get_running_loop().run_in_executor(self._pool, fn, *args)
        return await asyncio.shield(future)

    def _db(self) -> sqlite3.Connection:
        if self._conn is None:
            raise InvalidRequestError("the store is not open")
        return self._conn

    # -- the SyncStore protocol -------------------------------------------------------------------

    async def ensure_resource(self, resource: str, columns: Sequence[Column]) -> None:
        await self._run(self._ensure, resource, tuple(columns))

    def _ensure(self, resource: str, columns: tuple[Column, ...]) -> None:
        table = _ident(resource)
        db = self._db()
        try:
            db.execute(
                f"CREATE TABLE IF NOT EXISTS {table} (id TEXT PRIMARY KEY, payload TEXT NOT NULL,"
                " updated_at TEXT, deleted INTEGER NOT NULL DEFAULT 0, synced_at TEXT NOT NULL)"
            )
            have = {r[1] for r in db.execute(f"PRAGMA table_info({table})")}
            for column in columns:
                if column.name in _RESERVED or column.name in have:
                    continue
                db.execute(
                    f"ALTER TABLE {table} ADD COLUMN {_ident(column.name)} "
                    f"{_SQL_TYPES[column.type]}"
                )
                have.add(column.name)
        except sqlite3.Error as exc:
            raise StoreError(f"cannot prepare {resource} ({type(exc).__name__})") from None
        self._columns[resource] = have - _RESERVED

    async def write(
        self,
        resource: str,
        rows: Sequence[Row],
        *,
        checkpoint: Mapping[str, Any] | None = None,
        delete_ids: Sequence[str] = (),
    ) -> WriteResult:
        state = None if checkpoint is None else orjson.dumps(checkpoint).decode()
        return await self._run(self._write, resource, tuple(rows), state, tuple(delete_ids))

    def _write(
        self, resource: str, rows: tuple[Row, ...], state: str | None, deletes: tuple[str, ...]
    ) -> WriteResult:
        table = _ident(resource)
        known = self._columns.get(resource)
        if known is None:
            raise InvalidRequestError(f"call ensure_resource({resource!r}) first")
        now = dt.datetime.now(dt.UTC).isoformat(timespec="microseconds")
        db = self._db()
        written = marked = 0
        try:
            db.execute("BEGIN IMMEDIATE")
            # One statement per set of columns (records of a page share one), run over all
            # its rows: the per-row work is the values, not the SQL.
            groups: dict[tuple[str, ...], list[tuple[Any, ...]]] = {}
            for row in rows:
                names = tuple(n for n in row.columns if n in known)
                groups.setdefault(names, []).append(
                    (row.id, orjson.dumps(row.payload).decode(), row.updated_at,
                     int(row.deleted), now, *(_value(row.columns[n]) for n in names))
                )  # fmt: skip
            for names, values in groups.items():
                cols = ["id", "payload", "updated_at", "deleted", "synced_at", *map(_ident, names)]
                updates = ", ".join(f"{c} = excluded.{c}" for c in cols[1:])
                before = db.total_changes
                db.executemany(
                    f"INSERT INTO {table} ({', '.join(cols)}) VALUES "
                    f"({', '.join('?' * len(cols))}) ON CONFLICT(id) DO UPDATE SET {updates} "
                    f"WHERE excluded.updated_at IS NULL OR {table}.updated_at IS NULL "
                    f"OR excluded.updated_at >= {table}.updated_at",
                    values,
                )
                written += db.total_changes - before
            for rid in deletes:
                cursor = db.execute(
                    f"UPDATE {table} SET deleted = 1, synced_at = ? WHERE id = ? AND deleted = 0",
                    (now, rid),
                )
                added = db.execute(
                    f"INSERT OR IGNORE INTO {table} (id, payload, deleted, synced_at) "
                    "VALUES (?, '{}', 1, ?)",
                    (rid, now),
                )
                marked += cursor.rowcount + added.rowcount
            if state is not None:
                db.execute(
                    "INSERT INTO sync_checkpoints (resource, state, saved_at) VALUES (?, ?, ?) "
                    "ON CONFLICT(resource) DO UPDATE SET state = excluded.state, "
                    "saved_at = excluded.saved_at",
                    (resource, state, now),
                )
            db.execute("COMMIT")
        except BaseException as exc:
            with contextlib.suppress(sqlite3.Error):
                db.execute("ROLLBACK")
            if isinstance(exc, sqlite3.Error | ValueError | TypeError | OverflowError):
                raise StoreError(
                    f"writing {resource} failed and was rolled back ({type(exc).__name__})"
                ) from None
            raise
        return WriteResult(written, len(rows) - written, marked)

    async def checkpoint(self, resource: str) -> dict[str, Any] | None:
        found = await self._one("SELECT state FROM sync_checkpoints WHERE resource = ?", resource)
        return None if found is None else dict(orjson.loads(found[0]))

    async def get(self, resource: str, id: str) -> dict[str, Any] | None:
        sql = f"SELECT payload FROM {_ident(resource)} WHERE id = ?"
        found = await self._one(sql, id)
        payload = None if found is None else orjson.loads(found[0])
        return payload if payload else None  # a tombstone has no payload

    async def is_deleted(self, resource: str, id: str) -> bool | None:
        found = await self._one(f"SELECT deleted FROM {_ident(resource)} WHERE id = ?", id)
        return None if found is None else bool(found[0])

    async def count(self, resource: str, *, deleted: bool = False) -> int:
        sql = f"SELECT count(*) FROM {_ident(resource)} WHERE deleted = ?"
        found = await self._one(sql, int(deleted))
        return int(found[0]) if found else 0

    async def ids(self, resource: str, *, deleted: bool | None = False) -> set[str]:
        table = _ident(resource)
        if deleted is None:
            rows = await self._all(f"SELECT id FROM {table}")
        else:
            rows = await self._all(f"SELECT id FROM {table} WHERE deleted = ?", int(deleted))
        return {r[0] for r in rows}

    async def checksum(self, resource: str) -> str:
        sql = f"SELECT id, payload FROM {_ident(resource)} WHERE deleted = 0 ORDER BY id"
        digest = hashlib.sha256()
        for rid, payload in await self._all(sql):
            digest.update(rid.encode() + b"\0")
            digest.update(orjson.dumps(orjson.loads(payload), option=orjson.OPT_SORT_KEYS))
            digest.update(b"\0")
        return digest.hexdigest()

    def token_store(self, key: str = "default") -> _SQLiteTokenStore:
        """The OAuth token of `key`, kept in this database."""
        return _SQLiteTokenStore(self, key)

    async def _one(self, sql: str, *args: Any) -> tuple[Any, ...] | None:
        rows = await self._all(sql, *args)
        return rows[0] if rows else None

    async def _all(self, sql: str, *args: Any) -> list[tuple[Any, ...]]:
        def query() -> list[tuple[Any, ...]]:
            try:
                return list(self._db().execute(sql, args))
            except sqlite3.Error as exc:
                raise StoreError(f"reading the store failed ({type(exc).__name__})") from None

        return await self._run(query)

    def __repr__(self) -> str:
        return f"SQLiteStore({str(self.path)!r})"


class _SQLiteTokenStore:
    """A `TokenStore` in the sync database: compare-and-set in a transaction, a file lock."""

    def __init__(self, store: SQLiteStore, key: str) -> None:
        if not isinstance(key, str) or not key or len(key) > 200:
            raise InvalidRequestError("a token key is a non-empty string")
        self._store = store
        self._key = key
        # The refresh lock: the same flock FileTokenStore uses, on a file beside the database.
        self._flock = FileTokenStore(store.path.with_name(f"{store.path.name}.token-{key}"))

    async def load(self) -> Token | None:
        found = await self._store._one("SELECT token FROM sync_tokens WHERE key = ?", self._key)
        return None if found is None else Token.from_json(found[0])

    async def save(self, token: Token, *, replaces: str | None = None) -> None:
        await self._store._run(self._save, token.to_json().decode(), replaces)

    def _save(self, data: str, replaces: str | None) -> None:
        db = self._store._db()
        try:
            db.execute("BEGIN IMMEDIATE")
            if replaces is not None:
                row = db.execute("SELECT token FROM sync_tokens WHERE key = ?", (self._key,))
                found = row.fetchone()
                if found is None or Token.from_json(found[0]).refresh_token != replaces:
                    db.execute("ROLLBACK")
                    raise TokenConflictError("the stored token changed since it was read")
            db.execute(
                "INSERT INTO sync_tokens (key, token) VALUES (?, ?) "
                "ON CONFLICT(key) DO UPDATE SET token = excluded.token",
                (self._key, data),
            )
            db.execute("COMMIT")
        except sqlite3.Error as exc:
            with contextlib.suppress(sqlite3.Error):
                db.execute("ROLLBACK")
            raise TokenStoreError(f"saving the token failed ({type(exc).__name__})") from None

    @contextlib.asynccontextmanager
    async def lock(self) -> AsyncIterator[None]:
        async with self._flock.lock():
            yield

    def __repr__(self) -> str:
        return f"SQLiteTokenStore(key={self._key!r})"
