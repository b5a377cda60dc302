"""The log of the emulator's webhook deliveries, and what a waiting delivery looks like."""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator
from typing import Literal

import attrs

__all__ = ["DeliveryLog", "DeliveryLogEntry", "Outcome", "PendingDelivery"]

Outcome = Literal["delivered", "failed", "given_up", "dropped", "lost"]
_MAX_LOG = 10_000


@attrs.frozen
class DeliveryLogEntry:
    """One attempt: `status` is the answer's code, or None with `error` naming what failed
    (`"timeout"`, `"connect"`, an exception's class name)."""

    delivery_id: str
    event: str
    hook_id: int
    attempt: int
    status: int | None
    error: str | None
    at: float
    outcome: Outcome
    record_id: str | None = None  # the event's record (None for a PING or an object without id)


@attrs.frozen
class PendingDelivery:
    """A delivery waiting for its next attempt (`attempts` made so far, next one at `due`)."""

    delivery_id: str
    event: str
    hook_id: int
    attempts: int
    due: float
    event_time: float


class DeliveryLog:
    """The last attempts, oldest first (bounded; older entries fall off)."""

    def __init__(self, maxlen: int = _MAX_LOG) -> None:
        self._entries: deque[DeliveryLogEntry] = deque(maxlen=maxlen)

    def append(self, entry: DeliveryLogEntry) -> None:
        self._entries.append(entry)

    def __iter__(self) -> Iterator[DeliveryLogEntry]:
        return iter(self._entries)

    def __len__(self) -> int:
        return len(self._entries)

    def __getitem__(self, index: int) -> DeliveryLogEntry:
        return self._entries[index]

    def of(self, delivery_id: str) -> list[DeliveryLogEntry]:
        """Every logged attempt of one delivery."""
        return [e for e in self._entries if e.delivery_id == delivery_id]

    def __repr__(self) -> str:
        return f"DeliveryLog({len(self._entries)} attempts)"
