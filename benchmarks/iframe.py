"""The cost of verifying an iframe request, against PyJWT's own decode of the same token.

Run: `python benchmarks/iframe.py` (from the repository root, with the `jwt` extra; the Redis
row needs a Redis at DRCHRONO_TEST_REDIS_URL or 127.0.0.1:6379 and is left out without one).
Prints per-call medians and their ratio to `jwt.decode` alone, then rewrites its own section
of `benchmarks/RESULTS.md` (between the `iframe` markers).

Every variant verifies distinct tokens (patient page, 5 claims), so a replay cache never sees
a key twice; the variants run interleaved, round by round.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import os
import platform
import re
import statistics
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # runnable as `python benchmarks/iframe.py` without installing
    sys.path.insert(0, str(ROOT))

import jwt  # noqa: E402

from drchrono_async.iframe import (  # noqa: E402
    MemoryReplayCache,
    RedisReplayCache,
    averify_iframe_request,
    verify_iframe_request,
)

RESULTS = ROOT / "benchmarks" / "RESULTS.md"
START, END = "<!-- iframe:start -->", "<!-- iframe:end -->"
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


def per_call_us(fn: Callable[[Any], Any], batch: list[Any]) -> float:
    started = time.perf_counter()
    for q in batch:
        fn(q)
    return (time.perf_counter() - started) / len(batch) * 1e6


async def aper_call_us(fn: Callable[[dict[str, str]], Any], batch: list[dict[str, str]]) -> float:
    started = time.perf_counter()
    for q in batch:
        await fn(q)
    return (time.perf_counter() - started) / len(batch) * 1e6


async def measure(rounds: int, number: int) -> tuple[list[tuple[str, float]], bool]:
    options: Any = {"verify_iat": False}
    cache = MemoryReplayCache(max_entries=rounds * number + 1)
    # (label, the call, whether it takes the query as a string)
    sync_variants: list[tuple[str, Callable[[Any], Any], bool]] = [
        (
            "jwt.decode alone (HS256 pinned)",
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
    try:
        import redis.asyncio as aioredis

        client = aioredis.Redis.from_url(REDIS_URL)
        await client.ping()
        prefix = f"drchrono-async-bench:{uuid.uuid4().hex}:"
        redis_cache = RedisReplayCache(client, prefix=prefix)
    except Exception:  # no Redis: the row is left out
        client = None
    samples: dict[str, list[float]] = {label: [] for label, _, _ in sync_variants}
    redis_label = "averify_iframe_request + RedisReplayCache (loopback)"
    if redis_cache is not None:
        samples[redis_label] = []
    offset = 0
    for _ in range(rounds):
        for label, fn, as_text in sync_variants:
            batch: list[Any] = queries(number, offset)
            offset += number
            if as_text:
                batch = [urlencode(q) for q in batch]
            samples[label].append(per_call_us(fn, batch))
        if redis_cache is not None:
            batch = queries(number, offset)
            offset += number
            rc = redis_cache

            async def averify(q: dict[str, str], rc: RedisReplayCache = rc) -> Any:
                return await averify_iframe_request(q, SECRET, now=NOW, replay_cache=rc)

            samples[redis_label].append(await aper_call_us(averify, batch))
    if client is not None:
        keys = [k async for k in client.scan_iter(match="drchrono-async-bench:*")]
        if keys:
            await client.delete(*keys)
        await client.aclose()
    return [(label, statistics.median(v)) for label, v in samples.items()], redis_cache is not None


def table(rows: list[tuple[str, float]]) -> str:
    base = rows[0][1]
    lines = ["| variant | us per call | x jwt.decode |", "|---|---:|---:|"]
    lines += [f"| {label} | {us:.1f} | {us / base:.2f} |" for label, us in rows]
    return "\n".join(lines)


def write_results(text: str) -> None:
    section = f"{START}\n{text}\n{END}"
    old = RESULTS.read_text(encoding="utf-8") if RESULTS.exists() else "# Benchmark results\n"
    if START in old and END in old:
        new = re.sub(re.escape(START) + r".*?" + re.escape(END), lambda _: section, old, flags=re.S)
    else:
        new = old.rstrip("\n") + "\n\n" + section + "\n"
    RESULTS.write_text(new, encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--number", type=int, default=400)
    parser.add_argument("--no-write", action="store_true", help="do not update RESULTS.md")
    args = parser.parse_args(argv)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    rows, with_redis = asyncio.run(measure(args.rounds, args.number))
    result = table(rows)
    print(result)
    if args.no_write:
        return 0
    redis_note = "" if with_redis else " (no Redis was reachable: its row is missing)"
    text = "\n".join(
        [
            "## Verifying an iframe request",
            "",
            f"Distinct patient-page tokens (HS256, 5 claims), verified one after another; median "
            f"of {args.rounds} interleaved rounds of {args.number} calls{redis_note}. "
            f"PyJWT {jwt.__version__}, Python {platform.python_version()} on "
            f"{platform.machine()}, {os.cpu_count()} CPUs, load average {load:.1f} at the "
            f"start, {dt.date.today().isoformat()}. Quota: none (no request is sent).",
            "",
            "The verifier's own work (parsing the query, comparing every claim, the iat window, "
            "the context) comes on top of PyJWT's decode; it is a few tens of microseconds per "
            "request, small next to the page load it guards. The Redis row is one loopback "
            "round trip more.",
            "",
            f"Command: `python benchmarks/iframe.py --rounds {args.rounds} --number {args.number}`",
            "",
            result,
        ]
    )
    write_results(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
