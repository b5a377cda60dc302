"""Deliveries per second through `WebhookReceiver`, next to a bare ASGI app that reads the body.

Run: `python benchmarks/webhooks.py` (from the repository root). Every variant is called as
an ASGI server calls it (scope, receive, send), in process, one delivery after another, with
the same realistic APPOINTMENT_MODIFY body (an appointment with every documented field,
from benchmarks/decode.py). Rounds of the variants are interleaved; the table gives medians.

- bare ASGI: reads the body and answers 200 (the floor of any receiver).
- bare ASGI + orjson.loads: also decodes the body (what any receiver must do).
- parse_delivery: the checks and the typed record alone, no ASGI.
- WebhookReceiver, new ids: signature, body, parse, `MemoryDedupe` claim/complete, a no-op
  async handler, the answer. Each delivery has its own id (the common case).
- WebhookReceiver, duplicate id: the same delivery again (answered without the handler).

Then, with `--postgres DSN` (default: the local test database), the receiver as a sync
database behind it sees it: 50 concurrent senders, each delivery applied to a `PostgresStore`
(`apply_event`) with `StoreDedupe` on the same store, over a loopback ASGI call. Side by
side: a pool of one connection (every delivery queues behind the one before, as a store
with a single connection did) and the default pool of 4; each once plainly and once while
another session runs one slow query (`pg_sleep`) on a pooled connection, which a single
connection lets stall every delivery.

Then rewrites its own sections of `benchmarks/RESULTS.md` (between the `webhooks` markers).
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import os
import platform
import random
import re
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
HERE = ROOT / "benchmarks"
for path in (ROOT, HERE):  # runnable as `python benchmarks/webhooks.py` without installing
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))

import orjson  # noqa: E402
from decode import appointment  # noqa: E402

from drchrono_async.webhooks import (  # noqa: E402
    MemoryDedupe,
    WebhookEvent,
    WebhookReceiver,
    parse_delivery,
)

RESULTS = ROOT / "benchmarks" / "RESULTS.md"
START, END = "<!-- webhooks:start -->", "<!-- webhooks:end -->"
PG_START, PG_END = "<!-- webhooks-postgres:start -->", "<!-- webhooks-postgres:end -->"
PG_DSN = "postgresql://postgres@127.0.0.1:5432/test"
SECRET = "8f2b6c0e4d1a9f3b7c5e2d0a8b6f4c1e3d5a7b9c"  # 40 hex digits, as the reference suggests

App = Callable[[dict[str, Any], Any, Any], Awaitable[None]]

BODY = orjson.dumps(
    {
        "receiver": {"id": 311, "url": "https://example.test/drchrono/webhook/"},
        "object": appointment(7, random.Random(7)),
    }
)


def headers(delivery: str) -> list[tuple[bytes, bytes]]:
    return [
        (b"host", b"example.test"),
        (b"user-agent", b"python-requests/2.31.0"),
        (b"content-type", b"application/json"),
        (b"content-length", str(len(BODY)).encode()),
        (b"x-drchrono-event", b"APPOINTMENT_MODIFY"),
        (b"x-drchrono-signature", SECRET.encode()),
        (b"x-drchrono-delivery", delivery.encode()),
    ]


def scope(delivery: str) -> dict[str, Any]:
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "https",
        "path": "/",
        "query_string": b"",
        "headers": headers(delivery),
    }


MESSAGE = {"type": "http.request", "body": BODY, "more_body": False}


async def receive() -> dict[str, Any]:
    return MESSAGE


statuses: list[int] = []


async def send(message: dict[str, Any]) -> None:
    if message["type"] == "http.response.start":
        statuses.append(message["status"])


async def bare(scope: dict[str, Any], receive: Any, send: Any) -> None:
    chunks = []
    while True:
        message = await receive()
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"{}"})


async def bare_decode(scope: dict[str, Any], receive: Any, send: Any) -> None:
    message = await receive()
    orjson.loads(message["body"])
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"{}"})


async def noop(event: WebhookEvent) -> None:
    return None


async def run_asgi(app: App, scopes: list[dict[str, Any]]) -> float:
    statuses.clear()
    started = time.perf_counter()
    for s in scopes:
        await app(s, receive, send)
    took = time.perf_counter() - started
    assert statuses == [200] * len(scopes), set(statuses)
    return took


async def run_parse(n: int) -> float:
    pairs = [(k.decode(), v.decode()) for k, v in headers("p-1")]
    started = time.perf_counter()
    for _ in range(n):
        parse_delivery(pairs, BODY, SECRET)
    return time.perf_counter() - started


async def measure(rounds: int, number: int) -> dict[str, list[float]]:
    times: dict[str, list[float]] = {}
    receiver = WebhookReceiver(SECRET, noop, dedupe=MemoryDedupe(max_entries=10_000_000))
    # One handled delivery to repeat for the duplicate row.
    await run_asgi(receiver, [scope("dup")])
    counter = 0
    for r in range(rounds + 1):  # round 0 warms up and is dropped
        ids = [f"{counter + i}" for i in range(number)]
        counter += number
        fresh = [scope(i) for i in ids]
        same = [scope("dup") for _ in range(number)]
        plain = [scope("x") for _ in range(number)]
        results = {
            "bare ASGI (reads the body)": await run_asgi(bare, plain),
            "bare ASGI + orjson.loads": await run_asgi(bare_decode, plain),
            "parse_delivery (no ASGI)": await run_parse(number),
            "WebhookReceiver, new ids": await run_asgi(receiver, fresh),
            "WebhookReceiver, duplicate id": await run_asgi(receiver, same),
        }
        if r:
            for name, took in results.items():
                times.setdefault(name, []).append(took / number)
    return times


def table(times: dict[str, list[float]]) -> tuple[str, float, float]:
    medians = {name: statistics.median(ts) for name, ts in times.items()}
    floor = medians["bare ASGI (reads the body)"]
    decoded = medians["bare ASGI + orjson.loads"]
    lines = [
        "| variant | deliveries/s | µs per delivery | x bare ASGI | x bare + orjson.loads |",
        "|---|---:|---:|---:|---:|",
    ]
    for name, per in medians.items():
        lines.append(
            f"| {name} | {1 / per:,.0f} | {per * 1e6:.1f} | {per / floor:.1f} "
            f"| {per / decoded:.1f} |"
        )
    receiver = medians["WebhookReceiver, new ids"]
    return "\n".join(lines), (receiver - floor) * 1e6, receiver / floor


def write_results(text: str, start: str = START, end: str = END) -> None:
    section = f"{start}\n{text}\n{end}"
    old = RESULTS.read_text(encoding="utf-8")
    if start in old and end in old:
        new = re.sub(re.escape(start) + r".*?" + re.escape(end), lambda _: section, old, flags=re.S)
    else:
        new = old.rstrip("\n") + "\n\n" + section + "\n"
    RESULTS.write_text(new, encoding="utf-8")


async def postgres_run(
    dsn: str, pool_size: int, deliveries: int, senders: int, slow: float
) -> tuple[float, list[float]]:
    """Deliveries per second and each delivery's latency (s), into a fresh schema."""
    import uuid

    import httpx
    import psycopg

    from drchrono_async.sync import PostgresStore, StoreDedupe, apply_event

    schema = f"bench_{uuid.uuid4().hex[:12]}"
    store = PostgresStore(dsn, schema=schema, pool_size=pool_size)
    try:
        async with store:

            async def handler(event: WebhookEvent) -> None:
                await apply_event(store, event)

            receiver = WebhookReceiver(SECRET, handler, dedupe=StoreDedupe(store))
            transport = httpx.ASGITransport(receiver)
            obj = orjson.loads(BODY)["object"]
            ids = [f"{i}" for i in range(deliveries)]
            latencies: list[float] = []
            queue = list(reversed(ids))

            async def sender(http: httpx.AsyncClient) -> None:
                while queue:
                    n = queue.pop()
                    # A MODIFY of one of 200 appointments: rows are updated as often as made.
                    one = {**obj, "id": str(int(n) % 200)}
                    body = orjson.dumps({"receiver": {}, "object": one})
                    hdrs = {k.decode(): v.decode() for k, v in headers(f"pg-{n}")}
                    hdrs.pop("content-length")
                    began = time.perf_counter()
                    answer = await http.post("/", headers=hdrs, content=body)
                    latencies.append(time.perf_counter() - began)
                    assert answer.status_code == 200, answer.status_code

            async def stall() -> None:  # one slow query on a pooled connection
                await asyncio.sleep(0.05)
                await store.run(
                    "a slow report", "", lambda c: c.execute("SELECT pg_sleep(%s)", (slow,))
                )

            async with httpx.AsyncClient(transport=transport, base_url="http://hook") as http:
                await sender_once(http, obj)  # the table exists before the clock starts
                started = time.perf_counter()
                tasks = [asyncio.create_task(sender(http)) for _ in range(senders)]
                if slow:
                    tasks.append(asyncio.create_task(stall()))
                await asyncio.gather(*tasks)
                took = time.perf_counter() - started
            return deliveries / took, latencies
    finally:
        async with await psycopg.AsyncConnection.connect(dsn, autocommit=True) as conn:
            await conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


