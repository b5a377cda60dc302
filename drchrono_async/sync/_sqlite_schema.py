"""SQLiteStore's tables: creating them, migrating older layouts, indexes, views, child tables.

Types. SQLite has no timestamp type: versions stay ISO-8601 text (`YYYY-MM-DDTHH:MM:SS.ffffff`,
which `date()`, `datetime()` and `strftime()` read), declared `DATETIME` so that tools show a
timestamp. `DATETIME` (like `DATE` and `TIME`) has NUMERIC affinity, which converts only text
that reads as a number: never ISO dates. Not `TIMESTAMP`: Python's sqlite3 would hand such a
column to its `timestamp` converter under `detect_types`, which cannot read the `T`.
An integer-keyed resource's `id` is `INTEGER PRIMARY KEY` (the rowid), a text one's `TEXT`.

Migration (layout 1 to 2, `_layout`'s docstring): SQLite cannot change a column's type, so a
table of an older layout is rebuilt: create the new table, copy the rows, drop the old one,
rename the new one, in the caller's transaction (`BEGIN IMMEDIATE`: one writer at a time,
and a crash at any point leaves the old table whole).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence

import attrs

from ..errors import StoreError
from ._children import Child, KeyMap
from ._layout import CHILD_COLUMNS, LAYOUT, SCHEMA, child_table, index_name, view_name
from ._sql import CHECKPOINTS, DELIVERIES, TOKENS, VERSION_COLUMNS, VERSIONS, now_utc
from ._sqlite_sql import SQL_TYPES, q
from ._store import ChildTable, ColumnType, KeyType

__all__ = ["Ensured", "create_bookkeeping", "ensure", "key_type", "load_keys", "save_keys"]

_ID = {"integer": "INTEGER PRIMARY KEY", "text": "TEXT PRIMARY KEY"}
_PARENT = {"integer": "INTEGER", "text": "TEXT"}
# The base columns after `id`, in order, as layout 2 declares them.
_BASE = (
    ("payload", "TEXT NOT NULL"),
    ("updated_at", "DATETIME"),
    ("deleted", "INTEGER NOT NULL DEFAULT 0"),
    ("synced_at", "DATETIME NOT NULL"),
    ("deleted_at", "DATETIME"),
    ("observed_at", "DATETIME"),
    ("stale_at", "DATETIME"),
)
_CHILD_BASE = ("source TEXT NOT NULL", "position INTEGER NOT NULL", "payload TEXT NOT NULL")
_TIMES = {"date", "time", "timestamp"}


@attrs.frozen
class Ensured:
    """A resource's table as `ensure` left it."""

    names: tuple[str, ...]  # its typed columns, in table order
    key: KeyType
    children: tuple[tuple[Child, KeyMap], ...]
    created: frozenset[str] = frozenset()  # the child tables made now (to fill from payloads)


def create_bookkeeping(conn: sqlite3.Connection) -> None:
    """The bookkeeping tables (in the caller's transaction); refuses a database that a newer
    layout wrote."""
    conn.execute(
        f"CREATE TABLE IF NOT EXISTS {q(CHECKPOINTS)} (resource TEXT PRIMARY KEY,"
        " checkpoint TEXT NOT NULL, updated_at TEXT NOT NULL)"
    )
    conn.execute(
        f"CREATE TABLE IF NOT EXISTS {q(TOKENS)} (key TEXT PRIMARY KEY,"
        " token TEXT NOT NULL, updated_at TEXT NOT NULL)"
    )
    conn.execute(
        f"CREATE TABLE IF NOT EXISTS {q(DELIVERIES)} (id TEXT PRIMARY KEY,"
        " handled_at TEXT NOT NULL)"
    )
    conn.execute(
        f"CREATE TABLE IF NOT EXISTS {q(SCHEMA)} (name TEXT PRIMARY KEY,"
        " version INTEGER NOT NULL, id_type TEXT NOT NULL, changed_at TEXT NOT NULL)"
    )
    conn.execute(
        f"CREATE TABLE IF NOT EXISTS {q(CHILD_COLUMNS)} (child TEXT NOT NULL, key TEXT NOT NULL,"
        " name TEXT NOT NULL, type TEXT NOT NULL, ordinal INTEGER NOT NULL,"
        " PRIMARY KEY (child, key), UNIQUE (child, name))"
    )
    newest = conn.execute(f"SELECT max(version) FROM {q(SCHEMA)}").fetchone()[0]
    if newest is not None and newest > LAYOUT:
        raise StoreError(
            f"this database has tables of layout {int(newest)}, which a newer drchrono-async"
            f" wrote; this one knows layouts up to {LAYOUT}: upgrade it"
        )


