"""Sync a practice into a database: the engine apart from the stores."""

from __future__ import annotations

from ._engine import DEFAULT_RESOURCES, Syncer
from ._report import ResourceReport, SyncReport
from ._sqlite import SQLiteStore
from ._store import Column, Row, SyncStore, WriteResult

__all__ = [
    "DEFAULT_RESOURCES",
    "Column",
    "ResourceReport",
    "Row",
    "SQLiteStore",
    "SyncReport",
    "SyncStore",
    "Syncer",
    "WriteResult",
]
