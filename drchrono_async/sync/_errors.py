"""The error a sync store raises when its database fails."""

from __future__ import annotations

from ..errors import DrChronoError

__all__ = ["SyncStoreError"]


class SyncStoreError(DrChronoError):
    """The database refused or failed an operation of a sync store.

    The message names the operation, the resource and the database's error class (for
    PostgreSQL its SQLSTATE), never a value: database messages quote the values they refuse,
    and those are patient data. The driver's exception is not chained for the same reason.
    A failed `write()` has changed nothing (its transaction was rolled back).
    """