def key_type(conn: sqlite3.Connection, resource: str) -> KeyType | None:
    """The type of the resource's ids as its table declares `id` (any layout); None: none."""
    sql = "SELECT upper(type) FROM pragma_table_info(?) WHERE name = 'id'"
    found = conn.execute(sql, (resource,)).fetchone()
    return None if found is None else "integer" if found[0] == "INTEGER" else "text"


def _columns(conn: sqlite3.Connection, table: str) -> dict[str, str]:
    """The table's columns and their declared types (upper case), in order; {} if none."""
    cur = conn.execute("SELECT name, upper(type) FROM pragma_table_info(?)", (table,))
    return {str(name): str(type_) for name, type_ in cur}


def _affinity(declared: str) -> str:
    """A type of the same affinity as `declared` (SQLite's rules), from a fixed set: a
    rebuilt table keeps how its columns store values, and no catalog text reaches SQL."""
    if "INT" in declared:
        return "INTEGER"
    if any(part in declared for part in ("CHAR", "CLOB", "TEXT")):
        return "TEXT"
    if not declared or "BLOB" in declared:
        return "BLOB"
    if any(part in declared for part in ("REAL", "FLOA", "DOUB")):
        return "REAL"
    return "NUMERIC" if declared not in ("DATE", "TIME", "DATETIME") else declared


def _check_integers(conn: sqlite3.Connection, table: str, column: str, resource: str) -> None:
    """Refuse to key `table` by integer while its `column` holds a value that is not one."""
    c = q(column)
    digits = (
        f"({c} GLOB '[1-9]*' AND NOT {c} GLOB '*[^0-9]*' AND (length({c}) < 19"
        f" OR (length({c}) = 19 AND {c} <= '9223372036854775807')))"
    )
    bad = conn.execute(
        f"SELECT count(*) FROM {q(table)} WHERE CASE typeof({c}) WHEN 'integer' THEN {c} < 1"
        f" WHEN 'text' THEN NOT {digits} ELSE 1 END"
    ).fetchone()[0]
    if bad:
        raise StoreError(
            f"ensure_resource of {resource}: {bad} rows of {table} have a {column} that is not"
            " a decimal integer from 1 to 2**63-1, so it cannot be keyed by integer; the table"
            " is left as it was"
        )


def _rebuild(
    conn: sqlite3.Connection, table: str, create: str, copy: Sequence[tuple[str, str]]
) -> None:
    """Replace `table` by one made by `create` (`{t}` its name), rows copied as `copy`
    says (column, expression over the old table), indexes dropped with the old table."""
    temp = f"_rebuild_{table}"  # "_": no resource's name; SQLite's names have no length cap
    conn.execute(f"DROP TABLE IF EXISTS {q(temp)}")
    conn.execute(create.format(t=q(temp)))
    cols = ", ".join(q(c) for c, _ in copy)
    exprs = ", ".join(e for _, e in copy)
    conn.execute(f"INSERT INTO {q(temp)} ({cols}) SELECT {exprs} FROM {q(table)}")
    conn.execute(f"DROP TABLE {q(table)}")
    conn.execute(f"ALTER TABLE {q(temp)} RENAME TO {q(table)}")


