"""`WebhookReceiver`: a plain ASGI 3 application that takes DrChrono's webhook requests.

No web framework: it mounts anywhere ASGI does (`app.mount("/drchrono/webhook", receiver)`
in FastAPI or Starlette) and answers every path it is given.

    GET  ?msg=...   200 {"secret_token": ...}       the verification handshake
    GET  (no msg)   400
    POST PING       200 {"detail": "pong"}          `X-drchrono-event: PING`, answered before
                         any other check: DrChrono's "Ping webhook" button may send it with
                         an empty body and no signature. Nothing in it is trusted or used:
                         no handler, no dedupe, the body (if any) read up to max_body and
                         dropped (a Content-Length over it: nothing is read)
    POST            401  signature missing, empty, repeated or wrong (checked from the
                         headers, before any of the body is read)
                    413  body over max_body (a Content-Length over it: nothing is read)
                    400  a bad event or delivery header, or a malformed body
                    200  a delivery already handled (the handler is not called again)
                    409  a delivery another process (or receiver) is handling right now:
                         its outcome is unknown, so DrChrono is asked to redeliver
                    200  the handler returned
                    500  the handler raised (DrChrono redelivers at +1 h, +3 h, +7 h)
                    503  the dedupe store failed (DrChrono redelivers)
    other           405
"""

from __future__ import annotations

import inspect
import logging
import urllib.parse
from collections.abc import Awaitable, Callable, MutableMapping, Sequence
from typing import Any

import anyio
import orjson

from .._checks import check_int
from .._converter import DrChronoConverter
from ..errors import (
    InvalidRequestError,
    WebhookError,
    WebhookPayloadError,
    WebhookSignatureError,
)
from ..ratelimit import Clock
from ._dedupe import Claim, DeliveryDedupe, MemoryDedupe, to_claim
from ._events import (
    CONTENT_LENGTH,
    DEFAULT_MAX_BODY,
    EVENT,
    HEADERS,
    MAX_BODY_LIMIT,
    PING,
    WebhookEvent,
    event_of,
)
from ._headers import collect
from ._signature import SIGNATURE, Secrets, check_signature, verification_response

__all__ = ["WebhookReceiver"]

logger = logging.getLogger("drchrono_async.webhooks")

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
Handler = Callable[[WebhookEvent], Awaitable[object]]

MAX_QUERY_BYTES = 8192
_PING = PING.encode("ascii")


def _json(status: int, body: dict[str, Any]) -> tuple[int, bytes]:
    return status, orjson.dumps(body)


OK = _json(200, {"detail": "handled"})
PONG = _json(200, {"detail": "pong"})
DUPLICATE = _json(200, {"detail": "already handled"})
BUSY = _json(409, {"detail": "in progress elsewhere; redeliver"})
NO_MSG = _json(400, {"detail": "the verification request has no usable msg"})
BAD_REQUEST = _json(400, {"detail": "malformed delivery"})
UNAUTHORIZED = _json(401, {"detail": "bad signature"})
NOT_ALLOWED = _json(405, {"detail": "method not allowed"})
TOO_LARGE = _json(413, {"detail": "body too large"})
FAILED = _json(500, {"detail": "the handler failed; redeliver"})
UNAVAILABLE = _json(503, {"detail": "the delivery dedupe is unavailable; redeliver"})


class _Disconnected(Exception):
    pass


class _TooLarge(Exception):
    pass


class _Flight:
    """A delivery being handled in this process; duplicates arriving meanwhile wait for it
    and answer what it answers. The event is made only when a duplicate comes (rarely)."""

    __slots__ = ("answer", "finished", "waiters")

    def __init__(self) -> None:
        self.answer = UNAVAILABLE
        self.finished = False
        self.waiters: anyio.Event | None = None

    async def wait(self) -> tuple[int, bytes]:
        if not self.finished:
            if self.waiters is None:
                self.waiters = anyio.Event()
            await self.waiters.wait()
        return self.answer

    def finish(self) -> None:
        self.finished = True
        if self.waiters is not None:
            self.waiters.set()


