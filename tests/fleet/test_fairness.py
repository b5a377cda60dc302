"""Fairness: when the quota cannot serve every backlog, each practice gets an equal share.

Three practices, one with a backfill five times the others' (and two resources to their
one); a shared quota of 30 calls an hour, far below what all need; one worker slot, so that
the order of jobs alone decides who gets the permits. Each practice must get a third of the
hour's permits, within 20%. `make soak` runs it with a backfill of 50,000 records.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable

import pytest

from drchrono_async.fleet import PracticeRegistry
from drchrono_async.ratelimit import RedisQuota
from drchrono_async.testing import Emulator

from .conftest import wait_until_idle
from .test_worker import fixed, worker

LIMIT = 30


@pytest.mark.parametrize(
    "huge",
    [
        pytest.param({"appointments": 12_000, "patients": 8000}, id="20k"),
        pytest.param(
            {"appointments": 30_000, "patients": 20_000}, id="50k", marks=pytest.mark.soak
        ),
    ],
)
async def test_each_practice_gets_a_fair_share_of_a_scarce_quota(
    registry: PracticeRegistry, quota_factory: Callable[..., RedisQuota], huge: dict[str, int]
) -> None:
    practices = {
        "huge": (Emulator(seed=21, sizes=huge), ("appointments", "patients")),
        "small_a": (Emulator(seed=22, sizes={"appointments": 4000}), ("appointments",)),
        "small_b": (Emulator(seed=23, sizes={"appointments": 4000}), ("appointments",)),
    }
    async with contextlib.AsyncExitStack() as stack:
        for key, (emu, resources) in practices.items():
            url = await stack.enter_async_context(emu.serve())
            await registry.add(key, fixed(emu), base_url=url, resources=resources, auth="fixed")
        quota = quota_factory(limit=LIMIT, reserve=0)  # no interactive callers here
        # A job with no permit in sight waits 0.3 s (not the usual second) before it is
        # deferred to the reset: the permits are gone for the hour either way.
        async with worker(registry.schema, quota, slice_pages=1, concurrency=1, max_wait=0.3):
            state = await wait_until_idle(registry.schema)
        # The hour's permits are spent: every job waits for the reset, none failed.
        assert state["doing"] == state["due"] == state["failed"] == 0
        assert state["later"] == 4
        calls = {key: len(emu.requests) for key, (emu, _) in practices.items()}
    total = sum(calls.values())
    print(f"calls per practice: {calls}")
    assert total >= LIMIT
    for key, spent in calls.items():
        assert abs(spent - total / 3) <= 0.2 * total / 3, (key, calls)
