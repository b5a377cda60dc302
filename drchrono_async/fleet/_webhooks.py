"""`webhook_app`: one receiver of DrChrono's webhooks for a whole fleet.

    app = webhook_app(registry, os.environ["DRCHRONO_WEBHOOK_SECRET"].split(","))
    # an ASGI app: `drchrono-async worker --webhooks HOST:PORT` serves it, or mount it

Each delivery goes through the library's `WebhookReceiver` (handshake, the signature, the
body's bounds and checks), then:

1. the dedupe: `RegistryDedupe`, in the registry's database, so several receivers behind a
   load balancer handle a delivery once (a copy arriving while another receiver applies it
   is answered 409 and comes again; one already applied is answered 200);
2. the practice: `Routing.route` (see `_routing`: the doctors, offices and users each
   practice's syncs have shown; a clinical note or an id-only delete by the routing index,
   which every applied delivery teaches, else by the practices' copies);
3. the apply: `sync.apply_event` on the practice's schema, the sync's ordering rule (a late
   or out-of-order delivery never replaces a newer row; a delete wins over anything not
   strictly newer). Records without a version (allergies, problems, medications) are only
   marked stale: the receiver holds no client, so the practice's next sync of that
   resource re-reads them. Only after the apply committed is the delivery completed and
   answered 200; a failing apply is answered 500 and its claim released, so DrChrono's
   redelivery (+1 h, +3 h, +7 h) applies it.

A delivery no practice matches is *kept*, never dropped: written with its body to the
registry's `webhook_unrouted` table before it is answered 200 (DrChrono need not redeliver
it, and nothing is lost), logged with its id and event name, counted
(`drchrono_webhook_deliveries{outcome="unrouted"}`), and retried: after every slice of
doctors, offices or users a worker syncs (all of them when it learned a new owner), and by
`retry_unrouted()` (the app runs it every `retry_every` seconds while served with ASGI
lifespan, as `worker --webhooks` does), with a back-off from 1 minute to 1 hour. One kept
past `max_age` (7 days) is given up with a warning and counted `expired`. A delivery for a
removed practice is kept the same way (`inactive`) and applied if the practice is added
again. An event of no known resource is answered 200, logged and counted `ignored`.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
from collections.abc import AsyncIterator, MutableMapping, Sequence
from typing import TYPE_CHECKING, Any

import orjson

from .. import metrics
from .._checks import check_int, check_number
from ..errors import InvalidRequestError, WebhookError
from ..ratelimit import Clock
from ..sync import PostgresStore, apply_event
from ..webhooks import (
    DEFAULT_MAX_BODY,
    DEFAULT_RETENTION,
    WebhookEvent,
    WebhookReceiver,
    build_event,
)
from ._hook_dedupe import RegistryDedupe
from ._registry import PracticeRegistry
from ._routing import OWNER_RESOURCES, Routing, Unrouted
from ._routing_index import DEFAULT_INDEX_RETENTION

if TYPE_CHECKING:
    from .._converter import DrChronoConverter

__all__ = ["Deliveries", "FleetWebhooks", "learn_owners", "webhook_app"]

logger = logging.getLogger("drchrono_async.fleet")

Scope = MutableMapping[str, Any]


class Deliveries:
    """Routes and applies events to the practices' schemas (the receiver's handler and the
    retry of kept deliveries). Every practice's store shares one pool of `pool_size`
    connections (`PostgresStore.sibling`): a delivery to any of hundreds of practices costs
    no new connection; the `max_stores` most recently used practices' stores stay open
    (what they learned of their tables: a first apply to a practice checks its tables)."""

    def __init__(
        self,
        routing: Routing,
        *,
        converter: DrChronoConverter | None = None,
        max_stores: int = 256,
        pool_size: int = 8,
    ) -> None:
        self.routing = routing
        self.registry = routing.registry
        self.max_stores = check_int(max_stores, "max_stores", low=1, high=100_000)
        self.pool_size = check_int(pool_size, "pool_size", low=1, high=64)
        self._converter = converter
        self._pool: PostgresStore | None = None  # owns the connections the stores share
        self._stores: collections.OrderedDict[str, PostgresStore] = collections.OrderedDict()
        self._leases: collections.Counter[str] = collections.Counter()
        self._opening = asyncio.Lock()
        self.counts: collections.Counter[str] = collections.Counter()

    def _count(self, practice: str, outcome: str) -> None:
        self.counts[outcome] += 1
        metrics.webhook_delivery(practice, outcome)

    async def handle(self, event: WebhookEvent) -> None:
        """A checked delivery: applied to its practice, or kept; raises when neither."""
        if event.resource is None:
            logger.info(
                "fleet: %s delivery %s names no resource: ignored",
                event.event,
                event.delivery_id,
            )
            self._count("", "ignored")
            return
        obj = event.raw.get("object")
        route = await self.routing.route(event.resource, obj if isinstance(obj, dict) else {})
        if route.practice is None:
            reason = route.reason or "unknown"
            # The body as decoded, the receiver's secret keys redacted (never the secret).
            new = await self.routing.keep(
                event.delivery_id, event.event, orjson.dumps(event.raw), reason
            )
            logger.warning(
                "fleet: %s delivery %s matches no practice (%s): kept, retried later",
                event.event,
                event.delivery_id,
                reason,
            )
            if new:
                self._count("", "unrouted")
            return
        await self._apply(route.practice, event)
        self._count(route.practice, "applied")

    async def _apply(self, key: str, event: WebhookEvent, received_at: float | None = None) -> None:
        from zoneinfo import ZoneInfo

        practice = await self.registry.get(key)
        if practice is None or not practice.active:  # removed since it was routed
            raise WebhookError(f"practice {key} is not active")
        async with self._lease(key) as store:
            await apply_event(
                store, event, timezone=ZoneInfo(practice.timezone), received_at=received_at
            )
        logger.debug("fleet: %s delivery %s applied to %s", event.event, event.delivery_id, key)
        assert event.resource is not None
        obj = event.raw.get("object")
        try:  # with the object: teaches the routing index, in the same statement
            await self.routing.applied(key, event.resource, obj if isinstance(obj, dict) else None)
        except Exception as exc:  # applied already: a redelivery would change nothing
            logger.warning("fleet: recording an applied delivery failed: %s", type(exc).__name__)

    @contextlib.asynccontextmanager
    async def _lease(self, key: str) -> AsyncIterator[PostgresStore]:
        """The practice's open store; the least recently used idle ones are closed."""
        self._leases[key] += 1
        try:
            async with self._opening:
                store = self._stores.get(key)
                if store is None:
                    if self._pool is None:
                        pool = self.registry.connections(pool_size=self.pool_size)
                        await pool.open()
                        self._pool = pool
                    store = self._pool.sibling(self.registry.practice_schema(key))
                    await store.open()
                    self._stores[key] = store
                self._stores.move_to_end(key)
                for old in [k for k in self._stores if self._leases[k] == 0]:
                    if len(self._stores) <= self.max_stores:
                        break
                    await self._stores.pop(old).aclose()
            yield store
        finally:
            self._leases[key] -= 1
            if not self._leases[key]:
                del self._leases[key]

    async def retry(
        self, *, everything: bool = False, limit: int = 100, passes: int = 50
    ) -> tuple[int, int, int]:
        """Try the kept deliveries again (see `Routing.retry`): (applied, kept, given up).

        Passes of `limit` rows follow each other while a whole pass was applied or given
        up (a backlog drains at once, `passes` at most); one that kept any stops there.
        Also the housekeeping of the routing index: its old entries purged, hourly at most."""
        try:
            await self.routing.index.purge_if_due()
        except Exception as exc:  # the next retry purges; the retries go on
            logger.warning("fleet: purging the routing index failed: %s", type(exc).__name__)
        applied = kept = expired = 0
        for _ in range(check_int(passes, "passes", low=1, high=10_000)):
            done, still, lost = await self.routing.retry(
                self._attempt, everything=everything, limit=limit
            )
            applied, kept, expired = applied + done, kept + still, expired + lost
            if still or done + lost < limit:
                break
        for _ in range(expired):
            self._count("", "expired")
        if applied or expired:
            logger.info(
                "fleet: unrouted deliveries retried: %d applied, %d kept, %d given up",
                applied,
                kept,
                expired,
            )
        return applied, kept, expired

    async def _attempt(self, kept: Unrouted) -> str | None:
        try:
            event = build_event(
                {"X-drchrono-event": kept.event, "X-drchrono-delivery": kept.delivery_id},
                kept.body,
                converter=self._converter,
            )
            if event.resource is None:
                return "unreadable"
            obj = event.raw.get("object")
            route = await self.routing.route(event.resource, obj if isinstance(obj, dict) else {})
            if route.practice is None:
                return route.reason or "unknown"
            # Ordered by its arrival, not by this later apply (a delete without a version).
            await self._apply(route.practice, event, kept.received_at.timestamp())
        except Exception as exc:  # kept for the next try; the class name only
            logger.warning(
                "fleet: retrying unrouted %s delivery %s failed: %s",
                kept.event,
                kept.delivery_id,
                type(exc).__name__,
            )
            return "apply_failed"
        self._count(route.practice, "late")
        logger.info(
            "fleet: unrouted %s delivery %s applied to %s",
            kept.event,
            kept.delivery_id,
            route.practice,
        )
        return None

    async def aclose(self) -> None:
        """Close the practices' stores and their connections."""
        stores = list(self._stores.values())
        self._stores.clear()
        for store in stores:
            await store.aclose()
        pool, self._pool = self._pool, None
        if pool is not None:
            await pool.aclose()


