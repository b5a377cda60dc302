"""Child tables: the objects nested in a record as rows of `<resource>__<child>` (after dlt's
nested tables), the same in every store.

A child table has `parent_id` (the parent's key type), `source` (the payload key the row came
from), `position` (the item's index in its list; 0 for an object), `payload` (the item's
JSON as received) and one typed column per scalar key of the items, inferred from the data:
a JSON int is an integer column, a float real, a bool boolean, a string text (never parsed
into a date); null says nothing, and nested lists and objects stay in `payload` only.

Item keys come from the server, so they become identifiers only through `column_name`
(lower-case, `[a-z0-9_]`, a prefix `f_` where the key starts with no letter or is named like
a base column, at most 63 characters, a suffix `_2`, `_3`... where another key took the name
first). Each key's column and type are kept in the bookkeeping table `_child_columns`, so a
key keeps its column and its first type for good: a later value of another type is a misfit
(NULL in the column, kept in `payload`, the misfit warning). Bounds: keys of at most 200
characters, at most 64 typed columns per child table, at most 1000 items per key of a
parent (the rest stays in the parent's payload, with a warning naming the key, never values).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import attrs

from ._columns import fitter, warn_misfit
from ._sql import check_name
from ._store import ColumnType

__all__ = [
    "CHILD_BASE",
    "MAX_COLUMNS",
    "MAX_ITEMS",
    "Child",
    "Item",
    "KeyMap",
    "column_name",
    "items_of",
]

logger = logging.getLogger("drchrono_async.sync")

# The columns every child table has (PostgreSQL's `payload_text`: see `PostgresStore`).
CHILD_BASE = ("parent_id", "source", "position", "payload", "payload_text")
MAX_ITEMS = 1000
MAX_COLUMNS = 64
MAX_KEY_CHARS = 200

_JSON_TYPES: dict[type, ColumnType] = {bool: "boolean", int: "integer", float: "real", str: "text"}
_UNSAFE = re.compile(r"[^a-z0-9_]")

# (source, position, item) of one parent.
Item = tuple[str, int, Any]


@attrs.frozen
class Child:
    """One child table of a resource: its table's name and the payload keys that fill it."""

    table: str
    sources: tuple[str, ...]


def column_name(key: str, taken: Iterable[str]) -> str:
    """The column of item key `key`, given the names already `taken` (the base columns and
    the other keys' columns): see the module's docstring."""
    used = set(taken) | set(CHILD_BASE)
    name = _UNSAFE.sub("_", key.lower())
    if not name[:1].isalpha() or name in CHILD_BASE:
        name = "f_" + name
    name = name[:63]
    n = 2
    candidate = name
    while candidate in used:
        suffix = f"_{n}"
        candidate = name[: 63 - len(suffix)] + suffix
        n += 1
    return check_name(candidate, "a child column")


