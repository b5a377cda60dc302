"""The fleet's procrastinate app: the `sync_resource` job, its schedule, and the worker.

Why procrastinate: the queue lives in the PostgreSQL the fleet already needs (no broker to
run), and it provides each piece the fleet needs as a documented feature: `lock` (no two
jobs with one lock run at once, enforced by a unique index), `queueing_lock` (at most one
waiting job per lock), periodic deferral deduplicated across workers, and worker
heartbeats with `get_stalled_jobs` to find the jobs of a dead worker. (Retries are the
fleet's own: see `sync_resource`.)

Fairness: jobs are fetched by priority, then age. A job's priority is minus the calls its
practice has spent in the current quota window, so the next free worker slot goes to the
practice served least this window; and a job stops after `slice_pages` pages (one call each) and is
deferred again, so a long backfill holds a slot for one slice at a time.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import time
from typing import TYPE_CHECKING, Any

import attrs

from .. import metrics
from .._checks import check_int, check_number, needs_extra
from ..errors import InvalidRequestError, StoreError, TokenStoreError
from ..sync import DEFAULT_RESOURCES
from ..sync import pg_lock_key as lock_key
from ._freshness import FreshnessTargets
from ._registry import DEFAULT_SCHEMA, PracticeRegistry
from ._runner import FleetJobError, FleetRuntime, Outcome
from ._tick import TICK_TASK, TickLog, freshness_tick, tick_cron, tick_options

if TYPE_CHECKING:
    import procrastinate

__all__ = [
    "EVERY",
    "SYNC_TASK",
    "FleetConfig",
    "build_app",
    "defer_sync",
    "ensure_schema",
    "recover_stalled",
    "schedule_all",
]

logger = logging.getLogger("drchrono_async.fleet")

SYNC_TASK = "drchrono_async.fleet.sync_resource"
SCHEDULE_TASK = "drchrono_async.fleet.schedule"
_MIN_PRIORITY = -(2**31) + 1
_MAX_ATTEMPTS = 5  # runs of a failing sync before it is left to the periodic schedule
_RETRY_WAIT = 5.0  # seconds; the n-th retry waits _RETRY_WAIT ** n
# The periods (minutes) a cron schedule repeats evenly: `*/45` in the minute field fires at
# :00 and :45, 15 then 45 minutes apart, so only divisors of an hour, and whole hours that
# divide a day, keep the promise of `every`. 0: no schedule.
EVERY = (0, 1, 2, 3, 4, 5, 6, 10, 12, 15, 20, 30, 60, 120, 180, 240, 360, 480, 720, 1440)


def cron_of(every: int) -> str:
    """The cron expression that fires every `every` minutes (one of `EVERY` but 0)."""
    if every < 60:
        return f"*/{every} * * * *"
    hours = every // 60
    return f"0 */{hours} * * *" if hours < 24 else "0 0 * * *"


@attrs.frozen
class FleetConfig:
    """A fleet's settings; every worker of one fleet must use the same.

    Args:
        dsn: the PostgreSQL connection string (registry, job queue and practices' data).
        schema: the registry schema; procrastinate's tables are created in it too.
        every: minutes between scheduled syncs of every active practice and resource: a
            period a cron schedule repeats evenly, so minutes dividing an hour (1, 2, 3, 4,
            5, 6, 10, 12, 15, 20, 30) or whole hours dividing a day (60, 120, 180, 240, 360,
            480, 720, 1440); others are refused. 0: no schedule (a worker's start still
            queues one pass, as for a one-off backfill).
        slice_pages: pages a job writes before it yields its slot to the next practice.
        max_wait: seconds a job waits for a quota permit before it is deferred to the reset.
        heartbeat: seconds between a worker's heartbeats.
        stalled_after: seconds without a heartbeat after which a worker counts as dead and
            its running jobs are given to others.
        freshness: poll by freshness instead of by clock: a scheduler tick every
            `freshness.tick` seconds queues each (practice, resource) when its target calls
            for it, within the quota (see `FreshnessTargets`); `every` is then not used.
            None: the naive schedule of `every`.
        webhooks: the fleet receives DrChrono's webhooks into the practices' stores, so the
            resources they cover are only swept (every `freshness.sweep`), not polled.
    """

    dsn: str
    schema: str = DEFAULT_SCHEMA
    every: int = 15
    slice_pages: int = 20
    max_wait: float = 30.0
    heartbeat: float = 10.0
    stalled_after: float = 60.0
    freshness: FreshnessTargets | None = None
    webhooks: bool = False

    def __attrs_post_init__(self) -> None:
        if self.freshness is not None and not isinstance(self.freshness, FreshnessTargets):
            raise InvalidRequestError("freshness must be a FreshnessTargets or None")
        if not isinstance(self.webhooks, bool):
            raise InvalidRequestError("webhooks must be True or False")
        every = check_int(self.every, "every", low=0, high=1440, tail=" (minutes)")
        if every not in EVERY:
            raise InvalidRequestError(
                "every must be one of " + ", ".join(map(str, EVERY)) + " (minutes: a cron"
                " schedule repeats evenly only at a divisor of an hour or whole hours dividing"
                " a day; 0: none)"
            )
        check_int(self.slice_pages, "slice_pages", low=1, high=100_000)
        for name in ("max_wait", "heartbeat", "stalled_after"):
            check_number(
                getattr(self, name),
                name,
                low=0,
                low_open=True,
                high=86_400,
                kind="a number of seconds",
            )
        if self.stalled_after <= self.heartbeat:
            raise InvalidRequestError("stalled_after must exceed heartbeat")

    def __repr__(self) -> str:  # never the DSN: it may carry a password
        schedule = "freshness" if self.freshness is not None else f"every={self.every}"
        return f"FleetConfig(schema={self.schema!r}, {schedule}, webhooks={self.webhooks})"


def _connector(config: FleetConfig) -> Any:
    from procrastinate import PsycopgConnector  # build_app checked it is installed

    # The queue's tables and functions live in the registry schema (found via search_path).
    return PsycopgConnector(
        conninfo=config.dsn,
        kwargs={"options": f"-c search_path={config.schema}"},
        min_size=1,
        max_size=10,
    )


def build_app(config: FleetConfig) -> procrastinate.App:
    """The procrastinate app with the fleet's two tasks registered (not opened)."""
    with needs_extra("fleet", "the fleet"):
        import procrastinate

    app = procrastinate.App(connector=_connector(config))

    # Network, server and store failures: retried with back-off (5, 25, 125, 625 s), then left
    # to the periodic schedule. Quota waits and slices never count as failures. Not with
    # procrastinate's retry: it puts the failed job back to "todo" under its queueing lock,
    # which a waiting twin (a scheduled sync, a slice's follow-up) may hold; the retry then
    # fails and leaves the job "doing" for good, its lock barring the twin. A failed job
    # queues its retry as a new job instead (a waiting twin already is one), then fails.
    @app.task(name=SYNC_TASK, pass_context=True)
    async def sync_resource(
        context: procrastinate.JobContext, practice: str, resource: str, attempt: int = 0
    ) -> str:
        runtime: FleetRuntime = context.additional_context["fleet"]
        # Metrics of the job's calls and rows carry its practice (tasks it starts inherit it).
        labelled = metrics.practice.set(practice)
        try:
            result = await runtime.sync_slice(practice, resource)
        except (FleetJobError, StoreError, TokenStoreError) as exc:  # the token's read too
            if attempt + 1 >= _MAX_ATTEMPTS:
                metrics.job_failed(practice, resource, retried=False)
                raise FleetJobError(f"{exc}; no retry left ({_MAX_ATTEMPTS} runs)") from None
            wait = _RETRY_WAIT ** (attempt + 1)
            retry = await defer_sync(
                app,
                runtime.registry,
                practice,
                resource,
                window=runtime.quota_window,
                at=time.time() + wait,
                attempt=attempt + 1,
            )
            metrics.job_failed(practice, resource, retried=retry is not None)
            # One line says it all (the worker logs it without a traceback): what, and when
            # it is tried again.
            then = f"retry {attempt + 1} of {_MAX_ATTEMPTS - 1} in {wait:g} s"
            if retry is None:
                then = "the job already waiting runs it again"
            raise FleetJobError(f"{exc}; {then}") from None
        except Exception:
            metrics.job_failed(practice, resource, retried=False)
            raise
        finally:
            metrics.practice.reset(labelled)
        if result.outcome in (Outcome.YIELDED, Outcome.STOPPED):
            await defer_sync(app, runtime.registry, practice, resource, window=runtime.quota_window)
        elif result.outcome is Outcome.QUOTA:
            await defer_sync(
                app,
                runtime.registry,
                practice,
                resource,
                window=runtime.quota_window,
                at=result.retry_at,
            )
        return f"{result.outcome.value}: {result.calls} calls"

    async def schedule(context: procrastinate.JobContext, timestamp: int) -> int:
        runtime: FleetRuntime = context.additional_context["fleet"]
        return await schedule_all(app, runtime.registry, window=runtime.quota_window)

    task = app.task(name=SCHEDULE_TASK, pass_context=True)(schedule)
    targets = config.freshness
    if targets is None and config.every:  # 0: no schedule; a worker's start queues a pass
        app.periodic(cron=cron_of(config.every), periodic_id="all")(task)

    log = TickLog()

    async def tick(context: procrastinate.JobContext, timestamp: int) -> int:
        runtime: FleetRuntime = context.additional_context["fleet"]
        planned = await freshness_tick(
            app,
            runtime.registry,
            runtime.quota,
            targets or FreshnessTargets(),
            webhooks=config.webhooks,
            window=runtime.quota_window,
            log=log,
        )
        return len(planned.syncs)

    ticker = app.task(name=TICK_TASK, pass_context=True, **tick_options())(tick)
    if targets is not None:
        app.periodic(cron=tick_cron(targets.tick), periodic_id="freshness")(ticker)

    return app


async def defer_sync(
    app: procrastinate.App,
    registry: PracticeRegistry,
    practice: str,
    resource: str,
    *,
    window: float,
    at: float | None = None,
    attempt: int = 0,
) -> int | None:
    """Queue a sync of `resource` for `practice` (at epoch `at`, or now); its job id.

    None when one is already waiting (the queueing lock): that one will do. `attempt`: the
    retries of a failed sync so far.
    """
    from procrastinate import exceptions

    spent = await registry.spent(practice, window=window)
    lock = f"sync:{practice}:{resource}"
    options: dict[str, Any] = {
        "lock": lock,
        "queueing_lock": lock,
        "priority": max(_MIN_PRIORITY, -spent),  # least served this window first
    }
    if at is not None:
        # Bounded: a server-controlled reset time never parks a job for more than a day.
        delay = min(max(at - time.time(), 0.0), 86_400.0)
        options["schedule_at"] = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=delay)
    try:
        retry = {"attempt": attempt} if attempt else {}
        job_id: int = await app.configure_task(SYNC_TASK, **options).defer_async(
            practice=practice, resource=resource, **retry
        )
    except exceptions.AlreadyEnqueued:
        return None
    return job_id


