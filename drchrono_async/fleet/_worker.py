"""`run_worker`: one fleet worker process (any number may run, on any machines).

SIGINT/SIGTERM: every running slice finishes the page it is writing and its job is queued
again for any worker; then the worker deregisters and returns. `kill -9` (or a lost machine)
loses nothing either: the worker's heartbeat stops, and after `stalled_after` seconds a
living worker gives its jobs back to the queue; they resume from their checkpoints.

The worker says when the queue drains (every queued sync done, retries and quota waits
included: with `every=0`, the pass queued at its start), and with `exit_when_done` returns
then. A job that fails with a typed error (the quota's Redis down, a database away) is one
log line naming the error and its retry, not procrastinate's traceback per job.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from .._checks import check_int, check_number
from ..errors import DrChronoError, StoreError
from ..oauth import OAuthApp
from ._app import SYNC_TASK, FleetConfig, build_app, ensure_schema, schedule_all, stall_watch
from ._registry import PracticeRegistry
from ._runner import FleetRuntime
from ._tick import freshness_tick

if TYPE_CHECKING:
    from ..ratelimit import Quota

__all__ = ["run_worker"]

logger = logging.getLogger("drchrono_async.fleet")


async def run_worker(
    config: FleetConfig,
    quota: Quota,
    *,
    concurrency: int = 4,
    oauth: Callable[[str], OAuthApp] | None = None,
    signals: bool = True,
    stop: asyncio.Event | None = None,
    poll: float = 1.0,
    exit_when_done: bool = False,
    shards: int = 1,
    full_every: float | None = None,
) -> None:
    """Run a worker until SIGINT/SIGTERM (with `signals`) or until `stop` is set.

    Args:
        config: the fleet's settings (the same for every worker).
        quota: the quota every worker shares, normally one `RedisQuota` key.
        concurrency: jobs this worker runs at once.
        oauth: the `OAuthApp` for a practice's base URL (tokens are then refreshed,
            single-flight through the registry's lock); None: tokens are used as stored.
        poll: seconds between looks for due jobs. New jobs also arrive by LISTEN/NOTIFY,
            but a slice's follow-up waits on its own lock until the slice ends: the poll
            bounds that pause.
        exit_when_done: return once the queue holds no sync job (the drain is logged
            either way).
        shards: `Syncer(shards=...)` of each job: windows a first backfill's past is cut in.
        full_every: `Syncer(full_every=...)` of each job: seconds since a resource without
            `since` was last listed in full before a job lists it again (None: the Syncer's
            default, a day; a job before then does nothing for it).
    """
    check_int(concurrency, "concurrency", low=1, high=256)
    shards = check_int(shards, "shards", low=1, high=256)
    poll = check_number(poll, "poll", low=0.05, high=60, kind="a number of seconds")
    if full_every is not None:
        full_every = check_number(
            full_every, "full_every", low=0, high=366 * 86_400, kind="a number of seconds"
        )
    stop = stop or asyncio.Event()
    app = build_app(config)
    async with PracticeRegistry(config.dsn, schema=config.schema) as registry:
        runtime = FleetRuntime(
            registry,
            quota,
            slice_pages=config.slice_pages,
            max_wait=config.max_wait,
            quota_window=float(getattr(getattr(quota, "params", None), "window", 3600.0)),
            oauth=oauth,
            shards=shards,
            full_every=full_every,
            freshness=config.freshness,
            webhooks=config.webhooks,
        )
        await ensure_schema(app, config)
        try:
            await app.open_async()
        except Exception as exc:  # the pool's error may quote the connection string
            raise StoreError(f"opening the job queue failed ({type(exc).__name__})") from None
        try:
            if config.freshness is not None:  # the first tick now, not at the next minute
                await freshness_tick(
                    app,
                    registry,
                    quota,
                    config.freshness,
                    webhooks=config.webhooks,
                    window=runtime.quota_window,
                )
            else:
                await schedule_all(app, registry, window=runtime.quota_window)
            work = asyncio.create_task(
                app.run_worker_async(
                    concurrency=concurrency,
                    install_signal_handlers=False,
                    additional_context={"fleet": runtime},
                    update_heartbeat_interval=config.heartbeat,
                    stalled_worker_timeout=config.stalled_after,
                    fetch_job_polling_interval=poll,
                    # No timeout: on shutdown each slice ends after its current page.
                ),
                name="fleet worker",
            )
            watch = asyncio.create_task(stall_watch(app, config), name="fleet stall watch")
            drained = asyncio.create_task(
                watch_drain(app, min(5.0, max(0.2, poll * 2)), exit_when_done), name="drain"
            )
            with _on_signals(stop, signals), _one_line_failures():
                stopped = asyncio.create_task(stop.wait())
                await asyncio.wait({work, stopped, drained}, return_when=asyncio.FIRST_COMPLETED)
            stopped.cancel()
            watch.cancel()
            drained.cancel()
            runtime.stop()  # running slices end after their page and are queued again
            if not work.done():
                work.cancel()  # procrastinate then waits for the running jobs
            with contextlib.suppress(asyncio.CancelledError):
                await work
            with contextlib.suppress(asyncio.CancelledError):
                await watch
            with contextlib.suppress(asyncio.CancelledError):
                await drained
        finally:
            await app.close_async()


@contextlib.contextmanager
def _on_signals(stop: asyncio.Event, enabled: bool) -> Any:
    loop = asyncio.get_running_loop()
    sigs = (signal.SIGINT, signal.SIGTERM) if enabled else ()
    for sig in sigs:
        loop.add_signal_handler(sig, stop.set)
    try:
        yield
    finally:
        for sig in sigs:
            loop.remove_signal_handler(sig)


async def watch_drain(app: Any, interval: float, exit_when_done: bool) -> None:
    """Log each time the queue drains of sync jobs (none to do or doing); with
    `exit_when_done`, return then. A failed look is retried, never fatal."""
    busy = True  # the pass queued at the start
    while True:
        try:
            stats = await app.job_manager.list_tasks_async(task=SYNC_TASK)
            pending = sum(int(row["todo"]) + int(row["doing"]) for row in stats)
        except Exception as exc:  # the database away a moment: look again
            logger.warning("fleet: looking at the queue failed (%s)", type(exc).__name__)
            pending = -1
        if pending == 0 and busy:
            logger.info("fleet: pass done: every queued sync finished (none to do or doing)")
            if exit_when_done:
                return
        if pending >= 0:
            busy = pending > 0
        await asyncio.sleep(interval)


class _TypedFailures(logging.Filter):
    """procrastinate logs a failed job with its traceback: for a typed error of this
    library (expected: a database or Redis away, retried with back-off) one line instead,
    naming the error; its message is safe (no value, no secret)."""

    def filter(self, record: logging.LogRecord) -> bool:
        info = record.exc_info
        if info and isinstance(info[1], DrChronoError):
            record.msg = f"{record.getMessage()} ({type(info[1]).__name__}: {info[1]})"
            record.args = ()
            record.exc_info = None
        return True


@contextlib.contextmanager
def _one_line_failures() -> Any:
    target = logging.getLogger("procrastinate.worker")
    typed = _TypedFailures()
    target.addFilter(typed)
    try:
        yield
    finally:
        target.removeFilter(typed)
