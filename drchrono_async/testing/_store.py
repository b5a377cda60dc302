"""The emulator's in-memory state: one `Table` of rows per endpoint.

Rows hold records in wire form (what the API sends: naive timestamps and decimals as strings),
so a page is a join of cached orjson encodings. Each table keeps its keys sorted, so a cursor
is a bisect, and caches the sorted key list of recent filtered queries until it next changes.
"""

from __future__ import annotations

import bisect
from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterator
from typing import Any

import orjson

from drchrono_async._endpoints import Endpoint

__all__ = ["Row", "Table"]

_QUERY_CACHE_SIZE = 64


class Row:
    """One record. `hidden` holds values that filters read but the API does not send."""

    __slots__ = ("_enc", "data", "hidden", "key")

    def __init__(self, key: int, data: dict[str, Any], hidden: dict[str, Any] | None = None):
        self.key = key
        self.data = data
        self.hidden = hidden if hidden is not None else {}
        self._enc: list[bytes | None] = [None, None]

    def get(self, name: str) -> Any:
        if name in self.data:
            return self.data[name]
        return self.hidden.get(name)

    def encoded(self, verbose: bool, verbose_keys: frozenset[str]) -> bytes:
        """The record's JSON, without the verbose-only keys unless `verbose`."""
        slot = 1 if verbose else 0
        enc = self._enc[slot]
        if enc is None:
            if verbose or not verbose_keys:
                enc = orjson.dumps(self.data)
            else:
                enc = orjson.dumps({k: v for k, v in self.data.items() if k not in verbose_keys})
            self._enc[slot] = enc
        return enc

    def view(self, verbose: bool, verbose_keys: frozenset[str]) -> dict[str, Any]:
        if verbose:
            return dict(self.data)
        return {k: v for k, v in self.data.items() if k not in verbose_keys}

    def touch(self) -> None:
        """Forget the cached encodings after a change."""
        self._enc = [None, None]


class Table:
    """The rows of one endpoint, sorted by key (the numeric id).

    `first_key` is where new keys start while the table is empty: each practice of an
    emulator numbers from its own range, so no id is shared by two practices.
    """

    def __init__(self, endpoint: Endpoint, first_key: int = 1) -> None:
        self.endpoint = endpoint
        self.rows: dict[int, Row] = {}
        self.keys: list[int] = []
        self.version = 0
        self.next_key = first_key
        self._cache: OrderedDict[Hashable, list[int]] = OrderedDict()
        # field -> (dates, keys), sorted by (date, key); rebuilt after a change.
        self._date_index: dict[str, tuple[list[str], list[int]]] = {}

    def __len__(self) -> int:
        return len(self.rows)

    def __iter__(self) -> Iterator[Row]:
        rows = self.rows
        return (rows[k] for k in self.keys)

    def new_key(self) -> int:
        key = self.next_key
        self.next_key += 1
        return key

    def load_sorted(self, rows: list[Row]) -> None:
        """Bulk-load rows whose keys are increasing and above every key present (seeding)."""
        for row in rows:
            self.rows[row.key] = row
            self.keys.append(row.key)
        if rows:
            self.next_key = max(self.next_key, rows[-1].key + 1)
        self.changed()

    def add(self, row: Row) -> None:
        if row.key in self.rows:
            raise KeyError(row.key)
        self.rows[row.key] = row
        if not self.keys or row.key > self.keys[-1]:
            self.keys.append(row.key)
        else:
            bisect.insort(self.keys, row.key)
        self.next_key = max(self.next_key, row.key + 1)
        self.changed()

    def remove(self, key: int) -> None:
        del self.rows[key]
        i = bisect.bisect_left(self.keys, key)
        del self.keys[i]
        self.changed()

    def lookup(self, raw_id: str) -> Row | None:
        try:
            key = int(raw_id)
        except ValueError:
            return None
        return self.rows.get(key)

    def changed(self) -> None:
        self.version += 1
        self._cache.clear()
        self._date_index.clear()

    def _date_range_keys(self, field: str, lo: str, hi: str) -> list[int]:
        index = self._date_index.get(field)
        if index is None:
            pairs = sorted((str(row.get(field) or "")[:10], row.key) for row in self.rows.values())
            index = ([d for d, _ in pairs], [k for _, k in pairs])
            self._date_index[field] = index
        dates, keys = index
        found = keys[bisect.bisect_left(dates, lo) : bisect.bisect_right(dates, hi)]
        found.sort()
        return found

    def select(
        self,
        signature: Hashable,
        predicate: Callable[[Row], bool] | None,
        within: tuple[str, str, str] | None = None,
    ) -> list[int]:
        """The sorted keys of the rows matching `predicate`, cached under `signature`.

        `within=(field, lo, hi)` narrows the scan to rows whose `field[:10]` lies in
        `lo..hi` through a sorted index, so a date-range shard of a 100k table is cheap.
        """
        if predicate is None and within is None:
            return self.keys
        hit = self._cache.get(signature)
        if hit is not None:
            self._cache.move_to_end(signature)
            return hit
        rows = self.rows
        candidates = self.keys if within is None else self._date_range_keys(*within)
        keys = candidates if predicate is None else [k for k in candidates if predicate(rows[k])]
        self._cache[signature] = keys
        if len(self._cache) > _QUERY_CACHE_SIZE:
            self._cache.popitem(last=False)
        return keys
