"""Fair waiting in front of a store: first come, first served, one poller, cancellation-safe.

Every `acquire` joins a FIFO queue. Only the head of the queue asks the store for a permit and
sleeps on the clock until one is due; the others wait for their turn on a future. A waiter
that leaves (granted, cancelled, or out of `max_wait`) hands the head position to the next.
A permit is taken only inside the store's atomic step, and the head returns right after it,
so a cancelled waiter never holds one.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import math
import numbers
from datetime import UTC, datetime

import attrs

from ..errors import InvalidRequestError, QuotaExhaustedError
from ._algorithm import CountWait, Decision, Reason
from ._clock import Clock

__all__ = ["Scheduler", "logger"]

logger = logging.getLogger("drchrono_async.ratelimit")


@attrs.define(eq=False)
class _Waiter:
    turn: asyncio.Future[None]
    deadline: float | None  # local epoch time; None: no limit


def iso(ts: float) -> str:
    """An epoch time as ISO 8601 UTC with milliseconds, for log lines and messages.

    Never raises: a time no date can show (which the algorithm's bounds should never
    produce) is written as a short number instead.
    """
    try:
        return datetime.fromtimestamp(ts, UTC).isoformat(timespec="milliseconds")
    except (ValueError, OverflowError, OSError):
        return f"epoch {ts:.6g}"


def _max_wait(value: object) -> float | None:
    """A caller's `max_wait` checked: seconds >= 0, or None (or inf) for no limit."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise InvalidRequestError("max_wait must be a number of seconds or None")
    seconds = float(value)
    if not seconds >= 0.0:  # also refuses nan
        raise InvalidRequestError("max_wait must be >= 0 seconds (or None for no limit)")
    return None if math.isinf(seconds) else seconds


class Scheduler:
    """The waiting discipline; subclasses supply the store (`_attempt`, `_eta`)."""

    clock: Clock

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self._queue: collections.deque[_Waiter] = collections.deque()
        self._kick: asyncio.Future[None] | None = None
        self._logged: Reason = Reason.NONE

    # -- to be supplied by the store ----------------------------------------------------------

    async def _attempt(self, *, count_wait: CountWait) -> Decision:
        """One atomic step of the store: take a permit now, or say how long to wait.

        `count_wait`: whether this attempt counts in the store's `waits`.
        """
        raise NotImplementedError

    async def _eta(self, n: int) -> float:
        """Seconds until the `n`-th next permit, from what this process knows."""
        raise NotImplementedError

    def _local(self, d: Decision, store_time: float) -> float:
        """A store time of decision `d` as a local epoch time."""
        return self.clock.now() + (store_time - d.now)

    # -- the waiting discipline ---------------------------------------------------------------

    async def acquire(self, *, max_wait: float | None = None) -> None:
        """Wait for, and take, one permit (see `Quota.acquire`).

        `max_wait`: seconds >= 0; `None` or `math.inf` for no limit. Anything else (nan, a
        negative number, a bool, a string) raises `InvalidRequestError` before queueing.
        """
        await self._acquire(_max_wait(max_wait))

    async def _acquire(self, max_wait: float | None) -> Decision:
        loop = asyncio.get_running_loop()
        now = self.clock.now()
        w = _Waiter(loop.create_future(), None if max_wait is None else now + max_wait)
        self._queue.append(w)
        try:
            queued = self._queue[0] is not w
            if queued:
                if max_wait is not None:
                    # Behind others: refuse at once if our turn surely comes too late.
                    wait = await self._eta(len(self._queue))
                    if wait > max_wait:
                        raise self._exhausted(now + wait, "the queue ahead")
                await self._wait_turn(w)
            first = True
            while True:
                # Count each acquire that waits once: a queued one always, a head if refused.
                if not first:
                    count = CountWait.NEVER
                else:
                    count = CountWait.ALWAYS if queued else CountWait.IF_REFUSED
                d = await self._attempt(count_wait=count)
                if d.granted:
                    if first and not queued and len(self._queue) == 1:
                        self._logged = Reason.NONE  # an idle spell ends a waiting episode
                    return d
                first = False
                until = self.clock.now() + d.wait
                if w.deadline is not None and until > w.deadline:
                    raise self._exhausted(until, d.reason.text)
                self._log_wait(d, until)
                await self._sleep_or_kick(d.wait)
        finally:
            self._leave(w)

    async def _wait_turn(self, w: _Waiter) -> None:
        if w.deadline is None:
            await w.turn
            return
        sleeper = asyncio.ensure_future(self.clock.sleep(max(0.0, w.deadline - self.clock.now())))
        try:
            await asyncio.wait({w.turn, sleeper}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            sleeper.cancel()
        if not w.turn.done():
            raise self._exhausted(self.clock.now() + await self._eta(self._position(w)), "queue")
        w.turn.result()  # re-raises an exhaustion set by `_recheck_deadlines`

    async def _sleep_or_kick(self, seconds: float) -> None:
        if self._kick is None or self._kick.done():
            self._kick = asyncio.get_running_loop().create_future()
        sleeper = asyncio.ensure_future(self.clock.sleep(seconds))
        try:
            await asyncio.wait({sleeper, self._kick}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            sleeper.cancel()

    def _leave(self, w: _Waiter) -> None:
        if self._queue and self._queue[0] is w:
            self._queue.popleft()
            # Hand the head position on. A next waiter already told to give up hands it on
            # itself when it leaves, so there is never more than one head.
            if self._queue and not self._queue[0].turn.done():
                self._queue[0].turn.set_result(None)
        else:
            with contextlib.suppress(ValueError):  # already gone
                self._queue.remove(w)
        if not w.turn.done():
            w.turn.cancel()

    def _position(self, w: _Waiter) -> int:
        for i, other in enumerate(self._queue):
            if other is w:
                return i + 1
        return 1

    async def _recheck_deadlines(self) -> None:
        """After a 429: wake the head, and fail queued waiters whose wait now exceeds theirs."""
        if self._kick is not None and not self._kick.done():
            self._kick.set_result(None)
        now = self.clock.now()
        for i, w in enumerate(list(self._queue)):
            if i == 0 or w.deadline is None or w.turn.done():
                continue
            wait = await self._eta(i + 1)
            if now + wait > w.deadline and not w.turn.done():
                w.turn.set_exception(self._exhausted(now + wait, "paused after 429"))

    def _exhausted(self, resets_at: float, why: str) -> QuotaExhaustedError:
        return QuotaExhaustedError(
            f"no request permit before max_wait: next expected at {iso(resets_at)} ({why})",
            method="",
            path="",
            resets_at=resets_at,
        )

    def _log_wait(self, d: Decision, until: float) -> None:
        # One line per waiting episode and per change of reason, not one per poll.
        if d.reason == self._logged:
            return
        self._logged = d.reason
        logger.info("rate limit: waiting until %s (%s)", iso(until), d.reason.text)
