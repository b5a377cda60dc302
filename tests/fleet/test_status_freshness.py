"""`drchrono-async status --freshness`: a fleet practice's freshness, read from the registry.

The practice's `freshness` rows are written as a worker's slices write them
(`record_slice`), timed against the real clock (status reads `time.time()`); `status` runs
as the real command in a subprocess against the real PostgreSQL, in this test's own
schema, with no credentials and no API.
"""

from __future__ import annotations

import asyncio
import json
import math
import time
from collections.abc import Callable

import pytest

from drchrono_async.fleet import FreshnessTargets, PracticeRegistry, practice_status
from drchrono_async.fleet._freshness_state import record_slice
from drchrono_async.oauth import Token
from drchrono_async.ratelimit import RedisQuota
from tests.test_status import status

from .conftest import POSTGRES_DSN

HOUR = 3600.0
_V1_KEYS = {"version", "checked_at", "store", "practice", "current", "quota", "resources"}
_V1_RESOURCE_KEYS = {
    "resource", "state", "current", "reason", "last_done_at", "last_run", "watermark", "rows",
    "backfilled", "listing", "next_run",
}  # fmt: skip


async def polled(registry: PracticeRegistry, resource: str, ago: float, changes: int = 0) -> None:
    """The practice's first sync two days ago, then a poll (one call) that started `ago`
    seconds before now and wrote `changes` rows."""
    now = time.time()
    targets = FreshnessTargets(sweep=6 * HOUR)
    for started, wrote in ((now - 2 * 86_400, 50), (now - ago, changes)):
        await record_slice(
            registry,
            "north",
            resource,
            started=started,
            ended=started + 2,
            calls=1,
            changes=wrote,
            done=True,
            targets=targets,
            webhooks=True,  # a change a poll of a covered resource finds was missed
        )


@pytest.fixture
async def fleet(registry: PracticeRegistry) -> PracticeRegistry:
    """Practice `north`: appointments last polled an hour ago (its poll found 2 changes,
    so webhooks missed them), patients a minute ago, offices never (its first sync is
    pending)."""
    token = Token("at_status_0123456789", "rt_status_0123456789", time.time() + HOUR)
    resources = ["appointments", "patients", "offices"]
    await registry.add("north", token, resources=resources, auth="fixed")
    await polled(registry, "appointments", HOUR, changes=2)
    await polled(registry, "patients", 60)
    return registry


def practice(registry: PracticeRegistry, *more: str) -> tuple[str, ...]:
    return ("--store", POSTGRES_DSN, "--schema", registry.schema, "--practice", "north", *more)


async def test_status_shows_each_resources_freshness_and_the_infeasible_plan(
    fleet: PracticeRegistry,
) -> None:
    # appointments every 10 s costs 360 calls an hour; a quota of 100 holds 90 less the
    # quarter left to the pending backfill: 67.5 an hour.
    tight = ("--freshness", "appointments=10s", "--quota-limit", "100")
    (code, out, err), (code_json, raw, _) = await asyncio.gather(
        status(*practice(fleet, *tight, "--plain")),
        status(*practice(fleet, *tight, "--json")),
    )
    assert code == 1 and err == ""  # never synced into its store: not current, as before
    lines = out.splitlines()
    start = lines.index("freshness: risk 0, sweep 6h, webhooks off")
    assert lines[start + 1].split() == [
        "resource", "kind", "target", "period", "age", "behind", "missed",
    ]  # fmt: skip
    rows = {line.split()[0]: line.split() for line in lines[start + 2 : start + 5]}
    assert rows["appointments"] == ["appointments", "poll", "10s", "10s", "1h00m", "BEHIND", "2"]
    assert rows["patients"][1:4] == ["poll", "30m", "30m"] and rows["patients"][5] == "no"
    assert rows["offices"] == ["offices", "backfill", "pending", "1d", "1d", "-", "-", "0"]
    # Demand: 3600/10 + 3600/1800 = 362 calls an hour at one call a poll; the quota that
    # meets it keeps the same 10% reserve and backfill quarter: ceil(362 / 0.675) = 537.
    assert lines[start + 5] == (
        "fleet: targets NOT feasible: they need 362 calls/h, 68 available (periods met about "
        "5.4x late); a quota of 537 calls per window would meet them; 1 resources behind"
    )
    assert lines[start + 6] == (
        "budget: 100 calls per 1h window, 10 reserved, 0 used (the registry counted none "
        "this window: taken as 0)"
    )
    assert lines[-1].startswith("NOT CURRENT")

    assert code_json == 1
    shown = json.loads(raw)
    assert shown["version"] == 1 and set(shown) == _V1_KEYS | {"freshness"}
    plan = shown["freshness"]
    assert plan["feasible"] is False and plan["needed_limit"] == 537
    assert plan["demand_per_hour"] == pytest.approx(362)
    assert plan["available_per_hour"] == pytest.approx(67.5)
    assert plan["stretch"] == pytest.approx(362 / 67.5) and plan["late_count"] == 1
    assert plan["budget"] == {
        "source": "none", "limit": 100, "window_seconds": 3600.0, "used": 0, "reserve": 10,
    }  # fmt: skip
    assert (plan["risk"], plan["sweep_seconds"], plan["webhooks"]) == (0, 6 * HOUR, False)
    assert plan["summary"] == lines[start + 5].removeprefix("fleet: ")
    by = {r["resource"]: r for r in shown["resources"]}
    assert all(set(r) == _V1_RESOURCE_KEYS | {"freshness"} for r in by.values())
    appointments = by["appointments"]["freshness"]
    assert appointments["kind"] == "poll" and appointments["behind"] is True
    assert appointments["target_seconds"] == appointments["period_seconds"] == 10
    assert HOUR <= appointments["age_seconds"] < HOUR + 60 and appointments["missed"] == 2
    patients = by["patients"]["freshness"]
    assert patients["behind"] is False and 60 <= patients["age_seconds"] < 120
    assert by["offices"]["freshness"] == {
        "kind": "backfill", "target_seconds": 86_400.0, "period_seconds": 86_400.0,
        "age_seconds": None, "behind": None, "missed": 0,
    }  # fmt: skip


