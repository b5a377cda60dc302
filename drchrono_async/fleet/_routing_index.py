"""The routing index: which practices hold a record, for deliveries no owner decides.

A delivery whose fields decide no practice (a clinical note has only its appointment and
patient; a DELETE may carry only an id) goes to the practice whose synced copy holds the
record. Asking every active practice's copy is one `SELECT ... WHERE id = %s` per practice
schema, a `UNION ALL` of 200 at 200 practices, on the webhook hot path; the index answers
from one primary-key read: `webhook_records (resource, id, practice, learned_at)` in the
registry schema (created by `_routing.create_tables`). `resource` is the table a copy is
looked for in: a clinical note's entry is its appointment's (`appointments`, its id).

Learned from two places, never from the syncs:

- every applied delivery: `Routing.applied` folds the upsert into the statement that
  records the apply (no extra round trip). An entry is then refreshed at most every tenth
  of `retention`, not rewritten by every delivery of a busy record;
- every fallback lookup (the index had no active entry) that found the record in some
  practices' copies, all of them.

Learning while syncing would be a write per synced row (millions in a fleet's first
backfills) for ids almost none of which an undecided delivery ever names; the fallback
learns those few, once each.

The rule is the copies' rule: several practices per (resource, id) are kept, and a record
several active practices hold stays *ambiguous* (kept unrouted). An entry whose practice is
no longer active never routes there: the lookup falls back to the active practices' copies
(a practice registered again under another key is found) and, if none holds the record,
says so (the delivery is kept as *inactive*). An entry is a fact (that practice's copy holds
the record, or was just written with it), not all of them: a record the owners routed to one
practice keeps going there while its entry lives, even if another practice's copy holds it
too, where the copies alone would have called its id-only deliveries ambiguous.

Entries are purged `retention` (30 days by default) after they were last learned, by the
retry housekeeping (`purge_if_due`: at most hourly per receiver or worker), never per
delivery.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any

from .._checks import check_number
from .._ids import check_object_id
from ..ratelimit import Clock
from ._stamp import NOW, stamp

if TYPE_CHECKING:
    import psycopg

    from ..sync import PostgresStore

__all__ = ["DEFAULT_INDEX_RETENTION", "LEARN", "TABLES", "RecordIndex", "record_key"]

DEFAULT_INDEX_RETENTION = 30 * 86_400.0
_PURGE_EVERY = 3600.0  # seconds between one index's opportunistic purges
# Where a copy is looked for when no owner decides: (table, the object's field of its key).
_KEYED_BY: Mapping[str, tuple[str, str]] = {"clinical_notes": ("appointments", "appointment")}
_CHUNK = 100  # practices' schemas per copy lookup statement

TABLES = (
    "CREATE TABLE IF NOT EXISTS {s}.webhook_records (resource text NOT NULL,"
    " id text NOT NULL, practice text NOT NULL, learned_at timestamptz NOT NULL,"
    " PRIMARY KEY (resource, id, practice))",
    "CREATE INDEX IF NOT EXISTS webhook_records_learned ON {s}.webhook_records (learned_at)",
)

# The upsert of (rr, rid) -> each of rp; a known entry is refreshed only once `fresh`
# seconds old (a busy record's deliveries would otherwise each rewrite its row).
LEARN = (
    "INSERT INTO {s}.webhook_records (resource, id, practice, learned_at)"
    " SELECT %(rr)s, %(rid)s, q.p, " + NOW + " FROM unnest(%(rp)s::text[]) AS q(p)"
    " ON CONFLICT (resource, id, practice) DO UPDATE SET learned_at = excluded.learned_at"
    " WHERE webhook_records.learned_at"
    " < excluded.learned_at - make_interval(secs => %(fresh)s)"
)


def record_key(resource: str, obj: Mapping[str, Any]) -> tuple[str, str] | None:
    """(the table its copy is in, its id there) of an event's object; None without one."""
    table, field = _KEYED_BY.get(resource, (resource, "id"))
    value = obj.get(field)
    key = check_object_id(value) if value is not None else None
    return None if key is None else (table, key)


