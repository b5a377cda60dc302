"""PostgresStore's tables: creating them, migrating older layouts, indexes, views, child tables.

Types. `id` is `bigint` for an integer-keyed resource (so it joins the `bigint` reference
columns of other tables), else `text COLLATE "C"`; `updated_at` and the version columns
`deleted_at`, `observed_at`, `stale_at` are `timestamp` (the practice's wall time, as the
API's are), so the upsert rule compares timestamps.

Migration (layout 1 to 2, `_layout`'s docstring), when `ensure_resource` meets a table of an
older layout: under the DDL lock and in one transaction, the values are checked first (a
table whose ids are not integers, or whose versions are not normalised times, is left as it
was with a `StoreError` saying so), then one `ALTER TABLE ... ALTER COLUMN ... TYPE ...
USING ...` rewrites the table; a crash at any point rolls it back whole.

Views. `<resource>__live`, beside the table: its live rows (`NOT deleted`), every column.
Read-only: it also selects from a relation of no columns (`(SELECT)`), which makes it a view
PostgreSQL does not update through (a plain filter would be auto-updatable), at no cost to
plans (the planner drops it). Re-made (`CREATE OR REPLACE`) when columns are added.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, LiteralString

import attrs

from ..errors import StoreError
from ._children import Child, KeyMap
from ._layout import CHILD_COLUMNS, LAYOUT, SCHEMA, child_table, index_name, view_name
from ._pg_values import SQL_TYPES
from ._sql import CHECKPOINTS, DELIVERIES, TOKENS, VERSION_COLUMNS, VERSIONS
from ._store import ChildTable, ColumnType, KeyType

if TYPE_CHECKING:
    import psycopg

    from ._postgres import PostgresStore

__all__ = ["Ensured", "create_bookkeeping", "ensure", "key_type", "load_keys", "save_keys"]

_ID: dict[str, LiteralString] = {"integer": "bigint", "text": 'text COLLATE "C"'}
_ID_TYPE = {"integer": "bigint", "text": "text"}  # information_schema's data_type
_TIMESTAMP = "timestamp without time zone"
# A normalised version, and a decimal id within bigint (19 digits: compared as text below).
_VERSION_RE = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{6}$"
_ID_RE = r"^[1-9][0-9]{0,18}$"
_I64_MAX = "9223372036854775807"


@attrs.frozen
class Ensured:
    """A resource's table as `ensure` left it."""

    names: tuple[str, ...]  # its typed columns, in table order
    key: KeyType
    children: tuple[tuple[Child, KeyMap], ...]
    created: frozenset[str] = frozenset()  # the child tables made now (to fill from payloads)


async def create_bookkeeping(store: PostgresStore, conn: psycopg.AsyncConnection[Any]) -> None:
    """The schema and its bookkeeping tables (in the caller's transaction, under the DDL
    lock); refuses a schema that a newer layout wrote."""
    await conn.execute(store.sql("CREATE SCHEMA IF NOT EXISTS {s}"))
    await conn.execute(
        store.sql(
            "CREATE TABLE IF NOT EXISTS {s}.{t} (resource text PRIMARY KEY,"
            " checkpoint jsonb NOT NULL, updated_at timestamptz NOT NULL)",
            t=CHECKPOINTS,
        )
    )
    await conn.execute(
        store.sql(
            "CREATE TABLE IF NOT EXISTS {s}.{t} (key text PRIMARY KEY,"
            " token text NOT NULL, updated_at timestamptz NOT NULL)",
            t=TOKENS,
        )
    )
    await conn.execute(
        store.sql(
            "CREATE TABLE IF NOT EXISTS {s}.{t} (id text PRIMARY KEY,"
            " handled_at timestamptz NOT NULL)",
            t=DELIVERIES,
        )
    )
    await conn.execute(
        store.sql(
            "CREATE TABLE IF NOT EXISTS {s}.{t} (name text PRIMARY KEY, version integer NOT NULL,"
            " id_type text NOT NULL, changed_at timestamptz NOT NULL)",
            t=SCHEMA,
        )
    )
    await conn.execute(
        store.sql(
            "CREATE TABLE IF NOT EXISTS {s}.{t} (child text NOT NULL, key text NOT NULL,"
            " name text NOT NULL, type text NOT NULL, ordinal integer NOT NULL,"
            " PRIMARY KEY (child, key), UNIQUE (child, name))",
            t=CHILD_COLUMNS,
        )
    )
    cur = await conn.execute(store.sql("SELECT max(version) FROM {s}.{t}", t=SCHEMA))
    found = await cur.fetchone()
    if found is not None and found[0] is not None and found[0] > LAYOUT:
        raise StoreError(
            f"this schema has tables of layout {int(found[0])}, which a newer drchrono-async"
            f" wrote; this one knows layouts up to {LAYOUT}: upgrade it"
        )


