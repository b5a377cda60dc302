"""RefreshingAuth: single flight, saved before use, nothing lost on a failing save or a cancel.

The app here is a stand-in for the token endpoint with the live service's rule (a refresh
token works once); the end-to-end tests run the real `OAuthApp` against the emulator.
"""

from __future__ import annotations

import asyncio
import gc
import itertools
import logging

import pytest

from drchrono_async.errors import InvalidGrantError, TokenStoreError
from drchrono_async.oauth import MemoryTokenStore, RefreshingAuth, Token

HOUR = 3600.0


class RotatingServer:
    """Refresh tokens work once; each refresh issues a 48-hour pair."""

    def __init__(self, now: float = 0.0) -> None:
        self.now = now
        self.calls = 0
        self._n = itertools.count(1)
        self.live_refresh: str | None = None
        self.gate: asyncio.Event | None = None  # set: refreshes wait on it

    def issue(self) -> Token:
        n = next(self._n)
        t = Token(access_token=f"at_{n}", refresh_token=f"rt_{n}", expires_at=self.now + 48 * HOUR)
        self.live_refresh = t.refresh_token
        return t

    async def refresh(self, refresh_token: str) -> Token:
        self.calls += 1
        if self.gate is not None:
            await self.gate.wait()
        if refresh_token != self.live_refresh:
            raise InvalidGrantError("used", status_code=400, method="POST", path="/o/token/")
        return self.issue()


class FailingStore(MemoryTokenStore):
    def __init__(self, token: Token) -> None:
        super().__init__(token)
        self.fail = 0

    async def save(self, token: Token, *, replaces: str | None = None) -> None:
        if self.fail:
            self.fail -= 1
            raise OSError("disk full")
        await super().save(token, replaces=replaces)


def auth_for(server: RotatingServer, store: MemoryTokenStore) -> RefreshingAuth:
    return RefreshingAuth(server, store, server_now=lambda: server.now)  # type: ignore[arg-type]


async def test_fifty_coroutines_near_expiry_make_exactly_one_refresh() -> None:
    server = RotatingServer()
    store = MemoryTokenStore(server.issue())
    auth = auth_for(server, store)
    assert await auth.token() == "at_1"
    server.now += 48 * HOUR - 300  # inside the 10-minute margin
    server.gate = asyncio.Event()
    waiters = [asyncio.create_task(auth.token()) for _ in range(50)]
    await asyncio.sleep(0)
    server.gate.set()
    assert set(await asyncio.gather(*waiters)) == {"at_2"}
    assert server.calls == 1 and auth.refreshes == 1
    assert (await store.load()) == Token("at_2", "rt_2", server.now + 48 * HOUR)


async def test_a_401_after_a_refresh_elsewhere_reads_the_store_and_does_not_refresh() -> None:
    server = RotatingServer()
    store = MemoryTokenStore(server.issue())
    auth = auth_for(server, store)
    used = await auth.token()
    other = auth_for(server, store)  # another process on the same store
    server.now += 48 * HOUR
    assert await other.token() == "at_2"
    calls = server.calls
    assert await auth.unauthorized(used) == "at_2"
    assert server.calls == calls  # re-read, no second refresh (which would fail: rt_1 is dead)


async def test_a_401_on_the_current_token_refreshes_at_most_once() -> None:
    server = RotatingServer()
    store = MemoryTokenStore(server.issue())
    auth = auth_for(server, store)
    used = await auth.token()
    results = await asyncio.gather(*(auth.unauthorized(used) for _ in range(10)))
    assert set(results) == {"at_2"} and server.calls == 1


