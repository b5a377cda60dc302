"""Fixtures for the quota tests: a real Redis on loopback, never a mock."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator

import pytest
import redis.asyncio as aioredis

REDIS_URL = os.environ.get("DRCHRONO_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


@pytest.fixture
async def redis_client() -> AsyncIterator[aioredis.Redis]:
    """A client of the real Redis. Skips when it is absent, except under CI, where it fails."""
    client = aioredis.Redis.from_url(REDIS_URL)
    try:
        await client.ping()
    except (OSError, aioredis.ConnectionError) as exc:
        await client.aclose()
        reason = f"Redis is not reachable at {REDIS_URL}: {type(exc).__name__}"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"{reason} (CI=true: the Redis tests must run)")
        pytest.skip(reason)
    yield client
    await client.aclose()


@pytest.fixture
async def redis_key(redis_client: aioredis.Redis) -> AsyncIterator[str]:
    """A key prefix of this test's own, deleted afterwards."""
    prefix = f"drchrono-async-test:{uuid.uuid4().hex}"
    yield prefix
    keys = [k async for k in redis_client.scan_iter(match=f"{prefix}*")]
    if keys:
        await redis_client.delete(*keys)
