"""The Lua script and `_algorithm.step` agree, bit for bit, on the same (time, operation) events.

Runs the script on the real Redis with explicit times, so both see the same clock.
"""

from __future__ import annotations

import math
import random

import attrs
import pytest
import redis.asyncio as aioredis

from drchrono_async.ratelimit._algorithm import CountWait, Op, Params, State, step
from drchrono_async.ratelimit._lua import SCRIPT
from drchrono_async.ratelimit._redis import decode, script_args

T0 = 1_767_225_600.0
# What a broken or hostile server (or proxy) may make of a 429's wait or a Date header.
HOSTILE = [math.nan, math.inf, -math.inf, -3.0, -1e-300, 1e12, 1e300, 2e10]

PARAMS = [
    Params(limit=5, window=60.0, burst=3, rate=2.0),
    Params(limit=500),
    Params(limit=7, window=2.5, burst=2, rate=10.0, margin=0.3, drift=1e-3, step=1.0, confirm=2),
]


def events(rng: random.Random, n: int) -> list[tuple[float, Op, dict[str, object]]]:
    """A random walk through every operation: bursts, idle gaps, offsets, 429s, releases.

    Some observations and 429 waits are hostile: not finite, negative, huge, or one `Date`
    far ahead of the others.
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
            out.append((t, Op.ACQUIRE, {"count_wait": rng.choice(list(CountWait))}))
        elif roll < 0.8:
            obs = float(int(t + offset)) - t - rng.uniform(0, 0.4)
            if rng.random() < 0.1:
                obs = rng.choice([*HOSTILE, obs + 86400.0, obs + 45.0, obs - 30.0])
            out.append((t, Op.PEEK, {"obs": obs}))
        elif roll < 0.9:
            wait = rng.choice([None, 0.5, 30.0, 3000.0, 5000.0, 8000.0, *HOSTILE])
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
    rng = random.Random(seed)
    p = PARAMS[seed % len(PARAMS)]
    script = redis_client.register_script(SCRIPT)
    key = f"{redis_key}:agree"
    state = State()
    last_k = 0
    retry: float | None = None
    for t, op, kw in events(rng, 400):
        if retry is not None:
            # Wake exactly when (or a hair before) the algorithm said, as a waiter does.
            t, op, kw = retry, Op.ACQUIRE, {"count_wait": CountWait.NEVER}
            retry = None
        if op == Op.RELEASE:
            kw = {**kw, "arg": float(last_k)}  # give back a permit of the window last seen
        mine = step(state, p, t, op, **kw)  # type: ignore[arg-type]
        reply = await script(keys=[key], args=script_args(p, op, now=t, **kw))  # type: ignore[arg-type]
        lua_state, theirs = decode(reply)
        assert theirs == mine, (t, op, kw)
        assert attrs.asdict(lua_state) == attrs.asdict(state), (t, op, kw)
        last_k = mine.k
        if op == Op.ACQUIRE and not mine.granted and rng.random() < 0.5:
            retry = t + mine.wait - rng.choice([0.0, 0.0, 1e-4, 1e-7])
        assert all(math.isfinite(v) for v in attrs.astuple(state)), (t, op, kw)
        assert mine.paused_until <= mine.resets_at + p.window + p.guard, (t, op, kw)
    # The walk went through every interesting branch at least once.
    assert state.throttled > 0 and state.cal == 1
    assert 0 < await redis_client.pttl(key) <= (2 * p.window + 60) * 1000
