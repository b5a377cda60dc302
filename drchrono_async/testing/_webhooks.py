"""The emulator's outgoing webhooks: deliveries, redeliveries, PING and the verification GET.

Every create, change or delete made through the emulator's API (so `activity.run` too)
queues one delivery per hook subscribed to its event. Nothing is sent in the background:
`await emulator.webhooks.deliver_due()` sends every delivery due by the emulator's clock, so
tests decide when, and hours of redelivery run on a `VirtualClock`.

What a delivery looks like, as the reference and the live service have it: a POST with
`X-drchrono-event`, `X-drchrono-signature` (the hook's secret token itself, not an HMAC),
`X-drchrono-delivery` (an id that redeliveries keep) and the JSON body
`{"receiver": <the hook, without its secret>, "object": <the record as the API serialises
it>}`. The body is frozen when the event happens: a redelivery carries the object as it was
then. Only a 2xx answer counts; anything else, a connection error or a timeout is retried at
+1 h, +3 h and +7 h of the emulator's clock after the event (`redelivery_after`, which a
benchmark on a shortened hour shortens too), then given up.

`loss` (0 by default) is the probability that a delivery is lost on the way: it is never
sent, redeliveries included, and the log says so (outcome `"lost"`, attempt 0), so that a test
or benchmark knows which changes only a sweep can bring. `deliver_forever()` delivers in the
background, as the live service does.

An emulator with several practices has one `webhooks` for the application, as the live service
has one set of hooks per app: a hook registered with `practice=None` (the default) hears the
events of every practice, one registered with `practice=i` only those of practice i.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import itertools
import random
import uuid
from collections.abc import AsyncIterator, Callable, Iterable
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import attrs
import httpx
import orjson

from .._checks import check_int, check_number
from ..errors import InvalidRequestError
from ._deliveries import DeliveryLog, DeliveryLogEntry, Outcome, PendingDelivery

if TYPE_CHECKING:
    from drchrono_async.ratelimit import Clock

__all__ = [
    "DELETE_EVENTS",
    "EVENTS",
    "REFERENCE_EVENTS",
    "DeliveryLog",
    "DeliveryLogEntry",
    "Hook",
    "PendingDelivery",
    "Webhooks",
]

# The emulator's resources that raise events, by the event name's stem.
EVENT_STEMS = {
    "appointments": "APPOINTMENT",
    "patients": "PATIENT",
    "problems": "PATIENT_PROBLEM",
    "allergies": "PATIENT_ALLERGY",
    "medications": "PATIENT_MEDICATION",
}
REFERENCE_EVENTS = frozenset(
    [f"{stem}_{what}" for stem in EVENT_STEMS.values() for what in ("CREATE", "MODIFY")]
    + ["CLINICAL_NOTE_LOCK", "CLINICAL_NOTE_UNLOCK"]
)
# Not in the v4 reference: public mirrors of newer event lists add `*_DELETE` events.
DELETE_EVENTS = frozenset(f"{stem}_DELETE" for stem in EVENT_STEMS.values())
EVENTS = REFERENCE_EVENTS | DELETE_EVENTS | {"PING"}

REDELIVERY_AFTER: tuple[float, ...] = (3600.0, 3 * 3600.0, 7 * 3600.0)  # after the event, s
_MAX_HOOKS = 100
_MAX_URL = 2048
_MAX_SECRET = 512
_MAX_PENDING = 100_000
_MAX_VERIFY_BODY = 64 * 1024
_MAX_TIMEOUT = 300.0

_MAX_REDELIVERIES = 10
_MAX_REDELIVERY_AFTER = 7 * 86_400.0


@attrs.frozen
class Hook:
    """A registered webhook. Its `secret` is never in its `repr` nor in a delivery's body."""

    id: int
    url: str
    secret: str = attrs.field(repr=False)
    events: frozenset[str]
    verified: bool = False
    practice: int | None = None  # None: every practice's events

    def hears(self, event: str, practice: int) -> bool:
        """Whether an event of `practice` is delivered to this hook."""
        return event in self.events and self.practice in (None, practice)

    def as_json(self) -> dict[str, Any]:
        """The hook as a delivery's `receiver` shows it."""
        return {"id": self.id, "callback_url": self.url, "events": sorted(self.events)}


