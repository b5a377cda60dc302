"""Two processes sharing one RedisTokenStore (the real Redis) make one refresh between them."""

from __future__ import annotations

import asyncio
import sys
import time
from pathlib import Path

import redis.asyncio as aioredis

from drchrono_async.oauth import RedisTokenStore, Token
from drchrono_async.testing import Emulator

from .conftest import REDIS_URL

WORKER = Path(__file__).with_name("_oauth_worker.py")


async def test_two_processes_make_exactly_one_refresh(
    redis_client: aioredis.Redis, redis_key: str
) -> None:
    emu = Emulator(seed=5, sizes={"appointments": 0})
    issued = emu.oauth.issue_token(emu.current_user_id)
    store = RedisTokenStore(redis_client, f"{redis_key}:token")
    # Valid on the server for 48 h, but inside the 10-minute margin by its own record: both
    # processes want to refresh at their first request.
    await store.save(Token(issued.access, issued.refresh, expires_at=time.time() + 60))
    async with emu.serve() as base_url:
        args = [base_url, REDIS_URL, redis_key, emu.client_id, emu.client_secret, emu.redirect_uri]
        root = Path(__file__).parents[2]
        procs = [
            await asyncio.create_subprocess_exec(
                sys.executable, str(WORKER), *args, stdout=asyncio.subprocess.PIPE, cwd=root
            )
            for _ in range(2)
        ]
        async with asyncio.timeout(60):
            for _ in procs:
                await redis_client.blpop([f"{redis_key}:ready"], timeout=60)
            await redis_client.rpush(f"{redis_key}:go", 1, 1)
            outputs = [(await p.communicate())[0].decode().split() for p in procs]
    assert [p.returncode for p in procs] == [0, 0]
    refreshes = [e for e in emu.requests if e.path == "/o/token/"]
    assert len(refreshes) == 1
    stored = await store.load()
    assert stored is not None and stored.refresh_token in emu.oauth.by_refresh
    # Both processes ended on the one new token; the old one was never used after the refresh.
    assert {out[-1] for out in outputs} == {stored.access_token}
    assert not any(e.status == 401 for e in emu.requests)
