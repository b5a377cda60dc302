"""The fleet's webhook receiver: each delivery to its practice's schema, learned from the
syncs; a delivery no practice matches is kept and applied once its practice is known; one
that two practices could own is kept, never written to both. Real PostgreSQL and Redis; the
emulator (two practices, one application's hooks) sends the deliveries into the ASGI app."""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any

import httpx
import orjson
import psycopg
import pytest
from prometheus_client import generate_latest

from drchrono_async import metrics
from drchrono_async._endpoints import BY_NAME
from drchrono_async.fleet import FleetRuntime, FleetWebhooks, PracticeRegistry, webhook_app
from drchrono_async.fleet._routing import Routing
from drchrono_async.oauth import Token
from drchrono_async.ratelimit import RedisQuota
from drchrono_async.testing import Emulator, VirtualClock
from tests.test_metrics import parse, value

from .conftest import POSTGRES_DSN

SECRET = "whsec-FLEETSECRET-0b1c2d3e"
SIZES = {name: 0 for name in BY_NAME} | {
    "doctors": 2,
    "offices": 1,
    "users": 2,
    "patients": 3,
    "appointments": 4,
    "allergies": 2,
}
EVENTS = [
    "APPOINTMENT_MODIFY",
    "PATIENT_MODIFY",
    "PATIENT_DELETE",
    "PATIENT_ALLERGY_MODIFY",
    "CLINICAL_NOTE_LOCK",
]
OWNERS = ("doctors", "offices", "users")


def fixed(token: str) -> Token:
    return Token(token, "unused-refresh", 253_402_300_799.0)


@contextlib.asynccontextmanager
async def fleet(
    registry: PracticeRegistry,
    *,
    clock: VirtualClock | None = None,
    events: Sequence[str] = tuple(EVENTS),
) -> AsyncIterator[tuple[Emulator, str, FleetWebhooks]]:
    """Two practices of one emulator, registered as north (0) and south (1), served over
    HTTP for the syncs; the emulator's one hook (hearing `events`) delivers into a
    `webhook_app`."""
    emu = Emulator(seed=21, sizes=SIZES, practices=2, clock=clock or VirtualClock())
    async with emu.serve() as url:
        for key, index in (("north", 0), ("south", 1)):
            token = fixed(emu.practice(index).access_token)
            await registry.add(key, token, base_url=url, auth="fixed")
        app = webhook_app(registry, [SECRET], clock=clock, retry_every=0)
        emu.webhooks.transport = httpx.ASGITransport(app)
        emu.webhooks.register("http://fleet.test/hooks", SECRET, list(events))
        try:
            yield emu, url, app
        finally:
            await app.aclose()


async def learn(runtime: FleetRuntime, key: str, *resources: str) -> None:
    for resource in resources or OWNERS:
        await runtime.sync_slice(key, resource)


async def patch(emu: Emulator, index: int, resource: str, rid: Any, body: dict[str, Any]) -> None:
    headers = {"Authorization": f"Bearer {emu.practice(index).access_token}"}
    async with httpx.AsyncClient(
        transport=emu.transport, base_url=emu.base_url, headers=headers
    ) as raw:
        answer = await raw.patch(f"/api/{resource}/{rid}", json=body)
        assert answer.status_code == 204, answer.text


async def row(registry: PracticeRegistry, key: str, resource: str, rid: Any) -> Any:
    async with registry.data_store(key) as store:
        return await store.get(resource, rid)


async def test_deliveries_go_to_the_practice_that_owns_their_doctor(
    registry: PracticeRegistry, quota_factory: Callable[..., RedisQuota]
) -> None:
    runtime = FleetRuntime(registry, quota_factory())
    async with fleet(registry) as (emu, _, app):
        await learn(runtime, "north", "doctors")
        await learn(runtime, "south")
        routing = Routing(registry)
        south_doctor = str(emu.practice(1).records("doctors")[0]["id"])
        owners = await routing.owners([("doctor", south_doctor)])
        assert owners == {("doctor", south_doctor): {"south": True}}

        appointment = emu.practice(1).records("appointments")[0]
        patient = emu.practice(0).records("patients")[0]
        allergy = emu.practice(1).records("allergies")[0]
        await patch(emu, 1, "appointments", appointment["id"], {"notes": "moved to 3pm"})
        await patch(emu, 0, "patients", patient["id"], {"nick_name": "Bee"})
        await patch(emu, 1, "allergies", allergy["id"], {"reaction": "hives"})
        sent = await emu.webhooks.deliver_due()
        assert [e.status for e in sent] == [200, 200, 200]

        got = await row(registry, "south", "appointments", appointment["id"])
        assert got is not None and got["notes"] == "moved to 3pm"
        assert await row(registry, "north", "appointments", appointment["id"]) is None
        got = await row(registry, "north", "patients", patient["id"])
        assert got is not None and got["nick_name"] == "Bee"
        assert await row(registry, "south", "patients", patient["id"]) is None
        # An allergy has no version: marked stale in its practice, for the next sync's GET.
        async with registry.data_store("south") as store:
            assert await store.stale_ids("allergies", limit=10) == [str(allergy["id"])]
        assert app.deliveries.counts["applied"] == 3
        assert await routing.unrouted() == []
        # The freshness seam: when a delivery was last applied to (practice, resource).
        assert await routing.last_delivery("south", "appointments") is not None
        assert await routing.last_delivery("north", "appointments") is None

        # A clinical note names no doctor: it goes where its appointment's copy is.
        await runtime.sync_slice("south", "appointments")
        note = {"appointment": appointment["id"], "patient": appointment["patient"]}
        note |= {"archived": False, "clinical_note_sections": []}
        emu.webhooks.emit("CLINICAL_NOTE_LOCK", note, practice=1)
        assert [e.status for e in await emu.webhooks.deliver_due()] == [200]
        assert app.deliveries.counts["applied"] == 4
        assert await row(registry, "south", "clinical_notes", appointment["id"]) is not None


