"""WebhookReceiver as DrChrono reaches it: through ASGI, with httpx's ASGITransport or by hand."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
from collections.abc import Iterable
from typing import Any

import httpx
import orjson
import pytest

from drchrono_async import make_converter, records
from drchrono_async.errors import InvalidRequestError, WebhookError
from drchrono_async.testing import Emulator, VirtualClock
from drchrono_async.webhooks import Claim, MemoryDedupe, WebhookEvent, WebhookReceiver

from .conftest import OTHER_SECRET, PATIENT_NAME, SECRET, patient, signed, until


class Recorder:
    """An async handler that records events; it can be held at a gate or made to fail."""

    def __init__(self, fail: int = 0) -> None:
        self.events: list[WebhookEvent] = []
        self.gate: asyncio.Event | None = None
        self.fail = fail  # how many of the next calls raise

    async def __call__(self, event: WebhookEvent) -> None:
        self.events.append(event)
        if self.gate is not None:
            await self.gate.wait()
        if self.fail:
            self.fail -= 1
            raise ValueError(f"cannot store {PATIENT_NAME} with {SECRET}")


# An event this library does not map: checked in full and handed on with `object=None`
# (PING is answered by the receiver itself: tests/webhooks/test_ping.py).
UNKNOWN = "SOMETHING_NEW_MODIFY"


def client(app: Any) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://hook")


async def post(app: Any, headers: dict[str, str], body: bytes) -> httpx.Response:
    async with client(app) as http:
        return await http.post("/", headers=headers, content=body)


# -- the handshake ------------------------------------------------------------------------------


async def test_handshake_answers_the_reference_digest_with_the_current_secret() -> None:
    receiver = WebhookReceiver([SECRET, OTHER_SECRET], Recorder())
    async with client(receiver) as http:
        r = await http.get("/", params={"msg": "d41d8cd9 ü"})
    assert r.status_code == 200 and r.headers["content-type"] == "application/json"
    expected = hmac.new(SECRET.encode(), "d41d8cd9 ü".encode(), hashlib.sha256).hexdigest()
    assert r.json() == {"secret_token": expected}


@pytest.mark.parametrize(
    "query", ["", "other=1", "msg=", "msg=a&msg=b", "msg=%ff", "msg=" + "a" * 4097, "m" * 9000]
)
async def test_handshake_without_one_usable_msg_is_400(query: str) -> None:
    async with client(WebhookReceiver(SECRET, Recorder())) as http:
        r = await http.get(f"/?{query}")
    assert r.status_code == 400 and SECRET not in r.text


@pytest.mark.parametrize("method", ["PUT", "DELETE", "PATCH", "OPTIONS", "HEAD"])
async def test_other_methods_are_405(method: str) -> None:
    handler = Recorder()
    async with client(WebhookReceiver(SECRET, handler)) as http:
        r = await http.request(method, "/")
    assert r.status_code == 405 and r.headers["allow"] == "GET, POST"
    assert handler.events == []


# -- deliveries ---------------------------------------------------------------------------------


async def test_a_delivery_reaches_the_handler_typed(emu: Emulator) -> None:
    handler = Recorder()
    obj = emu.records("appointments")[0]
    headers, body = signed("APPOINTMENT_MODIFY", obj, delivery="a-1")
    r = await post(WebhookReceiver(SECRET, handler), headers, body)
    assert r.status_code == 200
    (event,) = handler.events
    assert isinstance(event.object, records.Appointment) and event.object.raw == obj
    assert (event.resource, event.object_id, event.delivery_id) == (
        "appointments",
        obj["id"],
        "a-1",
    )


@pytest.mark.parametrize("secret", [None, "", OTHER_SECRET, SECRET + " x"])
async def test_a_bad_signature_is_401_and_the_handler_never_runs(secret: str | None) -> None:
    handler = Recorder()
    headers, body = signed(UNKNOWN, secret=secret)
    assert (await post(WebhookReceiver(SECRET, handler), headers, body)).status_code == 401
    assert handler.events == []


@pytest.mark.parametrize(
    ("headers", "body"),
    [
        ({"X-drchrono-event": "bad event"}, b"{}"),
        ({"X-drchrono-delivery": ""}, b"{}"),
        ({}, b"{not json"),
        ({}, b"[1]"),
        ({"X-drchrono-event": "PATIENT_MODIFY"}, b'{"object": 5}'),
        ({"Content-Length": "12x"}, b"{}"),
    ],
)
async def test_malformed_deliveries_are_400(headers: dict[str, str], body: bytes) -> None:
    handler = Recorder()
    base, _ = signed(UNKNOWN)
    r = await post(WebhookReceiver(SECRET, handler), {**base, **headers}, body)
    assert r.status_code == 400 and handler.events == []


async def test_the_same_delivery_twice_is_handled_once(emu: Emulator) -> None:
    handler = Recorder()
    receiver = WebhookReceiver(SECRET, handler)
    headers, body = signed("PATIENT_MODIFY", patient(emu), delivery="dup-1")
    for _ in range(3):
        assert (await post(receiver, headers, body)).status_code == 200
    assert len(handler.events) == 1
    other, _ = signed("PATIENT_MODIFY", delivery="dup-2")
    assert (await post(receiver, other, body)).status_code == 200
    assert len(handler.events) == 2


async def test_concurrent_duplicates_run_the_handler_once(emu: Emulator) -> None:
    handler = Recorder()
    handler.gate = asyncio.Event()
    receiver = WebhookReceiver(SECRET, handler)
    headers, body = signed("PATIENT_MODIFY", patient(emu), delivery="con-1")
    requests = [asyncio.ensure_future(post(receiver, headers, body)) for _ in range(5)]
    await until(lambda: handler.events)
    await asyncio.sleep(0)
    assert not any(r.done() for r in requests)  # duplicates wait for the first's outcome
    handler.gate.set()
    assert [r.status_code for r in await asyncio.gather(*requests)] == [200] * 5
    assert len(handler.events) == 1


async def test_a_failing_handler_is_500_and_the_redelivery_is_handled(
    emu: Emulator, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    handler = Recorder(fail=1)
    clock = VirtualClock(autojump=False)
    receiver = WebhookReceiver(SECRET, handler, clock=clock)
    headers, body = signed("PATIENT_MODIFY", patient(emu), delivery="fail-1")
    assert (await post(receiver, headers, body)).status_code == 500
    assert "ValueError" in caplog.text
    clock.advance(3600)  # DrChrono's first redelivery, an hour after the event
    assert (await post(receiver, headers, body)).status_code == 200
    assert (await post(receiver, headers, body)).status_code == 200  # now a duplicate
    assert len(handler.events) == 2
    assert SECRET not in caplog.text and PATIENT_NAME not in caplog.text


async def test_duplicates_waiting_on_a_failing_first_answer_500_too(emu: Emulator) -> None:
    handler = Recorder(fail=1)
    handler.gate = asyncio.Event()
    receiver = WebhookReceiver(SECRET, handler)
    headers, body = signed("PATIENT_MODIFY", patient(emu), delivery="fail-2")
    requests = [asyncio.ensure_future(post(receiver, headers, body)) for _ in range(3)]
    await until(lambda: handler.events)
    handler.gate.set()
    assert [r.status_code for r in await asyncio.gather(*requests)] == [500] * 3
    handler.gate = None
    assert (await post(receiver, headers, body)).status_code == 200
    assert len(handler.events) == 2


async def test_a_cancelled_handler_releases_its_claim(emu: Emulator) -> None:
    handler = Recorder()
    handler.gate = asyncio.Event()
    dedupe = MemoryDedupe()
    receiver = WebhookReceiver(SECRET, handler, dedupe=dedupe)
    headers, body = signed("PATIENT_MODIFY", patient(emu), delivery="cancel-1")
    task = asyncio.ensure_future(post(receiver, headers, body))
    await until(lambda: handler.events)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert await dedupe.claim("cancel-1") is Claim.NEW  # released: the redelivery will run


# -- body limits and the raw ASGI protocol ------------------------------------------------------


class ASGICall:
    """One request driven by hand: the messages the app reads, and those it sends."""

    def __init__(self, method: str, headers: Iterable[tuple[str, str]], messages: list[Any]):
        self.scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": method,
            "path": "/",
            "query_string": b"",
            "headers": [(k.lower().encode(), v.encode()) for k, v in headers],
        }
        self.incoming = list(messages)
        self.reads = 0
        self.sent: list[dict[str, Any]] = []

    async def receive(self) -> dict[str, Any]:
        self.reads += 1
        return self.incoming.pop(0)

    async def send(self, message: dict[str, Any]) -> None:
        self.sent.append(message)

    async def run(self, app: Any) -> int | None:
        await app(self.scope, self.receive, self.send)
        return self.sent[0]["status"] if self.sent else None


def chunks(body: bytes, size: int) -> list[dict[str, Any]]:
    parts = [body[i : i + size] for i in range(0, len(body), size)]
    return [
        {"type": "http.request", "body": p, "more_body": i < len(parts) - 1}
        for i, p in enumerate(parts)
    ]


async def test_a_content_length_over_the_limit_is_413_before_any_read() -> None:
    handler = Recorder()
    headers, _ = signed(UNKNOWN)
    call = ASGICall("POST", [*headers.items(), ("content-length", "2000")], [])
    assert await call.run(WebhookReceiver(SECRET, handler, max_body=1000)) == 413
    assert call.reads == 0 and handler.events == []
    huge = ASGICall("POST", [*headers.items(), ("content-length", "9" * 40)], [])
    assert await huge.run(WebhookReceiver(SECRET, handler)) == 413


async def test_a_streamed_body_over_the_limit_is_413_without_reading_the_rest() -> None:
    handler = Recorder()
    headers, _ = signed(UNKNOWN)
    body = orjson.dumps({"receiver": {"pad": "x" * 10_000}})
    call = ASGICall("POST", headers.items(), chunks(body, 1000))
    assert await call.run(WebhookReceiver(SECRET, handler, max_body=4000)) == 413
    assert call.reads == 5 and len(call.incoming) > 0 and handler.events == []
    ok = ASGICall("POST", headers.items(), chunks(body, 1000))
    assert await ok.run(WebhookReceiver(SECRET, handler, max_body=len(body))) == 200


async def test_a_bad_signature_is_refused_before_any_read() -> None:
    headers, body = signed(UNKNOWN, secret=OTHER_SECRET)
    call = ASGICall("POST", headers.items(), chunks(body, 100))
    assert await call.run(WebhookReceiver(SECRET, Recorder())) == 401
    assert call.reads == 0


async def test_a_client_gone_mid_body_gets_no_handler_call_and_no_answer() -> None:
    handler = Recorder()
    dedupe = MemoryDedupe()
    headers, body = signed(UNKNOWN, delivery="gone-1")
    messages = [*chunks(body, 10)[:2], {"type": "http.disconnect"}]
    call = ASGICall("POST", headers.items(), messages)
    assert await call.run(WebhookReceiver(SECRET, handler, dedupe=dedupe)) is None
    assert handler.events == [] and call.sent == []
    assert await dedupe.claim("gone-1") is Claim.NEW  # nothing was claimed


async def test_lifespan_is_accepted() -> None:
    sent: list[dict[str, Any]] = []
    incoming = [{"type": "lifespan.startup"}, {"type": "lifespan.shutdown"}]

    async def receive() -> dict[str, Any]:
        return incoming.pop(0)

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await WebhookReceiver(SECRET, Recorder())({"type": "lifespan"}, receive, send)
    assert [m["type"] for m in sent] == ["lifespan.startup.complete", "lifespan.shutdown.complete"]


async def test_websockets_are_refused_and_unknown_scopes_raise() -> None:
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "websocket.connect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    receiver = WebhookReceiver(SECRET, Recorder())
    await receiver({"type": "websocket", "path": "/"}, receive, send)
    assert sent == [{"type": "websocket.close", "code": 1008}]
    with pytest.raises(InvalidRequestError):
        await receiver({"type": "telepathy"}, receive, send)


# -- the dedupe store failing -------------------------------------------------------------------


class BrokenDedupe:
    """A dedupe store whose `claim` or `complete` fails, as a database that went away."""

    def __init__(self, broken: str) -> None:
        self.broken = broken
        self.inner = MemoryDedupe()

    async def claim(self, delivery_id: str) -> bool:
        if self.broken == "claim":
            raise WebhookError("cannot claim the delivery (ConnectionError)")
        return await self.inner.claim(delivery_id)

    async def complete(self, delivery_id: str) -> None:
        if self.broken == "complete":
            raise WebhookError("cannot record the delivery as handled (ConnectionError)")
        await self.inner.complete(delivery_id)

    async def release(self, delivery_id: str) -> None:
        await self.inner.release(delivery_id)


async def test_a_failed_claim_is_503_without_handling(caplog: pytest.LogCaptureFixture) -> None:
    handler = Recorder()
    headers, body = signed(UNKNOWN)
    r = await post(WebhookReceiver(SECRET, handler, dedupe=BrokenDedupe("claim")), headers, body)
    assert r.status_code == 503 and handler.events == []
    assert "WebhookError" in caplog.text


async def test_a_failed_complete_still_answers_200_after_handling() -> None:
    handler = Recorder()
    headers, body = signed(UNKNOWN)
    r = await post(WebhookReceiver(SECRET, handler, dedupe=BrokenDedupe("complete")), headers, body)
    assert r.status_code == 200 and len(handler.events) == 1


# -- privacy and settings -----------------------------------------------------------------------


async def test_no_secret_or_patient_data_in_logs_reprs_or_answers(
    emu: Emulator, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    handler = Recorder(fail=1)
    receiver = WebhookReceiver(SECRET, handler)
    obj = patient(emu)
    answers = []
    receiver_info = {"id": 1, "secret_token": SECRET}
    for secret, event in ((SECRET, "PATIENT_MODIFY"), (OTHER_SECRET, "PATIENT_MODIFY")):
        for _ in range(2):  # a failure, then the redelivery
            headers, body = signed(event, obj, secret=secret, receiver=receiver_info)
            answers.append(await post(receiver, headers, body))
    bad = {**obj, "date_of_birth": PATIENT_NAME}
    headers, body = signed("PATIENT_MODIFY", bad, delivery="x", receiver=receiver_info)
    strict = WebhookReceiver(SECRET, Recorder(), converter=make_converter(strict=True))
    answers.append(await post(strict, headers, body))
    assert [a.status_code for a in answers] == [500, 200, 401, 401, 400]
    texts = [caplog.text, repr(receiver), repr(strict), *(a.text for a in answers)]
    texts += [repr(e) for e in handler.events]
    for text in texts:
        assert SECRET not in text and OTHER_SECRET not in text and PATIENT_NAME not in text
    assert handler.events[0].receiver == {"id": 1, "secret_token": "[redacted]"}


async def test_settings_are_checked() -> None:
    def sync_handler(event: WebhookEvent) -> None:
        pass

    class AsyncCallable:
        async def __call__(self, event: WebhookEvent) -> None:
            pass

    with pytest.raises(InvalidRequestError, match="async"):
        WebhookReceiver(SECRET, sync_handler)  # type: ignore[arg-type]
    WebhookReceiver(SECRET, AsyncCallable())
    for kw in ({"max_body": 0}, {"max_body": 65 * 2**20}, {"max_body": 1.5}):
        with pytest.raises(InvalidRequestError):
            WebhookReceiver(SECRET, Recorder(), **kw)  # type: ignore[arg-type]
    with pytest.raises(InvalidRequestError):
        WebhookReceiver(SECRET, Recorder(), dedupe=MemoryDedupe(), clock=VirtualClock())
    with pytest.raises(InvalidRequestError):
        WebhookReceiver(SECRET, Recorder(), dedupe=object())  # type: ignore[arg-type]
    with pytest.raises(InvalidRequestError):
        WebhookReceiver("", Recorder())
