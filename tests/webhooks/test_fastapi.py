"""The receiver inside FastAPI (a test dependency only): mounted, routed, and the example."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx
from fastapi import FastAPI

from drchrono_async._demo import emulator_checksum
from drchrono_async.sync import Syncer
from drchrono_async.testing import Emulator, VirtualClock
from drchrono_async.webhooks import WebhookEvent, WebhookReceiver, verification_response

from .conftest import SECRET, signed

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "fastapi_webhooks.py"


def load_example() -> ModuleType:
    spec = importlib.util.spec_from_file_location("fastapi_webhooks", EXAMPLE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def http(app: FastAPI) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="https://api.test")


async def test_mounted_in_fastapi(emu: Emulator) -> None:
    seen: list[WebhookEvent] = []

    async def handler(event: WebhookEvent) -> None:
        seen.append(event)

    app = FastAPI()
    app.mount("/drchrono/webhook", WebhookReceiver(SECRET, handler))
    headers, body = signed("APPOINTMENT_CREATE", emu.records("appointments")[0], delivery="f-1")
    async with http(app) as client:
        r = await client.get("/drchrono/webhook/", params={"msg": "m-123"})
        assert r.status_code == 200 and r.json() == verification_response("m-123", SECRET)
        assert (await client.post("/drchrono/webhook/", headers=headers, content=body)).is_success
        assert (await client.post("/drchrono/webhook/", headers=headers, content=body)).is_success
        # The bare mount path is a redirect, which DrChrono counts as a failed delivery.
        bare = await client.post("/drchrono/webhook", headers=headers, content=body)
        assert bare.status_code == 307
        assert (await client.post("/drchrono/webhook/", content=body)).status_code == 401
    assert [e.delivery_id for e in seen] == ["f-1"]


async def test_routed_on_an_exact_path_in_fastapi() -> None:
    seen: list[WebhookEvent] = []

    async def handler(event: WebhookEvent) -> None:
        seen.append(event)

    app = FastAPI()
    app.add_route("/drchrono/webhook", WebhookReceiver(SECRET, handler))
    headers, body = signed("SOMETHING_NEW_MODIFY", delivery="f-2")
    async with http(app) as client:
        assert (await client.post("/drchrono/webhook", headers=headers, content=body)).is_success
        assert (await client.put("/drchrono/webhook")).status_code == 405
    assert [e.event for e in seen] == ["SOMETHING_NEW_MODIFY"]


EVENTS = [
    "APPOINTMENT_CREATE",
    "APPOINTMENT_MODIFY",
    "APPOINTMENT_DELETE",
    "PATIENT_CREATE",
    "PATIENT_MODIFY",
    "PATIENT_DELETE",
]


async def test_the_example_keeps_the_sync_database_equal_to_the_emulator(tmp_path: Path) -> None:
    """Backfill by the sync, then only webhooks: the database still equals the emulator.

    A failed delivery gets a 500 and is handled when redelivered an hour later; a redelivery
    carrying an older state of a record does not roll the newer row back.
    """
    emu = Emulator(seed=8, clock=VirtualClock(), sizes={"appointments": 300, "patients": 60})
    example = load_example()
    app = example.create_app([SECRET], database=str(tmp_path / "app.db"), client=emu.client)
    emu.webhooks.transport = httpx.ASGITransport(app=app)
    hook = emu.webhooks.register("http://app.test/drchrono/webhook/", SECRET, EVENTS)
    async with app.router.lifespan_context(app):
        syncer = app.state.syncer
        store = syncer.store
        # Without verbose: deliveries carry objects as plain listings show them.
        backfill = await Syncer(
            syncer.client, store, resources=["appointments", "patients"], verbose=False
        ).run()
        assert backfill.complete
        assert await emu.webhooks.verify(hook)

        # Staff at work: every change reaches the database by webhook alone.
        emu.clock.advance(60)
        log = await emu.activity.run(changes=4, creates=3, deletes=2)
        sent = await emu.webhooks.deliver_due()
        assert len(sent) == log.total and {e.status for e in sent} == {200}
        for resource in ("appointments", "patients"):
            rows, digest = emulator_checksum(emu, resource, verbose=False)
            assert await store.count(resource) == rows
            assert await store.checksum(resource) == digest

        # The app fails once: 500, and the redelivery an hour later is handled.
        target = log.changed["appointments"][0]
        apply, failures = syncer.apply, [1]

        async def flaky(event: Any) -> Any:
            if failures:
                failures.pop()
                raise RuntimeError("database unavailable")
            return await apply(event)

        syncer.apply = flaky
        emu.clock.advance(60)
        await syncer.client.appointments.patch(target, notes="first change")
        [failed] = await emu.webhooks.deliver_due()
        assert failed.status == 500
        # A newer change is delivered at once...
        emu.clock.advance(60)
        await syncer.client.appointments.patch(target, notes="second change")
        [ok] = await emu.webhooks.deliver_due()
        assert ok.status == 200
        # ...and the first one's redelivery, carrying the older state, comes an hour later.
        emu.clock.advance(3600)
        [again] = await emu.webhooks.deliver_due()
        assert again.delivery_id == failed.delivery_id and again.status == 200
        held = await store.get("appointments", target)
        assert held is not None and held["notes"] == "second change"
        # The same delivery once more (a manual redelivery): the handler does not run.
        calls = len(emu.requests)
        response = await http(app).post(
            "/drchrono/webhook/",
            headers={
                "X-drchrono-event": "APPOINTMENT_MODIFY",
                "X-drchrono-delivery": ok.delivery_id,
                "X-drchrono-signature": SECRET,
            },
            content=b'{"object": {"id": "x"}}',
        )
        assert response.status_code == 200 and len(emu.requests) == calls
        assert await store.get("appointments", target) == held
        assert await store.get("appointments", "x") is None
