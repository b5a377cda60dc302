"""A listing ends complete or raises; links stay on their endpoint; pages continue and resume."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

import httpx
import pytest

from drchrono_async import PaginationError
from drchrono_async.errors import InvalidRequestError, ServerError
from drchrono_async.pagination import Page, PageRequest, Paginator
from drchrono_async.testing import Emulator, VirtualClock

from .test_pagination import ORIGIN, Source, same_origin


class Breaking(Source):
    """Page 1 of chain `a` fails with `error` (a CancelledError raised inside the 'transport')."""

    def __init__(self, error: BaseException, **kwargs: Any) -> None:
        super().__init__({"a": 4, "b": 4}, **kwargs)
        self.error = error

    async def fetch(self, target: str, params: Mapping[str, Any] | None) -> Page[Any]:
        if params is None and "chain=a&cursor=c1" in target:
            raise self.error
        return await super().fetch(target, params)


@pytest.mark.parametrize("prefetch", [0, 1])
@pytest.mark.parametrize("ordered", [True, False])
@pytest.mark.parametrize(
    "error",
    [asyncio.CancelledError(), ServerError("boom", status_code=500, method="GET", path="/api/x")],
)
async def test_a_fetcher_that_stops_makes_iteration_raise(
    prefetch: int, ordered: bool, error: BaseException
) -> None:
    src = Breaking(error)
    chains = [PageRequest("/api/x", {"chain": "a"})]
    if not ordered or prefetch:
        chains.append(PageRequest("/api/x", {"chain": "b"}))
    paginator: Paginator[Any] = Paginator(
        src.fetch, chains, same_origin=same_origin, prefetch=prefetch, ordered=ordered
    )
    expected = PaginationError if isinstance(error, asyncio.CancelledError) else ServerError
    with pytest.raises(expected):
        async for _ in paginator:
            pass


async def test_a_fetcher_cancelled_by_someone_else_makes_iteration_raise() -> None:
    src = Source({"a": 6})
    started = asyncio.Event()
    original = src.fetch

    async def fetch(target: str, params: Mapping[str, Any] | None) -> Page[Any]:
        if params is None:
            started.set()
            await asyncio.Event().wait()  # hangs until cancelled
        return await original(target, params)

    paginator: Paginator[Any] = Paginator(
        fetch, [PageRequest("/api/x", {"chain": "a"})], same_origin=same_origin
    )

    async def consume() -> list[Any]:
        return [r async for r in paginator]

    consumer = asyncio.create_task(consume())
    await started.wait()
    for task in asyncio.all_tasks():
        if task is not consumer and task is not asyncio.current_task():
            task.cancel()  # e.g. a supervisor cancelling the wrong task
    with pytest.raises(PaginationError, match="cancelled before its end"):
        await consumer


async def test_the_consumer_stopping_early_is_not_an_error() -> None:
    src = Source({"a": 50, "b": 50})
    got = []
    async for record in src.paginator():
        got.append(record)
        if len(got) == 4:
            break
    assert len(got) == 4


async def test_cancelling_the_consumer_cancels_it_and_its_fetchers() -> None:
    src = Source({"a": 50, "b": 50})
    gate = asyncio.Event()

    async def consume() -> None:
        async for _ in src.paginator():
            await gate.wait()

    task = asyncio.create_task(consume())
    for _ in range(20):
        await asyncio.sleep(0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert src.in_flight == 0


def paginator_with_next(link: str, sent: list[str]) -> Paginator[Any]:
    async def fetch(target: str, params: Mapping[str, Any] | None) -> Page[Any]:
        sent.append(target)
        return Page([1], next=link if params is not None else None)

    return Paginator(
        fetch,
        [PageRequest("/api/appointments", {"page_size": "250"})],
        same_origin=same_origin,
        base_url=httpx.URL(ORIGIN),
    )


@pytest.mark.parametrize(
    "link",
    [
        f"{ORIGIN}/api/patients?cursor=x",
        f"{ORIGIN}/o/token/?x=1",
        "/api/users/current",
        "https://evil.example/api/appointments?cursor=2",
        "http://[::1",
        "ftp://x/api/appointments",
        f"{ORIGIN}/api/appointments?page_size=250#frag",
        f"{ORIGIN}/api/appointments?page_size=250",
        "not a url",
        "",
        "https://u:p@drchrono.test/api/appointments?c=1",
        5,
    ],
)
async def test_a_bad_next_link_is_refused_before_anything_is_sent(link: Any) -> None:
    sent: list[str] = []
    with pytest.raises(PaginationError) as info:
        async for _ in paginator_with_next(link, sent):
            pass
    assert sent == ["/api/appointments"]  # only the first page
    assert "evil" not in str(info.value) and "cursor" not in str(info.value)


async def test_loop_detection_ignores_query_order_and_fragments() -> None:
    pages = {
        "a": f"{ORIGIN}/api/x?chain=a&cursor=c1&z=1",
        "b": f"{ORIGIN}/api/x?z=1&cursor=c1&chain=a#again",
    }
    calls = 0

    async def fetch(target: str, params: Mapping[str, Any] | None) -> Page[Any]:
        nonlocal calls
        calls += 1
        return Page([calls], next=pages["a"] if calls == 1 else pages["b"])

    paginator: Paginator[Any] = Paginator(
        fetch, [PageRequest("/api/x", {"chain": "a"})], same_origin=same_origin
    )
    with pytest.raises(PaginationError, match="does not advance"):
        async for _ in paginator:
            pass
    assert calls == 2


async def test_await_then_iterate_fetches_the_first_page_once() -> None:
    src = Source({"a": 2})
    paginator = src.paginator()
    first = await paginator
    assert await paginator is first
    records = [r async for r in paginator]
    assert records == [("a", i) for i in range(6)]
    assert src.fetched == [("a", 0), ("a", 1)]  # 2 calls for a 2-page listing


async def test_fetch_next_walks_the_pages_by_hand() -> None:
    src = Source({"a": 3})
    page: Page[Any] | None = await src.paginator()
    got = []
    while page is not None:
        got += page.results
        page = await page.fetch_next()
    assert got == [("a", i) for i in range(9)]
    assert src.fetched == [("a", 0), ("a", 1), ("a", 2)]


async def test_resume_continues_from_a_saved_link_and_checks_it_first() -> None:
    src = Source({"a": 4})
    link = src.url("a", 2)
    resumed = src.paginator().resume(link)
    assert [r async for r in resumed] == [("a", i) for i in range(6, 12)]
    assert src.fetched == [("a", 2), ("a", 3)]
    with pytest.raises(PaginationError):
        src.paginator().resume("https://evil.example/api/x?chain=a&cursor=c2")
    with pytest.raises(InvalidRequestError):
        Source({"a": 2, "b": 2}).paginator().resume(link)


async def test_a_sync_checkpoints_next_and_resumes_after_a_crash_exactly() -> None:
    emu = Emulator(seed=3, clock=VirtualClock(), sizes={"patients": 30})
    async with emu.client() as client:
        everything = [p.id async for p in client.patients.list(page_size=10)]
        assert len(everything) > 20  # three pages
        saved: str | None = None
        got: list[int] = []
        async for page in client.patients.list(page_size=10).pages():
            got += [p.id for p in page.results]
            saved = page.next  # written with the page, in one transaction
            break  # the process dies here
        assert saved is not None
        before = len(emu.requests)
        async for patient in client.patients.list(page_size=10).resume(saved):
            got.append(patient.id)
        assert len(emu.requests) - before == 2  # pages 2 and 3, nothing again
    assert got == everything and len(set(got)) == len(everything)


async def test_await_then_iterate_against_the_emulator_costs_two_calls() -> None:
    emu = Emulator(seed=3, clock=VirtualClock(), sizes={"patients": 15})
    async with emu.client() as client:
        listing = client.patients.list(page_size=10)
        first = await listing
        assert len(first.results) == 10
        assert 10 < len([p async for p in listing]) <= 15
    assert emu.count(path="/api/patients") == 2


async def test_a_fetcher_cancelled_before_it_ever_ran_makes_iteration_raise(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    src = Source({"a": 3, "b": 3})
    create = asyncio.create_task

    def cancelled_at_once(coro: Any, **kwargs: Any) -> asyncio.Task[Any]:
        task = create(coro, **kwargs)
        task.cancel()  # before its first step: its own handler never runs
        return task

    monkeypatch.setattr(asyncio, "create_task", cancelled_at_once)
    with pytest.raises(PaginationError):
        async with asyncio.timeout(5):  # before the fix: waited forever
            async for _ in src.paginator():
                pass


async def test_two_awaits_at_once_send_one_request() -> None:
    src = Source({"a": 2})
    paginator = src.paginator()
    first, second = await asyncio.gather(paginator._first_page(), paginator._first_page())
    assert first is second and src.fetched == [("a", 0)]


def test_a_page_repr_shows_no_record_content() -> None:
    page = Page([{"first_name": "Zelda"}], next=f"{ORIGIN}/api/x?cursor=secret")
    assert repr(page) == "<Page of 1 records, a next page>"
