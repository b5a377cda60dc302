"""`Syncer`: copies a practice into a `SyncStore`, incrementally and exactly.

Each resource's state is its checkpoint, kept in the store beside its rows and written in the
same transaction as every page. A checkpoint holds:

- `watermark`: the practice-local wall time to list from with `since` next time: the server's
  time at the start of the last completed listing, minus `overlap`, lowered across an autumn
  fall-back (see `_watermark`);
- `listing`: while a listing runs, its chains (one per `date_range` window, else one), each
  with its query, the saved `next` link and whether it is done, and the listing's server
  start time. A crash resumes each chain from its link (from its start if the server no
  longer accepts the link), so at most one page per chain is fetched again;
- `backfilled`, `full_at`, `reconciled_at`: when the backfill, the last full listing and the
  last reconciliation completed (server epoch seconds).

Which listing a run makes, per resource:

- a listing in progress is resumed first;
- an endpoint listed by date (`date_range`) is backfilled in windows: the past in one window
  (the API takes any length wholly in the past), or in `shards` windows cut after a one-record
  probe finds where the records begin, and the future in windows of the longest span it
  accepts; afterwards it is listed incrementally with `since`. Each window ends on a partial
  page, so each costs up to one call above the minimum: few windows when calls are scarce
  (the default), more when the quota is plentiful and wall time matters;
- an endpoint whose `since` filters on updates: first a full listing, then `since` listings;
- every `reconcile_every` seconds a full listing instead, after which ids held but no longer
  listed are checked one by one (a 404 marks them deleted; they are never dropped);
- an endpoint without such a `since` is listed in full every `full_every` seconds.

Soft-deleted and archived records are listed too (`show_archived`), and kept with the
deleted marker. A page that fails stops its resource where its checkpoint is; the report
then says "incomplete" and what is left, and the run is not complete.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import math
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any

import attrs

from .._endpoints import BY_NAME, Endpoint
from .._transport import call_counter
from ..errors import (
    DrChronoError,
    InvalidRequestError,
    PermissionDeniedError,
    QuotaExhaustedError,
)
from ..ratelimit._priority import PriorityLike
from ..records._base import api_fields
from ..resources._query import split_date_range
from ._apply import apply_event
from ._listing import Listing, Stopped, first_error, since_on_updates, windowed
from ._locks import check_wait
from ._refresh import refresh
from ._report import Mode, ResourceReport, SyncReport
from ._rows import columns_for
from ._store import SyncStore, WriteResult

if TYPE_CHECKING:
    from .._client import DrChronoClient
    from ..webhooks import WebhookEvent

__all__ = ["DEFAULT_RESOURCES", "PlanItem", "SyncPlan", "Syncer", "syncable"]

logger = logging.getLogger("drchrono_async.sync")

# Reports and derived views, not data of their own.
_NOT_SYNCED = frozenset({"mu_2015_report", "patients_summary", "lab_orders_summary"})
_ANYTIME_FILTERS = frozenset({"since", "date", "date_range"})
_SHOW_ALL = ("show_archived", "show_inactive")

Progress = Callable[[ResourceReport], None]


def syncable(endpoint: Endpoint) -> bool:
    """Listable with no per-patient (or other) fan-out, and keyed by an id.

    No filter may be required but a date; records without an `id` (eligibility checks, task
    templates) cannot be kept in step, since nothing tells two of them apart.
    """
    record_type = endpoint.record_type
    if "GET" not in endpoint.methods or record_type is None:
        return False
    if endpoint.name in _NOT_SYNCED or "id" not in {f.name for f in api_fields(record_type)}:
        return False
    return all(set(group) & _ANYTIME_FILTERS for group in endpoint.required_filters)


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
        for label, value, low in (
            ("overlap", overlap, 0.0),
            ("full_every", full_every, 0.0),
            ("reconcile_every", reconcile_every, 0.0),
        ):
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not (
                low <= value < math.inf
            ):
                raise InvalidRequestError(f"{label} must be a finite number of seconds >= 0")
        for label, count in (("shards", shards), ("concurrency", concurrency),
                             ("backfill_ahead", backfill_ahead),
                             ("confirm_limit", confirm_limit)):  # fmt: skip
            if isinstance(count, bool) or not isinstance(count, int) or count < 0:
                raise InvalidRequestError(f"{label} must be a whole number >= 0")
        if shards < 1 or concurrency < 1:
            raise InvalidRequestError("shards and concurrency must be at least 1")
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
        self.overlap = float(overlap)
        self.full_every = float(full_every)
        self.reconcile_every = float(reconcile_every)
        self.backfill_from = backfill_from
        self.backfill_ahead = backfill_ahead
        self.shards = shards
        self.concurrency = concurrency
        self.confirm_limit = confirm_limit
        self._progress = progress
        self.wait_lock = check_wait(wait_lock)
        self._stopping = False

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
        chain; an endpoint copied before at one call per page of what the store holds.
        """
        items = []
        for endpoint in self.endpoints:
            cp = await self.store.checkpoint(endpoint.name) or {}
            listing = cp.get("listing") or self._new_listing(endpoint, cp)
            if listing is None:
                items.append(PlanItem(endpoint.name, "", 0))
                continue
            chains = [c for c in listing["chains"] if not c["done"]]
            calls = len(chains)
            if listing["kind"] in ("full", "reconcile") and not listing.get("start"):
                held = await self.store.count(endpoint.name) if cp else 0
                calls = max(calls, -(-held // endpoint.max_page_size))
            items.append(PlanItem(endpoint.name, listing["kind"], calls))
        limit = getattr(getattr(self.client.quota, "params", None), "limit", None)
        return SyncPlan(tuple(items), limit)

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
        reports = [ResourceReport(e.name) for e in self.endpoints]
        missing = await self._missing_scopes()
        gate = asyncio.Semaphore(self.concurrency)

        async def one(endpoint: Endpoint, report: ResourceReport) -> None:
            if missing.get(endpoint.name):
                report.status = "skipped"
                report.reason = f"scope not granted: {', '.join(sorted(missing[endpoint.name]))}"
                return
            async with gate:
                if self._stopping:
                    report.status, report.reason = "incomplete", "stopped before it started"
                    return
                await self._sync_resource(endpoint, report)

        try:
            async with asyncio.TaskGroup() as group:
                for endpoint, report in zip(self.endpoints, reports, strict=True):
                    group.create_task(one(endpoint, report))
        except ExceptionGroup as failed:
            raise first_error(failed) from None
        return SyncReport(tuple(reports), self.client.clock.now() - started)

    async def _missing_scopes(self) -> dict[str, set[str]]:
        """Per resource, the scopes it needs that the token was not granted ({} if unknown).

        A missing scope can answer an empty list instead of 403: an empty answer must never
        be taken for "no data", so such resources are reported as skipped up front.
        """
        granted = self.granted_scopes or await _granted_scopes(self.client)
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
        counter = [0]
        reset = call_counter.set(counter)  # tasks started below inherit it
        clock = self.client.clock
        started = clock.now()
        report.status = "running"
        try:
            assert endpoint.record_type is not None
            await self.store.ensure_resource(endpoint.name, columns_for(endpoint.record_type))
            checkpoint = await self.store.checkpoint(endpoint.name) or {}
            listing = checkpoint.get("listing")
            if listing is None:
                earliest = None
                if self.shards > 1 and windowed(endpoint) and not checkpoint.get("backfilled"):
                    earliest = await self._probe_earliest(endpoint)
                listing = self._new_listing(endpoint, checkpoint, earliest=earliest)
            if listing is not None:
                report.mode = listing["kind"]
                await Listing(self, endpoint, checkpoint, listing, report).run()
            await self._refresh_stale(endpoint, report)
            report.status = "complete" if listing is not None else "up to date"
        except Stopped:
            report.status = "incomplete"
            report.reason = "stopped; resumes from its checkpoint"
        except PermissionDeniedError:
            report.status = "skipped"
            report.reason = "403: the token's scopes or the user's permissions do not allow it"
        except DrChronoError as exc:
            report.status = "incomplete"
            report.reason = f"{type(exc).__name__}; resumes from its checkpoint"
            # The hour being spent is the quota doing its job, not a fault: info, not warning.
            level = logging.WARNING
            if isinstance(exc, QuotaExhaustedError):
                level = logging.INFO
                report.retry_at = exc.resets_at
            logger.log(level, "sync: %s stopped: %s", endpoint.name, type(exc).__name__)
        finally:
            call_counter.reset(reset)
            report.calls += counter[0]
            report.seconds = clock.now() - started
            self._report_progress(report)

    async def _refresh_stale(self, endpoint: Endpoint, report: ResourceReport) -> None:
        """GET the rows webhooks marked stale (records without a version), up to
        `confirm_limit` a run; the rest wait for the next."""
        ids = await self.store.stale_ids(endpoint.name, limit=self.confirm_limit)
        if not ids:
            return
        result = await refresh(self.client, self.store, endpoint, ids)
        report.written += result.written
        report.skipped += result.skipped
        report.deleted += result.marked_deleted
        report.misfits += result.misfits

    def _new_listing(
        self, endpoint: Endpoint, cp: Mapping[str, Any], *, earliest: dt.date | None = None
    ) -> dict[str, Any] | None:
        now = self.server_now()
        base: dict[str, Any] = {k: True for k in _SHOW_ALL if k in endpoint.filters}
        base["page_size"] = endpoint.max_page_size
        kind: Mode
        windows: list[dict[str, Any]]
        if windowed(endpoint) and not cp.get("backfilled"):
            kind = "backfill"
        elif since_on_updates(endpoint) and cp.get("watermark") is not None:
            due = now - float(cp.get("reconciled_at", -math.inf)) >= self.reconcile_every
            kind = "reconcile" if due else "incremental"
        elif since_on_updates(endpoint) or now - float(cp.get("full_at", -math.inf)) >= (
            self.full_every
        ):
            kind = "full"
        else:
            return None
        if kind == "incremental":
            windows = [{**base, "since": cp["watermark"]}]
        elif windowed(endpoint):
            spans = self._windows(endpoint, now, earliest if kind == "backfill" else None)
            windows = [{**base, "date_range": w} for w in spans]
        else:
            windows = [base]
        return {
            "kind": kind,
            "start": None,
            "fresh": True,  # False once resumed after a stop: vanished ids are not marked then
            "chains": [{"params": p, "next": None, "done": False} for p in windows],
        }

    def _windows(
        self, endpoint: Endpoint, now: float, earliest: dt.date | None = None
    ) -> list[str]:
        today = dt.datetime.fromtimestamp(now, self.client.timezone).date()
        spans: list[tuple[dt.date, dt.date]] = []
        if self.backfill_from < today:
            past = (self.backfill_from, today - dt.timedelta(days=1))
            if self.shards == 1 or earliest is None or not past[0] < earliest < past[1]:
                spans += split_date_range(past, today=today, shards=self.shards, limit_days=None)
            else:
                # Equal spans from the earliest record on; the first window still starts at
                # `backfill_from`, so a listing that is not in date order loses nothing.
                cut = split_date_range(
                    (earliest, past[1]), today=today, shards=self.shards, limit_days=None
                )
                spans += [(past[0], cut[0][1]), *cut[1:]]
        future = (max(today, self.backfill_from), today + dt.timedelta(days=self.backfill_ahead))
        spans += split_date_range(
            future, today=today, shards=None, limit_days=endpoint.date_range_max_days
        )
        return [f"{a.isoformat()}/{b.isoformat()}" for a, b in spans]

    async def _probe_earliest(self, endpoint: Endpoint) -> dt.date | None:
        """The date of the first record the past's listing returns (one call), or None."""
        today = dt.datetime.fromtimestamp(self.server_now(), self.client.timezone).date()
        if not self.backfill_from < today:
            return None
        span = f"{self.backfill_from.isoformat()}/{(today - dt.timedelta(days=1)).isoformat()}"
        field = endpoint.filter_field("date_range")
        shown = {k: True for k in _SHOW_ALL if k in endpoint.filters}
        resource = getattr(self.client, endpoint.name)
        async for page in resource.list(date_range=span, page_size=1, prefetch=0, **shown).pages():
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
        if self._progress is not None:
            self._progress(report)


@attrs.frozen
class PlanItem:
    """One resource's part of a plan: the listing it will make and its floor in calls."""

    resource: str
    mode: str  # "" when the resource is up to date
    calls: int


@attrs.frozen
class SyncPlan:
    """What a run will cost at least, and in how many quota hours (`limit` per hour)."""

    items: tuple[PlanItem, ...]
    limit: int | None

    @property
    def calls(self) -> int:
        return sum(i.calls for i in self.items)

    @property
    def quota_hours(self) -> int:
        """Hours of quota the calls need at least (1 when there is no quota to go by)."""
        return 1 if not self.limit else max(1, -(-self.calls // self.limit))


async def _granted_scopes(client: DrChronoClient) -> set[str] | None:
    scopes = getattr(client.auth, "scopes", None)
    if scopes is None:
        return None
    granted: frozenset[str] | None = await scopes()
    return None if granted is None else set(granted)
