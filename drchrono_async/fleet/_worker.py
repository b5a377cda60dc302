"""`run_worker`: one fleet worker process (any number may run, on any machines).

SIGINT/SIGTERM: every running slice finishes the page it is writing and its job is queued
again for any worker; then the worker deregisters and returns. `kill -9` (or a lost machine)
loses nothing either: the worker's heartbeat stops, and after `stalled_after` seconds a
living worker gives its jobs back to the queue; they resume from their checkpoints.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from .._checks import check_int, check_number
from ..errors import StoreError
from ..oauth import OAuthApp
from ._app import FleetConfig, build_app, ensure_schema, schedule_all, stall_watch
from ._registry import PracticeRegistry
from ._runner import FleetRuntime

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
    """
    check_int(concurrency, "concurrency", low=1, high=256)
    poll = check_number(poll, "poll", low=0.05, high=60, kind="a number of seconds")
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
        )
        await ensure_schema(app, config)
        try:
            await app.open_async()
        except Exception as exc:  # the pool's error may quote the connection string
            raise StoreError(f"opening the job queue failed ({type(exc).__name__})") from None
        try:
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
            with _on_signals(stop, signals):
                stopped = asyncio.create_task(stop.wait())
                await asyncio.wait({work, stopped}, return_when=asyncio.FIRST_COMPLETED)
            stopped.cancel()
            watch.cancel()
            runtime.stop()  # running slices end after their page and are queued again
            if not work.done():
                work.cancel()  # procrastinate then waits for the running jobs
            with contextlib.suppress(asyncio.CancelledError):
                await work
            with contextlib.suppress(asyncio.CancelledError):
                await watch
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