async def test_with_webhooks_covered_resources_are_swept_and_the_registry_counts_calls(
    fleet: PracticeRegistry,
) -> None:
    await fleet.spend("north", 7, window=HOUR)
    code, raw, err = await status(*practice(fleet, "--freshness", "on", "--webhooks", "--json"))
    assert code == 1, err
    shown = json.loads(raw)
    by = {r["resource"]: r["freshness"] for r in shown["resources"]}
    # Swept every 6 h, halved once by the missed changes its sweep found: 3 h; an hour old
    # is not behind then (it would be against its 5-minute target).
    assert by["appointments"]["kind"] == "sweep" and by["appointments"]["missed"] == 2
    assert by["appointments"]["period_seconds"] == 3 * HOUR
    assert by["appointments"]["behind"] is False
    assert by["patients"]["kind"] == "sweep" and by["patients"]["period_seconds"] == 6 * HOUR
    assert by["offices"]["kind"] == "backfill"  # never a sweep: no webhook carries offices
    plan = shown["freshness"]
    assert plan["webhooks"] is True and plan["feasible"] is True and plan["late_count"] == 0
    assert plan["budget"]["source"] == "registry" and plan["budget"]["used"] == 7
    code, out, _ = await status(*practice(fleet, "--freshness", "on", "--webhooks", "--plain"))
    assert "webhooks on: covered resources are swept" in out
    assert "7 used (the registry's count of the fleet's sync calls)" in out


async def test_without_freshness_status_is_as_it_was(fleet: PracticeRegistry) -> None:
    (code, raw, _), (code_plain, out, _), (code_bad, _, bad) = await asyncio.gather(
        status(*practice(fleet, "--json")),
        status(*practice(fleet, "--plain")),
        status("--store", POSTGRES_DSN, "--freshness", "on"),
    )
    assert code == code_plain == 1
    shown = json.loads(raw)
    assert set(shown) == _V1_KEYS
    assert all(set(r) == _V1_RESOURCE_KEYS for r in shown["resources"])
    assert "freshness" not in out and "fleet:" not in out and "budget:" not in out
    assert code_bad == 2 and bad.strip().endswith(
        "--freshness needs --practice (the planner's state is a fleet's)"
    )


async def test_a_shared_quota_gives_the_budget_its_own_count(
    fleet: PracticeRegistry, quota_factory: Callable[..., RedisQuota]
) -> None:
    quota = quota_factory(limit=200, reserve=0.25)
    found = await practice_status(
        POSTGRES_DSN,
        "north",
        schema=fleet.schema,
        freshness=FreshnessTargets(risk=0.05),
        quota=quota,
    )
    assert found.freshness is not None
    budget = found.freshness.budget
    assert (budget.source, budget.limit, budget.reserve, budget.used) == ("quota", 200, 50, 0)
    assert found.freshness.risk == 0.05 and math.isfinite(found.freshness.demand)
    by = {r.resource: r.freshness for r in found.resources}
    assert by["patients"] is not None and by["patients"].kind == "poll"
    # Its polls found changes only in its first sync: with risk the quiet stretches it.
    assert 1800 < by["patients"].period <= 4 * 1800
