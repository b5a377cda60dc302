"""A worker syncs each practice exactly; slices re-defer; a removed practice is skipped."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable

from drchrono_async._demo import emulator_checksum
from drchrono_async.fleet import PracticeRegistry, run_worker
from drchrono_async.oauth import Token
from drchrono_async.ratelimit import RedisQuota
from drchrono_async.testing import Emulator

from .conftest import config_for, queue_everything, wait_until_idle

RESOURCES = ("appointments", "patients")


def fixed(emulator: Emulator) -> Token:
    return Token(emulator.access_token, "unused-refresh", 253_402_300_799.0)


async def assert_equal(registry: PracticeRegistry, key: str, emulator: Emulator) -> None:
    async with registry.data_store(key) as store:
        for resource in RESOURCES:
            rows, digest = emulator_checksum(emulator, resource)
            assert rows > 0
            assert await store.count(resource) == rows, (key, resource)
            assert await store.checksum(resource) == digest, (key, resource)


@contextlib.asynccontextmanager
async def worker(
    schema: str, quota: RedisQuota, *, concurrency: int = 3, **options: object
) -> AsyncIterator[None]:
    config = config_for(schema, **options)
    await queue_everything(config)
    stop = asyncio.Event()
    task = asyncio.create_task(
        run_worker(config, quota, concurrency=concurrency, signals=False, stop=stop, poll=0.05)
    )
    try:
        yield
    finally:
        stop.set()
        await asyncio.wait_for(task, 30)


async def test_a_worker_syncs_every_practice_exactly(
    registry: PracticeRegistry, quota_factory: Callable[..., RedisQuota]
) -> None:
    emulators = {
        "north": Emulator(seed=1, sizes={"appointments": 700, "patients": 300}),
        "south": Emulator(seed=2, sizes={"appointments": 400, "patients": 500}),
        "gone": Emulator(seed=3, sizes={"appointments": 100, "patients": 100}),
    }
    async with contextlib.AsyncExitStack() as stack:
        for key, emu in emulators.items():
            url = await stack.enter_async_context(emu.serve())
            await registry.add(key, fixed(emu), base_url=url, resources=RESOURCES, auth="fixed")
        await registry.remove("gone")
        # slice_pages=1: every page is a slice of its own, queued again behind the others.
        async with worker(registry.schema, quota_factory(), slice_pages=1):
            state = await wait_until_idle(registry.schema)
        assert state == {"doing": 0, "due": 0, "later": 0, "failed": 0}
        for key in ("north", "south"):
            await assert_equal(registry, key, emulators[key])
        assert len(emulators["gone"].requests) == 0  # a removed practice is not synced
        # The practices' records never mix: each schema holds its own practice's only.
        north = await registry.practices()
        assert {p.schema for p in north} == {f"{registry.schema}_p_{k}" for k in emulators}
        # Each page was its own job: far more jobs than (practice, resource) pairs.
        assert await registry.spent("north", window=3600) == len(emulators["north"].requests)


async def test_a_slice_held_off_by_the_reserve_is_deferred_to_its_release(
    registry: PracticeRegistry,
) -> None:
    from drchrono_async.fleet import FleetRuntime, Outcome
    from drchrono_async.ratelimit import HourlyQuota
    from drchrono_async.testing import VirtualClock

    # A clock ten minutes into an hour, for the server and the quota: far from the release.
    clock = VirtualClock(start=1_800_000_000.0 + 600.0)
    emu = Emulator(seed=4, clock=clock, sizes={"patients": 2000})
    async with emu.serve() as url:
        await registry.add("held", fixed(emu), base_url=url, resources=["patients"], auth="fixed")
        # 6 background permits, then 4 held for interactive callers until the last minute.
        quota = HourlyQuota(limit=10, reserve=4, clock=clock)
        runtime = FleetRuntime(registry, quota, slice_pages=100, max_wait=0.5)
        result = await runtime.sync_slice("held", "patients")
    assert result.outcome is Outcome.QUOTA and result.calls == 6
    window_end = quota.snapshot().resets_at
    # Deferred to when background work may spend the reserve, not to the reset: the
    # window's last minute is still used.
    assert result.retry_at is not None
    assert abs(window_end - (1_800_000_000.0 + 3600.0)) < 2  # the hour, plus margins
    assert window_end - 62 <= result.retry_at <= window_end - 58
