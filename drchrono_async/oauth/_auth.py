"""`RefreshingAuth`: the bearer token of a client that stays signed in for years.

The rules, each for a way live integrations lose their token:

- Single flight: however many coroutines need a refresh, one refresh task runs and they all
  await it; across processes, the store's lock makes exactly one process refresh, and the
  others, on getting the lock, find a new token in the store and use it.
- Saved before use: the new token is written to the store (compare-and-set on the refresh
  token it replaces) before any request sees it. If the write fails, `TokenStoreError` is
  raised and the token stays in memory; every later call tries the write again first, and
  no request uses the token until it is stored. It is never dropped.
- The refresh runs in a task of its own, shielded from the callers: a caller cancelled
  mid-refresh cannot lose the rotated token the server has already issued.
- On a 401 the store is read first (another process may have refreshed: the live service
  revokes the old access token the moment its refresh token is used); only then, at most
  once per token, a refresh.
- A store that lost its token (a deleted file, an evicted Redis key) is written
  unconditionally: nothing is there to conflict with, and this is the only live pair.
- Closing waits, bounded (`CLOSE_WAIT`), for a refresh in flight and its save.
- The refresh margin is at most half the token's lifetime: short-lived tokens are used for
  half their life instead of being refreshed on every call.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

from ..errors import InvalidRequestError, TokenConflictError, TokenStoreError
from ..ratelimit import Clock, SystemClock
from ._closing import CLOSE_WAIT, retrieve, wait_bounded
from ._token import Token

if TYPE_CHECKING:
    from ._app import OAuthApp
    from ._stores import TokenStore

__all__ = ["DEFAULT_REFRESH_MARGIN", "MAX_MARGIN_SHARE", "RefreshingAuth"]

logger = logging.getLogger("drchrono_async.oauth")

DEFAULT_REFRESH_MARGIN = 600.0
# The margin never exceeds this share of a token's lifetime (when the lifetime is known).
MAX_MARGIN_SHARE = 0.5


class RefreshingAuth:
    """Hands the transport a live access token; refreshes it ahead of expiry and on 401."""

    def __init__(
        self,
        app: OAuthApp,
        store: TokenStore,
        *,
        server_now: Callable[[], float],
        margin: float = DEFAULT_REFRESH_MARGIN,
    ) -> None:
        self._app = app
        self._store = store
        self._server_now = server_now
        self._margin = margin
        self._token: Token | None = None
        self._unsaved: tuple[Token, str] | None = None  # (new token, refresh token it replaces)
        self._task: asyncio.Task[Token] | None = None
        self.refreshes = 0  # refresh calls made by this process (tests and reports read it)

    async def token(self) -> str:
        """The access token to send now, refreshed first when it is about to expire."""
        current = await self._current()
        if current.expires_within(self.margin_for(current), server_now=self._server_now()):
            current = await self._single_flight(current)
        return current.access_token

    def margin_for(self, token: Token) -> float:
        """How long before `token` expires it is refreshed: the margin, at most half its
        lifetime (60-second tokens with a 600-second margin would be refreshed every call)."""
        life = token.lifetime
        return self._margin if life is None else min(self._margin, life * MAX_MARGIN_SHARE)

    async def unauthorized(self, used: str) -> str | None:
        """A request sent with `used` got 401: the token to re-send with, or None."""
        current = await self._current()
        if current.access_token == used:
            current = await self._single_flight(current)
        return None if current.access_token == used else current.access_token

    async def scopes(self) -> frozenset[str] | None:
        """The scopes the stored token was granted, or None when the server did not say."""
        current = await self._current()
        return None if current.scope is None else current.scopes

    async def _current(self) -> Token:
        if self._unsaved is not None:
            await self._retry_save()
        if self._token is None:
            loaded = await self._store.load()
            if loaded is None:
                raise TokenStoreError("the token store holds no token: authorize the app first")
            self._token = loaded
        return self._token

    async def _single_flight(self, seen: Token) -> Token:
        if self._task is None or self._task.done():
            task = asyncio.get_running_loop().create_task(self._refresh(seen))
            task.add_done_callback(retrieve)  # failed after every caller left: logged
            hold = getattr(self._app, "_hold", None)  # an app of the caller's may have none
            if hold is not None:
                hold(task)  # OAuthApp.aclose() waits for it too
            self._task = task
        task = self._task
        try:
            # Shielded: a cancelled caller leaves the refresh (and the save) running.
            return await asyncio.shield(task)
        except asyncio.CancelledError:
            me = asyncio.current_task()
            if task.cancelled() and (me is None or not me.cancelling()):
                # Not this caller's cancellation: close gave the refresh up.
                raise InvalidRequestError("the client closed during a token refresh") from None
            raise

    async def _refresh(self, seen: Token) -> Token:
        async with self._store.lock():
            stored = await self._store.load()
            if stored is not None and stored.refresh_token != seen.refresh_token:
                # Another process refreshed (or the user authorized again) meanwhile.
                self._token = stored
                return stored
            self.refreshes += 1
            new = await self._app.refresh(seen.refresh_token)
            logger.info("oauth: access token refreshed; saving it before use")
            return await self._save(new, seen.refresh_token)

    async def _retry_save(self) -> None:
        async with self._store.lock():
            # Looked at under the lock: a coroutine that waited for it finds the save done.
            if self._unsaved is not None:
                await self._save(*self._unsaved)

    async def _save(self, new: Token, replaces: str) -> Token:
        try:
            try:
                await self._store.save(new, replaces=replaces)
            except TokenConflictError:
                stored = await self._store.load()
                if stored is not None:
                    # The store holds a token from elsewhere (a new authorization): it wins.
                    self._unsaved = None
                    self._token = stored
                    return stored
                # The store lost its token (a deleted file, an evicted key, FLUSHDB):
                # nothing to conflict with, and this is the only live pair.
                logger.warning("oauth: the token store had lost its token; saving the new one")
                await self._store.save(new)
        except TokenStoreError:
            self._unsaved = (new, replaces)
            logger.error("oauth: the refreshed token could not be saved; kept in memory")
            raise
        except Exception as exc:
            self._unsaved = (new, replaces)
            logger.error("oauth: the refreshed token could not be saved; kept in memory")
            raise TokenStoreError(
                f"the refreshed token could not be saved ({type(exc).__name__}); it is kept "
                "in memory and saved on the next call"
            ) from None
        self._unsaved = None
        self._token = new
        return new

    async def aclose(self) -> None:
        """Let a refresh in flight finish and its token be saved, before the client closes.

        Waits at most `CLOSE_WAIT` seconds (on the app's clock) for the refresh, then tries
        once more to save a token still unsaved. Never raises: what could not be done is
        logged (without any token).
        """
        clock: Clock = getattr(self._app, "clock", None) or SystemClock()
        task = self._task
        if task is not None and not await wait_bounded([task], clock, CLOSE_WAIT):
            task.cancel()
            logger.error(
                "oauth: a token refresh was still running %d s after close began; given up "
                "(if the server rotated the token, the practice must authorize the app again)",
                CLOSE_WAIT,
            )
            return
        if self._unsaved is None:
            return
        last = asyncio.ensure_future(self._retry_save())
        last.add_done_callback(retrieve)
        done = await wait_bounded([last], clock, CLOSE_WAIT)
        if done and not last.cancelled() and last.exception() is None:
            return
        last.cancel()
        logger.error(
            "oauth: a refreshed token could not be saved before closing; if nothing else "
            "saved a newer one, the practice must authorize the app again"
        )

    def __repr__(self) -> str:
        return f"RefreshingAuth(store={self._store!r}, margin={self._margin})"
