"""SQLiteStore's writes: a page's upsert, delete marks, stale marks, the checkpoint, and the
rows of child tables, in one transaction.

Without child tables a page is one `executemany`: its `rowcount` counts the rows the upsert
wrote, and the `Tally` those of them it found unchanged. With child tables, each row goes on
its own so that its `changes()` says whether the upsert wrote it or the rule skipped it: the
children of a written parent are replaced (delete, then insert: one `executemany` each per
child table), those of a skipped or unchanged one are left alone (the same payload holds
the same children). A page that repeats an id goes in layers (`layers`),
so that the last written version's children are the ones kept.
"""

from __future__ import annotations

import functools
import sqlite3
from collections.abc import Sequence
from typing import Any

import orjson

from ._children import Child, Item, KeyMap, items_of
from ._layout import store_id
from ._sql import CHECKPOINTS, DELIVERIES, check_row, layers, now_utc
from ._sqlite_schema import load_keys, save_keys, widen_keys
from ._sqlite_sql import CONVERT, Table, Tally, q, transaction
from ._sqlite_sql import params as row_params
from ._store import Row, WriteResult

__all__ = ["Children", "backfill", "write_page", "write_stale"]

Children = tuple[tuple[Child, KeyMap], ...]
BATCH = 500  # parents read at a time when filling a new child table


@functools.lru_cache(maxsize=256)
def _statements(table: str, names: tuple[str, ...]) -> tuple[str, str]:
    """(delete a parent's rows, insert one row) of child table `table` with typed `names`."""
    cols = ", ".join(["parent_id", "source", "position", "payload", *map(q, names)])
    marks = ", ".join("?" * (4 + len(names)))
    return (
        f"DELETE FROM {q(table)} WHERE parent_id = ?",
        f"INSERT INTO {q(table)} ({cols}) VALUES ({marks})",
    )


def _grow(conn: sqlite3.Connection, children: Children, items: list[list[list[Item]]]) -> Children:
    """Each child table's columns, with new ones for keys first seen in `items` (added in the
    caller's transaction; the columns another writer added meanwhile are read first)."""
    out = []
    for n, (child, keys) in enumerate(children):
        items_n = [item for per_row in items for item in per_row[n]]
        new = keys.candidates(items_n)
        wider = keys.widenings(items_n)
        if new or wider:
            keys = load_keys(conn, child.table)
            wider = keys.widenings(items_n)  # what another writer did not widen meanwhile
            if wider:
                keys = keys.widened(wider)
                widen_keys(conn, child.table, wider)
            keys, added = keys.extended(new)
            save_keys(conn, child.table, keys, added)
        out.append((child, keys))
    return tuple(out)


def _rows(
    keys: KeyMap, table: str, parent: Any, row_id: str, items: list[Item], out: list[Any]
) -> int:
    """Append the child rows of one parent's `items` to `out`; returns the misfits."""
    misfits = 0
    for source, position, item in items:
        values, bad = keys.values(table, row_id, item, CONVERT, nul_in_text=True)
        misfits += bad
        out.append((parent, source, position, orjson.dumps(item).decode(), *values))
    return misfits


def _replace(
    conn: sqlite3.Connection,
    children: Children,
    parents: Sequence[tuple[Any, str, list[list[Item]]]],
    *,
    delete: bool = True,
) -> int:
    """Replace the child rows of written `parents` (each: its stored id, its id as text, its
    items per child table; no id twice); returns the misfits."""
    misfits = 0
    for n, (child, keys) in enumerate(children):
        drop, insert = _statements(child.table, keys.names)
        if delete:  # probes of the primary key's index
            conn.executemany(drop, [(parent,) for parent, _, _ in parents])
        rows: list[Any] = []
        for parent, row_id, per_child in parents:
            misfits += _rows(keys, child.table, parent, row_id, per_child[n], rows)
        if rows:
            conn.executemany(insert, rows)
    return misfits


def _items(resource: str, children: Children, rows: Sequence[Row]) -> list[list[list[Item]]]:
    return [[items_of(resource, r.id, child, r.payload) for child, _ in children] for r in rows]


