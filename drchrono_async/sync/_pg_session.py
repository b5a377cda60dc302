"""PostgresStore's connections: the pool, each session's settings, typed errors, slowness.

A small pool (psycopg_pool), so that one slow query (a checksum, a report, a webhook's write
behind a lock) cannot stall every other operation, and concurrent resources write at once.
The pool checks a connection that sat idle for `idle_check` seconds or more before handing
it out (one round trip), so a connection that died while idle (a server restart, an idle
timeout, a pooler recycling it) is replaced before any statement is sent, where retrying
is safe; one in steady use (pages, a burst of deliveries) is not checked, saving the trip.
Every session has a `lock_timeout` and a `statement_timeout`: a lock held elsewhere (a
migration, a stuck session) ends the operation with `StoreTimeoutError` after a stated
time, and an operation still running after `slow_after` seconds is logged with the
sessions that block it (their pid, application and state; never a query's text).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TYPE_CHECKING, Any, LiteralString, TypeVar

import attrs
import orjson

from ..errors import (
    DrChronoError,
    StoreError,
    StoreLockedError,
    StoreOpenTimeoutError,
    StoreTimeoutError,
)
from ._locks import locked_message
from ._pg_errors import open_error
from ._pg_values import lock_key

if TYPE_CHECKING:
    import psycopg
    from psycopg import sql
    from psycopg_pool import AsyncConnectionPool

__all__ = ["IDLE_CHECK", "PgSession", "Settings"]

logger = logging.getLogger("drchrono_async.sync")

T = TypeVar("T")

# A pooled connection idle this long (seconds) is checked with a round trip before use:
# between a sync's pages (each a network round trip to the API away) it always is; within
# a burst of webhook deliveries, which reuse connections at once, it is not.
IDLE_CHECK = 0.05
_LOCK_NOT_AVAILABLE = "55P03"
_QUERY_CANCELED = "57014"


@attrs.frozen
class Settings:
    """The checked connection settings of a `PostgresStore` (see its docstring)."""

    dsn: str = attrs.field(repr=False)  # may carry a password
    schema: str
    pool_size: int
    lock_timeout: float
    statement_timeout: float
    slow_after: float
    connect_timeout: float
    idle_check: float
    lock_poll: float


class PgSession:
    """The pool and single connections of one store, and the typed running of operations."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.pool: AsyncConnectionPool[Any] | None = None
        self._watchers: set[asyncio.Task[None]] = set()
        self._last_used: weakref.WeakKeyDictionary[Any, float] = weakref.WeakKeyDictionary()
        self._owner: PgSession | None = None  # whose pool this session borrows

    def borrow(self, owner: PgSession) -> None:
        """Use `owner`'s pool instead of a pool of its own (see `PostgresStore.sibling`)."""
        self._owner = owner
        self._last_used = owner._last_used  # one record of idleness per connection

    async def open(self, create: Callable[[psycopg.AsyncConnection[Any]], Awaitable[None]]) -> None:
        """Connect (running `create` on a first, plain connection), then open the pool; a
        borrowing session runs `create` on one of its owner's connections."""
        if self.pool is not None:
            return
        if self._owner is not None:
            lent = self._owner.pool
            if lent is None:
                raise StoreError("open: the store whose connections it shares is not open")
            self.pool = lent
            try:
                await self.run("open", "", create)
            except BaseException:
                self.pool = None
                raise
            return
        from psycopg_pool import AsyncConnectionPool

        # One plain connection first: an unreachable server fails here at once, with its
        # own error, instead of after the pool's patient retries.
        conn = await self.guard("open", "", self.connect, connecting=True)
        try:
            await self.guard("open", "", lambda: create(conn))
        finally:
            with contextlib.suppress(Exception):
                await conn.close()
        timeout = self.settings.connect_timeout
        pool: AsyncConnectionPool[Any] = AsyncConnectionPool(
            self.settings.dsn,
            min_size=1,
            max_size=self.settings.pool_size,
            open=False,
            kwargs={"autocommit": True},
            configure=self._configure,
            check=self._check,
            timeout=timeout,
            name=f"drchrono-{self.settings.schema}",
        )
        await self.guard("open", "", lambda: pool.open(wait=True, timeout=timeout), connecting=True)
        self.pool = pool

    async def close(self) -> None:
        pool, self.pool = self.pool, None
        for task in list(self._watchers):
            task.cancel()
        if pool is not None and self._owner is None:  # a borrowed pool is its owner's
            with contextlib.suppress(Exception):
                await pool.close()

    async def _configure(self, conn: psycopg.AsyncConnection[Any]) -> None:
        from psycopg.types.json import set_json_loads

        set_json_loads(orjson.loads, conn)
        await conn.execute("SET TIME ZONE 'UTC'")
        await conn.execute(
            "SELECT set_config('lock_timeout', %s, false),"
            " set_config('statement_timeout', %s, false),"
            " set_config('application_name', %s, false)",
            (
                f"{round(self.settings.lock_timeout * 1000)}ms",
                f"{round(self.settings.statement_timeout * 1000)}ms",
                # What an operator sees in pg_stat_activity (no secret in it).
                f"drchrono-async:{self.settings.schema}"[:63],
            ),
        )

    async def _check(self, conn: psycopg.AsyncConnection[Any]) -> None:
        """The pool's check on handing out `conn`: a round trip if it sat idle a while."""
        from psycopg_pool import AsyncConnectionPool

        last = self._last_used.get(conn)
        if last is None or asyncio.get_running_loop().time() - last >= self.settings.idle_check:
            await AsyncConnectionPool.check_connection(conn)

    async def connect(self) -> psycopg.AsyncConnection[Any]:
        """A connection of its own, outside the pool (locks held for a while, the open)."""
        import psycopg

        conn = await psycopg.AsyncConnection.connect(
            self.settings.dsn,
            autocommit=True,
            connect_timeout=max(1, round(self.settings.connect_timeout)),
        )
        try:
            await self._configure(conn)
        except BaseException:
            await conn.close()
            raise
        return conn

    async def guard(
        self,
        op: str,
        resource: str,
        fn: Callable[[], Awaitable[T]],
        *,
        error: type[DrChronoError] = StoreError,
        connecting: bool = False,
    ) -> T:
        """Run `fn`, turning driver errors into `error` that names no value.

        `connecting`: `fn` makes a connection; for `error` StoreError, a failure of a known
        kind (`_pg_errors`: the database missing, the server unreachable, the login refused)
        is a `StoreOpenError` of that kind, classified here once for every caller.
        """
        import psycopg
        from psycopg_pool import PoolTimeout

        classify = connecting and error is StoreError
        try:
            return await fn()
        except PoolTimeout:
            wait = self.settings.connect_timeout
            if classify:
                raise StoreOpenTimeoutError(
                    f"the PostgreSQL server could not be reached: {op}: no database connection"
                    f" within {wait:g} s",
                    kind="unreachable",
                ) from None
            raise StoreTimeoutError(f"{op}: no database connection within {wait:g} s") from None
        except psycopg.Error as exc:
            if classify and (found := open_error(exc)) is not None:
                raise found from None
            where = f" of {resource}" if resource else ""
            if exc.sqlstate == _LOCK_NOT_AVAILABLE:
                raise StoreTimeoutError(
                    f"{op}{where}: waited over lock_timeout={self.settings.lock_timeout:g} s"
                    " for a lock another session holds"
                ) from None
            if exc.sqlstate == _QUERY_CANCELED:
                raise StoreTimeoutError(
                    f"{op}{where}: a statement ran over"
                    f" statement_timeout={self.settings.statement_timeout:g} s"
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
        pool = self.pool
        if pool is None:
            raise error(f"{op}: the store is not open")

        async def call() -> T:
            async with pool.connection() as conn:
                loop = asyncio.get_running_loop()
                watch = loop.call_later(
                    self.settings.slow_after, self._watch, op, resource, conn.info.backend_pid
                )
                try:
                    return await fn(conn)
                finally:
                    watch.cancel()
                    self._last_used[conn] = loop.time()

        return await self.guard(op, resource, call, error=error)

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
            conn = await self.connect()
            try:
                cur = await conn.execute(
                    "SELECT pid, application_name, state,"
                    " coalesce(extract(epoch FROM now() - xact_start), 0)::bigint"
                    " FROM pg_stat_activity WHERE pid = ANY(pg_blocking_pids(%s))",
                    (pid,),
                )
                for bpid, app, state, age in await cur.fetchall():
                    blockers.append(
                        f"pid {bpid} ({app or 'no application name'}, {state},"
                        f" in its transaction for {age} s)"
                    )
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
            self.settings.slow_after,
            held,
            self.settings.lock_timeout,
            self.settings.statement_timeout,
        )

    def sql(self, template: LiteralString, **parts: str | sql.Composable) -> sql.Composed:
        """`template` with `{s}` the schema; str parts become quoted identifiers."""
        from psycopg import sql

        return sql.SQL(template).format(
            s=sql.Identifier(self.settings.schema),
            **{k: sql.Identifier(v) if isinstance(v, str) else v for k, v in parts.items()},
        )

    async def ddl_lock(self, conn: psycopg.AsyncConnection[Any]) -> None:
        """Serialise schema changes across processes (CREATE ... IF NOT EXISTS can race);
        held to the end of the transaction `conn` is in."""
        key = lock_key("ddl", self.settings.schema)
        await conn.execute("SELECT pg_advisory_xact_lock(%s)", (key,))

    @contextlib.asynccontextmanager
    async def hold(self, keys: list[tuple[str, int]], wait: float) -> AsyncIterator[None]:
        """Hold the session advisory locks of `keys` ((name, key) pairs) on a connection of
        its own for the block (all or none; see `take`); a holder that dies loses them."""
        conn = await self.guard("take the sync lock", "", self.connect, connecting=True)
        try:
            await self.guard("take the sync lock", "", lambda: self.take(conn, keys, wait))
            yield
        finally:
            # Released before the close returns: a backend that ends after its client has
            # gone can still hold the locks a moment, and a run right after would find them
            # taken. (Should this fail, the session's end releases them all the same.)
            with contextlib.suppress(Exception):
                await conn.execute("SELECT pg_advisory_unlock_all()")
            with contextlib.suppress(Exception):
                await conn.close()

    async def take(
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
            await asyncio.sleep(min(self.settings.lock_poll, max(0.0, deadline - loop.time())))