async def schedule_all(app: procrastinate.App, registry: PracticeRegistry, *, window: float) -> int:
    """Queue a sync of every active practice's resources; how many were queued."""
    queued = 0
    for practice in await registry.practices(active_only=True):
        for resource in practice.sync_resources(DEFAULT_RESOURCES):
            if await defer_sync(app, registry, practice.key, resource, window=window):
                queued += 1
    return queued


async def ensure_schema(app: procrastinate.App, config: FleetConfig) -> bool:
    """Create the schema and procrastinate's tables if missing; True when it created them."""
    import psycopg
    from psycopg import sql

    try:
        conn = await psycopg.AsyncConnection.connect(config.dsn, autocommit=True)
        async with conn, conn.transaction():
            # One worker migrates; the others wait here, then find the tables.
            await conn.execute(
                "SELECT pg_advisory_xact_lock(%s)", (lock_key("fleet-migrate", config.schema),)
            )
            await conn.execute(
                sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(config.schema))
            )
            cur = await conn.execute(
                "SELECT to_regclass(%s)", (f'"{config.schema}".procrastinate_jobs',)
            )
            found = await cur.fetchone()
            if found is not None and found[0] is not None:
                return False
            await conn.execute(
                sql.SQL("SET LOCAL search_path TO {}").format(sql.Identifier(config.schema))
            )
            schema_sql = app.schema_manager.get_schema()
            await conn.execute(schema_sql)
            return True
    except psycopg.Error as exc:
        raise StoreError(f"migrating the job queue failed ({type(exc).__name__})") from None


async def recover_stalled(app: procrastinate.App, *, stalled_after: float) -> int:
    """Give the running jobs of dead workers (no heartbeat for `stalled_after` s) back.

    A job with a waiting twin (the same queueing lock) is marked failed instead: the twin
    resumes from the same checkpoint.
    """
    from procrastinate import exceptions, jobs

    manager = app.job_manager
    given = 0
    for job in await manager.get_stalled_jobs(seconds_since_heartbeat=stalled_after):
        if job.task_name != SYNC_TASK:
            continue
        try:
            await manager.retry_job(job)
            given += 1
        except exceptions.UniqueViolation:
            await manager.finish_job(job, status=jobs.Status.FAILED, delete_job=False)
        logger.info("fleet: job %s of a dead worker given back", job.id)
    return given


async def stall_watch(app: procrastinate.App, config: FleetConfig) -> None:
    """Every heartbeat, hand the jobs of dead workers to the living."""
    while True:
        try:
            await recover_stalled(app, stalled_after=config.stalled_after)
        except Exception as exc:  # retried next round; its text may quote values
            logger.warning("fleet: looking for dead workers' jobs failed: %s", type(exc).__name__)
        await asyncio.sleep(config.heartbeat)