async def key_type(store: PostgresStore, conn: Any, resource: str) -> KeyType | None:
    """The type of the resource's ids as its table has `id` (any layout); None: no table."""
    cur = await conn.execute(
        "SELECT data_type FROM information_schema.columns"
        " WHERE table_schema = %s AND table_name = %s AND column_name = 'id'",
        (store.schema, resource),
    )
    found = await cur.fetchone()
    return None if found is None else "integer" if found[0] == "bigint" else "text"


async def _columns(store: PostgresStore, conn: Any, table: str) -> dict[str, str]:
    """The table's columns and their types (information_schema's data_type), in order."""
    cur = await conn.execute(
        "SELECT column_name, data_type FROM information_schema.columns"
        " WHERE table_schema = %s AND table_name = %s ORDER BY ordinal_position",
        (store.schema, table),
    )
    return {str(name): str(type_) for name, type_ in await cur.fetchall()}


async def _check_values(
    store: PostgresStore,
    conn: Any,
    resource: str,
    table: str,
    integers: Sequence[str],
    versions: Sequence[str],
) -> None:
    """Refuse to retype `table` while a value of `integers` is not a decimal id within bigint
    or a value of `versions` not a normalised time (the cast would fail half-way through)."""
    from psycopg import sql

    checks: list[tuple[str, sql.Composable]] = []
    for column in integers:
        c = sql.Identifier(column)
        checks.append(
            (
                column,
                sql.SQL("{c} !~ %(id)s OR (length({c}) = 19 AND {c} > %(max)s)").format(c=c),
            )
        )
    for column in versions:
        c = sql.Identifier(column)
        checks.append((column, sql.SQL("{c} !~ %(v)s").format(c=c)))
    if not checks:
        return
    counts = sql.SQL(", ").join(
        sql.SQL("count(*) FILTER (WHERE {})").format(check) for _, check in checks
    )
    cur = await conn.execute(
        store.sql("SELECT {counts} FROM {s}.{t}", counts=counts, t=table),
        {"id": _ID_RE, "max": _I64_MAX, "v": _VERSION_RE},
    )
    found = await cur.fetchone()
    bad = [(name, n) for (name, _), n in zip(checks, found or (), strict=False) if n]
    if bad:
        said = ", ".join(f"{n} values of {name}" for name, n in bad)
        raise StoreError(
            f"ensure_resource of {resource}: {said} in {table} cannot become"
            " bigint/timestamp (not a decimal id from 1 to 2**63-1, or not a normalised"
            " time); the table is left as it was"
        )


async def _retype(
    store: PostgresStore,
    conn: Any,
    resource: str,
    table: str,
    have: dict[str, str],
    key_column: str,
    key: KeyType,
) -> bool:
    """Give `table`'s key column the key's type and its version columns `timestamp` (those
    it has); returns whether anything changed."""
    from psycopg import sql

    changes: list[sql.Composable] = []
    integers: list[str] = []
    versions: list[str] = []
    if have.get(key_column) != _ID_TYPE[key]:
        if key == "integer":
            integers.append(key_column)
        cast = sql.SQL("bigint" if key == "integer" else "text")
        changes.append(
            sql.SQL("ALTER COLUMN {c} TYPE {t} USING {c}::{cast}").format(
                c=sql.Identifier(key_column), t=sql.SQL(_ID[key]), cast=cast
            )
        )
    for column in VERSIONS:
        if column in have and have[column] != _TIMESTAMP:
            versions.append(column)
            changes.append(
                sql.SQL("ALTER COLUMN {c} TYPE timestamp USING {c}::timestamp").format(
                    c=sql.Identifier(column)
                )
            )
    if not changes:
        return False
    await _check_values(store, conn, resource, table, integers, versions)
    if table == resource:  # its view depends on the column types: made again by the caller
        await conn.execute(store.sql("DROP VIEW IF EXISTS {s}.{v}", v=view_name(table)))
    await conn.execute(
        store.sql("ALTER TABLE {s}.{t} {changes}", t=table, changes=sql.SQL(", ").join(changes))
    )
    return True


