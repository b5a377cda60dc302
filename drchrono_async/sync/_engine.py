"""`Syncer`: copies a practice into a `SyncStore`, incrementally and exactly.

Each resource's state is its checkpoint (`_state.Checkpoint`: typed, versioned, migrated on
load), kept in the store beside its rows and written in the same transaction as every page:
the `since` watermark, the listing in progress (its chains, each with its saved `next` link,
so that a crash re-fetches at most one page per chain), and when the backfill, the last full
listing and the last reconciliation completed. Which listing a run makes: `_planning`; the
listing itself: `_listing`.

Soft-deleted and archived records are listed too (`show_archived`), and kept with the
deleted marker. A page that fails stops its resource where its checkpoint is; the report
then says "incomplete" and what is left, and the run is not complete.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

from .. import metrics
from .._checks import check_int, check_number
from .._endpoints import BY_NAME, Endpoint
from ..errors import (
    DrChronoError,
    InvalidRequestError,
    PermissionDeniedError,
    QuotaExhaustedError,
    RateLimitError,
)
from ..ratelimit import PriorityLike
from ._apply import apply_event
from ._failfast import FailFast
from ._listing import Listing, Stopped, first_error
from ._locks import check_wait
from ._plan import PlanItem, SyncPlan, plan_item, quota_settings
from ._planning import SyncSettings, default_verbose, new_listing, shown, windowed
from ._refresh import refresh
from ._report import Outcome, ResourceReport, SyncReport
from ._rows import ensure_table
from ._state import Checkpoint, ListingState, RunRecord, dump, load
from ._store import SyncStore, WriteResult

if TYPE_CHECKING:
    from .._client import DrChronoClient
    from ..webhooks import WebhookEvent

__all__ = ["DEFAULT_RESOURCES", "PlanItem", "SyncPlan", "Syncer", "syncable"]

logger = logging.getLogger("drchrono_async.sync")

_ANYTIME_FILTERS = frozenset({"since", "date", "date_range"})
_YEAR = 366 * 86_400  # the bound of every period in seconds

Progress = Callable[[ResourceReport], None]


def syncable(endpoint: Endpoint) -> bool:
    """Copied by the sync: data of its own (the table's `not_synced` says why not), listable,
    and every required filter met by a date or by the endpoint's `sync_listings`."""
    if endpoint.not_synced is not None or "GET" not in endpoint.methods:
        return False
    if endpoint.record_type is None:
        return False
    given = set().union(*(set(listing) for listing in endpoint.sync_listings))
    return all(set(group) & (_ANYTIME_FILTERS | given) for group in endpoint.required_filters)


def not_synced(endpoint: Endpoint) -> str | None:
    """Why `endpoint` is not copied, in words; None when it is."""
    if syncable(endpoint):
        return None
    if endpoint.not_synced is not None:
        return endpoint.not_synced
    return "no listing a sync can make"  # pragma: no cover  (the table says every reason)


DEFAULT_RESOURCES: tuple[str, ...] = tuple(e.name for e in BY_NAME.values() if syncable(e))


class Syncer:
    """Copies a practice's records into `store`, and keeps them current run after run.

    Args:
        client: an open `DrChronoClient` (its quota, retries and timezone are used).
        store: an open `SyncStore` (`SQLiteStore`, `PostgresStore`).
        resources: endpoint names to sync; default every endpoint listable without a
            per-patient fan-out (`DEFAULT_RESOURCES`).
        overlap: seconds subtracted from the listing's start for the next `since` (the
            API's lists may be seconds behind its writes).
        full_every: seconds between full listings of endpoints without a usable `since`.
        reconcile_every: seconds between reconciliations (full listings that find records
            that vanished) of endpoints listed by `since`.
        backfill_from: the earliest date a backfill by `date_range` asks for.
        backfill_ahead: days after today a backfill by `date_range` reaches (records further
            ahead arrive with the reconciliation that first sees them within reach).
        shards: how many windows the past of a backfill is cut into; above 1, a one-record
            probe first finds the earliest record, the past from there is cut into equal
            spans (the probe costs one call), and these and the future's windows are fetched
            concurrently. 1: one window after another.
        concurrency: how many resources sync at once.
        confirm_limit: the most vanished ids one reconciliation checks (one GET each).
        granted_scopes: the scopes the token was granted, where the client cannot tell (a
            fixed access token); an OAuth client's token says them itself. Resources that
            need another scope are skipped and reported, never listed: the live API can
            answer an empty list for a scope it was not granted.
        priority: the quota lane of the sync's calls: "background" (the default) leaves
            the interactive reserve and the head of the queue to a web backend's requests
            on the same quota.
        progress: called with a resource's report after each page it writes.
        wait_lock: seconds `run()` waits for the store's sync lock of its resources while
            another sync holds it, before it raises `StoreLockedError` having done nothing.
        verbose: which resources are listed with `verbose=true`, which brings keys plain
            listings leave out (appointments' vitals and clinical note, patients' insurances,
            allergies' description, clinical notes' values...) at the price of smaller pages
            (50 records instead of 250: about five times the calls of a backfill). None (the
            default): every resource with such keys, since a copy is for all of a practice's
            data; True: the same; False: none; or the names of those to list verbosely. A
            resource copied without verbose is listed again in full once it is asked for;
            `plan()` shows each listing's verbosity, page size and calls.
    """

    def __init__(
        self,
        client: DrChronoClient,
        store: SyncStore,
        *,
        resources: Iterable[str] | None = None,
        overlap: float = 300.0,
        full_every: float = 86_400.0,
        reconcile_every: float = 86_400.0,
        backfill_from: dt.date = dt.date(2010, 1, 1),
        backfill_ahead: int = 380,
        shards: int = 1,
        concurrency: int = 4,
        confirm_limit: int = 50,
        granted_scopes: Iterable[str] | None = None,
        priority: PriorityLike = "background",
        progress: Progress | None = None,
        wait_lock: float = 0.0,
        verbose: bool | Iterable[str] | None = None,
    ) -> None:
        names = DEFAULT_RESOURCES if resources is None else tuple(resources)
        if isinstance(resources, str):
            raise InvalidRequestError("resources must be a list of endpoint names")
        unknown = [n for n in names if n not in BY_NAME or not syncable(BY_NAME[n])]
        if unknown or not names:
            raise InvalidRequestError(
                "resources must name endpoints that can be synced"
                + (f"; not these: {', '.join(sorted(map(str, unknown))[:10])}" if unknown else "")
            )
        for label, value in (
            ("overlap", overlap),
            ("full_every", full_every),
            ("reconcile_every", reconcile_every),
        ):
            check_number(
                value, label, low=0, high=_YEAR, kind="a number of seconds", tail=" (a year)"
            )
        shards = check_int(shards, "shards", low=1, high=256)
        concurrency = check_int(concurrency, "concurrency", low=1, high=256)
        # Days: a date range beyond a date's reach (year 9999) would overflow, not refuse.
        backfill_ahead = check_int(
            backfill_ahead, "backfill_ahead", low=0, high=3_660, tail=" (days, ten years)"
        )
        # One GET each, and the stores list at most a million stale ids at once.
        confirm_limit = check_int(confirm_limit, "confirm_limit", low=0, high=1_000_000)
        if not isinstance(backfill_from, dt.date) or isinstance(backfill_from, dt.datetime):
            raise InvalidRequestError("backfill_from must be a date")
        if isinstance(granted_scopes, str):
            granted_scopes = granted_scopes.split()
        scopes = None if granted_scopes is None else frozenset(granted_scopes)
        if scopes is not None and not all(isinstance(g, str) and 0 < len(g) <= 100 for g in scopes):
            raise InvalidRequestError("granted_scopes must be scope names")
        self.granted_scopes = scopes
        self.client = client.with_options(priority=priority)
        self.store = store
        self.endpoints = tuple(BY_NAME[n] for n in dict.fromkeys(names))
        self.settings = SyncSettings(
            overlap=float(overlap),
            full_every=float(full_every),
            reconcile_every=float(reconcile_every),
            backfill_from=backfill_from,
            backfill_ahead=backfill_ahead,
            shards=shards,
            confirm_limit=confirm_limit,
            verbose=_verbose(verbose, self.endpoints),
        )
        self.concurrency = concurrency
        self._progress = progress
        self.wait_lock = check_wait(wait_lock)
        self._stopping = False
        self._counted: dict[str, int] = {}  # rows written this run and given to metrics
        self._run_state = FailFast()

    def stop(self) -> None:
        """Finish each running resource's current page (its transaction), then stop the run.

        `run()` then returns a report marking those resources incomplete, to resume from
        their checkpoints. For SIGINT/SIGTERM handlers.
        """
        self._stopping = True

    async def apply(self, event: WebhookEvent) -> WriteResult | None:
        """Write a webhook event into this syncer's store: `sync.apply_event(store, event,
        client=...)` with this syncer's client.

        Through the same upsert rule as the sync, so a redelivery carrying an older object
        never rolls newer data back; a record without a version is fetched with one GET, in
        the sync's quota lane (background by default: a burst of deliveries never takes the
        interactive reserve).
        """
        return await apply_event(self.store, event, client=self.client)

    # -- planning -------------------------------------------------------------------------------

    async def plan(self) -> SyncPlan:
        """What the next run will list, and the calls it costs at least, before sending any.

        The API does not say how many records a listing holds, so a first backfill is costed
        at one call per window (its floor); a listing in progress at one call per unfinished
        chain, with an estimate from its pages so far for a backfill; an endpoint copied
        before at one call per page of what the store holds. The quota's limit, rate and
        burst and the syncer's `shards` go with it (`SyncPlan.quota_hours`, `.seconds`).
        """
        items = []
        today = dt.datetime.fromtimestamp(self.server_now(), self.client.timezone).date()
        for endpoint in self.endpoints:
            cp = load(endpoint.name, await self.store.checkpoint(endpoint.name))
            listing = cp.listing or self._next_listing(endpoint, cp)
            if listing is None:
                items.append(PlanItem(endpoint.name, "", 0))
                continue
            held = 0
            if listing.kind != "incremental" and listing.start is None:
                held = await self.store.count(endpoint.name)
            items.append(plan_item(endpoint, listing, held, today))
        limit, rate, burst = quota_settings(self.client.quota)
        return SyncPlan(tuple(items), limit, rate, burst, self.settings.shards)

    # -- the run --------------------------------------------------------------------------------

    async def run(self) -> SyncReport:
        """Sync every resource once; returns what was done and what is left.

        Holds the store's sync lock of its resources for the run: a second sync of any of
        them on the same store waits `wait_lock` seconds, then raises `StoreLockedError`.
        """
        async with self.store.lock([e.name for e in self.endpoints], wait=self.wait_lock):
            return await self._run()

    async def _run(self) -> SyncReport:
        started = self.client.clock.now()
        self._counted = {}
        reports = [ResourceReport(e.name) for e in self.endpoints]
        missing = await self._missing_scopes()
        gate = asyncio.Semaphore(self.concurrency)
        run = self._run_state = FailFast()  # see _failfast: one resource until an answer

        async def one(endpoint: Endpoint, report: ResourceReport) -> None:
            if missing.get(endpoint.name):
                report.status, report.outcome = "skipped", Outcome.SKIPPED
                report.reason = f"scope not granted: {', '.join(sorted(missing[endpoint.name]))}"
                self._report_progress(report)  # a view shows it as it shows the others
                return
            async with gate:
                await run.turn()
                if self._stopping or run.halted is not None:
                    report.status, report.outcome = "incomplete", Outcome.STOPPED
                    report.reason = "stopped before it started"
                    if run.halted is not None:
                        report.error_type = type(run.halted)
                        why = type(run.halted).__name__
                        report.reason = f"not started: the run stopped ({why})"
                    return
                await self._sync_resource(endpoint, report)

        try:
            async with asyncio.TaskGroup() as group:
                for endpoint, report in zip(self.endpoints, reports, strict=True):
                    group.create_task(one(endpoint, report))
        except ExceptionGroup as failed:
            raise first_error(failed) from None
        return SyncReport(tuple(reports), self.client.clock.now() - started, halted=run.halted)

    async def _missing_scopes(self) -> dict[str, set[str]]:
        """Per resource, the scopes it needs that the token was not granted ({} if unknown).

        A missing scope can answer an empty list instead of 403: an empty answer must never
        be taken for "no data", so such resources are reported as skipped up front.
        """
        granted = self.granted_scopes or await self.client.granted_scopes()
        if granted is None:
            return {}
        # Grants read `patients:read`, `patients:write` or plain `patients`: a sync reads.
        bases = {g.removesuffix(":read").removesuffix(":write") for g in granted}
        out: dict[str, set[str]] = {}
        for endpoint in self.endpoints:
            need = set(endpoint.scopes)
            if need - bases:
                out[endpoint.name] = need - bases
        return out

    async def _sync_resource(self, endpoint: Endpoint, report: ResourceReport) -> None:
        clock = self.client.clock
        started = clock.now()
        report.status = "running"
        failure: DrChronoError | None = None
        # Counts this resource's requests, in the tasks its chains start too.
        with self.client.count_calls() as count:

            def progress(r: ResourceReport) -> None:
                r.calls = count.calls  # live, so the display's calls add up to the quota's
                self._run_state.answered()  # a page was written: the server answers
                self._report_progress(r)

            try:
                await ensure_table(self.store, endpoint)
                checkpoint = load(endpoint.name, await self.store.checkpoint(endpoint.name))
                listing = checkpoint.listing
                if listing is None:
                    earliest = None
                    if (
                        self.settings.shards > 1
                        and windowed(endpoint)
                        and not (checkpoint.backfilled)
                    ):
                        earliest = await self._probe_earliest(endpoint)
                    listing = self._next_listing(endpoint, checkpoint, earliest=earliest)
                if listing is not None:
                    report.mode = listing.kind
                    await Listing(
                        client=self.client,
                        store=self.store,
                        endpoint=endpoint,
                        checkpoint=checkpoint,
                        listing=listing,
                        report=report,
                        settings=self.settings,
                        stopping=lambda: self._stopping or self._run_state.halted is not None,
                        progress=progress,
                    ).run()
                await self._refresh_stale(endpoint, report)
                report.status = "complete" if listing is not None else "up to date"
                report.outcome = Outcome.DONE
            except Stopped:
                report.status, report.outcome = "incomplete", Outcome.STOPPED
                report.reason = "stopped; resumes from its checkpoint"
            except PermissionDeniedError as exc:
                report.status, report.outcome = "skipped", Outcome.SKIPPED
                report.error_type = type(exc)
                report.reason = "403: the token's scopes or the user's permissions do not allow it"
            except DrChronoError as exc:
                failure = exc
                report.status = "incomplete"
                report.error_type = type(exc)
                report.reason = f"{type(exc).__name__}; resumes from its checkpoint"
                # The hour being spent is the quota doing its job, not a fault: info, not
                # warning.
                level = logging.WARNING
                report.outcome = Outcome.FAILED
                if isinstance(exc, (QuotaExhaustedError, RateLimitError)):
                    level = logging.INFO
                    report.outcome = Outcome.QUOTA
                    if isinstance(exc, QuotaExhaustedError):
                        report.retry_at = exc.resets_at
                logger.log(level, "sync: %s stopped: %s", endpoint.name, type(exc).__name__)
            finally:
                report.seconds = clock.now() - started
        report.calls = count.calls
        self._run_state.ended(calls=count.calls, error=failure)
        await self._record_run(endpoint, report)
        self._report_progress(report)

    async def _record_run(self, endpoint: Endpoint, report: ResourceReport) -> None:
        """Keep how the run ended in the checkpoint (`last_run`), for `status`: read afresh
        from the store, never from the listing's state in memory, which may be ahead of
        what a failed write left stored."""
        if report.outcome is None:
            return
        done_ago = None  # for metrics: how long ago the copy was last complete
        try:
            cp = load(endpoint.name, await self.store.checkpoint(endpoint.name))
            previous = cp.last_run.done_at if cp.last_run is not None else None
            now = self.server_now()
            cp.last_run = RunRecord(
                finished_at=now,
                outcome=report.outcome.value,
                error=report.error_type.__name__ if report.error_type is not None else None,
                calls=report.calls,
                records=report.records,
                done_at=now if report.outcome is Outcome.DONE else previous,
                written=report.written,
                unchanged=report.unchanged,
                deleted=report.deleted,
            )
            await self.store.write(endpoint.name, [], checkpoint=dump(cp))
            if cp.last_run.done_at is not None:
                done_ago = now - cp.last_run.done_at
        except DrChronoError as exc:  # the run's own outcome stands; only the record is lost
            logger.warning("sync: %s: its run could not be recorded (%s)", endpoint.name,
                           type(exc).__name__)  # fmt: skip
        if (recorder := metrics.active) is not None:
            recorder.run_ended(endpoint.name, report.outcome.value, done_ago)

    async def _refresh_stale(self, endpoint: Endpoint, report: ResourceReport) -> None:
        """GET the rows webhooks marked stale (records without a version), up to
        `confirm_limit` a run; the rest wait for the next. Where no route reads one record,
        the endpoint's listings are what refresh them."""
        if not endpoint.sync_key.gettable:
            return
        ids = await self.store.stale_ids(endpoint.name, limit=self.settings.confirm_limit)
        if not ids:
            return
        report.add(await refresh(self.client, self.store, endpoint, ids))

    def _next_listing(
        self, endpoint: Endpoint, cp: Checkpoint, *, earliest: dt.date | None = None
    ) -> ListingState | None:
        return new_listing(
            endpoint,
            cp,
            now=self.server_now(),
            tz=self.client.timezone,
            settings=self.settings,
            earliest=earliest,
        )

    async def _probe_earliest(self, endpoint: Endpoint) -> dt.date | None:
        """The date of the first record the past's listing returns (one call), or None."""
        today = dt.datetime.fromtimestamp(self.server_now(), self.client.timezone).date()
        start = self.settings.backfill_from
        if not start < today:
            return None
        span = f"{start.isoformat()}/{(today - dt.timedelta(days=1)).isoformat()}"
        field = endpoint.filter_field("date_range")
        listing = getattr(self.client, endpoint.name).list(
            date_range=span, page_size=1, prefetch=0, **shown(endpoint)
        )
        async for page in listing.pages():
            for record in page.results:
                value = getattr(record, field, None)
                if isinstance(value, dt.datetime):
                    return value.date()
                if isinstance(value, dt.date):
                    return value
            break
        return None

    def server_now(self) -> float:
        """The API server's time, as the client's responses' `Date` headers say."""
        return self.client.server_time()

    def _report_progress(self, report: ResourceReport) -> None:
        if (recorder := metrics.active) is not None:
            # Metrics count rows as pages land: the run's total so far, less what was given.
            given = self._counted.get(report.resource, 0)
            if report.written > given:
                recorder.rows_written(report.resource, report.written - given)
                self._counted[report.resource] = report.written
        if self._progress is not None:
            self._progress(report)


def _verbose(
    choice: bool | Iterable[str] | None, endpoints: tuple[Endpoint, ...]
) -> frozenset[str]:
    """The resources listed with verbose=true (see `Syncer`'s `verbose`)."""
    names = [e.name for e in endpoints]
    if choice is None:
        return frozenset(e.name for e in endpoints if default_verbose(e))
    if choice is True or choice is False:
        wanted = {e.name for e in endpoints if e.verbose_keys or e.sync_verbose}
        return frozenset(wanted) if choice else frozenset()
    if isinstance(choice, str) or not isinstance(choice, Iterable):
        raise InvalidRequestError("verbose must be True, False, None or endpoint names")
    chosen = list(choice)
    unknown = [n for n in chosen if n not in names]
    if unknown:
        raise InvalidRequestError(
            "verbose must name resources of this sync; not these: "
            + ", ".join(sorted(str(n) for n in unknown)[:10])
        )
    return frozenset(chosen)
