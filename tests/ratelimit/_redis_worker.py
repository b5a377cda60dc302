"""A worker process for the multi-process RedisQuota tests.

Usage: python _redis_worker.py URL KEY LIMIT WINDOW COROUTINES START_AT STOP_AT [OPTIONS]
(START_AT/STOP_AT are Redis TIME seconds; OPTIONS a JSON object: `priority`, `reserve`,
`reserve_release`, `burst`, `rate`, `every`: seconds between one coroutine's requests (default
none), and
`run_for`: stop this many seconds after starting, however late that is, not at STOP_AT).
Prints a JSON list: the Redis TIME of every permit granted to this process, or with OPTIONS,
a list of [asked, granted] Redis TIME pairs.
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
    options = json.loads(argv[7]) if len(argv) > 7 else None
    opts = options or {}
    background = opts.get("priority") == "background"
    every = float(opts.get("every", 0.0))
    client = aioredis.Redis.from_url(url)
    extra = {k: opts[k] for k in ("reserve", "reserve_release", "burst", "rate") if k in opts}
    quota = RedisQuota(client, key=key, limit=limit, window=window, **extra)
    sec, usec = await client.time()
    started = max(start_at, sec + usec / 1e6)
    await asyncio.sleep(started - (sec + usec / 1e6))
    if "run_for" in opts:
        stop_at = started + float(opts["run_for"])
    grants: list[float] = []
    pairs: list[tuple[float, float]] = []

    async def worker() -> None:
        while True:
            asked = quota._store_now()
            try:
                # Stop at STOP_AT rather than wait for a permit past it.
                d = await quota._acquire(max(0.0, stop_at - asked), background=background)
            except QuotaExhaustedError:
                return
            if d.now >= stop_at:
                return
            grants.append(d.now)  # the decision carries the Redis TIME of the grant
            pairs.append((asked, d.now))
            if every:
                await asyncio.sleep(every)

    await asyncio.gather(*(worker() for _ in range(coroutines)))
    await client.aclose()
    print(json.dumps(grants if options is None else pairs))


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1:]))
