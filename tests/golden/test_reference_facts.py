"""The reference's per-endpoint facts against the endpoint table and the emulator alike.

Read from `../shared/reference/` with `tests/reference.py` (skipped where it is absent, never
under `CI=true`): each endpoint's methods, its filters and their types, and its page sizes.
`tests/test_endpoints.py` already holds the table's methods and filters to the reference; here
the table's page sizes are, and the emulator is probed with the reference's own numbers: a
method the reference does not list is refused with 405 and `Allow`, one it lists is not, every
documented filter is accepted with a value of its documented type (and a malformed integer,
date, date range or timestamp is a 400 naming the filter), and a page is capped at the
documented size.
"""

from __future__ import annotations

import re
from functools import cache
from typing import Any

import httpx
import pytest

from drchrono_async._endpoints import BY_NAME, Endpoint, FilterKind
from drchrono_async.testing import Emulator, VirtualClock
from tests import reference
from tests.test_endpoints import DEPARTURES, KIND_OF_TYPE
from tests.test_table_agreement import SIZES, listing_params

METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")
RECORD_ONLY = frozenset({"PUT", "PATCH", "DELETE"})
# A valid value of each filter type, and a malformed one where the type has a form to break.
VALID = {
    FilterKind.INT: "1",
    FilterKind.STR: "x",
    FilterKind.BOOL: "true",
    FilterKind.DATE: "2025-12-01",
    FilterKind.DATE_RANGE: "2025-12-01/2025-12-10",
    FilterKind.TIMESTAMP: "2025-12-01T00:00:00",
    FilterKind.STR_LIST: "a,b",
    FilterKind.FLAG: "true",
}
MALFORMED = {
    FilterKind.INT: "x",
    FilterKind.DATE: "2025-13-45",
    FilterKind.DATE_RANGE: "2025-12-01",
    FilterKind.TIMESTAMP: "2025-12-01T00:00:00Z",  # a timezone suffix is refused (DESIGN.md)
}
# Where a documented filter's value is fixed by the data rather than its type.
VALUE_OF = {("insurances", "payer_type"): "emdeon"}
NUMBER = r"(\d+)"


def _ref() -> dict[str, reference.Endpoint]:
    return {e.name: e for e in reference.api_endpoints().values() if not e.is_action}


@cache
def _sections(text: str) -> dict[str, str]:
    """Each `/api/<name>` section's text, by endpoint name."""
    sections: dict[str, list[str]] = {}
    current: list[str] | None = None
    for line in text.splitlines():
        if re.fullmatch(r"/api/[a-z0-9_]+", line.strip()):
            current = sections.setdefault(line.strip().removeprefix("/api/"), [])
        elif current is not None:
            current.append(line)
    return {name: "\n".join(lines) for name, lines in sections.items()}


def page_sizes(name: str) -> tuple[int, int, int]:
    """(default, maximum, maximum with verbose=true) as the reference states them: the
    general default and the verbose cap from its introduction, an endpoint's own numbers
    from its section."""
    text = reference.reference_text()
    general = re.search(rf"page size defaults to {NUMBER}", text)
    verbose = re.search(rf"default and maximum page sizes to {NUMBER}", text)
    assert general and verbose, "the reference's page size sentences moved"
    default = maximum = int(general.group(1))
    section = _sections(text)[name]
    if own := re.search(rf"{NUMBER} objects per page", section):
        default = int(own.group(1))
    if own := re.search(rf"maximum page size is {NUMBER}", section):
        maximum = int(own.group(1))
    return default, maximum, min(maximum, int(verbose.group(1)))


def kind_of(name: str, filter_name: str, key: reference.Key) -> FilterKind:
    return DEPARTURES.get((name, filter_name)) or KIND_OF_TYPE[key.type or ""]


@pytest.fixture(scope="module")
def emu() -> Emulator:
    """Seeded past a full page of every endpoint; the probes write nothing (a POST of an
    empty list creates no record, PUT/PATCH/DELETE go to an id that does not exist)."""
    return Emulator(seed=5, clock=VirtualClock(), sizes=SIZES, quota=1_000_000)


@pytest.fixture
async def http(emu: Emulator) -> Any:
    headers = {"Authorization": f"Bearer {emu.access_token}"}
    async with httpx.AsyncClient(
        transport=emu.transport, base_url=emu.base_url, headers=headers
    ) as client:
        client.emulator = emu  # type: ignore[attr-defined]
        yield client


NAMES = sorted(BY_NAME)
# Endpoints the table lists (GET); each test asserts the reference lists it too.
LISTED = sorted(n for n, e in BY_NAME.items() if "GET" in e.methods)


def _collected() -> dict[str, reference.Endpoint]:
    """The reference's `/api/` endpoints for parametrizing at collection, or none where the
    reference is absent (each test then reads it again, and skips, or fails under CI)."""
    return reference.api_endpoints() if reference.REFERENCE.exists() else {}


# --- the table --------------------------------------------------------------------------------


@pytest.mark.parametrize("name", LISTED)
def test_the_tables_page_sizes_are_the_references(name: str) -> None:
    assert "GET" in _ref()[name].methods
    endpoint = BY_NAME[name]
    default, maximum, verbose_max = page_sizes(name)
    assert endpoint.default_page_size_for(False) == default
    assert endpoint.max_page_size_for(False) == maximum
    assert endpoint.max_page_size_for(True) == verbose_max
    assert endpoint.default_page_size_for(True) == min(default, verbose_max)


