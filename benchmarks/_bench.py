"""What every benchmark shares: variants interleaved round by round, and the run's conditions.

A shared machine drifts: another process starts, the CPU's clock changes, the page cache
fills. Variants measured one after another (all rounds of A, then all rounds of B) each see a
different machine, and their ratio moves with the drift. Interleaved, every round runs each
variant once, in an order rotated from round to round (each variant runs first equally
often), so a slow spell costs every variant alike; the best round and the median round of
each variant are reported, and ratios to a named baseline by both.

Use (a sync variant returns the sample it measured, in seconds; lower is better)::

    import _bench

    machine = _bench.Machine.start(quota="none (no request is sent)", command=_bench.command())
    cpu = _bench.TIMERS["cpu"]
    samples = _bench.interleave(
        {"json.loads": lambda: _bench.timed(lambda: json.loads(body), 4, cpu)},
        rounds=75,
        warmup=1,
        clock="cpu",
    )
    machine.stop()
    print(machine.header(samples.method()))
    print(samples.table("json.loads", unit="ms per page", scale=1e3))
    _bench.write_section("decode", text)  # between <!-- decode:start --> and <!-- decode:end -->

The API:

- `schedule(names, rounds, order="rotate", seed=0)`: the (round, name) pairs in the order they
  run; `order="shuffle"` shuffles each round with a seeded generator instead of rotating.
- `interleave(variants, rounds, warmup=0, order="rotate", seed=0, progress=None,
  clock="wall")` and `ainterleave(...)`
  (async variants: `Callable[[], Awaitable[float]]`): run each variant once per round, in the
  schedule's order, and return `Samples`. Warm-up rounds run the same way and are dropped.
  A variant that measures more than one number records the rest itself (a closure) and
  returns the one the ratios are about.
- `timed(fn, number=1, timer=time.perf_counter, collect=True)` / `atimed(...)`: seconds per
  call of `number` calls of `fn`, after a `gc.collect()` (outside the timing) unless
  `collect=False`; the timer is injectable (tests pass a fake one). `TIMERS["cpu"]`
  (`time.process_time`) suits variants that only compute: on a busy machine the time spent
  waiting for a CPU is then not counted; `TIMERS["wall"]` for anything that waits on I/O.
  Pass `clock="cpu"` to `interleave` so that `method()` says which was used.
- `Samples`: `samples[name]` (every round, in round order), `orders` (each round's order),
  `best(name)` (the lowest), `median(name)`, `ratio(name, baseline, by="best" | "median" |
  "paired")` (paired: the median of the round-by-round ratios), `table(baseline, ...)` (a
  Markdown table of best, median and both ratios), `method()` (one sentence saying how the
  samples were taken).
- `Machine.start(quota=..., command=..., loadavg=os.getloadavg)` records the load average
  (1, 5, 15 min), the CPU count, Python and the platform; `stop()` records the load again;
  `header(method)` is the lines every RESULTS.md section opens with: the command, the quota
  settings ("Quota: ..."), the machine and its load before and after, and the method.
- `command(script, argv)`: the command line that ran, for the header.
- `write_section(marker, text)`: replace `benchmarks/RESULTS.md` between `<!-- marker:start -->`
  and `<!-- marker:end -->` (appended if the markers are missing).
"""

from __future__ import annotations

import datetime as dt
import gc
import os
import platform
import random
import statistics
import sys
import time
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

RESULTS = Path(__file__).resolve().parent / "RESULTS.md"
Order = Literal["rotate", "shuffle"]
By = Literal["best", "median", "paired"]
Clock = Literal["wall", "cpu"]
Timer = Callable[[], float]

# The timers a benchmark may sample with, and how its header names them. CPU time suits work
# that only computes (no I/O): on a busy machine, the time spent waiting for a CPU another
# process holds is not the variant's, and wall time counts it at random.
TIMERS: dict[Clock, Timer] = {"wall": time.perf_counter, "cpu": time.process_time}
CLOCK_NOTES: dict[Clock, str] = {
    "wall": "wall-clock time (`time.perf_counter`)",
    "cpu": (
        "CPU time of this process (`time.process_time`): time spent waiting while another "
        "process held the CPU is not counted"
    ),
}


# -- scheduling and timing ---------------------------------------------------------------------


def schedule(
    names: Sequence[str], rounds: int, *, order: Order = "rotate", seed: int = 0
) -> Iterator[tuple[int, str]]:
    """(round, name) in the order they run: every name once per round.

    "rotate": round r starts at name r mod n, so over n rounds each name runs in each
    position once. "shuffle": each round in a random order (a generator seeded with `seed`,
    so a run can be repeated).
    """
    if rounds < 0:
        raise ValueError("rounds must be >= 0")
    if len(set(names)) != len(names):
        raise ValueError("variant names must be distinct")
    rng = random.Random(seed)
    names = list(names)
    for r in range(rounds):
        if order == "rotate":
            k = r % len(names) if names else 0
            this = names[k:] + names[:k]
        elif order == "shuffle":
            this = names[:]
            rng.shuffle(this)
        else:
            raise ValueError(f"unknown order {order!r}")
        for name in this:
            yield r, name


