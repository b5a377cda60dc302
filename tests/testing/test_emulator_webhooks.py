"""`emulator.webhooks`: deliveries over loopback HTTP and through an ASGI transport, the
headers, the frozen object, redelivery at +1 h/+3 h/+7 h, PING, the verification handshake;
and `emulator.iframe_url`, checked with `drchrono_async.iframe`."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import attrs
import httpx
import orjson
import pytest

from drchrono_async.errors import IframeVerificationError, InvalidRequestError
from drchrono_async.iframe import verify_iframe_request
from drchrono_async.testing import WEBHOOK_EVENTS, Emulator, VirtualClock

HOUR = 3600.0
SECRET = "whsec-" + "7f3a9c" * 6


@attrs.frozen
class Received:
    method: str
    target: str
    headers: dict[str, str]
    body: bytes

    @property
    def json(self) -> Any:
        return orjson.loads(self.body)

    @property
    def query(self) -> dict[str, str]:
        return dict(parse_qsl(urlsplit(self.target).query))


Handler = Callable[[Received], tuple[int, bytes]]


def answer(status: int = 200) -> Handler:
    return lambda _: (status, b"{}")


class Receiver:
    """A tiny HTTP/1.1 receiver on loopback (plain asyncio): records requests, answers with
    `handler(request)`; `hang=True` never answers."""

    def __init__(self, handler: Handler | None = None) -> None:
        self.handler = handler or answer(200)
        self.requests: list[Received] = []
        self.hang = False
        self.url = ""
        self._server: asyncio.Server | None = None
        self._handlers: set[asyncio.Task[None]] = set()

    async def __aenter__(self) -> Receiver:
        self._server = await asyncio.start_server(self._connection, "127.0.0.1", 0)
        port = self._server.sockets[0].getsockname()[1]
        self.url = f"http://127.0.0.1:{port}/drchrono/hook"
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()
        for task in self._handlers:  # keep-alive (or hanging) connections: end them
            task.cancel()
        await asyncio.gather(*self._handlers, return_exceptions=True)
        await self._server.wait_closed()

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._handlers.add(task)
        try:
            while line := await reader.readline():
                method, target, _ = line.decode().split()
                headers: dict[str, str] = {}
                while (raw := await reader.readline()) not in (b"\r\n", b""):
                    name, _, value = raw.decode().partition(":")
                    headers[name.strip().lower()] = value.strip()
                body = await reader.readexactly(int(headers.get("content-length", "0")))
                received = Received(method, target, headers, body)
                self.requests.append(received)
                if self.hang:
                    await asyncio.Event().wait()
                status, payload = self.handler(received)
                writer.write(
                    f"HTTP/1.1 {status} X\r\nContent-Type: application/json\r\n"
                    f"Content-Length: {len(payload)}\r\n\r\n".encode()
                    + payload
                )
                await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.CancelledError):
            pass
        finally:
            self._handlers.discard(task)
            writer.close()


class AsgiReceiver:
    """The same, as an ASGI app for `httpx.ASGITransport`."""

    def __init__(self, handler: Handler | None = None) -> None:
        self.handler = handler or answer(200)
        self.requests: list[Received] = []

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        assert scope["type"] == "http"
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        target = scope["path"] + (
            "?" + scope["query_string"].decode() if scope["query_string"] else ""
        )
        headers = {k.decode(): v.decode() for k, v in scope["headers"]}
        received = Received(scope["method"], target, headers, body)
        self.requests.append(received)
        status, payload = self.handler(received)
        await send({"type": "http.response.start", "status": status, "headers": []})
        await send({"type": "http.response.body", "body": payload})


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    async with Receiver() as r:
        yield r


async def get_json(client: httpx.AsyncClient, path: str) -> Any:
    resp = await client.get(path)
    assert resp.status_code == 200
    return resp.json()


def first_appointment(emu: Emulator) -> str:
    return str(next(r["id"] for r in emu.records("appointments") if not r.get("deleted_flag")))


# --- registration ------------------------------------------------------------------------------


def test_register_validates_and_hides_the_secret(emu: Emulator) -> None:
    hook_id = emu.webhooks.register("http://127.0.0.1:9/h", SECRET, ["PATIENT_CREATE", "PING"])
    second = emu.webhooks.register("https://example.test/h?x=1", SECRET, WEBHOOK_EVENTS)
    assert (hook_id, second) == (1, 2)
    hook = emu.webhooks.hook(hook_id)
    assert hook.events == {"PATIENT_CREATE", "PING"}
    assert SECRET not in repr(hook) and SECRET not in repr(emu.webhooks)
    assert SECRET not in str(hook.as_json())
    bad: list[tuple[Any, Any, Any]] = [
        ("ftp://x/h", SECRET, ["PING"]),
        ("http:///h", SECRET, ["PING"]),
        ("http://user:pw@x/h", SECRET, ["PING"]),
        ("http://x/h#frag", SECRET, ["PING"]),
        ("http://x/h\r\nX: y", SECRET, ["PING"]),
        ("http://x/" + "a" * 3000, SECRET, ["PING"]),
        ("http://x/h", "", ["PING"]),
        ("http://x/h", "line\nbreak", ["PING"]),
        ("http://x/h", "é" * 40, ["PING"]),
        ("http://x/h", SECRET, []),
        ("http://x/h", SECRET, "PING"),
        ("http://x/h", SECRET, ["PATIENT_CREATED"]),
        ("http://x/h", SECRET, ["LINE_ITEM_DELETE"]),  # an event the emulator cannot raise
    ]
    for url, secret, events in bad:
        with pytest.raises(InvalidRequestError) as info:
            emu.webhooks.register(url, secret, events)
        assert SECRET not in str(info.value)
    with pytest.raises(InvalidRequestError):
        emu.webhooks.hook(99)
    with pytest.raises(InvalidRequestError):
        emu.webhooks.timeout = 0


async def test_nothing_is_queued_without_a_subscribed_hook(
    emu: Emulator, client: httpx.AsyncClient
) -> None:
    emu.webhooks.register("http://127.0.0.1:9/h", SECRET, ["PATIENT_MODIFY"])
    appointment = first_appointment(emu)
    resp = await client.patch(f"/api/appointments/{appointment}", json={"notes": "x"})
    assert resp.status_code == 204
    assert emu.webhooks.pending == ()
    assert await emu.webhooks.deliver_due() == []


# --- deliveries --------------------------------------------------------------------------------


async def test_a_change_is_delivered_over_loopback_with_the_three_headers(
    emu: Emulator, client: httpx.AsyncClient, receiver: Receiver
) -> None:
    hook_id = emu.webhooks.register(receiver.url, SECRET, ["APPOINTMENT_MODIFY"])
    appointment = first_appointment(emu)
    resp = await client.patch(f"/api/appointments/{appointment}", json={"notes": "moved to 3pm"})
    assert resp.status_code == 204
    assert receiver.requests == []  # nothing is sent before deliver_due
    (pending,) = emu.webhooks.pending
    made = await emu.webhooks.deliver_due()

    (got,) = receiver.requests
    assert got.method == "POST" and got.target == "/drchrono/hook"
    assert got.headers["x-drchrono-event"] == "APPOINTMENT_MODIFY"
    assert hmac.compare_digest(got.headers["x-drchrono-signature"], SECRET)  # the token itself
    delivery_id = got.headers["x-drchrono-delivery"]
    assert delivery_id == pending.delivery_id and uuid.UUID(delivery_id)
    assert got.headers["content-type"] == "application/json"
    body = got.json
    assert body["receiver"] == {
        "id": hook_id,
        "callback_url": receiver.url,
        "events": ["APPOINTMENT_MODIFY"],
    }
    assert SECRET.encode() not in got.body
    assert body["object"] == await get_json(client, f"/api/appointments/{appointment}")
    assert body["object"]["notes"] == "moved to 3pm"

    (entry,) = made
    assert (entry.delivery_id, entry.event, entry.hook_id) == (
        delivery_id,
        got.headers["x-drchrono-event"],
        hook_id,
    )
    assert (entry.attempt, entry.status, entry.error, entry.outcome) == (1, 200, None, "delivered")
    assert entry.at == emu.clock.now() and list(emu.webhooks.log) == [entry]
    assert emu.webhooks.pending == ()
    assert SECRET not in repr(emu.webhooks.log) + repr(entry)


async def test_creates_changes_and_deletes_of_every_kind_through_an_asgi_transport(
    emu: Emulator, client: httpx.AsyncClient
) -> None:
    app = AsgiReceiver()
    emu.webhooks.transport = httpx.ASGITransport(app)
    events = [e for e in WEBHOOK_EVENTS if not e.startswith(("CLINICAL_NOTE", "PING"))]
    emu.webhooks.register("http://receiver.test/hook", SECRET, events)
    patient = emu.records("patients")[0]
    template = {"doctor": patient["doctor"], "patient": patient["id"]}

    created = await client.post(
        "/api/patients",
        json={
            "doctor": patient["doctor"],
            "first_name": "Ada",
            "last_name": "Byron",
            "gender": "Female",
            "date_of_birth": "1980-01-01",
        },
    )
    new_patient = created.json()
    problem = (await client.post("/api/problems", json={**template, "name": "Asthma"})).json()
    await client.patch(f"/api/problems/{problem['id']}", json={"notes": "mild"})
    allergy = (await client.post("/api/allergies", json={**template, "reaction": "hives"})).json()
    await client.put(f"/api/allergies/{allergy['id']}", json={**template, "reaction": "rash"})
    medication = (await client.post("/api/medications", json={**template, "name": "X"})).json()
    await client.patch(
        f"/api/medications/{medication['id']}/append_to_pharmacy_note", json={"text": "ok"}
    )
    before_delete = await get_json(client, f"/api/patients/{new_patient['id']}")
    assert (await client.delete(f"/api/patients/{new_patient['id']}")).status_code == 204
    appointment = first_appointment(emu)
    assert (await client.delete(f"/api/appointments/{appointment}")).status_code == 204

    made = await emu.webhooks.deliver_due()
    assert [e.outcome for e in made] == ["delivered"] * 9
    seen = [(r.headers["x-drchrono-event"], r.json["object"]) for r in app.requests]
    assert [e for e, _ in seen] == [
        "PATIENT_CREATE",
        "PATIENT_PROBLEM_CREATE",
        "PATIENT_PROBLEM_MODIFY",
        "PATIENT_ALLERGY_CREATE",
        "PATIENT_ALLERGY_MODIFY",
        "PATIENT_MEDICATION_CREATE",
        "PATIENT_MEDICATION_MODIFY",
        "PATIENT_DELETE",
        "APPOINTMENT_DELETE",
    ]
    objects = dict(seen)
    assert objects["PATIENT_CREATE"] == new_patient
    assert objects["PATIENT_PROBLEM_MODIFY"] == await get_json(
        client, f"/api/problems/{problem['id']}"
    )
    assert objects["PATIENT_ALLERGY_MODIFY"]["reaction"] == "rash"
    medication_now = await get_json(client, f"/api/medications/{medication['id']}")
    assert objects["PATIENT_MEDICATION_MODIFY"] == medication_now
    assert medication_now["pharmacy_note"] == "ok"
    assert objects["PATIENT_DELETE"] == before_delete  # as it was: the record is gone now
    assert (await client.get(f"/api/patients/{new_patient['id']}")).status_code == 404
    assert objects["APPOINTMENT_DELETE"]["deleted_flag"] is True  # soft delete
    assert len({r.headers["x-drchrono-delivery"] for r in app.requests}) == 9


async def test_each_subscribed_hook_gets_its_own_delivery(
    emu: Emulator, client: httpx.AsyncClient
) -> None:
    app = AsgiReceiver()
    emu.webhooks.transport = httpx.ASGITransport(app)
    one = emu.webhooks.register("http://a.test/h", SECRET, ["APPOINTMENT_MODIFY"])
    two = emu.webhooks.register(
        "http://b.test/h", "other-" + SECRET, ["APPOINTMENT_MODIFY", "PING"]
    )
    emu.webhooks.register("http://c.test/h", SECRET, ["PATIENT_MODIFY"])
    await client.patch(f"/api/appointments/{first_appointment(emu)}", json={"notes": "n"})
    await emu.webhooks.deliver_due()
    by_host = {r.headers["host"]: r for r in app.requests}
    assert set(by_host) == {"a.test", "b.test"}
    assert by_host["a.test"].json["receiver"]["id"] == one
    assert by_host["b.test"].json["receiver"]["id"] == two
    assert by_host["b.test"].headers["x-drchrono-signature"] == "other-" + SECRET
    assert by_host["a.test"].json["object"] == by_host["b.test"].json["object"]
    ids = {r.headers["x-drchrono-delivery"] for r in app.requests}
    assert len(ids) == 2


async def test_activity_run_produces_deliveries(emu: Emulator) -> None:
    app = AsgiReceiver()
    emu.webhooks.transport = httpx.ASGITransport(app)
    emu.webhooks.register(
        "http://receiver.test/h",
        SECRET,
        ["APPOINTMENT_CREATE", "APPOINTMENT_MODIFY", "APPOINTMENT_DELETE", "PATIENT_MODIFY"],
    )
    log = await emu.activity.run(changes=3, creates=2, deletes=1, vanish=1)
    await emu.webhooks.deliver_due()
    got: dict[str, list[str]] = {}
    for r in app.requests:
        got.setdefault(r.headers["x-drchrono-event"], []).append(str(r.json["object"]["id"]))
    assert got["APPOINTMENT_MODIFY"] == log.changed["appointments"]
    assert got["APPOINTMENT_CREATE"] == log.created["appointments"]
    assert got["APPOINTMENT_DELETE"] == log.deleted["appointments"]
    assert got["PATIENT_MODIFY"] == log.changed["patients"]
    assert set(got) == {
        "APPOINTMENT_MODIFY",
        "APPOINTMENT_CREATE",
        "APPOINTMENT_DELETE",
        "PATIENT_MODIFY",
    }


# --- redelivery --------------------------------------------------------------------------------


async def test_a_failed_delivery_is_redelivered_with_its_id_and_old_object_then_given_up(
    emu: Emulator, clock: VirtualClock, client: httpx.AsyncClient, receiver: Receiver
) -> None:
    receiver.handler = answer(500)
    emu.webhooks.register(receiver.url, SECRET, ["APPOINTMENT_MODIFY"])
    appointment = first_appointment(emu)
    start = clock.now()
    await client.patch(f"/api/appointments/{appointment}", json={"notes": "first"})
    (first,) = await emu.webhooks.deliver_due()
    assert (first.status, first.outcome, first.attempt) == (500, "failed", 1)
    original = receiver.requests[0]

    # A later change: its own delivery; the first keeps the object as it was.
    clock.advance(600)
    await client.patch(f"/api/appointments/{appointment}", json={"notes": "second"})
    (later,) = await emu.webhooks.deliver_due()
    assert later.delivery_id != first.delivery_id
    due = {p.delivery_id: p.due for p in emu.webhooks.pending}
    assert due == {first.delivery_id: start + HOUR, later.delivery_id: start + 600 + HOUR}

    clock.advance(HOUR - 600 - 1)
    assert await emu.webhooks.deliver_due() == []  # one second early: nothing
    clock.advance(1)
    (second,) = await emu.webhooks.deliver_due()
    assert (second.delivery_id, second.attempt, second.at) == (first.delivery_id, 2, start + HOUR)
    again = receiver.requests[-1]
    assert again.headers["x-drchrono-delivery"] == first.delivery_id
    assert again.body == original.body and again.json["object"]["notes"] == "first"
    current = await get_json(client, f"/api/appointments/{appointment}")
    assert current["notes"] == "second"

    clock.advance(600)
    (later2,) = await emu.webhooks.deliver_due()  # the later one's own +1 h
    assert (later2.delivery_id, later2.attempt) == (later.delivery_id, 2)
    clock.advance(2 * HOUR - 600)  # start + 3 h
    (third,) = await emu.webhooks.deliver_due()
    assert (third.delivery_id, third.attempt, third.outcome) == (first.delivery_id, 3, "failed")
    clock.advance(4 * HOUR)  # start + 7 h
    made = await emu.webhooks.deliver_due()
    fourth = next(e for e in made if e.delivery_id == first.delivery_id)
    assert (fourth.attempt, fourth.outcome, fourth.at) == (4, "given_up", start + 7 * HOUR)
    assert first.delivery_id in emu.webhooks.given_up
    assert first.delivery_id not in {p.delivery_id for p in emu.webhooks.pending}

    clock.advance(24 * HOUR)
    made = await emu.webhooks.deliver_due()
    assert [e.delivery_id for e in made] == [later.delivery_id]  # its last try; never the first
    attempts = emu.webhooks.log.of(first.delivery_id)
    assert [(e.attempt, e.at - start, e.outcome) for e in attempts] == [
        (1, 0.0, "failed"),
        (2, HOUR, "failed"),
        (3, 3 * HOUR, "failed"),
        (4, 7 * HOUR, "given_up"),
    ]
    sent = [r for r in receiver.requests if r.headers["x-drchrono-delivery"] == first.delivery_id]
    assert len(sent) == 4 and all(r.body == original.body for r in sent)


async def test_a_redelivery_that_succeeds_stops_the_retries(
    emu: Emulator, clock: VirtualClock, client: httpx.AsyncClient
) -> None:
    statuses = iter([503, 302, 204])
    app = AsgiReceiver(lambda _: (next(statuses), b""))
    emu.webhooks.transport = httpx.ASGITransport(app)
    emu.webhooks.register("http://receiver.test/h", SECRET, ["APPOINTMENT_MODIFY"])
    await client.patch(f"/api/appointments/{first_appointment(emu)}", json={"notes": "x"})
    await emu.webhooks.deliver_due()
    clock.advance(HOUR)
    await emu.webhooks.deliver_due()  # a 302 is a failure too
    clock.advance(2 * HOUR)
    await emu.webhooks.deliver_due()
    clock.advance(10 * HOUR)
    await emu.webhooks.deliver_due()
    assert [(e.attempt, e.status, e.outcome) for e in emu.webhooks.log] == [
        (1, 503, "failed"),
        (2, 302, "failed"),
        (3, 204, "delivered"),
    ]
    assert emu.webhooks.pending == () and emu.webhooks.given_up == []


async def test_a_late_call_catches_up_on_every_redelivery_due(
    emu: Emulator, clock: VirtualClock, client: httpx.AsyncClient
) -> None:
    app = AsgiReceiver(answer(500))
    emu.webhooks.transport = httpx.ASGITransport(app)
    emu.webhooks.register("http://receiver.test/h", SECRET, ["APPOINTMENT_MODIFY"])
    await client.patch(f"/api/appointments/{first_appointment(emu)}", json={"notes": "x"})
    clock.advance(8 * HOUR)
    made = await emu.webhooks.deliver_due()
    assert [(e.attempt, e.outcome) for e in made] == [
        (1, "failed"),
        (2, "failed"),
        (3, "failed"),
        (4, "given_up"),
    ]


async def test_connection_errors_and_timeouts_are_failed_attempts(
    emu: Emulator, client: httpx.AsyncClient, receiver: Receiver
) -> None:
    closed = Receiver()
    async with closed:
        dead_url = closed.url  # nothing listens there once the block ends
    emu.webhooks.register(dead_url, SECRET, ["APPOINTMENT_MODIFY"])
    receiver.hang = True
    emu.webhooks.register(receiver.url, SECRET, ["APPOINTMENT_MODIFY"])
    emu.webhooks.timeout = 0.2  # bounded: a receiver that never answers costs this much
    await client.patch(f"/api/appointments/{first_appointment(emu)}", json={"notes": "x"})
    made = await emu.webhooks.deliver_due()
    assert sorted((e.hook_id, e.status, e.error, e.outcome) for e in made) == [
        (1, None, "connect", "failed"),
        (2, None, "timeout", "failed"),
    ]
    assert len(emu.webhooks.pending) == 2


async def test_a_receiver_that_raises_is_a_failed_attempt(
    emu: Emulator, client: httpx.AsyncClient
) -> None:
    def broken(_: Received) -> tuple[int, bytes]:
        raise RuntimeError("receiver bug")

    emu.webhooks.transport = httpx.ASGITransport(AsgiReceiver(broken))
    emu.webhooks.register("http://receiver.test/h", SECRET, ["APPOINTMENT_MODIFY"])
    await client.patch(f"/api/appointments/{first_appointment(emu)}", json={"notes": "x"})
    (entry,) = await emu.webhooks.deliver_due()
    assert (entry.status, entry.error, entry.outcome) == (None, "RuntimeError", "failed")


# --- PING, verification, emit -------------------------------------------------------------------


async def test_ping_is_sent_at_once_and_never_redelivered(
    emu: Emulator, clock: VirtualClock, receiver: Receiver
) -> None:
    hook_id = emu.webhooks.register(receiver.url, SECRET, ["PING"])
    entry = await emu.webhooks.ping(hook_id)
    (got,) = receiver.requests
    assert got.headers["x-drchrono-event"] == "PING"
    assert got.headers["x-drchrono-signature"] == SECRET
    assert got.headers["x-drchrono-delivery"] == entry.delivery_id
    assert got.json == {"receiver": emu.webhooks.hook(hook_id).as_json(), "object": {}}
    assert (entry.event, entry.attempt, entry.status, entry.outcome) == (
        "PING",
        1,
        200,
        "delivered",
    )
    receiver.handler = answer(500)
    failed = await emu.webhooks.ping(hook_id)
    assert failed.outcome == "failed" and emu.webhooks.pending == ()
    clock.advance(8 * HOUR)
    assert await emu.webhooks.deliver_due() == []


def _handshake(secret: str) -> Handler:
    def handler(req: Received) -> tuple[int, bytes]:
        msg = req.query["msg"]
        token = hmac.new(secret.encode(), msg.encode(), hashlib.sha256).hexdigest()
        return 200, orjson.dumps({"secret_token": token})

    return handler


async def test_verification_handshake_over_loopback(emu: Emulator, receiver: Receiver) -> None:
    hook_id = emu.webhooks.register(receiver.url, SECRET, ["PATIENT_CREATE"])
    receiver.handler = _handshake(SECRET)
    assert await emu.webhooks.verify(hook_id) is True
    (got,) = receiver.requests
    assert got.method == "GET" and urlsplit(got.target).path == "/drchrono/hook"
    assert len(got.query["msg"]) >= 16 and "x-drchrono-signature" not in got.headers
    assert emu.webhooks.hook(hook_id).verified
    await emu.webhooks.verify(hook_id)
    assert receiver.requests[1].query["msg"] != got.query["msg"]  # a fresh msg each time


@pytest.mark.parametrize(
    "handler",
    [
        _handshake("not-the-secret"),
        lambda _: (200, b"not json"),
        lambda _: (200, b'["a list"]'),
        lambda _: (200, b'{"secret_token": 5}'),
        lambda _: (500, b"{}"),
        lambda req: (201, orjson.dumps({"secret_token": _handshake(SECRET)(req)})),
        lambda _: (200, b'{"secret_token": "' + b"a" * 100_000 + b'"}'),
    ],
)
async def test_a_wrong_handshake_answer_fails_verification(emu: Emulator, handler: Handler) -> None:
    emu.webhooks.transport = httpx.ASGITransport(AsgiReceiver(handler))
    hook_id = emu.webhooks.register("http://receiver.test/h", SECRET, ["PING"])
    assert await emu.webhooks.verify(hook_id) is False
    assert not emu.webhooks.hook(hook_id).verified


async def test_emit_raises_events_the_api_does_not_model(emu: Emulator) -> None:
    app = AsgiReceiver()
    emu.webhooks.transport = httpx.ASGITransport(app)
    emu.webhooks.register("http://receiver.test/h", SECRET, ["CLINICAL_NOTE_LOCK"])
    note = emu.records("clinical_notes")[0]
    (delivery_id,) = emu.webhooks.emit("CLINICAL_NOTE_LOCK", note)
    assert emu.webhooks.emit("CLINICAL_NOTE_UNLOCK", note) == []  # nobody listens
    await emu.webhooks.deliver_due()
    (got,) = app.requests
    assert got.headers["x-drchrono-delivery"] == delivery_id
    assert got.json["object"] == note
    for event in ("PING", "NOTE_LOCK"):
        with pytest.raises(InvalidRequestError):
            emu.webhooks.emit(event, note)


# --- iframe URLs ---------------------------------------------------------------------------------


def test_iframe_urls_verify_for_both_pages(emu: Emulator, clock: VirtualClock) -> None:
    secret = emu.client_secret
    url = emu.iframe_url("patient", base_url="https://app.test/drchrono/patient")
    parts = urlsplit(url)
    assert (parts.scheme, parts.netloc, parts.path) == ("https", "app.test", "/drchrono/patient")
    ctx = verify_iframe_request(parts.query, secret, now=clock, page="patient")
    user = emu.record("users", emu.current_user_id)
    assert user is not None
    assert (ctx.user_id, ctx.doctor_id, ctx.iat) == (
        emu.current_user_id,
        user["doctor"],
        int(clock.now()),
    )
    patient = emu.record("patients", ctx.patient_id)
    assert patient is not None and patient["doctor"] == ctx.doctor_id
    assert [k for k, _ in parse_qsl(parts.query)] == [
        "user_id",
        "doctor_id",
        "patient_id",
        "iat",
        "jwt",
    ]

    note_url = emu.iframe_url(
        "clinical_note", base_url="https://app.test/note?tenant=1&", practice_id=4242
    )
    query = urlsplit(note_url).query
    with pytest.raises(IframeVerificationError, match="not signed"):
        verify_iframe_request(query, secret, now=clock)  # the app's own `tenant` is unsigned
    query = query.removeprefix("tenant=1&")
    note = verify_iframe_request(query, secret, now=clock, page="clinical_note")
    appointment = emu.record("appointments", note.appointment_id or 0)
    assert appointment is not None
    assert (note.patient_id, note.practice_id, note.user_id) == (appointment["patient"], 4242, None)

    explicit = emu.iframe_url(
        "clinical_note",
        base_url="http://x.test/n",
        appointment_id=7,
        doctor_id=8,
        patient_id=9,
        user_id=10,
        iat=int(clock.now()) - 60,
    )
    ctx = verify_iframe_request(urlsplit(explicit).query, secret, now=clock)
    assert (ctx.appointment_id, ctx.doctor_id, ctx.patient_id, ctx.user_id) == (7, 8, 9, 10)
    tampered = urlsplit(explicit).query.replace("patient_id=9", "patient_id=19")
    with pytest.raises(IframeVerificationError, match="patient_id does not match"):
        verify_iframe_request(tampered, secret, now=clock)
    with pytest.raises(IframeVerificationError, match="signature"):
        verify_iframe_request(urlsplit(explicit).query, "another-" + secret, now=clock)
    clock.advance(301)
    with pytest.raises(IframeVerificationError, match="too old"):
        verify_iframe_request(parts.query, secret, now=clock)


def test_iframe_url_refuses_bad_arguments(emu: Emulator) -> None:
    for kwargs in (
        {"page": "home"},
        {"base_url": "ftp://x/y"},
        {"base_url": "https://x/y#f"},
        {"patient_id": 0},
        {"patient_id": True},
        {"doctor_id": 2**63},
        {"iat": -1},
    ):
        options: dict[str, Any] = {"page": "patient", "base_url": "https://x/y", **kwargs}
        page = options.pop("page")
        with pytest.raises(InvalidRequestError):
            emu.iframe_url(page, **options)
