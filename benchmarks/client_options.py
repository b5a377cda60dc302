"""Building a client and a `with_options` view: the eager resources of 0.x against lazy ones.

Run: `python benchmarks/client_options.py` (from the repository root). Prints a table of
each variant's median time per call and the ratio old / new, then rewrites its own section
of `benchmarks/RESULTS.md` (between the `client-options` markers).

The old code path is kept here, side by side: a client that builds every resource of the
table in `__init__`, and a `with_options` that copies the client (its resources included)
and builds every resource again for the view. Both run against the same `DrChronoClient`,
so the difference measured is the resources alone. Nothing is sent: no network, no loop work
beyond constructing objects.
"""

from __future__ import annotations

import argparse
import asyncio
import copy
import datetime as dt
import os
import platform
import re
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # runnable as `python benchmarks/client_options.py`
    sys.path.insert(0, str(ROOT))

from drchrono_async import DrChronoClient  # noqa: E402
from drchrono_async._endpoints import ENDPOINTS  # noqa: E402
from drchrono_async.resources import ResourceContext, build_resources  # noqa: E402

RESULTS = ROOT / "benchmarks" / "RESULTS.md"
START, END = "<!-- client-options:start -->", "<!-- client-options:end -->"
BASE = "https://drchrono.test"


# -- the old, eager code path -----------------------------------------------------------------


def _eager(client: DrChronoClient) -> DrChronoClient:
    """What the old `__init__` did last: build every resource and set it on the instance."""
    resources = build_resources(
        ResourceContext(
            transport=client._transport, converter=client._converter, tz=client.timezone
        )
    )
    client.__dict__["_resources"] = resources
    for name, resource in resources.items():
        setattr(client, name, resource)
    return client


def old_client(**kwargs: Any) -> DrChronoClient:
    return _eager(DrChronoClient("tok", base_url=BASE, **kwargs))


def old_with_options(client: DrChronoClient, **options: Any) -> DrChronoClient:
    """The old `with_options` after its argument checks (the same as today's)."""
    view = copy.copy(client)
    view._owns_http = False
    view._view = True
    view._transport = client._transport.with_options(**options)
    return _eager(view)


# -- measuring --------------------------------------------------------------------------------


def _per_call(fn: Callable[[], object], number: int) -> float:
    started = time.perf_counter()
    for _ in range(number):
        fn()
    return (time.perf_counter() - started) / number


def measure(rounds: int, number: int) -> list[tuple[str, float, float]]:
    """(what, old seconds per call, new seconds per call), medians of interleaved rounds."""
    made: list[DrChronoClient] = []

    def own_pool(factory: Callable[[], DrChronoClient]) -> Callable[[], object]:
        return lambda: made.append(factory())

    shared = httpx.AsyncClient()
    old_parent = old_client(http_client=shared)
    new_parent = DrChronoClient("tok", base_url=BASE, http_client=shared)
    cases: list[tuple[str, Callable[[], object], Callable[[], object], int]] = [
        (
            "with_options(max_wait=0)",
            lambda: old_with_options(old_parent, max_wait=0.0),
            lambda: new_parent.with_options(max_wait=0),
            number,
        ),
        (
            "with_options(max_wait=0), then .patients",
            lambda: old_with_options(old_parent, max_wait=0.0).patients,
            lambda: new_parent.with_options(max_wait=0).patients,
            number,
        ),
        (
            "client on a caller's http_client",
            lambda: old_client(http_client=shared),
            lambda: DrChronoClient("tok", base_url=BASE, http_client=shared),
            number,
        ),
        # A pool of its own: httpx builds an SSL context per client, which dominates.
        (
            "client with its own pool",
            own_pool(old_client),
            own_pool(lambda: DrChronoClient("tok", base_url=BASE)),
            max(1, number // 20),
        ),
    ]
    samples: dict[str, tuple[list[float], list[float]]] = {c[0]: ([], []) for c in cases}
    for _ in range(rounds):
        for name, old, new, n in cases:  # interleaved: drift hits both alike
            samples[name][0].append(_per_call(old, n))
            samples[name][1].append(_per_call(new, n))

    async def close() -> None:
        for client in made:
            await client.aclose()
        await shared.aclose()

    asyncio.run(close())
    return [
        (name, statistics.median(old), statistics.median(new))
        for name, (old, new) in samples.items()
    ]


def table(rows: list[tuple[str, float, float]]) -> str:
    lines = [
        "| what | old, eager (us) | new, lazy (us) | old / new |",
        "|---|---:|---:|---:|",
    ]
    for name, old, new in rows:
        lines.append(f"| {name} | {old * 1e6:.1f} | {new * 1e6:.1f} | {old / new:.1f} |")
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
    rows = measure(args.rounds, args.number)
    result = table(rows)
    print(result)
    if args.no_write:
        return 0
    text = "\n".join(
        [
            "## Building a client and a `with_options` view",
            "",
            f"Eager resources (every one of the table's {len(ENDPOINTS)} built in `__init__` "
            "and again for each view, the old code kept in the benchmark) against resources "
            f"built on first access. Median of {args.rounds} interleaved rounds of "
            f"{args.number} calls ({max(1, args.number // 20)} for a client with its own pool). "
            f"httpx {httpx.__version__}, Python {platform.python_version()} on "
            f"{platform.machine()}, {os.cpu_count()} CPUs, load average {load:.1f} at the "
            f"start, {dt.date.today().isoformat()}. Quota: none (no request is sent).",
            "",
            "A view is what a web handler makes per request (`with_options(max_wait=0)`); the "
            "second row also touches one resource, as the handler then does. A client with a "
            "pool of its own is dominated by httpx building the pool and its SSL context, so "
            "the resources are a smaller share of it. The old `with_options` is timed without "
            "its argument checks (the new one with them): that favours the old.",
            "",
            f"Command: `python benchmarks/client_options.py --rounds {args.rounds} "
            f"--number {args.number}`",
            "",
            result,
        ]
    )
    write_results(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