async def _mark_layout(store: PostgresStore, conn: Any, name: str, key: KeyType) -> None:
    await conn.execute(
        store.sql(
            "INSERT INTO {s}.{t} AS o (name, version, id_type, changed_at)"
            " VALUES (%s, %s, %s, now()) ON CONFLICT (name) DO UPDATE"
            " SET version = excluded.version, id_type = excluded.id_type,"
            " changed_at = excluded.changed_at"
            " WHERE o.version <> excluded.version OR o.id_type <> excluded.id_type",
            t=SCHEMA,
        ),
        (name, LAYOUT, key),
    )


async def ensure(
    store: PostgresStore,
    conn: psycopg.AsyncConnection[Any],
    resource: str,
    declared: dict[str, ColumnType],
    key: KeyType,
    indexed: Sequence[str],
    children: Sequence[ChildTable],
) -> Ensured:
    """Make `resource`'s table (and its child tables) as asked, in the caller's transaction
    under the DDL lock: create, or migrate an older layout, add missing columns, indexes and
    the view."""
    from psycopg import sql

    await store.ddl_lock(conn)
    cur = await conn.execute(
        store.sql("SELECT version FROM {s}.{t} WHERE name = %s", t=SCHEMA), (resource,)
    )
    found = await cur.fetchone()
    if found is not None and found[0] > LAYOUT:
        raise StoreError(f"ensure_resource of {resource}: a newer drchrono-async made it")
    have = await _columns(store, conn, resource)
    changed = False
    if not have:
        await conn.execute(
            store.sql(
                "CREATE TABLE {s}.{t} (id {id} PRIMARY KEY, payload jsonb NOT NULL,"
                " payload_text text, updated_at timestamp,"
                " deleted boolean NOT NULL DEFAULT false, synced_at timestamptz NOT NULL,"
                " deleted_at timestamp, observed_at timestamp, stale_at timestamp)",
                t=resource,
                id=sql.SQL(_ID[key]),
            )
        )
        changed = True
    else:
        changed = await _retype(store, conn, resource, resource, have, "id", key)
    have = await _columns(store, conn, resource)
    for name in VERSION_COLUMNS:  # tables made before these columns existed
        if name not in have:
            await conn.execute(
                store.sql("ALTER TABLE {s}.{t} ADD COLUMN {c} timestamp", t=resource, c=name)
            )
            have[name] = _TIMESTAMP
            changed = True
    for name, type_ in declared.items():
        if name not in have:
            await conn.execute(
                store.sql("ALTER TABLE {s}.{t} ADD COLUMN {c} ", t=resource, c=name)
                + sql.SQL(SQL_TYPES[type_])
            )
            have[name] = type_
            changed = True
    await conn.execute(
        store.sql(
            "CREATE INDEX IF NOT EXISTS {i} ON {s}.{t} (stale_at) WHERE stale_at IS NOT NULL",
            i=f"{resource}__stale",
            t=resource,
        )
    )
    for name in indexed:
        await conn.execute(
            store.sql(
                "CREATE INDEX IF NOT EXISTS {i} ON {s}.{t} ({c})",
                i=index_name(resource, name),
                t=resource,
                c=name,
            )
        )
    await _view(store, conn, resource, list(have), changed)
    await _mark_layout(store, conn, resource, key)
    made = []
    created = set()
    for child in children:
        table, new = await _ensure_child(store, conn, resource, child, key)
        made.append((Child(table, child.keys), await load_keys(store, conn, table)))
        if new:
            created.add(table)
    base = {"id", "payload", "payload_text", "updated_at", "deleted", "synced_at", *VERSIONS}
    return Ensured(tuple(n for n in have if n not in base), key, tuple(made), frozenset(created))


