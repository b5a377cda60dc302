"""Sync a practice into a database: the engine apart from the stores."""

from __future__ import annotations

from ._engine import DEFAULT_RESOURCES, PlanItem, Syncer, SyncPlan
from ._report import ResourceReport, SyncReport
from ._sqlite import SQLiteStore
from ._store import Column, Row, SyncStore, WriteResult

__all__ = [
    "DEFAULT_RESOURCES",
    "Column",
    "PlanItem",
    "ResourceReport",
    "Row",
    "SQLiteStore",
    "SyncPlan",
    "SyncReport",
    "SyncStore",
    "Syncer",
    "WriteResult",
]
