"""The pure quota algorithm (`_algorithm.step`), driven with explicit times."""

from __future__ import annotations

import heapq
import math

import attrs
from hypothesis import given, settings
from hypothesis import strategies as st

from drchrono_async.ratelimit._algorithm import (
    CountWait,
    Op,
    Params,
    Reason,
    State,
    eta,
    step,
)

HOUR = 3600.0
T0 = 1_767_225_600.0  # 2026-01-01T00:00:00Z, the top of an hour


def take(s: State, p: Params, now: float, **kw: object) -> bool:
    return step(s, p, now, Op.ACQUIRE, **kw).granted  # type: ignore[arg-type]


def test_window_is_aligned_to_the_epoch_hour_not_the_first_call() -> None:
    p = Params(limit=3, burst=10)
    s = State()
    start = T0 + 3000.0  # 10 minutes before the top of the hour
    assert [take(s, p, start + i) for i in range(4)] == [True, True, True, False]
    d = step(s, p, start + 4, Op.ACQUIRE)
    assert d.reason == Reason.WINDOW
    assert math.isclose(d.resets_at, T0 + HOUR, abs_tol=1e-5)  # :00, not 1 h after the first
    assert take(s, p, T0 + HOUR)
    assert s.used == 1


def test_burst_bucket_spaces_calls() -> None:
    p = Params(limit=100, burst=3, rate=2.0)
    s = State()
    assert [take(s, p, T0 + 10) for _ in range(4)] == [True, True, True, False]
    d = step(s, p, T0 + 10, Op.ACQUIRE)
    assert d.reason == Reason.BURST and math.isclose(d.wait, 0.5)
    assert not take(s, p, T0 + 10.49)
    assert take(s, p, T0 + 10.5)


def test_window_boundary_follows_the_server_clock_lower_bound() -> None:
    p = Params(limit=2, drift=0.0)
    s = State()
    # The server is 90 s ahead: a Date of T0+HOUR-30 arrives at local time T0+HOUR-120.
    local = T0 + HOUR - 120
    step(s, p, local, Op.PEEK, obs=(T0 + HOUR - 30) - local)
    assert take(s, p, local) and take(s, p, local) and not take(s, p, local)
    d = step(s, p, local, Op.ACQUIRE)
    # The server's hour starts at local T0+HOUR-90, not at the local top of the hour.
    assert math.isclose(d.resets_at, T0 + HOUR - 90, abs_tol=1e-5)
    assert not take(s, p, T0 + HOUR - 90.01)
    assert take(s, p, T0 + HOUR - 90 + 1e-5)


def test_a_request_near_the_boundary_is_charged_to_both_windows() -> None:
    p = Params(limit=5, margin=1.0, drift=0.0)
    s = State()
    step(s, p, T0 + 100, Op.PEEK, obs=0.0)
    assert take(s, p, T0 + 100)  # far from the boundary: this window only
    assert s.carry == 0
    assert step(s, p, T0 + HOUR - 1.5, Op.ACQUIRE).zone  # within 1 s + margin of it
    assert s.carry == 1
    assert take(s, p, T0 + HOUR + 0.01)
    assert s.used == 2  # the carried permit plus this one


