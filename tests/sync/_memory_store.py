"""A SyncStore in a dict, for tests of the engine's logic (the real stores are tested apart).

It keeps the protocol's rules (one atomic write, the upsert rule, tombstones) so that
engine tests exercise the same contract the SQLite and PostgreSQL stores implement.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any

import orjson

from drchrono_async.errors import StoreLockedError
from drchrono_async.oauth import MemoryTokenStore, TokenStore
from drchrono_async.sync import Column, Row, WriteResult, payload_checksum
from drchrono_async.sync._store import ChildTable, KeyType


def _gt(a: str | None, b: str | None) -> bool:
    return a is not None and b is not None and a > b


def _wins(row: Row, old: dict[str, Any]) -> bool:
    """The stores' upsert rule (`drchrono_async.sync._sql.upsert_condition`), in Python."""
    new, held = row.updated_at, old["updated_at"]
    if old["deleted"]:
        dv = old["deleted_at"] if old["deleted_at"] is not None else held
        if dv is None:
            return row.observed_at is not None or row.deleted
        return _gt(new, dv) or _gt(row.observed_at, dv)
    if new is not None:
        return held is None or new >= held
    seen, held_seen = row.observed_at, old["observed_at"]
    return held is not None or seen is None or held_seen is None or seen >= held_seen


def _deleted_at(row: Row) -> str | None:
    versions = [v for v in (row.updated_at, row.observed_at) if v is not None]
    return max(versions) if row.deleted and versions else None


