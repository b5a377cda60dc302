"""24 hours of quota scheduling in virtual time: utilisation, 429s and the delay after resets.

Run: `python benchmarks/quota.py` (from the repository root). Each scenario drives 50
coroutines of continuous demand through `DrChronoClient` + `HourlyQuota` against the emulator
(which enforces 500 calls per epoch hour of its own clock and answers 429 with the wait in
the body), all on one `VirtualClock`, and reports:

- utilisation: calls the server counted in each full hour (ours and any outsider's) over the
  limit, while work remained (demand never stops, so that is every full hour);
- 429s the emulator answered;
- the delay from each reset (the server's :00) to the first call it counted after it.

Then the priority lanes: a background sync (20 coroutines of continuous demand on a
`priority="background"` view) beside interactive requests arriving at random, side by side
with the same load in one FIFO lane (everything interactive, as before lanes) and with the
sync alone. It reports the permit waits (p50/p99) of each lane and the utilisation.

Every figure is a count in virtual time, the same under any load: nothing here is timed, so
nothing is interleaved; the section states the quota settings and the machine's load all the
same. Then rewrites its own section of `benchmarks/RESULTS.md` (between the `quota` markers).
"""

from __future__ import annotations

import argparse
import asyncio
import math
import random
import statistics
import sys
import time
from collections import Counter
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
for _path in (ROOT, ROOT / "benchmarks"):  # runnable as `python benchmarks/quota.py`
    if str(_path) not in sys.path:
        sys.path.insert(0, str(_path))

import _bench  # noqa: E402

from drchrono_async import DrChronoClient  # noqa: E402
from drchrono_async.ratelimit import HourlyQuota, Priority  # noqa: E402
from drchrono_async.testing import Emulator, VirtualClock  # noqa: E402

HOUR = 3600.0
LIMIT = 500
T0 = 1_767_225_600.0 + 1234.5  # 2026-01-01, starting mid-hour
PATH = "/api/doctors"


class OffsetClock:
    """The server's clock: the local virtual clock plus a fixed offset."""

    def __init__(self, base: VirtualClock, offset: float) -> None:
        self.base, self.offset = base, offset

    def now(self) -> float:
        return self.base.now() + self.offset

    async def sleep(self, seconds: float) -> None:
        await self.base.sleep(seconds)


@dataclass
class Scenario:
    name: str
    offset: float = 0.0  # server clock - local clock, seconds
    latency: tuple[float, float] = (0.02, 0.15)  # the emulator's, per request, seconds
    outsider: int = 0  # calls an outside consumer spends 5 s into every hour


SCENARIOS = [
    Scenario("sole user, clocks agree"),
    Scenario("sole user, server clock +90 s", offset=90.0),
    Scenario("sole user, server clock -90 s", offset=-90.0),
    Scenario("sole user, latency 0.2-0.9 s", latency=(0.2, 0.9)),
    Scenario("outsider spends 100 each hour", outsider=100),
]


@dataclass
class Result:
    scenario: Scenario
    hours: int
    utilisation: float
    throttled: int
    delay_median: float
    delay_max: float
    served: int
    wall: float


async def run(sc: Scenario, hours: int) -> Result:
    clock = VirtualClock(start=T0)
    server_clock = OffsetClock(clock, sc.offset)
    emulator = Emulator(clock=server_clock, latency=sc.latency)
    quota = HourlyQuota(limit=LIMIT, clock=clock)
    first = math.floor(server_clock.now() / HOUR) + 1  # the first full hour (server clock)
    end_local = first * HOUR - sc.offset + hours * HOUR  # the end of the last full hour
    started = time.perf_counter()

    async def outsider() -> None:
        for h in range(hours):
            await clock.sleep(max(0.0, (first + h) * HOUR + 5 - server_clock.now()))
            emulator.spend(sc.outsider)

    async def worker(client: DrChronoClient) -> None:
        while clock.now() < end_local:
            await client.request("GET", PATH, params={"page_size": 1})

    async with emulator.client(quota=quota, clock=clock, max_concurrency=50) as client:
        jobs = [worker(client) for _ in range(50)]
        if sc.outsider:
            jobs.append(outsider())
        await asyncio.gather(*jobs)

    full = range(first, first + hours)
    ours = Counter(
        math.floor(e.time / HOUR) for e in emulator.requests if e.status not in (None, 429)
    )
    firsts: dict[int, float] = {}
    for e in emulator.requests:
        w = math.floor(e.time / HOUR)
        if e.status not in (None, 429) and w not in firsts:
            firsts[w] = e.time - w * HOUR
    delays = [firsts[w] for w in full]
    spent = sum(min(LIMIT, ours[w] + sc.outsider) for w in full)
    return Result(
        scenario=sc,
        hours=hours,
        utilisation=spent / (LIMIT * hours),
        throttled=emulator.count(status=429),
        delay_median=statistics.median(delays),
        delay_max=max(delays),
        served=sum(ours[w] for w in full),
        wall=time.perf_counter() - started,
    )