@attrs.define
class _Delivery:
    id: str
    event: str
    hook_id: int
    body: bytes
    event_time: float
    due: float
    seq: int
    attempts: int = 0
    record_id: str | None = None


class Webhooks:
    """`emulator.webhooks`: registered hooks and their deliveries.

    Deliveries go out over real HTTP through an `httpx.AsyncClient`: set `client` to use your
    own (never closed here), or `transport` (e.g. `httpx.ASGITransport(app)`) to deliver into
    an in-process app; by default a client on the network is opened per `deliver_due` call.
    `timeout` bounds each attempt. Clinical note locking is not modelled by the emulator's
    API; `emit("CLINICAL_NOTE_LOCK", note)` raises such an event by hand. Deliveries do not
    wait for `verify()` (the live service asks for it once, from its settings page).
    """

    def __init__(
        self,
        clock: Clock,
        rng: random.Random,
        *,
        timeout: float = 10.0,
        practices: int = 1,
        loss_rng: random.Random | None = None,
    ) -> None:
        self._clock = clock
        self._rng = rng
        # Its own generator: setting a loss leaves delivery ids as they were.
        self._loss_rng = loss_rng if loss_rng is not None else random.Random("webhook-loss")
        self._loss = 0.0
        self._redelivery = REDELIVERY_AFTER
        self._concurrency = 1
        self._practices = practices
        self.transport: httpx.AsyncBaseTransport | None = None
        self.client: httpx.AsyncClient | None = None
        self.timeout = timeout  # checked by the setter
        self.log = DeliveryLog()
        self._hooks: dict[int, Hook] = {}
        self._queue: dict[str, _Delivery] = {}
        self._seq = 0
        self._lock = asyncio.Lock()

    @property
    def timeout(self) -> float:
        """Seconds one attempt (connect, send, answer) may take."""
        return self._timeout

    @timeout.setter
    def timeout(self, value: float) -> None:
        self._timeout = check_number(
            value, "timeout", low=0, low_open=True, high=_MAX_TIMEOUT, kind="a number of seconds"
        )

    @property
    def concurrency(self) -> int:
        """Deliveries sent at once by `deliver_due` (1, the default: one after another)."""
        return self._concurrency

    @concurrency.setter
    def concurrency(self, value: int) -> None:
        self._concurrency = check_int(value, "concurrency", low=1, high=256)

    @property
    def loss(self) -> float:
        """The probability (0..1) that a delivery is lost: never sent, nor redelivered."""
        return self._loss

    @loss.setter
    def loss(self, value: float) -> None:
        self._loss = check_number(value, "loss", low=0, high=1, kind="a probability")

    @property
    def redelivery_after(self) -> tuple[float, ...]:
        """Seconds after the event at which a failed delivery is tried again (the live
        service: 1 h, 3 h, 7 h), increasing; after the last, it is given up."""
        return self._redelivery

    @redelivery_after.setter
    def redelivery_after(self, value: Iterable[float]) -> None:
        if isinstance(value, (str, bytes)):
            raise InvalidRequestError("redelivery_after must be a sequence of seconds")
        try:
            delays = tuple(value)
        except TypeError:
            raise InvalidRequestError("redelivery_after must be a sequence of seconds") from None
        if len(delays) > _MAX_REDELIVERIES:
            raise InvalidRequestError(f"redelivery_after holds at most {_MAX_REDELIVERIES} delays")
        checked = tuple(
            check_number(
                d,
                "redelivery_after",
                low=0,
                low_open=True,
                high=_MAX_REDELIVERY_AFTER,
                kind="a number of seconds",
            )
            for d in delays
        )
        if any(b <= a for a, b in itertools.pairwise(checked)):
            raise InvalidRequestError("redelivery_after must increase")
        self._redelivery = checked

    # --- hooks ----------------------------------------------------------------------------

    def register(
        self, url: str, secret: str, events: Iterable[str], *, practice: int | None = None
    ) -> int:
        """Add a hook for `events` (names of `EVENTS`) at `url`; returns its id.

        `practice=i` limits it to practice i's events; None (the default) hears every practice.
        """
        _check_url(url)
        if practice is not None:
            self._check_practice(practice)
        if (
            not isinstance(secret, str)
            or not 0 < len(secret) <= _MAX_SECRET
            or not secret.isascii()
            or not secret.isprintable()
            or secret != secret.strip()
        ):
            raise InvalidRequestError(
                f"secret must be 1..{_MAX_SECRET} printable ASCII characters, no outer spaces"
            )
        if isinstance(events, str):
            raise InvalidRequestError("events must be a collection of event names, not a str")
        chosen = frozenset(events)
        unknown = [e for e in chosen if e not in EVENTS]
        if unknown or not chosen:
            raise InvalidRequestError(
                "events must be a non-empty set of DrChrono event names (see EVENTS)"
            )
        if len(self._hooks) >= _MAX_HOOKS:
            raise InvalidRequestError(f"at most {_MAX_HOOKS} hooks")
        hook_id = len(self._hooks) + 1
        self._hooks[hook_id] = Hook(hook_id, url, secret, chosen, practice=practice)
        return hook_id

    def _check_practice(self, practice: int) -> None:
        check_int(practice, "practice", low=0, high=self._practices - 1, tail=" (an index)")

    @property
    def hooks(self) -> tuple[Hook, ...]:
        return tuple(self._hooks.values())

    def hook(self, hook_id: int) -> Hook:
        found = self._hooks.get(hook_id)
        if found is None:
            raise InvalidRequestError("no hook with that id")
        return found

    # --- events ---------------------------------------------------------------------------

    def record_change(
        self,
        resource: str,
        action: str,
        obj: Callable[[], dict[str, Any]],
        practice: int = 0,
    ) -> None:
        """Called by the API after a write: `action` is CREATE, MODIFY or DELETE.

        `obj` builds the record as the API serialises it, called only if a hook listens.
        """
        stem = EVENT_STEMS.get(resource)
        if stem is not None:
            self._queue_event(f"{stem}_{action}", obj, practice)

    def emit(self, event: str, obj: dict[str, Any], *, practice: int = 0) -> list[str]:
        """Raise `event` with `obj` as if the service had (e.g. `CLINICAL_NOTE_LOCK`, which the
        emulator's API does not model) in `practice`; returns the ids of the deliveries
        queued."""
        if event not in EVENTS or event == "PING":
            raise InvalidRequestError("not a DrChrono event name (use ping() for PING)")
        if not isinstance(obj, dict):
            raise InvalidRequestError("obj must be a dict (the record as JSON)")
        self._check_practice(practice)
        return self._queue_event(event, lambda: obj, practice)

    def _queue_event(
        self, event: str, obj: Callable[[], dict[str, Any]], practice: int
    ) -> list[str]:
        hooks = [h for h in self._hooks.values() if h.hears(event, practice)]
        if not hooks:
            return []
        record = obj()
        now = self._clock.now()
        raw_id = record.get("id")
        record_id = str(raw_id) if isinstance(raw_id, (int, str)) else None
        ids = []
        for hook in hooks:
            # Serialised now: a redelivery carries the object as it was at the event.
            body = orjson.dumps({"receiver": hook.as_json(), "object": record})
            delivery = _Delivery(
                self._new_id(), event, hook.id, body, now, now, self._next(), record_id=record_id
            )
            ids.append(delivery.id)
            if len(self._queue) >= _MAX_PENDING:
                self._log(delivery, None, "queue_full", "dropped")
                continue
            # Drawn only when set, so a run without loss draws exactly as before.
            if self._loss and self._loss_rng.random() < self._loss:
                self._log(delivery, None, None, "lost")
                continue
            self._queue[delivery.id] = delivery
        return ids

    @property
    def pending(self) -> tuple[PendingDelivery, ...]:
        """Deliveries not yet delivered nor given up, by due time."""
        waiting = sorted(self._queue.values(), key=lambda d: (d.due, d.seq))
        return tuple(
            PendingDelivery(d.id, d.event, d.hook_id, d.attempts, d.due, d.event_time)
            for d in waiting
        )

    @property
    def lost(self) -> list[str]:
        """Ids of deliveries lost on the way (see `loss`; as far as the log reaches)."""
        return [e.delivery_id for e in self.log if e.outcome == "lost"]

    @property
    def given_up(self) -> list[str]:
        """Ids of deliveries given up after the last redelivery (as far as the log reaches)."""
        return [e.delivery_id for e in self.log if e.outcome == "given_up"]

    # --- sending --------------------------------------------------------------------------

    async def deliver_due(self) -> list[DeliveryLogEntry]:
        """Send every delivery due by the emulator's clock; returns the attempts made.

        A delivery that fails is due again at its next redelivery time; if the clock is
        already past it (time was advanced by several hours), it is attempted again in this
        same call, so each call leaves nothing due.
        """
        made: list[DeliveryLogEntry] = []
        if not any(d.due <= self._clock.now() for d in self._queue.values()):
            return made  # no client opened for nothing
        async with self._lock, self._http() as client:
            while True:
                now = self._clock.now()
                due = sorted(
                    (d for d in self._queue.values() if d.due <= now), key=lambda d: (d.due, d.seq)
                )
                if not due:
                    return made
                # In due order, `concurrency` at a time (the live service does not wait for
                # one receiver's answer before the next delivery).
                step = self._concurrency
                for i in range(0, len(due), step):
                    batch = [self._attempt(client, d) for d in due[i : i + step]]
                    made.extend(await asyncio.gather(*batch))

    async def deliver_forever(self, interval: float = 1.0) -> None:
        """Deliver what is due every `interval` seconds of the emulator's clock, until
        cancelled (run it as a task: the live service delivers in the background)."""
        interval = check_number(
            interval, "interval", low=0, low_open=True, high=3600, kind="a number of seconds"
        )
        while True:
            await self.deliver_due()
            await self._clock.sleep(interval)

    async def ping(self, hook_id: int) -> DeliveryLogEntry:
        """Send a PING to a hook at once (one attempt, never redelivered)."""
        hook = self.hook(hook_id)
        body = orjson.dumps({"receiver": hook.as_json(), "object": {}})
        now = self._clock.now()
        delivery = _Delivery(self._new_id(), "PING", hook.id, body, now, now, self._next())
        async with self._http() as client:
            status, error = await self._post(client, hook, delivery)
        outcome: Outcome = "delivered" if error is None and _ok(status) else "failed"
        return self._log(delivery, status, error, outcome, attempt=1)

    async def verify(self, hook_id: int) -> bool:
        """The verification handshake: GET `url?msg=<random>`; True if the answer is a 200
        JSON object whose `secret_token` is HMAC-SHA256(secret, msg) in hex."""
        hook = self.hook(hook_id)
        msg = uuid.UUID(int=self._rng.getrandbits(128)).hex
        expected = hmac.new(hook.secret.encode(), msg.encode(), hashlib.sha256).hexdigest()
        answer: Any = None
        try:
            async with self._http() as client:
                req = client.build_request("GET", hook.url, params={"msg": msg})
                resp = await client.send(req, stream=True, follow_redirects=False)
                try:
                    if resp.status_code == 200:
                        answer = orjson.loads(await _read_bounded(resp, _MAX_VERIFY_BODY))
                finally:
                    await resp.aclose()
        except Exception:  # any failure is a failed verification
            answer = None
        got = answer.get("secret_token") if isinstance(answer, dict) else None
        ok = isinstance(got, str) and hmac.compare_digest(got.encode(), expected.encode())
        self._hooks[hook.id] = attrs.evolve(hook, verified=ok)
        return ok

    async def _attempt(self, client: httpx.AsyncClient, delivery: _Delivery) -> DeliveryLogEntry:
        delivery.attempts += 1
        hook = self._hooks[delivery.hook_id]
        status, error = await self._post(client, hook, delivery)
        if error is None and _ok(status):
            del self._queue[delivery.id]
            return self._log(delivery, status, None, "delivered")
        if delivery.attempts <= len(self._redelivery):
            delivery.due = delivery.event_time + self._redelivery[delivery.attempts - 1]
            return self._log(delivery, status, error, "failed")
        del self._queue[delivery.id]
        return self._log(delivery, status, error, "given_up")

    async def _post(
        self, client: httpx.AsyncClient, hook: Hook, delivery: _Delivery
    ) -> tuple[int | None, str | None]:
        headers = {
            "Content-Type": "application/json",
            "X-drchrono-event": delivery.event,
            "X-drchrono-signature": hook.secret,
            "X-drchrono-delivery": delivery.id,
        }
        try:
            # Only the status counts: the answer's body is never read.
            async with client.stream(
                "POST", hook.url, content=delivery.body, headers=headers, follow_redirects=False
            ) as resp:
                return resp.status_code, None
        except httpx.TimeoutException:
            return None, "timeout"
        except httpx.ConnectError:
            return None, "connect"
        except Exception as exc:  # a receiver that fails in any way: a failed attempt
            return None, type(exc).__name__

    @contextlib.asynccontextmanager
    async def _http(self) -> AsyncIterator[httpx.AsyncClient]:
        if self.client is not None:
            yield self.client
            return
        async with httpx.AsyncClient(
            transport=self.transport, timeout=self._timeout, trust_env=False
        ) as client:
            yield client

    def _log(
        self,
        delivery: _Delivery,
        status: int | None,
        error: str | None,
        outcome: Outcome,
        attempt: int | None = None,
    ) -> DeliveryLogEntry:
        entry = DeliveryLogEntry(
            delivery.id,
            delivery.event,
            delivery.hook_id,
            delivery.attempts if attempt is None else attempt,
            status,
            error,
            self._clock.now(),
            outcome,
            delivery.record_id,
        )
        self.log.append(entry)
        return entry

    def _new_id(self) -> str:
        return str(uuid.UUID(int=self._rng.getrandbits(128), version=4))

    def _next(self) -> int:
        self._seq += 1
        return self._seq

    def __repr__(self) -> str:
        return f"Webhooks(hooks={len(self._hooks)}, pending={len(self._queue)})"


def _ok(status: int | None) -> bool:
    return status is not None and 200 <= status < 300


def _check_url(url: str) -> None:
    if not isinstance(url, str) or not 0 < len(url) <= _MAX_URL or not url.isascii():
        raise InvalidRequestError(f"url must be an ASCII string of at most {_MAX_URL}")
    if any(c.isspace() or not c.isprintable() for c in url):
        raise InvalidRequestError("url must not contain spaces or control characters")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise InvalidRequestError("url is not a valid URL") from None
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.fragment:
        raise InvalidRequestError("url must be http(s)://host[:port]/path, without a fragment")
    if parts.username is not None or parts.password is not None or port == 0:
        raise InvalidRequestError("url must not carry credentials or port 0")


async def _read_bounded(resp: httpx.Response, limit: int) -> bytes:
    chunks: list[bytes] = []
    size = 0
    async for chunk in resp.aiter_bytes():
        size += len(chunk)
        if size > limit:
            raise ValueError("answer too large")
        chunks.append(chunk)
    return b"".join(chunks)
