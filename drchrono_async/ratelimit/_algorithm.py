"""The quota algorithm as one pure state transition, shared by `HourlyQuota` and `RedisQuota`.

`step()` is the whole algorithm; `_lua.py` is a line-by-line translation of it, and a test runs
both over the same (time, operation) sequences. Times are on the *store's* clock: the event
loop's `Clock` for `HourlyQuota`, Redis `TIME` for `RedisQuota`.

What it does, in order, on every call:

1. Offset: an observation `obs` is a lower bound of (API server time - store time), taken from
   a response's `Date` header (truncated to the second, so the server's true time is in
   [date, date + 1)): `date - time_received`. The estimate `off` keeps the largest (tightest)
   lower bound, aged by a drift allowance so that a clock that runs fast cannot leave it
   stale. The first observation sets the estimate (the server's clock may be minutes off the
   local one; the permits taken before it are all charged to the window it lands in). After
   that, one observation cannot move the estimate far: one more than `step` seconds below it
   (a clock step, or a slow reply) or more than `step` seconds above it (a clock step, or a
   proxy's wrong `Date`) is only taken once `confirm` observations in a row say the same;
   the estimate then moves to the one of them nearest to it. Observations that are not
   finite or more than `MAX_OFFSET` away from the store's clock are ignored.
   `lo = now + effective offset` is then a time the server has surely reached.
2. Window: the window index `k = floor(lo / window)`. Because `lo` never runs ahead of the
   server, a new window's spending starts only once the server's window has surely begun.
3. Zone: a request sent less than `1 + margin` seconds (the Date resolution and the latency
   allowance) before the boundary may be counted by the server in the next window, so it is
   charged to both (`carry` is the next window's share).
4. Burst: a token bucket of `burst` tokens refilled at `rate` per second spaces the calls.
5. A 429 pauses everyone until its wait, or the next window plus `guard`, and marks the
   window spent when the wait reaches to the window's end (a burst 429 does not). The
   server's wait is bounded: one that is missing, negative, not finite, or that ends after
   the end of the *next* window plus `guard` is taken as "until the next window plus
   `guard`". A pause in the state beyond that bound (one an older version stored) is read
   the same way, so the pause is never more than about two windows long.
"""

from __future__ import annotations

import math
import numbers
from enum import IntEnum

import attrs

from ..errors import InvalidRequestError

__all__ = [
    "CountWait", "Decision", "Op", "Params", "Reason", "State", "eta", "finite", "step",
]  # fmt: skip

# Grants when the bucket holds 1 token up to float rounding, so that a waiter woken at the
# computed time never sleeps again for a rounding error.
TOKEN_EPS = 1e-9
# Added to the computed local time of a window boundary so that, after rounding, the
# scheduler surely sees the new window when it wakes.
BOUNDARY_EPS = 1e-6
# Offset observations farther than this from the store's clock (about 300 years) are nonsense
# whatever their number, and would cost the window arithmetic its precision.
MAX_OFFSET = 1e10


class Op(IntEnum):
    """What a call to `step` does (the numbers are shared with the Lua script)."""

    PEEK = 0
    ACQUIRE = 1
    THROTTLE = 2
    RELEASE = 3


class CountWait(IntEnum):
    """Whether an ACQUIRE counts in `waits` (the numbers are shared with the Lua script)."""

    NEVER = 0
    IF_REFUSED = 1  # count the call if it must wait
    ALWAYS = 2  # count the call whatever happens (it already waited in the queue)


class Reason(IntEnum):
    """Why an acquire must wait (shared with the Lua script)."""

    NONE = 0
    BURST = 1
    WINDOW = 2
    PAUSED = 3

    @property
    def text(self) -> str:
        return _REASON_TEXT[self]


_REASON_TEXT = {
    Reason.NONE: "no wait",
    Reason.BURST: "burst limit",
    Reason.WINDOW: "window spent",
    Reason.PAUSED: "paused after 429",
}


