"""DrChrono webhooks in a FastAPI app, feeding the same SQLite database as the sync.

The app opens a `DrChronoClient` and the practice's `SQLiteStore` in its lifespan, mounts a
`WebhookReceiver`, and writes every delivery into the store through `Syncer.apply`: the
sync's own upsert rule, so a redelivery hours later carrying an older object never rolls a
newer row back, and the delivery id is claimed in the same transaction as the row. Between
hourly `drchrono-async sync` runs, the copy stays fresh.

Run it with the webhook's secret token (several, comma-separated, while rotating):

    DRCHRONO_WEBHOOK_SECRET=... DRCHRONO_ACCESS_TOKEN=... \\
        uvicorn --factory examples.fastapi_webhooks:create_app

and register `https://<your host>/drchrono/webhook/` as the callback URL. Mind the final
slash: a mounted app answers the bare path with a 307 redirect, and DrChrono counts every
non-2xx answer as a failed delivery.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import AsyncIterator, Callable
from typing import Any

from fastapi import FastAPI

from drchrono_async import DrChronoClient
from drchrono_async.sync import SQLiteStore, StoreDedupe, Syncer
from drchrono_async.webhooks import WebhookEvent, WebhookReceiver


def create_app(
    secret: str | list[str] | None = None,
    *,
    database: str = "drchrono.db",
    client: Callable[[], DrChronoClient] | None = None,
) -> FastAPI:
    """The app. `client` makes the API client (default: `$DRCHRONO_ACCESS_TOKEN`)."""
    if secret is None:
        secret = os.environ["DRCHRONO_WEBHOOK_SECRET"].split(",")
    make_client = client or (lambda: DrChronoClient(os.environ["DRCHRONO_ACCESS_TOKEN"]))
    store = SQLiteStore(database)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with store, make_client() as api:
            app.state.syncer = Syncer(api, store)
            yield

    app = FastAPI(lifespan=lifespan)

    async def on_event(event: WebhookEvent) -> None:
        # Raising makes the receiver answer 500, and DrChrono redeliver an hour later.
        await app.state.syncer.apply(event)

    # The handled delivery ids live in the same database: a restart forgets none.
    app.mount("/drchrono/webhook", WebhookReceiver(secret, on_event, dedupe=StoreDedupe(store)))

    @app.get("/appointments/{appointment_id}")
    async def appointment(appointment_id: str) -> dict[str, Any]:
        """The copy as the database holds it (a web backend's own reads go here)."""
        return await store.get("appointments", appointment_id) or {}

    return app
