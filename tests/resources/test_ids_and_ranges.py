"""Ids never become paths of their own; date ranges never overflow; nothing is sent first."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
import respx

from drchrono_async import DrChronoClient
from drchrono_async._endpoints import ENDPOINTS
from drchrono_async.errors import InvalidRequestError
from drchrono_async.testing import VirtualClock

BASE = "https://drchrono.test"
BAD_STRING_IDS = [
    "",
    ".",
    "..",
    "a/b",
    "../x",
    "a?b",
    "a#b",
    "a\\b",
    "a\nb",
    "a\x00b",
    "a\x7fb",
    " 1",
    "1 ",
    "a b",
    "a%2Fb",
    "a\u2028b",
    "x" * 65,
    "é",
]
BAD_INT_IDS: list[Any] = [0, -1, 2**63, True, 1.0, "12", None, b"1"]


@pytest.fixture
async def client() -> Any:
    async with DrChronoClient("tok", base_url=BASE, clock=VirtualClock(), quota=None) as c:
        yield c


def with_get(endpoint_names: list[str]) -> list[str]:
    return [
        e.name
        for e in ENDPOINTS
        if e.name in endpoint_names or (not endpoint_names and "GET" in e.methods and e.record)
    ]


@respx.mock
@pytest.mark.parametrize("bad", BAD_STRING_IDS)
async def test_string_ids_that_could_leave_their_segment_are_refused(
    client: DrChronoClient, bad: str
) -> None:
    route = respx.route(host="drchrono.test").respond(200, json={})
    for call in (
        client.appointments.get(bad),
        client.appointments.delete(bad),
        client.appointments.patch(bad, notes="x"),
    ):
        with pytest.raises(InvalidRequestError) as info:
            await call
        assert len(bad) < 4 or bad not in str(info.value)
    assert route.call_count == 0


@respx.mock
@pytest.mark.parametrize("bad", BAD_INT_IDS)
async def test_integer_ids_must_be_positive_integers_on_every_endpoint(
    client: DrChronoClient, bad: Any
) -> None:
    route = respx.route(host="drchrono.test").respond(200, json={})
    for endpoint in ENDPOINTS:
        if endpoint.id_type is not int or "GET" not in endpoint.methods or not endpoint.record:
            continue
        with pytest.raises(InvalidRequestError):
            await getattr(client, endpoint.name).get(bad)
    assert route.call_count == 0


@respx.mock
async def test_ordinary_ids_go_through(client: DrChronoClient) -> None:
    ok = respx.get(f"{BASE}/api/appointments/AB-12_x.3:4").respond(200, json={"id": "1"})
    await client.appointments.get("AB-12_x.3:4")
    respx.get(f"{BASE}/api/patients/{2**63 - 1}").respond(200, json={"id": 5})
    await client.patients.get(2**63 - 1)
    assert ok.call_count == 1


@respx.mock
@pytest.mark.parametrize(
    "span",
    [
        (dt.date(2020, 1, 1), dt.date.max),
        (dt.date.min, dt.date(2020, 1, 1)),
        (dt.date.min, dt.date.max),
        (dt.date.max, dt.date.max),
    ],
)
async def test_extreme_date_ranges_give_a_result_or_a_typed_error(
    client: DrChronoClient, span: tuple[dt.date, dt.date]
) -> None:
    respx.route(host="drchrono.test").respond(200, json={"results": [], "next": None})
    try:
        listing = client.appointments.list(date_range=span)
    except InvalidRequestError:
        return
    assert [a async for a in listing] == []


@pytest.mark.parametrize("shards", [0, 65, True, 2.0])
def test_shards_are_bounded(client: DrChronoClient, shards: Any) -> None:
    with pytest.raises(InvalidRequestError):
        client.appointments.list(
            date_range=(dt.date(2020, 1, 1), dt.date(2020, 2, 1)), shards=shards
        )
