"""MemoryDedupe: claims, retention on an injected clock, and what it does when full."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest

from drchrono_async.errors import InvalidRequestError, WebhookError
from drchrono_async.testing import VirtualClock
from drchrono_async.webhooks import (
    DEFAULT_RETENTION,
    MIN_RETENTION,
    Claim,
    DeliveryDedupe,
    MemoryDedupe,
)

HOUR = 3600.0


def make(**kw: Any) -> tuple[MemoryDedupe, VirtualClock]:
    clock = VirtualClock(autojump=False)
    return MemoryDedupe(clock=clock, **kw), clock


async def test_claim_complete_and_the_retention_window() -> None:
    dedupe, clock = make()
    assert isinstance(dedupe, DeliveryDedupe)
    assert dedupe.retention == DEFAULT_RETENTION >= MIN_RETENTION == 8 * HOUR
    assert await dedupe.claim("d1") is Claim.NEW
    assert await dedupe.claim("d1") is Claim.BUSY  # in progress
    await dedupe.complete("d1")
    # The redeliveries at +1 h, +3 h and +7 h all find it handled.
    for hours in (1, 2, 4):
        clock.advance(hours * HOUR)
        assert await dedupe.claim("d1") is Claim.HANDLED
    clock.advance(DEFAULT_RETENTION - 7 * HOUR - 1)
    assert await dedupe.claim("d1") is Claim.HANDLED  # one second before the end of the retention
    clock.advance(1)
    assert await dedupe.claim("d1") is Claim.NEW  # forgotten exactly at the retention
    assert len(dedupe) == 1


async def test_release_forgets_the_claim_so_a_redelivery_is_handled() -> None:
    dedupe, _ = make()
    assert await dedupe.claim("d1")
    await dedupe.release("d1")
    assert await dedupe.claim("d1")
    await dedupe.release("never-claimed")  # nothing to do
    assert len(dedupe) == 1


async def test_concurrent_claims_one_winner() -> None:
    dedupe, _ = make()
    results = await asyncio.gather(*(dedupe.claim("same") for _ in range(50)))
    assert results.count(Claim.NEW) == 1 and results.count(Claim.BUSY) == 49


async def test_retention_shorter_than_the_redelivery_schedule_is_refused() -> None:
    for bad in (7 * HOUR, 0, -1, float("nan"), float("inf"), True, "8h", None):
        with pytest.raises(InvalidRequestError):
            MemoryDedupe(retention=bad)  # type: ignore[arg-type]
    for bad_entries in (0, -1, 1.5, True, 10**9):
        with pytest.raises(InvalidRequestError):
            MemoryDedupe(max_entries=bad_entries)  # type: ignore[arg-type]
    assert MemoryDedupe(retention=8 * HOUR).retention == 8 * HOUR


async def test_when_full_expired_ids_go_first() -> None:
    dedupe, clock = make(retention=8 * HOUR, max_entries=3)
    for i in range(3):
        assert await dedupe.claim(f"d{i}")
        await dedupe.complete(f"d{i}")
        clock.advance(HOUR)
    clock.advance(5 * HOUR)  # d0 has had its 8 hours; d1 and d2 have not
    assert await dedupe.claim("new")
    assert dedupe.evicted == 0
    assert await dedupe.claim("d2") is Claim.HANDLED
    assert await dedupe.claim("d0") is Claim.NEW  # expired: handled again, as intended


async def test_when_still_full_the_oldest_handled_id_is_forgotten_with_a_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, logger="drchrono_async.webhooks")
    dedupe, clock = make(max_entries=3)
    for i in range(3):
        assert await dedupe.claim(f"d{i}")
        await dedupe.complete(f"d{i}")
        clock.advance(60)
    assert await dedupe.claim("new")  # at capacity, nothing expired: d0 is evicted
    assert dedupe.evicted == 1 and len(dedupe) == 3
    assert "MemoryDedupe is full" in caplog.text
    assert await dedupe.claim("d1") is Claim.HANDLED and await dedupe.claim("d2") is Claim.HANDLED
    await dedupe.release("new")
    assert await dedupe.claim("d0") is Claim.NEW  # forgotten early


async def test_full_of_claims_in_progress_refuses_with_a_typed_error() -> None:
    dedupe, _ = make(max_entries=2)
    assert await dedupe.claim("a") and await dedupe.claim("b")
    with pytest.raises(WebhookError, match="in progress"):
        await dedupe.claim("c")
    await dedupe.complete("a")  # a handled id can now make room
    assert await dedupe.claim("c")


async def test_completing_without_a_claim_stays_bounded() -> None:
    dedupe, _ = make(max_entries=2)
    for i in range(5):
        await dedupe.complete(f"x{i}")
    assert len(dedupe) == 2 and dedupe.evicted == 3
    assert await dedupe.claim("x4") is Claim.HANDLED


@pytest.mark.parametrize("bad", ["", "a b", "x" * 129, "é", None, 5])
async def test_delivery_ids_are_checked(bad: Any) -> None:
    dedupe, _ = make()
    for op in (dedupe.claim, dedupe.complete, dedupe.release):
        with pytest.raises(InvalidRequestError):
            await op(bad)


def test_repr_counts_entries_only() -> None:
    dedupe, _ = make(max_entries=5)
    assert repr(dedupe) == "MemoryDedupe(retention=86400, max_entries=5, entries=0)"
