"""Sync a practice into a database: the engine apart from the stores."""

from __future__ import annotations

from ._errors import SyncStoreError
from ._postgres import PostgresStore
from ._sql import payload_checksum
from ._sqlite import SQLiteStore
from ._store import Column, Row, SyncStore, WriteResult

__all__ = [
    "Column",
    "PostgresStore",
    "Row",
    "SQLiteStore",
    "SyncStore",
    "SyncStoreError",
    "WriteResult",
    "payload_checksum",
]
