"""`RedisDedupe`: handled delivery ids shared by every process and machine, in Redis."""

from __future__ import annotations

import secrets
from typing import TYPE_CHECKING

from .._checks import check_number, needs_extra
from ..errors import InvalidRequestError, WebhookError
from ._dedupe import DEFAULT_RETENTION, Claim, check_delivery_id, check_retention

if TYPE_CHECKING:
    from redis.asyncio import Redis

__all__ = ["RedisDedupe"]

_DONE = "done"
# The claim, in one script so that it recognises its own token: a claim re-sent after its
# reply was lost (redis-py's retry on a dropped connection, or ours) finds the key holding
# this very token and is still the claimant's. With `SET NX` it found the key taken and
# reported a duplicate, and the delivery was never handled. ARGV: token, ttl ms, done mark.
_NEW, _HANDLED, _BUSY = 1, 2, 3
_CLAIM = """
local held = redis.call('GET', KEYS[1])
if not held then
    redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
    return 1
end
if held == ARGV[1] then
    return 1
end
if held == ARGV[3] then
    return 2
end
return 3
"""
_CLAIMS = {_NEW: Claim.NEW, _HANDLED: Claim.HANDLED, _BUSY: Claim.BUSY}
# Attempts of one claim script (same token) when the connection fails: a client made with
# `from_url` retries nothing by itself, and a lost reply is not a failed claim.
_CLAIM_ATTEMPTS = 2
# Delete the key only while it still holds this claimant's token: a claim that outlived its
# TTL and was taken by another process is not ours to release.
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
    return redis.call('DEL', KEYS[1])
end
return 0
"""


class RedisDedupe:
    """One key per delivery, `<prefix>:<delivery id>`, in Redis.

    - `claim`: a Lua script sets the key to a random claim token with a `claim_ttl` expiry
      when it is absent (`Claim.NEW`; a claim whose process died mid-handler lapses, and a
      redelivery after that is handled). A key holding `"done"` is `Claim.HANDLED`, one
      holding another claimant's token `Claim.BUSY`, and one holding this claim's own token
      `Claim.NEW`: the script re-sent after a lost reply (a connection dropped between
      Redis applying it and the answer) is still this claim, not a duplicate. On a
      connection error or timeout the script is sent once more, with the same token.
    - `complete`: `SET` of `"done"` with the `retention` expiry (at least 8 hours).
    - `release`: a Lua script deletes the key only if it still holds this process's token.

    A handler running longer than `claim_ttl` loses its exclusivity (a redelivery arriving
    then is handled too): keep `claim_ttl` above the slowest handler. Redis failures raise
    `WebhookError` naming the error type only. Needs the `redis` extra; takes a
    `redis.asyncio.Redis` client with either `decode_responses` setting.
    """

    def __init__(
        self,
        redis: Redis,
        *,
        prefix: str = "drchrono-async:webhook-delivery",
        retention: float = DEFAULT_RETENTION,
        claim_ttl: float = 300.0,
    ) -> None:
        with needs_extra("redis", "RedisDedupe"):  # its errors are caught by class
            from redis.exceptions import RedisError  # noqa: F401
        if not isinstance(prefix, str) or not prefix or len(prefix) > 256:
            raise InvalidRequestError("prefix must be a non-empty string of at most 256 chars")
        self.retention = check_retention(retention)
        self.claim_ttl = check_number(
            claim_ttl,
            "claim_ttl",
            low=1,
            high=self.retention,
            kind="a number of seconds",
            tail=" (the retention)",
        )
        self.prefix = prefix
        self._redis = redis
        self._claim = redis.register_script(_CLAIM)
        self._release = redis.register_script(_RELEASE)
        self._tokens: dict[str, str] = {}  # delivery id -> our claim token, while claimed

    def _key(self, delivery_id: str) -> str:
        return f"{self.prefix}:{check_delivery_id(delivery_id)}"

    async def claim(self, delivery_id: str) -> Claim:
        from redis.exceptions import ConnectionError as LostConnection
        from redis.exceptions import RedisError
        from redis.exceptions import TimeoutError as TimedOut

        key = self._key(delivery_id)
        token = f"claim:{secrets.token_hex(16)}"
        args: list[str | int] = [token, _ms(self.claim_ttl), _DONE]
        for attempt in range(1, _CLAIM_ATTEMPTS + 1):
            try:
                reply = await self._claim(keys=[key], args=args)
                break
            except (LostConnection, TimedOut) as exc:
                if attempt == _CLAIM_ATTEMPTS:
                    # If the last attempt was applied, the claim lapses after claim_ttl.
                    raise WebhookError(
                        f"cannot claim the delivery ({type(exc).__name__})"
                    ) from None
            except RedisError as exc:
                raise WebhookError(f"cannot claim the delivery ({type(exc).__name__})") from None
        claim = _CLAIMS.get(reply) if type(reply) is int else None
        if claim is None:
            raise WebhookError("cannot claim the delivery (an unexpected reply from Redis)")
        if claim is Claim.NEW:
            self._tokens[delivery_id] = token
        return claim

    async def complete(self, delivery_id: str) -> None:
        from redis.exceptions import RedisError

        key = self._key(delivery_id)
        self._tokens.pop(delivery_id, None)
        try:
            await self._redis.set(key, _DONE, px=_ms(self.retention))
        except RedisError as exc:
            raise WebhookError(
                f"cannot record the delivery as handled ({type(exc).__name__})"
            ) from None

    async def release(self, delivery_id: str) -> None:
        from redis.exceptions import RedisError

        key = self._key(delivery_id)
        token = self._tokens.pop(delivery_id, None)
        if token is None:
            return  # not claimed here (or already completed / released)
        try:
            await self._release(keys=[key], args=[token])
        except RedisError as exc:
            # The claim then lapses after claim_ttl by itself.
            raise WebhookError(f"cannot release the delivery ({type(exc).__name__})") from None

    def __repr__(self) -> str:
        return (
            f"RedisDedupe(prefix={self.prefix!r}, retention={self.retention:.0f}, "
            f"claim_ttl={self.claim_ttl:.0f})"
        )


def _ms(seconds: float) -> int:
    return max(1, round(seconds * 1000))
