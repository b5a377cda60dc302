"""Sync a practice into a database: the engine apart from the stores."""

from __future__ import annotations

from ._store import Column, Row, SyncStore, WriteResult

__all__ = ["Column", "Row", "SyncStore", "WriteResult"]
