"""Paginator behaviour against a scripted page source (no HTTP)."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

import httpx
import pytest

from drchrono_async import PaginationError
from drchrono_async.pagination import Page, PageRequest, Paginator

ORIGIN = "https://drchrono.test"


def same_origin(url: httpx.URL) -> bool:
    return url.host == "drchrono.test" and url.scheme == "https"


class Source:
    """Pages `0..n-1` of `size` records per chain name; records are `(chain, index)`."""

    def __init__(self, chains: Mapping[str, int], size: int = 3) -> None:
        self.chains = chains
        self.size = size
        self.fetched: list[tuple[str, int]] = []
        self.in_flight = 0
        self.max_in_flight = 0

    def url(self, chain: str, page: int) -> str:
        return f"{ORIGIN}/api/x?chain={chain}&cursor=c{page}"

    async def fetch(self, target: str, params: Mapping[str, Any] | None) -> Page[tuple[str, int]]:
        if params is not None:
            chain, page = str(params["chain"]), 0
        else:
            url = httpx.URL(target)
            chain, page = url.params["chain"], int(url.params["cursor"][1:])
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            for _ in range(3):
                await asyncio.sleep(0)
        finally:
            self.in_flight -= 1
        self.fetched.append((chain, page))
        n = self.chains[chain]
        results = [(chain, page * self.size + i) for i in range(self.size)]
        nxt = self.url(chain, page + 1) if page + 1 < n else None
        return Page(results=results, next=nxt, previous=None)

    def paginator(self, **kwargs: Any) -> Paginator[tuple[str, int]]:
        chains = [PageRequest("/api/x", {"chain": c}) for c in self.chains]
        return Paginator(self.fetch, chains, same_origin=same_origin, **kwargs)


async def test_await_gives_the_first_page() -> None:
    page = await Source({"a": 5}).paginator()
    assert page.results == [("a", 0), ("a", 1), ("a", 2)]
    assert page.next == f"{ORIGIN}/api/x?chain=a&cursor=c1"


@pytest.mark.parametrize("prefetch", [0, 1, 3])
async def test_iterates_every_record_in_order(prefetch: int) -> None:
    src = Source({"a": 4})
    records = [r async for r in src.paginator(prefetch=prefetch)]
    assert records == [("a", i) for i in range(12)]
    assert src.fetched == [("a", p) for p in range(4)]


async def test_prefetch_never_runs_more_than_one_page_ahead() -> None:
    src = Source({"a": 10})
    taken = 0
    worst = 0
    async for _page in src.paginator(prefetch=1).pages():
        taken += 1
        # The caller works on this page for a while; the fetcher may run meanwhile.
        for _ in range(50):
            await asyncio.sleep(0)
            worst = max(worst, len(src.fetched) + src.in_flight - taken)
    assert taken == 10
    assert worst == 1  # one page ahead was used, and never more


async def test_prefetch_actually_overlaps_work_and_fetching() -> None:
    src = Source({"a": 3})
    seen_ahead = []
    async for _page in src.paginator(prefetch=1).pages():
        for _ in range(50):
            await asyncio.sleep(0)
        seen_ahead.append(len(src.fetched))
    assert seen_ahead == [2, 3, 3]  # page 2 was fetched while page 1 was being worked on


async def test_early_break_stops_the_fetcher() -> None:
    src = Source({"a": 100})
    async for page in src.paginator(prefetch=1).pages():
        assert page.results[0] == ("a", 0)
        break
    for _ in range(50):
        await asyncio.sleep(0)
    assert len(src.fetched) <= 2
    assert src.in_flight == 0


async def test_next_that_does_not_advance_raises() -> None:
    async def fetch(target: str, params: Mapping[str, Any] | None) -> Page[int]:
        return Page(results=[1], next=f"{ORIGIN}/api/x?cursor=same")

    got = []
    with pytest.raises(PaginationError, match="does not advance"):
        async for r in Paginator(fetch, [PageRequest("/api/x", {})], same_origin=same_origin):
            got.append(r)
    assert got == [1, 1]  # both pages delivered before the loop was detected


async def test_next_cycle_back_to_an_earlier_page_raises() -> None:
    links = {None: "c1", "c1": "c2", "c2": "c1"}

    async def fetch(target: str, params: Mapping[str, Any] | None) -> Page[str]:
        cur = None if params is not None else httpx.URL(target).params["cursor"]
        return Page(results=[str(cur)], next=f"{ORIGIN}/api/x?cursor={links[cur]}")

    with pytest.raises(PaginationError):
        _ = [
            r async for r in Paginator(fetch, [PageRequest("/api/x", {})], same_origin=same_origin)
        ]


async def test_next_on_another_origin_is_refused() -> None:
    calls = []

    async def fetch(target: str, params: Mapping[str, Any] | None) -> Page[int]:
        calls.append(target)
        return Page(results=[1], next="https://evil.example/api/x?page=2")

    with pytest.raises(PaginationError, match="another origin"):
        _ = [
            r async for r in Paginator(fetch, [PageRequest("/api/x", {})], same_origin=same_origin)
        ]
    assert calls == ["/api/x"]


async def test_shards_ordered_yield_in_shard_order() -> None:
    src = Source({"a": 3, "b": 2, "c": 4})
    records = [r async for r in src.paginator(ordered=True)]
    expected = [(c, i) for c, n in (("a", 3), ("b", 2), ("c", 4)) for i in range(n * 3)]
    assert records == expected


async def test_shards_unordered_keep_each_shard_in_order_and_run_concurrently() -> None:
    src = Source({"a": 3, "b": 3, "c": 3})
    records = [r async for r in src.paginator(ordered=False)]
    assert sorted(records) == [(c, i) for c in "abc" for i in range(9)]
    for c in "abc":
        assert [i for ch, i in records if ch == c] == list(range(9))
    assert src.max_in_flight >= 2


async def test_error_in_a_shard_surfaces_after_its_earlier_pages() -> None:
    async def fetch(target: str, params: Mapping[str, Any] | None) -> Page[int]:
        if params is None:
            raise RuntimeError("page 2 failed")
        return Page(results=[1, 2], next=f"{ORIGIN}/api/x?cursor=2")

    got = []
    with pytest.raises(RuntimeError, match="page 2 failed"):
        async for r in Paginator(fetch, [PageRequest("/api/x", {})], same_origin=same_origin):
            got.append(r)
    assert got == [1, 2]


async def test_records_are_built_after_the_next_request_is_on_its_way() -> None:
    src = Source({"a": 4})
    started_when_built: list[int] = []

    def structure(items: list[tuple[str, int]]) -> list[tuple[str, int]]:
        # How many fetches had started (finished or in flight) when this page was built.
        started_when_built.append(len(src.fetched) + src.in_flight)
        return items

    chains = [PageRequest("/api/x", {"chain": "a"})]
    paginator = Paginator(src.fetch, chains, same_origin=same_origin, structure=structure)
    records = [r async for r in paginator]
    assert records == [("a", i) for i in range(12)]
    # Page k (1-based) is built once page k+1 was requested: the build overlaps the network.
    assert started_when_built == [2, 3, 4, 4]