def timed(
    fn: Callable[[], object],
    number: int = 1,
    timer: Timer = time.perf_counter,
    *,
    collect: bool = True,
) -> float:
    """Seconds per call, over `number` calls of `fn` one after another.

    `collect`: a full garbage collection first, outside the timing, so that one variant's
    garbage is not collected on the next one's time.
    """
    if collect:
        gc.collect()
    started = timer()
    for _ in range(number):
        fn()
    return (timer() - started) / number


async def atimed(
    fn: Callable[[], Awaitable[object]],
    number: int = 1,
    timer: Timer = time.perf_counter,
    *,
    collect: bool = True,
) -> float:
    """Seconds per call, over `number` awaited calls of `fn` one after another."""
    if collect:
        gc.collect()
    started = timer()
    for _ in range(number):
        await fn()
    return (timer() - started) / number


@dataclass
class Samples:
    """Each variant's samples (lower is better: seconds, or seconds per unit of work)."""

    names: list[str]
    rounds: int
    warmup: int
    order: Order
    samples: dict[str, list[float]] = field(default_factory=dict)
    orders: list[list[str]] = field(default_factory=list)  # each kept round's order
    clock: Clock = "wall"  # what the samples measure, for `method()`

    def best(self, name: str) -> float:
        return min(self.samples[name])

    def median(self, name: str) -> float:
        return statistics.median(self.samples[name])

    def ratio(self, name: str, baseline: str, by: By = "median") -> float:
        """`name` over `baseline`: of their best rounds, their medians, or paired by round."""
        if by == "best":
            return self.best(name) / self.best(baseline)
        if by == "median":
            return self.median(name) / self.median(baseline)
        if by == "paired":
            pairs = zip(self.samples[name], self.samples[baseline], strict=True)
            return statistics.median(a / b for a, b in pairs)
        raise ValueError(f"unknown ratio {by!r}")

    def method(self) -> str:
        how = (
            "order rotated each round, so each variant runs first equally often"
            if self.order == "rotate"
            else "order shuffled each round"
        )
        plural = "s" if self.warmup > 1 else ""
        dropped = f"; {self.warmup} warm-up round{plural} first, dropped" if self.warmup else ""
        return (
            f"Method: {self.rounds} rounds, the variants interleaved round by round ({how})"
            f"{dropped}; best is a variant's fastest round, median its middle round. Times are "
            f"{CLOCK_NOTES[self.clock]}. Absolute times move with the machine's load; the "
            "ratios compare variants that saw the same load."
        )

    def table(
        self,
        baseline: str,
        *,
        unit: str = "ms",
        scale: float = 1e3,
        digits: int = 2,
        label: str = "variant",
        names: Sequence[str] | None = None,
        vs: str | None = None,
    ) -> str:
        """Markdown: best and median (x `scale`, in `unit`) and the ratios to `baseline`.

        `vs` names the baseline in the ratio columns' headers (default: its full name).
        """
        short = vs or baseline
        lines = [
            f"| {label} | best {unit} | median {unit} | x {short} (best) | x {short} (median) |",
            "|---|---:|---:|---:|---:|",
        ]
        for name in names or self.names:
            lines.append(
                f"| {name} | {self.best(name) * scale:.{digits}f} "
                f"| {self.median(name) * scale:.{digits}f} "
                f"| {self.ratio(name, baseline, 'best'):.2f} "
                f"| {self.ratio(name, baseline, 'median'):.2f} |"
            )
        return "\n".join(lines)

    def summary(self, name: str, baseline: str) -> str:
        """One line: `name` against `baseline`, by best, by median and paired by round."""
        return (
            f"{name} / {baseline}: {self.ratio(name, baseline, 'best'):.2f}x by best, "
            f"{self.ratio(name, baseline, 'median'):.2f}x by median, "
            f"{self.ratio(name, baseline, 'paired'):.2f}x paired by round"
        )


def _collect(
    names: list[str], rounds: int, warmup: int, order: Order, seed: int, clock: Clock
) -> tuple[Samples, Iterator[tuple[int, str]]]:
    if not names:
        raise ValueError("no variants")
    if rounds < 1 or warmup < 0:
        raise ValueError("rounds must be >= 1 and warmup >= 0")
    out = Samples(names, rounds, warmup, order, {n: [] for n in names}, clock=clock)
    return out, schedule(names, warmup + rounds, order=order, seed=seed)


def _record(out: Samples, r: int, name: str, sample: float) -> None:
    if r < out.warmup:
        return
    if r - out.warmup == len(out.orders):
        out.orders.append([])
    out.orders[-1].append(name)
    out.samples[name].append(float(sample))


