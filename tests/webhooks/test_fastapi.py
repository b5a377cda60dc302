"""The receiver inside FastAPI (a test dependency only): mounted, routed, and the example."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import httpx
from fastapi import FastAPI

from drchrono_async.testing import Emulator
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
    headers, body = signed("PING", delivery="f-2")
    async with http(app) as client:
        assert (await client.post("/drchrono/webhook", headers=headers, content=body)).is_success
        assert (await client.put("/drchrono/webhook")).status_code == 405
    assert [e.event for e in seen] == ["PING"]


async def test_the_example_applies_upserts_deletes_and_ignores_older_states(
    emu: Emulator,
) -> None:
    example = load_example()
    app = example.create_app([SECRET, "whsec-old"])
    appointment = emu.records("appointments")[0]
    newer = {**appointment, "updated_at": "2099-01-01T00:00:00", "reason": "newer"}
    url = "/drchrono/webhook/"
    async with http(app) as client:
        for n, (event, obj) in enumerate(
            [
                ("APPOINTMENT_MODIFY", newer),
                ("APPOINTMENT_MODIFY", appointment),  # a late redelivery of an older state
                ("PATIENT_CREATE", emu.records("patients")[0]),
                ("PATIENT_DELETE", {"id": emu.records("patients")[0]["id"]}),
                ("PING", None),
            ]
        ):
            headers, body = signed(event, obj, delivery=f"ex-{n}", secret="whsec-old")
            r = await client.post(url, headers=headers, content=body)
            assert r.status_code == 200, (event, r.text)
    assert example.store["appointments"][appointment["id"]]["reason"] == "newer"
    assert example.store["patients"] == {}
