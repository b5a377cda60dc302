"""Building a client and a `with_options` view: the eager resources of 0.x against lazy ones.

Run: `python benchmarks/client_options.py` (from the repository root). Every variant (old and
new of each case) runs once per round, interleaved (`_bench.interleave`, the order rotated
each round). Prints a table of each variant's best and median time per call and the ratio
old / new by both, with the machine's load, then rewrites its own section of
`benchmarks/RESULTS.md` (between the `client-options` markers).

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
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
for _path in (ROOT, ROOT / "benchmarks"):  # runnable as `python benchmarks/client_options.py`
    if str(_path) not in sys.path:
        sys.path.insert(0, str(_path))

import _bench  # noqa: E402

from drchrono_async import DrChronoClient  # noqa: E402
from drchrono_async._endpoints import ENDPOINTS  # noqa: E402
from drchrono_async.resources import ResourceContext, build_resources  # noqa: E402

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


def measure(rounds: int, number: int, clock: _bench.Clock) -> tuple[list[str], _bench.Samples]:
    """Each case's old and new, interleaved round by round; the cases' names, the samples."""
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
    timer = _bench.TIMERS[clock]
    variants: dict[str, Callable[[], float]] = {}
    for name, old, new, n in cases:
        variants[f"{name}, old"] = lambda old=old, n=n: _bench.timed(old, n, timer)
        variants[f"{name}, new"] = lambda new=new, n=n: _bench.timed(new, n, timer)
    samples = _bench.interleave(variants, rounds, warmup=1, clock=clock)

    async def close() -> None:
        for client in made:
            await client.aclose()
        await shared.aclose()

    asyncio.run(close())
    return [c[0] for c in cases], samples


def table(names: list[str], samples: _bench.Samples) -> str:
    lines = [
        "| what | old, eager: best / median (us) | new, lazy: best / median (us) "
        "| old / new (best) | old / new (median) |",
        "|---|---:|---:|---:|---:|",
    ]
    for name in names:
        old, new = f"{name}, old", f"{name}, new"
        lines.append(
            f"| {name} | {samples.best(old) * 1e6:.1f} / {samples.median(old) * 1e6:.1f} "
            f"| {samples.best(new) * 1e6:.1f} / {samples.median(new) * 1e6:.1f} "
            f"| {samples.ratio(old, new, 'best'):.1f} | {samples.ratio(old, new, 'median'):.1f} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--number", type=int, default=400)
    parser.add_argument("--clock", choices=sorted(_bench.TIMERS), default="cpu")
    parser.add_argument("--no-write", action="store_true", help="do not update RESULTS.md")
    args = parser.parse_args(argv)
    machine = _bench.Machine.start(
        quota="none (no request is sent)", command=_bench.command("client_options.py", argv)
    )
    names, samples = measure(args.rounds, args.number, args.clock)
    machine.stop()
    result = table(names, samples)
    header = machine.header(samples.method())
    print(header + "\n")
    print(result)
    if args.no_write:
        return 0
    text = "\n".join(
        [
            "## Building a client and a `with_options` view",
            "",
            f"Eager resources (every one of the table's {len(ENDPOINTS)} built in `__init__` "
            "and again for each view, the old code kept in the benchmark) against resources "
            f"built on first access. A round is {args.number} calls of one variant "
            f"({max(1, args.number // 20)} for a client with its own pool), after a "
            "`gc.collect()`; the old and the new of every case are variants of the same "
            f"rounds. httpx {httpx.__version__}.",
            "",
            header,
            "",
            "A view is what a web handler makes per request (`with_options(max_wait=0)`); the "
            "second row also touches one resource, as the handler then does. A client with a "
            "pool of its own is dominated by httpx building the pool and its SSL context, so "
            "the resources are a smaller share of it. The old `with_options` is timed without "
            "its argument checks (the new one with them): that favours the old.",
            "",
            result,
        ]
    )
    _bench.write_section("client-options", text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
