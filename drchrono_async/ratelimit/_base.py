"""What the transport asks of a quota scheduler; `HourlyQuota` and `RedisQuota` implement it."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import attrs

from ._clock import Clock
from ._priority import Priority, PriorityLike

__all__ = ["Quota", "QuotaSnapshot"]


@attrs.frozen
class QuotaSnapshot:
    """The scheduler's state at one moment (epoch seconds for times)."""

    limit: int
    used: int
    remaining: int
    resets_at: float
    paused_until: float | None
    waits: int
    throttled: int  # 429s seen so far
    # Of `remaining`, the permits only interactive requests may take now (the held reserve).
    reserved: int = 0


@runtime_checkable
class Quota(Protocol):
    """Takes one permit per HTTP request; learns from 429s and the server's `Date` header."""

    clock: Clock

    async def acquire(
        self, *, max_wait: float | None = None, priority: PriorityLike = Priority.INTERACTIVE
    ) -> None:
        """Wait for, and take, one permit.

        Raises `QuotaExhaustedError` (with `resets_at`) without waiting when the wait would
        exceed `max_wait` seconds (`None`: no limit). A cancelled waiter holds nothing.
        `priority`: `"interactive"` goes before every waiting `"background"` request and may
        spend the reserve. (A quota whose `acquire` takes no `priority` still works: the
        transport then calls it without one.)
        """
        ...

    async def throttled(self, retry_after: float | None) -> float:
        """Record a 429: pause every user of this quota. Returns the epoch time paused until.

        `retry_after` is the server's wait in seconds when it gave one; otherwise the pause
        lasts until the next window starts, plus a guard.
        """
        ...

    def observe_server_time(self, server_now: float) -> None:
        """Feed the server's clock (a response's `Date`, epoch seconds) to align windows."""
        ...

    def snapshot(self) -> QuotaSnapshot:
        """Limit, used, remaining, resets at, paused until, waits, 429s and the held reserve."""
        ...
