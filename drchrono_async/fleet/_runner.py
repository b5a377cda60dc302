"""One slice of one practice's resource: the body of the `sync_resource` job.

A slice syncs one resource of one practice until it is up to date, or until it has spent
`slice_pages` pages (then it yields: the job is deferred again, behind the other practices'
jobs), or until the quota has no permit within `max_wait` (then it is deferred to when the
quota resets). Progress is the store's checkpoint, written with each page: whatever stops a
slice, the next one resumes from the last whole page. Each slice's calls and the rows it
wrote are recorded for the freshness planner (`_freshness_state`), counts only.
"""

from __future__ import annotations

import asyncio
import enum
import logging
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

import attrs

from .._client import DrChronoClient
from ..errors import DrChronoError, StoreError
from ..oauth import OAuthApp
from ..sync import Outcome as SyncOutcome
from ..sync import ResourceReport, Syncer
from ._freshness import FreshnessTargets
from ._freshness_state import record_slice
from ._registry import Practice, PracticeRegistry
from ._routing import OWNER_RESOURCES
from ._webhooks import learn_owners

if TYPE_CHECKING:
    from ..ratelimit import Quota

__all__ = ["FleetRuntime", "Outcome", "SliceResult"]

logger = logging.getLogger("drchrono_async.fleet")

# The fleet's requests are background work: they yield the quota to interactive callers.
PRIORITY = "background"


class Outcome(enum.Enum):
    """How a slice ended, and so what becomes of its job."""

    DONE = "done"  # up to date: the periodic schedule brings the next sync
    YIELDED = "yielded"  # spent its calls: deferred again now, behind the others
    QUOTA = "quota"  # no permit this window: deferred to the reset
    STOPPED = "stopped"  # the worker is shutting down: deferred again now, for any worker
    INACTIVE = "inactive"  # the practice was removed (or never registered)


@attrs.frozen
class SliceResult:
    outcome: Outcome
    calls: int
    retry_at: float | None = None  # epoch seconds, with Outcome.QUOTA


class FleetJobError(DrChronoError):
    """A slice failed for a reason a retry may cure (network, server, store)."""


