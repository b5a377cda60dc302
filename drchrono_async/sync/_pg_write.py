"""PostgresStore's writes: a page's bulk upsert, delete marks, stale marks, the checkpoint.

Bulk upsert: one look-up of which ids of the page are stored; the others are COPYed straight
into the table (a first sync: nearly every row), the stored ones COPYed into a temporary
table and merged with one `INSERT ... SELECT ... ON CONFLICT DO UPDATE ... WHERE` (the upsert
rule). A row another writer inserts in between makes the COPY fail; the write is then redone
whole through the upsert. Rows, delete marks, checkpoint and the rows of child tables: one
transaction. Each upsert returns, for each row it wrote, whether it inserted it (`xmax = 0`)
and whether the row was already as it is (`_sql.same_state`, against the row as a subquery
of the statement reads it: as it was before the statement), counted in one answer row; with
child tables, per row: only the changed parents' children are replaced, and only the
updated ones' deleted first (`_pg_children`).
"""

from __future__ import annotations

import hashlib
import weakref
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from ._children import Item, items_of
from ._layout import check_resource, store_id
from ._pg_children import Children, grow, replace
from ._pg_values import ROW_COLUMNS, PgTable, params
from ._sql import (
    CHECKPOINTS,
    DELIVERIES,
    check_delivery,
    check_row,
    check_time,
    check_version,
    dump_checkpoint,
    layers,
    mark_conditions,
    now_utc,
    same_state,
    same_version,
    unique,
    upsert_condition,
    upsert_versions,
)
from ._store import KeyType, Row, WriteResult

if TYPE_CHECKING:
    import psycopg
    from psycopg import sql

    from ._postgres import PostgresStore

__all__ = ["SMALL", "PageWriter"]

# Pages of at most this many rows go in one INSERT ... VALUES ... ON CONFLICT (fewer round
# trips than a look-up and a COPY: a webhook's one row, a reconciliation's few).
SMALL = 8


def _array(key: KeyType) -> sql.SQL:
    from psycopg import sql

    return sql.SQL("bigint[]" if key == "integer" else "text[]")