async def learn_owners(
    registry: PracticeRegistry, key: str, resource: str, store: PostgresStore
) -> None:
    """After a slice of doctors, offices or users: record the practice's ids as owners and
    retry the kept deliveries (every one when a new owner was learned, else those due).
    Failures are logged, never the slice's."""
    kind = OWNER_RESOURCES.get(resource)
    if kind is None:
        return
    routing = Routing(registry)
    deliveries = Deliveries(routing)
    try:
        new = await routing.learn(key, kind, await store.ids(resource, deleted=None))
        if new:
            logger.info("fleet: learned %d %s ids of practice %s", new, kind, key)
        await deliveries.retry(everything=bool(new))
    except Exception as exc:  # the sync's own result stands; the next slice learns again
        logger.warning("fleet: learning %s owners of %s failed: %s", kind, key, type(exc).__name__)
    finally:
        await deliveries.aclose()


class FleetWebhooks:
    """The ASGI app `webhook_app` returns: a `WebhookReceiver` (`receiver`) whose dedupe is
    the registry's (`dedupe`) and whose handler routes and applies (`deliveries`).

    With ASGI lifespan (uvicorn serving it as the root app), it retries kept deliveries
    every `retry_every` seconds and closes its stores on shutdown; mounted in another app
    (which does not pass lifespan on), call `retry_unrouted()` now and then and `aclose()`
    at the end, or leave the retries to the fleet's workers.
    """

    def __init__(self, receiver: WebhookReceiver, deliveries: Deliveries, retry_every: float):
        self.receiver = receiver
        self.deliveries = deliveries
        self.routing = deliveries.routing
        self.dedupe = receiver.dedupe
        self.retry_every = retry_every
        self._task: asyncio.Task[None] | None = None

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "lifespan":
            await self.receiver(scope, receive, send)
            return
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                self.start()
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self.aclose()
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def retry_unrouted(self, *, everything: bool = False) -> tuple[int, int, int]:
        """One pass over the kept deliveries due: (applied, still kept, given up)."""
        return await self.deliveries.retry(everything=everything)

    def start(self) -> None:
        """Start the periodic retry (from a running event loop); `aclose()` stops it."""
        if self._task is None and self.retry_every:
            self._task = asyncio.create_task(self._retries(), name="fleet webhook retries")

    async def _retries(self) -> None:
        while True:
            await asyncio.sleep(self.retry_every)
            try:
                await self.retry_unrouted()
            except Exception as exc:  # the database away a moment: next round
                logger.warning("fleet: retrying unrouted deliveries failed: %s", type(exc).__name__)

    async def aclose(self) -> None:
        """Stop the periodic retry and close the practices' stores."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self.deliveries.aclose()

    def __repr__(self) -> str:
        return f"FleetWebhooks(receiver={self.receiver!r})"


def webhook_app(
    registry: PracticeRegistry,
    secret: str | bytes | Sequence[str | bytes],
    *,
    max_body: int = DEFAULT_MAX_BODY,
    retention: float = DEFAULT_RETENTION,
    claim_ttl: float = 300.0,
    retry_every: float = 60.0,
    max_unrouted: int = 100_000,
    max_age: float = 7 * 86_400.0,
    index_retention: float = DEFAULT_INDEX_RETENTION,
    max_stores: int = 256,
    pool_size: int = 8,
    clock: Clock | None = None,
    converter: DrChronoConverter | None = None,
) -> FleetWebhooks:
    """The fleet's webhook receiver, an ASGI app (see the module's docstring).

    Args:
        registry: an open `PracticeRegistry` (its tables hold the dedupe, owners and kept
            deliveries; closed by its owner, not by the app).
        secret: the webhook's secret token, or several while rotating.
        max_body: the largest body read, in bytes (also the most a kept delivery holds).
        retention: seconds a handled delivery id is remembered (at least 8 hours).
        claim_ttl: seconds a receiver's claim holds before another may take it (above the
            slowest apply).
        retry_every: seconds between retries of kept deliveries while served (0: none).
        max_unrouted: kept deliveries at most; past it a delivery is answered 500 (and
            redelivered by DrChrono), never dropped.
        max_age: seconds a kept delivery is retried before it is given up (logged, counted).
        index_retention: seconds an entry of the routing index (which practices hold a
            record, for deliveries no owner decides) is kept after it was last learned
            (1 to 366 days).
        max_stores: practices' stores kept open at once (they hold no connection of their
            own: what each learned of its tables; the least recently used is closed past it).
        pool_size: the connections every practice's applies share.
        clock: for tests: the time of the dedupe and the kept deliveries (default: the
            database's).
        converter: the record converter (default: the lenient one).
    """
    if not isinstance(registry, PracticeRegistry):
        raise InvalidRequestError("registry must be a PracticeRegistry")
    retry_every = check_number(
        retry_every, "retry_every", low=0, high=86_400, kind="a number of seconds"
    )
    routing = Routing(
        registry,
        clock=clock,
        max_unrouted=max_unrouted,
        max_age=max_age,
        index_retention=index_retention,
    )
    deliveries = Deliveries(
        routing, converter=converter, max_stores=max_stores, pool_size=pool_size
    )
    dedupe = RegistryDedupe(registry, retention=retention, claim_ttl=claim_ttl, clock=clock)
    receiver = WebhookReceiver(
        secret, deliveries.handle, dedupe=dedupe, max_body=max_body, converter=converter
    )
    return FleetWebhooks(receiver, deliveries, retry_every)
