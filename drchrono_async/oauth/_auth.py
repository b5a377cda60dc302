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
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

from ..errors import TokenConflictError, TokenStoreError
from ._token import Token

if TYPE_CHECKING:
    from ._app import OAuthApp
    from ._stores import TokenStore

__all__ = ["DEFAULT_REFRESH_MARGIN", "RefreshingAuth"]

logger = logging.getLogger("drchrono_async.oauth")

DEFAULT_REFRESH_MARGIN = 600.0


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
        if current.expires_within(self._margin, server_now=self._server_now()):
            current = await self._single_flight(current)
        return current.access_token

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
            self._task = asyncio.get_running_loop().create_task(self._refresh(seen))
        # Shielded: a cancelled caller leaves the refresh (and the save) running.
        return await asyncio.shield(self._task)

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
        assert self._unsaved is not None
        new, replaces = self._unsaved
        async with self._store.lock():
            await self._save(new, replaces)

    async def _save(self, new: Token, replaces: str) -> Token:
        try:
            await self._store.save(new, replaces=replaces)
        except TokenConflictError:
            # The store holds a token from elsewhere (a new authorization): it wins.
            self._unsaved = None
            stored = await self._store.load()
            if stored is None:
                raise
            self._token = stored
            return stored
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

    def __repr__(self) -> str:
        return f"RefreshingAuth(store={self._store!r}, margin={self._margin})"
