"""Whatever a caller passes as an id, a filter or a body value: a result or InvalidRequestError.

Nothing else may escape (OverflowError, UnicodeEncodeError, Python's int-to-str limit...), no
bad id may reach another path, and no message may repeat the value.
"""

from __future__ import annotations

import datetime as dt
import itertools
import json
import math
from collections.abc import AsyncIterator, Callable
from decimal import Decimal
from typing import Any

import httpx
import pytest
import respx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from drchrono_async import DrChronoClient, InvalidRequestError
from drchrono_async._endpoints import ENDPOINTS, FilterKind
from drchrono_async.resources import _query
from drchrono_async.testing import VirtualClock

BASE = "https://drchrono.test"
PAGE: dict[str, Any] = {"next": None, "previous": None, "results": []}
TODAY = dt.date(2026, 1, 1)  # the VirtualClock's default start
PLUS_5 = dt.timezone(dt.timedelta(hours=5))
MARK = "zq9"  # in every bad string id, so a message that repeats one is caught

BAD_STRING_IDS = [
    "",
    ".",
    "..",
    f"{MARK}/..",
    f"../{MARK}",
    f"{MARK}?page=2",
    f"{MARK}#x",
    f"{MARK}\\..",
    f" {MARK}",
    f"{MARK} ",
    f"{MARK}\t",
    f"{MARK}\n",
    f"{MARK}\x00",
    f"{MARK}\x1f",
    f"{MARK}\x7f",
    f"{MARK}\x85",
    f"{MARK}\u2028",
    f"{MARK}\u2029",
    f"{MARK}\u202e",  # right-to-left override
    f"{MARK}\ud800",  # a lone surrogate: not even UTF-8
    MARK * 30,
]
BAD_INT_IDS: list[Any] = [True, False, 0, -1, 2**63, 10**5000, 1.0, None, b"1", [1]]


@pytest.fixture
async def client() -> AsyncIterator[DrChronoClient]:
    async with DrChronoClient("tok", base_url=BASE, clock=VirtualClock()) as c:
        yield c


def _id_calls(client: DrChronoClient) -> list[tuple[str, Callable[[Any], Any]]]:
    """Every method and action of every endpoint that takes an id, as `(label, call(id))`."""
    calls: list[tuple[str, Callable[[Any], Any]]] = []
    for endpoint in ENDPOINTS:
        r: Any = getattr(client, endpoint.name)
        plain = {
            "GET": lambda i, r=r: r.get(i),
            "PUT": lambda i, r=r: r.update(i, {"note": "x"}),
            "PATCH": lambda i, r=r: r.patch(i, note="x"),
            "DELETE": lambda i, r=r: r.delete(i),
        }
        calls += [
            (f"{endpoint.name} {m}", plain[m]) for m in sorted(endpoint.methods & plain.keys())
        ]
    actions: dict[str, Callable[[Any], Any]] = {
        "offices.add_exam_room": lambda i: client.offices.add_exam_room(i, name="A"),
        "consent_forms.apply_to_appointment": lambda i: client.consent_forms.apply_to_appointment(
            i, appointment=1
        ),
        "consent_forms.unapply_from_appointment": lambda i: (
            client.consent_forms.unapply_from_appointment(i, appointment=1)
        ),
        "medications.append_to_pharmacy_note": lambda i: client.medications.append_to_pharmacy_note(
            i, "t"
        ),
        "patients.ccda": lambda i: client.patients.ccda(i),
        "patients.qrda1": lambda i: client.patients.qrda1(i),
        "patients.onpatient_access": lambda i: client.patients.onpatient_access(i),
        "patients.send_onpatient_access": lambda i: client.patients.send_onpatient_access(i),
        "patients.revoke_onpatient_access": lambda i: client.patients.revoke_onpatient_access(i),
    }
    with_id = {f"{e.name}.{a.name}" for e in ENDPOINTS for a in e.actions if "{id}" in a.path}
    assert set(actions) == with_id, "an action that takes an id is missing here"
    return calls + sorted(actions.items())


@respx.mock
async def test_bad_ids_are_refused_before_sending_everywhere(client: DrChronoClient) -> None:
    route = respx.route(host="drchrono.test").respond(200, json={})
    calls = _id_calls(client)
    assert len(calls) > 100
    for label, call in calls:
        for bad in [*BAD_STRING_IDS, *BAD_INT_IDS]:
            with pytest.raises(InvalidRequestError) as info:
                await call(bad)
            message = str(info.value)
            assert MARK not in message and "9223372036854775808" not in message, label
    assert route.call_count == 0


