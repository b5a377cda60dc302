"""Where a fleet's webhook deliveries go: owners, the fleet's delivery dedupe, the unrouted.

DrChrono has one set of webhooks per application, so one receiver hears every practice's
events; nothing in a delivery names the practice. The registry learns it: each practice's
doctors, offices and users, as the fleet syncs them, are its *owners*, and an event's object
names a doctor, an office or a user. Five tables in the registry schema (created by
`PracticeRegistry.open()` through `create_tables`; an existing registry gains a new one
at its next open):

- `webhook_owners (kind, id, practice, learned_at)`: kind `doctor`, `office` or `user`.
  Learned after every slice of `doctors`, `offices` or `users` (`FleetRuntime`), from the
  practice's synced copy. Ids are global on the live service; one id owned by two practices
  (the same DrChrono practice registered twice, a doctor working in two) is kept for both.
- `webhook_deliveries (delivery_id, state, token, until)`: the fleet's `DeliveryDedupe`
  (`RegistryDedupe`, in `_hook_dedupe`), shared by every receiver on the registry. A claim is one
  `INSERT ... ON CONFLICT DO UPDATE ... WHERE` (atomic across receivers: of two at once,
  one gets the row); it holds for `claim_ttl`, after which a receiver that died mid-apply has
  lost it and a redelivery is handled. A delivery is completed only after its apply
  committed, and then remembered for `retention`.
- `webhook_unrouted (delivery_id, event, body, received_at, attempts, next_try, reason)`:
  deliveries no practice could be found for, kept (their body as received, bounded by the
  receiver's `max_body`) before they are answered 2xx, and retried (see `_webhooks`).
- `webhook_applied (practice, resource, last_at)`: when a delivery was last applied to a
  practice's resource (`last_delivery`), a seam for a freshness schedule.
- `webhook_records (resource, id, practice, learned_at)`: the routing index (`RecordIndex`,
  in `_routing_index`): which practices hold a record, for deliveries no owner decides.
  Learned from applied deliveries (in the statement that records the apply) and from
  fallback lookups of the practices' copies, never from the syncs (a write per synced row,
  for ids few deliveries name); purged `index_retention` (30 days) after last learned.

The routing rule (`route`): an object's fields are read in the order of `ROUTES` (an
appointment: its doctor, then its office); the first field whose id an active practice owns
names the practice. If several active practices own that id, the later fields narrow the
choice (a field owned by none of them is passed over). Where no field decides (a clinical
note has only its appointment and patient, a delete may carry only an id) the routing
index says which practices hold the record (a note: its appointment), with one indexed read;
only when it knows no active one are the practices' synced copies asked (one `SELECT` per
practice schema), and what they find is learned. Still several: the delivery is *ambiguous*
and kept unrouted, never written into a practice that may not own it; none: kept as
*unknown* (or *inactive*, when only removed practices own its ids or hold its record).
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import attrs

from .._checks import check_int, check_number
from .._ids import check_object_id
from ..errors import InvalidRequestError, WebhookError
from ..ratelimit import Clock
from ..webhooks import check_delivery_id
from ._routing_index import DEFAULT_INDEX_RETENTION, LEARN, TABLES, RecordIndex, record_key
from ._stamp import NOW, stamp

if TYPE_CHECKING:
    import psycopg

    from ..sync import PostgresStore
    from ._registry import PracticeRegistry

__all__ = [
    "KINDS",
    "NOW",
    "OWNER_RESOURCES",
    "ROUTES",
    "Route",
    "Routing",
    "Unrouted",
    "create_tables",
    "stamp",
]

logger = logging.getLogger("drchrono_async.fleet")

KINDS = ("doctor", "office", "user")
OWNER_RESOURCES: Mapping[str, str] = {"doctors": "doctor", "offices": "office", "users": "user"}
# resource -> (kind, field of the object), in the order they decide.
ROUTES: Mapping[str, tuple[tuple[str, str], ...]] = {
    "appointments": (("doctor", "doctor"), ("office", "office")),
    "patients": (("doctor", "doctor"),),
    "problems": (("doctor", "doctor"),),
    "allergies": (("doctor", "doctor"),),
    "medications": (("doctor", "doctor"),),
    "line_items": (("doctor", "doctor"),),
    "tasks": (("user", "assignee_user"), ("user", "created_by"), ("user", "assigned_by")),
    "clinical_notes": (),
}

Owners = dict[tuple[str, str], dict[str, bool]]  # (kind, id) -> {practice key: active}
UNKNOWN, AMBIGUOUS, INACTIVE = "unknown", "ambiguous", "inactive"


async def create_tables(store: PostgresStore, conn: psycopg.AsyncConnection[Any]) -> None:
    """Create the routing tables in the registry schema (inside the open's DDL transaction)."""
    for statement in (
        "CREATE TABLE IF NOT EXISTS {s}.webhook_owners (kind text NOT NULL, id text NOT NULL,"
        " practice text NOT NULL, learned_at timestamptz NOT NULL,"
        " PRIMARY KEY (kind, id, practice))",
        "CREATE TABLE IF NOT EXISTS {s}.webhook_deliveries (delivery_id text PRIMARY KEY,"
        " state text NOT NULL, token text, until timestamptz NOT NULL)",
        "CREATE INDEX IF NOT EXISTS webhook_deliveries_until ON {s}.webhook_deliveries (until)",
        "CREATE TABLE IF NOT EXISTS {s}.webhook_unrouted (delivery_id text PRIMARY KEY,"
        " event text NOT NULL, body bytea NOT NULL, received_at timestamptz NOT NULL,"
        " attempts integer NOT NULL DEFAULT 0, next_try timestamptz NOT NULL,"
        " reason text NOT NULL)",
        "CREATE INDEX IF NOT EXISTS webhook_unrouted_next ON {s}.webhook_unrouted (next_try)",
        "CREATE TABLE IF NOT EXISTS {s}.webhook_applied (practice text NOT NULL,"
        " resource text NOT NULL, last_at timestamptz NOT NULL,"
        " PRIMARY KEY (practice, resource))",
        *TABLES,
    ):
        await conn.execute(store.sql(statement))


@attrs.frozen
class Route:
    """Where a delivery goes: one practice key, or none and why (`unknown`, `ambiguous`,
    `inactive`)."""

    practice: str | None
    reason: str | None = None


@attrs.frozen(repr=False)
class Unrouted:
    """A kept delivery (its body is the record as DrChrono sent it: never in a repr)."""

    delivery_id: str
    event: str
    body: bytes
    received_at: dt.datetime
    attempts: int
    next_try: dt.datetime
    reason: str

    def __repr__(self) -> str:
        return (
            f"Unrouted(delivery_id={self.delivery_id!r}, event={self.event!r}, "
            f"attempts={self.attempts}, reason={self.reason!r})"
        )


def object_ids(resource: str, obj: Mapping[str, Any]) -> list[tuple[str, str]]:
    """The (kind, id) pairs of `ROUTES[resource]` the object carries, in routing order."""
    found: list[tuple[str, str]] = []
    for kind, field in ROUTES.get(resource, ()):
        value = obj.get(field)
        text = check_object_id(value) if value is not None else None
        if text is not None:
            found.append((kind, text))
    return found


class Routing:
    """The routing tables of one registry. `clock`: for tests (default: the database's);
    `index_retention`: seconds an entry of the routing index (`index`) is kept after it was
    last learned (1 to 366 days)."""

    def __init__(
        self,
        registry: PracticeRegistry,
        *,
        clock: Clock | None = None,
        max_unrouted: int = 100_000,
        max_age: float = 7 * 86_400.0,
        backoff: tuple[float, float] = (60.0, 3600.0),
        index_retention: float = DEFAULT_INDEX_RETENTION,
    ) -> None:
        self.registry = registry
        self._store = registry.tokens_store
        self.clock = clock
        self.index = RecordIndex(self._store, clock=clock, retention=index_retention)
        self.max_unrouted = check_int(max_unrouted, "max_unrouted", low=1, high=10_000_000)
        self.max_age = check_number(
            max_age, "max_age", low=3600, high=366 * 86_400, kind="a number of seconds"
        )
        first, most = backoff
        check_number(first, "backoff", low=0.001, high=86_400, kind="a number of seconds")
        check_number(most, "backoff", low=first, high=86_400, kind="a number of seconds")
        self.backoff = (float(first), float(most))

    def _now(self) -> dt.datetime | None:
        return stamp(self.clock)

    async def _run(
        self, op: str, fn: Callable[[psycopg.AsyncConnection[Any]], Awaitable[Any]]
    ) -> Any:
        return await self._store.run(op, "", fn)

    # -- owners -------------------------------------------------------------------------------

    async def learn(self, practice: str, kind: str, ids: Iterable[str]) -> int:
        """Record `practice` as the owner of these ids; how many were not known for it."""
        if kind not in KINDS:
            raise InvalidRequestError("kind must be doctor, office or user")
        checked = sorted({t for i in ids if (t := check_object_id(i)) is not None})
        if not checked:
            return 0

        async def run(conn: psycopg.AsyncConnection[Any]) -> int:
            cur = await conn.execute(
                self._store.sql(
                    "INSERT INTO {s}.webhook_owners (kind, id, practice, learned_at)"
                    " SELECT %(kind)s, i, %(practice)s, " + NOW + " FROM unnest(%(ids)s::text[]) i"
                    " ON CONFLICT (kind, id, practice) DO NOTHING"
                ),
                {"kind": kind, "practice": practice, "ids": checked, "now": self._now()},
            )
            return max(0, cur.rowcount)

        new: int = await self._run("learn the practice's owners", run)
        return new

    async def owners(self, pairs: Sequence[tuple[str, str]]) -> Owners:
        """(kind, id) -> {practice key: active} for the pairs any practice owns."""
        if not pairs:
            return {}

        async def run(conn: psycopg.AsyncConnection[Any]) -> list[tuple[Any, ...]]:
            cur = await conn.execute(
                self._store.sql(
                    "SELECT o.kind, o.id, o.practice, p.active FROM {s}.webhook_owners o"
                    " JOIN unnest(%s::text[], %s::text[]) AS q(kind, id)"
                    " ON o.kind = q.kind AND o.id = q.id"
                    " JOIN {s}.practices p ON p.key = o.practice"
                ),
                ([k for k, _ in pairs], [i for _, i in pairs]),
            )
            return await cur.fetchall()

        found: dict[tuple[str, str], dict[str, bool]] = {}
        for kind, id_, practice, active in await self._run("read the owners", run):
            found.setdefault((kind, id_), {})[practice] = bool(active)
        return found

    # -- the rule -----------------------------------------------------------------------------

    async def route(self, resource: str, obj: Mapping[str, Any]) -> Route:
        """The practice of an event's object; see the module's docstring for the rule."""
        pairs = object_ids(resource, obj)
        owners = await self.owners(pairs)
        chosen: set[str] | None = None
        inactive = False
        for pair in pairs:
            held = owners.get(pair, {})
            active = {key for key, on in held.items() if on}
            inactive = inactive or (bool(held) and not active)
            if not active:
                continue
            if chosen is None:
                chosen = active  # the first field an active practice owns decides
            elif chosen & active:
                chosen &= active  # a later one only narrows it
            if len(chosen) == 1:
                break
        if chosen is None or len(chosen) > 1:
            holders, gone = await self.index.lookup(resource, obj, chosen)
            if holders:
                chosen = holders
            inactive = inactive or gone
        if chosen and len(chosen) == 1:
            return Route(next(iter(chosen)))
        if chosen:
            return Route(None, AMBIGUOUS)
        return Route(None, INACTIVE if inactive else UNKNOWN)

    # -- unrouted deliveries ------------------------------------------------------------------

    async def keep(self, delivery_id: str, event: str, body: bytes, reason: str) -> bool:
        """Keep a delivery no practice was found for (False: it was kept already). Raises
        `WebhookError` when `max_unrouted` are kept: the receiver answers 500 and DrChrono
        redelivers, rather than a delivery being dropped."""
        check_delivery_id(delivery_id)

        async def run(conn: psycopg.AsyncConnection[Any]) -> int:
            cur = await conn.execute(
                self._store.sql(
                    "INSERT INTO {s}.webhook_unrouted"
                    " (delivery_id, event, body, received_at, attempts, next_try, reason)"
                    " SELECT %(id)s, %(event)s, %(body)s, " + NOW + ", 0,"
                    " " + NOW + " + make_interval(secs => %(wait)s), %(reason)s"
                    " WHERE (SELECT count(*) FROM {s}.webhook_unrouted) < %(most)s"
                    " ON CONFLICT (delivery_id) DO NOTHING RETURNING 1"
                ),
                {
                    "id": delivery_id,
                    "event": event,
                    "body": bytes(body),
                    "now": self._now(),
                    "wait": self.backoff[0],
                    "reason": reason,
                    "most": self.max_unrouted,
                },
            )
            if await cur.fetchone() is not None:
                return 1
            cur = await conn.execute(
                self._store.sql("SELECT 1 FROM {s}.webhook_unrouted WHERE delivery_id = %s"),
                (delivery_id,),
            )
            return 0 if await cur.fetchone() is not None else -1

        kept: int = await self._run("keep an unrouted delivery", run)
        if kept < 0:
            raise WebhookError(
                f"the unrouted deliveries are full ({self.max_unrouted}); DrChrono redelivers"
            )
        return kept == 1

    async def unrouted(self, *, limit: int = 1000) -> list[Unrouted]:
        """The kept deliveries, oldest first (at most `limit`)."""
        check_int(limit, "limit", low=1, high=1_000_000)

        async def run(conn: psycopg.AsyncConnection[Any]) -> list[Unrouted]:
            cur = await conn.execute(
                self._store.sql(
                    "SELECT delivery_id, event, body, received_at, attempts, next_try, reason"
                    " FROM {s}.webhook_unrouted ORDER BY received_at, delivery_id LIMIT %s"
                ),
                (limit,),
            )
            return [Unrouted(r[0], r[1], bytes(r[2]), *r[3:]) for r in await cur.fetchall()]

        kept: list[Unrouted] = await self._run("read the unrouted deliveries", run)
        return kept

    async def retry(
        self,
        attempt: Callable[[Unrouted], Awaitable[str | None]],
        *,
        everything: bool = False,
        limit: int = 100,
    ) -> tuple[int, int, int]:
        """One pass over the kept deliveries due (`everything`: all, due or not), oldest
        try first, at most `limit`: `attempt` returns None when it applied one (the row is
        deleted) or the reason it is still unrouted (tried again after a back-off doubling
        from `backoff[0]` to `backoff[1]`). One kept longer than `max_age` is given up,
        logged and counted. Rows are locked (`SKIP LOCKED`): receivers and workers retrying
        at once share the work. Returns (applied, still kept, given up)."""
        check_int(limit, "limit", low=1, high=100_000)
        first, most = self.backoff
        applied = kept = expired = 0

        async def run(conn: psycopg.AsyncConnection[Any]) -> None:
            nonlocal applied, kept, expired
            now = self._now()
            async with conn.transaction():
                cur = await conn.execute(
                    self._store.sql(
                        "SELECT delivery_id, event, body, received_at, attempts, next_try,"
                        " reason, received_at < " + NOW + " - make_interval(secs => %(age)s)"
                        " FROM {s}.webhook_unrouted WHERE %(all)s OR next_try <= "
                        + NOW
                        + " ORDER BY next_try, delivery_id LIMIT %(limit)s"
                        " FOR UPDATE SKIP LOCKED"
                    ),
                    {"now": now, "age": self.max_age, "all": everything, "limit": limit},
                )
                for row in await cur.fetchall():
                    kept_one = Unrouted(row[0], row[1], bytes(row[2]), *row[3:7])
                    if row[7]:
                        expired += 1
                        logger.warning(
                            "fleet: unrouted %s delivery %s given up after %d tries (%s)",
                            kept_one.event,
                            kept_one.delivery_id,
                            kept_one.attempts,
                            kept_one.reason,
                        )
                        reason: str | None = None
                    else:
                        reason = await attempt(kept_one)
                    if reason is None:
                        applied += 0 if row[7] else 1
                        await conn.execute(
                            self._store.sql(
                                "DELETE FROM {s}.webhook_unrouted WHERE delivery_id = %s"
                            ),
                            (kept_one.delivery_id,),
                        )
                        continue
                    kept += 1
                    wait = min(most, first * 2 ** min(kept_one.attempts + 1, 40))
                    await conn.execute(
                        self._store.sql(
                            "UPDATE {s}.webhook_unrouted SET attempts = attempts + 1,"
                            " next_try = " + NOW + " + make_interval(secs => %(wait)s),"
                            " reason = %(reason)s WHERE delivery_id = %(id)s"
                        ),
                        {"now": now, "wait": wait, "reason": reason, "id": kept_one.delivery_id},
                    )

        # A connection of its own, not the pool's: the pass holds it (and its row locks)
        # while each attempt takes pooled ones to route; concurrent passes (a worker's jobs)
        # would otherwise hold every pooled connection and wait for one more.
        op = "retry the unrouted deliveries"
        conn = await self._store.connect(op)
        try:
            await self._store.guard(op, lambda: run(conn))
        finally:
            await conn.close()
        return applied, kept, expired

    # -- applied, for a freshness schedule ----------------------------------------------------

    async def applied(
        self, practice: str, resource: str, obj: Mapping[str, Any] | None = None
    ) -> None:
        """Record that a delivery of `resource` was applied to `practice` now and, given its
        object, teach the routing index that `practice` holds that record: one statement
        (the index's upsert a data-modifying CTE of the apply's record)."""
        found = record_key(resource, obj) if obj is not None else None
        table, key = found if found is not None else (resource, "")
        params = self.index.params(table, key, [practice] if found is not None else [])
        params |= {"p": practice, "r": resource, "now": self._now()}

        async def run(conn: psycopg.AsyncConnection[Any]) -> None:
            await conn.execute(
                self._store.sql(
                    "WITH learned AS (" + LEARN + ")"
                    " INSERT INTO {s}.webhook_applied (practice, resource, last_at)"
                    " VALUES (%(p)s, %(r)s, " + NOW + ") ON CONFLICT (practice, resource)"
                    " DO UPDATE SET last_at = greatest(webhook_applied.last_at, excluded.last_at)"
                ),
                params,
            )

        await self._run("record the applied delivery", run)

    async def last_delivery(self, practice: str, resource: str) -> dt.datetime | None:
        """When a delivery of `resource` was last applied to `practice` (None: never)."""

        async def run(conn: psycopg.AsyncConnection[Any]) -> dt.datetime | None:
            cur = await conn.execute(
                self._store.sql(
                    "SELECT last_at FROM {s}.webhook_applied WHERE practice = %s AND resource = %s"
                ),
                (practice, resource),
            )
            row = await cur.fetchone()
            return None if row is None else row[0]

        found: dt.datetime | None = await self._run("read the last applied delivery", run)
        return found
