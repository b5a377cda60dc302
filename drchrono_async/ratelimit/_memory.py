"""`HourlyQuota`: the quota algorithm in this process's memory."""

from __future__ import annotations

import attrs

from ._algorithm import (
    CountWait,
    Decision,
    Op,
    Params,
    State,
    eta,
    release_at,
    server_wait,
    step,
    usable_offset,
)
from ._base import QuotaSnapshot
from ._clock import Clock, SystemClock
from ._priority import DEFAULT_RESERVE, check_release, reserve_permits
from ._scheduler import Scheduler, iso, logger

__all__ = ["HourlyQuota"]


class HourlyQuota(Scheduler):
    """DrChrono's hourly quota for the coroutines of one process.

    `limit` permits per window of `window` seconds aligned to the epoch on the API server's
    clock (hours start at :00), spaced by a token bucket of `burst` refilled at `rate` per
    second. A 429 pauses every waiter. For several processes or machines sharing one
    application's quota, use `RedisQuota`.

    Each `acquire` has a priority. Interactive waiters go before every background waiter
    (first come, first served within a lane), and a reserve of each window is spent by
    interactive requests only until `reserve_release` seconds before the window ends, when
    what is left of it goes to background work too: an hour with no interactive demand is
    still spent in full.

    Args:
        limit: permits per window (DrChrono's default is 500 per hour).
        window: the window in seconds.
        burst: the most permits taken back to back.
        rate: burst tokens refilled per second.
        clock: the time source (inject a `VirtualClock` in tests).
        margin: seconds of network latency allowed for at a window boundary.
        reserve: the interactive reserve: a fraction of `limit` in [0, 1) (a float, default
            0.1: 50 of 500), or a number of permits in [0, limit] (an int).
        reserve_release: seconds before the window's end from which the reserve is no longer
            held, in [0, window]; default the window's last 60th (60 s of an hour).
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
        reserve: float | int = DEFAULT_RESERVE,
        reserve_release: float | None = None,
    ) -> None:
        super().__init__(clock or SystemClock())
        self.params = quota_params(
            limit=limit,
            window=window,
            burst=burst,
            rate=rate,
            margin=margin,
            reserve=reserve,
            reserve_release=reserve_release,
        )
        self._state = State()

    async def _attempt(self, *, count_wait: CountWait, background: bool) -> Decision:
        return step(
            self._state,
            self.params,
            self.clock.now(),
            Op.ACQUIRE,
            count_wait=count_wait,
            background=background,
        )

    async def _eta(self, n: int, background: int = 0) -> float:
        return eta(self._state, self.params, self.clock.now(), n, background)

    async def throttled(self, retry_after: float | None) -> float:
        """Record a 429 and pause every waiter; returns the epoch time paused until."""
        retry_after = server_wait(retry_after)
        d = step(self._state, self.params, self.clock.now(), Op.THROTTLE, arg=retry_after)
        logger.info(
            "rate limit: 429 received, all requests paused until %s (%s)",
            iso(d.paused_until),
            "server's wait" if retry_after is not None else "next window",
        )
        await self._recheck_deadlines()
        return d.paused_until

    def observe_server_time(self, server_now: float) -> None:
        """Learn the server's clock from a response's `Date` (epoch seconds, truncated)."""
        now = self.clock.now()
        # The Date was generated before now and truncated: date - now is a lower bound.
        if usable_offset(server_now - now):
            step(self._state, self.params, now, Op.PEEK, obs=server_now - now)

    def snapshot(self) -> QuotaSnapshot:
        """Limit, used, remaining, resets at, paused until, waits and 429s so far."""
        s = attrs.evolve(self._state)
        d = step(s, self.params, self.clock.now(), Op.PEEK)
        return _snapshot(self.params, s, d)

    def __repr__(self) -> str:
        p = self.params
        return (
            f"HourlyQuota(limit={p.limit}, window={p.window}, burst={p.burst}, rate={p.rate}, "
            f"reserve={p.reserve})"
        )


def quota_params(
    *,
    limit: int,
    window: float,
    burst: float,
    rate: float,
    margin: float,
    reserve: object,
    reserve_release: object,
    claim: float = 0.0,
) -> Params:
    """The algorithm's settings from a quota's arguments, each checked."""
    base = Params(limit=limit, window=window, burst=burst, rate=rate, margin=margin)
    return attrs.evolve(
        base,
        reserve=reserve_permits(reserve, base.limit),
        release=check_release(reserve_release, base.window),
        claim=claim,
    )


def _snapshot(p: Params, s: State, d: Decision, shift: float = 0.0) -> QuotaSnapshot:
    """A snapshot from a state just stepped to `d.now`; `shift` maps store time to local."""
    used = int(s.used)
    remaining = max(0, p.limit - used)
    held = p.reserve > 0 and d.now < release_at(s, p)
    return QuotaSnapshot(
        limit=p.limit,
        used=used,
        remaining=remaining,
        resets_at=d.resets_at + shift,
        paused_until=d.paused_until + shift if d.paused_until > 0 else None,
        waits=s.waits,
        throttled=s.throttled,
        reserved=min(p.reserve, remaining) if held else 0,
    )