class _SneakyInt(int):
    def __str__(self) -> str:
        return "../../o/token"

    __repr__ = __str__


class _SneakyStr(str):
    def __str__(self) -> str:
        return "../../o/token"


@respx.mock
async def test_subclasses_cannot_change_the_path(client: DrChronoClient) -> None:
    route = respx.route(host="drchrono.test", path__regex=r"/\d+$").respond(200, json={"id": 1})
    listing = respx.get(f"{BASE}/api/appointments").respond(200, json=PAGE)
    await client.patients.get(_SneakyInt(7))
    await client.appointments.get(_SneakyStr("7"))
    await client.appointments.list(since=dt.datetime(2026, 1, 1), doctor=_SneakyInt(3))
    paths = [c.request.url.path for c in route.calls]
    assert paths == ["/api/patients/7", "/api/appointments/7"]
    assert listing.calls.last.request.url.params["doctor"] == "3"


# -- date ranges at the ends of the calendar -------------------------------------------------


def _covers(windows: list[_query.DateSpan], start: dt.date, end: dt.date) -> bool:
    days = [d.toordinal() for w in windows for d in w]
    return (
        windows[0][0] == start
        and windows[-1][1] == end
        and all(
            b.toordinal() + 1 == c.toordinal() for (_, b), (c, _) in itertools.pairwise(windows)
        )
        and days == sorted(days)
    )


@pytest.mark.parametrize(
    ("start", "end", "shards"),
    [
        (dt.date.max - dt.timedelta(days=400), dt.date.max, None),
        (dt.date.max - dt.timedelta(days=9), dt.date.max, 4),
        (dt.date.max, dt.date.max, 3),
        (dt.date.min, dt.date.min + dt.timedelta(days=9), 64),
        (dt.date.min, TODAY - dt.timedelta(days=1), None),
    ],
)
def test_split_date_range_at_the_calendar_ends(
    start: dt.date, end: dt.date, shards: int | None
) -> None:
    windows = _query.split_date_range((start, end), today=TODAY, shards=shards, limit_days=190)
    assert _covers(windows, start, end)
    assert all((b - a).days < 190 for a, b in windows if b >= TODAY)


@respx.mock
async def test_listing_up_to_date_max_is_sent(client: DrChronoClient) -> None:
    route = respx.get(f"{BASE}/api/appointments").respond(200, json=PAGE)
    await client.appointments.list(date_range=(dt.date.max - dt.timedelta(days=5), dt.date.max))
    assert route.calls.last.request.url.params["date_range"] == "9999-12-26/9999-12-31"
    await client.appointments.list(date_range=(dt.date.min, dt.date(2020, 1, 1)))
    assert route.calls.last.request.url.params["date_range"] == "0001-01-01/2020-01-01"
    with pytest.raises(InvalidRequestError):
        client.appointments.list(date_range=(dt.date.min, dt.date.max))


# -- filter values ---------------------------------------------------------------------------

