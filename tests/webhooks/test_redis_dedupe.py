"""RedisDedupe against a real Redis on loopback (own key prefix, deleted afterwards)."""

from __future__ import annotations

import asyncio

import httpx
import pytest
import redis.asyncio as aioredis

from drchrono_async.errors import InvalidRequestError, WebhookError
from drchrono_async.testing import Emulator
from drchrono_async.webhooks import (
    Claim,
    DeliveryDedupe,
    RedisDedupe,
    WebhookEvent,
    WebhookReceiver,
)

from .conftest import REDIS_URL, SECRET, signed, until

HOUR = 3600.0


async def test_claim_complete_release_and_their_ttls(
    redis_client: aioredis.Redis, redis_key: str
) -> None:
    dedupe = RedisDedupe(redis_client, prefix=redis_key, claim_ttl=120)
    assert isinstance(dedupe, DeliveryDedupe)
    key = f"{redis_key}:d1"
    assert await dedupe.claim("d1") is Claim.NEW
    assert 0 < await redis_client.pttl(key) <= 120_000  # a dead claimant's claim lapses
    assert await dedupe.claim("d1") is Claim.BUSY  # in progress
    await dedupe.complete("d1")
    assert await redis_client.get(key) == b"done"
    assert 23 * HOUR * 1000 < await redis_client.pttl(key) <= 24 * HOUR * 1000
    assert await dedupe.claim("d1") is Claim.HANDLED  # handled
    await dedupe.release("d1")  # after complete: nothing to release
    assert await redis_client.get(key) == b"done"

    assert await dedupe.claim("d2") is Claim.NEW
    await dedupe.release("d2")
    assert await redis_client.exists(f"{redis_key}:d2") == 0
    assert await dedupe.claim("d2") is Claim.NEW  # the redelivery is handled


async def test_release_leaves_a_claim_that_is_no_longer_ours(
    redis_client: aioredis.Redis, redis_key: str
) -> None:
    dedupe = RedisDedupe(redis_client, prefix=redis_key)
    assert await dedupe.claim("d1")
    # Our claim lapsed and another process claimed it meanwhile:
    await redis_client.set(f"{redis_key}:d1", "claim:someone-else")
    await dedupe.release("d1")
    assert await redis_client.get(f"{redis_key}:d1") == b"claim:someone-else"
    other = RedisDedupe(redis_client, prefix=redis_key)
    await other.release("d1")  # never claimed by `other`: nothing happens
    assert await redis_client.exists(f"{redis_key}:d1") == 1


async def test_concurrent_claims_across_processes_have_one_winner(
    redis_client: aioredis.Redis, redis_key: str
) -> None:
    second = aioredis.Redis.from_url(REDIS_URL, decode_responses=True)
    try:
        a = RedisDedupe(redis_client, prefix=redis_key)
        b = RedisDedupe(second, prefix=redis_key)  # the other decode_responses setting
        claims = [x.claim("same") for _ in range(10) for x in (a, b)]
        assert (await asyncio.gather(*claims)).count(Claim.NEW) == 1
        winner = a if "same" in a._tokens else b
        await winner.release("same")
        assert await b.claim("same") is Claim.NEW
        await b.complete("same")
        assert await a.claim("same") is Claim.HANDLED
    finally:
        await second.aclose()


async def test_redis_failures_are_typed_and_name_no_value() -> None:
    dead = aioredis.Redis.from_url("redis://127.0.0.1:1/0", socket_connect_timeout=1)
    try:
        dedupe = RedisDedupe(dead, prefix="drchrono-async-test:dead")
        for op in (dedupe.claim, dedupe.complete):
            with pytest.raises(WebhookError) as info:
                await op("d1")
            assert "ConnectionError" in str(info.value) and "d1" not in str(info.value)
            assert info.value.__cause__ is None
    finally:
        await dead.aclose()


async def test_settings_are_checked(redis_client: aioredis.Redis) -> None:
    for kw in (
        {"prefix": ""},
        {"retention": 3600},
        {"claim_ttl": 0},
        {"claim_ttl": 30 * HOUR},
        {"claim_ttl": True},
    ):
        with pytest.raises(InvalidRequestError):
            RedisDedupe(redis_client, **kw)  # type: ignore[arg-type]
    dedupe = RedisDedupe(redis_client, prefix="p")
    with pytest.raises(InvalidRequestError):
        await dedupe.claim("has space")
    assert repr(dedupe) == "RedisDedupe(prefix='p', retention=86400, claim_ttl=300)"


async def test_two_receivers_sharing_redis_handle_a_delivery_once(
    redis_client: aioredis.Redis, redis_key: str
) -> None:
    emu = Emulator(seed=1, sizes={"appointments": 3})
    seen: list[str] = []
    gate = asyncio.Event()

    async def handler(event: WebhookEvent) -> None:
        seen.append(event.delivery_id)
        await gate.wait()

    receivers = [
        WebhookReceiver(SECRET, handler, dedupe=RedisDedupe(redis_client, prefix=redis_key))
        for _ in range(2)
    ]
    headers, body = signed("APPOINTMENT_MODIFY", emu.records("appointments")[0], delivery="r-1")
    clients = [
        httpx.AsyncClient(transport=httpx.ASGITransport(app=r), base_url="http://hook")
        for r in receivers
    ]
    try:
        first = asyncio.ensure_future(clients[0].post("/", headers=headers, content=body))
        await until(lambda: seen)
        # The other process: the claim is held there, so it answers 409 without handling
        # (DrChrono redelivers: should the first fail, the delivery is not lost).
        busy = await clients[1].post("/", headers=headers, content=body)
        assert busy.status_code == 409 and busy.json() == {
            "detail": "in progress elsewhere; redeliver"
        }
        gate.set()
        assert (await first).status_code == 200
        assert (await clients[1].post("/", headers=headers, content=body)).status_code == 200
        assert seen == ["r-1"]
        assert await redis_client.get(f"{redis_key}:r-1") == b"done"
    finally:
        for c in clients:
            await c.aclose()