def test_uncalibrated_permits_count_wherever_calibration_lands() -> None:
    p = Params(limit=10, drift=0.0)
    s = State()
    local = T0 + HOUR - 10  # the local clock says 10 s before the hour ...
    for _ in range(4):
        assert take(s, p, local)
    # ... but the server is 90 s ahead: those 4 landed in the server's next hour.
    step(s, p, local + 0.2, Op.PEEK, obs=90.0)
    assert s.k == int((T0 + HOUR) // HOUR) and s.used == 4


def test_estimate_moving_back_keeps_counts_in_both_windows_near_the_boundary() -> None:
    p = Params(limit=10, drift=0.0)
    s = State()
    local = T0 + HOUR + 20  # the local clock is 20.5 s ahead of the server
    for _ in range(3):
        assert take(s, p, local)
    step(s, p, local, Op.PEEK, obs=-20.5)
    # The server is 0.5 s before its hour: those 3 may count in either hour.
    assert s.k == int(T0 // HOUR) and s.used == 3 and s.carry == 3


def test_estimate_moving_back_far_from_the_boundary_carries_nothing() -> None:
    p = Params(limit=10, drift=0.0)
    s = State()
    local = T0 + HOUR + 20  # the local clock is 90 s ahead of the server
    for _ in range(3):
        assert take(s, p, local)
    step(s, p, local, Op.PEEK, obs=-90.0)
    # Sent before now, and now is 70 s before the server's hour: all in this hour.
    assert s.k == int(T0 // HOUR) and s.used == 3 and s.carry == 0


def test_offset_keeps_the_tightest_lower_bound_and_ages_it() -> None:
    p = Params(drift=1e-4)
    s = State()
    step(s, p, T0, Op.PEEK, obs=-0.7)
    step(s, p, T0 + 1, Op.PEEK, obs=-0.2)  # tighter: kept
    step(s, p, T0 + 2, Op.PEEK, obs=-0.9)  # looser, within `step`: ignored
    assert s.off == -0.2 and s.off_t == T0 + 1
    d = step(s, p, T0 + 1001, Op.PEEK)
    # After 1000 s the estimate is 0.1 s lower, so the boundary is 0.1 s later.
    assert math.isclose(d.resets_at, T0 + HOUR + 0.2 + 0.1 + (HOUR * 1e-4), abs_tol=0.01)


def test_a_clock_step_needs_confirmation() -> None:
    p = Params(step=2.0, confirm=3, drift=0.0)
    s = State()
    step(s, p, T0, Op.PEEK, obs=0.0)
    step(s, p, T0 + 1, Op.PEEK, obs=-30.0)  # one slow reply: ignored
    step(s, p, T0 + 2, Op.PEEK, obs=-0.5)  # a normal one resets the count
    assert s.off == 0.0 and s.bad == 0
    for i in range(3):  # the local clock jumped 60 s forward
        step(s, p, T0 + 3 + i, Op.PEEK, obs=-60.4 + 0.1 * i)
    assert math.isclose(s.off, -60.2) and s.bad == 0


def test_a_date_far_above_the_estimate_needs_confirmation_too() -> None:
    p = Params(step=2.0, confirm=3, drift=0.0)
    s = State()
    step(s, p, T0, Op.PEEK, obs=0.0)
    step(s, p, T0 + 1, Op.PEEK, obs=86400.0)  # one proxy's Date a day ahead: ignored
    assert s.off == 0.0 and step(s, p, T0 + 1, Op.PEEK).k == int(T0 // HOUR)
    step(s, p, T0 + 2, Op.PEEK, obs=-0.3)  # a normal one resets the count
    assert s.bad == 0
    step(s, p, T0 + 3, Op.PEEK, obs=1.5)  # tighter, within `step`: taken at once
    assert s.off == 1.5
    for i, obs in enumerate([60.7, 60.2, 60.9]):  # the server's clock stepped 60 s ahead
        step(s, p, T0 + 4 + i, Op.PEEK, obs=obs)
    assert s.off == 60.2 and s.bad == 0  # the lowest of the three: a lower bound for each


def test_suspicious_dates_count_per_direction() -> None:
    p = Params(step=2.0, confirm=3, drift=0.0)
    s = State()
    step(s, p, T0, Op.PEEK, obs=0.0)
    for i, obs in enumerate([-60.0, 90.0, -60.0, 90.0, -60.0]):  # no two in a row agree
        step(s, p, T0 + 1 + i, Op.PEEK, obs=obs)
    assert s.off == 0.0


def test_non_finite_and_absurd_observations_are_ignored() -> None:
    p = Params(limit=10)
    s = State()
    for obs in (math.nan, math.inf, -math.inf, 1e300, -2e10):
        step(s, p, T0 + 10, Op.PEEK, obs=obs)
    assert s.cal == 0  # not even taken as the first observation
    step(s, p, T0 + 10, Op.PEEK, obs=-0.5)
    assert s.cal == 1 and s.off == -0.5


def test_a_429_wait_is_bounded_by_the_end_of_the_next_window() -> None:
    p = Params(limit=500, guard=1.0, drift=0.0)
    nxt = T0 + HOUR + 1.0  # "until the next window": its start plus the guard
    cases = [
        (2 * HOUR - 600.0, T0 + 2 * HOUR, Reason.PAUSED),  # ends with the next window: taken
        (2 * HOUR - 598.0, nxt, Reason.WINDOW),  # 1 s past the bound
        (-1.0, nxt, Reason.WINDOW),
        (math.nan, nxt, Reason.WINDOW),
        (math.inf, nxt, Reason.WINDOW),
        (1e12, nxt, Reason.WINDOW),
    ]
    for wait, until, reason in cases:
        s = State()
        d = step(s, p, T0 + 600, Op.THROTTLE, arg=wait)
        assert math.isclose(d.paused_until, until, abs_tol=1e-5), wait
        assert d.reason == reason and s.used == 500, wait


def test_a_stored_pause_beyond_the_bound_is_read_as_the_next_window() -> None:
    p = Params(limit=500, guard=1.0, drift=0.0)
    s = State()
    assert take(s, p, T0 + 600)
    s.paused = T0 + 1e12  # what an older version could store
    d = step(s, p, T0 + 601, Op.ACQUIRE)
    assert d.reason == Reason.PAUSED and math.isclose(d.paused_until, T0 + HOUR + 1.0)
    assert take(s, p, T0 + HOUR + 1.0 + 1e-5)


def test_count_wait_says_which_acquires_count() -> None:
    p = Params(limit=1)
    s = State()
    step(s, p, T0 + 1, Op.ACQUIRE, count_wait=CountWait.IF_REFUSED)  # granted: not counted
    step(s, p, T0 + 2, Op.ACQUIRE, count_wait=CountWait.NEVER)
    assert s.waits == 0
    step(s, p, T0 + 3, Op.ACQUIRE, count_wait=CountWait.IF_REFUSED)
    step(s, p, T0 + HOUR, Op.ACQUIRE, count_wait=CountWait.ALWAYS)  # granted, counted
    assert s.waits == 2 and s.used == 1
    assert [int(c) for c in CountWait] == [0, 1, 2]  # the numbers the Lua script reads


def test_429_without_wait_pauses_until_next_window_plus_guard() -> None:
    p = Params(limit=500, guard=1.0, drift=0.0)
    s = State()
    assert take(s, p, T0 + 600)
    d = step(s, p, T0 + 601, Op.THROTTLE)
    assert math.isclose(d.paused_until, T0 + HOUR + 1.0, abs_tol=1e-5)
    assert s.used == 500 and s.throttled == 1
    blocked = step(s, p, T0 + HOUR + 0.5, Op.ACQUIRE)
    assert not blocked.granted and blocked.reason == Reason.PAUSED
    assert take(s, p, T0 + HOUR + 1.0 + 1e-5)


def test_429_with_a_long_wait_marks_the_window_spent_a_short_one_does_not() -> None:
    p = Params(limit=500, drift=0.0)
    s = State()
    step(s, p, T0 + 10, Op.THROTTLE, arg=2.0)  # a burst 429
    assert s.used == 0 and s.paused == T0 + 12
    assert take(s, p, T0 + 12)
    step(s, p, T0 + 1800, Op.THROTTLE, arg=1800.0)  # "available in 1800 seconds"
    assert s.used == 500 and s.paused == T0 + HOUR


def test_release_gives_back_a_permit_of_the_same_window_only() -> None:
    p = Params(limit=5)
    s = State()
    d = step(s, p, T0 + 1, Op.ACQUIRE)
    step(s, p, T0 + 2, Op.RELEASE, arg=float(d.k))
    assert s.used == 0
    d = step(s, p, T0 + 3, Op.ACQUIRE)
    step(s, p, T0 + HOUR + 1, Op.RELEASE, arg=float(d.k))  # that window is gone
    assert s.used == 0 and s.k == d.k + 1


def test_eta_counts_the_queue_without_changing_the_state() -> None:
    p = Params(limit=12, burst=10, rate=10.0)
    s = State()
    step(s, p, T0 + 5, Op.PEEK)
    before = (s.used, s.tokens)
    assert eta(s, p, T0 + 5, 10) == 0.0
    assert math.isclose(eta(s, p, T0 + 5, 12), 0.2, abs_tol=1e-5)
    assert math.isclose(eta(s, p, T0 + 5, 13), HOUR - 5 + 1e-6, abs_tol=1e-6)
    assert (s.used, s.tokens) == before


def run_against_server(
    offset: float,
    latencies: list[tuple[float, float]],
    gaps: list[float],
    *,
    limit: int = 20,
    window: float = 60.0,
    duration: float = 400.0,
) -> tuple[dict[int, int], list[float]]:
    """A discrete-event run of one greedy client against a server whose clock is local+offset.

    Returns the server's count per window and the server time of each accepted call.
    """
    p = Params(limit=limit, window=window, burst=5, rate=5.0)
    s = State()
    counts: dict[int, int] = {}
    arrivals: list[float] = []
    events: list[tuple[float, int, str, float]] = [(T0 + 7.3, 0, "try", 0.0)]
    seq = 1
    n = 0
    while events:
        t, _, kind, value = heapq.heappop(events)
        if t > T0 + duration:
            break
        if kind == "obs":
            step(s, p, t, Op.PEEK, obs=value)
            continue
        d = step(s, p, t, Op.ACQUIRE)
        if not d.granted:
            heapq.heappush(events, (t + d.wait, seq, "try", 0.0))
            seq += 1
            continue
        fwd, back = latencies[n % len(latencies)]
        server_time = t + fwd + offset
        w = math.floor(server_time / window)
        counts[w] = counts.get(w, 0) + 1
        arrivals.append(server_time)
        date = math.floor(server_time)
        received = t + fwd + back
        heapq.heappush(events, (received, seq, "obs", date - received))
        heapq.heappush(events, (t + gaps[n % len(gaps)], seq + 1, "try", 0.0))
        seq += 2
        n += 1
    return counts, arrivals


@settings(max_examples=60, deadline=None)
@given(
    offset=st.floats(-200, 200),
    latencies=st.lists(st.tuples(st.floats(0, 0.5), st.floats(0, 0.5)), min_size=1, max_size=8),
    gaps=st.lists(st.sampled_from([0.0, 0.0, 0.0, 0.3, 2.0, 17.0]), min_size=1, max_size=8),
)
def test_the_server_never_counts_more_than_the_limit(
    offset: float, latencies: list[tuple[float, float]], gaps: list[float]
) -> None:
    # Any clock offset, latency within the margin, any demand pattern: never over the limit.
    counts, _ = run_against_server(offset, latencies, gaps)
    assert counts and max(counts.values()) <= 20


@settings(max_examples=30, deadline=None)
@given(offset=st.floats(-200, 200), fwd=st.floats(0, 0.2), back=st.floats(0, 0.2))
def test_continuous_demand_spends_every_full_window_promptly(
    offset: float, fwd: float, back: float
) -> None:
    counts, arrivals = run_against_server(offset, [(fwd, back)], [0.0], duration=600.0)
    # The first window is partial and the last cut off. The second may lose the permits sent
    # in the last 2 s of the first (charged to both windows, on purpose, when the first was
    # not spent): the start can fall there. From then on every window is spent early.
    full = sorted(counts)[2:-1]
    assert full and all(counts[w] == 20 for w in full)
    for w in full:
        first = min(a for a in arrivals if math.floor(a / 60.0) == w)
        # Date resolution (1 s) bounds the guard; latency adds to it.
        assert first - w * 60.0 < 1.0 + fwd + back + 0.01


@settings(max_examples=150, deadline=None)
@given(
    events=st.lists(
        st.tuples(
            st.sampled_from([Op.ACQUIRE, Op.PEEK, Op.THROTTLE]),
            st.one_of(st.none(), st.floats(allow_nan=True, allow_infinity=True)),
            st.floats(0, 5000),
        ),
        min_size=1,
        max_size=30,
    )
)
def test_no_server_value_breaks_later_requests(
    events: list[tuple[Op, float | None, float]],
) -> None:
    # Any sequence of 429 waits and Date observations, with any float in them.
    p = Params(limit=10)
    s = State()
    t = T0 + 100
    for op, value, gap in events:
        t += gap
        kw = {"arg": value} if op == Op.THROTTLE else {"obs": value}
        d = step(s, p, t, op, **kw)  # type: ignore[arg-type]
        assert all(math.isfinite(v) for v in attrs.astuple(s))
        assert d.paused_until <= d.resets_at + HOUR + p.guard
        assert t < d.resets_at <= t + HOUR * (1 + 2 * p.drift) + 1
    # The next permit comes within two windows and a burst refill, and can be taken.
    wait = eta(s, p, t, 1)
    assert 0 <= wait <= 2 * HOUR * (1 + 2 * p.drift) + p.guard + 1 / p.rate + 1
    assert take(s, p, t + wait)
