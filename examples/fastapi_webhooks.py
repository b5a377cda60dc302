"""DrChrono webhooks in a FastAPI app: the receiver mounted, events applied by resource.

Run it with the webhook's secret token (several, comma-separated, while rotating):

    DRCHRONO_WEBHOOK_SECRET=... uvicorn --factory examples.fastapi_webhooks:create_app

and register `https://<your host>/drchrono/webhook/` as the callback URL. Mind the final
slash: a mounted app answers the bare path with a 307 redirect, and DrChrono counts every
non-2xx answer as a failed delivery.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from fastapi import FastAPI

from drchrono_async.webhooks import WebhookEvent, WebhookReceiver

# resource ("appointments", ...) -> object id -> the object as last received. A real app
# writes its database here, in the handler, before the handler returns.
store: dict[str, dict[str, Mapping[str, Any]]] = {}


async def on_event(event: WebhookEvent) -> None:
    """Apply one delivery; raising makes the receiver answer 500, and DrChrono redeliver."""
    if event.resource is None or event.object_id is None:
        return  # PING, an event this app does not follow, or an object without an id
    table = store.setdefault(event.resource, {})
    if event.is_delete:
        table.pop(event.object_id, None)
        return
    if event.object is None:
        return
    # A redelivery hours later carries the object as it was then: never go back in time.
    new = getattr(event.object, "updated_at", None)
    old = table.get(event.object_id, {}).get("updated_at")
    if new is not None and old is not None and new.isoformat() < str(old):
        return
    table[event.object_id] = event.object.raw


def create_app(secret: str | list[str] | None = None) -> FastAPI:
    if secret is None:
        secret = os.environ["DRCHRONO_WEBHOOK_SECRET"].split(",")
    app = FastAPI()
    app.mount("/drchrono/webhook", WebhookReceiver(secret, on_event))
    return app