async def test_a_delivery_of_an_unknown_practice_is_kept_then_applied_once_learned(
    registry: PracticeRegistry,
    quota_factory: Callable[..., RedisQuota],
    caplog: pytest.LogCaptureFixture,
) -> None:
    runtime = FleetRuntime(registry, quota_factory())
    async with fleet(registry) as (emu, _, app):
        await learn(runtime, "north", "doctors")  # south's owners are not known yet
        appointment = emu.practice(1).records("appointments")[0]
        caplog.set_level(logging.INFO, "drchrono_async")
        await patch(emu, 1, "appointments", appointment["id"], {"notes": "Zebulonia's visit"})
        sent = await emu.webhooks.deliver_due()
        # Answered 200 once kept: DrChrono need not redeliver, and nothing is lost.
        assert [e.status for e in sent] == [200]
        routing = app.routing
        (kept,) = await routing.unrouted()
        assert (kept.delivery_id, kept.event, kept.reason) == (
            sent[0].delivery_id,
            "APPOINTMENT_MODIFY",
            "unknown",
        )
        assert orjson.loads(kept.body)["object"]["notes"] == "Zebulonia's visit"
        assert await row(registry, "south", "appointments", appointment["id"]) is None
        assert await row(registry, "north", "appointments", appointment["id"]) is None
        assert app.deliveries.counts["unrouted"] == 1
        lines = [r.getMessage() for r in caplog.records]
        assert any(sent[0].delivery_id in line and "matches no practice" in line for line in lines)
        assert not any("Zebulonia" in line or SECRET in line for line in lines)
        assert "Zebulonia" not in repr(kept)

        # A retry before its practice is known keeps it (with its back-off).
        assert await app.retry_unrouted(everything=True) == (0, 1, 0)
        # The first doctors slice of south teaches the fleet its owner and applies it.
        await runtime.sync_slice("south", "doctors")
        assert await routing.unrouted() == []
        got = await row(registry, "south", "appointments", appointment["id"])
        assert got is not None and got["notes"] == "Zebulonia's visit"
        assert await row(registry, "north", "appointments", appointment["id"]) is None


async def test_kept_deliveries_back_off_and_are_given_up_loudly(
    registry: PracticeRegistry, caplog: pytest.LogCaptureFixture
) -> None:
    clock = VirtualClock(start=1_900_000_000.0)
    async with fleet(registry, clock=clock) as (emu, _, app):
        await patch(emu, 0, "patients", emu.practice(0).records("patients")[0]["id"], {})
        assert [e.status for e in await emu.webhooks.deliver_due()] == [200]
        assert await app.retry_unrouted() == (0, 0, 0)  # not due before its first minute
        clock.advance(61)
        assert await app.retry_unrouted() == (0, 1, 0)
        (kept,) = await app.routing.unrouted()
        assert kept.attempts == 1
        clock.advance(61)  # the back-off doubled: two minutes
        assert await app.retry_unrouted() == (0, 0, 0)
        clock.advance(60)
        assert await app.retry_unrouted() == (0, 1, 0)
        caplog.set_level(logging.WARNING, "drchrono_async")
        clock.advance(7 * 86_400)
        assert await app.retry_unrouted() == (0, 0, 1)
        assert await app.routing.unrouted() == []
        assert app.deliveries.counts["expired"] == 1
        assert any("given up" in r.getMessage() for r in caplog.records)


