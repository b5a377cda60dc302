"""The clock the quota, the transport's backoff and the emulator read and sleep on.

Injecting it is what lets tests run hours of quota behaviour in virtual time.
"""

from __future__ import annotations

import asyncio
import time
from typing import Protocol, runtime_checkable

__all__ = ["Clock", "SystemClock"]


@runtime_checkable
class Clock(Protocol):
    """Wall-clock time in epoch seconds, and a way to wait on it."""

    def now(self) -> float:
        """Seconds since the Unix epoch."""
        ...

    async def sleep(self, seconds: float) -> None:
        """Wait `seconds` of this clock's time (cancellable)."""
        ...


class SystemClock:
    """The real clock: `time.time()` and `asyncio.sleep()`."""

    def now(self) -> float:
        return time.time()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, seconds))

    def __repr__(self) -> str:
        return "SystemClock()"