def write_page(
    conn: sqlite3.Connection,
    resource: str,
    table: Table,
    children: Children,
    rows: Sequence[Row],
    ckpt: str | None,
    deletes: Sequence[str],
    version: str | None,
    delivery: str | None,
    tally: Tally,
) -> tuple[WriteResult, Children]:
    """`SQLiteStore.write`, on the worker thread; also returns the child tables' columns.
    `tally`: the connection's count of unchanged rows."""
    now = now_utc().isoformat()
    checked = [check_row(resource, row) for row in rows]
    rows_params: list[tuple[Any, ...]] = []
    misfits = 0
    for row in checked:
        values, bad = row_params(resource, table, row, now)
        rows_params.append(values)
        misfits += bad
    ids = [store_id(i, table.key, resource) for i in deletes]
    items = _items(resource, children, checked) if children else []
    with transaction(conn):
        if (
            delivery is not None
            and not conn.execute(
                f"INSERT INTO {q(DELIVERIES)} (id, handled_at) VALUES (?, ?)"
                " ON CONFLICT (id) DO NOTHING",
                (delivery, now),
            ).rowcount
        ):
            return WriteResult(0, len(rows), 0, duplicate=True), children
        written = 0
        before, revised_before = tally.count, tally.revised
        if children:
            children = _grow(conn, children, items)
            entries = list(zip(checked, rows_params, items, strict=True))
            for layer in layers(entries, lambda entry: entry[0].id):
                done = []
                for row, values, per_row in layer:
                    same = tally.count
                    if conn.execute(table.upsert, values).rowcount and tally.count == same:
                        done.append((values[0], row.id, per_row))
                written += len(done)
                misfits += _replace(conn, children, done)
        elif rows_params:
            written = conn.executemany(table.upsert, rows_params).rowcount
            written -= tally.count - before
        unchanged = tally.count - before
        revised = tally.revised - revised_before
        marked = 0
        if ids:
            marked = conn.executemany(table.mark, [(i, now, version) for i in ids]).rowcount
            if version is not None:
                conn.executemany(
                    table.raise_mark, [{"v": version, "now": now, "id": i} for i in ids]
                )
        if ckpt is not None:
            conn.execute(
                f"INSERT INTO {q(CHECKPOINTS)} (resource, checkpoint, updated_at)"
                " VALUES (?, ?, ?) ON CONFLICT (resource) DO UPDATE"
                " SET checkpoint = excluded.checkpoint, updated_at = excluded.updated_at",
                (resource, ckpt, now),
            )
    result = WriteResult(
        written=written,
        skipped=len(rows) - written - unchanged,
        marked_deleted=marked,
        misfits=misfits,
        unchanged=unchanged,
        revised=revised,
    )
    return result, children


def write_stale(
    conn: sqlite3.Connection,
    resource: str,
    table: Table,
    children: Children,
    row: Row,
    since: str,
) -> tuple[WriteResult, Children]:
    """`SQLiteStore.mark_stale`, on the worker thread: a row it inserts gets its children."""
    now = now_utc().isoformat()
    values, misfits = row_params(resource, table, check_row(resource, row), now)
    items = _items(resource, children, [row]) if children else []
    with transaction(conn):
        held = conn.execute(f"SELECT 1 FROM {q(resource)} WHERE id = ?", (values[0],)).fetchone()
        conn.execute(table.stale, (*values, since))
        if not held and children:
            children = _grow(conn, children, items)
            misfits += _replace(conn, children, [(values[0], row.id, items[0])], delete=False)
    result = WriteResult(written=0 if held else 1, skipped=0, marked_deleted=0, misfits=misfits)
    return result, children


def backfill(
    conn: sqlite3.Connection, resource: str, children: Children, created: frozenset[str]
) -> Children:
    """Fill the child tables made now (`created`) from the payloads of the rows stored before
    they existed (a migrated table, a child table added later), in the caller's transaction:
    children always match their parent's payload, whenever the parent was written."""
    todo = [n for n, (child, _) in enumerate(children) if child.table in created]
    if not todo:
        return children
    subset = tuple(children[n] for n in todo)
    after: Any = None
    while True:  # keyset pages, in id order, each read whole before the columns grow
        if after is None:
            sql = f"SELECT id, payload FROM {q(resource)} ORDER BY id LIMIT ?"
            batch = conn.execute(sql, (BATCH,)).fetchall()
        else:
            sql = f"SELECT id, payload FROM {q(resource)} WHERE id > ? ORDER BY id LIMIT ?"
            batch = conn.execute(sql, (after, BATCH)).fetchall()
        if not batch:
            break
        after = batch[-1][0]
        rows = [(parent, str(parent), orjson.loads(data)) for parent, data in batch]
        items = [[items_of(resource, rid, c, data) for c, _ in subset] for _, rid, data in rows]
        subset = _grow(conn, subset, items)
        parents = [
            (parent, rid, per_row) for (parent, rid, _), per_row in zip(rows, items, strict=True)
        ]
        _replace(conn, subset, parents, delete=False)  # a new table: nothing to delete
    out = list(children)
    for n, done in zip(todo, subset, strict=True):
        out[n] = done
    return tuple(out)
