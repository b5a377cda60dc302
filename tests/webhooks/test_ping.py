"""PING as DrChrono sends it: the "Ping webhook" button may post no body and no signature.

Before, the receiver answered such a PING 400 or 401, so the button reported a failure.
Now a POST whose `X-drchrono-event` is exactly PING is answered 200 before any check, and
nothing in it is used: no handler, no dedupe. Every other event keeps the full check.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from drchrono_async.errors import WebhookSignatureError
from drchrono_async.testing import Emulator
from drchrono_async.webhooks import WebhookEvent, WebhookReceiver, parse_delivery

from .conftest import OTHER_SECRET, SECRET, signed
from .test_receiver import ASGICall, chunks


class Untouchable:
    """A handler and a dedupe in one that record any use."""

    def __init__(self) -> None:
        self.used: list[str] = []

    async def __call__(self, event: WebhookEvent) -> None:
        self.used.append("handler")

    async def claim(self, delivery_id: str) -> bool:
        self.used.append("claim")
        return True

    async def complete(self, delivery_id: str) -> None:
        self.used.append("complete")

    async def release(self, delivery_id: str) -> None:
        self.used.append("release")


def receiver(spy: Untouchable, **kw: Any) -> WebhookReceiver:
    return WebhookReceiver(SECRET, spy, dedupe=spy, **kw)


async def post(app: Any, headers: dict[str, str], body: bytes = b"") -> httpx.Response:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://hook") as http:
        return await http.post("/", headers=headers, content=body)


@pytest.mark.parametrize(
    "headers",
    [
        {"X-drchrono-event": "PING"},  # the button: no body, no signature, no delivery id
        {"X-drchrono-event": "PING", "X-drchrono-signature": OTHER_SECRET},
        {"X-drchrono-event": "PING", "X-drchrono-signature": ""},
        {"X-drchrono-event": "PING", "X-drchrono-delivery": "not a valid id"},
        {"X-drchrono-event": " PING\t", "Content-Type": "text/plain"},
    ],
)
async def test_a_ping_is_200_pong_without_handler_dedupe_or_signature(
    headers: dict[str, str],
) -> None:
    spy = Untouchable()
    r = await post(receiver(spy), headers)
    assert r.status_code == 200 and r.json() == {"detail": "pong"}
    assert spy.used == []


@pytest.mark.parametrize("body", [b"", b"{not json", b"[1]", b'{"object": {"id": "\\u0000"}}'])
async def test_a_signed_ping_with_any_body_is_pong_and_goes_no_further(body: bytes) -> None:
    spy = Untouchable()
    headers, _ = signed("PING")
    r = await post(receiver(spy), headers, body)
    assert r.status_code == 200 and r.json() == {"detail": "pong"} and spy.used == []


async def test_a_ping_over_max_body_is_pong_read_not_at_all_or_not_past_the_limit() -> None:
    spy = Untouchable()
    declared = ASGICall("POST", [("x-drchrono-event", "PING"), ("content-length", "5000")], [])
    assert await declared.run(receiver(spy, max_body=1000)) == 200
    assert declared.reads == 0
    bogus = ASGICall("POST", [("x-drchrono-event", "PING"), ("content-length", "9" * 40)], [])
    assert await bogus.run(receiver(spy)) == 200 and bogus.reads == 0
    streamed = ASGICall("POST", [("x-drchrono-event", "PING")], chunks(b"x" * 10_000, 1000))
    assert await streamed.run(receiver(spy, max_body=2500)) == 200
    assert streamed.reads == 3 and len(streamed.incoming) == 7  # the rest is never read
    assert spy.used == []


async def test_a_ping_whose_client_left_mid_body_gets_no_answer() -> None:
    call = ASGICall(
        "POST",
        [("x-drchrono-event", "PING")],
        [*chunks(b"x" * 50, 10)[:2], {"type": "http.disconnect"}],
    )
    assert await call.run(receiver(Untouchable())) is None and call.sent == []


@pytest.mark.parametrize(
    "event", ["APPOINTMENT_MODIFY", "ping", "PINGS", "PING_MODIFY", "PING,PING", "PONG"]
)
async def test_every_other_event_without_the_signature_is_still_401(
    emu: Emulator, event: str
) -> None:
    spy = Untouchable()
    headers, body = signed(event, emu.records("appointments")[0], secret=None)
    assert (await post(receiver(spy), headers, body)).status_code == 401
    wrong, body = signed(event, emu.records("appointments")[0], secret=OTHER_SECRET)
    assert (await post(receiver(spy), wrong, body)).status_code == 401
    assert spy.used == []


async def test_two_event_headers_are_not_a_ping() -> None:
    call = ASGICall("POST", [("x-drchrono-event", "PING"), ("x-drchrono-event", "PING")], [])
    assert await call.run(receiver(Untouchable())) == 401


def test_parse_delivery_still_verifies_a_ping() -> None:
    headers, body = signed("PING", secret=None)
    with pytest.raises(WebhookSignatureError):
        parse_delivery(headers, body, SECRET)
    headers, body = signed("PING")
    assert parse_delivery(headers, body, SECRET).event == "PING"