@attrs.define
class FleetRuntime:
    """What every job of a worker process shares: the registry, the quota, the OAuth app."""

    registry: PracticeRegistry
    quota: Quota
    slice_pages: int = 20
    max_wait: float = 30.0
    quota_window: float = 3600.0
    oauth: Callable[[str], OAuthApp] | None = None  # base URL -> the app; None: no refresh
    shards: int = 1  # Syncer(shards=...): windows a first backfill's past is cut into
    freshness: FreshnessTargets | None = None  # the targets slices are recorded against
    webhooks: bool = False  # webhooks deliver changes: a webhook-covered poll is a sweep
    clock: Callable[[], float] = time.time  # epoch seconds, for the freshness record
    # Syncer(full_every=...): a resource without `since` is listed only when that much has
    # passed since its last full listing, whatever the schedule. None: 0 with `freshness`
    # (the planner decides when a poll is due, so every poll lists), else the Syncer's
    # default, a day.
    full_every: float | None = None
    _running: set[Syncer] = attrs.field(factory=set, init=False)
    stopping: bool = attrs.field(default=False, init=False)

    def stop(self) -> None:
        """Let every running slice finish its current page, then end it."""
        self.stopping = True
        for syncer in list(self._running):
            syncer.stop()

    async def sync_slice(self, key: str, resource: str) -> SliceResult:
        """Sync `resource` of practice `key` for one slice; see the module's docstring."""
        practice = await self.registry.get(key)
        if practice is None or not practice.active:
            return SliceResult(Outcome.INACTIVE, 0)
        if self.stopping:
            return SliceResult(Outcome.STOPPED, 0)
        calls = 0
        yielded = False
        started = self.clock()
        finished: ResourceReport | None = None
        store = self.registry.data_store(key)
        await store.open()
        try:
            async with await self._client(practice) as client:
                syncer: Syncer

                def progress(report: ResourceReport) -> None:
                    nonlocal yielded
                    if report.pages >= self.slice_pages and not yielded:
                        yielded = True
                        syncer.stop()  # the page is written; the rest waits its turn

                syncer = Syncer(
                    client,
                    store,
                    resources=[resource],
                    progress=progress,
                    shards=self.shards,
                    full_every=self._full_every(),
                )
                self._running.add(syncer)
                if self.stopping:
                    syncer.stop()
                try:
                    report = await syncer.run()
                finally:
                    self._running.discard(syncer)
                calls = report.calls
                (finished,) = report.resources
                snapshot = self.quota.snapshot()
            if resource in OWNER_RESOURCES:  # the practice's doctors, offices, users: owners
                await learn_owners(self.registry, key, resource, store)
        finally:
            await store.aclose()
            await self._account(key, calls, finished, started)
        (result,) = report.resources
        ended = result.outcome
        if ended in (SyncOutcome.DONE, SyncOutcome.SKIPPED):
            return SliceResult(Outcome.DONE, calls)
        if ended is SyncOutcome.QUOTA:
            # When the quota expects a permit for background work: for a window spent down to
            # the interactive reserve, the reserve's release, not the reset, so the rest of
            # the window is still spent.
            retry_at = result.retry_at
            if retry_at is None:
                retry_at = max(snapshot.resets_at, snapshot.paused_until or 0.0)
            return SliceResult(Outcome.QUOTA, calls, retry_at)
        if ended is SyncOutcome.STOPPED:
            return SliceResult(
                Outcome.STOPPED if self.stopping and not yielded else Outcome.YIELDED, calls
            )
        # The error's class name only: a report never holds a value.
        cause = result.error_type.__name__ if result.error_type is not None else "unknown"
        raise FleetJobError(f"sync of {resource} for practice {key} failed: {cause}")

    async def _account(
        self, key: str, calls: int, result: ResourceReport | None, started: float
    ) -> None:
        # The calls counted for fairness and the slice recorded for freshness: at once (two
        # round trips of a slice that may be a single page).
        steps: list[Awaitable[object]] = []
        if calls:
            steps.append(self.registry.spend(key, calls, window=self.quota_window))
        if result is not None:
            steps.append(self._record(key, result, started))
        for outcome in await asyncio.gather(*steps, return_exceptions=True):
            if isinstance(outcome, BaseException):
                raise outcome

    async def _record(self, key: str, result: ResourceReport, started: float) -> None:
        # The planner's memory; a failure to record costs at most an early poll, so it is
        # logged, not raised (the slice's rows and checkpoint are written).
        try:
            await record_slice(
                self.registry,
                key,
                result.resource,
                started=started,
                ended=self.clock(),
                calls=result.calls,
                # Rows re-listed as the store held them count `unchanged`, not `written`,
                # and rows written at the version held (the verbose keys a webhook's object
                # lacks) `revised`: a sweep over what webhooks applied finds no change.
                changes=result.written - result.revised + result.deleted,
                done=result.outcome in (SyncOutcome.DONE, SyncOutcome.SKIPPED),
                targets=self.freshness,
                webhooks=self.webhooks,
            )
        except StoreError as exc:
            logger.warning(
                "fleet: recording %s of practice %s for freshness failed (%s)",
                result.resource,
                key,
                type(exc).__name__,
            )

    def _full_every(self) -> float:
        if self.full_every is not None:
            return self.full_every
        return 0.0 if self.freshness is not None else 86_400.0

    async def _client(self, practice: Practice) -> DrChronoClient:
        options: dict[str, Any] = {
            "base_url": practice.base_url,
            "quota": self.quota,
            "max_wait": self.max_wait,
            "timezone": practice.timezone,
            "priority": PRIORITY,  # background: behind the web backend's interactive calls
        }
        tokens = self.registry.token_store(practice.key)
        if practice.auth == "oauth" and self.oauth is not None:
            return DrChronoClient(
                oauth=self.oauth(practice.base_url), token_store=tokens, **options
            )
        token = await tokens.load()
        if token is None:
            raise FleetJobError(f"practice {practice.key} has no token in the registry")
        return DrChronoClient(token.access_token, **options)
