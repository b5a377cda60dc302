"""Pagination: `Page`, and `Paginator`, which is awaitable (the first page) and async-iterable.

A listing is one or more *chains* of pages: one chain normally, several when a `date_range`
is split into shards. Each chain follows `next` as an opaque URL (the API's shape for it is
not reliable), refuses a `next` on another origin and stops with `PaginationError` on one that
does not advance, instead of looping or silently losing records.

Prefetch: while the caller works on page N, page N+1 is fetched, and no further: a chain's
fetcher takes a slot before each request and the consumer gives the slot back only when it
takes the page, so a chain is never more than `prefetch` pages ahead. Chains run concurrently;
the client's `max_concurrency` bounds the requests in flight.
"""

from __future__ import annotations

import asyncio
from collections.abc import (
    AsyncGenerator,
    AsyncIterator,
    Awaitable,
    Callable,
    Generator,
    Mapping,
    Sequence,
)
from contextlib import suppress
from typing import Any, Generic, TypeVar

import attrs
import httpx

from .errors import PaginationError

__all__ = ["Page", "PageRequest", "Paginator"]

T = TypeVar("T")

_DONE = object()


@attrs.frozen
class Page(Generic[T]):
    """One page of a listing: its records and the opaque links around it."""

    results: list[T]
    next: str | None = None
    previous: str | None = None


@attrs.frozen
class PageRequest:
    """The first request of one chain: a path and its query parameters."""

    path: str
    params: Mapping[str, Any]


# Fetches one page: (path or absolute `next` URL, params or None for a `next` URL).
FetchPage = Callable[[str, Mapping[str, Any] | None], Awaitable[Page[T]]]


class Paginator(Generic[T]):
    """The result of `resource.list(...)`.

    - `await paginator` -> the first `Page` (of the first shard).
    - `async for record in paginator` -> every record of every page.
    - `async for page in paginator.pages()` -> page by page.

    With several shards, records of one shard stay in order; `ordered=True` yields the shards
    in the order given (date order), otherwise pages are yielded as they arrive.
    `prefetch=0` fetches a single chain only on demand; several chains always run at least
    one page ahead each.
    """

    def __init__(
        self,
        fetch: FetchPage[T],
        chains: Sequence[PageRequest],
        *,
        same_origin: Callable[[httpx.URL], bool],
        prefetch: int = 1,
        ordered: bool = False,
        structure: Callable[[list[Any]], list[T]] | None = None,
    ) -> None:
        if not chains:
            raise ValueError("a listing needs at least one chain")
        if prefetch < 0:
            raise ValueError("prefetch must be >= 0")
        self._fetch = fetch
        self._chains = tuple(chains)
        self._same_origin = same_origin
        self._prefetch = prefetch
        self._ordered = ordered
        self._structure = structure

    def _finish(self, page: Page[Any]) -> Page[T]:
        """Build the records of a fetched page (the `structure` step, when there is one)."""
        if self._structure is None:
            return page
        return Page(self._structure(page.results), page.next, page.previous)

    @property
    def shards(self) -> int:
        """How many chains of pages this listing runs."""
        return len(self._chains)

    def __await__(self) -> Generator[Any, None, Page[T]]:
        first = self._chains[0]

        async def get() -> Page[T]:
            return self._finish(await self._fetch(first.path, first.params))

        return get().__await__()

    async def __aiter__(self) -> AsyncIterator[T]:
        async for page in self.pages():
            for record in page.results:
                yield record

    async def pages(self) -> AsyncIterator[Page[T]]:
        """Every page of the listing, each chain's pages in order."""
        if len(self._chains) == 1 and self._prefetch == 0:
            async for page in self._walk(self._chains[0]):
                yield self._finish(page)
            return
        buffers = [_Buffer[T](self._prefetch) for _ in self._chains]
        tasks = [
            asyncio.create_task(self._feed(chain, buf))
            for chain, buf in zip(self._chains, buffers, strict=True)
        ]
        try:
            if self._ordered or len(buffers) == 1:
                for buf in buffers:
                    while (taken := await buf.take()) is not None:
                        yield await self._finish_soon(taken)
            else:
                async for page in _merge(buffers):
                    yield await self._finish_soon(page)
        finally:
            # The caller may stop early: stop every fetcher and wait for it to go.
            for task in tasks:
                task.cancel()
            for task in tasks:
                with suppress(asyncio.CancelledError):
                    await task

    async def _finish_soon(self, page: Page[Any]) -> Page[T]:
        # Taking the page gave its chain a slot: let that chain send its next request before
        # this page's records are built (milliseconds of CPU for a full page), so that the
        # build overlaps the wait for the network instead of delaying it.
        if self._structure is not None:
            await asyncio.sleep(0)
        return self._finish(page)

    async def _walk(self, chain: PageRequest) -> AsyncGenerator[Page[T], None]:
        """One chain, page after page, with the `next` checks."""
        seen: set[str] = set()
        target: str = chain.path
        params: Mapping[str, Any] | None = chain.params
        while True:
            page = await self._fetch(target, params)
            yield page
            if not page.next:
                return
            nxt = page.next
            url = httpx.URL(nxt)
            if url.is_absolute_url and not self._same_origin(url):
                raise PaginationError(
                    f"refusing a next link on another origin ({url.host}) while listing "
                    f"{httpx.URL(target).path}"
                )
            if nxt in seen or nxt == target:
                raise PaginationError(
                    f"the next link of {httpx.URL(target).path} does not advance; "
                    "stopping instead of repeating records"
                )
            seen.add(nxt)
            target, params = nxt, None

    async def _feed(self, chain: PageRequest, buf: _Buffer[T]) -> None:
        try:
            async for page in self._walk_slotted(chain, buf):
                await buf.put(page)
        except BaseException as exc:  # handed to the consumer, which re-raises it
            buf.fail(exc)
            if isinstance(exc, asyncio.CancelledError):
                raise
        else:
            buf.close()

    async def _walk_slotted(self, chain: PageRequest, buf: _Buffer[T]) -> AsyncIterator[Page[T]]:
        walker = self._walk(chain)
        try:
            while True:
                await buf.slot()
                try:
                    page = await walker.__anext__()
                except StopAsyncIteration:
                    return
                yield page
        finally:
            await walker.aclose()


