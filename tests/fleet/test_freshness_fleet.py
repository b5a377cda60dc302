"""The freshness scheduler on the real PostgreSQL: slices recorded, sweeps, the tick's jobs."""

from __future__ import annotations

import logging

import psycopg
import pytest

from drchrono_async import metrics
from drchrono_async._endpoints import BY_NAME
from drchrono_async.fleet import (
    FleetRuntime,
    FreshnessTargets,
    Outcome,
    PracticeRegistry,
    build_app,
    ensure_schema,
    freshness_tick,
)
from drchrono_async.fleet._freshness_state import load_states, record_slice
from drchrono_async.oauth import Token
from drchrono_async.ratelimit import HourlyQuota
from drchrono_async.sync import apply_event
from drchrono_async.testing import Emulator

from ..sync.test_apply import event
from .conftest import POSTGRES_DSN, config_for
from .test_worker import fixed

T0 = 1_800_000_000.0
HOUR = 3600.0


class Wall:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


async def test_a_sweep_that_finds_missed_changes_is_logged_counted_and_tightened(
    registry: PracticeRegistry, caplog: pytest.LogCaptureFixture
) -> None:
    emu = Emulator(seed=31, sizes={"patients": 60})
    targets = FreshnessTargets(sweep=8 * HOUR)
    wall = Wall(T0)
    recorder = metrics.Metrics(process=False)
    previous = metrics.install(recorder)
    try:
        async with emu.serve() as url:
            await registry.add("north", fixed(emu), base_url=url, resources=["patients"])
            runtime = FleetRuntime(
                registry,
                HourlyQuota(limit=10_000, burst=1000, rate=1000),
                freshness=targets,
                webhooks=True,
                clock=wall,
            )
            # The first sync: a backfill, never a sweep.
            assert (await runtime.sync_slice("north", "patients")).outcome is Outcome.DONE
            state = (await load_states(registry))[("north", "patients")]
            assert state.backfilled and state.last_start == T0 and state.missed == 0
            # A sweep with nothing new: clean, the period stays at the configured sweep.
            wall.now += 8 * HOUR
            await runtime.sync_slice("north", "patients")
            state = (await load_states(registry))[("north", "patients")]
            assert state.missed == 0 and state.last_start == T0 + 8 * HOUR
            assert state.sweep == 8 * HOUR
            # Staff change two patients; no webhook brings them: the next sweep finds them.
            await emu.activity.run(changes=2, creates=0, deletes=0, resources=["patients"])
            wall.now += 8 * HOUR
            with caplog.at_level(logging.WARNING, logger="drchrono_async.fleet"):
                await runtime.sync_slice("north", "patients")
    finally:
        metrics.install(previous)
    state = (await load_states(registry))[("north", "patients")]
    assert state.missed == 2
    assert state.sweep == 4 * HOUR  # halved
    (line,) = [r.getMessage() for r in caplog.records if "webhooks missed" in r.getMessage()]
    assert "north" in line and "patients" in line and " 2 " in line and "4h" in line
    for record in emu.records("patients"):  # ids and counts only: never a value
        assert str(record.get("nick_name") or "§") not in line
        assert str(record.get("last_name") or "§") not in line
    missed = recorder.registry.get_sample_value(
        "drchrono_sweep_missed_changes_total", {"practice": "north", "resource": "patients"}
    )
    assert missed == 2


async def test_a_sweep_after_webhooks_counts_no_missed_change(registry: PracticeRegistry) -> None:
    """The webhooks' plain objects lack the verbose keys a listing stores (an appointment's
    `extended_updated_at` moves with every change): the sweep that brings them revises the
    rows at the version the webhooks wrote, which is not a change they missed."""
    emu = Emulator(seed=32, sizes={"appointments": 30})
    targets = FreshnessTargets(sweep=8 * HOUR)
    wall = Wall(T0)
    verbose = BY_NAME["appointments"].verbose_keys
    async with emu.serve() as url:
        await registry.add("east", fixed(emu), base_url=url, resources=["appointments"])
        runtime = FleetRuntime(
            registry,
            HourlyQuota(limit=10_000, burst=1000, rate=1000),
            freshness=targets,
            webhooks=True,
            clock=wall,
        )
        assert (await runtime.sync_slice("east", "appointments")).outcome is Outcome.DONE
        log = await emu.activity.run(changes=2, creates=0, deletes=0, resources=["appointments"])
        changed = {str(i) for i in log.changed["appointments"]}
        assert len(changed) == 2
        async with registry.data_store("east") as store:
            for n, record in enumerate(emu.records("appointments")):
                if str(record["id"]) in changed:  # the webhook's object: no verbose key
                    plain = {k: v for k, v in record.items() if k not in verbose}
                    hook = event("APPOINTMENT_MODIFY", plain, f"east-{n}")
                    result = await apply_event(store, hook)
                    assert result is not None and result.written == 1
        wall.now += 8 * HOUR
        await runtime.sync_slice("east", "appointments")
    state = (await load_states(registry))[("east", "appointments")]
    assert state.missed == 0 and state.sweep == 8 * HOUR  # clean: not tightened


