"""The client and the emulator agree on every fact of the one endpoint table, checked here.

Each test drives both sides from the same row and probes the emulator at the limits.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import httpx
import pytest

from drchrono_async._endpoints import ENDPOINTS, FilterKind
from drchrono_async.resources._query import split_date_range
from drchrono_async.testing import Emulator, VirtualClock

WINDOWED = [e for e in ENDPOINTS if e.date_range_max_days is not None]


@pytest.fixture(scope="module")
def emu() -> Emulator:
    """One emulator for the module: the probes only read (a refused DELETE changes nothing),
    and seeding one per test was most of the module's time. Its quota is out of the way."""
    return Emulator(seed=4, clock=VirtualClock(), sizes={"appointments": 50}, quota=1_000_000)


@pytest.fixture
async def http(emu: Emulator) -> Any:
    headers = {"Authorization": f"Bearer {emu.access_token}"}
    async with httpx.AsyncClient(transport=emu.transport, base_url=emu.base_url,
                                 headers=headers) as client:  # fmt: skip
        client.emulator = emu  # type: ignore[attr-defined]
        yield client


@pytest.mark.parametrize("endpoint", WINDOWED, ids=lambda e: e.name)
async def test_the_date_range_limit_is_the_same_on_both_sides(endpoint: Any, http: Any) -> None:
    today = http.emulator.local_now().date()
    limit = endpoint.date_range_max_days
    start = today - dt.timedelta(days=10)
    longest = (start, start + dt.timedelta(days=limit - 1))
    too_long = (start, start + dt.timedelta(days=limit))
    # The client keeps the longest accepted range whole and splits one day more.
    assert split_date_range(longest, today=today, shards=None, limit_days=limit) == [longest]
    assert len(split_date_range(too_long, today=today, shards=None, limit_days=limit)) == 2
    # The emulator takes the first and refuses the second, by the same table rule.
    for (a, b), status in ((longest, 200), (too_long, 400)):
        answer = await http.get(endpoint.path, params={"date_range": f"{a}/{b}"})
        assert answer.status_code == status, (a, b)
        assert endpoint.date_range_accepted(a, b, today) is (status == 200)


LISTABLE = [e for e in ENDPOINTS if "GET" in e.methods and not e.required_filters]


@pytest.mark.parametrize("endpoint", LISTABLE, ids=lambda e: e.name)
async def test_page_sizes_and_methods_agree(endpoint: Any, http: Any) -> None:
    top = endpoint.max_page_size
    ok = await http.get(endpoint.path, params={"page_size": top})
    assert ok.status_code == 200 and len(ok.json()["results"]) <= top
    for method in ({"POST", "PUT", "PATCH", "DELETE"} - endpoint.methods) & {"DELETE"}:
        refused = await http.request(method, f"{endpoint.path}/1")
        assert refused.status_code in (404, 405)


@pytest.mark.parametrize(
    ("endpoint", "name"),
    [(e, f) for e in LISTABLE for f, k in e.filters.items() if k is FilterKind.INT][:40],
    ids=lambda v: getattr(v, "name", v),
)  # fmt: skip
async def test_every_integer_filter_the_client_sends_is_accepted(
    endpoint: Any, name: str, http: Any
) -> None:
    answer = await http.get(endpoint.path, params={name: "1"})
    assert answer.status_code == 200
    assert (await http.get(endpoint.path, params={name: "x"})).status_code == 400
