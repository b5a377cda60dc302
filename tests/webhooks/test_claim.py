"""Three claim answers: NEW (handle it), HANDLED (200), BUSY (409: in progress elsewhere).

Before, a copy arriving while another receiver or process held the claim was answered 200
"already handled"; when that first claimant then failed, nothing was ever redelivered.
"""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
import redis.asyncio as aioredis

from drchrono_async.errors import WebhookError
from drchrono_async.testing import Emulator
from drchrono_async.webhooks import (
    Claim,
    DeliveryDedupe,
    MemoryDedupe,
    RedisDedupe,
    WebhookEvent,
    WebhookReceiver,
)
from drchrono_async.webhooks._dedupe import to_claim

from .conftest import SECRET, patient, signed


class Gated:
    """A handler held at a gate, failing the first `fail` calls."""

    def __init__(self, fail: int = 0) -> None:
        self.calls = 0
        self.entered = asyncio.Event()  # set once the handler runs (after a Redis round trip)
        self.gate = asyncio.Event()
        self.fail = fail

    async def __call__(self, event: WebhookEvent) -> None:
        self.calls += 1
        self.entered.set()
        await self.gate.wait()
        if self.fail:
            self.fail -= 1
            raise RuntimeError("the database went away")


def http(app: Any) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://hook")


def test_claim_is_truthy_only_when_new_and_bools_map_to_it() -> None:
    assert [bool(c) for c in Claim] == [True, False, False]
    assert (to_claim(True), to_claim(False)) == (Claim.NEW, Claim.HANDLED)
    assert to_claim(Claim.BUSY) is Claim.BUSY
    for junk in (None, 1, 0, "new", Claim.NEW.value):
        with pytest.raises(WebhookError, match="neither a Claim nor a bool"):
            to_claim(junk)


async def receivers_sharing(dedupe: DeliveryDedupe, emu: Emulator) -> None:
    """Two receivers (two processes) on one dedupe: a copy during the first one's handler
    is 409; the first fails (500); the redelivery to the second is handled (200)."""
    first, second = Gated(fail=1), Gated()
    second.gate.set()
    headers, body = signed("PATIENT_MODIFY", patient(emu), delivery="busy-1")
    async with (
        http(WebhookReceiver(SECRET, first, dedupe=dedupe)) as a,
        http(WebhookReceiver(SECRET, second, dedupe=dedupe)) as b,
    ):
        running = asyncio.ensure_future(a.post("/", headers=headers, content=body))
        await first.entered.wait()
        busy = await b.post("/", headers=headers, content=body)
        assert busy.status_code == 409
        assert busy.json() == {"detail": "in progress elsewhere; redeliver"}
        assert second.calls == 0
        first.gate.set()
        assert (await running).status_code == 500  # the first claimant failed
        assert (await b.post("/", headers=headers, content=body)).status_code == 200
        assert second.calls == 1
        assert (await a.post("/", headers=headers, content=body)).status_code == 200
        assert first.calls == 1  # handled: answered 200 without calling again


async def test_a_memory_dedupe_shared_by_two_receivers_says_busy(emu: Emulator) -> None:
    await receivers_sharing(MemoryDedupe(), emu)


async def test_redis_dedupe_across_processes_says_busy(
    emu: Emulator, redis_client: aioredis.Redis, redis_key: str
) -> None:
    await receivers_sharing(RedisDedupe(redis_client, prefix=redis_key), emu)


class BoolDedupe:
    """A user's dedupe written before `Claim`: claim returns a plain bool."""

    def __init__(self) -> None:
        self.inner = MemoryDedupe()

    async def claim(self, delivery_id: str) -> bool:
        return bool(await self.inner.claim(delivery_id))

    async def complete(self, delivery_id: str) -> None:
        await self.inner.complete(delivery_id)

    async def release(self, delivery_id: str) -> None:
        await self.inner.release(delivery_id)


async def test_a_dedupe_returning_bools_still_works(emu: Emulator) -> None:
    handler = Gated()
    handler.gate.set()
    receiver = WebhookReceiver(SECRET, handler, dedupe=BoolDedupe())
    headers, body = signed("PATIENT_MODIFY", patient(emu), delivery="bool-1")
    async with http(receiver) as client:
        answers = [await client.post("/", headers=headers, content=body) for _ in range(2)]
    assert [a.status_code for a in answers] == [200, 200]
    assert [a.json()["detail"] for a in answers] == ["handled", "already handled"]
    assert handler.calls == 1


@pytest.mark.parametrize("junk", [None, 1, "new"])
async def test_a_dedupe_returning_anything_else_is_503_unhandled(
    emu: Emulator, junk: object
) -> None:
    class Junk(BoolDedupe):
        async def claim(self, delivery_id: str) -> Any:
            return junk

    handler = Gated()
    headers, body = signed("PATIENT_MODIFY", patient(emu), delivery="junk-1")
    async with http(WebhookReceiver(SECRET, handler, dedupe=Junk())) as client:
        assert (await client.post("/", headers=headers, content=body)).status_code == 503
    assert handler.calls == 0
