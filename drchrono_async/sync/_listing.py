"""One listing of one resource: its chains (date windows) run concurrently, each page
written with the resource's checkpoint in one transaction; then the vanished ids are checked
and the listing's completion moves the watermark. The engine (`_engine.Syncer`) decides which
listing to make (`_planning`); this module makes it, with what it is handed and nothing else.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from .._endpoints import Endpoint
from ..errors import BadRequestError, NotFoundError, PaginationError
from ..pagination import Page, Paginator
from ._estimate import calls_left, observe
from ._planning import SyncSettings, since_on_updates
from ._refresh import Current, fetch_current
from ._report import ResourceReport
from ._rows import local_time, row_from
from ._state import Chain, Checkpoint, ListingState, dump
from ._store import Row, SyncStore
from ._watermark import format_since, watermark

if TYPE_CHECKING:
    from .._client import DrChronoClient

__all__ = ["Listing", "Stopped", "first_error"]

logger = logging.getLogger("drchrono_async.sync")


class Stopped(Exception):
    """`Syncer.stop()` was called: leave after the page just written."""


class Listing:
    """One listing of one resource: its chains run concurrently, each page checkpointed.

    Collaborators, all explicit: the `client` (its resources, server time and timezone), the
    `store`, the checkpoint and its listing (changed in place as pages are written), the
    resource's `report`, the syncer's `settings`, `stopping()` (asked after each page) and
    `progress(report)` (told after each page).
    """

    def __init__(
        self,
        *,
        client: DrChronoClient,
        store: SyncStore,
        endpoint: Endpoint,
        checkpoint: Checkpoint,
        listing: ListingState,
        report: ResourceReport,
        settings: SyncSettings,
        stopping: Callable[[], bool],
        progress: Callable[[ResourceReport], None],
    ) -> None:
        self.client = client
        self.store = store
        self.endpoint = endpoint
        self.resource = getattr(client, endpoint.name)
        self.cp = checkpoint
        self.listing = listing
        self.report = report
        self.settings = settings
        self._stopping = stopping
        self._progress = progress
        if listing.resumed:
            listing.fresh = False
        self._write_lock = asyncio.Lock()
        # Ids listed, to find the vanished ones: kept only by listings that look for them
        # (a backfill or a `since` listing keeps memory flat in the number of records).
        self._marks = listing.kind in ("full", "reconcile") and listing.fresh
        self._seen: set[str] = set()
        self._t0 = client.clock.now()

    async def run(self) -> None:
        store = self.store
        marks = self._marks
        before = await store.ids(self.endpoint.name, deleted=False) if marks else set()
        # One stream with shards=1; else the past's shards and the future's windows at once
        # (a practice books months ahead: the future is a shard's worth of pages too).
        shards = self.settings.shards
        gate = asyncio.Semaphore(1 if shards == 1 else max(shards, len(self.listing.chains)))

        broken = False

        async def chain(state: Chain) -> None:
            nonlocal broken
            async with gate:
                # A sibling's failure frees the gate before the task group cancels this
                # chain: without this look, one more request (a permit) would go out.
                if broken:
                    return
                try:
                    await self._run_chain(state)
                except BaseException:
                    broken = True
                    raise

        pending = [c for c in self.listing.chains if not c.done]
        try:
            async with asyncio.TaskGroup() as group:
                for state in pending:
                    group.create_task(chain(state))
        except ExceptionGroup as failed:
            raise first_error(failed) from None
        if not all(c.done for c in self.listing.chains):
            # Stopped: every chain wrote the page it had asked for (a sibling's request in
            # flight is a permit spent; cancelling it would waste the call), then returned.
            raise Stopped
        # Every chain is done and checkpointed: finish the listing.
        vanished = sorted(before - self._seen) if marks else []
        found, left = await self._confirm_vanished(vanished)
        self._complete()
        self.report.calls_left = None
        result = await store.write(
            self.endpoint.name,
            list(found.rows),
            checkpoint=dump(self.cp),
            delete_ids=list(found.gone),
            deleted_at=found.gone_at,
        )
        self.report.add(result)
        if left:
            self.report.left = f"{left} vanished ids to check at the next reconciliation"

    async def _run_chain(self, state: Chain) -> None:
        paginator = self._paginator(state)
        try:
            await self._pages(paginator, state)
        except (BadRequestError, NotFoundError, PaginationError):
            if not state.next or state.restarted:
                raise
            # The server no longer takes the saved link: list this chain from its start.
            logger.info("sync: %s: a saved page link was refused; relisting it", self.endpoint.name)
            state.next, state.restarted = None, True
            self.listing.fresh = False
            await self._pages(self._paginator(state), state)

    def _paginator(self, state: Chain) -> Paginator[Any]:
        # No prefetch: a page fetched ahead and lost in a crash is a call of the quota
        # spent twice. Concurrency comes from the windows and the resources instead.
        paginator: Paginator[Any] = self.resource.list(**state.params, prefetch=0)
        if state.next:
            return paginator.resume(state.next)
        return paginator

    async def _pages(self, paginator: Paginator[Any], state: Chain) -> None:
        pages = paginator.pages()
        client = self.client
        while not self._stopping():
            # The page's request goes out now (no prefetch): what it lists was live then.
            observed = local_time(client.server_time(), client.timezone)
            try:
                page = await anext(pages)
            except StopAsyncIteration:
                return
            await self._write_page(page, state, observed)

    async def _write_page(self, page: Page[Any], state: Chain, observed: str) -> None:
        rows: list[Row] = []
        for record in page.results:
            row = row_from(record, self.endpoint, observed_at=observed, listing=state.params)
            if row is not None:
                rows.append(row)
                if self._marks:
                    self._seen.add(row.id)
            else:
                self.report.unkeyed += 1
        async with self._write_lock:
            if self.listing.start is None:
                # The listing started at t0 on this clock; the first answer's Date tells the
                # server's time for it.
                self.listing.start = self._t0 + self._offset()
            state.next = page.next
            state.done = page.next is None
            if self.listing.kind == "backfill":
                self._estimate(page, state)
            self.cp.listing = self.listing
            result = await self.store.write(self.endpoint.name, rows, checkpoint=dump(self.cp))
        report = self.report
        report.pages += 1
        report.records += len(page.results)
        report.add(result)
        self._progress(report)

    def _offset(self) -> float:
        """The server's clock minus the client's, as the answers' `Date` headers say."""
        return self.client.server_time() - self.client.clock.now()

    def _estimate(self, page: Page[Any], state: Chain) -> None:
        """Update the report's `calls_left` from what this page showed (see `_estimate`)."""
        field = self.endpoint.filter_field("date_range")
        dates = (getattr(r, field, None) for r in page.results)
        observe(state, (d for d in dates if isinstance(d, dt.date)), page.count)
        today = dt.datetime.fromtimestamp(self.client.server_time(), self.client.timezone)
        self.report.calls_left = calls_left(self.listing.chains, today.date())

    async def _confirm_vanished(self, ids: Sequence[str]) -> tuple[Current, int]:
        """Ids held but not listed: a GET each; 404 marks deleted, an answer refreshes it.

        Where no route reads one record (`SyncKey.gettable`), the complete listing is the
        only witness: they are marked deleted as of the listing's start, and a later
        listing that shows one again brings it back (its observation is newer)."""
        if not ids:
            return Current((), (), None), 0
        if not self.endpoint.sync_key.gettable:
            start = self.listing.start
            if start is None:
                start = self._t0 + self._offset()
            return Current((), tuple(ids), local_time(start, self.client.timezone)), 0
        limit = self.settings.confirm_limit
        found = await fetch_current(self.client, self.endpoint, ids[:limit])
        return found, max(0, len(ids) - limit)

    def _complete(self) -> None:
        cp, listing = self.cp, self.listing
        start = listing.start
        if start is None:  # no page at all (nothing to list): the listing began at t0
            start = self._t0 + self._offset()
        if since_on_updates(self.endpoint):
            mark = watermark(start - self.settings.overlap, self.client.timezone)
            cp.watermark = format_since(mark)
        if listing.kind == "backfill":
            cp.backfilled = True
            cp.reconciled_at = start
        if listing.kind in ("full", "reconcile"):
            cp.full_at = start
            cp.reconciled_at = start
        # A listing of everything makes the copy verbose or not; a `since` listing without
        # verbose leaves some rows without their verbose keys.
        whole = listing.kind != "incremental"
        cp.verbose = listing.verbose if whole else cp.verbose and listing.verbose
        cp.listing = None


def first_error(group: BaseExceptionGroup[BaseException]) -> BaseException:
    """The error to raise for a group of concurrent failures: an API error before a stop."""
    leaves: list[BaseException] = []

    def walk(g: BaseExceptionGroup[BaseException]) -> None:
        for exc in g.exceptions:
            walk(exc) if isinstance(exc, BaseExceptionGroup) else leaves.append(exc)

    walk(group)
    return next((e for e in leaves if not isinstance(e, Stopped)), leaves[0])
