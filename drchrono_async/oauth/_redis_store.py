"""`RedisTokenStore`: one token shared by every process and machine, in Redis."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

from .._checks import check_number, needs_extra
from ..errors import InvalidRequestError, TokenConflictError, TokenStoreError
from ._cipher import CipherChoice, StoreCipher, TokenCipher, resave, seal, unseal
from ._token import Token

if TYPE_CHECKING:
    from redis.asyncio import Redis

__all__ = ["RedisTokenStore"]


class RedisTokenStore:
    """A token in a Redis string at `key`, with a Redis lock at `<key>:lock`.

    Compare-and-set uses Redis' optimistic transactions (WATCH/MULTI): the write fails if
    another process changed the key in between. The refresh lock is redis-py's `Lock`,
    which expires after `lock_timeout` seconds, so a process killed mid-refresh cannot
    block the others for longer than that. `cipher`: as `FileTokenStore`'s ("env": the keys
    in `DRCHRONO_TOKEN_KEYS` when set). Needs the `redis` extra.
    """

    def __init__(
        self,
        redis: Redis,
        key: str,
        *,
        lock_timeout: float = 60.0,
        lock_wait: float = 120.0,
        cipher: CipherChoice = "env",
    ) -> None:
        with needs_extra("redis", "RedisTokenStore"):  # its errors are caught by class
            from redis.exceptions import RedisError  # noqa: F401
        if not isinstance(key, str) or not key:
            raise InvalidRequestError("key must be a non-empty string")
        # Bounded at a day: a refresh holds the lock for one token request, not longer.
        self._lock_timeout = check_number(
            lock_timeout,
            "lock_timeout",
            low=0,
            low_open=True,
            high=86_400,
            kind="a number of seconds",
        )
        self._lock_wait = check_number(
            lock_wait, "lock_wait", low=0, low_open=True, high=86_400, kind="a number of seconds"
        )
        self._redis = redis
        self.key = key
        self._cipher = StoreCipher(cipher)

    @property
    def cipher(self) -> TokenCipher | None:
        """The cipher in use (the environment's is read on first use), or None: plain text."""
        return self._cipher.get()

    async def load(self) -> Token | None:
        from redis.exceptions import RedisError

        cipher = self.cipher
        try:
            data = await self._redis.get(self.key)
        except RedisError as exc:
            raise TokenStoreError(f"cannot read the token ({type(exc).__name__})") from None
        if data is None:
            return None
        token, why = unseal(data, cipher)
        if why is not None:
            await resave(self, token)
        return token

    async def save(self, token: Token, *, replaces: str | None = None) -> None:
        from redis.exceptions import RedisError, WatchError

        if not isinstance(token, Token):
            raise InvalidRequestError("token must be a Token")
        cipher = self.cipher
        data = seal(token, cipher)
        try:
            async with self._redis.pipeline(transaction=True) as pipe:
                await pipe.watch(self.key)
                if replaces is not None:
                    raw = await pipe.get(self.key)
                    current = None if raw is None else unseal(raw, cipher)[0]
                    if current is None or current.refresh_token != replaces:
                        raise TokenConflictError(
                            "the stored token changed since it was read; not overwritten"
                        )
                pipe.multi()  # type: ignore[no-untyped-call]
                pipe.set(self.key, data)
                await pipe.execute()
        except WatchError:
            raise TokenConflictError(
                "the stored token changed while saving; not overwritten"
            ) from None
        except RedisError as exc:
            raise TokenStoreError(f"cannot save the token ({type(exc).__name__})") from None

    @contextlib.asynccontextmanager
    async def lock(self) -> AsyncIterator[None]:
        from redis.exceptions import LockError, RedisError

        lock = self._redis.lock(
            f"{self.key}:lock",
            timeout=self._lock_timeout,
            blocking_timeout=self._lock_wait,
            thread_local=False,
        )
        try:
            acquired = await lock.acquire()
        except RedisError as exc:
            raise TokenStoreError(f"cannot take the refresh lock ({type(exc).__name__})") from None
        if not acquired:
            raise TokenStoreError("another process held the refresh lock for too long")
        try:
            yield
        finally:
            with contextlib.suppress(LockError, RedisError):
                # Expired meanwhile (a refresh slower than lock_timeout): nothing to release.
                await lock.release()

    def __repr__(self) -> str:
        return f"RedisTokenStore(key={self.key!r})"
