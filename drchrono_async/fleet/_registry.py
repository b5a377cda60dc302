"""`PracticeRegistry`: the practices a fleet syncs, in the registry schema of PostgreSQL.

One schema (default `drchrono_fleet`) holds the fleet's bookkeeping: the `practices` table,
each practice's token (the `_tokens` table of a `PostgresStore` on that schema, under the
practice key), the permits each practice spent per quota window (for the fairness rule),
and procrastinate's job tables. Each practice's records live in a schema of their own,
`<registry schema>_p_<key>`: practices never share a table, a practice can be dropped with
one `DROP SCHEMA`, and `PostgresStore` is reused as it is.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

import attrs

from .._checks import check_base_url, check_choice, check_int, check_number, needs_extra
from .._endpoints import BY_NAME
from ..errors import InvalidRequestError
from ..oauth import Token, TokenStore
from ..sync import PostgresStore, check_name, syncable
from ._freshness_state import ensure_table as ensure_freshness_table
from ._routing import create_tables as create_routing_tables

if TYPE_CHECKING:
    import psycopg

__all__ = [
    "DEFAULT_SCHEMA",
    "Practice",
    "PracticeRegistry",
    "check_practice",
    "check_practice_key",
]

DEFAULT_SCHEMA = "drchrono_fleet"
_KEY = re.compile(r"^[a-z][a-z0-9_]{0,31}$")
_MAX_NAME = 200
_AUTH_KINDS = ("oauth", "fixed")


def check_practice_key(key: object) -> str:
    """A practice key: `[a-z][a-z0-9_]{0,31}` (it names the practice's schema)."""
    if not isinstance(key, str) or not _KEY.match(key):
        raise InvalidRequestError("a practice key must match [a-z][a-z0-9_]{0,31}")
    return key


def _check_resources(resources: Iterable[str] | None) -> tuple[str, ...] | None:
    if resources is None:
        return None
    if isinstance(resources, str):
        raise InvalidRequestError("resources must be a list of endpoint names")
    names = tuple(dict.fromkeys(resources))
    if not names or len(names) > len(BY_NAME):
        raise InvalidRequestError("resources must name endpoints that can be synced")
    for name in names:
        if not isinstance(name, str) or name not in BY_NAME or not syncable(BY_NAME[name]):
            shown = name if isinstance(name, str) and len(name) <= 64 and name.isprintable() else ""
            raise InvalidRequestError(
                "resources must name endpoints that can be synced"
                + (f"; {shown} is not one" if shown else "")
            )
    return names


def _check_timezone(name: object) -> str:
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    if not isinstance(name, str) or not 0 < len(name) <= 64:
        raise InvalidRequestError("timezone must be an IANA timezone name")
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise InvalidRequestError("timezone must be an IANA timezone name") from None
    return name


def check_practice(
    key: str,
    *,
    name: str | None = None,
    base_url: str = "https://drchrono.com",
    resources: Iterable[str] | None = None,
    auth: str = "oauth",
    timezone: str = "UTC",
) -> tuple[str, str, tuple[str, ...] | None]:
    """Check `PracticeRegistry.add`'s values (before a token is got for them): the name,
    base URL and resources as they are stored."""
    check_practice_key(key)
    name = key if name is None else name
    if not isinstance(name, str) or not 0 < len(name) <= _MAX_NAME or not name.isprintable():
        raise InvalidRequestError(f"name must be printable text of 1 to {_MAX_NAME} characters")
    url = str(check_base_url(base_url)).rstrip("/")
    names = _check_resources(resources)
    check_choice(auth, "auth", _AUTH_KINDS)
    _check_timezone(timezone)
    return name, url, names


@attrs.frozen
class Practice:
    """One registered practice. `resources` None: every syncable endpoint."""

    key: str
    name: str
    base_url: str
    resources: tuple[str, ...] | None
    active: bool
    auth: str  # "oauth": the token refreshes when the worker has an OAuthApp; "fixed": never
    schema: str
    created_at: dt.datetime
    timezone: str = "UTC"

    def sync_resources(self, default: Sequence[str]) -> tuple[str, ...]:
        return tuple(default) if self.resources is None else self.resources


class PracticeRegistry:
    """The `practices` table and each practice's token, in `schema` of the database at `dsn`.

        async with PracticeRegistry("postgresql://sync@db/fleet") as registry:
            await registry.add("acme", token, base_url="https://drchrono.com")

    Or `await registry.open()` and, when done, `await registry.aclose()`.
    """

    def __init__(self, dsn: str, *, schema: str = DEFAULT_SCHEMA) -> None:
        with needs_extra("fleet", "PracticeRegistry"):  # the fleet's extra, not postgres'
            import psycopg  # noqa: F401
            import psycopg_pool  # noqa: F401
        check_name(schema, "schema")
        if len(schema) > 28:  # room for `_p_` and a 32-character key within 63
            raise InvalidRequestError("the registry schema name must be at most 28 characters")
        self.schema = schema
        # The token table and its single-flight refresh lock are PostgresStore's own.
        self.tokens_store = PostgresStore(dsn, schema=schema)
        self._dsn = dsn

    async def open(self) -> None:
        """Connect; create the schema and tables if missing."""
        await self.tokens_store.open()

        async def run(conn: psycopg.AsyncConnection[Any]) -> None:
            async with conn.transaction():
                await self.tokens_store.ddl_lock(conn)
                await conn.execute(
                    self.tokens_store.sql(
                        "CREATE TABLE IF NOT EXISTS {s}.practices (key text PRIMARY KEY,"
                        " name text NOT NULL, base_url text NOT NULL, resources text[],"
                        " active boolean NOT NULL DEFAULT true, auth text NOT NULL,"
                        " schema_name text NOT NULL, created_at timestamptz NOT NULL,"
                        " timezone text NOT NULL DEFAULT 'UTC')"
                    )
                )
                await conn.execute(
                    self.tokens_store.sql(
                        "CREATE TABLE IF NOT EXISTS {s}.practice_usage (key text NOT NULL,"
                        " window_start bigint NOT NULL, calls bigint NOT NULL,"
                        " PRIMARY KEY (key, window_start))"
                    )
                )
                await ensure_freshness_table(self.tokens_store, conn)
                await create_routing_tables(self.tokens_store, conn)

        await self.tokens_store.run("open the registry", "", run)

    async def aclose(self) -> None:
        """Close the registry's connections; safe to call twice."""
        await self.tokens_store.aclose()

    async def close(self) -> None:
        """The same as `aclose()` (the name every other closeable of the library uses)."""
        await self.aclose()

    async def __aenter__(self) -> PracticeRegistry:
        await self.open()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    def practice_schema(self, key: str) -> str:
        """The schema holding `key`'s records."""
        return f"{self.schema}_p_{check_practice_key(key)}"

    def token_store(self, key: str) -> TokenStore:
        """The practice's token: the registry schema's `_tokens` under the practice key."""
        return self.tokens_store.token_store(f"practice:{check_practice_key(key)}")

    def connections(self, *, pool_size: int = 8) -> PostgresStore:
        """An unopened `PostgresStore` on the registry's schema with a pool of `pool_size`
        connections of its own, whose `sibling(practice_schema(key))` stores share them (the
        webhook receiver: one pool for every practice's applies)."""
        return PostgresStore(self._dsn, schema=self.schema, pool_size=pool_size)

    def data_store(self, key: str, *, pool_size: int = 4) -> PostgresStore:
        """An unopened `PostgresStore` on the practice's own schema (at most `pool_size`
        connections)."""
        return PostgresStore(self._dsn, schema=self.practice_schema(key), pool_size=pool_size)

    async def add(
        self,
        key: str,
        token: Token,
        *,
        name: str | None = None,
        base_url: str = "https://drchrono.com",
        resources: Iterable[str] | None = None,
        auth: str = "oauth",
        timezone: str = "UTC",
    ) -> Practice:
        """Register (or re-activate and update) a practice and save its token."""
        name, url, names = check_practice(
            key, name=name, base_url=base_url, resources=resources, auth=auth, timezone=timezone
        )
        if not isinstance(token, Token):
            raise InvalidRequestError("token must be a Token")
        schema = self.practice_schema(key)

        async def run(conn: psycopg.AsyncConnection[Any]) -> None:
            await conn.execute(
                self.tokens_store.sql(
                    "INSERT INTO {s}.practices (key, name, base_url, resources, active, auth,"
                    " schema_name, created_at, timezone)"
                    " VALUES (%s, %s, %s, %s, true, %s, %s, now(), %s)"
                    " ON CONFLICT (key) DO UPDATE SET name = excluded.name,"
                    " base_url = excluded.base_url, resources = excluded.resources,"
                    " active = true, auth = excluded.auth, timezone = excluded.timezone"
                ),
                (key, name, url, None if names is None else list(names), auth, schema, timezone),
            )

        await self.token_store(key).save(token)
        await self.tokens_store.run("register the practice", "", run)
        found = await self.get(key)
        assert found is not None
        return found

    async def remove(self, key: str) -> bool:
        """Deactivate a practice (its records, token and schema are kept). False if unknown."""
        check_practice_key(key)

        async def run(conn: psycopg.AsyncConnection[Any]) -> bool:
            cur = await conn.execute(
                self.tokens_store.sql("UPDATE {s}.practices SET active = false WHERE key = %s"),
                (key,),
            )
            return cur.rowcount > 0

        return await self.tokens_store.run("remove the practice", "", run)

    async def get(self, key: str) -> Practice | None:
        check_practice_key(key)
        found = await self._select("WHERE key = %s", (key,))
        return found[0] if found else None

    async def practices(self, *, active_only: bool = False) -> list[Practice]:
        """Every registered practice by key (only the active ones with `active_only`)."""
        return await self._select("WHERE active" if active_only else "", ())

    async def _select(self, where: str, args: tuple[Any, ...]) -> list[Practice]:
        from psycopg import sql

        async def run(conn: psycopg.AsyncConnection[Any]) -> list[Practice]:
            query = sql.SQL(
                "SELECT key, name, base_url, resources, active, auth, schema_name, created_at,"
                " timezone"
                " FROM {s}.practices {w} ORDER BY key"
            ).format(s=sql.Identifier(self.schema), w=sql.SQL(where))
            cur = await conn.execute(query, args)
            return [
                Practice(
                    r[0],
                    r[1],
                    r[2],
                    None if r[3] is None else tuple(r[3]),
                    r[4],
                    r[5],
                    r[6],
                    r[7],
                    r[8],
                )
                for r in await cur.fetchall()
            ]

        return await self.tokens_store.run("read the practices", "", run)

    # -- permits spent, for the fairness rule --------------------------------------------------

    async def spend(self, key: str, calls: int, *, window: float) -> int:
        """Add `calls` to the practice's count for the current quota window; the new count."""
        check_practice_key(key)
        calls = check_int(calls, "calls", low=0, high=2**31 - 1)

        async def run(conn: psycopg.AsyncConnection[Any]) -> int:
            async with conn.transaction():
                # The database's clock: every worker agrees on the window.
                cur = await conn.execute(
                    self.tokens_store.sql(
                        "INSERT INTO {s}.practice_usage (key, window_start, calls)"
                        " VALUES (%s, floor(extract(epoch FROM now()) / %s)::bigint, %s)"
                        " ON CONFLICT (key, window_start)"
                        " DO UPDATE SET calls = practice_usage.calls + excluded.calls"
                        " RETURNING calls"
                    ),
                    (key, window, calls),
                )
                row = await cur.fetchone()
                await conn.execute(
                    self.tokens_store.sql(
                        "DELETE FROM {s}.practice_usage WHERE key = %s AND window_start <"
                        " floor(extract(epoch FROM now()) / %s)::bigint - 24"
                    ),
                    (key, window),
                )
            return 0 if row is None else int(row[0])

        return await self.tokens_store.run("count the practice's calls", "", run)

    async def spent(self, key: str, *, window: float) -> int:
        """The practice's calls counted in the current quota window."""
        return await self.spend(key, 0, window=window)

    async def usage(self, key: str, *, window: float) -> tuple[int, float]:
        """The practice's calls in the current quota window and the window's start (epoch
        seconds, the database's clock), only read: for `status` (`spent` also writes)."""
        check_practice_key(key)
        window = check_number(window, "window", low=1, high=86_400, kind="a number of seconds")

        async def run(conn: psycopg.AsyncConnection[Any]) -> tuple[int, float]:
            cur = await conn.execute(
                self.tokens_store.sql(
                    "SELECT w.n * %s, coalesce((SELECT calls FROM {s}.practice_usage u"
                    " WHERE u.key = %s AND u.window_start = w.n), 0)"
                    " FROM (SELECT floor(extract(epoch FROM now()) / %s)::bigint AS n) w"
                ),
                (window, key, window),
            )
            row = await cur.fetchone()
            assert row is not None
            return int(row[1]), float(row[0])

        return await self.tokens_store.run("read the practice's calls", "", run)

    async def window_usage(self, *, window: float) -> tuple[int | None, float]:
        """Every practice's calls counted in the current quota window, summed (None: no
        practice has a count for this window), and the window's start (epoch seconds, the
        database's clock); only read. The fleet's sync calls only: the registry never sees
        interactive callers' calls."""
        window = check_number(window, "window", low=1, high=86_400, kind="a number of seconds")

        async def run(conn: psycopg.AsyncConnection[Any]) -> tuple[int | None, float]:
            cur = await conn.execute(
                self.tokens_store.sql(
                    "SELECT w.n * %s, (SELECT sum(calls) FROM {s}.practice_usage u"
                    " WHERE u.window_start = w.n)"
                    " FROM (SELECT floor(extract(epoch FROM now()) / %s)::bigint AS n) w"
                ),
                (window, window),
            )
            row = await cur.fetchone()
            assert row is not None
            return (None if row[1] is None else int(row[1])), float(row[0])

        return await self.tokens_store.run("read the fleet's calls", "", run)

    def __repr__(self) -> str:
        return f"PracticeRegistry(schema={self.schema!r})"