@attrs.frozen
class Params:
    """The quota's fixed settings."""

    limit: int = 500
    window: float = 3600.0
    burst: float = 10.0
    rate: float = 10.0
    # Latency allowed for at a window boundary, on top of the Date header's 1 s resolution.
    margin: float = 1.0
    # Added to the next window start when a 429 names no wait.
    guard: float = 1.0
    # Clock drift allowed for, in seconds per second, as an observation ages (100 ppm).
    drift: float = 1e-4
    # An observation this far below the estimate is suspicious: a clock step or a slow reply.
    step: float = 2.0
    # This many suspicious observations in a row are taken as a clock step.
    confirm: int = 3

    def __attrs_post_init__(self) -> None:
        # Bounds that keep every time the algorithm computes a representable date.
        _check_int("limit", self.limit, 1, 10**9)
        _check_real("window", self.window, 1e-3, 1e8, "seconds")
        _check_real("burst", self.burst, 1.0, 1e9, "permits")
        _check_real("rate", self.rate, 1e-6, 1e9, "permits per second")
        _check_real("margin", self.margin, 0.0, self.window, "seconds, at most the window")
        _check_real("guard", self.guard, 0.0, self.window, "seconds, at most the window")
        _check_real("drift", self.drift, 0.0, 0.01, "seconds per second")
        _check_real("step", self.step, 1e-3, self.window, "seconds, at most the window")
        _check_int("confirm", self.confirm, 1, 1000)


