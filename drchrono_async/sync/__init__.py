"""Sync a practice into a database: the engine apart from the stores."""

from __future__ import annotations

from ._apply import StoreDedupe, apply_event
from ._engine import DEFAULT_RESOURCES, PlanItem, Syncer, SyncPlan, syncable
from ._pg_values import lock_key as pg_lock_key
from ._postgres import PostgresStore
from ._report import Outcome, ResourceReport, SyncReport
from ._sql import check_name, payload_checksum
from ._sqlite import SQLiteStore
from ._state import Checkpoint
from ._store import Column, Row, SyncStore, WriteResult

__all__ = [
    "DEFAULT_RESOURCES",
    "Checkpoint",
    "Column",
    "Outcome",
    "PlanItem",
    "PostgresStore",
    "ResourceReport",
    "Row",
    "SQLiteStore",
    "StoreDedupe",
    "SyncPlan",
    "SyncReport",
    "SyncStore",
    "Syncer",
    "WriteResult",
    "apply_event",
    "check_name",
    "payload_checksum",
    "pg_lock_key",
    "syncable",
]
