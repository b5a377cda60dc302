"""The quota algorithm as one pure state transition, shared by `HourlyQuota` and `RedisQuota`.

`step()` is the whole algorithm; `_lua.py` is a line-by-line translation of it, and a test runs
both over the same (time, operation) sequences. Times are on the *store's* clock: the event
loop's `Clock` for `HourlyQuota`, Redis `TIME` for `RedisQuota`.

What it does, in order, on every call:

1. Offset: an observation `obs` is a lower bound of (API server time - store time), taken from
   a response's `Date` header (truncated to the second, so the server's true time is in
   [date, date + 1)): `date - time_received`. The estimate `off` keeps the largest (tightest)
   lower bound, aged by a drift allowance so that a clock that runs fast cannot leave it
   stale; `confirm` consecutive observations far below it are read as a clock step.
   `lo = now + effective offset` is then a time the server has surely reached.
2. Window: the window index `k = floor(lo / window)`. Because `lo` never runs ahead of the
   server, a new window's spending starts only once the server's window has surely begun.
3. Zone: a request sent less than `1 + margin` seconds (the Date resolution and the latency
   allowance) before the boundary may be counted by the server in the next window, so it is
   charged to both (`carry` is the next window's share).
4. Burst: a token bucket of `burst` tokens refilled at `rate` per second spaces the calls.
5. A 429 pauses everyone until its wait, or the next window plus `guard`, and marks the
   window spent when the wait reaches to the window's end (a burst 429 does not).
6. Lanes (see `_priority.py`): a background acquire also waits while the interactive reserve
   is held and would be broken (`used + reserve >= limit` before `release` seconds from the
   window's end, on `lo`), and while an interactive waiter's claim is live. An interactive
   acquire that must wait writes its claim: its expected grant time plus `claim` seconds.
"""

from __future__ import annotations

import math
from enum import IntEnum

import attrs

__all__ = [
    "CountWait",
    "Decision",
    "Op",
    "Params",
    "Reason",
    "State",
    "eta",
    "release_at",
    "server_wait",
    "step",
    "usable_offset",
]

# Grants when the bucket holds 1 token up to float rounding, so that a waiter woken at the
# computed time never sleeps again for a rounding error.
TOKEN_EPS = 1e-9
# Added to the computed local time of a window boundary so that, after rounding, the
# scheduler surely sees the new window when it wakes.
BOUNDARY_EPS = 1e-6


class Op(IntEnum):
    """What a call to `step` does (the numbers are shared with the Lua script)."""

    PEEK = 0
    ACQUIRE = 1
    THROTTLE = 2
    RELEASE = 3


class CountWait(IntEnum):
    """Whether an ACQUIRE counts in `waits` (the numbers are shared with the Lua script)."""

    NEVER = 0
    IF_REFUSED = 1  # the head of the queue: it waited only if refused
    ALWAYS = 2  # a queued waiter: it waited whatever happens now


class Reason(IntEnum):
    """Why an acquire must wait (shared with the Lua script)."""

    NONE = 0
    BURST = 1
    WINDOW = 2
    PAUSED = 3
    RESERVE = 4  # background only: the interactive reserve is held
    YIELD = 5  # background only: an interactive waiter has claimed the next permits

    @property
    def text(self) -> str:
        return _REASON_TEXT[self]