_EXTREME_DATETIMES = [
    dt.datetime.min.replace(tzinfo=dt.UTC),
    dt.datetime.max.replace(tzinfo=dt.timezone(dt.timedelta(hours=-23, minutes=-59))),
    dt.datetime.min.replace(tzinfo=dt.timezone(dt.timedelta(hours=23, minutes=59))),
    dt.datetime.max,
    dt.datetime.min,
]
_SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.sampled_from([2**63, -(2**63)]),
    st.sampled_from([5000, -5000]).map(lambda n: (10 ** abs(n)) * (1 if n > 0 else -1)),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(),
    st.sampled_from(["\ud800", "a,b", "2026-01-01\ud800", "9999-12-31T23:59:59-23:59"]),
    st.sampled_from(["0001-01-01T00:00:00+23:59", "2026-W01-1", "20260101T000000", " "]),
    st.binary(),
    st.dates(),
    st.datetimes(timezones=st.none() | st.timezones()),
    st.sampled_from(_EXTREME_DATETIMES),
    st.times(),
    st.decimals(),
)
_VALUES = st.recursive(
    _SCALARS,
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.tuples(inner, inner)
        | st.dictionaries(st.text(max_size=3), inner, max_size=2)
        | st.frozensets(st.integers(), max_size=2)
    ),
    max_leaves=6,
)
_FILTERS = sorted(
    {(name, kind) for e in ENDPOINTS for name, kind in e.filters.items()}
    | {(name, kind) for e in ENDPOINTS for a in e.actions for name, kind in a.params.items()},
    key=lambda p: (p[0], p[1].name),
)
_ZONES = [dt.UTC, dt.timezone(dt.timedelta(hours=14)), dt.timezone(dt.timedelta(hours=-12))]


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(_FILTERS), _VALUES, st.sampled_from(_ZONES))
def test_every_filter_value_is_a_query_value_or_refused(
    filter_: tuple[str, FilterKind], value: Any, tz: dt.tzinfo
) -> None:
    name, kind = filter_
    try:
        text = _query.format_filter(name, kind, value, tz)
    except InvalidRequestError as exc:
        assert "\ud800" not in str(exc)
        return
    if text is not None:
        # httpx must be able to write it; it is what it claims to be.
        str(httpx.QueryParams({name: text}))
        if kind is FilterKind.TIMESTAMP:
            assert dt.datetime.fromisoformat(text).tzinfo is None
        if kind is FilterKind.INT:
            assert abs(int(text)) < 2**63


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_VALUES, st.sampled_from(_ZONES))
def test_every_body_value_is_json_or_refused(value: Any, tz: dt.tzinfo) -> None:
    try:
        body = _query.jsonable({"field": value}, tz)
    except InvalidRequestError:
        return
    # What httpx does with `json=`: strict JSON, UTF-8.
    json.dumps(body, ensure_ascii=False, allow_nan=False).encode("utf-8")


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"since": dt.datetime(2026, 1, 1), "doctor": 10**5000}, "doctor is out of range"),
        ({"since": dt.datetime(2026, 1, 1), "doctor": 2**63}, "doctor is out of range"),
        ({"since": dt.datetime(2026, 1, 1), "status": 10**5000}, "status is out of range"),
        ({"since": dt.datetime(2026, 1, 1), "status": "a\ud800"}, "status is not valid text"),
        ({"since": dt.datetime.min.replace(tzinfo=PLUS_5)}, "cannot be converted"),
        ({"since": "0001-01-01T00:00:00+05:00"}, "cannot be converted"),
        ({"since": math.nan}, "since takes a datetime"),
        ({"since": dt.datetime(2026, 1, 1), "page_size": 10**5000}, "page_size must be a whole"),
    ],
)
@respx.mock
async def test_hostile_filters_are_typed_errors(
    client: DrChronoClient, kwargs: dict[str, Any], match: str
) -> None:
    route = respx.route(host="drchrono.test").respond(200, json=PAGE)
    with pytest.raises(InvalidRequestError, match=match):
        await client.appointments.list(**kwargs)
    assert route.call_count == 0


@respx.mock
async def test_timestamp_strings_are_sent_in_the_apis_one_form(client: DrChronoClient) -> None:
    route = respx.get(f"{BASE}/api/appointments").respond(200, json=PAGE)
    for given_, sent in [
        ("2026-03-01T09:00:00.123456", "2026-03-01T09:00:00"),
        ("20260301T090000", "2026-03-01T09:00:00"),
        ("2026-03-01", "2026-03-01T00:00:00"),
    ]:
        await client.appointments.list(since=given_)
        assert route.calls.last.request.url.params["since"] == sent


@pytest.mark.parametrize(
    ("body", "match"),
    [
        ({"doctor": 1, "weight": math.nan}, "NaN or infinity"),
        ({"doctor": 1, "weight": math.inf}, "NaN or infinity"),
        ({"doctor": 1, "amount": Decimal("NaN")}, "NaN or infinite Decimal"),
        ({"doctor": 1, "chart_id": 10**5000}, "out of range"),
        ({"doctor": 1, "tags": {"a"}}, "holds a set"),
        ({"doctor": 1, "notes": b"raw"}, "holds a bytes"),
        ({"doctor": 1, "first_name": "\ud800"}, "not valid text"),
        ({"doctor": 1, "date_of_birth": dt.datetime.min.replace(tzinfo=PLUS_5)}, "converted"),
        ({"doctor": 1, "custom": {object(): 1}}, "keys are strings"),
    ],
)
@respx.mock
async def test_hostile_bodies_are_typed_errors(
    client: DrChronoClient, body: dict[str, Any], match: str
) -> None:
    route = respx.route(host="drchrono.test").respond(201, json={"id": 1})
    with pytest.raises(InvalidRequestError, match=match):
        await client.patients.create(body)
    with pytest.raises(InvalidRequestError, match=match):
        await client.patients.patch(1, **body)
    assert route.call_count == 0


@respx.mock
async def test_a_list_item_with_a_comma_is_refused(client: DrChronoClient) -> None:
    route = respx.route(host="drchrono.test").respond(200, json=PAGE)
    with pytest.raises(InvalidRequestError, match="cannot contain a comma"):
        await client.eligibility_checks.list(service_types=["30", "1,2"])
    assert route.call_count == 0
