"""Sync a practice into a database: the engine apart from the stores."""

from __future__ import annotations

from .._status import ResourceStatus, Status, resource_statuses, store_status
from ._apply import StoreDedupe, apply_event
from ._engine import DEFAULT_RESOURCES, PlanItem, Syncer, SyncPlan, not_synced, syncable
from ._pg_values import lock_key as pg_lock_key
from ._planning import default_verbose
from ._postgres import PostgresStore
from ._report import Outcome, ResourceReport, SyncReport
from ._rows import DELETED_FIELDS, key_of, versioned
from ._sql import check_name, payload_checksum
from ._sqlite import SQLiteStore
from ._state import Checkpoint
from ._state import load as load_checkpoint
from ._store import Column, Row, SyncStore, WriteResult

__all__ = [
    "DEFAULT_RESOURCES",
    "DELETED_FIELDS",
    "Checkpoint",
    "Column",
    "Outcome",
    "PlanItem",
    "PostgresStore",
    "ResourceReport",
    "ResourceStatus",
    "Row",
    "SQLiteStore",
    "Status",
    "StoreDedupe",
    "SyncPlan",
    "SyncReport",
    "SyncStore",
    "Syncer",
    "WriteResult",
    "apply_event",
    "check_name",
    "default_verbose",
    "key_of",
    "load_checkpoint",
    "not_synced",
    "payload_checksum",
    "pg_lock_key",
    "resource_statuses",
    "store_status",
    "syncable",
    "versioned",
]