def _check_int(name: str, value: object, lo: int, hi: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
        raise InvalidRequestError(f"{name} must be an integer from {lo} to {hi}")


def _check_real(name: str, value: object, lo: float, hi: float, unit: str) -> None:
    # The message names the bounds, never the value the caller passed.
    ok = isinstance(value, numbers.Real) and not isinstance(value, bool)
    if not ok or not lo <= float(value) <= hi:  # type: ignore[arg-type]
        raise InvalidRequestError(f"{name} must be a number from {lo:g} to {hi:g} ({unit})")


@attrs.define
class State:
    """Everything the algorithm remembers; `RedisQuota` keeps the same fields in a hash."""

    init: int = 0  # 0 until the first call sets the window and fills the bucket
    k: int = 0  # index of the window `used` counts (window start = k * window, server time)
    used: float = 0.0
    carry: float = 0.0  # permits that may have landed in window k + 1
    pre: float = 0.0  # permits taken before the first offset observation
    tokens: float = 0.0
    tlast: float = 0.0
    paused: float = 0.0  # store time until which nothing is sent
    cal: int = 0  # 1 once an offset observation arrived
    off: float = 0.0
    off_t: float = 0.0
    bad: int = 0
    alt: float = 0.0
    waits: int = 0
    throttled: int = 0


@attrs.frozen
class Decision:
    """The outcome of one `step`, all times on the store's clock."""

    granted: bool
    wait: float  # seconds until a permit is expected (0 when granted)
    # ACQUIRE: why it must wait. THROTTLE: PAUSED when the server's wait was taken, WINDOW
    # when the pause lasts until the next window.
    reason: Reason
    now: float
    resets_at: float  # when the current window ends (store time)
    paused_until: float  # ACQUIRE/PEEK: the pause in force (0: none); THROTTLE: the new pause
    k: int  # the window index the call saw (RELEASE needs it)
    zone: bool  # the permit was also charged to the next window


def step(
    s: State,
    p: Params,
    now: float,
    op: Op,
    *,
    obs: float | None = None,
    arg: float | None = None,
    count_wait: CountWait = CountWait.NEVER,
    zone_arg: bool = False,
) -> Decision:
    """Advance `s` to `now` and apply `op`. Mutates `s`; returns the decision.

    `obs`: an offset observation (server time - store time, a lower bound); any float.
    `arg`: THROTTLE: the 429's wait in seconds, or None (any float: see the bound above);
    RELEASE: the window index of the permit given back (with `zone_arg`: it had been charged
    to the next window too).
    `count_wait`: ACQUIRE: whether the call counts in `waits` (the scheduler counts each
    acquire that waits exactly once).
    """
    window = p.window
    calibrating = False
    # 1. Offset estimate. `abs(obs) <= MAX_OFFSET` is False for nan and infinities too.
    if obs is not None and abs(obs) <= MAX_OFFSET:
        if s.cal == 0:
            s.cal, s.off, s.off_t, s.bad = 1, obs, now, 0
            calibrating = True
        else:
            aged = p.drift * max(0.0, now - s.off_t)
            cur = s.off - aged
            # `bad` counts suspicious observations in a row: > 0 below, < 0 above the estimate.
            if obs > s.off + aged + p.step:
                s.alt = obs if s.bad >= 0 else min(s.alt, obs)
                s.bad = min(s.bad, 0) - 1
                if -s.bad >= p.confirm:
                    s.off, s.off_t, s.bad = s.alt, now, 0
            elif obs >= cur:
                s.off, s.off_t, s.bad = obs, now, 0
            elif obs < cur - p.step:
                s.alt = obs if s.bad <= 0 else max(s.alt, obs)
                s.bad = max(s.bad, 0) + 1
                if s.bad >= p.confirm:
                    s.off, s.off_t, s.bad = s.alt, now, 0
            else:
                s.bad = 0
    age = max(0.0, now - s.off_t)
    eff = s.off - p.drift * age if s.cal == 1 else 0.0
    lo = now + eff
    # 2. Window roll.
    k = math.floor(lo / window)
    if s.init == 0:
        s.init, s.k, s.tokens, s.tlast = 1, k, p.burst, now
    elif k > s.k:
        s.used = s.carry if k == s.k + 1 else 0.0
        s.carry, s.k = 0.0, k
    elif k < s.k:
        # The estimate moved back across a boundary: what was counted was sent before now, so
        # it may be in window k + 1 only if now is within the boundary zone of k + 1.
        if lo + 1.0 + p.margin + 2.0 * p.drift * age >= (k + 1) * window:
            s.carry = s.used
        else:
            s.carry = 0.0
        s.k = k
    if calibrating:
        s.used, s.pre = max(s.used, s.pre), 0.0
    # 3. Bucket refill.
    if now > s.tlast:
        s.tokens = min(p.burst, s.tokens + (now - s.tlast) * p.rate)
    s.tlast = now
    # The local time at which `lo` reaches the next window (drift makes `lo` run slow).
    boundary = (s.k + 1) * window
    if s.cal == 1:
        resets_at = (boundary - s.off - p.drift * s.off_t) / (1.0 - p.drift) + BOUNDARY_EPS
    else:
        resets_at = boundary + BOUNDARY_EPS
    # The longest pause a 429 may set: to the end of the next window, plus the guard.
    longest = resets_at + window + p.guard
    if s.paused > longest:
        s.paused = resets_at + p.guard
    paused = s.paused if s.paused > now else 0.0

    if op == Op.ACQUIRE:
        zone = s.cal == 1 and lo + 1.0 + p.margin + 2.0 * p.drift * age >= boundary
        until, reason = now, Reason.NONE
        if paused > until:
            until, reason = paused, Reason.PAUSED
        if (s.used >= p.limit or (zone and s.carry >= p.limit)) and resets_at > until:
            until, reason = resets_at, Reason.WINDOW
        if s.tokens + TOKEN_EPS < 1.0:
            t = now + (1.0 - s.tokens) / p.rate
            if t > until:
                until, reason = t, Reason.BURST
        if count_wait == CountWait.ALWAYS or (count_wait == CountWait.IF_REFUSED and until > now):
            s.waits += 1
        if until <= now:
            s.tokens = max(0.0, s.tokens - 1.0)
            s.used += 1.0
            if zone:
                s.carry += 1.0
            if s.cal == 0:
                s.pre += 1.0
            return Decision(True, 0.0, Reason.NONE, now, resets_at, paused, s.k, zone)
        return Decision(False, until - now, reason, now, resets_at, paused, s.k, zone)

    if op == Op.THROTTLE:
        s.throttled += 1
        # Written so that nan, infinities and negatives all take the `else` branch.
        if arg is not None and arg >= 0.0 and now + arg <= longest:
            until, reason = now + arg, Reason.PAUSED
            # A wait that reaches the window's end says the window is spent (not a burst 429).
            if until >= resets_at - (1.0 + p.margin):
                s.used = max(s.used, float(p.limit))
        else:
            until, reason = resets_at + p.guard, Reason.WINDOW
            s.used = max(s.used, float(p.limit))
        s.paused = max(s.paused, until)
        # `reason`: PAUSED when the server's wait was taken, WINDOW when "the next window" was.
        return Decision(False, s.paused - now, reason, now, resets_at, s.paused, s.k, False)

    if op == Op.RELEASE:
        if arg is not None and arg == s.k:
            s.used = max(0.0, s.used - 1.0)
            if zone_arg:
                s.carry = max(0.0, s.carry - 1.0)
        s.tokens = min(p.burst, s.tokens + 1.0)

    return Decision(False, 0.0, Reason.NONE, now, resets_at, paused, s.k, False)


def finite(value: object) -> float | None:
    """`value` as a float if it is a finite real number (not a bool), else None.

    For numbers that came from the network: the script must never receive "inf" or "nan".
    """
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        return None
    try:
        number = float(value)
    except (OverflowError, ValueError):  # a huge Fraction, say
        return None
    return number if math.isfinite(number) else None


def eta(s: State, p: Params, now: float, n: int) -> float:
    """Seconds until the `n`-th next permit, if nobody else takes one (works on a copy)."""
    sim = attrs.evolve(s)
    t = now
    for _ in range(n):
        for _ in range(8):  # a grant is due after at most a few re-checks
            d = step(sim, p, t, Op.ACQUIRE)
            if d.granted:
                break
            t += d.wait
    return t - now