def _typed_ddl(have: dict[str, str], declared: dict[str, ColumnType], skip: set[str]) -> str:
    parts = []
    for name, type_ in have.items():
        if name in skip:
            continue
        wanted = declared.get(name)
        # An ISO date or time held as TEXT is safe under DATE/TIME/DATETIME (see above).
        if wanted in _TIMES and _affinity(type_) == "TEXT":
            parts.append(f"{q(name)} {SQL_TYPES[wanted]}")
        else:
            parts.append(f"{q(name)} {_affinity(type_)}")
    return "".join(", " + p for p in parts)


def _migrate(
    conn: sqlite3.Connection,
    resource: str,
    have: dict[str, str],
    declared: dict[str, ColumnType],
    key: KeyType,
) -> None:
    """Rebuild `resource`'s table in layout 2, keeping its rows and its other columns."""
    if key == "integer":
        _check_integers(conn, resource, "id", resource)
    base = {"id", *(name for name, _ in _BASE)}
    ddl = _typed_ddl(have, declared, base)
    create = (
        f"CREATE TABLE {{t}} (id {_ID[key]}, "
        + ", ".join(f"{name} {decl}" for name, decl in _BASE)
        + ddl
        + ")"
    )
    cast = "INTEGER" if key == "integer" else "TEXT"
    copy = [("id", f"CAST(id AS {cast})")]
    copy += [(name, name if name in have else "NULL") for name, _ in _BASE]
    copy += [(name, q(name)) for name in have if name not in base]
    conn.execute(f"DROP VIEW IF EXISTS {q(view_name(resource))}")
    _rebuild(conn, resource, create, copy)


def _layout_ok(have: dict[str, str], key: KeyType) -> bool:
    if have.get("id") != _PARENT[key]:
        return False
    return all(have.get(name) == "DATETIME" for name in (*VERSIONS, "synced_at"))


def _mark_layout(conn: sqlite3.Connection, name: str, key: KeyType) -> None:
    conn.execute(
        f"INSERT INTO {q(SCHEMA)} (name, version, id_type, changed_at) VALUES (?, ?, ?, ?)"
        " ON CONFLICT (name) DO UPDATE SET version = excluded.version,"
        " id_type = excluded.id_type, changed_at = excluded.changed_at"
        f" WHERE {q(SCHEMA)}.version <> excluded.version"
        f" OR {q(SCHEMA)}.id_type <> excluded.id_type",
        (name, LAYOUT, key, now_utc().isoformat()),
    )


def ensure(
    conn: sqlite3.Connection,
    resource: str,
    declared: dict[str, ColumnType],
    key: KeyType,
    indexed: Sequence[str],
    children: Sequence[ChildTable],
) -> Ensured:
    """Make `resource`'s table (and its child tables) as asked, in the caller's transaction:
    create, or migrate an older layout, add missing columns, indexes and the view."""
    t = q(resource)
    have = _columns(conn, resource)
    found = conn.execute(f"SELECT version FROM {q(SCHEMA)} WHERE name = ?", (resource,)).fetchone()
    if found is not None and found[0] > LAYOUT:
        raise StoreError(f"ensure_resource of {resource}: a newer drchrono-async made its table")
    if not have:
        base = ", ".join(f"{name} {decl}" for name, decl in _BASE)
        conn.execute(f"CREATE TABLE {t} (id {_ID[key]}, {base})")
    elif not _layout_ok(have, key):
        _migrate(conn, resource, have, declared, key)
    have = _columns(conn, resource)
    for name in VERSION_COLUMNS:  # a table of layout 2 has them; kept for safety
        if name not in have:
            conn.execute(f"ALTER TABLE {t} ADD COLUMN {name} DATETIME")
            have[name] = "DATETIME"
    for name, type_ in declared.items():
        if name not in have:
            conn.execute(f"ALTER TABLE {t} ADD COLUMN {q(name)} {SQL_TYPES[type_]}")
            have[name] = SQL_TYPES[type_]
    conn.execute(
        f"CREATE INDEX IF NOT EXISTS {q(resource + '__stale')} ON {t} (stale_at)"
        " WHERE stale_at IS NOT NULL"
    )
    for name in indexed:
        conn.execute(
            f"CREATE INDEX IF NOT EXISTS {q(index_name(resource, name))} ON {t} ({q(name)})"
        )
    # `*`: SQLite expands it when a statement is prepared, so added columns show at once.
    conn.execute(
        f"CREATE VIEW IF NOT EXISTS {q(view_name(resource))} AS SELECT * FROM {t} WHERE NOT deleted"
    )
    _mark_layout(conn, resource, key)
    made = [(_ensure_child(conn, resource, c, key), c) for c in children]
    base_names = {"id", "payload", "payload_text", *(name for name, _ in _BASE)}
    names = tuple(n for n in have if n not in base_names)
    return Ensured(
        names,
        key,
        tuple((Child(table, c.keys), load_keys(conn, table)) for (table, _), c in made),
        frozenset(table for (table, new), _ in made if new),
    )


