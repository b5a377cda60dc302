"""PostgresStore's child-table writes (`_children`'s rules): new columns under the DDL lock,
and the rows of written parents replaced (one DELETE, one COPY per child table), all in the
write's transaction."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

import orjson

from ._children import Child, Item, KeyMap, items_of
from ._pg_schema import load_keys, save_keys, widen_keys
from ._pg_values import CONVERT, encode, payload
from ._store import KeyType

if TYPE_CHECKING:
    import psycopg

    from ._postgres import PostgresStore

__all__ = ["Children", "backfill", "grow", "replace"]

Children = tuple[tuple[Child, KeyMap], ...]
BATCH = 500  # parents read at a time when filling a new child table
# One written parent: its id as stored, its id as text, its items per child table.
Parent = tuple[Any, str, list[list[Item]]]


async def grow(
    store: PostgresStore,
    conn: psycopg.AsyncConnection[Any],
    children: Children,
    items: Iterable[list[list[Item]]],
) -> Children:
    """Each child table's columns, with new ones for keys first seen in `items` (added under
    the DDL lock, after reading those another writer added meanwhile)."""
    per_row = list(items)
    out = []
    locked = False
    for n, (child, keys) in enumerate(children):
        items_n = [item for row in per_row for item in row[n]]
        new = keys.candidates(items_n)
        wider = keys.widenings(items_n)
        if new or wider:
            if not locked:
                await store.ddl_lock(conn)
                locked = True
            keys = await load_keys(store, conn, child.table)
            wider = keys.widenings(items_n)  # what another writer did not widen meanwhile
            if wider:
                keys = keys.widened(wider)
                await widen_keys(store, conn, child.table, keys, wider)
            keys, added = keys.extended(new)
            await save_keys(store, conn, child.table, keys, added)
        out.append((child, keys))
    return tuple(out)


async def replace(
    store: PostgresStore,
    cur: psycopg.AsyncCursor[Any],
    children: Children,
    key: KeyType,
    parents: Sequence[Parent],
    updated: Sequence[Any],
) -> int:
    """Write the child rows of `parents` (rows the upsert wrote), after deleting those of the
    `updated` ones (a row just inserted has none: no DELETE, which on a child table without
    statistics yet, a first sync's, is planned as a scan of the whole table); returns the
    misfits."""
    from psycopg import sql

    if not parents:
        return 0
    array = sql.SQL("bigint[]" if key == "integer" else "text[]")
    misfits = 0
    for n, (child, keys) in enumerate(children):
        if updated:
            await cur.execute(
                store.sql(
                    "DELETE FROM {s}.{t} WHERE parent_id = ANY(%s::{a})", t=child.table, a=array
                ),
                (list(updated),),
            )
        rows = []
        for parent, row_id, per_child in parents:
            for source, position, item in per_child[n]:
                values, bad = keys.values(child.table, row_id, item, CONVERT, nul_in_text=False)
                misfits += bad
                data, exact = encode(orjson.dumps(item))
                rows.append((parent, source, position, data, exact, *values))
        if not rows:
            continue
        cols = sql.SQL(", ").join(
            map(
                sql.Identifier,
                ["parent_id", "source", "position", "payload", "payload_text", *keys.names],
            )
        )
        async with cur.copy(
            store.sql("COPY {s}.{t} ({c}) FROM STDIN", t=child.table, c=cols)
        ) as sink:
            for one in rows:
                await sink.write_row(one)
    return misfits


async def backfill(
    store: PostgresStore,
    conn: psycopg.AsyncConnection[Any],
    resource: str,
    key: KeyType,
    children: Children,
    created: frozenset[str],
) -> Children:
    """Fill the child tables made now (`created`) from the payloads of the rows stored before
    they existed (a migrated table, a child table added later), in the caller's transaction:
    children always match their parent's payload, whenever the parent was written."""
    from psycopg import sql

    todo = [n for n, (child, _) in enumerate(children) if child.table in created]
    if not todo:
        return children
    subset = tuple(children[n] for n in todo)
    after: Any = None
    async with conn.cursor() as cur:
        while True:  # keyset pages, in id order: bounded memory on any table
            where = sql.SQL("" if after is None else "WHERE id > %(after)s")
            await cur.execute(
                store.sql(
                    "SELECT id, payload, payload_text FROM {s}.{t} {w} ORDER BY id LIMIT %(n)s",
                    t=resource,
                    w=where,
                ),
                {"after": after, "n": BATCH},
            )
            batch = await cur.fetchall()
            if not batch:
                break
            after = batch[-1][0]
            parents: list[Parent] = []
            for parent, data, text in batch:
                stored = payload(data, text)
                parents.append(
                    (
                        parent,
                        str(parent),
                        [items_of(resource, str(parent), c, stored) for c, _ in subset],
                    )
                )
            subset = await grow(store, conn, subset, (p[2] for p in parents))
            await replace(store, cur, subset, key, parents, ())  # a new table: nothing to delete
    out = list(children)
    for n, done in zip(todo, subset, strict=True):
        out[n] = done
    return tuple(out)
