"""RedisDedupe's claim recognises its own token, against a real Redis (own key prefix).

Before, the claim was `SET NX`: when a connection died after Redis applied the SET but
before its reply arrived, the re-sent command (redis-py's retry) found the key taken and
reported a duplicate, so the delivery was answered 200 and never handled.
"""

from __future__ import annotations

from typing import Any

import pytest
import redis.asyncio as aioredis
from redis.asyncio.connection import Connection
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as LostConnection

from drchrono_async.errors import WebhookError
from drchrono_async.webhooks import Claim, RedisDedupe
from drchrono_async.webhooks._redis_dedupe import _CLAIM

from .conftest import REDIS_URL

NEW, HANDLED, BUSY = 1, 2, 3


async def test_the_script_sent_twice_with_one_token_claims_twice(
    redis_client: aioredis.Redis, redis_key: str
) -> None:
    """What redis-py's retry does after a lost reply: the same script, the same token."""
    script = redis_client.register_script(_CLAIM)
    key = f"{redis_key}:d1"
    assert await script(keys=[key], args=["claim:mine", 60_000, "done"]) == NEW
    assert await script(keys=[key], args=["claim:mine", 60_000, "done"]) == NEW
    assert await redis_client.get(key) == b"claim:mine"
    assert 0 < await redis_client.pttl(key) <= 60_000
    assert await script(keys=[key], args=["claim:theirs", 60_000, "done"]) == BUSY
    await redis_client.set(key, "done")
    assert await script(keys=[key], args=["claim:mine", 60_000, "done"]) == HANDLED


class DropsFirstClaimReply(Connection):
    """A connection that reads the reply of the first claim command (so Redis has applied
    it) and then fails as a reset connection would, before handing the reply over."""

    dropped = 0
    last: Any = None

    async def send_command(self, *args: Any, **kwargs: Any) -> None:
        type(self).last = args[0]
        await super().send_command(*args, **kwargs)

    async def read_response(self, *args: Any, **kwargs: Any) -> Any:
        reply = await super().read_response(*args, **kwargs)
        claim_commands = ("EVALSHA", "SET", b"EVALSHA", b"SET")  # SET: the old claim
        if type(self).last in claim_commands and not type(self).dropped:
            type(self).dropped += 1
            await self.disconnect()
            raise LostConnection("Connection reset by peer")
        return reply


async def test_a_claim_whose_reply_was_lost_is_still_ours_after_redis_py_retries(
    redis_client: aioredis.Redis, redis_key: str
) -> None:
    DropsFirstClaimReply.dropped = 0
    flaky = aioredis.Redis.from_url(
        REDIS_URL,
        connection_class=DropsFirstClaimReply,
        retry=Retry(NoBackoff(), 3),
        retry_on_error=[LostConnection],
    )
    try:
        dedupe = RedisDedupe(flaky, prefix=redis_key)
        await flaky.script_load(_CLAIM)  # the first EVALSHA is then the claim itself
        assert await dedupe.claim("lost-1") is Claim.NEW
        assert DropsFirstClaimReply.dropped == 1
        assert (await redis_client.get(f"{redis_key}:lost-1") or b"").startswith(b"claim:")
        await dedupe.release("lost-1")  # the token was kept: the claim can be released
        assert await redis_client.exists(f"{redis_key}:lost-1") == 0
    finally:
        await flaky.aclose()


class LosesFirstEvalshaReply(aioredis.Redis):
    """A client whose first `evalsha` runs on the server, then raises as a dropped
    connection does; redis-py's own retry is off (`from_url` clients retry nothing)."""

    lost = 0

    async def evalsha(self, *args: Any) -> Any:  # type: ignore[override]
        reply = await super().evalsha(*args)
        if not type(self).lost:
            type(self).lost += 1
            raise LostConnection("Connection closed by server.")
        return reply


async def test_a_claim_whose_reply_was_lost_is_still_ours_after_our_own_retry(
    redis_client: aioredis.Redis, redis_key: str
) -> None:
    LosesFirstEvalshaReply.lost = 0
    flaky = LosesFirstEvalshaReply.from_url(REDIS_URL)
    try:
        dedupe = RedisDedupe(flaky, prefix=redis_key)
        assert await dedupe.claim("lost-2") is Claim.NEW
        assert LosesFirstEvalshaReply.lost == 1
        other = RedisDedupe(redis_client, prefix=redis_key)
        assert await other.claim("lost-2") is Claim.BUSY
        await dedupe.complete("lost-2")
        assert await other.claim("lost-2") is Claim.HANDLED
    finally:
        await flaky.aclose()


async def test_a_key_of_another_type_or_a_strange_reply_is_a_typed_error(
    redis_client: aioredis.Redis, redis_key: str
) -> None:
    await redis_client.rpush(f"{redis_key}:listy", "x")
    dedupe = RedisDedupe(redis_client, prefix=redis_key)
    with pytest.raises(WebhookError, match=r"^cannot claim the delivery \(ResponseError\)$"):
        await dedupe.claim("listy")

    async def strange(**_: Any) -> Any:
        return b"claimed"

    dedupe._claim = strange  # type: ignore[assignment]
    with pytest.raises(WebhookError, match="unexpected reply"):
        await dedupe.claim("x")
