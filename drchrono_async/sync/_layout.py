"""The layout of a store's tables: their names, the type of their ids, their version.

A resource's table is its name; the names the stores derive from it hold `__`, which
no resource name may (`check_resource`), so none can be another resource's: its child tables
`<resource>__<child>`, its view of live rows `<resource>__live`, its partial index of stale
rows `<resource>__stale` (no child table may be named `live` or `stale`), and the indexes
of its columns `_<table>__<column>` (bookkeeping names start with `_`, which no resource or
child table can). All fit PostgreSQL's 63 characters: resource names are at most 57.

The layout (`LAYOUT`, kept per table in `_schema`): 1, every release before it: text ids
and text versions (with or without the version columns), no indexes, views or child tables;
2: ids of the endpoint's type, timestamp versions, indexes, a view, child tables. The
stores' `ensure_resource` migrates a table of layout 1 in place, in one transaction; a
database that a newer layout wrote is refused on open rather than written wrong.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence

from ..errors import InvalidRequestError
from ._sql import check_name
from ._store import ChildTable, KeyType

__all__ = [
    "CHILD_COLUMNS",
    "LAYOUT",
    "SCHEMA",
    "check_children",
    "check_key_type",
    "check_resource",
    "child_table",
    "index_name",
    "integer_id",
    "store_id",
    "view_name",
]

SCHEMA = "_schema"  # per table: its layout and the type of its ids
CHILD_COLUMNS = "_child_columns"  # per child table: the column each item key went to

LAYOUT = 2  # see the module's docstring
MAX_RESOURCE_CHARS = 57  # "<resource>__live" within PostgreSQL's 63
RESERVED_CHILDREN = frozenset({"live", "stale"})  # <resource>__live, <resource>__stale


def check_resource(resource: object) -> str:
    """A resource name: `NAME`, at most 57 characters and without `__` (see the module's
    docstring: the names derived from it must never be another resource's)."""
    name = check_name(resource, "a resource name")
    if len(name) > MAX_RESOURCE_CHARS or "__" in name:
        raise InvalidRequestError(
            f"a resource name has at most {MAX_RESOURCE_CHARS} characters and no '__'"
        )
    return name


def check_key_type(key: object) -> KeyType:
    """`ensure_resource`'s `key`: "integer" or "text"."""
    if key == "integer":
        return "integer"
    if key == "text":
        return "text"
    raise InvalidRequestError('key must be "integer" or "text"')


def child_table(resource: str, child: str) -> str:
    """The table of a resource's child table `child` (both checked names)."""
    return f"{resource}__{child}"


def view_name(resource: str) -> str:
    """The read-only view of a resource's live rows."""
    return f"{resource}__live"


def index_name(table: str, column: str) -> str:
    """The index of `table`'s `column`: `_<table>__<column>`, or when that is over 63
    characters (or ambiguous: a column holding `__`) its first 50 and a hash of both."""
    name = f"_{table}__{column}"
    if len(name) <= 63 and "__" not in column:
        return name
    digest = hashlib.sha256(f"{table}\x1f{column}".encode()).hexdigest()[:12]
    return f"{name[:50]}_{digest}"


def check_children(resource: str, children: object) -> tuple[ChildTable, ...]:
    """`ensure_resource`'s `children`, checked: names that make a table name of at most 63
    characters and are not reserved, unique; keys non-empty text, unique within a child."""
    if isinstance(children, (str, bytes)) or not isinstance(children, Sequence):
        raise InvalidRequestError("children must be a sequence of ChildTable values")
    if len(children) > 32:
        raise InvalidRequestError("a resource has at most 32 child tables")
    out: dict[str, ChildTable] = {}
    for child in children:
        if not isinstance(child, ChildTable):
            raise InvalidRequestError("children must be ChildTable values")
        name = check_name(child.name, "a child table name")
        if name in RESERVED_CHILDREN or len(child_table(resource, name)) > 63 or name in out:
            raise InvalidRequestError(
                f"child table {name} of {resource}: reserved, repeated, or"
                " '<resource>__<name>' over 63 characters"
            )
        keys = child.keys
        if (
            not isinstance(keys, tuple)
            or not 0 < len(keys) <= 32
            or len(set(keys)) != len(keys)
            or not all(isinstance(k, str) and 0 < len(k) <= 200 for k in keys)
        ):
            raise InvalidRequestError(
                f"child table {name} of {resource}: keys must be 1 to 32 distinct payload keys"
            )
        out[name] = child
    return tuple(out.values())


_I64_MAX = 2**63 - 1
_INTEGER_ID = re.compile(r"[1-9][0-9]{0,18}\Z")  # [0-9]: ASCII digits only, unlike int()


def integer_id(id_: str, resource: str) -> int:
    """A text id of an integer-keyed resource as its int: decimal digits without a sign,
    spaces or leading zeros (so that it reads back as the same text), 1 to 2**63-1."""
    if isinstance(id_, str) and _INTEGER_ID.match(id_):
        value = int(id_)
        if value <= _I64_MAX:
            return value
    raise InvalidRequestError(
        f"{resource} is keyed by integer: an id must be a decimal integer from 1 to 2**63-1"
    )


def store_id(id_: str, key: KeyType, resource: str) -> str | int:
    """A (checked) text id as the store keys it: an int for an integer-keyed resource."""
    return id_ if key == "text" else integer_id(id_, resource)
