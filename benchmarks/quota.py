"""24 hours of quota scheduling in virtual time: utilisation, 429s and the delay after resets.

Run: `python benchmarks/quota.py` (from the repository root). Each scenario drives 50
coroutines of continuous demand through `DrChronoClient` + `HourlyQuota` against the emulator
(which enforces 500 calls per epoch hour of its own clock and answers 429 with the wait in
the body), all on one `VirtualClock`, and reports:

- utilisation: calls the server counted in each full hour (ours and any outsider's) over the
  limit, while work remained (demand never stops, so that is every full hour);
- 429s the emulator answered;
- the delay from each reset (the server's :00) to the first call it counted after it.

Then rewrites its own section of `benchmarks/RESULTS.md` (between the `quota` markers).
"""

from __future__ import annotations

import argparse
import asyncio
import math
import platform
import statistics
import sys
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # runnable as `python benchmarks/quota.py` without installing
    sys.path.insert(0, str(ROOT))

from drchrono_async import DrChronoClient  # noqa: E402
from drchrono_async.ratelimit import HourlyQuota  # noqa: E402
from drchrono_async.testing import Emulator, VirtualClock  # noqa: E402

RESULTS = ROOT / "benchmarks" / "RESULTS.md"
START, END = "<!-- quota:start -->", "<!-- quota:end -->"
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


def write_results(results: list[Result], hours: int, command: str) -> None:
    section = "\n".join(
        [
            START,
            f"## Quota scheduling: {hours} simulated hours",
            "",
            f"50 coroutines of continuous demand through `DrChronoClient` and `HourlyQuota` "
            f"against the emulator (limit {LIMIT} per epoch hour of its own clock, 429 wait in "
            "the body only, latency 20-150 ms unless said), in virtual time. Utilisation counts "
            "the calls the server counted in each full hour (an outsider's included) over the "
            "limit; the delay runs from each reset (the server's :00) to the first call counted "
            f"after it. Python {platform.python_version()} on {platform.machine()}, "
            f"{time.strftime('%Y-%m-%d')}.",
            "",
            f"Command: `{command}`",
            "",
            table(results),
            END,
        ]
    )
    text = RESULTS.read_text() if RESULTS.exists() else "# Benchmark results\n"
    if START in text and END in text:
        head, rest = text.split(START, 1)
        _, tail = rest.split(END, 1)
        text = head + section + tail
    else:
        text = text.rstrip("\n") + "\n\n" + section + "\n"
    RESULTS.write_text(text)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hours", type=int, default=24)
    parser.add_argument("--no-write", action="store_true", help="print only")
    args = parser.parse_args()
    results = []
    for sc in SCENARIOS:
        r = asyncio.run(run(sc, args.hours))
        print(f"{sc.name}: done in {r.wall:.1f} s", file=sys.stderr)
        results.append(r)
    print(table(results))
    if not args.no_write:
        command = "python benchmarks/quota.py" + (
            f" --hours {args.hours}" if args.hours != 24 else ""
        )
        write_results(results, args.hours, command)


if __name__ == "__main__":
    main()