@dataclass
class Lanes:
    name: str
    lanes: bool  # False: the interactive requests go in the background lane's FIFO queue too
    interactive_per_hour: float  # mean arrivals (Poisson)
    background: int = 20  # coroutines of continuous sync demand


LANES = [
    Lanes("sync + 30 interactive/h, lanes (reserve 10%)", lanes=True, interactive_per_hour=30),
    Lanes("sync + 30 interactive/h, one FIFO lane", lanes=False, interactive_per_hour=30),
    Lanes("sync + 120 interactive/h, lanes (reserve 10%)", lanes=True, interactive_per_hour=120),
    Lanes("sync + 120 interactive/h, one FIFO lane", lanes=False, interactive_per_hour=120),
    Lanes("sync alone, lanes (reserve 10%)", lanes=True, interactive_per_hour=0),
]


# Who is asking, whatever lane it is sent in: "interactive" (a person) or "background" (sync).
ROLE: ContextVar[str] = ContextVar("role", default="background")


class TimedQuota(HourlyQuota):
    """`HourlyQuota` that records how long each permit took, per role of the request."""

    def __init__(self, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.waits: dict[str, list[float]] = {"interactive": [], "background": []}

    async def acquire(
        self, *, max_wait: float | None = None, priority: object = Priority.INTERACTIVE
    ) -> None:
        asked = self.clock.now()
        await super().acquire(max_wait=max_wait, priority=priority)  # type: ignore[arg-type]
        self.waits[ROLE.get()].append(self.clock.now() - asked)


@dataclass
class LanesResult:
    scenario: Lanes
    hours: int
    utilisation: float
    throttled: int
    interactive: list[float]  # permit waits, seconds (requests sent as interactive)
    background: list[float]
    wall: float


def pct(values: list[float], q: float) -> float:
    if not values:
        return math.nan
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, math.ceil(q * len(ordered)) - 1)]


async def run_lanes(sc: Lanes, hours: int) -> LanesResult:
    clock = VirtualClock(start=T0)
    emulator = Emulator(clock=clock, latency=(0.02, 0.15))
    quota = TimedQuota(limit=LIMIT, clock=clock)
    first = math.floor(clock.now() / HOUR) + 1
    end = (first + hours) * HOUR
    rng = random.Random(20260101)
    started = time.perf_counter()
    # One FIFO lane: the interactive requests queue behind the sync like any other.
    interactive_lane = Priority.INTERACTIVE if sc.lanes else Priority.BACKGROUND

    async with emulator.client(quota=quota, clock=clock, max_concurrency=50) as client:
        sync = client.with_options(priority="background")
        web = client.with_options(priority=interactive_lane)

        async def sync_worker() -> None:
            while clock.now() < end:
                await sync.request("GET", PATH, params={"page_size": 1})

        async def one_interactive() -> None:
            ROLE.set("interactive")  # this task's own context
            await web.request("GET", PATH, params={"page_size": 1})

        async def arrivals() -> None:
            asks = []
            while sc.interactive_per_hour and clock.now() < end:
                await clock.sleep(rng.expovariate(sc.interactive_per_hour / HOUR))
                if clock.now() >= first * HOUR and clock.now() < end:
                    asks.append(asyncio.create_task(one_interactive()))
            await asyncio.gather(*asks)

        await asyncio.gather(arrivals(), *(sync_worker() for _ in range(sc.background)))

    full = range(first, first + hours)
    served = Counter(
        math.floor(e.time / HOUR) for e in emulator.requests if e.status not in (None, 429)
    )
    return LanesResult(
        scenario=sc,
        hours=hours,
        utilisation=sum(min(LIMIT, served[w]) for w in full) / (LIMIT * hours),
        throttled=emulator.count(status=429),
        interactive=quota.waits["interactive"],
        background=quota.waits["background"],
        wall=time.perf_counter() - started,
    )


