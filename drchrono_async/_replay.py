"""Replay caches for iframe verification: remember a signed request for as long as it is valid.

A cache answers one question, atomically: "was this key unseen? then remember it for `ttl`
seconds". `MemoryReplayCache` does it in one process (sync, thread-safe); `RedisReplayCache`
does it across processes with `SET key NX PX ttl` (async: it needs the `redis` extra).
"""

from __future__ import annotations

import math
import threading
from collections import OrderedDict
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from ._checks import check_int, needs_extra
from .errors import IframeVerificationError, InvalidRequestError

if TYPE_CHECKING:
    from redis.asyncio import Redis

__all__ = ["AsyncReplayCache", "MemoryReplayCache", "RedisReplayCache", "ReplayCache"]

_MAX_ENTRIES = 10_000_000
_MAX_PREFIX = 200


@runtime_checkable
class ReplayCache(Protocol):
    """A synchronous replay cache, for `verify_iframe_request` (and `averify_iframe_request`).

    `add` remembers `key` until `now + ttl` and returns True if it was not already there (a
    first use), False if it was (a replay). It must be atomic: two concurrent calls with the
    same key may not both return True.
    """

    def add(self, key: str, ttl: float, now: float) -> bool: ...


@runtime_checkable
class AsyncReplayCache(Protocol):
    """An async replay cache, for `averify_iframe_request`; the contract of `ReplayCache`."""

    async def add(self, key: str, ttl: float, now: float) -> bool: ...


class MemoryReplayCache:
    """Keys seen in this process, each forgotten `ttl` seconds (of the verifier's clock) later.

    At most `max_entries` live keys are held. When that many are live, a new request is
    refused (`IframeVerificationError`, "replay cache is full") rather than an old key
    forgotten early, which would let that request be replayed: only DrChrono can mint a token
    that reaches the cache, so a full cache means a `max_entries` too small for the traffic.
    Safe to share between threads.
    """

    def __init__(self, max_entries: int = 10_000) -> None:
        self.max_entries = check_int(max_entries, "max_entries", low=1, high=_MAX_ENTRIES)
        # key -> expiry, in insertion order: nearly expiry order (a token's expiry follows its
        # iat), so purging from the front stops at the first live key and may leave an expired
        # one behind it for a while, never forget a live one early; a full cache scans all.
        self._expiry: OrderedDict[str, float] = OrderedDict()
        self._lock = threading.Lock()

    def add(self, key: str, ttl: float, now: float) -> bool:
        with self._lock:
            self._purge(now)
            expiry = self._expiry.get(key)
            if expiry is not None and expiry > now:
                return False
            if expiry is None and len(self._expiry) >= self.max_entries:
                self._purge(now, everything=True)
                if len(self._expiry) >= self.max_entries:
                    raise IframeVerificationError("replay cache is full")
            self._expiry[key] = now + ttl
            self._expiry.move_to_end(key)
            return True

    def _purge(self, now: float, *, everything: bool = False) -> None:
        """Forget expired keys: from the front only, or (when full) a scan of all of them."""
        if everything:
            for key in [k for k, t in self._expiry.items() if t <= now]:
                del self._expiry[key]
            return
        while self._expiry:
            key, expiry = next(iter(self._expiry.items()))
            if expiry > now:
                return
            del self._expiry[key]

    def __len__(self) -> int:
        return len(self._expiry)

    def __repr__(self) -> str:
        return f"MemoryReplayCache(max_entries={self.max_entries}, held={len(self._expiry)})"


class RedisReplayCache:
    """Keys seen by every process sharing a Redis: `SET <prefix><key> 1 NX PX <ttl ms>`.

    Redis expires the keys itself (its own clock; `now` is not used). A Redis error refuses
    the request (`IframeVerificationError`, "replay cache unavailable"): without the cache a
    replay cannot be told from a first use. Use it with `averify_iframe_request`.
    """

    def __init__(self, redis: Redis, *, prefix: str = "drchrono-async:iframe:") -> None:
        with needs_extra("redis", "RedisReplayCache"):  # its errors are caught by class
            from redis.exceptions import RedisError  # noqa: F401
        if not isinstance(prefix, str) or not prefix or len(prefix) > _MAX_PREFIX:
            raise InvalidRequestError(f"prefix must be a non-empty string of <= {_MAX_PREFIX}")
        self._redis = redis
        self.prefix = prefix

    async def add(self, key: str, ttl: float, now: float) -> bool:
        from redis.exceptions import RedisError

        millis = max(1, math.ceil(ttl * 1000))
        try:
            stored = await self._redis.set(f"{self.prefix}{key}", b"1", nx=True, px=millis)
        except RedisError as exc:
            raise IframeVerificationError(
                f"replay cache unavailable ({type(exc).__name__})"
            ) from None
        return bool(stored)

    def __repr__(self) -> str:
        return f"RedisReplayCache(prefix={self.prefix!r})"
