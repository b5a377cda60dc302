"""One process of the shared-token test: waits for the go signal, then makes requests.

argv: base_url, redis_url, key prefix, client_id, client_secret, redirect_uri. Prints the
access tokens its requests used, one per line (the test compares them, then discards them).
"""

from __future__ import annotations

import asyncio
import sys

import redis.asyncio as aioredis

from drchrono_async import DrChronoClient
from drchrono_async.oauth import OAuthApp, RedisTokenStore


async def main() -> None:
    base_url, redis_url, prefix, client_id, secret, redirect = sys.argv[1:7]
    redis = aioredis.Redis.from_url(redis_url)
    app = OAuthApp(client_id, secret, redirect, base_url=base_url)
    store = RedisTokenStore(redis, f"{prefix}:token")
    await redis.rpush(f"{prefix}:ready", 1)
    await redis.blpop([f"{prefix}:go"], timeout=60)  # both processes start together
    client = DrChronoClient(oauth=app, token_store=store, base_url=base_url, quota=None)
    async with app, client:
        for _ in range(5):
            await client.users.current()
            print(await client.auth.token(), flush=True)  # type: ignore[attr-defined]
    await redis.aclose()


if __name__ == "__main__":
    asyncio.run(main())
