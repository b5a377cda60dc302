"""Pagination: `Page`, and `Paginator`, which is awaitable (the first page) and async-iterable.

A listing is one or more *chains* of pages: one chain normally, several when a `date_range`
is split into shards. Each chain follows `next` as an opaque link (the API's shape for it is
not reliable) with three checks before anything is sent: the link is a URL, it stays on the
API's origin and on the chain's own endpoint path (never another endpoint, never `/o/...`),
and it advances (links are compared normalised: fragment dropped, query order ignored). A
link that fails a check raises `PaginationError`.

A listing ends complete or raises: if a chain's fetcher stops for any reason but the consumer
stopping (an error, a cancellation from inside the transport or by someone else), iteration
raises instead of ending early as if complete.

The first page is fetched once: `await paginator` keeps it, and iterating afterwards starts
from it. `Page.fetch_next()` continues by hand; `paginator.resume(link)` continues a listing
from a saved `next` link (a sync checkpoints it after each page).

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

from ._checks import check_int
from .errors import InvalidRequestError, PaginationError

__all__ = ["Page", "PageRequest", "Paginator"]

T = TypeVar("T")

_DONE = object()
MAX_LINK_LENGTH = 8192


@attrs.frozen(repr=False)
class Page(Generic[T]):
    """One page of a listing: its records and the opaque links around it."""

    results: list[T]
    next: str | None = None
    previous: str | None = None
    # The records the whole listing holds, where the server says (DrChrono's pages do not:
    # cursor pagination without a count; other servers and proxies may). Advisory only.
    count: int | None = None
    # Fetches the page after this one (set by the paginator that made the page).
    _more: Callable[[Page[T]], Awaitable[Page[T] | None]] | None = attrs.field(
        default=None, eq=False, repr=False, alias="more"
    )

    def __repr__(self) -> str:
        # Never the records: they are patients' data.
        more = ", a next page" if self.next is not None else ""
        return f"<Page of {len(self.results)} records{more}>"

    async def fetch_next(self) -> Page[T] | None:
        """The next page (records built, links checked), or None after the last page."""
        if self.next is None or self._more is None:
            return None  # (an empty-string link is checked, and refused, by `_more`)
        return await self._more(self)


@attrs.frozen
class PageRequest:
    """The first request of one chain: its endpoint path and query, or a saved link."""

    path: str
    params: Mapping[str, Any] | None
    link: str | None = None  # resume here instead of at the first page


# Fetches one page: (path or absolute `next` URL, params or None for a `next` URL).
FetchPage = Callable[[str, Mapping[str, Any] | None], Awaitable[Page[Any]]]


class Paginator(Generic[T]):
    """The result of `resource.list(...)`.

    - `await paginator` -> the first `Page` (of the first shard); fetched once.
    - `async for record in paginator` -> every record of every page.
    - `async for page in paginator.pages()` -> page by page.
    - `paginator.resume(link)` -> the same listing, continued from a saved `next` link.

    With several shards, records of one shard stay in order; `ordered=True` yields the shards
    in the order given (date order), otherwise pages are yielded as they arrive.
    `prefetch=0` fetches a single chain only on demand; several chains always run at least
    one page ahead each.
    """

    def __init__(
        self,
        fetch: FetchPage,
        chains: Sequence[PageRequest],
        *,
        same_origin: Callable[[httpx.URL], bool],
        prefetch: int = 1,
        ordered: bool = False,
        structure: Callable[[list[Any]], list[T]] | None = None,
        base_url: httpx.URL | None = None,
    ) -> None:
        if not chains:
            raise InvalidRequestError("a listing needs at least one chain")
        # Each page ahead is held in memory: a hundred is far past any gain.
        prefetch = check_int(prefetch, "prefetch", low=0, high=100)
        self._fetch = fetch
        self._chains = tuple(chains)
        self._same_origin = same_origin
        self._prefetch = prefetch
        self._ordered = ordered
        self._structure = structure
        self._base_url = base_url
        self._first: tuple[Page[Any], Page[T]] | None = None  # (as fetched, records built)
        self._first_lock = asyncio.Lock()
        for chain in self._chains:
            if chain.link is not None:
                self._check_link(chain, chain.link, set())

    @property
    def shards(self) -> int:
        """How many chains of pages this listing runs."""
        return len(self._chains)

    def resume(self, link: str) -> Paginator[T]:
        """This listing, continued from `link` (a `next` link saved from one of its pages).

        The link is checked now (a URL on the API's origin and this endpoint's path), before
        anything is sent. A listing of several shards cannot be resumed as a whole: resume
        each shard's own listing instead.
        """
        if len(self._chains) != 1:
            raise InvalidRequestError(
                "a listing of several shards is resumed shard by shard (list each window)"
            )
        chain = attrs.evolve(self._chains[0], link=link)
        return Paginator(
            self._fetch,
            [chain],
            same_origin=self._same_origin,
            prefetch=self._prefetch,
            ordered=self._ordered,
            structure=self._structure,
            base_url=self._base_url,
        )

    # -- awaiting: the first page ----------------------------------------------------------------

    def __await__(self) -> Generator[Any, None, Page[T]]:
        return self._first_page().__await__()

    async def _first_page(self) -> Page[T]:
        async with self._first_lock:  # two awaits at once: one request
            if self._first is None:
                chain = self._chains[0]
                raw = await self._fetch_start(chain)
                self._first = (raw, self._build_records(raw, chain, set()))
        return self._first[1]

    async def _fetch_start(self, chain: PageRequest) -> Page[Any]:
        if chain.link is not None:
            return await self._fetch(self._check_link(chain, chain.link, set()), None)
        return await self._fetch(chain.path, chain.params)

    # -- iterating --------------------------------------------------------------------------------

    async def __aiter__(self) -> AsyncIterator[T]:
        async for page in self.pages():
            for record in page.results:
                yield record

    async def pages(self) -> AsyncIterator[Page[T]]:
        """Every page of the listing, each chain's pages in order."""
        if len(self._chains) == 1 and self._prefetch == 0:
            chain = self._chains[0]
            async for raw in self._walk(chain, 0):
                yield self._build_records(raw, chain, set())
            return
        buffers = [_Buffer[T](self._prefetch) for _ in self._chains]
        tasks = [
            asyncio.create_task(self._feed(i, chain, buf))
            for i, (chain, buf) in enumerate(zip(self._chains, buffers, strict=True))
        ]
        for task, buf in zip(tasks, buffers, strict=True):
            # A fetcher cancelled before it ever ran never reaches `_feed`'s handler: its
            # buffer must still end, or the consumer would wait for it forever.
            task.add_done_callback(buf.ended)
        try:
            if self._ordered or len(buffers) == 1:
                for buf, chain in zip(buffers, self._chains, strict=True):
                    while (taken := await buf.take(chain.path)) is not None:
                        yield await self._build_records_after_next_request(taken, chain)
            else:
                async for taken, chain in _merge(buffers, self._chains):
                    yield await self._build_records_after_next_request(taken, chain)
        finally:
            # The caller may stop early: stop every fetcher and wait for it to go.
            for task in tasks:
                task.cancel()
            for task in tasks:
                with suppress(asyncio.CancelledError):
                    await task

    def _build_records(self, page: Page[Any], chain: PageRequest, seen: set[str]) -> Page[T]:
        """The page with its records built (the `structure` step) and `fetch_next` wired."""
        results = page.results if self._structure is None else self._structure(page.results)

        async def more(current: Page[T]) -> Page[T] | None:
            if current.next is None:
                return None
            target = self._check_link(chain, current.next, seen)
            raw = await self._fetch(target, None)
            return self._build_records(raw, chain, seen)

        return Page(results, page.next, page.previous, page.count, more=more)

    async def _build_records_after_next_request(
        self, page: Page[Any], chain: PageRequest
    ) -> Page[T]:
        # Taking the page gave its chain a slot: let that chain send its next request before
        # this page's records are built (milliseconds of CPU for a full page), so that the
        # build overlaps the wait for the network instead of delaying it.
        if self._structure is not None:
            await asyncio.sleep(0)
        return self._build_records(page, chain, set())

    async def _walk(self, chain: PageRequest, index: int) -> AsyncGenerator[Page[Any], None]:
        """One chain, page after page, with the link checks."""
        seen: set[str] = set()
        if index == 0 and self._first is not None:
            page = self._first[0]  # awaited before: not fetched again
        else:
            page = await _not_cancelled_inside(self._fetch_start(chain), chain.path)
        if chain.link is not None:
            seen.add(_normal(self._resolve(chain.link)))
        while True:
            yield page
            if page.next is None:
                return
            target = self._check_link(chain, page.next, seen)
            page = await _not_cancelled_inside(self._fetch(target, None), chain.path)

    def _resolve(self, link: str) -> httpx.URL:
        url = httpx.URL(link)
        if not url.is_absolute_url:
            if self._base_url is None:
                raise PaginationError(
                    "a relative next link, and no base URL to resolve it", path=""
                )
            url = self._base_url.join(url)
        return url

    def _check_link(self, chain: PageRequest, link: object, seen: set[str]) -> str:
        """`link` as an absolute URL to fetch, or `PaginationError` naming only the endpoint."""
        where = _endpoint_path(chain.path)
        if (
            not isinstance(link, str)
            or not link
            or len(link) > MAX_LINK_LENGTH
            or any(c <= " " or c == "\x7f" for c in link)
        ):
            raise PaginationError(f"an unusable next link while listing {where}", path=where)
        try:
            url = self._resolve(link)
        except (httpx.InvalidURL, ValueError, TypeError):
            raise PaginationError(
                f"an unparseable next link while listing {where}", path=where
            ) from None
        if url.scheme not in ("http", "https") or not url.host or url.userinfo:
            raise PaginationError(f"an unusable next link while listing {where}", path=where)
        if not self._same_origin(url):
            raise PaginationError(
                f"refusing a next link on another origin while listing {where}", path=where
            )
        if _endpoint_path(url.path) != where:
            raise PaginationError(
                f"refusing a next link to another endpoint while listing {where}", path=where
            )
        key = _normal(url)
        if key in seen or key == _normal(self._resolve_start(chain)):
            raise PaginationError(
                f"the next link of {where} does not advance; stopping instead of repeating records",
                path=where,
            )
        seen.add(key)
        return str(url)

    def _resolve_start(self, chain: PageRequest) -> httpx.URL:
        # The chain's first request, as a URL, so that a next pointing back at it is a loop.
        base = self._base_url or httpx.URL("http://unknown.invalid")
        try:
            return base.join(chain.path).copy_merge_params(dict(chain.params or {}))
        except (httpx.InvalidURL, TypeError, ValueError):
            return base.join(chain.path)

    async def _feed(self, index: int, chain: PageRequest, buf: _Buffer[T]) -> None:
        try:
            async for page in self._walk_slotted(index, chain, buf):
                await buf.put(page)
        except BaseException as exc:  # handed to the consumer, which re-raises it
            buf.fail(exc)
            if isinstance(exc, asyncio.CancelledError):
                raise
        else:
            buf.close()

    async def _walk_slotted(
        self, index: int, chain: PageRequest, buf: _Buffer[T]
    ) -> AsyncIterator[Page[Any]]:
        walker = self._walk(chain, index)
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


