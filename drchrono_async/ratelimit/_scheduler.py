"""Fair waiting in front of a store: two lanes, first come first served in each, one poller.

Every `acquire` joins the FIFO queue of its lane (interactive or background). The head is the
first interactive waiter, else the first background one; only the head asks the store for a
permit and sleeps on the clock until one is due, the others wait for their turn on a future.
An interactive arrival overtakes a background head: it wakes it, and the background waiter
goes back to waiting for its turn. A waiter that leaves (granted, cancelled, or out of
`max_wait`) hands the head position to the next. A permit is taken only inside the store's
atomic step, and the head returns right after it, so a cancelled waiter never holds one.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
from datetime import UTC, datetime

import attrs

from .._checks import check_seconds
from ..errors import QuotaExhaustedError
from ._algorithm import CountWait, Decision, Reason
from ._clock import Clock
from ._priority import Priority, PriorityLike, check_priority

__all__ = ["Scheduler", "check_max_wait", "iso", "logger"]

logger = logging.getLogger("drchrono_async.ratelimit")
PAUSE_LOGGED = 1.0  # seconds: a wait at least this long is logged when it ends, too


@attrs.define(eq=False)
class _Waiter:
    background: bool
    deadline: float | None  # local epoch time; None: no limit
    # Set while the waiter waits for its turn at the head; a fresh one for every such wait.
    turn: asyncio.Future[None] | None = None


def iso(ts: float) -> str:
    """An epoch time as ISO 8601 UTC with milliseconds, for log lines and messages."""
    try:
        return datetime.fromtimestamp(ts, UTC).isoformat(timespec="milliseconds")
    except (OverflowError, OSError, ValueError):  # a time no calendar holds: say so, never fail
        return f"epoch+{ts!r}s"


def check_max_wait(max_wait: object) -> float | None:
    """A caller's `max_wait`: seconds >= 0, or None (or infinity) for no limit."""
    return check_seconds(max_wait, "max_wait")