async def test_slices_of_one_poll_are_recorded_as_one(registry: PracticeRegistry) -> None:
    await registry.add("west", Token("t", "r", T0 + HOUR), resources=["appointments"])
    for started, done in ((T0, False), (T0 + 30, False), (T0 + 90, True)):
        await record_slice(
            registry,
            "west",
            "appointments",
            started=started,
            ended=started + 10,
            calls=4,
            changes=100,
            done=done,
        )
    state = (await load_states(registry))[("west", "appointments")]
    assert state.backfilled and state.started is None and state.pending_calls == 0
    assert (state.last_start, state.last_end) == (T0, T0 + 100)


async def jobs(schema: str) -> list[tuple[str, str]]:
    async with await psycopg.AsyncConnection.connect(POSTGRES_DSN) as conn:
        cur = await conn.execute(
            f'SELECT args FROM "{schema}".procrastinate_jobs'
            " WHERE task_name LIKE %s AND status = 'todo'",
            ("%sync_resource",),
        )
        return sorted((row[0]["practice"], row[0]["resource"]) for row in await cur.fetchall())


async def test_the_tick_queues_what_the_plan_says_once(
    registry: PracticeRegistry, caplog: pytest.LogCaptureFixture
) -> None:
    resources = ["appointments", "offices"]
    for key in ("a", "b"):
        await registry.add(key, Token("t", "r", T0 + HOUR), resources=resources)
    # a: both synced at T0 (its first syncs done); b: new, never synced.
    for resource in resources:
        await record_slice(
            registry, "a", resource, started=T0, ended=T0 + 1, calls=1, changes=0, done=True
        )
    targets = FreshnessTargets(risk=0)
    config = config_for(registry.schema, freshness=targets)
    app = build_app(config)
    await ensure_schema(app, config)
    quota = HourlyQuota(limit=500, reserve=50)
    async with app.open_async():
        planned = await freshness_tick(app, registry, quota, targets, now=T0 + 600)
        # a's appointments are 10 minutes old (5m target); its offices (1d) are fresh; b's
        # two first syncs are queued whatever the budget.
        assert [(s.practice, s.resource, s.kind) for s in planned.syncs] == [
            ("b", "appointments", "backfill"),
            ("b", "offices", "backfill"),
            ("a", "appointments", "poll"),
        ]
        assert planned.feasibility.feasible
        assert await jobs(registry.schema) == [
            ("a", "appointments"),
            ("b", "appointments"),
            ("b", "offices"),
        ]
        # The next tick leaves them to their jobs, waiting still: nothing planned twice.
        again = await freshness_tick(app, registry, quota, targets, now=T0 + 660)
        assert again.syncs == ()
        assert len(await jobs(registry.schema)) == 3
        # Targets a quota of 20 an hour cannot meet: a warning naming the quota that would.
        tight = FreshnessTargets({"appointments": 10}, risk=0)
        with caplog.at_level(logging.WARNING, logger="drchrono_async.fleet"):
            report = (
                await freshness_tick(
                    app, registry, HourlyQuota(limit=20, reserve=2), tight, now=T0 + 700
                )
            ).feasibility
    assert not report.feasible and report.needed_limit > 20
    (line,) = [r.getMessage() for r in caplog.records if "NOT feasible" in r.getMessage()]
    assert f"a quota of {report.needed_limit} calls per window" in line


def test_the_app_ticks_with_freshness_and_runs_the_naive_schedule_without() -> None:
    naive = build_app(config_for("tf_naive", every=15))
    fresh = build_app(config_for("tf_fresh", freshness=FreshnessTargets(tick=10)))
    crons = {
        key[1]: task.cron
        for app in (naive, fresh)
        for key, task in app.periodic_registry.periodic_tasks.items()
    }
    assert crons == {"all": "*/15 * * * *", "freshness": "* * * * * */10"}


async def test_a_worker_by_freshness_backfills_records_and_exits_when_done(
    registry: PracticeRegistry, redis_key: str
) -> None:
    from tests.ratelimit.conftest import REDIS_URL
    from tests.test_cli_operating import cli

    emu = Emulator(seed=32, sizes={"patients": 12, "doctors": 2})
    async with emu.serve() as url:
        token = Token(emu.access_token, "rt_unused_0123456789", emu.clock.now() + 86_400)
        await registry.add(
            "acme", token, base_url=url, resources=["doctors", "patients"], auth="fixed"
        )
        code, _, err = await cli(
            "worker", "--store", POSTGRES_DSN, "--schema", registry.schema,
            "--redis", REDIS_URL, "--quota-key", f"{redis_key}:quota",
            "--freshness", "patients=5m,default=1d", "--exit-when-done", "--poll", "0.2",
            "--heartbeat", "1s", "--stalled-after", "5s",
        )  # fmt: skip
    assert code == 0, err
    assert "by freshness" in err and "freshness tick: 2 syncs planned (2 queued)" in err
    states = await load_states(registry)
    assert {pair for pair, s in states.items() if s.backfilled} == {
        ("acme", "doctors"),
        ("acme", "patients"),
    }


async def test_a_bad_freshness_spec_exits_2_naming_it(fleet_schema: str) -> None:
    from tests.ratelimit.conftest import REDIS_URL
    from tests.test_cli_operating import cli, one_line

    code, _, err = await cli(
        "worker", "--store", POSTGRES_DSN, "--schema", fleet_schema, "--redis", REDIS_URL,
        "--freshness", "appointmentz=5m",
    )  # fmt: skip
    assert code == 2
    assert "--freshness appointmentz: not a resource or class; did you mean appointments" in (
        one_line(err)
    )
