"""Plain logs for cron and containers: a progress line at a steady cadence (an injected
clock, never a sleep), JSON lines for log shippers with the quota's knobs in the plan, and
with a `RedisQuota` the quota line counts the application's calls, not this process's."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio as aioredis

from drchrono_async._sync_views import PlainView, QuotaLine
from drchrono_async.ratelimit import RedisQuota
from drchrono_async.sync import ResourceReport
from drchrono_async.testing import VirtualClock

from .ratelimit.conftest import redis_client, redis_key  # noqa: F401  (fixtures)
from .test_cli_operating import cli


class _Quota:
    def line(self, reports: dict[str, Any]) -> str:
        return f"quota line, {sum(r.calls for r in reports.values())} calls this run"


def test_a_progress_line_comes_at_the_stated_cadence(capsys: pytest.CaptureFixture[str]) -> None:
    now = [0.0]
    view = PlainView(_Quota(), "text", every=30.0, clock=lambda: now[0])  # type: ignore[arg-type]
    backfill = ResourceReport("appointments", status="running", mode="backfill")
    for second in range(0, 95, 5):  # a page every 5 s for 95 s
        now[0] = float(second)
        backfill.pages = backfill.calls = second // 5 + 1
        backfill.calls_left = 40 - backfill.pages
        view.update(backfill)
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 3  # at 30, 60 and 90 s
    assert lines[0].endswith(
        "progress: 0 resources done; running: appointments backfill 7 pages 7 calls ~33 left; "
        "quota line, 7 calls this run"
    )


async def test_json_logs_carry_the_plan_with_the_quota_knobs(tmp_path: Path) -> None:
    code, out, err = await cli(
        "sync", "--emulator", "--log-format", "json", "--store", f"sqlite:///{tmp_path}/j.db",
        "--resource", "doctors", "--resource", "appointments", "--no-verbose", "appointments",
        "--quota-limit", "2000", "--rate", "40", "--burst", "2", "--shards", "2",
    )  # fmt: skip
    assert code == 0 and out == ""
    records = [json.loads(line) for line in err.splitlines()]  # every line is JSON
    assert all({"time", "level", "logger", "message"} <= set(r) for r in records)
    plan = next(r for r in records if r.get("event") == "plan")
    assert "at 2000/h" in plan["message"]
    assert (plan["limit"], plan["rate"], plan["burst"], plan["shards"]) == (2000, 40, 2, 2)
    assert plan["seconds"] == round((plan["expected"] - 2) / 40, 1)
    done = {r["resource"]: r for r in records if r.get("event") == "resource"}
    assert done["appointments"]["status"] == "complete" and done["appointments"]["calls"] > 2
    run = next(r for r in records if r.get("event") == "run")
    assert run["complete"] is True and run["calls"] == sum(d["calls"] for d in done.values())


async def test_the_quota_line_shows_the_applications_shared_count(
    redis_client: aioredis.Redis,  # noqa: F811
    redis_key: str,  # noqa: F811
) -> None:
    clock = VirtualClock()
    ours = RedisQuota(redis_client, key=f"{redis_key}:q", clock=clock, rate=1000, burst=1000)
    other = RedisQuota(redis_client, key=f"{redis_key}:q", clock=clock, rate=1000, burst=1000)
    for _ in range(7):
        await other.acquire()  # another process of the same application
    for _ in range(2):
        await ours.acquire()

    class Client:
        quota = ours

    Client.clock = clock  # type: ignore[attr-defined]
    line = QuotaLine(Client())
    mine = ResourceReport("patients", calls=2)
    await line.refresh()
    assert line.line({"patients": mine}).startswith(
        "quota 9/500 this hour (the application's, all processes), resets in "
    )
    for _ in range(5):
        await other.acquire()
    await line.refresh()  # read from Redis, not this process's last call
    assert "quota 14/500 this hour" in line.line({"patients": mine})
    assert "; 2 calls this run" in line.line({"patients": mine})


async def test_sync_with_redis_shares_the_applications_quota(
    tmp_path: Path,
    redis_client: aioredis.Redis,  # noqa: F811
    redis_key: str,  # noqa: F811
) -> None:
    from .ratelimit.conftest import REDIS_URL

    key = f"{redis_key}:app"
    code, out, err = await cli(
        "sync", "--emulator", "--plain", "--store", f"sqlite:///{tmp_path}/r.db",
        "--resource", "doctors", "--redis", REDIS_URL, "--quota-key", key,
    )  # fmt: skip
    assert code == 0, err
    assert "Traceback" not in err and "doctors: complete" in out
    assert await redis_client.exists(key)  # the permits were taken from the shared hash
    code, _, err = await cli("sync", "--emulator", "--redis", REDIS_URL, "--store",
                             f"sqlite:///{tmp_path}/r.db")  # fmt: skip
    assert code == 2 and "--redis needs $DRCHRONO_CLIENT_ID or --quota-key" in err