def interleave(
    variants: Mapping[str, Callable[[], float]],
    rounds: int,
    *,
    warmup: int = 0,
    order: Order = "rotate",
    seed: int = 0,
    progress: Callable[[str], None] | None = None,
    clock: Clock = "wall",
) -> Samples:
    """Run each variant once per round, interleaved; each call returns its sample.

    `clock` only says what the samples measure (the variants time themselves).
    """
    out, plan = _collect(list(variants), rounds, warmup, order, seed, clock)
    for r, name in plan:
        sample = variants[name]()
        _record(out, r, name, sample)
        if progress is not None:
            progress(_progress_line(out, r, name, sample))
    return out


async def ainterleave(
    variants: Mapping[str, Callable[[], Awaitable[float]]],
    rounds: int,
    *,
    warmup: int = 0,
    order: Order = "rotate",
    seed: int = 0,
    progress: Callable[[str], None] | None = None,
    clock: Clock = "wall",
) -> Samples:
    """`interleave` for async variants: each is awaited alone, one after another."""
    out, plan = _collect(list(variants), rounds, warmup, order, seed, clock)
    for r, name in plan:
        sample = await variants[name]()
        _record(out, r, name, sample)
        if progress is not None:
            progress(_progress_line(out, r, name, sample))
    return out


def _progress_line(out: Samples, r: int, name: str, sample: float) -> str:
    which = f"warm-up {r + 1}" if r < out.warmup else f"round {r - out.warmup + 1}/{out.rounds}"
    return f"  {which} {name}: {sample:.6g}"


def stderr(line: str) -> None:
    """A `progress` callback: one line to stderr as each sample is taken."""
    print(line, file=sys.stderr, flush=True)


# -- the run's conditions ----------------------------------------------------------------------


def _loadavg() -> tuple[float, float, float]:
    try:
        return os.getloadavg()
    except (AttributeError, OSError):  # not every platform has one
        return (float("nan"),) * 3


@dataclass
class Machine:
    """The conditions of one run: the quota settings and the machine's load around it."""

    quota: str
    command: str
    cpus: int
    python: str
    platform: str
    date: str
    load_before: tuple[float, float, float]
    load_after: tuple[float, float, float] | None = None
    loadavg: Callable[[], tuple[float, float, float]] = _loadavg

    @classmethod
    def start(
        cls,
        *,
        quota: str,
        command: str,
        loadavg: Callable[[], tuple[float, float, float]] = _loadavg,
    ) -> Machine:
        """Record the machine and its load now; `quota` says what quota settings ran."""
        return cls(
            quota=quota,
            command=command,
            cpus=os.cpu_count() or 0,
            python=f"{platform.python_implementation()} {platform.python_version()}",
            platform=f"{platform.system()} {platform.machine()}",
            date=dt.date.today().isoformat(),
            load_before=loadavg(),
            loadavg=loadavg,
        )

    def stop(self) -> None:
        """Record the load at the end of the run."""
        self.load_after = self.loadavg()

    def load(self) -> str:
        def three(v: tuple[float, float, float]) -> str:
            return " / ".join(f"{x:.2f}" for x in v)

        after = three(self.load_after) if self.load_after else "not taken"
        return (
            f"load average (1 / 5 / 15 min) {three(self.load_before)} before, {after} after, "
            f"on {self.cpus} CPUs"
        )

    def header(self, method: str) -> str:
        """The lines a RESULTS.md section opens with (and the run prints)."""
        return "\n".join(
            [
                f"Command: `{self.command}`",
                "",
                f"Quota: {self.quota.rstrip('.')}.",
                "",
                f"Machine: {self.python} on {self.platform}, {self.load()}, {self.date}.",
                "",
                method,
            ]
        )


def command(script: str | None = None, argv: Sequence[str] | None = None) -> str:
    """The command line that ran: `python benchmarks/NAME.py ARGS`."""
    name = Path(script or sys.argv[0]).name
    args = list(sys.argv[1:] if argv is None else argv)
    return " ".join([f"python benchmarks/{name}", *args])


def write_section(marker: str, text: str, path: Path = RESULTS) -> None:
    """Replace the text between `<!-- marker:start -->` and `<!-- marker:end -->`."""
    start, end = f"<!-- {marker}:start -->", f"<!-- {marker}:end -->"
    section = f"{start}\n{text.rstrip()}\n{end}"
    old = path.read_text(encoding="utf-8") if path.exists() else "# Benchmark results\n"
    if start in old and end in old:
        head, rest = old.split(start, 1)
        _, tail = rest.split(end, 1)
        new = head + section + tail
    else:
        new = old.rstrip("\n") + "\n\n" + section + "\n"
    path.write_text(new, encoding="utf-8")
