"""DrChronoClient: construction, ownership of the HTTP client, repr."""

from __future__ import annotations

import httpx
import pytest
import respx

from drchrono_async import DrChronoClient, InvalidRequestError

BASE = "https://drchrono.test"
TOKEN = "tok-SECRET-123"


async def test_repr_never_shows_the_token() -> None:
    async with DrChronoClient(TOKEN, base_url=BASE) as client:
        assert TOKEN not in repr(client)
        assert "drchrono.test" in repr(client)


async def test_callers_http_client_is_not_closed() -> None:
    http = httpx.AsyncClient()
    async with DrChronoClient(TOKEN, base_url=BASE, http_client=http):
        pass
    assert not http.is_closed
    await http.aclose()


async def test_owned_http_client_is_closed_and_aclose_is_idempotent() -> None:
    client = DrChronoClient(TOKEN, base_url=BASE)
    await client.aclose()
    await client.aclose()
    assert client._http.is_closed
    with pytest.raises(InvalidRequestError, match="closed"):
        await client.request("GET", "/api/doctors")


async def test_pool_is_sized_to_the_concurrency() -> None:
    async with DrChronoClient(TOKEN, base_url=BASE, max_concurrency=16) as client:
        pool = client._http._transport._pool  # type: ignore[attr-defined]
        assert pool._max_connections == 16
        assert pool._max_keepalive_connections == 16


@respx.mock
async def test_timeout_in_seconds_is_applied() -> None:
    route = respx.get(f"{BASE}/api/x").respond(200, json=1)
    async with DrChronoClient(TOKEN, base_url=BASE, timeout=7) as client:
        await client.request("GET", "/api/x")
    assert route.calls.last.request.extensions["timeout"]["read"] == 7.0


@respx.mock
async def test_callers_client_keeps_its_timeout_unless_given() -> None:
    route = respx.get(f"{BASE}/api/x").respond(200, json=1)
    async with httpx.AsyncClient(timeout=3) as http:
        async with DrChronoClient(TOKEN, base_url=BASE, http_client=http) as client:
            await client.request("GET", "/api/x")
        assert route.calls.last.request.extensions["timeout"]["read"] == 3.0
        async with DrChronoClient(TOKEN, base_url=BASE, http_client=http, timeout=9) as client:
            await client.request("GET", "/api/x")
        assert route.calls.last.request.extensions["timeout"]["read"] == 9.0


@pytest.mark.parametrize(
    "kwargs",
    [
        {"access_token": ""},
        {"access_token": "t", "max_retries": -1},
        {"access_token": "t", "max_wait": -1},
        {"access_token": "t", "max_concurrency": 0},
        {"access_token": "t", "timeout": 0},
        {"access_token": "t", "base_url": "drchrono.com"},
        {"access_token": "t", "base_url": "ftp://drchrono.com"},
    ],
)
def test_bad_arguments_are_typed_errors(kwargs: dict[str, object]) -> None:
    with pytest.raises(InvalidRequestError):
        DrChronoClient(**kwargs)  # type: ignore[arg-type]


def test_http_client_and_transport_are_exclusive() -> None:
    with pytest.raises(InvalidRequestError):
        DrChronoClient(
            "t",
            http_client=httpx.AsyncClient(),
            transport=httpx.MockTransport(lambda r: None),  # type: ignore[arg-type,return-value]
        )


@respx.mock
async def test_absolute_url_on_another_origin_is_refused() -> None:
    elsewhere = respx.get("https://evil.example/api/x").respond(200, json=1)
    async with DrChronoClient(TOKEN, base_url=BASE) as client:
        with pytest.raises(InvalidRequestError, match="another origin"):
            await client.request("GET", "https://evil.example/api/x")
    assert elsewhere.call_count == 0


@respx.mock
async def test_absolute_url_on_the_same_origin_is_sent() -> None:
    route = respx.get(f"{BASE}/api/x").respond(200, json=1)
    async with DrChronoClient(TOKEN, base_url=BASE) as client:
        assert await client.request("GET", f"{BASE}/api/x?page=2") == 1
    assert route.calls.last.request.url.params["page"] == "2"


async def test_default_quota_is_an_hourly_quota_on_the_clients_clock() -> None:
    from drchrono_async import HourlyQuota
    from drchrono_async.testing import VirtualClock

    clock = VirtualClock()
    async with DrChronoClient(TOKEN, base_url=BASE, clock=clock) as client:
        assert isinstance(client.quota, HourlyQuota)
        assert client.quota.clock is clock
        assert client.quota.snapshot().limit == 500
    async with DrChronoClient(TOKEN, base_url=BASE, quota=None) as client:
        assert client.quota is None


@respx.mock
async def test_requests_take_permits_from_the_default_quota() -> None:
    respx.get(f"{BASE}/api/x").respond(200, json=1)
    async with DrChronoClient(TOKEN, base_url=BASE) as client:
        await client.request("GET", "/api/x")
        await client.request("GET", "/api/x")
        assert client.quota is not None
        assert client.quota.snapshot().used == 2


# -- resources, built on first access --------------------------------------------------------


def _built(client: DrChronoClient) -> set[str]:
    from drchrono_async._endpoints import BY_NAME

    return set(vars(client)) & set(BY_NAME)


async def test_resources_are_built_on_first_access_once_per_client() -> None:
    async with DrChronoClient(TOKEN, base_url=BASE) as client:
        assert _built(client) == set()  # construction builds none of the ~60
        patients = client.patients
        assert client.patients is patients  # the same object on every access
        assert _built(client) == {"patients"}
        assert patients._ctx.transport is client._transport
        async with DrChronoClient(TOKEN, base_url=BASE) as other:
            assert other.patients is not patients  # one per client, not per class


async def test_resources_show_in_dir_and_a_typo_is_an_attribute_error() -> None:
    from drchrono_async._endpoints import ENDPOINTS

    async with DrChronoClient(TOKEN, base_url=BASE) as client:
        listed = dir(client)
        assert all(e.name in listed for e in ENDPOINTS)
        with pytest.raises(AttributeError, match="patiens"):
            client.patiens  # type: ignore[attr-defined]  # noqa: B018
        assert _built(client) == set()  # dir() and a miss build nothing


async def test_resources_mapping_builds_only_what_is_looked_up() -> None:
    async with DrChronoClient(TOKEN, base_url=BASE) as client:
        resources = client._resources
        assert len(resources) == len(list(resources)) >= 59 and "doctors" in resources
        assert resources["doctors"] is client.doctors
        assert _built(client) == {"doctors"}
        with pytest.raises(KeyError):
            resources["with_options"]