async def sender_once(http: Any, obj: dict[str, Any]) -> None:
    hdrs = {k.decode(): v.decode() for k, v in headers("pg-warm")}
    hdrs.pop("content-length")
    await http.post("/", headers=hdrs, content=orjson.dumps({"receiver": {}, "object": obj}))


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def postgres_table(dsn: str, deliveries: int, senders: int, slow: float) -> str:
    rows = [
        "| store connections | one slow query meanwhile | deliveries/s | p50 ms | p99 ms "
        "| max ms | x pool of 1 (deliveries/s) |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    base: dict[float, float] = {}
    for stall in (0.0, slow):
        for size in (1, 4):
            rate, lat = asyncio.run(postgres_run(dsn, size, deliveries, senders, stall))
            base.setdefault(stall, rate)
            label = f"pg_sleep({stall:g})" if stall else "no"
            rows.append(
                f"| pool of {size} | {label} | {rate:,.0f} "
                f"| {pct(lat, 0.5) * 1e3:.1f} | {pct(lat, 0.99) * 1e3:.1f} "
                f"| {max(lat) * 1e3:.1f} | {rate / base[stall]:.2f} |"
            )
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--number", type=int, default=2000, help="deliveries per round")
    parser.add_argument("--no-write", action="store_true", help="do not update RESULTS.md")
    parser.add_argument(
        "--postgres",
        default=PG_DSN,
        metavar="DSN",
        help="the database of the sync-store run ('' to skip it)",
    )
    parser.add_argument("--deliveries", type=int, default=2000)
    parser.add_argument("--senders", type=int, default=50)
    parser.add_argument("--slow", type=float, default=1.0, help="seconds of the slow query")
    args = parser.parse_args(argv)
    if args.postgres:
        pg = postgres_table(args.postgres, args.deliveries, args.senders, args.slow)
        print(pg)
        if not args.no_write:
            write_results(
                "## Webhook deliveries into a PostgreSQL sync store\n\n"
                f"{args.senders} concurrent senders post {args.deliveries} APPOINTMENT_MODIFY "
                "deliveries (200 appointments, so most are updates) to `WebhookReceiver` "
                "over an in-process ASGI transport; the handler is `apply_event` into a "
                "`PostgresStore` on loopback, the dedupe `StoreDedupe` on the same store "
                "(a claim, the write, the completion). The pool of one connection is how the "
                "store worked before (one connection behind one lock); the slow query is a "
                "report another coroutine runs through the same store meanwhile. "
                "The senders are httpx clients in the same process, whose own CPU (about 0.6 "
                "ms a request) bounds the rate on 2 cores: read the p99 and the ratios. "
                f"Python {platform.python_version()}, {os.cpu_count()} CPUs, "
                f"{dt.date.today().isoformat()}. Quota: none (`apply_event` without a client "
                "sends no request).\n\n"
                f"Command: `python benchmarks/webhooks.py --postgres DSN`\n\n{pg}\n",
                PG_START,
                PG_END,
            )

    load = os.getloadavg()[0]
    times = asyncio.run(measure(args.rounds, args.number))
    result, overhead_us, ratio = table(times)
    summary = (
        f"The receiver's own cost per delivery: {overhead_us:.1f} µs over the bare app "
        f"({ratio:.1f}x)."
    )
    print(f"APPOINTMENT_MODIFY delivery, body {len(BODY)} bytes\n")
    print(result)
    print(f"\n{summary}")
    command = "python benchmarks/webhooks.py" + "".join(
        f" {a}" for a in (argv if argv is not None else sys.argv[1:])
    )
    section = (
        "## Webhook deliveries through WebhookReceiver\n\n"
        f"One APPOINTMENT_MODIFY delivery ({len(BODY)} bytes: an appointment with every "
        "documented field) called as an ASGI server calls the app, in process, one after "
        "another; a no-op async handler; `MemoryDedupe`. Median of "
        f"{args.rounds} interleaved rounds of {args.number} deliveries. "
        f"Python {platform.python_version()} on {platform.machine()}, {os.cpu_count()} CPUs "
        f"(load average {load:.1f} at the start: a shared machine, so absolute times vary "
        f"between runs; the rows of one run are comparable), {dt.date.today().isoformat()}. "
        "Quota: none (no request is sent).\n\n"
        f"Command: `{command}`\n\n{result}\n\n{summary} "
        "Most of it is `parse_delivery`: decoding the body and reading the object into a "
        "typed `Appointment`; the rest is the ASGI plumbing, the dedupe and the answer. A "
        "duplicate is parsed too before the dedupe answers it. A real server (uvicorn, "
        "hypercorn) adds its own HTTP parsing on top of every row."
    )
    if not args.no_write:
        write_results(section)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
