"""Iframe replay caches keep a token until it can no longer pass the age check on any host:
first used early (at `iat - leeway`), and checked by hosts whose clocks lag (Redis expires
entries on its own clock)."""

from __future__ import annotations

from typing import Any

import pytest

from drchrono_async.errors import IframeVerificationError
from drchrono_async.iframe import MemoryReplayCache, averify_iframe_request, verify_iframe_request
from tests.test_iframe import NOW, PATIENT, SECRET, query, redis_client, redis_key

__all__ = ["redis_client", "redis_key"]

MAX_AGE, LEEWAY = 300, 30


def verify(q: dict[str, str], now: float, cache: MemoryReplayCache) -> int:
    ctx = verify_iframe_request(
        q, SECRET, now=now, max_age=MAX_AGE, leeway=LEEWAY, replay_cache=cache
    )
    return ctx.iat


def test_a_token_first_used_early_is_still_refused_at_the_end_of_its_validity() -> None:
    cache = MemoryReplayCache()
    q = query(PATIENT)  # iat = NOW
    assert verify(q, NOW - LEEWAY, cache) == NOW  # first use: iat is at the leeway's edge
    # Still valid at iat + max_age (the age check includes its bound): a replay then must
    # be refused; it used to be forgotten at exactly that moment.
    with pytest.raises(IframeVerificationError, match="replayed"):
        verify(q, NOW + MAX_AGE, cache)


def test_a_host_lagging_by_the_leeway_cannot_replay_at_its_last_valid_moment() -> None:
    cache = MemoryReplayCache()  # shared by two hosts: this one, and one `LEEWAY` behind
    q = query(PATIENT)
    assert verify(q, NOW - LEEWAY, cache) == NOW
    # The cache is told the lagging host's time; on it the token is valid until NOW + 300.
    for lagging_now in (NOW + MAX_AGE - 1, NOW + MAX_AGE):
        with pytest.raises(IframeVerificationError, match="replayed"):
            verify(q, lagging_now, cache)
    # Past the age check everywhere, the entry may go; the token is refused as too old.
    with pytest.raises(IframeVerificationError, match="too old"):
        verify(q, NOW + MAX_AGE + 1, cache)
    assert cache.add("probe", 1, NOW + MAX_AGE + LEEWAY + 1)
    assert len(cache) == 1  # the token's entry is gone by then: kept no longer than needed


async def test_redis_keeps_an_early_token_for_max_age_and_twice_the_leeway(
    redis_client: Any, redis_key: str
) -> None:
    from drchrono_async.iframe import RedisReplayCache

    cache = RedisReplayCache(redis_client, prefix=f"{redis_key}:")
    q = query(PATIENT)
    await averify_iframe_request(
        q, SECRET, now=NOW - LEEWAY, max_age=MAX_AGE, leeway=LEEWAY, replay_cache=cache
    )
    keys = [k async for k in redis_client.scan_iter(match=f"{redis_key}:*")]
    ttl_ms = await redis_client.pttl(keys[0])
    # Redis counts from the first use: it must outlast iat + max_age on every host lagging
    # by up to the leeway, i.e. max_age + 2 * leeway from a first use at iat - leeway.
    assert (MAX_AGE + 2 * LEEWAY) * 1000 < ttl_ms <= (MAX_AGE + 2 * LEEWAY + 1) * 1000