async def test_an_id_two_practices_own_is_narrowed_or_kept_never_written_to_both(
    registry: PracticeRegistry,
) -> None:
    async with fleet(registry) as (emu, _, app):
        routing = app.routing
        appointment = emu.practice(1).records("appointments")[0]
        doctor, office = str(appointment["doctor"]), str(appointment["office"])
        # The same doctor in both practices; the office is south's only.
        await routing.learn("north", "doctor", [doctor])
        await routing.learn("south", "doctor", [doctor])
        assert (await routing.route("appointments", appointment)).practice is None
        await routing.learn("south", "office", [office])
        assert (await routing.route("appointments", appointment)).practice == "south"
        # A patient names only the doctor: which practice it is cannot be told.
        patient = emu.practice(1).records("patients")[0] | {"doctor": int(doctor)}
        route = await routing.route("patients", patient)
        assert (route.practice, route.reason) == (None, "ambiguous")

        await patch(emu, 1, "patients", patient["id"], {"doctor": int(doctor)})
        await patch(emu, 1, "appointments", appointment["id"], {"notes": "narrowed"})
        assert [e.status for e in await emu.webhooks.deliver_due()] == [200, 200]
        (kept,) = await routing.unrouted()
        assert (kept.event, kept.reason) == ("PATIENT_MODIFY", "ambiguous")
        for key in ("north", "south"):
            assert await row(registry, key, "patients", patient["id"]) is None
        got = await row(registry, "south", "appointments", appointment["id"])
        assert got is not None and got["notes"] == "narrowed"


async def test_a_removed_practices_deliveries_are_kept_not_applied_until_it_returns(
    registry: PracticeRegistry,
) -> None:
    recorder = metrics.Metrics(process=False)
    metrics.install(recorder)
    try:
        await removed_and_back(registry)
    finally:
        metrics.install(None)
    got = parse(generate_latest(recorder.registry).decode())
    hooks = "drchrono_webhook_deliveries_total"
    assert value(got, hooks, practice="(none)", outcome="unrouted") == 1
    assert value(got, hooks, practice="south", outcome="late") == 1
    assert value(got, hooks, practice="south", outcome="applied") == 0


async def removed_and_back(registry: PracticeRegistry) -> None:
    async with fleet(registry) as (emu, url, app):
        routing = app.routing
        appointment = emu.practice(1).records("appointments")[0]
        await routing.learn("south", "doctor", [str(appointment["doctor"])])
        await registry.remove("south")
        await patch(emu, 1, "appointments", appointment["id"], {"notes": "while away"})
        assert [e.status for e in await emu.webhooks.deliver_due()] == [200]
        (kept,) = await routing.unrouted()
        assert kept.reason == "inactive"
        assert await app.retry_unrouted(everything=True) == (0, 1, 0)
        assert await row(registry, "south", "appointments", appointment["id"]) is None
        await registry.add("south", fixed(emu.practice(1).access_token), base_url=url)
        assert await app.retry_unrouted(everything=True) == (1, 0, 0)
        got = await row(registry, "south", "appointments", appointment["id"])
        assert got is not None and got["notes"] == "while away"
        assert app.deliveries.counts["late"] == 1


async def test_a_kept_delete_applied_later_is_versioned_by_its_arrival(
    registry: PracticeRegistry,
) -> None:
    clock = VirtualClock(start=1_700_000_000.0)  # 2023-11-14 22:13:20 UTC
    async with fleet(registry, clock=clock) as (emu, _, app):
        patient = emu.practice(1).records("patients")[0]
        gone = {"id": patient["id"], "doctor": patient["doctor"]}  # no version of its own
        emu.webhooks.emit("PATIENT_DELETE", gone, practice=1)
        assert [e.status for e in await emu.webhooks.deliver_due()] == [200]
        clock.advance(3600)
        await app.routing.learn("south", "doctor", [str(patient["doctor"])])
        assert await app.retry_unrouted(everything=True) == (1, 0, 0)
        async with registry.data_store("south") as store:
            assert await store.is_deleted("patients", patient["id"]) is True
        async with await psycopg.AsyncConnection.connect(POSTGRES_DSN) as conn:
            cur = await conn.execute(
                f'SELECT deleted_at FROM "{registry.schema}_p_south".patients WHERE id = %s',
                (patient["id"],),
            )
            # The delete's version is when it arrived, not when it was applied an hour on
            # (a listing made in that hour that showed the patient would otherwise lose).
            assert await cur.fetchone() == (dt.datetime(2023, 11, 14, 22, 13, 20),)


async def test_a_backlog_of_kept_deliveries_drains_in_one_retry(registry: PracticeRegistry) -> None:
    async with fleet(registry) as (emu, _, app):
        appointments = emu.practice(1).records("appointments")[:3]
        for n, appointment in enumerate(appointments):
            await patch(emu, 1, "appointments", appointment["id"], {"notes": f"b{n}"})
        assert [e.status for e in await emu.webhooks.deliver_due()] == [200, 200, 200]
        assert len(await app.routing.unrouted()) == 3
        await app.routing.learn("south", "doctor", [str(a["doctor"]) for a in appointments])
        # Passes of two: the second pass follows a whole one applied; the third ends it.
        assert await app.deliveries.retry(everything=True, limit=2) == (3, 0, 0)
        assert await app.routing.unrouted() == []
        for n, appointment in enumerate(appointments):
            got = await row(registry, "south", "appointments", appointment["id"])
            assert got is not None and got["notes"] == f"b{n}"
