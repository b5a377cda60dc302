"""`PostgresStore`: a sync's whole state in a PostgreSQL schema, through psycopg 3.

Why psycopg 3 rather than asyncpg: on this store's write (pages of 250 rows, 14 typed columns
and a 1 KB jsonb payload, 10k rows) the two measured within noise of each other on every
bulk path, plain COPY, executemany into INSERT ... ON CONFLICT, and COPY into a temporary
table then INSERT ... ON CONFLICT, neither ahead by more than ~10% across runs
(`python benchmarks/store_write.py --drivers`), so speed does not decide. psycopg ships type
hints (this package is checked with mypy --strict), composes identifiers safely
(`psycopg.sql.Identifier`), and takes the same connection strings, environment variables and
service files as psql.

Connections: a small pool (psycopg_pool, `pool_size`, 4 by default), so that one slow query
(a checksum, a webhook's write behind a lock) cannot stall every other operation, and
concurrent resources write at once. The pool checks a connection that sat idle for a second
or more before handing it out (one round trip), so a connection that died while idle (a
server restart, an idle timeout, a pooler recycling it) is replaced before any statement is
sent, where retrying is safe; one in steady use (pages, a burst of deliveries) is not
checked, saving the round trip.
Every session has a `lock_timeout` and a `statement_timeout`: a lock held elsewhere (a
migration, a stuck session) ends the operation with `StoreTimeoutError` after a stated time,
and an operation still waiting after `slow_after` seconds is logged with the sessions that
block it.

The bulk upsert (`_pg_write`): rows, delete marks and checkpoint go in one transaction.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import hashlib
import logging
import math
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, LiteralString, TypeVar

import orjson

from ..errors import (
    DrChronoError,
    InvalidRequestError,
    StoreError,
    StoreLockedError,
    StoreTimeoutError,
)
from ..oauth import TokenStore
from ._columns import ColumnValues
from ._locks import POLL, check_wait, locked_message
from ._pg_values import CONVERT, SQL_TYPES, exists, lock_key, payload
from ._pg_write import PageWriter
from ._sql import (
    BASE_COLUMNS,
    CHECKPOINTS,
    DELIVERIES,
    TOKENS,
    VERSION_COLUMNS,
    canonical,
    check_columns,
    check_delivery,
    check_id,
    check_key,
    check_name,
    checksum_add,
    checksum_of,
    now_utc,
)
from ._store import Column, ColumnType, Row, WriteResult

if TYPE_CHECKING:
    import psycopg
    from psycopg import sql
    from psycopg_pool import AsyncConnectionPool

__all__ = ["PostgresStore"]

logger = logging.getLogger("drchrono_async.sync")

T = TypeVar("T")

# A pooled connection idle this long (seconds) is checked with a round trip before use.
IDLE_CHECK = 1.0
_LOCK_NOT_AVAILABLE = "55P03"
_QUERY_CANCELED = "57014"


def _seconds(value: object, what: str, low: float, high: float) -> float:
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or not math.isfinite(value)
        or not low <= value <= high
    ):
        raise InvalidRequestError(f"{what} must be a number of seconds in [{low:g}, {high:g}]")
    return float(value)


class PostgresStore:
    """A `SyncStore` in a PostgreSQL schema (created if missing). Needs the `postgres` extra.

    Each resource's table has `id` (text), `payload` (jsonb), `updated_at` (text, ISO),
    `deleted` (boolean), `synced_at` (timestamptz), the version columns `deleted_at`,
    `observed_at`, `stale_at` (text, ISO) and one typed column per scalar field (bigint,
    double precision, boolean, numeric, date, time, timestamp, text). Bookkeeping tables
    start with `_` (`_checkpoints`, `_tokens`), which no resource name can.

    jsonb cannot hold the character U+0000: a payload containing it is also kept, exact, as
    JSON text in `payload_text` (and `payload` gets U+FFFD in its place); `get()` returns the
    exact one. A text column value holding it does not fit and is stored NULL. jsonb keeps
    numbers as decimals: a float written in exponent form with an integral value (`1e16`)
    reads back as the equal int.

    Args:
        dsn: a libpq connection string or URL (never shown in a repr or an error).
        schema: the schema of the tables.
        pool_size: at most this many connections at once.
        lock_timeout: seconds a statement waits for a lock another session holds before the
            operation fails with `StoreTimeoutError`.
        statement_timeout: seconds any one statement may run.
        slow_after: seconds after which a still-running operation is logged (WARNING) with
            the sessions blocking it.
        connect_timeout: seconds to wait for a connection.
        idle_check: a pooled connection idle this many seconds is checked with a round trip
            before use (0: always).

        async with PostgresStore("postgresql://sync@db/practice") as store:
            ...
    """

    def __init__(
        self,
        dsn: str,
        *,
        schema: str = "drchrono",
        lock_poll: float = POLL,
        pool_size: int = 4,
        lock_timeout: float = 30.0,
        statement_timeout: float = 300.0,
        slow_after: float = 5.0,
        connect_timeout: float = 10.0,
        idle_check: float = IDLE_CHECK,
    ) -> None:
        try:
            from psycopg.conninfo import conninfo_to_dict
        except ImportError:
            raise StoreError(
                "PostgresStore needs psycopg: pip install 'drchrono-async[postgres]'"
            ) from None
        check_name(schema, "schema")
        if not isinstance(dsn, str):
            raise InvalidRequestError("dsn must be a connection string")
        try:
            info = conninfo_to_dict(dsn)
        except Exception:  # its message may quote the string, password included
            raise InvalidRequestError("dsn is not a PostgreSQL connection string") from None
        if (
            isinstance(pool_size, bool)
            or not isinstance(pool_size, int)
            or not 1 <= pool_size <= 64
        ):
            raise InvalidRequestError("pool_size must be a whole number from 1 to 64")
        self._lock_poll = _seconds(lock_poll, "lock_poll", 0.001, 60.0)
        self.lock_timeout = _seconds(lock_timeout, "lock_timeout", 0.001, 86_400.0)
        self.statement_timeout = _seconds(statement_timeout, "statement_timeout", 0.001, 86_400.0)
        self.slow_after = _seconds(slow_after, "slow_after", 0.001, 86_400.0)
        self._connect_timeout = _seconds(connect_timeout, "connect_timeout", 0.1, 600.0)
        self._idle_check = _seconds(idle_check, "idle_check", 0.0, 3600.0)
        self._dsn = dsn
        self._where = f"host={info.get('host', '')!s}, dbname={info.get('dbname', '')!s}"
        self.schema = schema
        self.pool_size = pool_size
        self._pool: AsyncConnectionPool[Any] | None = None
        self._tables: dict[str, ColumnValues] = {}
        self._writer = PageWriter(self)
        self._watchers: set[asyncio.Task[None]] = set()
        self._last_used: weakref.WeakKeyDictionary[Any, float] = weakref.WeakKeyDictionary()

    # -- lifecycle ---------------------------------------------------------------------------

    async def open(self) -> None:
        """Connect; create the schema and the bookkeeping tables if missing."""
        if self._pool is not None:
            return
        from psycopg_pool import AsyncConnectionPool

        # One plain connection first: an unreachable server fails here at once, with its
        # own error, instead of after the pool's patient retries.
        conn = await self._guard("open", "", self._connect)
        try:
            await self._guard("open", "", lambda: self._create(conn))
        finally:
            with contextlib.suppress(Exception):
                await conn.close()
        pool: AsyncConnectionPool[Any] = AsyncConnectionPool(
            self._dsn,
            min_size=1,
            max_size=self.pool_size,
            open=False,
            kwargs={"autocommit": True},
            configure=self._configure,
            check=self._check,
            timeout=self._connect_timeout,
            name=f"drchrono-{self.schema}",
        )
        await self._guard("open", "", lambda: pool.open(wait=True, timeout=self._connect_timeout))
        self._pool = pool

    async def _create(self, conn: psycopg.AsyncConnection[Any]) -> None:
        async with conn.transaction():
            await self.ddl_lock(conn)
            await conn.execute(self.sql("CREATE SCHEMA IF NOT EXISTS {s}"))
            await conn.execute(
                self.sql(
                    "CREATE TABLE IF NOT EXISTS {s}.{t} (resource text PRIMARY KEY,"
                    " checkpoint jsonb NOT NULL, updated_at timestamptz NOT NULL)",
                    t=CHECKPOINTS,
                )
            )
            await conn.execute(
                self.sql(
                    "CREATE TABLE IF NOT EXISTS {s}.{t} (key text PRIMARY KEY,"
                    " token text NOT NULL, updated_at timestamptz NOT NULL)",
                    t=TOKENS,
                )
            )
            await conn.execute(
                self.sql(
                    "CREATE TABLE IF NOT EXISTS {s}.{t} (id text PRIMARY KEY,"
                    " handled_at timestamptz NOT NULL)",
                    t=DELIVERIES,
                )
            )

    async def close(self) -> None:
        """Close every connection; safe to call twice."""
        pool, self._pool = self._pool, None
        for task in list(self._watchers):
            task.cancel()
        self._writer.forget()
        if pool is not None:
            with contextlib.suppress(Exception):
                await pool.close()

    async def __aenter__(self) -> PostgresStore:
        await self.open()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def _configure(self, conn: psycopg.AsyncConnection[Any]) -> None:
        from psycopg.types.json import set_json_loads

        set_json_loads(orjson.loads, conn)
        await conn.execute("SET TIME ZONE 'UTC'")
        await conn.execute(
            "SELECT set_config('lock_timeout', %s, false),"
            " set_config('statement_timeout', %s, false),"
            " set_config('application_name', %s, false)",
            (
                f"{round(self.lock_timeout * 1000)}ms",
                f"{round(self.statement_timeout * 1000)}ms",
                # What an operator sees in pg_stat_activity (no secret in it).
                f"drchrono-async:{self.schema}"[:63],
            ),
        )

    async def _check(self, conn: psycopg.AsyncConnection[Any]) -> None:
        """The pool's check on handing out `conn`: a round trip if it sat idle a while."""
        from psycopg_pool import AsyncConnectionPool

        last = self._last_used.get(conn)
        if last is None or asyncio.get_running_loop().time() - last >= self._idle_check:
            await AsyncConnectionPool.check_connection(conn)

    async def _connect(self) -> psycopg.AsyncConnection[Any]:
        """A connection of its own, outside the pool (locks held for a while, the open)."""
        import psycopg

        conn = await psycopg.AsyncConnection.connect(
            self._dsn, autocommit=True, connect_timeout=max(1, round(self._connect_timeout))
        )
        try:
            await self._configure(conn)
        except BaseException:
            await conn.close()
            raise
        return conn

    async def _guard(
        self,
        op: str,
        resource: str,
        fn: Callable[[], Awaitable[T]],
        *,
        error: type[DrChronoError] = StoreError,
    ) -> T:
        """Run `fn`, turning driver errors into `error` that names no value."""
        import psycopg
        from psycopg_pool import PoolTimeout

        try:
            return await fn()
        except PoolTimeout:
            raise StoreTimeoutError(
                f"{op}: no database connection within {self._connect_timeout:g} s"
            ) from None
        except psycopg.Error as exc:
            where = f" of {resource}" if resource else ""
            if exc.sqlstate == _LOCK_NOT_AVAILABLE:
                raise StoreTimeoutError(
                    f"{op}{where}: waited over lock_timeout={self.lock_timeout:g} s for a lock"
                    " another session holds"
                ) from None
            if exc.sqlstate == _QUERY_CANCELED:
                raise StoreTimeoutError(
                    f"{op}{where}: a statement ran over"
                    f" statement_timeout={self.statement_timeout:g} s"
                ) from None
            state = f"SQLSTATE {exc.sqlstate}, " if exc.sqlstate else ""
            # Never the server's message or DETAIL: they quote the values they refuse.
            raise error(f"{op}{where} failed ({state}{type(exc).__name__})") from None

    async def run(
        self,
        op: str,
        resource: str,
        fn: Callable[[psycopg.AsyncConnection[Any]], Awaitable[T]],
        *,
        error: type[DrChronoError] = StoreError,
    ) -> T:
        """Run `fn` on a pooled connection, errors typed (see `_guard`), slowness logged.

        For code beside the store that keeps its own tables in the same schema (the fleet's
        registry, the token table); `op` names the operation in errors and logs.
        """
        pool = self._pool
        if pool is None:
            raise error(f"{op}: the store is not open")

        async def call() -> T:
            async with pool.connection() as conn:
                loop = asyncio.get_running_loop()
                watch = loop.call_later(
                    self.slow_after, self._watch, op, resource, conn.info.backend_pid
                )
                try:
                    return await fn(conn)
                finally:
                    watch.cancel()
                    self._last_used[conn] = loop.time()

        return await self._guard(op, resource, call, error=error)

    _run = run  # the name the token tables and the registry used before

    def _watch(self, op: str, resource: str, pid: int) -> None:
        task = asyncio.get_running_loop().create_task(self._report_slow(op, resource, pid))
        self._watchers.add(task)
        task.add_done_callback(self._watchers.discard)

    async def _report_slow(self, op: str, resource: str, pid: int) -> None:
        """Log which sessions block a slow operation: pid, application and state only (a
        query's text may hold patient data)."""
        where = f" of {resource}" if resource else ""
        blockers: list[str] = []
        try:
            conn = await self._connect()
            try:
                cur = await conn.execute(
                    "SELECT pid, application_name, state,"
                    " coalesce(extract(epoch FROM now() - xact_start), 0)::bigint"
                    " FROM pg_stat_activity WHERE pid = ANY(pg_blocking_pids(%s))",
                    (pid,),
                )
                for bpid, app, state, age in await cur.fetchall():
                    blockers.append(f"pid {bpid} ({app or 'no application name'}, {state},"
                                    f" in its transaction for {age} s)")  # fmt: skip
            finally:
                await conn.close()
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            blockers = [f"(could not ask: {type(exc).__name__})"]
        held = "; blocked by " + ", ".join(blockers) if blockers else " (not blocked by a lock)"
        logger.warning(
            "PostgresStore: %s%s has run %g s%s; it fails after lock_timeout=%g s of waiting"
            " for a lock, or statement_timeout=%g s",
            op,
            where,
            self.slow_after,
            held,
            self.lock_timeout,
            self.statement_timeout,
        )

    def sql(self, template: LiteralString, **parts: str | sql.Composable) -> sql.Composed:
        """`template` with `{s}` the schema; str parts become quoted identifiers."""
        from psycopg import sql

        return sql.SQL(template).format(
            s=sql.Identifier(self.schema),
            **{k: sql.Identifier(v) if isinstance(v, str) else v for k, v in parts.items()},
        )

    _sql = sql

    async def ddl_lock(self, conn: psycopg.AsyncConnection[Any]) -> None:
        """Serialise schema changes across processes (CREATE ... IF NOT EXISTS can race);
        held to the end of the transaction `conn` is in."""
        await conn.execute("SELECT pg_advisory_xact_lock(%s)", (lock_key("ddl", self.schema),))

    _ddl_lock = ddl_lock

    # -- schema ------------------------------------------------------------------------------

    async def ensure_resource(self, resource: str, columns: Sequence[Column]) -> None:
        """Create the resource's table if missing; add the columns it lacks (never drops).

        Columns named like a base column (`id`, `updated_at`, ...) are left to the payload.
        Cheap once done in this session for the same columns.
        """
        check_name(resource, "a resource name")
        declared = check_columns(columns)
        known = self._tables.get(resource)
        if known is not None and known.declared == declared and self._pool is not None:
            return

        async def run(conn: psycopg.AsyncConnection[Any]) -> None:
            have = await self._ensure(conn, resource, declared)
            names = tuple(n for n in have if n not in BASE_COLUMNS)
            self._tables[resource] = ColumnValues(
                resource, names, declared, CONVERT, nul_in_text=False
            )

        await self.run("ensure_resource", resource, run)

    async def _ensure(
        self, conn: psycopg.AsyncConnection[Any], resource: str, declared: dict[str, ColumnType]
    ) -> list[str]:
        from psycopg import sql

        async with conn.transaction():
            await self.ddl_lock(conn)
            await conn.execute(
                self.sql(
                    'CREATE TABLE IF NOT EXISTS {s}.{t} (id text COLLATE "C" PRIMARY KEY,'
                    " payload jsonb NOT NULL, payload_text text,"
                    ' updated_at text COLLATE "C", deleted boolean NOT NULL DEFAULT false,'
                    ' synced_at timestamptz NOT NULL, deleted_at text COLLATE "C",'
                    ' observed_at text COLLATE "C", stale_at text COLLATE "C")',
                    t=resource,
                )
            )
            cur = await conn.execute(
                "SELECT column_name FROM information_schema.columns"
                " WHERE table_schema = %s AND table_name = %s ORDER BY ordinal_position",
                (self.schema, resource),
            )
            have = [str(r[0]) for r in await cur.fetchall()]
            for name in VERSION_COLUMNS:  # tables made before these columns existed
                if name not in have:
                    await conn.execute(
                        self.sql(
                            'ALTER TABLE {s}.{t} ADD COLUMN {c} text COLLATE "C"',
                            t=resource,
                            c=name,
                        )
                    )
                    have.append(name)
            for name, type_ in declared.items():
                if name not in have:
                    await conn.execute(
                        self.sql("ALTER TABLE {s}.{t} ADD COLUMN {c} ", t=resource, c=name)
                        + sql.SQL(SQL_TYPES[type_])
                    )
                    have.append(name)
            await conn.execute(
                self.sql(
                    "CREATE INDEX IF NOT EXISTS {i} ON {s}.{t} (stale_at)"
                    " WHERE stale_at IS NOT NULL",
                    i=f"{resource}__stale"[:63],
                    t=resource,
                )
            )
        return have

    def table(self, resource: str, op: str) -> ColumnValues:
        """The columns of `resource` as ensured in this session."""
        check_name(resource, "a resource name")
        table = self._tables.get(resource)
        if table is None:
            raise InvalidRequestError(f"call ensure_resource() for {resource} before {op}()")
        return table

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
        return await self._writer.write(
            resource,
            rows,
            checkpoint=checkpoint,
            delete_ids=delete_ids,
            deleted_at=deleted_at,
            delivery_id=delivery_id,
        )

    async def mark_stale(self, resource: str, row: Row, *, at: str) -> WriteResult:
        """Flag `row.id` stale since `at`, inserting `row` if absent (see `SyncStore`)."""
        return await self._writer.mark_stale(resource, row, at=at)

    async def stale_ids(self, resource: str, *, limit: int) -> list[str]:
        """Up to `limit` ids flagged stale, the longest-stale first."""
        if isinstance(limit, bool) or not isinstance(limit, int) or not 0 <= limit <= 1_000_000:
            raise InvalidRequestError("limit must be a whole number from 0 to 1000000")
        return await self._read(
            "stale_ids",
            resource,
            "SELECT id FROM {s}.{t} WHERE stale_at IS NOT NULL ORDER BY stale_at, id LIMIT %s",
            (limit,),
            [],
            lambda rows: [str(r[0]) for r in rows],
        )

    @contextlib.asynccontextmanager
    async def lock(self, resources: Sequence[str], *, wait: float = 0.0) -> AsyncIterator[None]:
        """The sync lock (see `SyncStore.lock`): a session advisory lock per resource, on a
        connection of its own held for the block (a holder that dies loses it at once)."""
        names = [check_name(r, "a resource name") for r in resources]
        seconds = check_wait(wait)
        keys = [(name, lock_key("sync", self.schema, name)) for name in names]
        conn = await self._guard("take the sync lock", "", self._connect)
        try:
            await self._guard("take the sync lock", "", lambda: self._take(conn, keys, seconds))
            yield
        finally:
            with contextlib.suppress(Exception):
                await conn.close()  # ends the session: releases every lock it holds

    async def _take(
        self, conn: psycopg.AsyncConnection[Any], keys: list[tuple[str, int]], wait: float
    ) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + wait
        while True:
            held: list[int] = []
            busy = ""
            for name, key in keys:
                cur = await conn.execute("SELECT pg_try_advisory_lock(%s)", (key,))
                found = await cur.fetchone()
                if found is None or not found[0]:
                    busy = name
                    break
                held.append(key)
            if not busy:
                return
            for key in held:  # all or none: never sit on a part while waiting
                await conn.execute("SELECT pg_advisory_unlock(%s)", (key,))
            if loop.time() >= deadline:
                raise StoreLockedError(locked_message(busy, wait), resource=busy)
            await asyncio.sleep(min(self._lock_poll, max(0.0, deadline - loop.time())))

    # -- webhook deliveries -----------------------------------------------------------------

    async def delivery_handled(self, delivery_id: str) -> bool:
        delivery = check_delivery(delivery_id)

        async def run(conn: psycopg.AsyncConnection[Any]) -> bool:
            cur = await conn.execute(
                self.sql("SELECT 1 FROM {s}.{t} WHERE id = %s", t=DELIVERIES), (delivery,)
            )
            return await cur.fetchone() is not None

        return await self.run("delivery_handled", "", run)

    async def mark_delivery(self, delivery_id: str, *, retention: float) -> None:
        delivery = check_delivery(delivery_id)
        now = now_utc()

        async def run(conn: psycopg.AsyncConnection[Any]) -> None:
            # One round trip: the claim and the clean-up of ids past their retention.
            await conn.execute(
                self.sql(
                    "WITH gone AS (DELETE FROM {s}.{t} WHERE handled_at < %s)"
                    " INSERT INTO {s}.{t} (id, handled_at) VALUES (%s, %s)"
                    " ON CONFLICT (id) DO NOTHING",
                    t=DELIVERIES,
                ),
                (now - dt.timedelta(seconds=retention), delivery, now),
            )

        await self.run("mark_delivery", "", run)

    # -- reads -------------------------------------------------------------------------------

    async def _read(
        self,
        op: str,
        resource: str,
        query: LiteralString,
        params: Sequence[Any],
        empty: T,
        shape: Callable[[list[tuple[Any, ...]]], T],
    ) -> T:
        import psycopg

        check_name(resource, "a resource name")

        async def run(conn: psycopg.AsyncConnection[Any]) -> T:
            try:
                cur = await conn.execute(self.sql(query, t=resource), params)
            except psycopg.errors.UndefinedTable:
                return empty  # nothing was ever written for this resource
            return shape(await cur.fetchall())

        return await self.run(op, resource, run)

    async def checkpoint(self, resource: str) -> dict[str, Any] | None:
        """The resource's saved checkpoint, or None."""
        check_name(resource, "a resource name")

        async def run(conn: psycopg.AsyncConnection[Any]) -> dict[str, Any] | None:
            cur = await conn.execute(
                self.sql("SELECT checkpoint FROM {s}.{t} WHERE resource = %s", t=CHECKPOINTS),
                (resource,),
            )
            found = await cur.fetchone()
            return None if found is None else dict(found[0])

        return await self.run("checkpoint", resource, run)

    async def get(self, resource: str, id: str | int) -> dict[str, Any] | None:
        """The payload of one row as received, or None (also for a tombstone)."""
        return await self._read(
            "get",
            resource,
            "SELECT payload, payload_text FROM {s}.{t} WHERE id = %s",
            (check_id(id),),
            None,
            lambda rows: (payload(*rows[0]) or None) if rows else None,
        )

    async def is_deleted(self, resource: str, id: str | int) -> bool | None:
        """Whether the row is marked deleted; None when there is no row."""
        return await self._read(
            "is_deleted",
            resource,
            "SELECT deleted FROM {s}.{t} WHERE id = %s",
            (check_id(id),),
            None,
            lambda rows: bool(rows[0][0]) if rows else None,
        )

    async def count(self, resource: str, *, deleted: bool = False) -> int:
        """Rows that are (deleted=True) or are not (False) marked deleted."""
        return await self._read(
            "count",
            resource,
            "SELECT count(*) FROM {s}.{t} WHERE deleted = %s",
            (bool(deleted),),
            0,
            lambda rows: int(rows[0][0]),
        )

    async def ids(self, resource: str, *, deleted: bool | None = False) -> set[str]:
        """The ids held; `deleted=None` for all, else those with that marker."""
        return await self._read(
            "ids",
            resource,
            "SELECT id FROM {s}.{t} WHERE %s::boolean IS NULL OR deleted = %s",
            (deleted, deleted),
            set(),
            lambda rows: {str(r[0]) for r in rows},
        )

    async def checksum(self, resource: str) -> str:
        """SHA-256 over the live rows sorted by id of (id, canonical payload JSON)."""

        check_name(resource, "a resource name")

        async def run(conn: psycopg.AsyncConnection[Any]) -> str:
            if not await exists(conn, self.schema, resource):
                return checksum_of(())
            digest = hashlib.sha256()
            # A server-side cursor: the rows stream in batches, not all at once.
            async with conn.transaction(), conn.cursor(name="drchrono_checksum") as cur:
                cur.itersize = 2000
                # COLLATE "C": byte order of UTF-8, the order of Python's sorted(str).
                await cur.execute(
                    self.sql(
                        "SELECT id, payload, payload_text FROM {s}.{t}"
                        ' WHERE NOT deleted ORDER BY id COLLATE "C"',
                        t=resource,
                    )
                )
                async for id_, data, text in cur:
                    checksum_add(digest, id_, canonical(payload(data, text)))
            return digest.hexdigest()

        return await self.run("checksum", resource, run)

    # -- tokens ------------------------------------------------------------------------------

    def token_store(self, key: str = "default") -> TokenStore:
        """A `TokenStore` in this schema's `_tokens` table, under `key`.

        Saves are compare-and-set in a transaction (`SELECT ... FOR UPDATE`). `lock()` is a
        session advisory lock on a connection of its own, held for the refresh: it excludes
        every process using the database, and goes away with the connection if the holder
        dies, so no stale lock can outlive a killed process.
        """
        from ._db_tokens import PostgresTokenStore

        return PostgresTokenStore(self, check_key(key))

    def __repr__(self) -> str:
        # Never the DSN: it may carry a password.
        return f"PostgresStore({self._where}, schema={self.schema!r})"