class _Buffer(Generic[T]):
    """Pages of one chain between its fetcher and the consumer, at most `ahead` unread."""

    def __init__(self, ahead: int) -> None:
        # A fetch needs a slot; a slot comes back only when the consumer takes a page. With
        # one slot, the chain is one page ahead of the page the consumer works on.
        self._slots = asyncio.Semaphore(max(ahead, 1))
        self._pages: asyncio.Queue[Any] = asyncio.Queue()
        self._error: BaseException | None = None

    async def slot(self) -> None:
        await self._slots.acquire()

    async def put(self, page: Page[T]) -> None:
        await self._pages.put(page)

    def close(self) -> None:
        self._pages.put_nowait(_DONE)

    def fail(self, exc: BaseException) -> None:
        self._error = exc
        self._pages.put_nowait(_DONE)

    async def take(self) -> Page[T] | None:
        item = await self._pages.get()
        if item is _DONE:
            if self._error is not None and not isinstance(self._error, asyncio.CancelledError):
                raise self._error
            return None
        # The consumer now holds this page: the fetcher may start the next one.
        self._slots.release()
        page: Page[T] = item
        return page


async def _merge(buffers: Sequence[_Buffer[T]]) -> AsyncIterator[Page[T]]:
    """Pages from several chains as they arrive; each chain's own order is kept."""
    pending = {asyncio.ensure_future(buf.take()): buf for buf in buffers}
    try:
        while pending:
            done, _ = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
            for fut in done:
                buf = pending.pop(fut)
                page = fut.result()
                if page is None:
                    continue
                pending[asyncio.ensure_future(buf.take())] = buf
                yield page
    finally:
        for fut in pending:
            fut.cancel()
