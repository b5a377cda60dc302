"""A rotated token is never dropped: a store that lost its token, a shutdown during a refresh,
an answer whose `expires_in` is out of bounds; and short-lived tokens are not refreshed on
every call. Against the emulator's OAuth server, with every persistent token store."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import httpx
import pytest

from drchrono_async import DrChronoClient
from drchrono_async.errors import DrChronoError
from drchrono_async.oauth import CLOSE_WAIT, MemoryTokenStore, OAuthApp, Token, TokenStore
from drchrono_async.ratelimit import Clock
from drchrono_async.testing import Emulator, VirtualClock
from drchrono_async.testing._wire import EmuRequest, EmuResponse

from .conftest import TokenBackend

DAY = 86_400.0


def app_on(emu: Emulator, base_url: str | None = None) -> OAuthApp:
    wired: dict[str, Any] = {"base_url": base_url or emu.base_url, "clock": emu.clock}
    if base_url is None:
        wired["transport"] = emu.transport
    return OAuthApp(emu.client_id, emu.client_secret, emu.redirect_uri, **wired)


def client_on(
    emu: Emulator, app: OAuthApp, store: TokenStore, base_url: str | None = None
) -> DrChronoClient:
    wired: dict[str, Any] = {"base_url": base_url or emu.base_url, "clock": emu.clock}
    if base_url is None:
        wired["transport"] = emu.transport
    return DrChronoClient(oauth=app, token_store=store, quota=None, **wired)


def token_calls(emu: Emulator) -> int:
    return sum(1 for e in emu.requests if e.path == "/o/token/")


def refresh_arrives(emu: Emulator) -> asyncio.Event:
    """Set when a refresh request reaches the emulator (before it answers)."""
    arrived = asyncio.Event()
    handle: Callable[[EmuRequest], Awaitable[EmuResponse]] = emu.handle

    async def spy(req: EmuRequest) -> EmuResponse:
        if req.path == "/o/token/" and b"grant_type=refresh_token" in req.body:
            arrived.set()
        return await handle(req)

    emu.handle = spy  # type: ignore[method-assign]
    return arrived


@contextlib.contextmanager
def unretrieved_errors() -> Any:
    """What asyncio reports about task exceptions nobody retrieved, while inside."""
    loop = asyncio.get_running_loop()
    seen: list[str] = []
    loop.set_exception_handler(lambda _loop, context: seen.append(str(context.get("message"))))
    try:
        yield seen
    finally:
        gc.collect()
        loop.set_exception_handler(None)


def assert_no_secret(caplog: pytest.LogCaptureFixture, *tokens: Token) -> None:
    text = "\n".join(r.getMessage() for r in caplog.records)
    for t in tokens:
        assert t.access_token not in text and t.refresh_token not in text


# -- a store that lost its token -------------------------------------------------------------


async def test_a_refresh_into_a_store_that_lost_its_token_saves_the_new_pair(
    token_backend: TokenBackend, caplog: pytest.LogCaptureFixture
) -> None:
    emu = Emulator(seed=2, clock=VirtualClock(), sizes={"patients": 1})
    store = token_backend.new()
    async with app_on(emu) as app:
        first = await app.exchange_code(emu.issue_code())
        await store.save(first)
        async with client_on(emu, app, store) as client:
            await client.users.current()
            await token_backend.lose()  # deleted, evicted under maxmemory, FLUSHDB
            emu.clock.advance(2 * DAY)  # type: ignore[attr-defined]
            with caplog.at_level(logging.WARNING, "drchrono_async.oauth"):
                await client.users.current()  # refreshed: the server rotated the pair
    saved = await token_backend.new().load()
    assert saved is not None and saved.refresh_token != first.refresh_token
    assert saved.refresh_token in emu.oauth.by_refresh  # the live pair, not a dead one
    assert "lost its token" in caplog.text
    assert_no_secret(caplog, first, saved)
    # A new process on the same store goes on with it.
    async with app_on(emu) as app, client_on(emu, app, token_backend.new()) as again:
        emu.clock.advance(2 * DAY)  # type: ignore[attr-defined]
        assert (await again.users.current()).id == emu.current_user_id


# -- shutting down during a refresh ----------------------------------------------------------


@contextlib.asynccontextmanager
async def served_with_latency(latency: float) -> AsyncIterator[tuple[Emulator, str]]:
    emu = Emulator(seed=4, latency=latency, sizes={"patients": 1})
    async with emu.serve() as url:
        yield emu, url


async def expiring_token(app: OAuthApp, emu: Emulator, store: TokenStore) -> Token:
    """A live pair, stored as if it expired within the refresh margin: the next call refreshes."""
    token = await app.exchange_code(emu.issue_code())
    soon = Token(token.access_token, token.refresh_token, app.server_now() + 60, token.scope)
    await store.save(soon)
    return soon


async def test_leaving_app_and_client_during_a_refresh_keeps_the_rotated_token(
    token_backend: TokenBackend,
) -> None:
    async with served_with_latency(0.3) as (emu, url):
        store = token_backend.new()
        arrived = refresh_arrives(emu)
        with unretrieved_errors() as reported:
            app = app_on(emu, url)
            async with app, client_on(emu, app, store, url) as client:
                old = await expiring_token(app, emu, store)
                call = asyncio.create_task(client.users.current())
                await arrived.wait()  # the server has the refresh: it will rotate the pair
                call.cancel()  # a deploy: the request handler is cancelled, the process exits
            with contextlib.suppress(asyncio.CancelledError, DrChronoError):
                await call
        saved = await token_backend.new().load()
        assert saved is not None and saved.refresh_token != old.refresh_token
        assert saved.refresh_token in emu.oauth.by_refresh  # live: the practice stays signed in
        assert old.refresh_token not in emu.oauth.by_refresh  # (it was rotated)
        assert not [m for m in reported if "never retrieved" in m]


async def test_closing_the_app_alone_waits_for_its_clients_refresh() -> None:
    async with served_with_latency(0.3) as (emu, url):
        store = MemoryTokenStore()
        arrived = refresh_arrives(emu)
        app = app_on(emu, url)
        client = client_on(emu, app, store, url)
        old = await expiring_token(app, emu, store)
        call = asyncio.create_task(client.users.current())
        await arrived.wait()
        await app.aclose()  # before the client: still waits for the refresh and its save
        saved = await store.load()
        assert saved is not None and saved.refresh_token in emu.oauth.by_refresh
        assert saved.refresh_token != old.refresh_token
        with contextlib.suppress(DrChronoError):
            await call
        await client.aclose()


async def test_the_wait_on_close_is_bounded_and_leaves_nothing_unretrieved(
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock = VirtualClock()
    emu = Emulator(seed=4, clock=clock, sizes={"patients": 1})
    store = MemoryTokenStore()
    app = app_on(emu)
    client = client_on(emu, app, store)
    old = await expiring_token(app, emu, store)
    emu.latency = 10 * CLOSE_WAIT  # the refresh hangs far longer than close waits
    arrived = refresh_arrives(emu)
    with unretrieved_errors() as reported, caplog.at_level(logging.ERROR):
        call = asyncio.create_task(client.users.current())
        await arrived.wait()
        began = clock.now()
        await client.aclose()
        waited = clock.now() - began
        await app.aclose()
        with pytest.raises(DrChronoError):  # typed: not a bare CancelledError
            await call
    assert CLOSE_WAIT <= waited < 10 * CLOSE_WAIT
    assert "given up" in caplog.text
    assert_no_secret(caplog, old)
    assert not [m for m in reported if "never retrieved" in m]


# -- expires_in out of bounds, and the margin for short-lived tokens --------------------------


@pytest.mark.parametrize(("lifetime", "believed"), [(17.0, 60.0), (45 * DAY, 30 * DAY)])
async def test_an_out_of_bounds_expires_in_after_a_rotation_keeps_the_token(
    token_backend: TokenBackend,
    caplog: pytest.LogCaptureFixture,
    lifetime: float,
    believed: float,
) -> None:
    emu = Emulator(seed=2, clock=VirtualClock(), sizes={"patients": 1})
    store = token_backend.new()
    async with app_on(emu) as app:
        await store.save(await app.exchange_code(emu.issue_code()))
        emu.oauth.access_token_lifetime = lifetime
        async with client_on(emu, app, store) as client:
            emu.clock.advance(2 * DAY)  # type: ignore[attr-defined]
            with caplog.at_level(logging.WARNING, "drchrono_async.oauth"):
                await client.users.current()  # the refresh answer is out of bounds
            emu.oauth.access_token_lifetime = 2 * DAY
            await client.users.current()
    saved = await token_backend.new().load()
    assert saved is not None and saved.refresh_token in emu.oauth.by_refresh
    assert "out of bounds" in caplog.text
    assert str(int(lifetime)) not in caplog.text  # the bounds, never the value
    assert saved.lifetime == pytest.approx(believed)


@pytest.mark.parametrize(
    ("expires_in", "believed"),
    [(17, 60.0), (45 * DAY, 30 * DAY), (1e308, 30 * DAY), ("3600", 2 * DAY), (True, 2 * DAY)],
)
async def test_an_unlikely_expires_in_is_clamped_never_an_error(
    expires_in: object, believed: float, caplog: pytest.LogCaptureFixture
) -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        body = {"access_token": "at_SECRETa", "refresh_token": "rt_SECRETr"}
        return httpx.Response(200, json={**body, "expires_in": expires_in})

    clock = VirtualClock()
    app = OAuthApp(
        "id", "secret", "https://app.test/cb", transport=httpx.MockTransport(answer), clock=clock
    )
    async with app:
        with caplog.at_level(logging.WARNING, "drchrono_async.oauth"):
            token = await app.refresh("rt_old")
    assert token.lifetime == pytest.approx(believed) and token.issued_at == clock.now()
    assert "SECRET" not in caplog.text and str(expires_in) not in caplog.text
    assert caplog.records


async def test_short_lived_tokens_are_used_for_half_their_life() -> None:
    clock: Clock = VirtualClock()
    emu = Emulator(seed=2, clock=clock, sizes={"patients": 1})
    emu.oauth.access_token_lifetime = 60.0
    store = MemoryTokenStore()
    async with app_on(emu) as app, client_on(emu, app, store) as client:
        await store.save(await app.exchange_code(emu.issue_code()))
        calls = token_calls(emu)
        for _ in range(5):  # with the 600-second margin, each of these used to refresh
            await client.users.current()
            emu.clock.advance(5)  # type: ignore[attr-defined]
        assert token_calls(emu) == calls
        emu.clock.advance(10)  # type: ignore[attr-defined]  # 35 s old: past half its life
        await client.users.current()
        assert token_calls(emu) == calls + 1
        auth: Any = client.auth
        assert auth.margin_for(await store.load()) == 30.0