def _endpoint_path(path: str) -> str:
    return "/" + path.strip("/")


def _normal(url: httpx.URL) -> str:
    """A URL compared for loops: no fragment, query pairs sorted, default port explicit."""
    pairs = sorted(url.params.multi_items())
    port = url.port or {"http": 80, "https": 443}.get(url.scheme)
    return f"{url.scheme}://{url.host}:{port}{_endpoint_path(url.path)}?{pairs!r}"


async def _not_cancelled_inside(fetch: Awaitable[Page[Any]], path: str) -> Page[Any]:
    """`await fetch`; a CancelledError that no one asked of this task is a failed page."""
    try:
        return await fetch
    except asyncio.CancelledError as exc:
        task = asyncio.current_task()
        if task is not None and task.cancelling():
            raise  # this task is being cancelled: let it go
        raise PaginationError(
            f"the listing of {_endpoint_path(path)} was interrupted before its end",
            path=_endpoint_path(path),
        ) from exc


class _Buffer(Generic[T]):
    """Pages of one chain between its fetcher and the consumer, at most `ahead` unread."""

    def __init__(self, ahead: int) -> None:
        # A fetch needs a slot; a slot comes back only when the consumer takes a page. With
        # one slot, the chain is one page ahead of the page the consumer works on.
        self._slots = asyncio.Semaphore(max(ahead, 1))
        self._pages: asyncio.Queue[Any] = asyncio.Queue()
        self._error: BaseException | None = None
        self._ended = False  # the fetcher said how it ended (closed or failed)

    async def slot(self) -> None:
        await self._slots.acquire()

    async def put(self, page: Page[Any]) -> None:
        await self._pages.put(page)

    def close(self) -> None:
        self._ended = True
        self._pages.put_nowait(_DONE)

    def fail(self, exc: BaseException) -> None:
        if self._ended:
            return
        self._ended = True
        self._error = exc
        self._pages.put_nowait(_DONE)

    def ended(self, task: asyncio.Task[None]) -> None:
        """The fetcher's task is done: if it said nothing (cancelled early), fail."""
        if not self._ended and task.cancelled():
            self.fail(asyncio.CancelledError())

    async def take(self, path: str) -> Page[Any] | None:
        item = await self._pages.get()
        if item is _DONE:
            if isinstance(self._error, asyncio.CancelledError):
                # The consumer is still taking, so it did not stop this fetcher: someone
                # else did. Ending here would pass for a complete listing.
                raise PaginationError(
                    f"the listing of {_endpoint_path(path)} was cancelled before its end",
                    path=_endpoint_path(path),
                ) from self._error
            if self._error is not None:
                raise self._error
            return None
        # The consumer now holds this page: the fetcher may start the next one.
        self._slots.release()
        page: Page[Any] = item
        return page


async def _merge(
    buffers: Sequence[_Buffer[T]], chains: Sequence[PageRequest]
) -> AsyncIterator[tuple[Page[Any], PageRequest]]:
    """Pages from several chains as they arrive; each chain's own order is kept."""
    pending = {
        asyncio.ensure_future(buf.take(chain.path)): (buf, chain)
        for buf, chain in zip(buffers, chains, strict=True)
    }
    try:
        while pending:
            done, _ = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
            for fut in done:
                buf, chain = pending.pop(fut)
                page = fut.result()
                if page is None:
                    continue
                pending[asyncio.ensure_future(buf.take(chain.path))] = (buf, chain)
                yield page, chain
    finally:
        for fut in pending:
            fut.cancel()
