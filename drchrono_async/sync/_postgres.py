"""`PostgresStore`: a sync's whole state in a PostgreSQL schema, through psycopg 3.

Why psycopg 3 rather than asyncpg: on this store's write (pages of 250 rows, 14 typed columns
and a 1 KB jsonb payload, 10k rows) the two measured within noise of each other on every
bulk path, plain COPY, executemany into INSERT ... ON CONFLICT, and COPY into a temporary
table then INSERT ... ON CONFLICT, neither ahead by more than ~10% across runs
(`python benchmarks/store_write.py --drivers`), so speed does not decide. psycopg ships type
hints (this package is checked with mypy --strict), composes identifiers safely
(`psycopg.sql.Identifier`), and takes the same connection strings, environment variables and
service files as psql.

Connections (`_pg_session`): a small pool, checked connections, lock and statement
timeouts, slow operations logged with what blocks them.

The bulk upsert (`_pg_write`): rows, delete marks and checkpoint go in one transaction.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, LiteralString, TypeVar

from .._checks import check_int, check_number, needs_extra
from ..errors import (
    DrChronoError,
    InvalidRequestError,
    StoreError,
)
from ..oauth import CipherChoice, TokenStore
from ._columns import ColumnValues
from ._layout import check_children, check_key_type, check_resource, store_id
from ._locks import POLL, check_wait
from ._pg_children import Children, backfill
from ._pg_schema import create_bookkeeping, ensure, key_type
from ._pg_session import IDLE_CHECK, PgSession, Settings
from ._pg_values import CONVERT, PgTable, lock_key, payload
from ._pg_write import PageWriter
from ._sql import (
    CHECKPOINTS,
    DELIVERIES,
    canonical,
    check_columns,
    check_delivery,
    check_id,
    check_key,
    check_name,
    checksum_add,
    checksum_of,
    indexed_columns,
    now_utc,
)
from ._store import ChildTable, Column, KeyType, Row, WriteResult

if TYPE_CHECKING:
    import psycopg
    from psycopg import sql

__all__ = ["PostgresStore"]

logger = logging.getLogger("drchrono_async.sync")

T = TypeVar("T")


def _seconds(value: object, what: str, low: float, high: float) -> float:
    return check_number(value, what, low=low, high=high, kind="a number of seconds")


class PostgresStore:
    """A `SyncStore` in a PostgreSQL schema (created if missing). Needs the `postgres` extra.

    Each resource's table has `id` (`bigint` for `key="integer"`, else `text`), `payload`
    (jsonb), `updated_at` (timestamp), `deleted` (boolean), `synced_at` (timestamptz), the
    version columns `deleted_at`, `observed_at`, `stale_at` (timestamp), one typed column per
    scalar field (bigint, double precision, boolean, numeric, date, time, timestamp, text),
    an index per `indexed` column, a read-only view of its live rows `<resource>__live` and
    its child tables `<resource>__<child>` (see `_pg_schema`, `_children`). Tables of an
    older layout are migrated by `ensure_resource`. Bookkeeping tables start with `_`
    (`_checkpoints`, `_tokens`, `_schema`...), which no resource name can.

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

    Or `await store.open()` and, when done, `await store.aclose()` (`close()` is the same).
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
        with needs_extra("postgres", "PostgresStore"):
            import psycopg  # noqa: F401 - its own name first, before a submodule's
            import psycopg_pool  # noqa: F401 - imported on open(): missing, say so now
            from psycopg.conninfo import conninfo_to_dict
        check_name(schema, "schema")
        if not isinstance(dsn, str):
            raise InvalidRequestError("dsn must be a connection string")
        try:
            info = conninfo_to_dict(dsn)
        except Exception:  # its message may quote the string, password included
            raise InvalidRequestError("dsn is not a PostgreSQL connection string") from None
        pool_size = check_int(pool_size, "pool_size", low=1, high=64)
        self.settings = Settings(
            dsn=dsn,
            schema=schema,
            pool_size=pool_size,
            lock_timeout=_seconds(lock_timeout, "lock_timeout", 0.001, 86_400.0),
            statement_timeout=_seconds(statement_timeout, "statement_timeout", 0.001, 86_400.0),
            slow_after=_seconds(slow_after, "slow_after", 0.001, 86_400.0),
            connect_timeout=_seconds(connect_timeout, "connect_timeout", 0.1, 600.0),
            idle_check=_seconds(idle_check, "idle_check", 0.0, 3600.0),
            lock_poll=_seconds(lock_poll, "lock_poll", 0.001, 60.0),
        )
        self._where = f"host={info.get('host', '')!s}, dbname={info.get('dbname', '')!s}"
        self.schema = schema
        self._session = PgSession(self.settings)
        self._tables: dict[str, PgTable] = {}
        self._ensured: dict[str, tuple[object, ...]] = {}
        self._keys: dict[str, KeyType] = {}  # resource -> its ids' type, ensured or found
        self.children: dict[str, Children] = {}  # resource -> its child tables' columns
        self._writer = PageWriter(self)

    # -- lifecycle ---------------------------------------------------------------------------

    async def open(self) -> None:
        """Connect; create the schema and the bookkeeping tables if missing. A database that
        cannot be used raises `StoreOpenError`: `kind` "database_missing", "unreachable" or
        "auth_failed" (see `errors.StoreOpenError`)."""
        await self._session.open(self._create)

    def sibling(self, schema: str) -> PostgresStore:
        """An unopened store on `schema` of the same database that uses this store's
        connections: its `open()` creates the schema and its bookkeeping on one of them and
        opens no pool of its own; its `aclose()` leaves them to this store, which must stay
        open while the sibling is used (its operations fail with `StoreError` after).

        For a process writing to many schemas at once (the fleet's webhook receiver,
        applying deliveries to hundreds of practices): one pool for all, not a pool each.
        """
        s = self.settings
        other = PostgresStore(
            s.dsn,
            schema=schema,
            lock_poll=s.lock_poll,
            pool_size=s.pool_size,
            lock_timeout=s.lock_timeout,
            statement_timeout=s.statement_timeout,
            slow_after=s.slow_after,
            connect_timeout=s.connect_timeout,
            idle_check=s.idle_check,
        )
        other._session.borrow(self._session)
        return other

    async def ping(self) -> None:
        """Connect once and close, creating nothing (no schema, no pool): whether the
        database can be used, failing as `open()` does (`StoreOpenError` and its kind)."""
        conn = await self.connect("open")
        with contextlib.suppress(Exception):
            await conn.close()

    async def _create(self, conn: psycopg.AsyncConnection[Any]) -> None:
        async with conn.transaction():
            await self.ddl_lock(conn)
            await create_bookkeeping(self, conn)

    async def aclose(self) -> None:
        """Close every connection; safe to call twice."""
        self._writer.forget()
        self._ensured.clear()
        await self._session.close()

    async def close(self) -> None:
        """The same as `aclose()` (the name every other closeable of the library uses)."""
        await self.aclose()

    async def __aenter__(self) -> PostgresStore:
        await self.open()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    # What code beside the store that keeps tables in the same schema uses (the token
    # tables, the fleet's registry): a pooled connection with typed errors, composed SQL
    # with `{s}` the schema, and the lock that serialises schema changes.

    async def run(
        self,
        op: str,
        resource: str,
        fn: Callable[[psycopg.AsyncConnection[Any]], Awaitable[T]],
        *,
        error: type[DrChronoError] = StoreError,
    ) -> T:
        """Run `fn` on a pooled connection; driver errors become `error` (naming `op` and
        `resource`, never a value), a lock or statement timeout `StoreTimeoutError`."""
        result: T = await self._session.run(op, resource, fn, error=error)
        return result

    def sql(self, template: LiteralString, **parts: str | sql.Composable) -> sql.Composed:
        """`template` with `{s}` the schema; str parts become quoted identifiers."""
        composed: sql.Composed = self._session.sql(template, **parts)
        return composed

    async def ddl_lock(self, conn: psycopg.AsyncConnection[Any]) -> None:
        """Serialise schema changes across processes, to the end of `conn`'s transaction."""
        await self._session.ddl_lock(conn)

    async def connect(
        self, op: str = "connect", *, error: type[DrChronoError] = StoreError
    ) -> psycopg.AsyncConnection[Any]:
        """A configured connection of its own, outside the pool (for a lock held a while);
        the caller closes it."""
        conn: psycopg.AsyncConnection[Any] = await self._session.guard(
            op, "", self._session.connect, error=error, connecting=True
        )
        return conn

    async def guard(
        self, op: str, fn: Callable[[], Awaitable[T]], *, error: type[DrChronoError] = StoreError
    ) -> T:
        """Run `fn` (on a connection of `connect()`), its driver errors typed as `run`'s."""
        result: T = await self._session.guard(op, "", fn, error=error)
        return result

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
        Cheap once done in this session for the same arguments.
        """
        check_resource(resource)
        declared = check_columns(columns)
        kind = check_key_type(key)
        wanted = check_children(resource, children)
        indexed = indexed_columns(columns)
        signature = (declared, kind, indexed, wanted)
        if self._ensured.get(resource) == signature and self._session.pool is not None:
            return

        async def run(conn: psycopg.AsyncConnection[Any]) -> None:
            async with conn.transaction():
                made = await ensure(self, conn, resource, declared, kind, indexed, wanted)
                kids = await backfill(self, conn, resource, kind, made.children, made.created)
            values = ColumnValues(resource, made.names, declared, CONVERT, nul_in_text=False)
            self._tables[resource] = PgTable(values, kind)
            self.children[resource] = kids
            self._keys[resource] = kind
            self._writer.forget_resource(resource)  # staging tables of an older layout

        await self.run("ensure_resource", resource, run)
        self._ensured[resource] = signature

    def table(self, resource: str, op: str) -> PgTable:
        """The columns of `resource` as ensured in this session."""
        check_resource(resource)
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
        check_resource(resource)
        limit = check_int(limit, "limit", low=0, high=1_000_000)
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
        names = [check_resource(r) for r in resources]
        seconds = check_wait(wait)
        keys = [(name, lock_key("sync", self.schema, name)) for name in names]
        async with self._session.hold(keys, seconds):
            yield

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

        check_resource(resource)

        async def run(conn: psycopg.AsyncConnection[Any]) -> T:
            try:
                cur = await conn.execute(self.sql(query, t=resource), params)
            except psycopg.errors.UndefinedTable:
                return empty  # nothing was ever written for this resource
            return shape(await cur.fetchall())

        return await self.run(op, resource, run)

    async def _key(self, conn: psycopg.AsyncConnection[Any], resource: str) -> KeyType | None:
        """The type of the resource's ids, as ensured or as its table has it; None: none."""
        key = self._keys.get(resource) or await key_type(self, conn, resource)
        if key is not None:
            self._keys[resource] = key
        return key

    async def _one(
        self, op: str, resource: str, id: str | int, column: LiteralString
    ) -> tuple[Any, ...] | None:
        """The named columns of one row (by id, converted for its table's key), or None."""
        check_resource(resource)
        text = check_id(id)

        async def run(conn: psycopg.AsyncConnection[Any]) -> tuple[Any, ...] | None:
            key = await self._key(conn, resource)
            if key is None:
                return None
            cur = await conn.execute(
                self.sql("SELECT " + column + " FROM {s}.{t} WHERE id = %s", t=resource),
                (store_id(text, key, resource),),
            )
            found: tuple[Any, ...] | None = await cur.fetchone()
            return found

        return await self.run(op, resource, run)

    async def checkpoint(self, resource: str) -> dict[str, Any] | None:
        """The resource's saved checkpoint, or None."""
        check_resource(resource)

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
        found = await self._one("get", resource, id, "payload, payload_text")
        return None if found is None else (payload(*found) or None)

    async def is_deleted(self, resource: str, id: str | int) -> bool | None:
        """Whether the row is marked deleted; None when there is no row."""
        found = await self._one("is_deleted", resource, id, "deleted")
        return None if found is None else bool(found[0])

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

        check_resource(resource)

        async def run(conn: psycopg.AsyncConnection[Any]) -> str:
            key = await self._key(conn, resource)
            if key is None:
                return checksum_of(())
            # COLLATE "C": byte order of UTF-8, the order of Python's sorted(str); an integer
            # id sorts as its text, so that the digest does not depend on the key.
            order: LiteralString = 'id COLLATE "C"' if key == "text" else 'id::text COLLATE "C"'
            digest = hashlib.sha256()
            # A server-side cursor: the rows stream in batches, not all at once.
            async with conn.transaction(), conn.cursor(name="drchrono_checksum") as cur:
                cur.itersize = 2000
                await cur.execute(
                    self.sql(
                        "SELECT id, payload, payload_text FROM {s}.{t}"
                        " WHERE NOT deleted ORDER BY " + order,
                        t=resource,
                    )
                )
                async for id_, data, text in cur:
                    checksum_add(digest, str(id_), canonical(payload(data, text)))
            return digest.hexdigest()

        return await self.run("checksum", resource, run)

    # -- tokens ------------------------------------------------------------------------------

    def token_store(self, key: str = "default", *, cipher: CipherChoice = "env") -> TokenStore:
        """A `TokenStore` in this schema's `_tokens` table, under `key`.

        Saves are compare-and-set in a transaction (`SELECT ... FOR UPDATE`). `lock()` is a
        session advisory lock on a connection of its own, held for the refresh: it excludes
        every process using the database, and goes away with the connection if the holder
        dies, so no stale lock can outlive a killed process.
        `cipher`: "env" encrypts with the keys in `DRCHRONO_TOKEN_KEYS` when it is set.
        """
        from ._db_tokens import PostgresTokenStore

        return PostgresTokenStore(self, check_key(key), cipher=cipher)

    def __repr__(self) -> str:
        # Never the DSN: it may carry a password.
        return f"PostgresStore({self._where}, schema={self.schema!r})"
