"""Token refresh inside the fleet: one refresh however many jobs need it at once.

A practice registered with `auth="oauth"` and a token about to expire; a worker with an
`OAuthApp` runs several slices of its two resources at once. Each slice has a client of its
own, so only the registry's token lock keeps them to one refresh: the emulator must see a
single refresh, no request may be refused (the old access token dies with the refresh), the
registry must hold the rotated token, and the store must equal the emulator.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable

from drchrono_async.fleet import PracticeRegistry, run_worker
from drchrono_async.oauth import OAuthApp, Token
from drchrono_async.ratelimit import RedisQuota
from drchrono_async.testing import Emulator

from .conftest import config_for, jobs_state, queue_everything, wait_until_idle
from .test_worker import RESOURCES, assert_equal


@contextlib.asynccontextmanager
async def oauth_worker(
    schema: str, quota: RedisQuota, app: OAuthApp, **options: object
) -> AsyncIterator[list[str]]:
    config = config_for(schema, **options)
    await queue_everything(config)
    asked: list[str] = []

    def oauth(base_url: str) -> OAuthApp:
        asked.append(base_url)
        return app

    stop = asyncio.Event()
    task = asyncio.create_task(
        run_worker(config, quota, concurrency=3, oauth=oauth, signals=False, stop=stop, poll=0.05)
    )
    try:
        yield asked
    finally:
        stop.set()
        await asyncio.wait_for(task, 30)


async def test_concurrent_jobs_refresh_an_expiring_token_once(
    registry: PracticeRegistry, quota_factory: Callable[..., RedisQuota]
) -> None:
    emu = Emulator(seed=31, sizes={"appointments": 600, "patients": 400})
    async with emu.serve() as url:
        old = Token(emu.access_token, emu.refresh_token, time.time() + 60)  # inside the margin
        await registry.add("clinic", old, base_url=url, resources=RESOURCES, auth="oauth")
        app = OAuthApp(emu.client_id, emu.client_secret, emu.redirect_uri, base_url=url)
        # The refresh's answer trickles in over half a second: every job's first call wants a
        # token while it is in flight.
        emu.faults.slow_body_seconds = 0.5
        emu.faults.script(["slow"], path_prefix="/o/token/")
        # slice_pages=1: many short jobs, both resources' at once from the start.
        quota = quota_factory()
        async with app, oauth_worker(registry.schema, quota, app, slice_pages=1) as asked:
            state = await wait_until_idle(registry.schema)
        assert state == {"doing": 0, "due": 0, "later": 0, "failed": 0}
        assert set(asked) == {url} and len(asked) > len(RESOURCES)  # one client per slice
        await assert_equal(registry, "clinic", emu)

    refreshes = [e for e in emu.requests if e.path == "/o/token/"]
    assert [(e.method, e.status) for e in refreshes] == [("POST", 200)]
    api = [e for e in emu.requests if e.path.startswith("/api/")]
    assert api and all(e.status == 200 for e in api)  # no request went out with a dead token
    assert max(e.time for e in refreshes) <= min(e.time for e in api)  # refreshed before use
    new = await registry.token_store("clinic").load()
    assert new is not None
    assert new.access_token != old.access_token and new.refresh_token != old.refresh_token
    live = emu.oauth.by_access[new.access_token]  # the token the emulator issued last
    assert live.refresh == new.refresh_token and not live.revoked
    assert new.expires_at > time.time() + 47 * 3600  # 48 hours on the emulator's clock
    assert emu.oauth.by_access[old.access_token].revoked  # the rotation killed the old one


async def test_a_dead_refresh_token_fails_its_jobs_without_wedging_the_queue(
    registry: PracticeRegistry, quota_factory: Callable[..., RedisQuota]
) -> None:
    emu = Emulator(seed=32, sizes={"appointments": 0, "patients": 300})
    async with emu.serve() as url:
        dead = Token(emu.access_token, "rt_revoked_by_the_user_0123", time.time() - 1)
        await registry.add("revoked", dead, base_url=url, resources=["patients"], auth="oauth")
        app = OAuthApp(emu.client_id, emu.client_secret, emu.redirect_uri, base_url=url)
        # The refused refresh's answer trickles in: meanwhile a sync of the resource is queued
        # again (as the periodic schedule or a slice's follow-up does), a twin under the same
        # queueing lock, and the failing job must not collide with it.
        emu.faults.slow_body_seconds = 1.5
        emu.faults.script(["slow"], path_prefix="/o/token/")

        async with app, oauth_worker(registry.schema, quota_factory(), app):
            deadline = time.monotonic() + 10
            while not any(e.path == "/o/token/" for e in emu.requests):  # the job is running
                assert time.monotonic() < deadline, "no refresh was tried"
                await asyncio.sleep(0.02)
            await queue_everything(config_for(registry.schema))
            assert await jobs_state(registry.schema) == {
                "doing": 1,
                "due": 1,
                "later": 0,
                "failed": 0,
            }
            state = await wait_until_idle(registry.schema, limit=15)
        # Each run failed (no retry cures a revoked grant soon) and no job hangs in "doing":
        # the next try waits its back-off.
        assert state == {"doing": 0, "due": 0, "later": 1, "failed": 2}
    assert [e.status for e in emu.requests if e.path == "/o/token/"] == [400, 400]
    assert not [e for e in emu.requests if e.path.startswith("/api/")]
    assert await registry.token_store("revoked").load() == dead