def lanes_table(results: list[LanesResult]) -> str:
    lines = [
        "| scenario | interactive requests | interactive wait p50 / p99 | "
        "background wait p50 / p99 | utilisation | 429s | wall s |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        inter = (
            f"{pct(r.interactive, 0.5):.2f} s / {pct(r.interactive, 0.99):.2f} s"
            if r.interactive
            else "-"
        )
        lines.append(
            f"| {r.scenario.name} | {len(r.interactive)} | {inter} | "
            f"{pct(r.background, 0.5):.2f} s / {pct(r.background, 0.99):.2f} s | "
            f"{r.utilisation:.2%} | {r.throttled} | {r.wall:.1f} |"
        )
    lines.append("")
    by_name = {r.scenario.name: r for r in results}
    for r in results:
        if not r.scenario.lanes or not r.interactive:
            continue
        fifo = by_name.get(r.scenario.name.replace("lanes (reserve 10%)", "one FIFO lane"))
        if fifo is None or not fifo.interactive:
            continue
        lines.append(
            f"- {r.scenario.name}, interactive wait against one FIFO lane: p50 "
            f"{ratio(pct(r.interactive, 0.5), pct(fifo.interactive, 0.5))}, p99 "
            f"{ratio(pct(r.interactive, 0.99), pct(fifo.interactive, 0.99))}"
        )
    return "\n".join(lines)


def ratio(a: float, b: float) -> str:
    return f"{a / b:.3g}x ({a:.2f} s vs {b:.2f} s)" if b > 0 else "n/a"


def table(results: list[Result]) -> str:
    lines = [
        "| scenario | utilisation | 429s | first call after reset: median / max | "
        "our calls | wall s |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        lines.append(
            f"| {r.scenario.name} | {r.utilisation:.2%} | {r.throttled} | "
            f"{r.delay_median:.3f} s / {r.delay_max:.3f} s | {r.served} | {r.wall:.1f} |"
        )
    return "\n".join(lines)


QUOTA = (
    f"the client's `HourlyQuota(limit={LIMIT})` with its defaults, burst 10 and rate 10 a "
    "second, reserve 10% released in each hour's last minute; the emulator's own quota is "
    f"{LIMIT} per epoch hour of its clock"
)
METHOD = (
    "Method: every figure but wall s is a count in virtual time (`VirtualClock`): the same on "
    "any machine and under any load, so there are no variants to interleave and no best or "
    "median to take; each scenario runs once. Wall s is how long this machine took to "
    "simulate it, under the load above: not a result."
)


def section(
    results: list[Result], lanes: list[LanesResult], hours: int, machine: _bench.Machine
) -> str:
    return "\n".join(
        [
            f"## Quota scheduling: {hours} simulated hours",
            "",
            f"50 coroutines of continuous demand through `DrChronoClient` and `HourlyQuota` "
            f"against the emulator (limit {LIMIT} per epoch hour of its own clock, 429 wait in "
            "the body only, latency 20-150 ms unless said), in virtual time. Utilisation counts "
            "the calls the server counted in each full hour (an outsider's included) over the "
            "limit; the delay runs from each reset (the server's :00) to the first call counted "
            "after it.",
            "",
            machine.header(METHOD),
            "",
            table(results),
            "",
            "### Priority lanes: a background sync beside interactive requests",
            "",
            '20 coroutines of continuous sync demand on a `priority="background"` view, and '
            "interactive requests arriving at random (Poisson, the rate said) on the same "
            "client and `HourlyQuota(limit=500)` (reserve 10%, released in each hour's last "
            "minute), against the emulator in virtual time. Waits are the time each request "
            "waited for its permit. The FIFO rows send the same interactive requests in the "
            "background lane, as one queue without lanes would serve them.",
            "",
            lanes_table(lanes),
        ]
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hours", type=int, default=24)
    parser.add_argument("--no-write", action="store_true", help="print only")
    args = parser.parse_args(argv)
    machine = _bench.Machine.start(quota=QUOTA, command=_bench.command("quota.py", argv))
    results = []
    for sc in SCENARIOS:
        r = asyncio.run(run(sc, args.hours))
        print(f"{sc.name}: done in {r.wall:.1f} s", file=sys.stderr)
        results.append(r)
    lanes = []
    for ls in LANES:
        lr = asyncio.run(run_lanes(ls, args.hours))
        print(f"{ls.name}: done in {lr.wall:.1f} s", file=sys.stderr)
        lanes.append(lr)
    machine.stop()
    text = section(results, lanes, args.hours, machine)
    print(text)
    if not args.no_write:
        _bench.write_section("quota", text)


if __name__ == "__main__":
    main()