class Scheduler:
    """The waiting discipline; subclasses supply the store (`_attempt`, `_eta`)."""

    clock: Clock

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        # One FIFO queue per lane: interactive, background. The head is the first
        # interactive waiter, else the first background one.
        self._lanes: tuple[collections.deque[_Waiter], collections.deque[_Waiter]] = (
            collections.deque(),
            collections.deque(),
        )
        self._kick: asyncio.Future[None] | None = None
        self._logged: Reason = Reason.NONE
        # A pause logged as it began (its reason, and when): its end is logged too.
        self._paused: tuple[Reason, float] | None = None

    # -- to be supplied by the store ----------------------------------------------------------

    async def _attempt(self, *, count_wait: CountWait, background: bool) -> Decision:
        """One atomic step of the store: take a permit now, or say how long to wait.

        `count_wait`: whether this attempt counts as a wait (see `CountWait`);
        `background`: the lane of the request.
        """
        raise NotImplementedError

    async def _eta(self, n: int, background: int = 0) -> float:
        """Seconds until `n` interactive, then `background` background permits are taken."""
        raise NotImplementedError

    def _local(self, d: Decision, store_time: float) -> float:
        """A store time of decision `d` as a local epoch time."""
        return self.clock.now() + (store_time - d.now)

    # -- the waiting discipline ---------------------------------------------------------------

    async def acquire(
        self, *, max_wait: float | None = None, priority: PriorityLike = Priority.INTERACTIVE
    ) -> None:
        """Wait for, and take, one permit (see `Quota.acquire`)."""
        background = check_priority(priority) is Priority.BACKGROUND
        await self._acquire(check_max_wait(max_wait), background=background)

    def _head(self) -> _Waiter | None:
        for lane in self._lanes:
            if lane:
                return lane[0]
        return None

    async def _acquire(self, max_wait: float | None, *, background: bool = False) -> Decision:
        loop = asyncio.get_running_loop()
        now = self.clock.now()
        w = _Waiter(background, None if max_wait is None else now + max_wait)
        before = self._head()
        self._lanes[background].append(w)
        try:
            queued = self._head() is not w
            if queued:
                if max_wait is not None:
                    # Behind others: refuse at once if our turn surely comes too late.
                    wait = await self._eta(*self._ahead(w))
                    if wait > max_wait:
                        raise self._exhausted(now + wait, "the queue ahead")
                await self._wait_turn(w, loop)
            elif before is not None:
                self._preempt()  # an interactive waiter overtakes a background head
            first = True
            while True:
                if self._head() is not w:
                    # An interactive waiter overtook us: back to waiting for the turn.
                    queued = True
                    await self._wait_turn(w, loop)
                    continue
                # Count each acquire that waits once: a queued one always, a head if refused.
                count = CountWait.NEVER
                if first:
                    count = CountWait.ALWAYS if queued else CountWait.IF_REFUSED
                d = await self._attempt(count_wait=count, background=background)
                if d.granted:
                    if first and not queued and self._waiting() == 1:
                        self._logged = Reason.NONE  # an idle spell ends a waiting episode
                    self._log_resumed()
                    return d
                first = False
                until = self.clock.now() + d.wait
                if w.deadline is not None and until > w.deadline:
                    raise self._exhausted(until, d.reason.text)
                self._log_wait(d, until)
                if self._head() is w:
                    await self._sleep_or_kick(d.wait)
        finally:
            self._leave(w)

    def _waiting(self) -> int:
        return len(self._lanes[0]) + len(self._lanes[1])

    def _ahead(self, w: _Waiter) -> tuple[int, int]:
        """(interactive, background) permits due up to and including `w`'s, in queue order."""
        interactive, background = self._lanes
        if not w.background:
            return _index(interactive, w) + 1, 0
        return len(interactive), _index(background, w) + 1

    async def _wait_turn(self, w: _Waiter, loop: asyncio.AbstractEventLoop) -> None:
        if self._head() is w:
            return
        w.turn = turn = loop.create_future()
        if w.deadline is None:
            await turn
            return
        sleeper = asyncio.ensure_future(self.clock.sleep(max(0.0, w.deadline - self.clock.now())))
        try:
            await asyncio.wait({turn, sleeper}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            sleeper.cancel()
        if not turn.done():
            raise self._exhausted(self.clock.now() + await self._eta(*self._ahead(w)), "queue")
        turn.result()  # re-raises an exhaustion set by `_recheck_deadlines`

    async def _sleep_or_kick(self, seconds: float) -> None:
        if self._kick is None or self._kick.done():
            self._kick = asyncio.get_running_loop().create_future()
        sleeper = asyncio.ensure_future(self.clock.sleep(seconds))
        try:
            await asyncio.wait({sleeper, self._kick}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            sleeper.cancel()

    def _preempt(self) -> None:
        """Wake the sleeping head so that it sees it is no longer the head."""
        if self._kick is not None and not self._kick.done():
            self._kick.set_result(None)

    def _leave(self, w: _Waiter) -> None:
        was_head = self._head() is w
        lane = self._lanes[w.background]
        if lane and lane[0] is w:
            lane.popleft()
        else:
            with contextlib.suppress(ValueError):  # already gone
                lane.remove(w)
        if was_head:
            # Hand the head position on. A next waiter already told to give up hands it on
            # itself when it leaves, so there is never more than one head.
            head = self._head()
            if head is not None and head.turn is not None and not head.turn.done():
                head.turn.set_result(None)
        if w.turn is not None and not w.turn.done():
            w.turn.cancel()

    async def _recheck_deadlines(self) -> None:
        """After a 429: wake the head, and fail queued waiters whose wait now exceeds theirs."""
        self._preempt()
        now = self.clock.now()
        head = self._head()
        for w in [*self._lanes[0], *self._lanes[1]]:
            turn = w.turn
            if w is head or w.deadline is None or turn is None or turn.done():
                continue
            wait = await self._eta(*self._ahead(w))
            if now + wait > w.deadline and not turn.done():
                turn.set_exception(self._exhausted(now + wait, "paused after 429"))

    def _exhausted(self, resets_at: float, why: str) -> QuotaExhaustedError:
        # No method or path: the quota knows no request (the transport adds them).
        return QuotaExhaustedError(
            f"no request permit before max_wait: next expected at {iso(resets_at)} ({why})",
            method="",
            path="",
            resets_at=resets_at,
            retry_after=max(0.0, resets_at - self.clock.now()),
        )

    def _log_wait(self, d: Decision, until: float) -> None:
        # One line per waiting episode and per change of reason, not one per poll.
        if d.reason == self._logged:
            return
        self._logged = d.reason
        logger.info("rate limit: waiting until %s (%s)", iso(until), d.reason.text)
        # The burst bucket's spacing (a tenth of a second) is no pause worth an end line.
        if d.reason is not Reason.BURST and d.wait >= PAUSE_LOGGED and self._paused is None:
            self._paused = (d.reason, self.clock.now())

    def _log_resumed(self) -> None:
        """A pause logged as it began ends with this permit: say so, and how long it was."""
        if self._paused is None:
            return
        reason, since = self._paused
        self._paused = None
        self._logged = Reason.NONE  # the next pause, even for the same reason, is logged
        logger.info(
            "rate limit: requests resume after %.0f s (%s)", self.clock.now() - since, reason.text
        )


def _index(lane: collections.deque[_Waiter], w: _Waiter) -> int:
    for i, other in enumerate(lane):
        if other is w:
            return i
    return 0
