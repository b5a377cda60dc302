"""The Lua script and `_algorithm.step` agree, bit for bit, on the same (time, operation) events.

Runs the script on the real Redis with explicit times, so both see the same clock.
"""

from __future__ import annotations

import random

import attrs
import pytest
import redis.asyncio as aioredis

from drchrono_async.ratelimit._algorithm import Op, Params, Reason, State, step
from drchrono_async.ratelimit._lua import SCRIPT
from drchrono_async.ratelimit._redis import decode, script_args

T0 = 1_767_225_600.0

PARAMS = [
    Params(limit=5, window=60.0, burst=3, rate=2.0),
    Params(limit=500),
    Params(limit=7, window=2.5, burst=2, rate=10.0, margin=0.3, drift=1e-3, step=1.0, confirm=2),
]

# With the interactive reserve, its release before the window's end, and claims.
LANE_PARAMS = [
    Params(limit=6, window=60.0, burst=3, rate=2.0, reserve=2, release=15.0, claim=0.25),
    Params(limit=30, reserve=6, release=60.0, claim=0.25),
    Params(
        limit=7,
        window=2.5,
        burst=2,
        rate=10.0,
        margin=0.3,
        drift=1e-3,
        step=1.0,
        confirm=2,
        reserve=3,
        release=0.4,
        claim=0.1,
    ),
    Params(limit=4, window=30.0, burst=2, rate=1.0, reserve=4, release=0.0, claim=2.0),
]


# Server waits, hostile ones included: none may break the state or make the two disagree.
WAITS = [None, 0.5, 30.0, 3000.0, 1e12, float("inf"), float("nan"), -5.0, 3 * 3600.0]


def events(
    rng: random.Random, n: int, throttle: float = 0.1
) -> list[tuple[float, Op, dict[str, object]]]:
    """A random walk through every operation: bursts, idle gaps, offsets, 429s, releases.

    `throttle`: the share of 429s (fewer leave more windows to spend up to the reserve).
    """
    out: list[tuple[float, Op, dict[str, object]]] = []
    t = T0 + rng.uniform(-100, 100)
    offset = rng.uniform(-120, 120)
    for _ in range(n):
        t += rng.choice([0.0, 0.0, 0.01, 0.1, 0.37, 1.9, 13.0, 59.0, 400.0])
        if rng.random() < 0.02:
            offset += rng.choice([-60.0, 45.0])  # a clock step
        roll = rng.random()
        if roll < 0.55:
            lane = rng.random() < 0.5
            out.append((t, Op.ACQUIRE, {"count_wait": rng.choice([0, 1, 2]), "background": lane}))
        elif roll < 0.8:
            obs = float(int(t + offset)) - t - rng.uniform(0, 0.4)
            if rng.random() < 0.1:  # a stray Date far off, as a hostile server sends
                obs += rng.choice([86_400.0, -86_400.0, float("inf"), float("nan"), 7.0])
            out.append((t, Op.PEEK, {"obs": obs}))
        elif roll < 0.8 + throttle:
            wait = rng.choice(WAITS)
            out.append((t, Op.THROTTLE, {"arg": wait}))
        elif roll < 0.95:
            out.append((t, Op.RELEASE, {"arg": None, "zone_arg": rng.random() < 0.5}))
        else:
            out.append((t, Op.PEEK, {}))
    return out


@pytest.mark.parametrize("seed", range(12))
async def test_lua_and_python_agree(
    redis_client: aioredis.Redis, redis_key: str, seed: int
) -> None:
    p = PARAMS[seed % len(PARAMS)]
    reasons = await walk(redis_client, redis_key, random.Random(seed), p, throttle=0.1)
    assert Reason.PAUSED in reasons


@pytest.mark.parametrize("family", range(len(LANE_PARAMS)))
async def test_lua_and_python_agree_on_lanes_and_the_reserve(
    redis_client: aioredis.Redis, redis_key: str, family: int
) -> None:
    p = LANE_PARAMS[family]
    reasons: set[Reason] = set()
    for seed in range(4):
        # Fewer 429s, so that windows get spent up to the reserve.
        rng = random.Random(1000 * family + seed)
        reasons |= await walk(redis_client, f"{redis_key}:{seed}", rng, p, throttle=0.03)
    # Between them, the walks went through both background-only refusals.
    assert {Reason.RESERVE, Reason.YIELD} <= reasons


async def walk(
    redis_client: aioredis.Redis, redis_key: str, rng: random.Random, p: Params, throttle: float
) -> set[Reason]:
    """Run the same random events through both; return the reasons of the decisions."""
    script = redis_client.register_script(SCRIPT)
    key = f"{redis_key}:agree"
    state = State()
    last_k = 0
    retry: tuple[float, bool] | None = None
    reasons: set[Reason] = set()
    for t, op, kw in events(rng, 400, throttle):
        if retry is not None:
            # Wake exactly when (or a hair before) the algorithm said, as a waiter does.
            t, op, kw = retry[0], Op.ACQUIRE, {"count_wait": 0, "background": retry[1]}
            retry = None
        if op == Op.RELEASE:
            kw = {**kw, "arg": float(last_k)}  # give back a permit of the window last seen
        mine = step(state, p, t, op, **kw)  # type: ignore[arg-type]
        reply = await script(keys=[key], args=script_args(p, op, now=t, **kw))  # type: ignore[arg-type]
        lua_state, theirs = decode(reply)
        assert theirs == mine, (t, op, kw)
        assert attrs.asdict(lua_state) == attrs.asdict(state), (t, op, kw)
        last_k = mine.k
        reasons.add(mine.reason)
        if op == Op.ACQUIRE and not mine.granted and rng.random() < 0.5:
            retry = (t + mine.wait - rng.choice([0.0, 0.0, 1e-4, 1e-7]), bool(kw["background"]))
    # The walk went through every interesting branch at least once.
    assert state.throttled > 0 and state.cal == 1
    return reasons
