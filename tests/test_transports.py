"""`aiohttp_transport()`: DrChronoClient over aiohttp against the emulator on a loopback socket."""

from __future__ import annotations

import datetime as dt
import sys
import time
from collections.abc import AsyncIterator

import httpx
import pytest

from drchrono_async import DrChronoClient, errors
from drchrono_async.errors import InvalidRequestError, MissingExtraError
from drchrono_async.ratelimit import HourlyQuota
from drchrono_async.testing import Emulator, VirtualClock
from drchrono_async.transports import aiohttp_transport

pytest.importorskip("httpx_aiohttp")

NEW_PATIENT = {"doctor": 100001, "gender": "Other", "first_name": "Over", "last_name": "Aiohttp"}


@pytest.fixture
async def served() -> AsyncIterator[tuple[Emulator, str]]:
    emulator = Emulator(seed=3, sizes={"appointments": 400, "other": 2})
    async with emulator.serve(port=0) as url:
        yield emulator, url


def _client(emulator: Emulator, url: str, **kwargs: object) -> DrChronoClient:
    options: dict[str, object] = {"quota": None, "max_concurrency": 4}
    options.update(kwargs)
    concurrency = options["max_concurrency"]
    assert isinstance(concurrency, int)
    return DrChronoClient(
        emulator.access_token,
        base_url=url,
        transport=aiohttp_transport(max_concurrency=concurrency),
        **options,  # type: ignore[arg-type]
    )


async def test_lists_appointments_page_by_page_over_aiohttp(
    served: tuple[Emulator, str],
) -> None:
    emulator, url = served
    today = emulator.local_now().date()
    start, end = today - dt.timedelta(days=400), today - dt.timedelta(days=1)
    expected = {
        r["id"]
        for r in emulator.records("appointments")
        if start.isoformat() <= r["scheduled_time"][:10] <= end.isoformat()
    }
    assert len(expected) > 100  # several pages per window below

    async with _client(emulator, url) as client:
        listing = client.appointments.list(date_range=(start, end), shards=3, page_size=25)
        got = [a.id async for a in listing]

    assert sorted(got) == sorted(expected)  # every record once, none twice
    assert emulator.count(path="/api/appointments") >= len(expected) // 25
    assert emulator.count(status=200) == emulator.count(path="/api/appointments")


async def test_the_transport_itself_does_not_follow_redirects(
    served: tuple[Emulator, str],
) -> None:
    emulator, url = served
    headers = {"Authorization": f"Bearer {emulator.access_token}"}
    async with httpx.AsyncClient(transport=aiohttp_transport(), headers=headers) as http:
        response = await http.get(f"{url}/api/users/current")
    assert response.status_code == 302
    assert response.headers["Location"].endswith(f"/api/users/{emulator.current_user_id}")
    assert emulator.count() == 1


async def test_the_client_follows_redirects_and_pays_a_permit_per_hop(
    served: tuple[Emulator, str],
) -> None:
    emulator, url = served
    quota = HourlyQuota(limit=100, burst=100, rate=100)
    async with _client(emulator, url, quota=quota) as client:
        me = await client.users.current()
    assert me.id == emulator.current_user_id
    assert emulator.count(status=302) == 1
    assert quota.snapshot().used == 2  # the hop was sent by the library, not by aiohttp


async def test_a_429_pauses_and_the_page_is_sent_again(served: tuple[Emulator, str]) -> None:
    emulator, url = served
    # The client's waiting runs on virtual time (the server's clock is real): the pause that
    # the 429 body asks for (up to an hour) passes at once.
    clock = VirtualClock(start=time.time())
    quota = HourlyQuota(limit=1000, burst=100, rate=100, clock=clock)
    emulator.faults.script(["429"], path_prefix="/api/appointments")
    # A day that has appointments, so that the re-sent page has something to compare.
    day = dt.date.fromisoformat(emulator.records("appointments")[0]["scheduled_time"][:10])
    async with _client(emulator, url, quota=quota, clock=clock) as client:
        page = await client.appointments.list(date=day, page_size=5)
        again = await client.appointments.list(date=day, page_size=5)
    assert emulator.count(status=429) == 1
    assert emulator.count(path="/api/appointments") == 3
    assert page.results and [a.id for a in page.results] == [a.id for a in again.results]


async def test_a_429_without_a_quota_is_a_rate_limit_error(served: tuple[Emulator, str]) -> None:
    emulator, url = served
    emulator.faults.script(["429"])
    async with _client(emulator, url) as client:
        with pytest.raises(errors.RateLimitError) as caught:
            await client.doctors.list()
    assert caught.value.status_code == 429
    assert caught.value.retry_after is not None and caught.value.retry_after >= 0


async def test_a_connection_lost_after_a_post_is_not_sent_again(
    served: tuple[Emulator, str],
) -> None:
    # httpx-aiohttp reports this as ConnectTimeout ("never sent"); retrying the POST would
    # create the patient twice. The transport reports it as a read-side error instead.
    emulator, url = served
    before = len(emulator.records("patients"))
    emulator.faults.script(["drop"])
    async with _client(emulator, url, max_retries=3) as client:
        with pytest.raises(errors.TransportError) as caught:
            await client.patients.create(NEW_PATIENT)
    assert caught.value.sent is True
    # The cause is named, not chained (its text may quote the server's bytes).
    assert "RemoteProtocolError" in str(caught.value) and caught.value.__cause__ is None
    assert len(emulator.records("patients")) == before + 1  # applied once, not retried
    assert emulator.count(method="POST") == 1


async def test_a_dropped_get_is_retried(served: tuple[Emulator, str]) -> None:
    emulator, url = served
    emulator.faults.script(["drop"])
    # The backoff before the retry waits on virtual time, not on the wall clock.
    async with _client(emulator, url, max_retries=2, clock=VirtualClock()) as client:
        doctors = await client.doctors.list()
    assert doctors.results
    assert emulator.count(path="/api/doctors") == 2


async def test_a_refused_connection_is_a_connect_error() -> None:
    # Nothing listens on port 9 of loopback (discard); the request never left.
    transport = aiohttp_transport()
    async with httpx.AsyncClient(transport=transport) as http:
        with pytest.raises(httpx.ConnectError):
            await http.get("http://127.0.0.1:9/api/doctors")


def test_max_concurrency_is_checked() -> None:
    with pytest.raises(ValueError, match="max_concurrency"):
        aiohttp_transport(max_concurrency=0)
    with pytest.raises(InvalidRequestError, match="max_concurrency"):
        aiohttp_transport(max_concurrency=True)


def test_a_missing_extra_names_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "httpx_aiohttp", None)  # makes the import fail
    with pytest.raises(MissingExtraError, match=r"drchrono-async\[aiohttp\]") as info:
        aiohttp_transport()
    assert info.value.extra == "aiohttp" and isinstance(info.value, ImportError)
