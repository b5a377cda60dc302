"""Receiving DrChrono webhooks: the handshake, checked and typed deliveries, an ASGI receiver.

    async def on_event(event: WebhookEvent) -> None:
        if event.is_delete:
            ...  # remove event.object_id from event.resource
        elif event.object is not None:
            ...  # upsert event.object (a typed record, as it was when the event happened)

    app.mount("/drchrono/webhook", WebhookReceiver(secret, on_event))  # FastAPI, Starlette

Facts the design follows: a delivery's `X-drchrono-signature` header is the webhook's secret
token itself (not an HMAC of the body); only the GET verification handshake is an HMAC
(SHA-256 of `msg`, keyed by the secret). A delivery that gets no 2xx is redelivered at +1 h,
+3 h and +7 h after the event, with the object as it was then and the same
`X-drchrono-delivery` id, so deliveries are deduplicated on that id for at least 8 hours.
"""

from ._dedupe import (
    DEFAULT_RETENTION,
    MIN_RETENTION,
    Claim,
    DeliveryDedupe,
    MemoryDedupe,
    check_delivery_id,
)
from ._events import DEFAULT_MAX_BODY, EVENT_RESOURCES, WebhookEvent, build_event, parse_delivery
from ._receiver import WebhookReceiver
from ._redis_dedupe import RedisDedupe
from ._signature import verification_response

__all__ = [
    "DEFAULT_MAX_BODY",
    "DEFAULT_RETENTION",
    "EVENT_RESOURCES",
    "MIN_RETENTION",
    "Claim",
    "DeliveryDedupe",
    "MemoryDedupe",
    "RedisDedupe",
    "WebhookEvent",
    "WebhookReceiver",
    "build_event",
    "check_delivery_id",
    "parse_delivery",
    "verification_response",
]
