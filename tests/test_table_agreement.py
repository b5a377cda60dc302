"""The client and the emulator against each other, fact by fact of the one endpoint table.

Both read `drchrono_async._endpoints`; these tests drive the client from the table and probe
the emulator at each limit the table states (the longest date range, the largest page, the
methods, filters, id types, verbose keys, required filters and fields, actions), so that a fact
one side reads differently from the other fails here, in one place.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from drchrono_async import DrChronoClient, errors
from drchrono_async._endpoints import BY_NAME, ENDPOINTS, Endpoint, FilterKind
from drchrono_async.records._base import api_fields, writable_fields
from drchrono_async.testing import Emulator, VirtualClock
from drchrono_async.testing._behaviour import BEHAVIOURS

START = 1_767_225_600.0  # 2026-01-01T00:00:00Z
TODAY = dt.date(2026, 1, 1)
LISTABLE = [e for e in ENDPOINTS if "GET" in e.methods]
ALL_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")
SAMPLES: dict[FilterKind, Any] = {
    FilterKind.INT: 1,
    FilterKind.STR: "x",
    FilterKind.BOOL: True,
    FilterKind.DATE: dt.date(2025, 12, 1),
    FilterKind.DATE_RANGE: (dt.date(2025, 12, 1), dt.date(2025, 12, 31)),
    FilterKind.TIMESTAMP: dt.datetime(2025, 1, 1),
    FilterKind.STR_LIST: ["a"],
    FilterKind.FLAG: True,
}
# A value for the first filter of each required group that selects many records.
REQUIRED_VALUES: dict[str, Any] = {"since": dt.datetime(2000, 1, 1), "payer_type": "gateway"}


def _ids(endpoints: list[Endpoint]) -> list[str]:
    return [e.name for e in endpoints]


def _required(endpoint: Endpoint) -> dict[str, Any]:
    return {group[0]: REQUIRED_VALUES[group[0]] for group in endpoint.required_filters}


@pytest.fixture(scope="module")
def emu() -> Emulator:
    # Module-wide: seeding once keeps the module fast. Tests here only add records (an empty
    # create where nothing is required, an exam room), never remove or hide one.
    return Emulator(seed=11, clock=VirtualClock(start=START), quota=1_000_000)


@pytest.fixture
async def client(emu: Emulator) -> AsyncIterator[DrChronoClient]:
    async with emu.client(quota=None) as c:
        yield c


@pytest.fixture
async def http(emu: Emulator) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(
        transport=emu.transport,
        base_url=emu.base_url,
        headers={"Authorization": f"Bearer {emu.access_token}"},
    ) as c:
        yield c


def _query(endpoint: Endpoint, **extra: str) -> dict[str, str]:
    query = {"since": "2000-01-01T00:00:00"} if endpoint.required_filters else {}
    if endpoint.name == "insurances":
        query = {"payer_type": "gateway"}
    return {**query, **extra}


# --- paths and methods --------------------------------------------------------------------------


@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=_ids(ENDPOINTS))
async def test_methods_agree(
    endpoint: Endpoint, client: DrChronoClient, http: httpx.AsyncClient, emu: Emulator
) -> None:
    own_actions = {a.method for a in endpoint.actions if a.path == endpoint.path}
    for method in ALL_METHODS:
        on_item = method in ("PUT", "PATCH", "DELETE")
        # A missing id: an allowed method is a 404 there, a refused one a 405 before the lookup.
        path = f"{endpoint.path}/0" if on_item else endpoint.path
        r = await http.request(method, path, json={} if method != "GET" else None)
        allowed = method in endpoint.methods or (not on_item and method in own_actions)
        assert (r.status_code == 405) is not allowed, (method, r.status_code)
    resource = getattr(client, endpoint.name)
    calls = {
        "GET": lambda: resource.get(0),
        "POST": lambda: resource.create({}),
        "PUT": lambda: resource.update(0, {}),
        "PATCH": lambda: resource.patch(0, notes="x"),
        "DELETE": lambda: resource.delete(0),
    }
    for method, call in calls.items():
        before = len(emu.requests)
        if method in endpoint.methods:
            # The client sends it, and the emulator answers it as a method it has: a 404 for
            # the missing id, a 400 or a 201 for the empty create.
            try:
                await call()
            except errors.APIError as exc:
                assert exc.status_code in (400, 404), method
            assert len(emu.requests) == before + 1
        else:
            with pytest.raises(errors.InvalidRequestError):
                await call()
            assert len(emu.requests) == before, "refused by the client, never sent"
    if "GET" not in endpoint.methods:
        with pytest.raises(errors.InvalidRequestError):
            resource.list()


@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=_ids(ENDPOINTS))
def test_paths_are_the_names(endpoint: Endpoint) -> None:
    assert endpoint.path == f"/api/{endpoint.name}"


# --- filters ------------------------------------------------------------------------------------


@pytest.mark.parametrize("endpoint", LISTABLE, ids=_ids(LISTABLE))
async def test_every_filter_the_client_sends_is_one_the_emulator_takes(
    endpoint: Endpoint, client: DrChronoClient, emu: Emulator
) -> None:
    resource = getattr(client, endpoint.name)
    for name, kind in endpoint.filters.items():
        filters = {**_required(endpoint), name: SAMPLES[kind]}
        if name == "payer_type":
            filters[name] = "gateway"
        before = len(emu.requests)
        await resource.list(**filters)  # raises on any 4xx
        sent = emu.requests[before:]
        assert [e.status for e in sent] == [200] * len(sent)
        assert all(name in e.query for e in sent), name
    with pytest.raises(errors.InvalidRequestError):
        resource.list(**_required(endpoint), no_such_filter=1)


@pytest.mark.parametrize(
    "endpoint", [e for e in LISTABLE if e.required_filters], ids=lambda e: e.name
)
async def test_required_filters_agree(
    endpoint: Endpoint, client: DrChronoClient, http: httpx.AsyncClient, emu: Emulator
) -> None:
    before = len(emu.requests)
    with pytest.raises(errors.InvalidRequestError):
        getattr(client, endpoint.name).list()
    assert len(emu.requests) == before
    r = await http.get(endpoint.path)
    assert r.status_code == 400
    assert set(r.json()) == {name for group in endpoint.required_filters for name in group}


# --- page sizes ---------------------------------------------------------------------------------


# Endpoints the emulator seeds with more than two of their largest pages: there the page
# size must be met exactly, not only not exceeded.
PLENTIFUL = {"appointments", "clinical_notes", "line_items"}


@pytest.mark.parametrize("verbose", [False, True], ids=["plain", "verbose"])
@pytest.mark.parametrize("endpoint", LISTABLE, ids=_ids(LISTABLE))
async def test_page_sizes_agree(
    endpoint: Endpoint,
    verbose: bool,
    client: DrChronoClient,
    http: httpx.AsyncClient,
    emu: Emulator,
) -> None:
    maximum = endpoint.max_page_size_for(verbose)
    resource = getattr(client, endpoint.name)
    with pytest.raises(errors.InvalidRequestError):
        resource.list(**_required(endpoint), verbose=verbose, page_size=maximum + 1)
    page = await resource.list(**_required(endpoint), verbose=verbose, page_size=maximum)
    plentiful = len(emu.records(endpoint.name)) > 2 * maximum
    assert plentiful or endpoint.name not in PLENTIFUL
    if plentiful:
        assert len(page.results) == maximum
    flag = {"verbose": "true"} if verbose else {}
    over = await http.get(
        endpoint.path, params=_query(endpoint, page_size=str(maximum + 1), **flag)
    )
    assert over.status_code == 200
    assert len(over.json()["results"]) == len(page.results)
    unasked = await http.get(endpoint.path, params=_query(endpoint, **flag))
    if plentiful:
        assert len(unasked.json()["results"]) == endpoint.default_page_size_for(verbose)


# --- date ranges --------------------------------------------------------------------------------

LIMITED = [e for e in LISTABLE if e.date_range_max_days is not None]


@pytest.mark.parametrize("endpoint", LIMITED, ids=_ids(LIMITED))
async def test_the_date_range_limit_agrees(
    endpoint: Endpoint, client: DrChronoClient, http: httpx.AsyncClient, emu: Emulator
) -> None:
    limit = endpoint.date_range_max_days
    assert limit is not None
    start = TODAY - dt.timedelta(days=100)  # ends in the future either way

    async def emulator_says(first: dt.date, days: int) -> int:
        last = first + dt.timedelta(days=days - 1)
        r = await http.get(endpoint.path, params={"date_range": f"{first}/{last}"})
        return r.status_code

    assert await emulator_says(start, limit) == 200
    assert await emulator_says(start, limit + 1) == 400
    past = TODAY - dt.timedelta(days=3 * limit)
    assert await emulator_says(past, 2 * limit) == 200  # wholly past: no limit

    resource = getattr(client, endpoint.name)
    for days, windows in ((limit, 1), (limit + 1, 2)):
        last = start + dt.timedelta(days=days - 1)
        before = len(emu.requests)
        async for _ in resource.list(date_range=(start, last)):
            pass
        sent = emu.requests[before:]
        assert {e.status for e in sent} == {200}
        assert len({e.query["date_range"] for e in sent}) == windows


UNLIMITED_RANGES = [
    (e, name)
    for e in LISTABLE
    for name, kind in e.filters.items()
    if kind is FilterKind.DATE_RANGE
    and not (name == "date_range" and e.date_range_max_days is not None)
]


@pytest.mark.parametrize(
    ("endpoint", "name"), UNLIMITED_RANGES, ids=[f"{e.name}.{n}" for e, n in UNLIMITED_RANGES]
)
async def test_other_date_ranges_are_unlimited_on_both_sides(
    endpoint: Endpoint, name: str, client: DrChronoClient, emu: Emulator
) -> None:
    span = (TODAY - dt.timedelta(days=300), TODAY + dt.timedelta(days=300))
    before = len(emu.requests)
    await getattr(client, endpoint.name).list(**_required(endpoint), **{name: span})
    sent = emu.requests[before:]
    assert [e.status for e in sent] == [200], "sent whole, and accepted"


# --- ids, verbose keys, fields ------------------------------------------------------------------

READABLE = [e for e in LISTABLE if e.record is not None]


@pytest.mark.parametrize("endpoint", READABLE, ids=_ids(READABLE))
async def test_id_types_agree(endpoint: Endpoint, client: DrChronoClient, emu: Emulator) -> None:
    stored = emu.records(endpoint.name)
    if "id" not in api_fields_names(endpoint):
        assert all("id" not in r for r in stored)
        return
    assert stored and all(type(r["id"]) is endpoint.id_type for r in stored)
    resource = getattr(client, endpoint.name)
    record = await resource.get(stored[0]["id"])
    assert record.id == stored[0]["id"]
    before = len(emu.requests)
    if endpoint.id_type is str:
        with pytest.raises(errors.NotFoundError):
            await resource.get("no-such-id")
        assert len(emu.requests) == before + 1
    else:
        with pytest.raises(errors.InvalidRequestError):
            await resource.get("no-such-id")
        assert len(emu.requests) == before


def api_fields_names(endpoint: Endpoint) -> set[str]:
    record_type = endpoint.record_type
    return {f.name for f in api_fields(record_type)} if record_type is not None else set()


VERBOSE = [e for e in LISTABLE if e.verbose_keys]


@pytest.mark.parametrize("endpoint", VERBOSE, ids=_ids(VERBOSE))
async def test_verbose_keys_agree(endpoint: Endpoint, http: httpx.AsyncClient) -> None:
    record_type = endpoint.record_type
    assert record_type is not None
    fields = {f.name: f for f in api_fields(record_type)}
    for key in endpoint.verbose_keys:
        # The client's record reads the key, and does not count on it.
        assert key in fields and not fields[key].metadata["always_present"], key
    plain = (await http.get(endpoint.path, params=_query(endpoint))).json()["results"]
    full = (await http.get(endpoint.path, params=_query(endpoint, verbose="true"))).json()
    assert plain and full["results"]
    assert all(not endpoint.verbose_keys & r.keys() for r in plain)
    assert all(endpoint.verbose_keys <= r.keys() for r in full["results"])


WRITABLE = [e for e in ENDPOINTS if "POST" in e.methods]


@pytest.mark.parametrize("endpoint", WRITABLE, ids=_ids(WRITABLE))
async def test_required_and_write_only_fields_agree(
    endpoint: Endpoint, http: httpx.AsyncClient
) -> None:
    record_type = endpoint.record_type
    assert record_type is not None
    writable = {f.name for f in writable_fields(record_type)}
    # The client's record can send every field the table says a write needs or may send.
    assert set(endpoint.required_fields) <= writable | endpoint.file_fields
    assert endpoint.write_only_fields <= writable
    if not endpoint.required_fields:
        return  # an empty create would succeed: nothing to probe without storing a record
    r = await http.post(endpoint.path, json={})
    assert r.status_code == 400
    refused = set(r.json())
    # An appointment also needs a duration unless its profile gives one (a behaviour hook).
    extra = {"duration"} if endpoint.name == "appointments" else set()
    assert refused == set(endpoint.required_fields) | extra


# --- actions ------------------------------------------------------------------------------------

ACTIONS = [(e, a) for e in ENDPOINTS for a in e.actions]


@pytest.mark.parametrize(
    ("endpoint", "action_name"),
    [(e, a.name) for e, a in ACTIONS],
    ids=[f"{e.name}.{a.name}" for e, a in ACTIONS],
)
async def test_actions_route_and_check_their_body(
    endpoint: Endpoint, action_name: str, http: httpx.AsyncClient, emu: Emulator
) -> None:
    action = endpoint.action(action_name)
    path = action.path
    if "{id}" in path:
        path = path.replace("{id}", str(emu.records(endpoint.name)[0]["id"]))
    if action.required_body:
        r = await http.request(action.method, path, json={})
        assert r.status_code == 400
        assert set(r.json()) == set(action.required_body)
    # The required body alone is enough: what is optional may be left out.
    r = await http.request(action.method, path, json=dict.fromkeys(action.required_body, "x"))
    assert r.status_code not in (400, 404, 405), r.status_code
    other = next(m for m in ALL_METHODS if m not in _methods_at(endpoint, action.path))
    assert (await http.request(other, path)).status_code == 405


def _methods_at(endpoint: Endpoint, path: str) -> set[str]:
    methods = {a.method for a in endpoint.actions if a.path == path}
    return methods | (set(endpoint.methods) if path == endpoint.path else set())


def test_behaviours_name_table_entries() -> None:
    for name, behaviour in BEHAVIOURS.items():
        endpoint = BY_NAME[name]
        for action in behaviour.actions:
            endpoint.action(action)
        assert behaviour.nullable <= set(endpoint.required_fields)
        assert behaviour.conflict_fields <= api_fields_names(endpoint)
