"""A worker process for the multi-process RedisQuota tests.

Usage: python _redis_worker.py URL KEY LIMIT WINDOW COROUTINES START_AT STOP_AT
(START_AT/STOP_AT are Redis TIME seconds). Prints a JSON list: the Redis TIME of every permit
granted to this process.
"""

from __future__ import annotations

import asyncio
import json
import sys

import redis.asyncio as aioredis

from drchrono_async.errors import QuotaExhaustedError
from drchrono_async.ratelimit import RedisQuota


async def main(argv: list[str]) -> None:
    url, key = argv[0], argv[1]
    limit, window, coroutines = int(argv[2]), float(argv[3]), int(argv[4])
    start_at, stop_at = float(argv[5]), float(argv[6])
    client = aioredis.Redis.from_url(url)
    quota = RedisQuota(client, key=key, limit=limit, window=window)
    sec, usec = await client.time()
    await asyncio.sleep(max(0.0, start_at - (sec + usec / 1e6)))
    grants: list[float] = []

    async def worker() -> None:
        while True:
            try:
                # Stop at STOP_AT rather than wait for a permit past it.
                d = await quota._acquire(max(0.0, stop_at - quota._store_now()))
            except QuotaExhaustedError:
                return
            if d.now >= stop_at:
                return
            grants.append(d.now)  # the decision carries the Redis TIME of the grant

    await asyncio.gather(*(worker() for _ in range(coroutines)))
    await client.aclose()
    print(json.dumps(grants))


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1:]))
