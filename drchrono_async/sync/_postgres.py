"""`PostgresStore`: a sync's whole state in a PostgreSQL schema, through psycopg 3.

Why psycopg 3 rather than asyncpg: on this store's write (pages of 250 rows, 14 typed columns
and a 1 KB jsonb payload, 10k rows) the two measured within noise of each other on every
bulk path, plain COPY, executemany into INSERT ... ON CONFLICT, and COPY into a temporary
table then INSERT ... ON CONFLICT, neither ahead by more than ~10% across runs
(`python benchmarks/store_write.py --drivers`), so speed does not decide. psycopg ships type
hints (this package is checked with mypy --strict), composes identifiers safely
(`psycopg.sql.Identifier`), and takes the same connection strings, environment variables and
service files as psql.

Bulk upsert: one look-up of which ids of the page are stored; the others are COPYed straight
into the table (a first sync: nearly every row), the stored ones COPYed into a temporary
table and merged with one `INSERT ... SELECT ... ON CONFLICT DO UPDATE ... WHERE` (the upsert
rule). A row another writer inserts in between makes the COPY fail; the write is then redone
whole through the upsert. Rows, delete marks and checkpoint: one transaction.

One connection, opened in `open()` and reopened on the next call after it broke; one
operation at a time on it (an asyncio lock).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import hashlib
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, LiteralString, TypeVar

import orjson

from ..errors import DrChronoError, InvalidRequestError, StoreError
from ..oauth import TokenStore
from ._pg_values import CONVERT, SQL_TYPES, exists, lock_key, params, payload
from ._sql import (
    BASE_COLUMNS,
    CHECKPOINTS,
    DELIVERIES,
    TOKENS,
    ColumnValues,
    canonical,
    check_columns,
    check_delivery,
    check_key,
    check_name,
    check_row,
    checksum_add,
    checksum_of,
    dump_checkpoint,
    layers,
    now_utc,
    unique,
    upsert_condition,
)
from ._store import Column, Row, WriteResult

if TYPE_CHECKING:
    import psycopg
    from psycopg import sql

__all__ = ["PostgresStore"]

T = TypeVar("T")


class PostgresStore:
    """A `SyncStore` in a PostgreSQL schema (created if missing). Needs the `postgres` extra.

    Each resource's table has `id` (text), `payload` (jsonb), `updated_at` (text, ISO),
    `deleted` (boolean), `synced_at` (timestamptz) and one typed column per scalar field
    (bigint, double precision, boolean, numeric, date, time, timestamp, text). Bookkeeping
    tables start with `_` (`_checkpoints`, `_tokens`), which no resource name can.

    jsonb cannot hold the character U+0000: a payload containing it is also kept, exact, as
    JSON text in `payload_text` (and `payload` gets U+FFFD in its place); `get()` returns the
    exact one. jsonb keeps numbers as decimals: a float written in exponent form with an
    integral value (`1e16`) reads back as the equal int.

        async with PostgresStore("postgresql://sync@db/practice") as store:
            ...
    """

    def __init__(self, dsn: str, *, schema: str = "drchrono", lock_poll: float = 0.05) -> None:
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
        if isinstance(lock_poll, bool) or not isinstance(lock_poll, (int, float)) or lock_poll <= 0:
            raise InvalidRequestError("lock_poll must be a number of seconds > 0")
        self._dsn = dsn
        self._where = f"host={info.get('host', '')!s}, dbname={info.get('dbname', '')!s}"
        self.schema = schema
        self._lock_poll = float(lock_poll)
        self._conn: psycopg.AsyncConnection[Any] | None = None
        self._open = False
        self._busy = asyncio.Lock()  # one operation at a time on the connection
        self._tables: dict[str, ColumnValues] = {}
        self._temps: dict[str, tuple[str, tuple[str, ...]]] = {}  # resource -> (name, columns)
        self._all_new: dict[str, bool] = {}  # did the resource's last page hold only new ids?

    # -- lifecycle ---------------------------------------------------------------------------

    async def open(self) -> None:
        """Connect; create the schema and the bookkeeping tables if missing."""
        if self._open:
            return
        async with self._busy:
            await self._guard("open", "", self._open_locked)
        self._open = True

    async def _open_locked(self) -> None:
        conn = await self._connection()
        async with conn.transaction():
            await self._ddl_lock(conn)
            await conn.execute(self._sql("CREATE SCHEMA IF NOT EXISTS {s}"))
            await conn.execute(
                self._sql(
                    "CREATE TABLE IF NOT EXISTS {s}.{t} (resource text PRIMARY KEY,"
                    " checkpoint jsonb NOT NULL, updated_at timestamptz NOT NULL)",
                    t=CHECKPOINTS,
                )
            )
            await conn.execute(
                self._sql(
                    "CREATE TABLE IF NOT EXISTS {s}.{t} (key text PRIMARY KEY,"
                    " token text NOT NULL, updated_at timestamptz NOT NULL)",
                    t=TOKENS,
                )
            )
            await conn.execute(
                self._sql(
                    "CREATE TABLE IF NOT EXISTS {s}.{t} (id text PRIMARY KEY,"
                    " handled_at timestamptz NOT NULL)",
                    t=DELIVERIES,
                )
            )

    async def close(self) -> None:
        """Close the connection; safe to call twice."""
        self._open = False
        async with self._busy:
            conn, self._conn = self._conn, None
            self._temps.clear()
            if conn is not None:
                with contextlib.suppress(Exception):
                    await conn.close()

    async def __aenter__(self) -> PostgresStore:
        await self.open()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def _connect(self) -> psycopg.AsyncConnection[Any]:
        import psycopg
        from psycopg.types.json import set_json_loads

        conn = await psycopg.AsyncConnection.connect(self._dsn, autocommit=True)
        set_json_loads(orjson.loads, conn)
        await conn.execute("SET TIME ZONE 'UTC'")
        return conn

    async def _connection(self) -> psycopg.AsyncConnection[Any]:
        conn = self._conn
        if conn is None or conn.closed or conn.broken:
            self._conn = None
            self._temps.clear()  # temporary tables went with the old session
            conn = self._conn = await self._connect()
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

        try:
            return await fn()
        except psycopg.Error as exc:
            where = f" of {resource}" if resource else ""
            state = f"SQLSTATE {exc.sqlstate}, " if exc.sqlstate else ""
            # Never the server's message or DETAIL: they quote the values they refuse.
            raise error(f"{op}{where} failed ({state}{type(exc).__name__})") from None

    async def _run(
        self,
        op: str,
        resource: str,
        fn: Callable[[psycopg.AsyncConnection[Any]], Awaitable[T]],
        *,
        error: type[DrChronoError] = StoreError,
    ) -> T:
        if not self._open:
            raise error(f"{op}: the store is not open")

        async def call() -> T:
            async with self._busy:
                return await fn(await self._connection())

        return await self._guard(op, resource, call, error=error)

    def _sql(self, template: LiteralString, **parts: str | sql.Composable) -> sql.Composed:
        """`template` with `{s}` the schema; str parts become quoted identifiers."""
        from psycopg import sql

        return sql.SQL(template).format(
            s=sql.Identifier(self.schema),
            **{k: sql.Identifier(v) if isinstance(v, str) else v for k, v in parts.items()},
        )

    async def _ddl_lock(self, conn: psycopg.AsyncConnection[Any]) -> None:
        # Serialises schema changes across processes (CREATE ... IF NOT EXISTS can race).
        await conn.execute("SELECT pg_advisory_xact_lock(%s)", (lock_key("ddl", self.schema),))

    # -- schema ------------------------------------------------------------------------------

    async def ensure_resource(self, resource: str, columns: Sequence[Column]) -> None:
        """Create the resource's table if missing; add the columns it lacks (never drops).

        Columns named like a base column (`id`, `updated_at`, ...) are left to the payload.
        """
        check_name(resource, "a resource name")
        declared = check_columns(columns)

        async def run(conn: psycopg.AsyncConnection[Any]) -> None:
            from psycopg import sql

            async with conn.transaction():
                await self._ddl_lock(conn)
                await conn.execute(
                    self._sql(
                        'CREATE TABLE IF NOT EXISTS {s}.{t} (id text COLLATE "C" PRIMARY KEY,'
                        " payload jsonb NOT NULL, payload_text text,"
                        ' updated_at text COLLATE "C", deleted boolean NOT NULL DEFAULT false,'
                        " synced_at timestamptz NOT NULL)",
                        t=resource,
                    )
                )
                cur = await conn.execute(
                    "SELECT column_name FROM information_schema.columns"
                    " WHERE table_schema = %s AND table_name = %s ORDER BY ordinal_position",
                    (self.schema, resource),
                )
                have = [str(r[0]) for r in await cur.fetchall()]
                for name, type_ in declared.items():
                    if name not in have:
                        await conn.execute(
                            self._sql("ALTER TABLE {s}.{t} ADD COLUMN {c} ", t=resource, c=name)
                            + sql.SQL(SQL_TYPES[type_])
                        )
                        have.append(name)
            names = tuple(n for n in have if n not in BASE_COLUMNS)
            self._tables[resource] = ColumnValues(resource, names, declared, CONVERT)

        await self._run("ensure_resource", resource, run)

    async def _temp(
        self, conn: psycopg.AsyncConnection[Any], resource: str, table: ColumnValues
    ) -> str:
        """The session's staging table for `resource`, (re)made to match its columns."""
        found = self._temps.get(resource)
        if found is not None and found[1] == table.names:
            return found[0]
        name = f"_in_{len(self._temps)}" if found is None else found[0]
        # Made outside the write's transaction so that a rollback cannot undo it.
        await conn.execute(self._sql("DROP TABLE IF EXISTS pg_temp.{n}", n=name))
        await conn.execute(
            self._sql(
                "CREATE TEMP TABLE {n} (LIKE {s}.{t}) ON COMMIT DELETE ROWS", n=name, t=resource
            )
        )
        self._temps[resource] = (name, table.names)
        return name

    # -- writes ------------------------------------------------------------------------------

    async def write(
        self,
        resource: str,
        rows: Sequence[Row],
        *,
        checkpoint: Mapping[str, Any] | None = None,
        delete_ids: Sequence[str] = (),
        delivery_id: str | None = None,
    ) -> WriteResult:
        """Upsert `rows`, mark `delete_ids` deleted, save `checkpoint`: one transaction.

        Needs `ensure_resource(resource, ...)` first in this session (it knows the columns).
        With `delivery_id`, the delivery is claimed in the same transaction (see `SyncStore`).
        """
        delivery = None if delivery_id is None else check_delivery(delivery_id)
        check_name(resource, "a resource name")
        table = self._tables.get(resource)
        if table is None:
            raise InvalidRequestError(f"call ensure_resource() for {resource} before write()")
        ckpt = None if checkpoint is None else dump_checkpoint(checkpoint).decode()
        deletes = unique(delete_ids, resource)
        now = now_utc()
        # Checked and converted before anything is sent.
        parts = [
            [params(resource, table, check_row(resource, r), now) for r in part]
            for part in layers(rows)
        ]
        n_rows = sum(map(len, parts))

        async def run(conn: psycopg.AsyncConnection[Any], mode: str) -> WriteResult:
            from psycopg import sql

            names = ["id", "payload", "payload_text", "updated_at", "deleted", "synced_at"]
            cols = sql.SQL(", ").join(map(sql.Identifier, [*names, *table.names]))
            temp = await self._temp(conn, resource, table) if n_rows and mode != "direct" else ""
            written = marked = 0
            staged = False
            async with conn.transaction(), conn.cursor() as cur:
                if delivery is not None:
                    await cur.execute(
                        self._sql(
                            "INSERT INTO {s}.{t} (id, handled_at) VALUES (%s, %s)"
                            " ON CONFLICT (id) DO NOTHING",
                            t=DELIVERIES,
                        ),
                        (delivery, now),
                    )
                    if not cur.rowcount:
                        return WriteResult(0, n_rows, 0, duplicate=True)
                for part in filter(None, parts):
                    new: list[tuple[Any, ...]] = []
                    held_rows = part
                    if mode == "direct":
                        new, held_rows = part, []
                    elif mode == "lookup":
                        # Ids not stored yet go straight in (a fresh sync: most rows), the
                        # others through the staging table and the upsert rule.
                        await cur.execute(
                            self._sql("SELECT id FROM {s}.{t} WHERE id = ANY(%s)", t=resource),
                            ([p[0] for p in part],),
                        )
                        held = {r[0] for r in await cur.fetchall()}
                        new = [p for p in part if p[0] not in held]
                        held_rows = [p for p in part if p[0] in held]
                        self._all_new[resource] = not held_rows
                    if new:
                        copy = self._sql("COPY {s}.{t} ({c}) FROM STDIN", t=resource, c=cols)
                        async with cur.copy(copy) as sink:
                            for params in new:
                                await sink.write_row(params)
                        written += len(new)
                    if held_rows:
                        if staged:
                            await cur.execute(self._sql("DELETE FROM pg_temp.{n}", n=temp))
                        copy = self._sql("COPY pg_temp.{n} ({c}) FROM STDIN", n=temp, c=cols)
                        async with cur.copy(copy) as sink:
                            for params in held_rows:
                                await sink.write_row(params)
                        await cur.execute(self._upsert(resource, temp, table, cols))
                        written += cur.rowcount
                        staged = True
                if deletes:
                    await cur.execute(
                        self._sql(
                            "INSERT INTO {s}.{t} AS t (id, payload, updated_at, deleted,"
                            " synced_at) SELECT i, '{{}}'::jsonb, NULL, true, %s"
                            " FROM unnest(%s::text[]) AS i ON CONFLICT (id) DO UPDATE"
                            " SET deleted = true, synced_at = excluded.synced_at"
                            " WHERE NOT t.deleted",
                            t=resource,
                        ),
                        (now, deletes),
                    )
                    marked = cur.rowcount
                if ckpt is not None:
                    await cur.execute(
                        self._sql(
                            "INSERT INTO {s}.{t} (resource, checkpoint, updated_at)"
                            " VALUES (%s, %s::jsonb, %s) ON CONFLICT (resource) DO UPDATE"
                            " SET checkpoint = excluded.checkpoint,"
                            " updated_at = excluded.updated_at",
                            t=CHECKPOINTS,
                        ),
                        (resource, ckpt, now),
                    )
            return WriteResult(written=written, skipped=n_rows - written, marked_deleted=marked)

        async def attempt(conn: psycopg.AsyncConnection[Any]) -> WriteResult:
            import psycopg

            # "direct": every row COPYed straight in, no look-up (a backfill, page after
            # page of new ids); after a page with stored ids, "lookup" until a page is new
            # again. A unique violation rolls the attempt back whole: "direct" falls back to
            # "lookup"; "lookup" (another writer inserted an id meanwhile) to "upsert".
            modes = ["direct", "lookup", "upsert"]
            first = "direct" if self._all_new.get(resource, True) else "lookup"
            for mode in modes[modes.index(first) :]:
                try:
                    result = await run(conn, mode)
                except psycopg.errors.UniqueViolation:
                    if mode == "upsert":
                        raise
                    continue
                if mode == "upsert":
                    self._all_new[resource] = False
                return result
            raise AssertionError("unreachable")  # pragma: no cover

        return await self._run("write", resource, attempt)

    def _upsert(
        self, resource: str, temp: str, table: ColumnValues, cols: sql.Composable
    ) -> sql.Composed:
        from psycopg import sql

        sets = sql.SQL(", ").join(
            sql.SQL("{c} = excluded.{c}").format(c=sql.Identifier(c))
            for c in ["payload", "payload_text", "updated_at", "deleted", "synced_at", *table.names]
        )
        condition = sql.SQL(upsert_condition("t"))  # constants only
        return self._sql(
            "INSERT INTO {s}.{t} AS t ({cols}) SELECT {cols} FROM pg_temp.{n}"
            " ON CONFLICT (id) DO UPDATE SET {sets} WHERE {cond}",
            t=resource,
            n=temp,
            cols=cols,
            sets=sets,
            cond=condition,
        )

    # -- webhook deliveries -----------------------------------------------------------------

    async def delivery_handled(self, delivery_id: str) -> bool:
        delivery = check_delivery(delivery_id)

        async def run(conn: psycopg.AsyncConnection[Any]) -> bool:
            cur = await conn.execute(
                self._sql("SELECT 1 FROM {s}.{t} WHERE id = %s", t=DELIVERIES), (delivery,)
            )
            return await cur.fetchone() is not None

        return await self._run("delivery_handled", "", run)

    async def mark_delivery(self, delivery_id: str, *, retention: float) -> None:
        delivery = check_delivery(delivery_id)
        now = now_utc()

        async def run(conn: psycopg.AsyncConnection[Any]) -> None:
            async with conn.transaction():
                await conn.execute(
                    self._sql(
                        "INSERT INTO {s}.{t} (id, handled_at) VALUES (%s, %s)"
                        " ON CONFLICT (id) DO NOTHING",
                        t=DELIVERIES,
                    ),
                    (delivery, now),
                )
                await conn.execute(
                    self._sql("DELETE FROM {s}.{t} WHERE handled_at < %s", t=DELIVERIES),
                    (now - dt.timedelta(seconds=retention),),
                )

        await self._run("mark_delivery", "", run)

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
                cur = await conn.execute(self._sql(query, t=resource), params)
            except psycopg.errors.UndefinedTable:
                return empty  # nothing was ever written for this resource
            return shape(await cur.fetchall())

        return await self._run(op, resource, run)

    async def checkpoint(self, resource: str) -> dict[str, Any] | None:
        """The resource's saved checkpoint, or None."""
        check_name(resource, "a resource name")

        async def run(conn: psycopg.AsyncConnection[Any]) -> dict[str, Any] | None:
            cur = await conn.execute(
                self._sql("SELECT checkpoint FROM {s}.{t} WHERE resource = %s", t=CHECKPOINTS),
                (resource,),
            )
            found = await cur.fetchone()
            return None if found is None else dict(found[0])

        return await self._run("checkpoint", resource, run)

    async def get(self, resource: str, id: str) -> dict[str, Any] | None:
        """The payload of one row as received, or None (also for a tombstone)."""
        return await self._read(
            "get",
            resource,
            "SELECT payload, payload_text FROM {s}.{t} WHERE id = %s",
            (id,),
            None,
            lambda rows: (payload(*rows[0]) or None) if rows else None,
        )

    async def is_deleted(self, resource: str, id: str) -> bool | None:
        """Whether the row is marked deleted; None when there is no row."""
        return await self._read(
            "is_deleted",
            resource,
            "SELECT deleted FROM {s}.{t} WHERE id = %s",
            (id,),
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
                    self._sql(
                        "SELECT id, payload, payload_text FROM {s}.{t}"
                        ' WHERE NOT deleted ORDER BY id COLLATE "C"',
                        t=resource,
                    )
                )
                async for id_, data, text in cur:
                    checksum_add(digest, id_, canonical(payload(data, text)))
            return digest.hexdigest()

        return await self._run("checksum", resource, run)

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