async def test_a_failing_save_raises_keeps_the_token_and_saves_it_later() -> None:
    server = RotatingServer()
    store = FailingStore(server.issue())
    auth = auth_for(server, store)
    server.now += 48 * HOUR
    store.fail = 2
    with pytest.raises(TokenStoreError) as info:
        await auth.token()
    assert "at_2" not in str(info.value) and "rt_2" not in str(info.value)
    assert (await store.load()).refresh_token == "rt_1"  # type: ignore[union-attr]
    with pytest.raises(TokenStoreError):  # still failing: no request may use the token yet
        await auth.token()
    assert await auth.token() == "at_2"  # saved now, then used
    assert server.calls == 1  # the rotated token was never dropped, never refreshed again
    assert (await store.load()).refresh_token == "rt_2"  # type: ignore[union-attr]


async def test_a_caller_cancelled_mid_refresh_does_not_lose_the_new_token() -> None:
    server = RotatingServer()
    store = MemoryTokenStore(server.issue())
    auth = auth_for(server, store)
    server.now += 48 * HOUR
    server.gate = asyncio.Event()
    caller = asyncio.create_task(auth.token())
    for _ in range(5):  # let the refresh start and reach the server
        await asyncio.sleep(0)
    assert server.calls == 1
    caller.cancel()
    with pytest.raises(asyncio.CancelledError):
        await caller
    server.gate.set()
    for _ in range(10):
        await asyncio.sleep(0)
    assert (await store.load()).refresh_token == "rt_2"  # type: ignore[union-attr]
    assert await auth.token() == "at_2" and server.calls == 1


async def test_a_dead_refresh_token_is_an_invalid_grant_and_is_not_retried() -> None:
    server = RotatingServer()
    store = MemoryTokenStore(server.issue())
    server.live_refresh = "rt_elsewhere"  # rotated by someone who lost the answer
    auth = auth_for(server, store)
    server.now += 48 * HOUR
    with pytest.raises(InvalidGrantError):
        await auth.token()
    assert server.calls == 1


async def test_an_empty_store_says_authorize_first() -> None:
    auth = auth_for(RotatingServer(), MemoryTokenStore())
    with pytest.raises(TokenStoreError, match="authorize"):
        await auth.token()


async def test_closing_saves_a_token_still_unsaved_or_says_it_could_not(
    caplog: pytest.LogCaptureFixture,
) -> None:
    server = RotatingServer()
    store = FailingStore(server.issue())
    auth = auth_for(server, store)
    server.now += 48 * HOUR
    store.fail = 1
    with pytest.raises(TokenStoreError):
        await auth.token()  # rotated; the save failed; kept in memory
    await auth.aclose()  # the store works again: the last save on close succeeds
    assert (await store.load()).refresh_token == "rt_2"  # type: ignore[union-attr]

    server.now += 48 * HOUR
    store.fail = 100
    with pytest.raises(TokenStoreError):
        await auth.token()
    with caplog.at_level(logging.ERROR, "drchrono_async.oauth"):
        await auth.aclose()  # never raises; says what is lost, naming no token
    assert "could not be saved before closing" in caplog.text
    assert "rt_3" not in caplog.text and "at_3" not in caplog.text


async def test_a_refresh_failing_after_its_callers_left_is_logged_not_unretrieved(
    caplog: pytest.LogCaptureFixture,
) -> None:
    loop = asyncio.get_running_loop()
    reported: list[object] = []
    loop.set_exception_handler(lambda _loop, context: reported.append(context))
    try:
        server = RotatingServer()
        store = MemoryTokenStore(server.issue())
        server.live_refresh = "rt_elsewhere"  # the refresh will be refused
        auth = auth_for(server, store)
        server.now += 48 * HOUR
        server.gate = asyncio.Event()
        caller = asyncio.create_task(auth.token())
        for _ in range(5):
            await asyncio.sleep(0)
        caller.cancel()
        with caplog.at_level(logging.WARNING, "drchrono_async.oauth"):
            server.gate.set()
            for _ in range(10):
                await asyncio.sleep(0)
        del caller, auth  # nothing holds the refresh task any more
        gc.collect()
    finally:
        loop.set_exception_handler(None)
    assert reported == []
    assert "a token refresh failed (InvalidGrantError)" in caplog.text
