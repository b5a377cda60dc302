"""Virtual time for tests, demos and benchmarks: hours of quota behaviour in milliseconds."""

from __future__ import annotations

import asyncio
import heapq
import itertools

__all__ = ["VirtualClock"]


class VirtualClock:
    """A `Clock` whose time moves only when told to, or when every task is waiting on it.

    With `autojump=True` (the default) a sleeper wakes as soon as the event loop has nothing
    else to run: time jumps to the earliest deadline. This is meant for in-process work (the
    emulator's transport); a task blocked on real I/O looks idle and lets time jump.
    `advance(s)` moves time by hand and wakes whoever is due.
    """

    def __init__(self, start: float = 1_767_225_600.0, *, autojump: bool = True) -> None:
        # Default start: 2026-01-01T00:00:00Z, the top of an hour.
        self._now = float(start)
        self._autojump = autojump
        self._sleepers: list[tuple[float, int, asyncio.Future[None]]] = []
        self._seq = itertools.count()
        self._driver: asyncio.Task[None] | None = None

    def now(self) -> float:
        return self._now

    async def sleep(self, seconds: float) -> None:
        if seconds <= 0:
            await asyncio.sleep(0)
            return
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[None] = loop.create_future()
        heapq.heappush(self._sleepers, (self._now + seconds, next(self._seq), fut))
        if self._autojump and (self._driver is None or self._driver.done()):
            self._driver = loop.create_task(self._drive())
        try:
            await fut
        finally:
            if not fut.done():
                fut.cancel()  # a cancelled sleeper is skipped when its deadline comes

    def advance(self, seconds: float) -> None:
        """Move time forward by `seconds` and wake every sleeper that is due."""
        self._set(self._now + max(0.0, seconds))

    def _set(self, when: float) -> None:
        self._now = max(self._now, when)
        while self._sleepers and self._sleepers[0][0] <= self._now:
            _, _, fut = heapq.heappop(self._sleepers)
            if not fut.done():
                fut.set_result(None)

    def _prune(self) -> None:
        while self._sleepers and self._sleepers[0][2].done():
            heapq.heappop(self._sleepers)

    async def _drive(self) -> None:
        loop = asyncio.get_running_loop()
        idle_rounds = 0
        while True:
            await asyncio.sleep(0)
            self._prune()
            if not self._sleepers:
                return
            if _loop_is_idle(loop):
                idle_rounds += 1
            else:
                idle_rounds = 0
            # Two idle looks in a row: no callback is ready, so every task is waiting (on this
            # clock, or on real I/O, which this cannot tell apart).
            if idle_rounds >= 2:
                idle_rounds = 0
                self._set(self._sleepers[0][0])

    def __repr__(self) -> str:
        return f"VirtualClock(now={self._now!r})"


def _loop_is_idle(loop: asyncio.AbstractEventLoop) -> bool:
    """Whether no callback is ready to run, as far as the loop lets us see.

    CPython's own loops keep ready callbacks in `_ready`. A loop without it (uvloop, for one)
    hides them, and is then taken as idle every time: time jumps after the driver's two
    `sleep(0)` rounds even while other tasks still have work, so timeouts may fire early.
    Use `autojump=False` and `advance()` on such a loop.
    """
    ready = getattr(loop, "_ready", None)
    if ready is None:
        return True
    return len(ready) == 0