class KeyMap:
    """The typed columns of one child table: each item key's column and type, in order."""

    def __init__(self, entries: Iterable[tuple[str, str, ColumnType]] = ()) -> None:
        self.entries = tuple(entries)
        self.names = tuple(name for _, name, _ in self.entries)
        self.types = tuple(type_ for _, _, type_ in self.entries)
        # key -> (its index among the typed columns, its type)
        self.index = {key: (i, type_) for i, (key, _, type_) in enumerate(self.entries)}
        # Per (store's text rule, converters): key -> (index, check, convert), made once.
        self._plans: dict[tuple[bool, int], dict[str, tuple[int, Any, Any]]] = {}

    @property
    def full(self) -> bool:
        return len(self.entries) >= MAX_COLUMNS

    def candidates(self, items: Iterable[Item]) -> dict[str, ColumnType]:
        """Keys of `items` with a scalar value that have no column yet, with the JSON type of
        their first such value, in the order first seen (which makes names deterministic)."""
        out: dict[str, ColumnType] = {}
        room = MAX_COLUMNS - len(self.entries)
        if room <= 0:
            return out
        index = self.index
        for _, _, item in items:
            if not isinstance(item, Mapping):
                continue
            for key, value in item.items():
                if key in index:
                    continue
                type_ = _JSON_TYPES.get(type(value))
                if key in out:
                    if out[key] == "integer" and type_ == "real":
                        out[key] = "real"  # the same key as 70 and as 70.5: a number
                    continue
                if type_ is None or not isinstance(key, str) or len(key) > MAX_KEY_CHARS:
                    continue
                if len(out) >= room:
                    continue
                out[key] = type_
        return out

    def widenings(self, items: Iterable[Item]) -> set[str]:
        """Keys of integer columns that `items` give a float: their columns become real
        (a weight of 180 then 180.5 is one number, not a misfit)."""
        out: set[str] = set()
        index = self.index
        for _, _, item in items:
            if not isinstance(item, Mapping):
                continue
            for key, value in item.items():
                found = index.get(key)
                if found is not None and found[1] == "integer" and type(value) is float:
                    out.add(key)
        return out

    def widened(self, keys: set[str]) -> KeyMap:
        """This map with the columns of `keys` real instead of integer."""
        return KeyMap(
            (key, name, "real" if key in keys and type_ == "integer" else type_)
            for key, name, type_ in self.entries
        )

    def extended(
        self, new: Mapping[str, ColumnType]
    ) -> tuple[KeyMap, list[tuple[str, str, ColumnType]]]:
        """This map with columns for the keys of `new` it lacks (up to the bound), and the
        entries added."""
        added: list[tuple[str, str, ColumnType]] = []
        taken = list(self.names)
        for key, type_ in new.items():
            if key in self.index or len(self.entries) + len(added) >= MAX_COLUMNS:
                continue
            name = column_name(key, taken)
            taken.append(name)
            added.append((key, name, type_))
        return KeyMap([*self.entries, *added]), added

    def values(
        self,
        table: str,
        parent_id: str,
        item: Any,
        convert: Mapping[str, Callable[[Any], Any] | None],
        *,
        nul_in_text: bool,
    ) -> tuple[list[Any], int]:
        """The typed column values of one item, in column order, and its misfits."""
        out: list[Any] = [None] * len(self.entries)
        misfits = 0
        if not isinstance(item, Mapping):
            return out, misfits
        plan = self._plans.get((nul_in_text, id(convert)))
        if plan is None:
            plan = self._plans[(nul_in_text, id(convert))] = {
                key: (i, fitter(type_, nul_in_text=nul_in_text), convert[type_])
                for key, (i, type_) in self.index.items()
            }
        for key, value in item.items():
            found = plan.get(key)
            if found is None or value is None:
                continue
            i, fit, f = found
            if not fit(value):  # a list or an object never fits
                warn_misfit(table, parent_id, self.names[i], self.types[i])
                misfits += 1
                continue
            out[i] = value if f is None else f(value)
        return out, misfits


def items_of(resource: str, row_id: str, child: Child, payload: Mapping[str, Any]) -> list[Item]:
    """The rows of `child` that a parent's payload holds: each list item (in order, at most
    `MAX_ITEMS` per key) or the object of each of its keys; anything else, none."""
    out: list[Item] = []
    for source in child.sources:
        value = payload.get(source)
        if isinstance(value, Mapping):
            out.append((source, 0, value))
        elif isinstance(value, Sequence) and not isinstance(value, (str, bytes)):
            if len(value) > MAX_ITEMS:
                logger.warning(
                    "sync: %s %s: %s holds over %d items; the first %d are in %s, all of them"
                    " in the payload",
                    resource,
                    row_id,
                    source,
                    MAX_ITEMS,
                    MAX_ITEMS,
                    child.table,
                )
            out.extend((source, i, item) for i, item in enumerate(value[:MAX_ITEMS]))
    return out