class WebhookReceiver:
    """An ASGI application that verifies, dedupes and hands DrChrono's deliveries to `handler`.

    Args:
        secret: the webhook's secret token, or several while rotating (each is accepted on
            deliveries; the first answers the verification handshake).
        handler: `async def handler(event: WebhookEvent)`. Async only (a blocking handler
            would stall every other request of the server: wrap sync code yourself, e.g. with
            `anyio.to_thread.run_sync`). The delivery is answered 200 only after it returned;
            if it raises, 500, and the delivery's claim is released so that DrChrono's next
            redelivery is handled.
        dedupe: where handled delivery ids are remembered (`MemoryDedupe()` by default; use
            `RedisDedupe` or a database store across processes).
        max_body: the largest body read, in bytes (default 1 MiB; at most 64 MiB).
        clock: the clock of the default `MemoryDedupe` (for tests).
        converter: the record converter of `parse_delivery` (default: the lenient one).

    A PING is answered 200 at once, unauthenticated (DrChrono's "Ping webhook" button may
    send it unsigned and empty, and a 401 there shows the webhook as failing); it never
    reaches the handler. Every other event is checked in full, the signature first.

    Duplicates of a delivery being handled in this process wait for it and answer as it
    does; duplicates of one handled answer 200; of one in progress in another process
    (the dedupe's claim says `Claim.BUSY`), 409, so that DrChrono redelivers it: should
    that process fail, the delivery is not lost.
    Failures are logged on `drchrono_async.webhooks` with the exception's type only.
    """

    def __init__(
        self,
        secret: str | bytes | Sequence[str | bytes],
        handler: Handler,
        *,
        dedupe: DeliveryDedupe | None = None,
        max_body: int = DEFAULT_MAX_BODY,
        clock: Clock | None = None,
        converter: DrChronoConverter | None = None,
    ) -> None:
        self._secrets = Secrets(secret)
        if not (
            inspect.iscoroutinefunction(handler)
            or inspect.iscoroutinefunction(getattr(handler, "__call__", None))  # noqa: B004
        ):
            raise InvalidRequestError("handler must be an async function")
        max_body = check_int(max_body, "max_body", low=1, high=MAX_BODY_LIMIT, tail=" (bytes)")
        if dedupe is None:
            dedupe = MemoryDedupe(clock=clock)
        elif clock is not None:
            raise InvalidRequestError("clock is for the default MemoryDedupe; give it to yours")
        elif not isinstance(dedupe, DeliveryDedupe):
            raise InvalidRequestError("dedupe must have async claim, complete and release")
        self.handler = handler
        self.dedupe: DeliveryDedupe = dedupe
        self.max_body = max_body
        self._converter = converter
        self._flights: dict[str, _Flight] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "http":
            await self._http(scope, receive, send)
        elif kind == "lifespan":
            await _lifespan(receive, send)
        elif kind == "websocket":
            message = await receive()
            if message["type"] == "websocket.connect":
                await send({"type": "websocket.close", "code": 1008})  # refused: 403
        else:  # the ASGI spec asks an app to raise on a scope type it does not know
            raise InvalidRequestError("WebhookReceiver serves http and lifespan scopes only")

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        method = scope.get("method", "")
        if method == "POST":
            answer = await self._delivery(scope, receive)
        elif method == "GET":
            answer = self._handshake(scope)
        else:
            await _send(send, NOT_ALLOWED, allow=True)
            return
        if answer is not None:  # None: the client went away; there is nobody to answer
            await _send(send, answer)

    def _handshake(self, scope: Scope) -> tuple[int, bytes]:
        query = scope.get("query_string", b"")
        if not isinstance(query, bytes) or len(query) > MAX_QUERY_BYTES:
            return NO_MSG
        try:
            pairs = urllib.parse.parse_qsl(
                query.decode("latin-1"),
                keep_blank_values=True,
                max_num_fields=64,
                encoding="utf-8",
                errors="strict",
            )
            msgs = [v for k, v in pairs if k == "msg"]
            if len(msgs) != 1:
                return NO_MSG
            body = verification_response(msgs[0], self._secrets.current)
        except (ValueError, WebhookPayloadError):  # UnicodeDecodeError is a ValueError
            logger.warning("webhook verification request refused (400)")
            return NO_MSG
        logger.info("answered a webhook verification request")
        return 200, orjson.dumps(body)

    async def _delivery(self, scope: Scope, receive: Receive) -> tuple[int, bytes] | None:
        try:
            found = collect(scope.get("headers", ()), HEADERS)
            if _is_ping(found.get(EVENT)):
                await self._drain(found, receive)
                logger.info("answered a webhook PING (200; not authenticated, nothing used)")
                return PONG
            check_signature(found.get(SIGNATURE), self._secrets)
            body = await self._read_body(found, receive)
            event = event_of(found, body, self._converter)
        except _Disconnected:
            logger.info("webhook delivery abandoned: the client disconnected mid-body")
            return None
        except _TooLarge:
            logger.warning("webhook delivery refused: body over %d bytes (413)", self.max_body)
            return TOO_LARGE
        except WebhookError as exc:
            unauthorized = isinstance(exc, WebhookSignatureError)
            status = 401 if unauthorized else 400
            logger.warning("webhook delivery refused: %s (%d)", type(exc).__name__, status)
            return UNAUTHORIZED if unauthorized else BAD_REQUEST
        return await self._dispatch(event)

    async def _read_body(self, found: dict[bytes, list[bytes | None]], receive: Receive) -> bytes:
        lengths = found.get(CONTENT_LENGTH)
        if lengths:
            if len(set(lengths)) != 1 or lengths[0] is None or not lengths[0].isdigit():
                raise WebhookPayloadError("the Content-Length header is not one number")
            if len(lengths[0]) > 12 or int(lengths[0]) > self.max_body:
                raise _TooLarge
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            kind = message["type"]
            if kind == "http.disconnect":
                raise _Disconnected
            if kind != "http.request":
                continue
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body:
                raise _TooLarge  # the rest is never read
            if chunk:
                chunks.append(chunk)
            if not message.get("more_body", False):
                return chunks[0] if len(chunks) == 1 else b"".join(chunks)

    async def _drain(self, found: dict[bytes, list[bytes | None]], receive: Receive) -> None:
        """Read and drop a PING's body, at most max_body bytes (none when its Content-Length
        is over that or unreadable): nothing of it is used, and answering before the client
        finished sending can reset the connection on its side."""
        lengths = found.get(CONTENT_LENGTH)
        if lengths:
            length = lengths[0]
            if len(lengths) != 1 or length is None or not length.isdigit() or len(length) > 12:
                return
            if int(length) > self.max_body:
                return
        size = 0
        while size <= self.max_body:
            message = await receive()
            kind = message["type"]
            if kind == "http.disconnect":
                raise _Disconnected
            if kind != "http.request":
                continue
            size += len(message.get("body", b""))
            if not message.get("more_body", False):
                return

    async def _dispatch(self, event: WebhookEvent) -> tuple[int, bytes]:
        key = event.delivery_id
        running = self._flights.get(key)
        if running is not None:
            answer = await running.wait()
            logger.info("duplicate of %s delivery %s answered as the first", event.event, key)
            return answer
        flight = self._flights[key] = _Flight()  # before any await: duplicates find it
        try:
            flight.answer = await self._handle(event)
        finally:
            del self._flights[key]
            flight.finish()
        return flight.answer

    async def _handle(self, event: WebhookEvent) -> tuple[int, bytes]:
        key = event.delivery_id
        try:
            claim = to_claim(await self.dedupe.claim(key))
        except Exception as exc:
            logger.error("webhook dedupe claim failed: %s (503)", type(exc).__name__)
            return UNAVAILABLE
        if claim is Claim.HANDLED:
            logger.info("%s delivery %s already handled (200)", event.event, key)
            return DUPLICATE
        if claim is Claim.BUSY:
            logger.info("%s delivery %s in progress elsewhere (409)", event.event, key)
            return BUSY
        try:
            await self.handler(event)
        except BaseException as exc:
            with anyio.CancelScope(shield=True):  # also when cancelled: let it be redelivered
                await self._release(key)
            if not isinstance(exc, Exception):
                raise
            logger.error(
                "webhook handler raised %s on %s delivery %s (500: DrChrono redelivers)",
                type(exc).__name__,
                event.event,
                key,
            )
            return FAILED
        try:
            await self.dedupe.complete(key)
        except Exception as exc:
            # Handled: answering 500 would only have it handled again. Unrecorded, a later
            # redelivery by hand would be handled again too (at least once, never lost).
            logger.error("webhook dedupe complete failed: %s", type(exc).__name__)
        logger.debug("%s delivery %s handled (200)", event.event, key)
        return OK

    async def _release(self, key: str) -> None:
        try:
            await self.dedupe.release(key)
        except Exception as exc:
            logger.error("webhook dedupe release failed: %s", type(exc).__name__)

    def __repr__(self) -> str:
        return (
            f"WebhookReceiver(secrets={len(self._secrets)}, dedupe={self.dedupe!r}, "
            f"max_body={self.max_body})"
        )


def _is_ping(events: list[bytes | None] | None) -> bool:
    """Exactly one `X-drchrono-event` header, and it says PING (HTTP's spaces aside)."""
    if not events or len(events) != 1 or events[0] is None:
        return False
    return events[0].strip(b" \t") == _PING


async def _send(send: Send, answer: tuple[int, bytes], *, allow: bool = False) -> None:
    status, body = answer
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode("ascii")),
    ]
    if allow:
        headers.append((b"allow", b"GET, POST"))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def _lifespan(receive: Receive, send: Send) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return
