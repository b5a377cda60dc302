"""`HourlyQuota`: the quota algorithm in this process's memory."""

from __future__ import annotations

import attrs

from ._algorithm import CountWait, Decision, Op, Params, Reason, State, eta, finite, step
from ._base import QuotaSnapshot
from ._clock import Clock, SystemClock
from ._scheduler import Scheduler, iso, logger

__all__ = ["HourlyQuota"]


class HourlyQuota(Scheduler):
    """DrChrono's hourly quota for the coroutines of one process.

    `limit` permits per window of `window` seconds aligned to the epoch on the API server's
    clock (hours start at :00), spaced by a token bucket of `burst` refilled at `rate` per
    second. Waiting is first come, first served; a 429 pauses every waiter. For several
    processes or machines sharing one application's quota, use `RedisQuota`.

    Args:
        limit: permits per window (DrChrono's default is 500 per hour).
        window: the window in seconds.
        burst: the most permits taken back to back.
        rate: burst tokens refilled per second.
        clock: the time source (inject a `VirtualClock` in tests).
        margin: seconds of network latency allowed for at a window boundary.

    A bad setting (not a number, nan, out of range) raises `InvalidRequestError`.
    """

    def __init__(
        self,
        limit: int = 500,
        *,
        window: float = 3600.0,
        burst: float = 10.0,
        rate: float = 10.0,
        clock: Clock | None = None,
        margin: float = 1.0,
    ) -> None:
        super().__init__(clock or SystemClock())
        self.params = Params(limit=limit, window=window, burst=burst, rate=rate, margin=margin)
        self._state = State()

    async def _attempt(self, *, count_wait: CountWait) -> Decision:
        return step(self._state, self.params, self.clock.now(), Op.ACQUIRE, count_wait=count_wait)

    async def _eta(self, n: int) -> float:
        return eta(self._state, self.params, self.clock.now(), n)

    async def throttled(self, retry_after: float | None) -> float:
        """Record a 429 and pause every waiter; returns the epoch time paused until.

        A `retry_after` that is None, negative, not finite or beyond the end of the next
        window pauses until the next window starts (plus a guard second).
        """
        now = self.clock.now()
        d = step(self._state, self.params, now, Op.THROTTLE, arg=finite(retry_after))
        logger.info(
            "rate limit: 429 received, all requests paused until %s (%s)",
            iso(d.paused_until),
            "server's wait" if d.reason == Reason.PAUSED else "next window",
        )
        await self._recheck_deadlines()
        return d.paused_until

    def observe_server_time(self, server_now: float) -> None:
        """Learn the server's clock from a response's `Date` (epoch seconds, truncated)."""
        now = self.clock.now()
        server = finite(server_now)
        if server is None:
            return
        # The Date was generated before now and truncated: date - now is a lower bound.
        step(self._state, self.params, now, Op.PEEK, obs=server - now)

    def snapshot(self) -> QuotaSnapshot:
        """Limit, used, remaining, resets at, paused until, waits and 429s so far."""
        s = attrs.evolve(self._state)
        d = step(s, self.params, self.clock.now(), Op.PEEK)
        return _snapshot(self.params, s, d)

    def __repr__(self) -> str:
        p = self.params
        return f"HourlyQuota(limit={p.limit}, window={p.window}, burst={p.burst}, rate={p.rate})"


def _snapshot(p: Params, s: State, d: Decision, shift: float = 0.0) -> QuotaSnapshot:
    """A snapshot from a state just stepped to `d.now`; `shift` maps store time to local."""
    used = int(s.used)
    return QuotaSnapshot(
        limit=p.limit,
        used=used,
        remaining=max(0, p.limit - used),
        resets_at=d.resets_at + shift,
        paused_until=d.paused_until + shift if d.paused_until > 0 else None,
        waits=s.waits,
        throttled=s.throttled,
    )