class MemoryStore:
    def __init__(self) -> None:
        self.tables: dict[str, dict[str, dict[str, Any]]] = {}
        self.checkpoints: dict[str, dict[str, Any]] = {}
        self.writes = 0
        self.fail_after: int | None = None  # writes left before one raises (crash tests)
        self._tokens: dict[str, MemoryTokenStore] = {}
        self.deliveries: set[str] = set()
        self._locks: dict[str, asyncio.Lock] = {}
        self.ensured: dict[str, tuple[KeyType, tuple[ChildTable, ...]]] = {}

    async def delivery_handled(self, delivery_id: str) -> bool:
        return delivery_id in self.deliveries

    async def mark_delivery(self, delivery_id: str, *, retention: float) -> None:
        self.deliveries.add(delivery_id)

    async def open(self) -> None:
        pass

    async def aclose(self) -> None:
        pass

    async def ensure_resource(
        self,
        resource: str,
        columns: Sequence[Column],
        *,
        key: KeyType = "text",
        children: Sequence[ChildTable] = (),
    ) -> None:
        # Rows are kept by their text id and whole payload: the key's type, the indexes and
        # the child tables change nothing a test of the engine reads; what was asked is kept.
        self.tables.setdefault(resource, {})
        self.ensured[resource] = (key, tuple(children))

    async def write(
        self,
        resource: str,
        rows: Sequence[Row],
        *,
        checkpoint: Mapping[str, Any] | None = None,
        delete_ids: Sequence[str] = (),
        deleted_at: str | None = None,
        delivery_id: str | None = None,
    ) -> WriteResult:
        if delivery_id is not None:
            if delivery_id in self.deliveries:
                return WriteResult(0, len(rows), 0, duplicate=True)
            self.deliveries.add(delivery_id)
        if self.fail_after is not None:
            if self.fail_after == 0:
                raise RuntimeError("simulated crash before commit")
            self.fail_after -= 1
        table = self.tables.setdefault(resource, {})
        written = skipped = marked = unchanged = 0
        for row in rows:
            old = table.get(row.id)
            if old is not None and not _wins(row, old):
                skipped += 1
                continue
            same = old is not None and (
                (old["deleted"], old["updated_at"], orjson.dumps(old["payload"]))
                == (row.deleted, row.updated_at, orjson.dumps(dict(row.payload)))
            )
            deleted_version = _deleted_at(row)
            if row.deleted and old is not None and old["deleted"]:
                held = old["deleted_at"] if old["deleted_at"] is not None else old["updated_at"]
                if deleted_version is None or _gt(held, deleted_version):
                    deleted_version = held
            stale = old["stale_at"] if old is not None else None
            if row.observed_at is not None and (stale is None or stale <= row.observed_at):
                stale = None
            table[row.id] = {
                "payload": dict(row.payload),
                "updated_at": row.updated_at,
                "deleted": row.deleted,
                "deleted_at": deleted_version,
                "observed_at": row.observed_at,
                "stale_at": stale,
            }
            if same:
                unchanged += 1
            else:
                written += 1
        v = deleted_at
        for rid in delete_ids:
            old = table.get(rid)
            if old is None:
                table[rid] = {
                    "payload": {},
                    "updated_at": None,
                    "deleted": True,
                    "deleted_at": v,
                    "observed_at": None,
                    "stale_at": None,
                }
                marked += 1
                continue
            if not old["deleted"]:
                if v is not None and _gt(old["updated_at"], v):
                    continue  # the stored state is strictly newer than the delete
                old["deleted"], old["deleted_at"] = True, v
                marked += 1
            elif v is not None:
                dv = old["deleted_at"] if old["deleted_at"] is not None else old["updated_at"]
                if dv is None or dv < v:
                    old["deleted_at"] = v
            if v is not None and old["stale_at"] is not None and old["stale_at"] <= v:
                old["stale_at"] = None
        if checkpoint is not None:
            self.checkpoints[resource] = copy.deepcopy(dict(checkpoint))
        self.writes += 1
        return WriteResult(written, skipped, marked, unchanged=unchanged)

    async def mark_stale(self, resource: str, row: Row, *, at: str) -> WriteResult:
        table = self.tables.setdefault(resource, {})
        old = table.get(row.id)
        if old is None:
            table[row.id] = {
                "payload": dict(row.payload),
                "updated_at": row.updated_at,
                "deleted": row.deleted,
                "deleted_at": _deleted_at(row),
                "observed_at": row.observed_at,
                "stale_at": at,
            }
            return WriteResult(1, 0, 0)
        if old["stale_at"] is None or at > old["stale_at"]:
            old["stale_at"] = at
        return WriteResult(0, 0, 0)

    async def stale_ids(self, resource: str, *, limit: int) -> list[str]:
        stale = [
            (r["stale_at"], i)
            for i, r in self.tables.get(resource, {}).items()
            if r["stale_at"] is not None
        ]
        return [i for _, i in sorted(stale)[:limit]]

    @contextlib.asynccontextmanager
    async def lock(self, resources: Sequence[str], *, wait: float = 0.0) -> AsyncIterator[None]:
        taken: list[asyncio.Lock] = []
        try:
            for name in sorted(resources):
                lock = self._locks.setdefault(name, asyncio.Lock())
                if lock.locked():
                    raise StoreLockedError("held", resource=name)
                await lock.acquire()
                taken.append(lock)
            yield
        finally:
            for lock in taken:
                lock.release()

    async def checkpoint(self, resource: str) -> dict[str, Any] | None:
        cp = self.checkpoints.get(resource)
        return copy.deepcopy(cp) if cp is not None else None

    async def get(self, resource: str, id: str | int) -> dict[str, Any] | None:
        row = self.tables.get(resource, {}).get(str(id))
        return None if row is None or not row["payload"] else dict(row["payload"])

    async def is_deleted(self, resource: str, id: str | int) -> bool | None:
        row = self.tables.get(resource, {}).get(str(id))
        return None if row is None else bool(row["deleted"])

    async def count(self, resource: str, *, deleted: bool = False) -> int:
        return sum(1 for r in self.tables.get(resource, {}).values() if r["deleted"] == deleted)

    async def ids(self, resource: str, *, deleted: bool | None = False) -> set[str]:
        return {
            i
            for i, r in self.tables.get(resource, {}).items()
            if deleted is None or r["deleted"] == deleted
        }

    async def checksum(self, resource: str) -> str:
        live = self.tables.get(resource, {}).items()
        return payload_checksum((rid, row["payload"]) for rid, row in live if not row["deleted"])

    def token_store(self, key: str = "default") -> TokenStore:
        return self._tokens.setdefault(key, MemoryTokenStore())