def test_the_page_size_reading_finds_the_one_endpoint_of_its_own() -> None:
    """The regexes above do read something: clinical notes have their own sizes."""
    assert page_sizes("clinical_notes") == (5, 20, 20)
    assert page_sizes("patients") == (250, 250, 50)


# --- the emulator -----------------------------------------------------------------------------


def _paths(endpoint: Endpoint, method: str, missing_id: bool) -> list[str]:
    """Where `method` is probed: the list path for GET and POST (and for actions on the list
    path itself), a record's path for GET, PUT, PATCH and DELETE."""
    own = {a.method for a in endpoint.actions if a.path == endpoint.path}
    record = f"{endpoint.path}/{999_999_999 if missing_id else '{id}'}"
    if method in own:
        return [endpoint.path]
    if method == "GET":
        return [endpoint.path, record]
    return [record] if method in RECORD_ONLY else [endpoint.path]


@pytest.mark.parametrize("name", NAMES)
async def test_the_emulator_refuses_exactly_the_methods_the_reference_does_not_list(
    name: str, http: Any
) -> None:
    listed = set(_ref()[name].methods)
    endpoint = BY_NAME[name]
    keys = http.emulator.tables[name].keys
    for method in METHODS:
        if method in listed:
            # Served: probed so that nothing changes (an empty bulk create, a missing id).
            for path in _paths(endpoint, method, missing_id=True):
                params = listing_params(endpoint) if path == endpoint.path else None
                body = [] if method == "POST" and path == endpoint.path else {}
                answer = await http.request(
                    method, path, params=params, json=None if method == "GET" else body
                )
                assert answer.status_code != 405, (method, path, answer.text)
        else:
            for path in _paths(endpoint, method, missing_id=False):
                path = path.replace("{id}", str(keys[0] if keys else 1))
                answer = await http.request(method, path, json=None if method == "GET" else {})
                assert answer.status_code == 405, (method, path, answer.status_code)
                allow = {m.strip() for m in answer.headers["Allow"].split(",") if m.strip()}
                # What the path takes is a subset of what the reference lists: nothing more.
                assert allow - {"HEAD", "OPTIONS"} <= listed, (method, path, allow)


ACTIONS = sorted(p for p in _collected() if ":id" in p)


@pytest.mark.parametrize("path", ACTIONS)
async def test_the_emulator_refuses_the_methods_an_action_does_not_list(
    path: str, http: Any
) -> None:
    listed = set(reference.api_endpoints()[path].methods)
    name = path.split("/")[2]
    key = http.emulator.tables[name].keys[0]
    target = path.replace(":id", str(key))
    for method in sorted(set(METHODS) - listed):
        answer = await http.request(method, target, json=None if method == "GET" else {})
        assert answer.status_code == 405, (method, target, answer.text)
        assert {m.strip() for m in answer.headers["Allow"].split(",")} == listed


async def test_the_token_endpoint_refuses_what_it_does_not_list(http: Any) -> None:
    listed = set(reference.endpoints()["/o/token/"].methods)
    for method in sorted(set(METHODS) - listed):
        answer = await http.request(method, "/o/token/")
        assert answer.status_code == 405, method


FILTER_CASES = [
    (e.name, filter_name)
    for e in _collected().values()
    if not e.is_action
    for filter_name in e.filters
]


@pytest.mark.parametrize(("name", "filter_name"), FILTER_CASES)
async def test_the_emulator_takes_every_documented_filter(
    name: str, filter_name: str, http: Any
) -> None:
    key = _ref()[name].filters[filter_name]
    kind = kind_of(name, filter_name, key)
    endpoint = BY_NAME[name]
    base = {
        k: v
        for k, v in listing_params(endpoint).items()
        if not any(filter_name in g and k in g for g in endpoint.required_filters)
    }
    value = VALUE_OF.get((name, filter_name), VALID[kind])
    answer = await http.get(endpoint.path, params={**base, filter_name: value})
    assert answer.status_code == 200, (value, answer.text)
    if kind in MALFORMED:
        refused = await http.get(endpoint.path, params={**base, filter_name: MALFORMED[kind]})
        assert refused.status_code == 400, (MALFORMED[kind], refused.text)
        assert filter_name in refused.json()


@pytest.mark.parametrize("name", LISTED)
async def test_the_emulator_caps_a_page_at_the_documented_size(name: str, http: Any) -> None:
    assert "GET" in _ref()[name].methods
    endpoint = BY_NAME[name]
    default, maximum, verbose_max = page_sizes(name)
    params = listing_params(endpoint)
    for verbose, top in ((False, maximum), (True, verbose_max)):
        if verbose and not _ref()[name].verbose_keys:
            continue
        asked = params | ({"verbose": "true"} if verbose else {})
        page = (await http.get(endpoint.path, params={**asked, "page_size": top + 1})).json()
        assert len(page["results"]) == top and page["next"], (verbose, len(page["results"]))
    plain = (await http.get(endpoint.path, params=params)).json()
    assert len(plain["results"]) == default
