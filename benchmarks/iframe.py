"""The cost of verifying an iframe request, against PyJWT's own decode of the same token.

Run: `python benchmarks/iframe.py` (from the repository root, with the `jwt` extra; the Redis
row needs a Redis at DRCHRONO_TEST_REDIS_URL or 127.0.0.1:6379 and is left out without one).
Prints each variant's best and median time per call and their ratios to `jwt.decode` alone,
by CPU time (what the work costs, whatever else the machine runs) and by the wall clock (the
Redis row's round trip is wall time), with the machine's load, then rewrites its own section
of `benchmarks/RESULTS.md` (between the `iframe` markers).

Every variant verifies distinct tokens (patient page, 5 claims), so a replay cache never sees
a key twice; the variants run interleaved round by round (`_bench.ainterleave`, the order
rotated each round).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parents[1]
for _path in (ROOT, ROOT / "benchmarks"):  # runnable as `python benchmarks/iframe.py`
    if str(_path) not in sys.path:
        sys.path.insert(0, str(_path))

import _bench  # noqa: E402
import jwt  # noqa: E402

from drchrono_async.iframe import (  # noqa: E402
    MemoryReplayCache,
    RedisReplayCache,
    averify_iframe_request,
    verify_iframe_request,
)

BASELINE = "jwt.decode alone (HS256 pinned)"
REDIS_ROW = "averify_iframe_request + RedisReplayCache (loopback)"
SECRET = "benchmark-client-secret-" + "x" * 40
NOW = 1_767_225_600
REDIS_URL = os.environ.get("DRCHRONO_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


def queries(n: int, offset: int) -> list[dict[str, str]]:
    out = []
    for i in range(n):
        claims = {"user_id": 11, "doctor_id": 22, "patient_id": 1000 + offset + i, "iat": NOW}
        q = {k: str(v) for k, v in claims.items()}
        q["jwt"] = jwt.encode(claims, SECRET, algorithm="HS256")
        out.append(q)
    return out


# Wall-clock seconds per call of each round, by variant: the Redis row's round trip is wall
# time, which CPU time leaves out; a second table gives every row by the wall clock.
WALL: dict[str, list[float]] = {}


def per_call(label: str, fn: Callable[[Any], Any], batch: list[Any]) -> float:
    """CPU seconds per call (the wall-clock ones go to WALL)."""
    gc.collect()
    wall, cpu = time.perf_counter(), time.process_time()
    for q in batch:
        fn(q)
    WALL.setdefault(label, []).append((time.perf_counter() - wall) / len(batch))
    return (time.process_time() - cpu) / len(batch)


async def aper_call(
    label: str, fn: Callable[[dict[str, str]], Any], batch: list[dict[str, str]]
) -> float:
    gc.collect()
    wall, cpu = time.perf_counter(), time.process_time()
    for q in batch:
        await fn(q)
    WALL.setdefault(label, []).append((time.perf_counter() - wall) / len(batch))
    return (time.process_time() - cpu) / len(batch)


async def measure(rounds: int, number: int) -> tuple[_bench.Samples, bool]:
    options: Any = {"verify_iat": False}
    cache = MemoryReplayCache(max_entries=(rounds + 1) * number * 5 + 1)
    # (label, the call, whether it takes the query as a string)
    sync_variants: list[tuple[str, Callable[[Any], Any], bool]] = [
        (
            BASELINE,
            lambda q: jwt.decode(q["jwt"], SECRET, algorithms=["HS256"], options=options),
            False,
        ),
        ("verify_iframe_request, dict", lambda q: verify_iframe_request(q, SECRET, now=NOW), False),
        (
            "verify_iframe_request, query string",
            lambda q: verify_iframe_request(q, SECRET, now=NOW),
            True,
        ),
        (
            "verify_iframe_request + MemoryReplayCache",
            lambda q: verify_iframe_request(q, SECRET, now=NOW, replay_cache=cache),
            False,
        ),
    ]
    redis_cache = None
    client = None
    prefix = f"drchrono-async-bench:{uuid.uuid4().hex}:"
    try:
        import redis.asyncio as aioredis

        client = aioredis.Redis.from_url(REDIS_URL)
        await client.ping()
        redis_cache = RedisReplayCache(client, prefix=prefix)
    except Exception:  # no Redis: the row is left out
        client = None
    offset = 0

    def fresh() -> list[dict[str, str]]:
        # Distinct tokens each round, made before the clock starts.
        nonlocal offset
        batch = queries(number, offset)
        offset += number
        return batch

    def sync_sample(
        label: str, fn: Callable[[Any], Any], as_text: bool
    ) -> Callable[[], Awaitable[float]]:
        async def one() -> float:
            batch: list[Any] = fresh()
            if as_text:
                batch = [urlencode(q) for q in batch]
            return per_call(label, fn, batch)

        return one

    variants = {label: sync_sample(label, fn, as_text) for label, fn, as_text in sync_variants}
    if redis_cache is not None:
        rc = redis_cache

        async def averify(q: dict[str, str]) -> Any:
            return await averify_iframe_request(q, SECRET, now=NOW, replay_cache=rc)

        async def redis_sample() -> float:
            return await aper_call(REDIS_ROW, averify, fresh())

        variants[REDIS_ROW] = redis_sample
    try:
        samples = await _bench.ainterleave(variants, rounds, warmup=1, clock="cpu")
    finally:
        if client is not None:
            keys = [k async for k in client.scan_iter(match=f"{prefix}*")]
            if keys:
                await client.delete(*keys)
            await client.aclose()
    return samples, redis_cache is not None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=41)
    parser.add_argument("--number", type=int, default=200)
    parser.add_argument("--no-write", action="store_true", help="do not update RESULTS.md")
    args = parser.parse_args(argv)
    machine = _bench.Machine.start(
        quota="none (no request is sent)", command=_bench.command("iframe.py", argv)
    )
    samples, with_redis = asyncio.run(measure(args.rounds, args.number))
    machine.stop()
    result = samples.table(BASELINE, unit="us per call", scale=1e6, digits=1, vs="jwt.decode")
    # The same rounds by the wall clock (the warm-up round dropped, as from the CPU samples).
    wall = _bench.Samples(
        samples.names,
        samples.rounds,
        samples.warmup,
        samples.order,
        {name: WALL[name][samples.warmup :] for name in samples.names},
        samples.orders,
        clock="wall",
    )
    by_wall = wall.table(BASELINE, unit="us per call", scale=1e6, digits=1, vs="jwt.decode")
    header = machine.header(samples.method())
    print(header + "\n")
    print(result + "\n")
    print(by_wall)
    if args.no_write:
        return 0
    redis_note = "" if with_redis else " (no Redis was reachable: its row is missing)"
    text = "\n".join(
        [
            "## Verifying an iframe request",
            "",
            f"Distinct patient-page tokens (HS256, 5 claims), verified one after another; a "
            f"round is {args.number} calls of one variant{redis_note}. PyJWT {jwt.__version__}.",
            "",
            header,
            "",
            "The verifier's own work (parsing the query, comparing every claim, the iat window, "
            "the context) comes on top of PyJWT's decode; it is a few tens of microseconds per "
            "request, small next to the page load it guards. The Redis row is one loopback "
            "round trip more: its CPU time leaves out the wait for Redis, which the wall-clock "
            "table (the same rounds) counts.",
            "",
            "CPU time (`time.process_time`), each round after a `gc.collect()`:",
            "",
            result,
            "",
            "Wall-clock time (`time.perf_counter`), the same rounds:",
            "",
            by_wall,
        ]
    )
    _bench.write_section("iframe", text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
