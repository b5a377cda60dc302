"""`client.with_options(...)`: a light view sharing the pool, the quota and the closed state."""

from __future__ import annotations

import math

import httpx
import pytest

from drchrono_async import DrChronoClient, HourlyQuota
from drchrono_async.errors import InvalidRequestError, QuotaExhaustedError, ServerError
from drchrono_async.testing import Emulator, VirtualClock


async def test_a_fail_fast_view_and_a_waiting_parent_share_one_quota() -> None:
    emu = Emulator(seed=1, clock=VirtualClock(), sizes={"patients": 3})
    quota = HourlyQuota(limit=2, clock=emu.clock)
    async with emu.client(quota=quota) as client:
        web = client.with_options(max_wait=0)
        await web.users.list()
        await client.users.list()  # both spend the same two permits
        with pytest.raises(QuotaExhaustedError) as info:
            await web.patients.list()  # the handler fails at once ...
        assert info.value.path == "/api/patients"
        started = emu.clock.now()
        await client.patients.list()  # ... while the job waits for the next hour
        assert emu.clock.now() - started > 60
    assert quota.snapshot().used >= 1 and web._http is client._http


async def test_a_view_has_its_own_timeout_and_retries() -> None:
    seen: list[float | None] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request.extensions["timeout"]["read"])
        return httpx.Response(503, json={})

    mock = httpx.MockTransport(answer)
    client = DrChronoClient(
        "tok",
        base_url="https://x.test",
        quota=None,
        max_retries=2,
        clock=VirtualClock(),
        transport=mock,
    )
    async with client:
        quick = client.with_options(timeout=0.05, max_retries=0)
        with pytest.raises(ServerError):
            await quick.request("GET", "/api/x")
        assert seen == [0.05]  # its own timeout, and no retry
        with pytest.raises(ServerError):
            await client.request("GET", "/api/x")
        assert seen[1:] == [60.0, 60.0, 60.0]  # the parent keeps its default and 2 retries


async def test_closing_the_parent_closes_its_views_but_not_the_reverse() -> None:
    emu = Emulator(seed=1, clock=VirtualClock())
    client = emu.client()
    view = client.with_options(max_wait=5)
    await view.aclose()  # closes nothing shared
    await client.users.list()
    await client.aclose()
    with pytest.raises(InvalidRequestError, match="closed"):
        await view.users.list()


@pytest.mark.parametrize(
    "options",
    [
        {"max_wait": -1},
        {"max_wait": math.nan},
        {"max_wait": "5"},
        {"timeout": 0},
        {"timeout": math.inf},
        {"max_retries": -1},
        {"max_retries": True},
    ],
)
def test_options_are_checked_like_the_constructor(options: dict[str, object]) -> None:
    client = Emulator(seed=1).client()
    with pytest.raises(InvalidRequestError):
        client.with_options(**options)  # type: ignore[arg-type]


def test_a_view_keeps_everything_else() -> None:
    client = Emulator(seed=1).client(timezone="America/New_York")
    view = client.with_options(max_wait=0)
    assert view.timezone == client.timezone and view.quota is client.quota
    assert view.base_url == client.base_url and view.appointments is not client.appointments
    assert client._transport.max_wait is None and view._transport.max_wait == 0


async def test_a_view_made_before_the_first_answer_learns_the_server_clock() -> None:
    emu = Emulator(seed=1, clock=VirtualClock(start=1_800_000_000.0), sizes={"patients": 3})
    local = VirtualClock(start=1_800_000_000.0 - 120.0)  # two minutes behind the server
    client = DrChronoClient(
        emu.access_token, base_url=emu.base_url, transport=emu.transport, clock=local, quota=None
    )
    async with client:
        sync = client.with_options(priority="background")  # as the syncer makes its view
        await client.users.list()  # only the parent has heard from the server
        assert client._server_now() == pytest.approx(emu.clock.now(), abs=1.0)
        assert sync._server_now() == pytest.approx(emu.clock.now(), abs=1.0)


def _built(client: DrChronoClient) -> set[str]:
    from drchrono_async._endpoints import BY_NAME

    return set(vars(client)) & set(BY_NAME)


async def test_a_view_builds_no_resource_until_used_and_keeps_every_other_field() -> None:
    async with Emulator(seed=1).client() as client:
        client.patients  # noqa: B018  (built on the parent before the view)
        view = client.with_options(max_retries=0)
        assert _built(view) == set()  # the parent's resource is not carried over ...
        assert view.patients is view.patients and view.patients is not client.patients
        assert view.patients._ctx.transport is view._transport  # ... the view's sends as it
        assert set(vars(view)) - {"patients"} == set(vars(client)) - {"patients"}
        assert _built(client) == {"patients"}  # the view added nothing to the parent


async def test_a_resource_built_before_the_view_does_not_leak_into_it() -> None:
    calls = 0

    def answer(request: httpx.Request) -> httpx.Response:
        nonlocal calls
        calls += 1
        return httpx.Response(503, json={})

    client = DrChronoClient(
        "tok",
        base_url="https://x.test",
        quota=None,
        max_retries=3,
        clock=VirtualClock(),
        transport=httpx.MockTransport(answer),
    )
    async with client:
        client.doctors  # noqa: B018
        with pytest.raises(ServerError):
            await client.with_options(max_retries=0).doctors.get(1)
        assert calls == 1  # the view's own max_retries, not the parent's 3


async def test_a_view_of_a_view_shares_pool_quota_auth_offset_and_life() -> None:
    emu = Emulator(seed=1, clock=VirtualClock(), sizes={"patients": 3})
    client = emu.client()  # closed below: the view must see it
    inner = client.with_options(max_wait=0).with_options(priority="background")
    assert inner._http is client._http and inner.quota is client.quota
    assert inner.auth is client.auth
    assert inner._transport._server is client._transport._server
    assert inner._transport._in_flight is client._transport._in_flight
    assert inner._transport.max_wait == 0
    await inner.patients.list()
    await client.aclose()
    with pytest.raises(InvalidRequestError, match="closed"):
        await inner.patients.list()