async def _view(
    store: PostgresStore, conn: Any, resource: str, columns: list[str], changed: bool
) -> None:
    from psycopg import sql

    view = view_name(resource)
    if not changed:
        cur = await conn.execute(
            "SELECT 1 FROM information_schema.views WHERE table_schema = %s AND table_name = %s",
            (store.schema, view),
        )
        if await cur.fetchone() is not None:
            return
    cols = sql.SQL(", ").join(sql.SQL("t.{}").format(sql.Identifier(c)) for c in columns)
    await conn.execute(
        store.sql(
            "CREATE OR REPLACE VIEW {s}.{v} AS SELECT {cols} FROM {s}.{t} AS t"
            " CROSS JOIN (SELECT) AS read_only WHERE NOT t.deleted",
            v=view,
            t=resource,
            cols=cols,
        )
    )


async def _ensure_child(
    store: PostgresStore, conn: Any, resource: str, child: ChildTable, key: KeyType
) -> tuple[str, bool]:
    """Make a child table (or key it anew); returns its name and whether it was made now."""
    from psycopg import sql

    table = child_table(resource, child.name)
    have = await _columns(store, conn, table)
    if not have:
        await conn.execute(
            store.sql(
                'CREATE TABLE {s}.{t} (parent_id {id}, source text COLLATE "C" NOT NULL,'
                " position integer NOT NULL, payload jsonb NOT NULL, payload_text text,"
                " PRIMARY KEY (parent_id, source, position))",
                t=table,
                id=sql.SQL(_ID[key]),
            )
        )
    else:  # the parent keyed anew
        await _retype(store, conn, resource, table, have, "parent_id", key)
    # The primary key's index, which leads with parent_id, serves look-ups by parent.
    await _mark_layout(store, conn, table, key)
    return table, not have


async def load_keys(store: PostgresStore, conn: Any, table: str) -> KeyMap:
    """The child table's typed columns, as `_child_columns` records them."""
    cur = await conn.execute(
        store.sql(
            "SELECT key, name, type FROM {s}.{t} WHERE child = %s ORDER BY ordinal",
            t=CHILD_COLUMNS,
        ),
        (table,),
    )
    return KeyMap((str(k), str(n), t) for k, n, t in await cur.fetchall())


async def widen_keys(
    store: PostgresStore, conn: Any, table: str, keys: KeyMap, wider: set[str]
) -> None:
    """Make the integer columns of `wider` double precision (a number seen whole, then with
    a fraction), and record it (the caller holds the DDL lock, in its transaction)."""
    names = {key: name for key, name, _ in keys.entries}
    for key in sorted(wider):
        await conn.execute(
            store.sql(
                "ALTER TABLE {s}.{t} ALTER COLUMN {c} TYPE double precision", t=table, c=names[key]
            )
        )
        await conn.execute(
            store.sql(
                "UPDATE {s}.{t} SET type = 'real' WHERE child = %s AND key = %s", t=CHILD_COLUMNS
            ),
            (table, key),
        )


async def save_keys(
    store: PostgresStore,
    conn: Any,
    table: str,
    keys: KeyMap,
    added: Sequence[tuple[str, str, ColumnType]],
) -> None:
    """Add the columns of `added` (new entries of `keys`) to the child table and record them
    (the caller holds the DDL lock, in its transaction)."""
    from psycopg import sql

    start = len(keys.entries) - len(added)
    for n, (key, name, type_) in enumerate(added, start):
        await conn.execute(
            store.sql("ALTER TABLE {s}.{t} ADD COLUMN {c} ", t=table, c=name)
            + sql.SQL(SQL_TYPES[type_])
        )
        await conn.execute(
            store.sql(
                "INSERT INTO {s}.{t} (child, key, name, type, ordinal) VALUES (%s, %s, %s, %s, %s)",
                t=CHILD_COLUMNS,
            ),
            (table, key, name, type_, n),
        )
