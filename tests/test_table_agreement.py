"""The client and the emulator agree on every fact of the one endpoint table, checked here.

Each test drives both sides from the same row and probes the emulator at the limits. Every
probe is one that a wrong emulator fails: the tables are seeded past a full page of every
endpoint (and the test checks that they are), a page asked beyond the cap must come back
exactly at the cap with a `next` link, and a method the table does not list must be refused
with exactly 405 and an `Allow` header naming what the path does take.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import httpx
import orjson
import pytest

from drchrono_async._endpoints import ENDPOINTS, Endpoint, FilterKind
from drchrono_async.resources._query import split_date_range
from drchrono_async.testing import Emulator, VirtualClock

WINDOWED = [e for e in ENDPOINTS if e.date_range_max_days is not None]
WRITES = ("POST", "PUT", "PATCH", "DELETE")
LIST_METHODS = frozenset({"GET", "POST"})
RECORD_METHODS = frozenset({"GET", "PUT", "PATCH", "DELETE"})
# More than a full page (250) of every listable endpoint, once filters and hidden rows are
# taken off: insurances are listed by one payer_type of three, documents are made from the
# past appointments only.
SIZES = {
    "doctors": 260,
    "offices": 260,
    "staff": 260,
    "patients": 300,
    "appointments": 560,
    "clinical_notes": 30,
    "documents": 300,
    "problems": 300,
    "allergies": 300,
    "medications": 300,
    "line_items": 300,
    "tasks": 300,
    "insurances": 780,
    "other": 300,
}


@pytest.fixture(scope="module")
def emu() -> Emulator:
    """One emulator for the module: the probes only read (a refused write changes nothing),
    and seeding one per test was most of the module's time. Its quota is out of the way."""
    return Emulator(seed=4, clock=VirtualClock(), sizes=SIZES, quota=1_000_000)


@pytest.fixture
async def http(emu: Emulator) -> Any:
    headers = {"Authorization": f"Bearer {emu.access_token}"}
    async with httpx.AsyncClient(
        transport=emu.transport, base_url=emu.base_url, headers=headers
    ) as client:
        client.emulator = emu  # type: ignore[attr-defined]
        yield client


def listing_params(endpoint: Endpoint) -> dict[str, str]:
    """The least a listing of `endpoint` needs, with every hidden row shown."""
    params: dict[str, str] = {}
    for group in endpoint.required_filters:
        name = group[0]
        params[name] = {"since": "2000-01-01T00:00:00", "payer_type": "emdeon"}[name]
    for name in ("show_archived", "show_inactive"):
        if name in endpoint.filters:
            params[name] = "true"
    return params


def allowed_on(endpoint: Endpoint, record: bool) -> set[str]:
    """The methods the table gives the list path (`record=False`) or a record's path; actions
    on the list path itself (iframe_integration's enable and disable) count as its methods."""
    if record:
        return set(endpoint.methods & RECORD_METHODS)
    own = {a.method for a in endpoint.actions if a.path == endpoint.path}
    return set(endpoint.methods & LIST_METHODS) | own


def first_key(emu: Emulator, endpoint: Endpoint) -> int:
    """The id (or key, for records without an `id`) of a record that exists; 1 for the one
    endpoint without records (iframe_integration, a switch with no record type)."""
    keys = emu.tables[endpoint.name].keys
    assert keys or endpoint.record is None, f"the emulator seeds no {endpoint.name}"
    return keys[0] if keys else 1


def allow_header(answer: httpx.Response) -> set[str]:
    value = answer.headers.get("Allow")
    assert value is not None, "a 405 without an Allow header"
    return {m.strip() for m in value.split(",") if m.strip()} - {"HEAD", "OPTIONS"}


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


LISTED = [e for e in ENDPOINTS if "GET" in e.methods]
PAGE_CASES = [(e, False) for e in LISTED] + [(e, True) for e in LISTED if e.verbose_keys]


@pytest.mark.parametrize(
    ("endpoint", "verbose"),
    PAGE_CASES,
    ids=[f"{e.name}{'-verbose' if v else ''}" for e, v in PAGE_CASES],
)
async def test_a_full_page_is_exactly_the_tables_size_and_has_next(
    endpoint: Endpoint, verbose: bool, http: Any
) -> None:
    """Asked for more than the cap, the emulator answers exactly the cap (the table's
    `max_page_size_for`, which the client's paginator also reads) and a `next` link; asked
    nothing, exactly the table's default page size."""
    params = listing_params(endpoint) | ({"verbose": "true"} if verbose else {})
    top = endpoint.max_page_size_for(verbose)
    full = await http.get(endpoint.path, params={**params, "page_size": top + 1})
    assert full.status_code == 200, full.text
    page = full.json()
    assert len(page["results"]) == top
    assert page["next"] is not None and page["previous"] is None
    # There really was more than a page: the next one is not empty (else the seed is too
    # small for this probe to mean anything).
    rest = (await http.get(page["next"])).json()
    assert rest["results"], "seed more records: the listing fits in one page"
    assert rest["previous"] is not None
    seen = {orjson.dumps(r) for r in page["results"]}
    assert not seen & {orjson.dumps(r) for r in rest["results"]}
    plain = (await http.get(endpoint.path, params=params)).json()
    assert len(plain["results"]) == endpoint.default_page_size_for(verbose)
    assert plain["next"] is not None


REFUSALS = [
    (e, method, record)
    for e in ENDPOINTS
    for method in ("GET", *WRITES)
    for record in (False, True)
    if method not in allowed_on(e, record) and (record or method in LIST_METHODS)
]


@pytest.mark.parametrize(
    ("endpoint", "method", "record"),
    REFUSALS,
    ids=[f"{e.name}-{m}{'-record' if r else ''}" for e, m, r in REFUSALS],
)
async def test_a_method_the_table_does_not_list_is_405_with_allow(
    endpoint: Endpoint, method: str, record: bool, http: Any
) -> None:
    """Not 404: the probe goes to a record that exists, so only the method can be refused."""
    path = endpoint.path
    if record:
        path = f"{path}/{first_key(http.emulator, endpoint)}"
    answer = await http.request(method, path, json={} if method in WRITES else None)
    assert answer.status_code == 405, answer.text
    assert answer.json() == {"detail": f'Method "{method}" not allowed.'}
    assert allow_header(answer) == allowed_on(endpoint, record)


@pytest.mark.parametrize(
    "endpoint", [e for e in ENDPOINTS if "GET" in e.methods], ids=lambda e: e.name
)
async def test_a_record_the_table_lets_get_is_served(endpoint: Endpoint, http: Any) -> None:
    """The other side of the 405s: GET on an existing record's path is answered."""
    key = first_key(http.emulator, endpoint)
    answer = await http.get(f"{endpoint.path}/{key}")
    assert answer.status_code == 200, answer.text
    stored = http.emulator.record(endpoint.name, key)
    assert {k: v for k, v in answer.json().items() if k in stored}.items() <= stored.items()


LISTABLE = [e for e in ENDPOINTS if "GET" in e.methods and not e.required_filters]


@pytest.mark.parametrize(
    ("endpoint", "name"),
    [(e, f) for e in LISTABLE for f, k in e.filters.items() if k is FilterKind.INT],
    ids=lambda v: getattr(v, "name", v),
)
async def test_every_integer_filter_the_client_sends_is_accepted(
    endpoint: Any, name: str, http: Any
) -> None:
    answer = await http.get(endpoint.path, params={name: "1"})
    assert answer.status_code == 200
    assert (await http.get(endpoint.path, params={name: "x"})).status_code == 400
