"""benchmarks/_bench.py: the interleaving and the report, on a fake timer (no wall clock)."""

from __future__ import annotations

import asyncio
import statistics
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

import _bench


class FakeMachine:
    """A timer whose machine gets twice as slow after `step` units of work."""

    def __init__(self, step: float) -> None:
        self.now = 0.0
        self.step = step
        self.log: list[str] = []

    def work(self, name: str, cost: float) -> None:
        self.log.append(name)
        self.now += cost * (1.0 if self.now < self.step else 2.0)

    def timer(self) -> float:
        return self.now


def test_rotation_puts_each_variant_first_equally_often() -> None:
    plan = list(_bench.schedule(["a", "b", "c"], 3))
    rounds = [[n for r, n in plan if r == i] for i in range(3)]
    assert rounds == [["a", "b", "c"], ["b", "c", "a"], ["c", "a", "b"]]


def test_shuffle_is_a_seeded_permutation_each_round() -> None:
    names = [f"v{i}" for i in range(6)]
    plan = list(_bench.schedule(names, 20, order="shuffle", seed=3))
    rounds = [[n for r, n in plan if r == i] for i in range(20)]
    assert all(sorted(r) == names for r in rounds)
    assert len({r[0] for r in rounds}) > 1  # not always the same one first
    assert plan == list(_bench.schedule(names, 20, order="shuffle", seed=3))


def test_bad_schedules_are_refused() -> None:
    with pytest.raises(ValueError):
        list(_bench.schedule(["a", "a"], 1))
    with pytest.raises(ValueError):
        _bench.interleave({}, 1)
    with pytest.raises(ValueError):
        _bench.interleave({"a": lambda: 1.0}, 0)


def test_a_load_step_halfway_leaves_the_interleaved_ratios_exact() -> None:
    # a costs 1, b costs 3 per call; 8 rounds of 2 calls each, then the machine halves.
    m = FakeMachine(step=4 * (2 + 6))
    variants = {
        name: (
            lambda name=name, cost=cost: _bench.timed(
                lambda: m.work(name, cost), 2, m.timer, collect=False
            )
        )
        for name, cost in (("a", 1.0), ("b", 3.0))
    }
    samples = _bench.interleave(variants, rounds=8, warmup=0)
    assert samples.samples["a"] == [1.0] * 4 + [2.0] * 4
    assert samples.samples["b"] == [3.0] * 4 + [6.0] * 4
    for by in ("best", "median", "paired"):
        assert samples.ratio("b", "a", by) == pytest.approx(3.0)
    assert samples.orders == [["a", "b"], ["b", "a"]] * 4
    # The same work back to back (all of a, then all of b) reads the step as b's own cost.
    m2 = FakeMachine(step=4 * (2 + 6))
    back_to_back = {
        n: [
            _bench.timed(lambda n=n, c=c: m2.work(n, c), 2, m2.timer, collect=False)
            for _ in range(8)
        ]
        for n, c in (("a", 1.0), ("b", 3.0))
    }
    a, b = (statistics.median(back_to_back[n]) for n in "ab")
    assert b / a == pytest.approx(6.0)


def test_warmup_rounds_run_and_are_dropped() -> None:
    calls: list[str] = []
    values = iter(range(100))

    def variant(name: str) -> float:
        calls.append(name)
        return float(next(values))

    samples = _bench.interleave(
        {"a": lambda: variant("a"), "b": lambda: variant("b")}, rounds=2, warmup=1
    )
    assert calls == ["a", "b", "b", "a", "a", "b"]  # the warm-up round counts in the rotation
    assert samples.samples == {"a": [3.0, 4.0], "b": [2.0, 5.0]}
    assert samples.best("a") == 3.0 and samples.median("b") == 3.5
    assert "1 warm-up round first, dropped" in samples.method()


def test_ainterleave_awaits_each_variant_alone_in_the_same_order() -> None:
    running: list[str] = []
    seen: list[str] = []

    def variant(name: str, value: float) -> Callable[[], Awaitable[float]]:
        async def one() -> float:
            assert not running  # one at a time
            running.append(name)
            await asyncio.sleep(0)
            seen.append(name)
            running.remove(name)
            return value

        return one

    samples = asyncio.run(
        _bench.ainterleave({"x": variant("x", 2.0), "y": variant("y", 1.0)}, rounds=3)
    )
    assert seen == ["x", "y", "y", "x", "x", "y"]
    assert samples.ratio("x", "y", "median") == 2.0


def test_table_gives_best_median_and_both_ratios() -> None:
    samples = _bench.Samples(["base", "v"], 3, 0, "rotate", {"base": [2e-3, 1e-3, 4e-3]})
    samples.samples["v"] = [3e-3, 9e-3, 6e-3]
    lines = samples.table("base", unit="ms", vs="the base").splitlines()
    assert lines[0] == "| variant | best ms | median ms | x the base (best) | x the base (median) |"
    assert lines[2] == "| base | 1.00 | 2.00 | 1.00 | 1.00 |"
    assert lines[3] == "| v | 3.00 | 6.00 | 3.00 | 3.00 |"
    assert "1.50x paired by round" in samples.summary("v", "base")  # 1.5, 9, 1.5


def test_machine_header_states_command_quota_and_load() -> None:
    loads = iter([(1.5, 1.0, 0.5), (3.25, 2.0, 1.0)])
    machine = _bench.Machine.start(
        quota="none (no request is sent)",
        command="python benchmarks/x.py",
        loadavg=lambda: next(loads),
    )
    machine.stop()
    header = machine.header("Method: once.")
    assert "Command: `python benchmarks/x.py`" in header
    assert "Quota: none (no request is sent)." in header
    assert "1.50 / 1.00 / 0.50 before, 3.25 / 2.00 / 1.00 after" in header
    assert header.endswith("Method: once.")


def test_write_section_replaces_between_its_markers_only(tmp_path: Path) -> None:
    results = tmp_path / "RESULTS.md"
    results.write_text("# R\n\n<!-- a:start -->\nold\n<!-- a:end -->\n\ntail\n", encoding="utf-8")
    _bench.write_section("a", "new", results)
    _bench.write_section("b", "other", results)
    assert results.read_text(encoding="utf-8") == (
        "# R\n\n<!-- a:start -->\nnew\n<!-- a:end -->\n\ntail\n\n"
        "<!-- b:start -->\nother\n<!-- b:end -->\n"
    )