_REASON_TEXT = {
    Reason.NONE: "no wait",
    Reason.BURST: "burst limit",
    Reason.WINDOW: "window spent",
    Reason.PAUSED: "paused after 429",
    Reason.RESERVE: "reserve held for interactive requests",
    Reason.YIELD: "interactive requests first",
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
    # Permits of each window only interactive acquires may take while the reserve is held.
    reserve: int = 0
    # Seconds before the window's end (server clock) from which the reserve is not held.
    release: float = 0.0
    # Seconds an interactive waiter's claim outlives its expected grant (cross-process slack).
    claim: float = 0.0

    def __attrs_post_init__(self) -> None:
        from .._checks import check_int, check_number
        from ..errors import InvalidRequestError

        # Permits are counted in Redis integers and Lua doubles: a billion stays exact.
        check_int(self.limit, "limit", low=1, high=10**9)
        check_number(self.window, "window", low=0, low_open=True, high=math.inf)
        check_number(self.burst, "burst", low=1, high=math.inf)
        check_number(self.rate, "rate", low=0, low_open=True, high=math.inf)
        check_number(self.drift, "drift", low=0, high=0.5, high_open=True)
        for name in ("margin", "guard", "step", "release", "claim"):
            check_number(getattr(self, name), name, low=0, high=math.inf)
        check_int(self.confirm, "confirm", low=1, high=1_000)
        check_int(self.reserve, "reserve", low=0, high=self.limit, tail=" (the limit)")
        if self.release > self.window or self.claim > self.window:
            raise InvalidRequestError("release and claim must not exceed the window")


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
    bad: int = 0  # suspicious observations in a row: > 0 far below, < 0 far ahead
    alt: float = 0.0
    waits: int = 0
    throttled: int = 0
    claimed: float = 0.0  # store time until which interactive waiters go first everywhere


@attrs.frozen
class Decision:
    """The outcome of one `step`, all times on the store's clock."""

    granted: bool
    wait: float  # seconds until a permit is expected (0 when granted)
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
    background: bool = False,
) -> Decision:
    """Advance `s` to `now` and apply `op`. Mutates `s`; returns the decision.

    `obs`: an offset observation (server time - store time, a lower bound).
    `arg`: THROTTLE: the 429's wait in seconds, or None; RELEASE: the window index of the
    permit given back (with `zone_arg`: it had been charged to the next window too).
    `count_wait`: ACQUIRE: whether this call counts in `waits` (the scheduler counts each
    acquire that waits exactly once).
    `background`: ACQUIRE: the background lane (held off the reserve and behind claims).
    """
    window = p.window
    calibrating = False
    # 1. Offset estimate. An observation far from the estimate, above or below, counts only
    # once `confirm` in a row agree on its side: one stray Date cannot move the window.
    if obs is not None and math.isfinite(obs):
        if s.cal == 0:
            s.cal, s.off, s.off_t, s.bad = 1, obs, now, 0
            calibrating = True
        else:
            cur = s.off - p.drift * max(0.0, now - s.off_t)
            if obs > cur + p.step:
                # Far ahead: keep the lowest of the streak (the most cautious).
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
        # Permits taken before the server's clock was known count in this window; if now is
        # within the boundary zone, the latest of them may have landed in the next one too.
        if lo + 1.0 + p.margin >= (k + 1) * window:
            s.carry = max(s.carry, s.pre)
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
    paused = s.paused if s.paused > now else 0.0

    if op == Op.ACQUIRE:
        zone = s.cal == 1 and lo + 1.0 + p.margin + 2.0 * p.drift * age >= boundary
        until, reason = now, Reason.NONE
        if paused > until:
            until, reason = paused, Reason.PAUSED
        if (s.used >= p.limit or (zone and s.carry >= p.limit)) and resets_at > until:
            until, reason = resets_at, Reason.WINDOW
        if background:
            if s.used + p.reserve >= p.limit and p.reserve > 0:
                held = release_at(s, p)
                if held > until:
                    until, reason = held, Reason.RESERVE
            if s.claimed > until:
                until, reason = s.claimed, Reason.YIELD
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
        if not background:
            s.claimed = max(s.claimed, until + p.claim)
        return Decision(False, until - now, reason, now, resets_at, paused, s.k, zone)

    if op == Op.THROTTLE:
        s.throttled += 1
        # A wait that is not a finite number >= 0, or that reaches past the end of the next
        # window (plus the guard), is not believed: the pause lasts until the next window.
        if arg is not None and (
            not math.isfinite(arg) or arg < 0 or now + arg > resets_at + window + p.guard
        ):
            arg = None
        if arg is None:
            until = resets_at + p.guard
            s.used = max(s.used, float(p.limit))
        else:
            until = now + arg
            # A wait that reaches the window's end says the window is spent (not a burst 429).
            if until >= resets_at - (1.0 + p.margin):
                s.used = max(s.used, float(p.limit))
        s.paused = max(s.paused, until)
        return Decision(False, s.paused - now, Reason.PAUSED, now, resets_at, s.paused, s.k, False)

    if op == Op.RELEASE:
        if arg is not None and int(arg) == s.k:
            s.used = max(0.0, s.used - 1.0)
            if zone_arg:
                s.carry = max(0.0, s.carry - 1.0)
        s.tokens = min(p.burst, s.tokens + 1.0)

    return Decision(False, 0.0, Reason.NONE, now, resets_at, paused, s.k, False)


def server_wait(value: object) -> float | None:
    """A 429's wait as the algorithm takes it: a finite number of seconds >= 0, else None.

    `step` applies the same rule (and the bound of the next window's end) itself; this keeps
    values that are not numbers at all from reaching it, or the Lua script.
    """
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value) if math.isfinite(value) and value >= 0 else None


# An offset beyond this (about 300 years) is no clock: the Date was garbage.
MAX_OFFSET = 1e10


def usable_offset(obs: object) -> bool:
    """Whether a clock observation (server time - local time) can be believed at all."""
    return (
        not isinstance(obs, bool)
        and isinstance(obs, (int, float))
        and math.isfinite(obs)
        and abs(obs) <= MAX_OFFSET
    )


def release_at(s: State, p: Params) -> float:
    """The store time at which `lo` reaches `release` seconds before window `s.k` ends.

    The same arithmetic as `resets_at`, at an edge `release` seconds earlier.
    """
    edge = (s.k + 1) * p.window - p.release
    if s.cal == 1:
        return (edge - s.off - p.drift * s.off_t) / (1.0 - p.drift) + BOUNDARY_EPS
    return edge + BOUNDARY_EPS


def eta(s: State, p: Params, now: float, n: int, background: int = 0) -> float:
    """Seconds until `n` interactive, then `background` background permits have been taken.

    If nobody else takes one (works on a copy).
    """
    sim = attrs.evolve(s)
    # The simulated waiters' own claims would only delay the simulated background ones.
    p = attrs.evolve(p, claim=0.0) if p.claim else p
    t = now
    for lane in [False] * n + [True] * background:
        for _ in range(12):  # a grant is due after at most a few re-checks
            d = step(sim, p, t, Op.ACQUIRE, background=lane)
            if d.granted:
                break
            t += d.wait
    return t - now