class RecordIndex:
    """The registry's routing index (see the module's docstring). `retention`: seconds an
    entry is kept after it was last learned (1 to 366 days); `clock`: for tests."""

    def __init__(
        self,
        store: PostgresStore,
        *,
        clock: Clock | None = None,
        retention: float = DEFAULT_INDEX_RETENTION,
    ) -> None:
        self._store = store
        self.clock = clock
        self.retention = check_number(
            retention,
            "index_retention",
            low=86_400,
            high=366 * 86_400,
            kind="a number of seconds",
            tail=" (1 to 366 days)",
        )
        self._purged_at: float | None = None

    def params(self, resource: str, key: str, practices: Iterable[str]) -> dict[str, Any]:
        """The parameters of `LEARN`: (resource, key) is held by each of `practices`."""
        return {
            "rr": resource,
            "rid": key,
            "rp": sorted(set(practices)),
            "fresh": self.retention / 10,
            "now": stamp(self.clock),
        }

    async def _run(
        self, op: str, fn: Callable[[psycopg.AsyncConnection[Any]], Awaitable[Any]]
    ) -> Any:
        return await self._store.run(op, "", fn)

    async def learn(self, resource: str, key: str, practices: Iterable[str]) -> None:
        """Record that each of `practices` holds the record `key` of `resource`."""
        params = self.params(resource, key, practices)
        if not params["rp"]:
            return

        async def run(conn: psycopg.AsyncConnection[Any]) -> None:
            await conn.execute(self._store.sql(LEARN), params)

        await self._run("learn the routing index", run)

    async def entries(self, resource: str, key: str) -> dict[str, bool]:
        """{practice: active} of the index's entries for the record (one indexed read)."""

        async def run(conn: psycopg.AsyncConnection[Any]) -> list[tuple[Any, ...]]:
            cur = await conn.execute(
                self._store.sql(
                    "SELECT r.practice, p.active FROM {s}.webhook_records r"
                    " JOIN {s}.practices p ON p.key = r.practice"
                    " WHERE r.resource = %s AND r.id = %s"
                ),
                (resource, key),
            )
            return await cur.fetchall()

        rows = await self._run("read the routing index", run)
        return {practice: bool(active) for practice, active in rows}

    async def lookup(
        self, resource: str, obj: Mapping[str, Any], among: set[str] | None
    ) -> tuple[set[str], bool]:
        """The active practices (of `among`, if given) holding the object's record: the
        index's entries, else the practices' copies (what they find is learned); and True
        when only practices no longer active were indexed for it and no copy holds it."""
        found = record_key(resource, obj)
        if found is None:
            return set(), False
        table, key = found
        entries = await self.entries(table, key)
        if among is not None:
            entries = {p: on for p, on in entries.items() if p in among}
        active = {p for p, on in entries.items() if on}
        if active:
            return active, False
        held = await self.copies(table, key, among)
        return held, bool(entries) and not held

    async def copies(self, table: str, key: str, among: set[str] | None) -> set[str]:
        """The active practices (of `among`, if given) whose synced `table` holds `key`,
        asked of every one (the fallback); what is found is learned."""
        from psycopg import sql

        keys = None if among is None else sorted(among)

        async def run(conn: psycopg.AsyncConnection[Any]) -> set[str]:
            cur = await conn.execute(
                self._store.sql(
                    "SELECT p.key, p.schema_name, c.data_type FROM {s}.practices p"
                    " JOIN information_schema.columns c ON c.table_schema = p.schema_name"
                    " AND c.table_name = %s AND c.column_name = 'id'"
                    " WHERE p.active AND (%s::text[] IS NULL OR p.key = ANY(%s::text[]))"
                ),
                (table, keys, keys),
            )
            tables = await cur.fetchall()
            numeric = key.isdigit() and len(key) <= 18
            found: set[str] = set()
            for start in range(0, len(tables), _CHUNK):
                parts: list[sql.Composable] = []
                args: list[Any] = []
                for practice, schema, kind in tables[start : start + _CHUNK]:
                    if kind == "bigint" and not numeric:
                        continue
                    parts.append(
                        sql.SQL("SELECT {} FROM {}.{} WHERE id = %s").format(
                            sql.Literal(practice), sql.Identifier(schema), sql.Identifier(table)
                        )
                    )
                    args.append(int(key) if kind == "bigint" else key)
                if parts:
                    cur = await conn.execute(sql.SQL(" UNION ALL ").join(parts), args)
                    found.update(row[0] for row in await cur.fetchall())
            if found:  # the next lookup of this record is one indexed read
                await conn.execute(self._store.sql(LEARN), self.params(table, key, found))
            return found

        held: set[str] = await self._run("look the record up in the practices' copies", run)
        return held

    async def purge(self) -> int:
        """Delete the entries last learned more than `retention` ago; how many."""

        async def run(conn: psycopg.AsyncConnection[Any]) -> int:
            cur = await conn.execute(
                self._store.sql(
                    "DELETE FROM {s}.webhook_records"
                    " WHERE learned_at < " + NOW + " - make_interval(secs => %(keep)s)"
                ),
                {"now": stamp(self.clock), "keep": self.retention},
            )
            return max(0, cur.rowcount)

        gone: int = await self._run("purge the routing index", run)
        return gone

    async def purge_if_due(self) -> int:
        """`purge()`, when this index last purged an hour ago or more (or never); else 0."""
        moment = self.clock.now() if self.clock is not None else time.monotonic()
        if self._purged_at is not None and moment - self._purged_at < _PURGE_EVERY:
            return 0
        self._purged_at = moment
        return await self.purge()