class PageWriter:
    """The write paths of one `PostgresStore`."""

    def __init__(self, store: PostgresStore) -> None:
        self._store = store
        # Per connection (a session): resource -> (staging table, its columns and key).
        self._temps: weakref.WeakKeyDictionary[Any, dict[str, tuple[str, tuple[object, ...]]]] = (
            weakref.WeakKeyDictionary()
        )
        self._all_new: dict[str, bool] = {}  # did the resource's last page hold only new ids?

    def forget(self) -> None:
        self._temps = weakref.WeakKeyDictionary()

    def forget_resource(self, resource: str) -> None:
        """Make each session's staging table of `resource` again on its next write (its
        table may have been migrated)."""
        for temps in self._temps.values():
            temps.pop(resource, None)

    async def _temp(self, conn: psycopg.AsyncConnection[Any], resource: str, table: PgTable) -> str:
        """The session's staging table for `resource`, (re)made to match its columns."""
        temps = self._temps.setdefault(conn, {})
        found = temps.get(resource)
        shape = (table.names, table.key)
        if found is not None and found[1] == shape:
            return found[0]
        # Named by schema and resource, not by a count of this writer's: stores sharing a
        # pool (`PostgresStore.sibling`) share its connections, and so their temp tables.
        digest = hashlib.blake2b(f"{self._store.schema}.{resource}".encode(), digest_size=12)
        name = f"_in_{digest.hexdigest()}" if found is None else found[0]
        sql = self._store.sql
        # Made outside the write's transaction so that a rollback cannot undo it.
        await conn.execute(sql("DROP TABLE IF EXISTS pg_temp.{n}", n=name))
        await conn.execute(
            sql("CREATE TEMP TABLE {n} (LIKE {s}.{t}) ON COMMIT DELETE ROWS", n=name, t=resource)
        )
        temps[resource] = (name, shape)
        return name

    async def write(
        self,
        resource: str,
        rows: Sequence[Row],
        *,
        checkpoint: Mapping[str, Any] | None,
        delete_ids: Sequence[str],
        deleted_at: str | None,
        delivery_id: str | None,
    ) -> WriteResult:
        delivery = None if delivery_id is None else check_delivery(delivery_id)
        table = self._store.table(resource, "write")
        children: Children = self._store.children.get(resource, ())
        ckpt = None if checkpoint is None else dump_checkpoint(checkpoint).decode()
        deletes = [store_id(i, table.key, resource) for i in unique(delete_ids, resource)]
        version = check_version(deleted_at, "deleted_at")
        now = now_utc()
        # Checked and converted before anything is sent.
        misfits = 0
        parts: list[list[tuple[Any, ...]]] = []
        # Per part, per row: the row's id as text and its items per child table.
        nested: list[list[tuple[str, list[list[Item]]]]] = []
        for layer in layers(rows):
            part = []
            for row in layer:
                values, bad = params(resource, table, check_row(resource, row), now)
                part.append(values)
                misfits += bad
            parts.append(part)
            if children:
                nested.append(
                    [
                        (r.id, [items_of(resource, r.id, c, r.payload) for c, _ in children])
                        for r in layer
                    ]
                )
        n_rows = sum(map(len, parts))
        store = self._store
        grown: list[Children] = [children]

        async def run(conn: psycopg.AsyncConnection[Any], mode: str) -> WriteResult:
            from psycopg import sql

            cols = sql.SQL(", ").join(map(sql.Identifier, [*ROW_COLUMNS, *table.names]))
            staging = n_rows and mode in ("lookup", "upsert")
            temp = await self._temp(conn, resource, table) if staging else ""
            written = marked = unchanged = revised = 0
            nested_misfits = 0
            staged = False
            # The last resort deletes the children of every written parent, inserted or not:
            # one a parent row deleted by hand left behind would fail the COPY of its rows.
            clean = mode in ("upsert", "small-clean")

            async def upsert(source: sql.Composable, values: Sequence[Any] = ()) -> None:
                """Upsert `source`'s rows: count them; with children, note the changed ids."""
                nonlocal written, unchanged, revised
                per_row = bool(children)
                await cur.execute(self._upsert(resource, source, table, cols, per_row), values)
                if not per_row:
                    found = await cur.fetchone()
                    if found is not None:
                        written += found[0]
                        unchanged += found[1]
                        revised += found[2]
                    return
                for id_, inserted, same in await cur.fetchall():
                    if same == 2:
                        unchanged += 1
                    else:
                        written += 1
                        revised += same == 1
                        done[id_] = inserted

            async with conn.transaction(), conn.cursor() as cur:
                if delivery is not None:
                    await cur.execute(
                        store.sql(
                            "INSERT INTO {s}.{t} (id, handled_at) VALUES (%s, %s)"
                            " ON CONFLICT (id) DO NOTHING",
                            t=DELIVERIES,
                        ),
                        (delivery, now),
                    )
                    if not cur.rowcount:
                        return WriteResult(0, n_rows, 0, duplicate=True)
                kids = children
                if children:
                    kids = await grow(store, conn, children, (i for p in nested for _, i in p))
                for n, part in enumerate(parts):
                    if not part:
                        continue
                    new: list[tuple[Any, ...]] = []
                    held_rows = part
                    done: dict[Any, bool] = {}  # ids this part wrote -> whether inserted
                    if mode in ("small", "small-clean"):
                        # A webhook's row, a few confirmed ids: one statement, no staging.
                        listed = sql.SQL(", ").join(
                            sql.SQL("({})").format(
                                sql.SQL(", ").join([sql.Placeholder()] * len(part[0]))
                            )
                            for _ in part
                        )
                        await upsert(sql.SQL("VALUES ") + listed, [v for one in part for v in one])
                        if children:
                            nested_misfits += await self._nested(
                                cur, kids, table, part, nested[n], done, clean
                            )
                        continue
                    if mode == "direct":
                        new, held_rows = part, []
                    elif mode == "lookup":
                        # Ids not stored yet go straight in (a fresh sync: most rows), the
                        # others through the staging table and the upsert rule.
                        await cur.execute(
                            store.sql(
                                "SELECT id FROM {s}.{t} WHERE id = ANY(%s::{a})",
                                t=resource,
                                a=_array(table.key),
                            ),
                            ([p[0] for p in part],),
                        )
                        held = {r[0] for r in await cur.fetchall()}
                        new = [p for p in part if p[0] not in held]
                        held_rows = [p for p in part if p[0] in held]
                        self._all_new[resource] = not held_rows
                    if new:
                        copy = store.sql("COPY {s}.{t} ({c}) FROM STDIN", t=resource, c=cols)
                        async with cur.copy(copy) as sink:
                            for values in new:
                                await sink.write_row(values)
                        written += len(new)
                        done.update((p[0], True) for p in new)
                    if held_rows:
                        if staged:
                            await cur.execute(store.sql("DELETE FROM pg_temp.{n}", n=temp))
                        copy = store.sql("COPY pg_temp.{n} ({c}) FROM STDIN", n=temp, c=cols)
                        async with cur.copy(copy) as sink:
                            for values in held_rows:
                                await sink.write_row(values)
                        source = store.sql("SELECT {c} FROM pg_temp.{n}", c=cols, n=temp)
                        await upsert(source)
                        staged = True
                    if children:
                        nested_misfits += await self._nested(
                            cur, kids, table, part, nested[n], done, clean
                        )
                if deletes:
                    marked = await self._mark(cur, resource, table.key, deletes, version, now)
                if ckpt is not None:
                    await cur.execute(
                        store.sql(
                            "INSERT INTO {s}.{t} (resource, checkpoint, updated_at)"
                            " VALUES (%s, %s::jsonb, %s) ON CONFLICT (resource) DO UPDATE"
                            " SET checkpoint = excluded.checkpoint,"
                            " updated_at = excluded.updated_at",
                            t=CHECKPOINTS,
                        ),
                        (resource, ckpt, now),
                    )
            grown[0] = kids  # committed: the columns it added exist
            return WriteResult(
                written=written,
                skipped=n_rows - written - unchanged,
                marked_deleted=marked,
                misfits=misfits + nested_misfits,
                unchanged=unchanged,
                revised=revised,
            )

        async def attempt(conn: psycopg.AsyncConnection[Any]) -> WriteResult:
            import psycopg

            # "direct": every row COPYed straight in, no look-up (a backfill, page after
            # page of new ids); after a page with stored ids, "lookup" until a page is new
            # again. A unique violation rolls the attempt back whole: "direct" falls back to
            # "lookup"; "lookup" (another writer inserted an id meanwhile) to "upsert".
            if n_rows <= SMALL:
                try:
                    return await run(conn, "small")
                except psycopg.errors.UniqueViolation:
                    if not children:
                        raise
                    return await run(conn, "small-clean")
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

        result = await store.run("write", resource, attempt)
        if children:
            store.children[resource] = grown[0]
        return result

    async def _nested(
        self,
        cur: psycopg.AsyncCursor[Any],
        children: Children,
        table: PgTable,
        part: list[tuple[Any, ...]],
        nested: list[tuple[str, list[list[Item]]]],
        done: dict[Any, bool],
        clean: bool,
    ) -> int:
        """Replace the children of the rows of `part` that were written (ids in `done`); the
        inserted ones' are deleted first only when `clean`."""
        parents = [
            (values[0], row_id, items)
            for values, (row_id, items) in zip(part, nested, strict=True)
            if values[0] in done
        ]
        updated = [parent for parent, inserted in done.items() if clean or not inserted]
        return await replace(self._store, cur, children, table.key, parents, updated)

    async def _mark(
        self,
        cur: psycopg.AsyncCursor[Any],
        resource: str,
        key: KeyType,
        ids: list[Any],
        version: str | None,
        now: Any,
    ) -> int:
        """Mark `ids` deleted at `version`; returns how many were newly marked."""
        from psycopg import sql

        store = self._store
        mark, _, stale = mark_conditions("t", "excluded.deleted_at")
        await cur.execute(
            store.sql(
                "INSERT INTO {s}.{t} AS t (id, payload, updated_at, deleted, synced_at,"
                " deleted_at) SELECT i, '{{}}'::jsonb, NULL::timestamp, true, %(now)s,"
                " %(v)s::timestamp FROM unnest(%(ids)s::{a}) AS i ON CONFLICT (id) DO UPDATE"
                " SET deleted = true, synced_at = excluded.synced_at,"
                " deleted_at = excluded.deleted_at, stale_at = {stale} WHERE {mark}",
                t=resource,
                a=_array(key),
                stale=sql.SQL(stale),  # constants only
                mark=sql.SQL(mark),
            ),
            {"now": now, "v": version, "ids": ids},
        )
        marked = cur.rowcount
        if version is not None:
            _, raise_, stale = mark_conditions("t", "%(v)s::timestamp")
            await cur.execute(
                store.sql(
                    "UPDATE {s}.{t} AS t SET deleted_at = %(v)s::timestamp, synced_at = %(now)s,"
                    " stale_at = {stale} WHERE t.id = ANY(%(ids)s::{a}) AND {raise_}",
                    t=resource,
                    a=_array(key),
                    stale=sql.SQL(stale),
                    raise_=sql.SQL(raise_),
                ),
                {"now": now, "v": version, "ids": ids},
            )
        return marked

    def _upsert(
        self,
        resource: str,
        source: sql.Composable,
        table: PgTable,
        cols: sql.Composable,
        per_row: bool,
    ) -> sql.Composed:
        """The upsert of `source`'s rows, as a query answering (written, unchanged, revised)
        or, with `per_row`, (id, inserted, state) for each row it wrote (state 2: unchanged,
        1: revised, 0: changed or inserted)."""
        from psycopg import sql

        plain = ["payload", "payload_text", "updated_at", "deleted", "synced_at", *table.names]
        sets = sql.SQL(", ").join(
            [
                *(sql.SQL("{c} = excluded.{c}").format(c=sql.Identifier(c)) for c in plain),
                *(
                    sql.SQL("{c} = ").format(c=sql.Identifier(c)) + sql.SQL(expr)
                    for c, expr in upsert_versions("t")
                ),
            ]
        )
        condition = sql.SQL(upsert_condition("t"))  # constants only
        # A subquery of the statement reads the statement's snapshot: `o` is the row as it was
        # before this upsert (None for a row it inserted); one index look-up per row written.
        # (Another writer's row committed meanwhile may be compared with its older state:
        # the count may then say written where unchanged, never the reverse for new data.)
        # 2: unchanged, 1: revised (the version held, the payload not), 0: changed or new.
        same = (
            sql.SQL("COALESCE((SELECT CASE WHEN ")
            + sql.SQL(same_state("o", "t", ("payload_text",)))  # constants only
            + sql.SQL(" THEN 2 WHEN ")
            + sql.SQL(same_version("o", "t"))
            + self._store.sql(
                " THEN 1 ELSE 0 END FROM {s}.{t} AS o WHERE o.id = t.id), 0)", t=resource
            )
        )
        upsert = self._store.sql(
            "INSERT INTO {s}.{t} AS t ({cols}) {source}"
            " ON CONFLICT (id) DO UPDATE SET {sets} WHERE {cond}"
            " RETURNING t.id, (t.xmax = 0), {same}",
            t=resource,
            source=source,
            cols=cols,
            sets=sets,
            cond=condition,
            same=same,
        )
        if per_row:
            return upsert
        return sql.SQL(
            "WITH w (id, inserted, same) AS ({upsert})"
            " SELECT count(*) FILTER (WHERE same < 2), count(*) FILTER (WHERE same = 2),"
            " count(*) FILTER (WHERE same = 1) FROM w"
        ).format(upsert=upsert)

    async def mark_stale(self, resource: str, row: Row, *, at: str) -> WriteResult:
        """Flag `row.id` stale since `at`, inserting `row` if absent (see `SyncStore`); a row
        it inserts gets its children."""
        since = check_time(at, "at")
        check_resource(resource)
        table = self._store.table(resource, "mark_stale")
        children: Children = self._store.children.get(resource, ())
        values, misfits = params(resource, table, check_row(resource, row), now_utc())
        items = [items_of(resource, row.id, c, row.payload) for c, _ in children]
        store = self._store
        grown: list[Children] = [children]

        async def run(conn: psycopg.AsyncConnection[Any]) -> WriteResult:
            from psycopg import sql

            names = [*ROW_COLUMNS, *table.names, "stale_at"]
            cols = sql.SQL(", ").join(map(sql.Identifier, names))
            marks = sql.SQL(", ").join([sql.Placeholder()] * len(names))
            nested = 0
            async with conn.transaction(), conn.cursor() as cur:
                await cur.execute(
                    store.sql(
                        "INSERT INTO {s}.{t} AS t ({cols}) VALUES ({marks})"
                        " ON CONFLICT (id) DO UPDATE SET stale_at = CASE WHEN t.stale_at IS NULL"
                        " OR excluded.stale_at > t.stale_at THEN excluded.stale_at"
                        " ELSE t.stale_at END RETURNING (xmax = 0)",
                        t=resource,
                        cols=cols,
                        marks=marks,
                    ),
                    (*values, since),
                )
                found = await cur.fetchone()
                inserted = bool(found and found[0])
                if inserted and children:
                    kids = await grow(store, conn, children, [items])
                    parent = [(values[0], row.id, items)]  # just inserted: none to delete
                    nested = await replace(store, cur, kids, table.key, parent, ())
                    grown[0] = kids
            return WriteResult(
                written=int(inserted), skipped=0, marked_deleted=0, misfits=misfits + nested
            )

        result = await store.run("mark_stale", resource, run)
        if children:
            store.children[resource] = grown[0]
        return result
