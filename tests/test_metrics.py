"""Prometheus metrics: a real scrape of `/metrics` after real calls and a sync, and `/healthz`.

The emulator runs in process on virtual time (a 429's hour-long pause passes at once); the
metrics server is the real one, on a free loopback port, read over HTTP from a thread. Every
count is compared with what the emulator saw or the sync reported: exactly.
"""

from __future__ import annotations

import asyncio
import re
import signal
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from drchrono_async import metrics
from drchrono_async.sync import SQLiteStore, Syncer
from drchrono_async.testing import Emulator, VirtualClock

ROOT = Path(__file__).resolve().parents[1]
Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def get(url: str) -> tuple[int, str]:
    """GET `url`: its status and body (an error status is an answer too)."""
    try:
        with urllib.request.urlopen(url, timeout=10) as answer:
            return answer.status, answer.read().decode()
    except urllib.error.HTTPError as answer:
        return answer.code, answer.read().decode()


def parse(text: str) -> Samples:
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


class FakeTime:
    """A clock that moves only when told: the sync lag and the health check read it."""

    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture(autouse=True)
def metrics_off() -> Iterator[None]:
    yield
    assert metrics.active is None  # every test leaves the process as it found it


async def test_a_scrape_counts_calls_waits_rows_runs_and_lag_exactly(tmp_path: Path) -> None:
    emu = Emulator(seed=5, clock=VirtualClock(), sizes={"patients": 120})
    wall = FakeTime(1_000.0)
    recorder = metrics.Metrics(clock=wall)
    async with emu.client() as client, SQLiteStore(tmp_path / "m.db") as store:
        with metrics.serve(port=0, quota=client.quota, metrics=recorder) as server:
            assert metrics.active is recorder
            base = f"http://127.0.0.1:{server.port}"
            # An interactive call answered 429 (its pause waits out the hour), then 500
            # (retried), then 200.
            emu.faults.script(["429", "500"], path_prefix="/api/doctors")
            await client.request("GET", "/api/doctors", params={"last_name": "Secretname"})
            report = await Syncer(client, store, resources=["patients"]).run()
            wall.now += 42.0  # the copy was complete 42 s ago
            status, text = await asyncio.to_thread(get, f"{base}/metrics")
            health = await asyncio.to_thread(get, f"{base}/healthz")
            missing = await asyncio.to_thread(get, f"{base}/other")
            used = client.quota.snapshot().used  # type: ignore[union-attr]
    assert metrics.active is None
    assert status == 200 and health == (200, "ok\n") and missing[0] == 404
    got = parse(text)

    assert emu.count(status=429) == 1 and emu.count(status=500) == 1
    sent = len(emu.requests)
    assert value(got, "drchrono_calls_total", method="GET", status_class="4xx") == 1
    assert value(got, "drchrono_calls_total", method="GET", status_class="5xx") == 1
    assert value(got, "drchrono_calls_total", method="GET", status_class="2xx") == sent - 2
    assert value(got, "drchrono_throttled_total", lane="interactive") == 1
    assert value(got, "drchrono_throttled_total", lane="background") == 0
    # One permit per request sent: 3 for the interactive call, the sync's in its lane.
    assert value(got, "drchrono_permit_wait_seconds_count", lane="interactive") == 3
    assert value(got, "drchrono_permit_wait_seconds_count", lane="background") == report.calls
    assert report.calls == sent - 3
    # The 429 paused the quota to the hour's end (virtual time): the wait is measured.
    assert value(got, "drchrono_permit_wait_seconds_sum", lane="interactive") >= 3000
    written = {"practice": "default", "resource": "patients"}
    assert report["patients"].written == 120
    assert value(got, "drchrono_records_written_total", **written) == 120
    assert value(got, "drchrono_sync_runs_total", **written, outcome="done") == 1
    assert value(got, "drchrono_sync_lag_seconds", **written) == 42.0
    # The quota's view at the scrape: the hour after the pause, all but the 429 in it.
    assert value(got, "drchrono_quota_used") == used == sent - 1
    assert value(got, "drchrono_quota_limit") == 500
    # No label or value carries a query value, a token or record content.
    assert "Secretname" not in text and emu.access_token not in text
    assert "/api/" not in text


async def test_healthz_answers_503_while_the_event_loop_is_blocked() -> None:
    ticks = FakeTime(100.0)
    with metrics.MetricsServer(metrics.Metrics(process=False), monotonic=ticks) as server:
        url = f"http://127.0.0.1:{server.port}/healthz"
        assert await asyncio.to_thread(get, url) == (200, "ok\n")
        # The loop stays blocked in this synchronous call: no heartbeat can run, and the
        # clock says 11 s have passed since the last one.
        ticks.now += metrics.HEALTH_STALE + 1
        code, body = get(url)
        assert code == 503 and "stalled" in body
        ticks.now -= metrics.HEALTH_STALE + 1
        assert get(url)[0] == 200


async def test_a_port_in_use_is_one_typed_error() -> None:
    from drchrono_async.errors import InvalidRequestError

    with metrics.MetricsServer(metrics.Metrics(process=False)) as first:
        taken = metrics.MetricsServer(metrics.Metrics(process=False), port=first.port)
        with pytest.raises(InvalidRequestError, match=r"cannot serve metrics .*EADDRINUSE"):
            taken.start()
    with pytest.raises(InvalidRequestError, match="host"):
        metrics.MetricsServer(metrics.Metrics(process=False), host="a host; rm")


async def line_matching(stream: asyncio.StreamReader, pattern: str) -> re.Match[str]:
    """Read lines until one matches `pattern`; fails if the stream ends first."""
    while True:
        line = (await asyncio.wait_for(stream.readline(), 30)).decode()
        assert line, f"the process ended before printing {pattern!r}"
        if found := re.search(pattern, line):
            return found


async def test_sync_every_serves_its_metrics_between_runs(tmp_path: Path) -> None:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "drchrono_async.cli", "sync", "--emulator", "--plain",
        "--store", f"sqlite:///{tmp_path / 'e.db'}", "--resource", "doctors",
        "--every", "1h", "--metrics-port", "0",
        cwd=ROOT, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    assert proc.stdout is not None and proc.stderr is not None
    try:
        port = (await line_matching(proc.stderr, r"metrics at http://127\.0\.0\.1:(\d+)/"))[1]
        ran = await line_matching(proc.stdout, r"doctors: complete .*records=(\d+).* calls=(\d+)")
        await line_matching(proc.stdout, r"^all ")  # the run's table has ended
        status, text = await asyncio.to_thread(get, f"http://127.0.0.1:{port}/metrics")
        health = await asyncio.to_thread(get, f"http://127.0.0.1:{port}/healthz")
    finally:
        proc.send_signal(signal.SIGINT)  # between runs: it exits at once, 0
        code = await asyncio.wait_for(proc.wait(), 30)
    assert code == 0 and status == 200 and health == (200, "ok\n")
    got = parse(text)
    labels = {"practice": "default", "resource": "doctors"}
    records, calls = int(ran[1]), int(ran[2])
    assert value(got, "drchrono_sync_runs_total", **labels, outcome="done") == 1
    assert value(got, "drchrono_records_written_total", **labels) == records > 0
    assert value(got, "drchrono_calls_total", method="GET", status_class="2xx") == calls
    assert value(got, "drchrono_quota_limit") == 500