def _ensure_child(
    conn: sqlite3.Connection, resource: str, child: ChildTable, key: KeyType
) -> tuple[str, bool]:
    """Make a child table (or key it anew); returns its name and whether it was made now."""
    table = child_table(resource, child.name)
    have = _columns(conn, table)
    create = (
        f"CREATE TABLE {{t}} (parent_id {_PARENT[key]} NOT NULL, {', '.join(_CHILD_BASE)}"
        "{typed}, PRIMARY KEY (parent_id, source, position))"
    )
    if not have:
        conn.execute(create.format(t=q(table), typed=""))
    elif have.get("parent_id") != _PARENT[key]:  # the parent was keyed anew
        if key == "integer":
            _check_integers(conn, table, "parent_id", resource)
        base = {"parent_id", "source", "position", "payload"}
        typed = _typed_ddl(have, {}, base)
        cast = "INTEGER" if key == "integer" else "TEXT"
        copy = [("parent_id", f"CAST(parent_id AS {cast})")]
        copy += [(name, q(name)) for name in have if name != "parent_id"]
        _rebuild(conn, table, create.replace("{typed}", typed), copy)
    # The primary key's index, which leads with parent_id, serves look-ups by parent.
    _mark_layout(conn, table, key)
    return table, not have


def load_keys(conn: sqlite3.Connection, table: str) -> KeyMap:
    """The child table's typed columns, as `_child_columns` records them."""
    cur = conn.execute(
        f"SELECT key, name, type FROM {q(CHILD_COLUMNS)} WHERE child = ? ORDER BY ordinal",
        (table,),
    )
    return KeyMap((str(k), str(n), t) for k, n, t in cur)


def widen_keys(conn: sqlite3.Connection, table: str, wider: set[str]) -> None:
    """Record the integer columns of `wider` as real (a number seen whole, then with a
    fraction): an INTEGER column of SQLite keeps a REAL value as it is, so no rebuild."""
    for key in sorted(wider):
        conn.execute(
            f"UPDATE {q(CHILD_COLUMNS)} SET type = 'real' WHERE child = ? AND key = ?",
            (table, key),
        )


def save_keys(
    conn: sqlite3.Connection,
    table: str,
    keys: KeyMap,
    added: Sequence[tuple[str, str, ColumnType]],
) -> None:
    """Add the columns of `added` (new entries of `keys`) to the child table and record them."""
    start = len(keys.entries) - len(added)
    for n, (key, name, type_) in enumerate(added, start):
        conn.execute(f"ALTER TABLE {q(table)} ADD COLUMN {q(name)} {SQL_TYPES[type_]}")
        conn.execute(
            f"INSERT INTO {q(CHILD_COLUMNS)} (child, key, name, type, ordinal)"
            " VALUES (?, ?, ?, ?, ?)",
            (table, key, name, type_, n),
        )
