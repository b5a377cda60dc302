"""The fleet's delivery dedupe in the registry: two receivers given one delivery at once
apply it once; a dead receiver's claim lapses; a failed apply is answered 500 and its
redelivery applied; a full table of kept deliveries refuses (500) rather than drops."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import httpx
import orjson
import psycopg

from drchrono_async._endpoints import BY_NAME
from drchrono_async.fleet import FleetWebhooks, PracticeRegistry, webhook_app
from drchrono_async.fleet._routing import RegistryDedupe
from drchrono_async.oauth import Token
from drchrono_async.testing import Emulator, VirtualClock
from drchrono_async.webhooks import Claim

from .conftest import POSTGRES_DSN

SECRET = "whsec-DEDUPE-7f6e5d4c"
SIZES = {name: 0 for name in BY_NAME} | {
    "doctors": 1,
    "offices": 1,
    "users": 1,
    "patients": 2,
    "appointments": 8,
}


def delivery(event: str, obj: dict[str, Any], delivery_id: str) -> tuple[dict[str, str], bytes]:
    headers = {
        "X-drchrono-event": event,
        "X-drchrono-delivery": delivery_id,
        "X-drchrono-signature": SECRET,
        "Content-Type": "application/json",
    }
    return headers, orjson.dumps({"receiver": {"id": 1}, "object": obj})


@contextlib.asynccontextmanager
async def posting(app: FleetWebhooks) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app), base_url="http://fleet.test"
    ) as client:
        yield client


async def practices(registry: PracticeRegistry) -> Emulator:
    """Two practices whose doctors the registry knows (as their syncs would teach it)."""
    emu = Emulator(seed=31, sizes=SIZES, practices=2)
    routing = webhook_app(registry, SECRET).routing
    for key, index in (("north", 0), ("south", 1)):
        await registry.add(key, Token("t", "r", 253_402_300_799.0), auth="fixed")
        doctors = [str(d["id"]) for d in emu.practice(index).records("doctors")]
        await routing.learn(key, "doctor", doctors)
    return emu


async def test_two_receivers_given_one_delivery_at_once_apply_it_once(
    registry: PracticeRegistry,
) -> None:
    emu = await practices(registry)
    one, two = webhook_app(registry, SECRET), webhook_app(registry, SECRET)
    appointments = emu.practice(1).records("appointments")
    async with posting(one) as first, posting(two) as second:
        for round_ in range(2):  # the second round: every copy is a duplicate
            sends = []
            for n, appointment in enumerate(appointments):
                headers, body = delivery(
                    "APPOINTMENT_MODIFY", appointment | {"notes": f"n{n}"}, f"d-{n}"
                )
                sends += [
                    first.post("/hooks", content=body, headers=headers),
                    second.post("/hooks", content=body, headers=headers),
                ]
            answers = await asyncio.gather(*sends)
            for n in range(len(appointments)):
                pair = [a.status_code for a in answers[2 * n : 2 * n + 2]]
                details = [a.json()["detail"] for a in answers[2 * n : 2 * n + 2]]
                if round_ == 0:
                    # One applied it; the other was told to come again (409) or that it was
                    # handled, depending on who got there first.
                    assert "handled" in details, (pair, details)
                    assert sorted(pair) in ([200, 200], [200, 409]), (pair, details)
                else:
                    assert details == ["already handled", "already handled"]
    applied = one.deliveries.counts["applied"] + two.deliveries.counts["applied"]
    assert applied == len(appointments)
    async with registry.data_store("south") as store:
        for n, appointment in enumerate(appointments):
            got = await store.get("appointments", appointment["id"])
            assert got is not None and got["notes"] == f"n{n}"
    await one.aclose()
    await two.aclose()


async def test_of_many_claims_at_once_across_receivers_exactly_one_is_new(
    registry: PracticeRegistry,
) -> None:
    receivers = [RegistryDedupe(registry) for _ in range(4)]
    claims = await asyncio.gather(*(r.claim(f"race-{n % 3}") for n in range(24) for r in receivers))
    for n in range(3):
        mine = [c for i, c in enumerate(claims) if (i // 4) % 3 == n]
        assert mine.count(Claim.NEW) == 1 and mine.count(Claim.BUSY) == len(mine) - 1


async def test_a_dead_receivers_claim_lapses_and_a_release_frees_only_ones_own(
    registry: PracticeRegistry,
) -> None:
    clock = VirtualClock(start=1_900_000_000.0)
    dead, alive, third = (RegistryDedupe(registry, claim_ttl=300, clock=clock) for _ in range(3))
    assert await dead.claim("d-1") is Claim.NEW  # and its receiver dies mid-apply
    assert await alive.claim("d-1") is Claim.BUSY
    clock.advance(301)
    assert await alive.claim("d-1") is Claim.NEW
    await dead.release("d-1")  # late: the claim is alive's now, and stays
    assert await third.claim("d-1") is Claim.BUSY
    await alive.complete("d-1")
    assert await third.claim("d-1") is Claim.HANDLED
    clock.advance(alive.retention + 1)  # remembered for the retention, then forgotten
    assert await third.claim("d-1") is Claim.NEW
    await third.release("d-1")
    assert await dead.claim("d-1") is Claim.NEW


async def test_a_failed_apply_is_answered_500_and_its_redelivery_applied(
    registry: PracticeRegistry,
) -> None:
    emu = await practices(registry)
    app = webhook_app(registry, SECRET)
    appointment = emu.practice(0).records("appointments")[0] | {"notes": "again"}
    headers, body = delivery("APPOINTMENT_MODIFY", appointment, "d-fail")
    # A fault the apply cannot get past: the practice's timezone is no timezone.
    async with await psycopg.AsyncConnection.connect(POSTGRES_DSN, autocommit=True) as conn:
        table = f'"{registry.schema}".practices'
        await conn.execute(f"UPDATE {table} SET timezone = 'Nowhere/Atall' WHERE key = 'north'")
        async with posting(app) as client:
            answer = await client.post("/hooks", content=body, headers=headers)
            assert answer.status_code == 500
            await conn.execute(f"UPDATE {table} SET timezone = 'UTC' WHERE key = 'north'")
            # The claim was released: DrChrono's redelivery is applied.
            answer = await client.post("/hooks", content=body, headers=headers)
            assert answer.status_code == 200 and answer.json()["detail"] == "handled"
    async with registry.data_store("north") as store:
        got = await store.get("appointments", appointment["id"])
        assert got is not None and got["notes"] == "again"
    await app.aclose()


async def test_when_the_kept_deliveries_are_full_a_delivery_is_refused_not_dropped(
    registry: PracticeRegistry,
) -> None:
    app = webhook_app(registry, SECRET, max_unrouted=1)
    stranger = {"id": 77, "doctor": 424242, "first_name": "Nobody"}
    async with posting(app) as client:
        for n, status in ((1, 200), (2, 500)):
            headers, body = delivery("PATIENT_MODIFY", stranger, f"u-{n}")
            answer = await client.post("/hooks", content=body, headers=headers)
            assert answer.status_code == status
        # The refused one was not recorded as handled: its redelivery is taken once room is.
        assert [k.delivery_id for k in await app.routing.unrouted()] == ["u-1"]
        app.routing.max_unrouted = 2
        headers, body = delivery("PATIENT_MODIFY", stranger, "u-2")
        assert (await client.post("/hooks", content=body, headers=headers)).status_code == 200
    assert [k.delivery_id for k in await app.routing.unrouted()] == ["u-1", "u-2"]
    await app.aclose()
