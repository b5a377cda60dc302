"""A SyncStore in a dict, for tests of the engine's logic (the real stores are tested apart).

It keeps the protocol's rules (one atomic write, the upsert rule, tombstones) so that
engine tests exercise the same contract the SQLite and PostgreSQL stores implement.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from typing import Any

from drchrono_async.oauth import MemoryTokenStore, TokenStore
from drchrono_async.sync import Column, Row, WriteResult, payload_checksum


def _wins(row: Row, old: dict[str, Any]) -> bool:
    """The stores' upsert rule (`drchrono_async.sync._sql.upsert_condition`), in Python."""
    new, held = row.updated_at, old["updated_at"]
    if new is None:
        return True
    if not old["deleted"]:
        return held is None or new >= held
    if held is None:
        return row.deleted  # a tombstone: only a deletion replaces it
    return new > held  # a deleted version: only a strictly newer one revives it


class MemoryStore:
    def __init__(self) -> None:
        self.tables: dict[str, dict[str, dict[str, Any]]] = {}
        self.checkpoints: dict[str, dict[str, Any]] = {}
        self.writes = 0
        self.fail_after: int | None = None  # writes left before one raises (crash tests)
        self._tokens: dict[str, MemoryTokenStore] = {}
        self.deliveries: set[str] = set()

    async def delivery_handled(self, delivery_id: str) -> bool:
        return delivery_id in self.deliveries

    async def mark_delivery(self, delivery_id: str, *, retention: float) -> None:
        self.deliveries.add(delivery_id)

    async def open(self) -> None:
        pass

    async def close(self) -> None:
        pass

    async def ensure_resource(self, resource: str, columns: Sequence[Column]) -> None:
        self.tables.setdefault(resource, {})

    async def write(
        self,
        resource: str,
        rows: Sequence[Row],
        *,
        checkpoint: Mapping[str, Any] | None = None,
        delete_ids: Sequence[str] = (),
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
        written = skipped = marked = 0
        for row in rows:
            old = table.get(row.id)
            if old is not None and not _wins(row, old):
                skipped += 1
                continue
            table[row.id] = {"payload": dict(row.payload), "updated_at": row.updated_at,
                             "deleted": row.deleted}  # fmt: skip
            written += 1
        for rid in delete_ids:
            old = table.get(rid)
            if old is None:
                table[rid] = {"payload": {}, "updated_at": None, "deleted": True}
                marked += 1
            elif not old["deleted"]:
                old["deleted"] = True
                marked += 1
        if checkpoint is not None:
            self.checkpoints[resource] = copy.deepcopy(dict(checkpoint))
        self.writes += 1
        return WriteResult(written, skipped, marked)

    async def checkpoint(self, resource: str) -> dict[str, Any] | None:
        cp = self.checkpoints.get(resource)
        return copy.deepcopy(cp) if cp is not None else None

    async def get(self, resource: str, id: str) -> dict[str, Any] | None:
        row = self.tables.get(resource, {}).get(id)
        return None if row is None or not row["payload"] else dict(row["payload"])

    async def is_deleted(self, resource: str, id: str) -> bool | None:
        row = self.tables.get(resource, {}).get(id)
        return None if row is None else bool(row["deleted"])

    async def count(self, resource: str, *, deleted: bool = False) -> int:
        return sum(1 for r in self.tables.get(resource, {}).values() if r["deleted"] == deleted)

    async def ids(self, resource: str, *, deleted: bool | None = False) -> set[str]:
        return {i for i, r in self.tables.get(resource, {}).items()
                if deleted is None or r["deleted"] == deleted}  # fmt: skip

    async def checksum(self, resource: str) -> str:
        live = self.tables.get(resource, {}).items()
        return payload_checksum((rid, row["payload"]) for rid, row in live if not row["deleted"])

    def token_store(self, key: str = "default") -> TokenStore:
        return self._tokens.setdefault(key, MemoryTokenStore())
