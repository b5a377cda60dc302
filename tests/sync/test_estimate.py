"""The calls a backfill still needs: from the first record's date (not the window's fixed
start), from a server's `count` where it gives one, and no estimate from pages out of date
order; `plan()` estimates a backfill in progress from its checkpoint."""

from __future__ import annotations

import datetime as dt
from typing import Any

import httpx

from drchrono_async import DrChronoClient
from drchrono_async.sync import Syncer
from drchrono_async.sync._estimate import calls_left, observe
from drchrono_async.sync._state import Chain
from drchrono_async.testing import Emulator, VirtualClock

from ._memory_store import MemoryStore

TODAY = dt.date(2026, 1, 1)


async def test_a_backfill_estimate_is_near_what_is_left_from_its_first_page() -> None:
    # Records from 2025 on, listed from 2010-01-01: counted from the listing's start the first
    # pages looked like 95% of the way (the estimate said 4 calls when 100 were left). Records
    # dated after today (booked ahead) count their floor, one call, until the pages reach
    # them: the estimate is measured against the pages of the records up to today, plus one.
    emu = Emulator(seed=2, clock=VirtualClock(), sizes={"appointments": 5000, "patients": 0})
    seen: list[tuple[int, int | None]] = []
    async with emu.client() as client:
        today = dt.datetime.fromtimestamp(client.clock.now(), client.timezone).date()
        syncer = Syncer(
            client,
            MemoryStore(),
            resources=["appointments"],  # one since chain, verbose as by default: 50 a page
            progress=lambda r: seen.append((r.pages, r.calls_left)),
        )
        report = await syncer.run()
    dated = [r["scheduled_time"][:10] for r in emu.practice(0).records("appointments")]
    past_pages = -(-sum(1 for d in dated if d < today.isoformat()) // 50)
    assert report["appointments"].pages > past_pages > 60
    estimates = {done: left for done, left in seen if left is not None}
    for done in (1, past_pages // 4, past_pages // 2, past_pages * 3 // 4):
        left = past_pages - done + 1
        assert abs(estimates[done] - left) <= max(3, left // 3), (done, estimates[done], left)
    assert report["appointments"].calls_left is None  # done: nothing left


async def test_windows_are_estimated_from_their_first_record() -> None:
    emu = Emulator(seed=2, clock=VirtualClock(), sizes={"appointments": 3000, "patients": 0})
    seen: list[tuple[int, int | None]] = []
    async with emu.client() as client:
        syncer = Syncer(
            client,
            MemoryStore(),
            resources=["appointments"],
            shards=2,  # date_range windows, listed at once
            progress=lambda r: seen.append((r.pages, r.calls_left)),
        )
        report = await syncer.run()
    pages = report["appointments"].pages
    middle = dict(seen)[pages // 2]
    assert middle is not None and abs(middle - pages // 2) <= max(3, pages // 6)


def test_a_count_from_the_server_is_used_as_given() -> None:
    chain = Chain(params={"page_size": 50, "date_range": "2010-01-01/2025-12-31"})
    observe(chain, [dt.date(2020, 1, 1)], 1_000)
    assert calls_left([chain], TODAY) == 19  # 20 pages of 50, one fetched


def test_pages_out_of_date_order_give_no_estimate() -> None:
    chain = Chain(params={"page_size": 50, "date_range": "2010-01-01/2025-12-31"})
    observe(chain, [dt.date(2024, 1, 1), dt.date(2024, 6, 1)], None)
    assert calls_left([chain], TODAY) is not None
    observe(chain, [dt.date(2012, 3, 1)], None)  # back in time: dates tell nothing
    assert calls_left([chain], TODAY) is None
    assert calls_left([Chain(params={})], TODAY) == 1  # not started: its floor


def test_a_since_chain_is_stretched_to_today_then_floored() -> None:
    chain = Chain(params={"page_size": 50, "since": "2010-01-01T00:00:00"})
    observe(chain, [dt.date(2025, 1, 1), dt.date(2025, 4, 1)], None)
    assert calls_left([chain], dt.date(2025, 7, 1)) == 1  # half of the way in 1 page: 1 more
    observe(chain, [dt.date(2025, 7, 2)], None)  # past today: booked ahead, the floor
    assert calls_left([chain], dt.date(2025, 7, 1)) == 1


async def test_a_page_count_is_read_and_bounded() -> None:
    counts: list[Any] = [120, True, -1, 10**12, "7"]

    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"next": None, "results": [], "count": counts.pop(0)})

    async with DrChronoClient(
        "at_0123456789", transport=httpx.MockTransport(answer), quota=None
    ) as client:
        got = [(await client.doctors.list()).count for _ in range(5)]
    assert got == [120, None, None, None, None]


async def test_plan_estimates_a_backfill_in_progress_from_its_checkpoint() -> None:
    emu = Emulator(seed=2, clock=VirtualClock(), sizes={"appointments": 3000, "patients": 0})
    store = MemoryStore()
    async with emu.client() as client:
        syncer: Syncer

        def stop_at_20(report: Any) -> None:
            if report.pages >= 20:
                syncer.stop()

        syncer = Syncer(client, store, resources=["appointments"], progress=stop_at_20)
        stopped = await syncer.run()
        plan = await Syncer(client, store, resources=["appointments"]).plan()
        rest = await Syncer(client, store, resources=["appointments"]).run()
    (item,) = plan.items
    assert stopped["appointments"].pages == 20 and item.mode == "backfill"
    assert item.estimate is not None
    left = rest["appointments"].calls
    assert abs(item.estimate - left) <= max(3, left // 3)
    assert plan.expected >= plan.calls and plan.limit == 500 and plan.rate == 10.0
