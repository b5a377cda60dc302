"""Where a fleet's webhook deliveries go: owners, the fleet's delivery dedupe, the unrouted.

DrChrono has one set of webhooks per application, so one receiver hears every practice's
events; nothing in a delivery names the practice. The registry learns it: each practice's
doctors, offices and users, as the fleet syncs them, are its *owners*, and an event's object
names a doctor, an office or a user. Four tables in the registry schema (created by
`PracticeRegistry.open()` through `create_tables`):

- `webhook_owners (kind, id, practice, learned_at)`: kind `doctor`, `office` or `user`.
  Learned after every slice of `doctors`, `offices` or `users` (`FleetRuntime`), from the
  practice's synced copy. Ids are global on the live service; one id owned by two practices
  (the same DrChrono practice registered twice, a doctor working in two) is kept for both.
- `webhook_deliveries (delivery_id, state, token, until)`: the fleet's `DeliveryDedupe`
  (`RegistryDedupe`), shared by every receiver on the registry. A claim is one
  `INSERT ... ON CONFLICT DO UPDATE ... WHERE` (atomic across receivers: of two at once,
  one gets the row); it holds for `claim_ttl`, after which a receiver that died mid-apply has
  lost it and a redelivery is handled. A delivery is completed only after its apply
  committed, and then remembered for `retention`.
- `webhook_unrouted (delivery_id, event, body, received_at, attempts, next_try, reason)`:
  deliveries no practice could be found for, kept (their body as received, bounded by the
  receiver's `max_body`) before they are answered 2xx, and retried (see `_webhooks`).
- `webhook_applied (practice, resource, last_at)`: when a delivery was last applied to a
  practice's resource (`last_delivery`), a seam for a freshness schedule.

The routing rule (`route`): an object's fields are read in the order of `ROUTES` (an
appointment: its doctor, then its office); the first field whose id an active practice owns
names the practice. If several active practices own that id, the later fields narrow the
choice (a field owned by none of them is passed over). Where no field decides (a clinical
note has only its appointment and patient, a delete may carry only an id) the practices'
synced copies are asked which holds the record (a note: its appointment). Still several:
the delivery is *ambiguous* and kept unrouted, never written into a practice that may not
own it; none: kept as *unknown* (or *inactive*, when only removed practices own its ids).
"""

from __future__ import annotations

import datetime as dt
import logging
import secrets
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import attrs

from .._checks import check_int, check_number
from .._ids import check_object_id
from ..errors import InvalidRequestError, WebhookError
from ..ratelimit import Clock
from ..webhooks import DEFAULT_RETENTION, MIN_RETENTION, Claim

if TYPE_CHECKING:
    import psycopg

    from ..sync import PostgresStore
    from ._registry import PracticeRegistry

__all__ = [
    "KINDS",
    "OWNER_RESOURCES",
    "ROUTES",
    "RegistryDedupe",
    "Route",
    "Routing",
    "Unrouted",
    "create_tables",
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
# Where a copy is looked for when no owner decides: (table, the object's field of its key).
_COPIES: Mapping[str, tuple[str, str]] = {"clinical_notes": ("appointments", "appointment")}
_CHUNK = 100  # practices' schemas per copy lookup statement

Owners = dict[tuple[str, str], dict[str, bool]]  # (kind, id) -> {practice key: active}
UNKNOWN, AMBIGUOUS, INACTIVE = "unknown", "ambiguous", "inactive"
_MAX_DELIVERY_ID = 128


def check_delivery_id(delivery_id: object) -> str:
    """What the receiver lets through: 1 to 128 visible ASCII characters."""
    if (
        not isinstance(delivery_id, str)
        or not 0 < len(delivery_id) <= _MAX_DELIVERY_ID
        or not (delivery_id.isascii() and delivery_id.isprintable())
        or " " in delivery_id
    ):
        raise InvalidRequestError("a delivery id is 1 to 128 visible ASCII characters")
    return delivery_id


def _stamp(clock: Clock | None) -> dt.datetime | None:
    """The injected clock's time (None: the database's `now()`, which every receiver and
    worker shares, whatever its own clock says)."""
    return None if clock is None else dt.datetime.fromtimestamp(clock.now(), dt.UTC)


_NOW = "coalesce(%(now)s::timestamptz, now())"


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
    """The routing tables of one registry. `clock`: for tests (default: the database's)."""

    def __init__(
        self,
        registry: PracticeRegistry,
        *,
        clock: Clock | None = None,
        max_unrouted: int = 100_000,
        max_age: float = 7 * 86_400.0,
        backoff: tuple[float, float] = (60.0, 3600.0),
    ) -> None:
        self.registry = registry
        self._store = registry.tokens_store
        self.clock = clock
        self.max_unrouted = check_int(max_unrouted, "max_unrouted", low=1, high=10_000_000)
        self.max_age = check_number(
            max_age, "max_age", low=3600, high=366 * 86_400, kind="a number of seconds"
        )
        first, most = backoff
        check_number(first, "backoff", low=0.001, high=86_400, kind="a number of seconds")
        check_number(most, "backoff", low=first, high=86_400, kind="a number of seconds")
        self.backoff = (float(first), float(most))

    def _now(self) -> dt.datetime | None:
        return _stamp(self.clock)

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
                    " SELECT %(kind)s, i, %(practice)s, " + _NOW + " FROM unnest(%(ids)s::text[]) i"
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
            copies = await self._copies(resource, obj, chosen)
            if copies:
                chosen = copies
        if chosen and len(chosen) == 1:
            return Route(next(iter(chosen)))
        if chosen:
            return Route(None, AMBIGUOUS)
        return Route(None, INACTIVE if inactive else UNKNOWN)

    async def _copies(
        self, resource: str, obj: Mapping[str, Any], among: set[str] | None
    ) -> set[str]:
        """The active practices (of `among`, if given) whose synced copy holds the object."""
        from psycopg import sql

        table, field = _COPIES.get(resource, (resource, "id"))
        key = check_object_id(obj.get(field)) if obj.get(field) is not None else None
        if key is None:
            return set()

        keys = None if among is None else sorted(among)

        async def run(conn: psycopg.AsyncConnection[Any]) -> set[str]:
            cur = await conn.execute(
                self._store.sql(
                    "SELECT p.key, p.schema_name, c.data_type FROM {s}.practices p"
                    " JOIN information_schema.columns c ON c.table_schema = p.schema_name"
                    " AND c.table_name = %s AND c.column_name = 'id'"
                    " WHERE p.active AND (%s::text[] IS NULL OR p.key = ANY(%s::text[]))"
                ),
                (table, keys, keys),
            )
            tables = await cur.fetchall()
            numeric = key.isdigit() and len(key) <= 18
            found: set[str] = set()
            for start in range(0, len(tables), _CHUNK):
                parts: list[sql.Composable] = []
                args: list[Any] = []
                for practice, schema, kind in tables[start : start + _CHUNK]:
                    if kind == "bigint" and not numeric:
                        continue
                    parts.append(
                        sql.SQL("SELECT {} FROM {}.{} WHERE id = %s").format(
                            sql.Literal(practice), sql.Identifier(schema), sql.Identifier(table)
                        )
                    )
                    args.append(int(key) if kind == "bigint" else key)
                if parts:
                    cur = await conn.execute(sql.SQL(" UNION ALL ").join(parts), args)
                    found.update(row[0] for row in await cur.fetchall())
            return found

        held: set[str] = await self._run("look the record up in the practices' copies", run)
        return held

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
                    " SELECT %(id)s, %(event)s, %(body)s, " + _NOW + ", 0,"
                    " " + _NOW + " + make_interval(secs => %(wait)s), %(reason)s"
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
                        " reason, received_at < " + _NOW + " - make_interval(secs => %(age)s)"
                        " FROM {s}.webhook_unrouted WHERE %(all)s OR next_try <= "
                        + _NOW
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
                            " next_try = " + _NOW + " + make_interval(secs => %(wait)s),"
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

    async def applied(self, practice: str, resource: str) -> None:
        """Record that a delivery of `resource` was applied to `practice` now."""

        async def run(conn: psycopg.AsyncConnection[Any]) -> None:
            await conn.execute(
                self._store.sql(
                    "INSERT INTO {s}.webhook_applied (practice, resource, last_at)"
                    " VALUES (%(p)s, %(r)s, " + _NOW + ") ON CONFLICT (practice, resource)"
                    " DO UPDATE SET last_at = greatest(webhook_applied.last_at, excluded.last_at)"
                ),
                {"p": practice, "r": resource, "now": self._now()},
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


class RegistryDedupe:
    """The fleet's `webhooks.DeliveryDedupe`, in the registry's `webhook_deliveries` table.

    `claim`: `Claim.NEW` for one claimant of a delivery id at a time, across every receiver
    on the registry; a claim not completed nor released within `claim_ttl` seconds (its
    receiver died mid-apply) lapses and the next claim takes it. `complete`: remembered as
    handled for `retention` seconds (at least 8 hours: redeliveries come up to 7 hours after
    the event). `release`: forgets this claimant's claim only (a lapsed one taken over by
    another is theirs). Times are the database's (every receiver agrees), or `clock`'s.
    Database failures raise `StoreError` (the receiver answers 503: DrChrono redelivers).
    """

    def __init__(
        self,
        registry: PracticeRegistry,
        *,
        retention: float = DEFAULT_RETENTION,
        claim_ttl: float = 300.0,
        clock: Clock | None = None,
    ) -> None:
        self.retention = check_number(
            retention,
            "retention",
            low=MIN_RETENTION,
            high=366 * 86_400,
            kind="a number of seconds",
            tail=" (8 hours, since redeliveries come up to 7 hours after the event, to a year)",
        )
        self.claim_ttl = check_number(
            claim_ttl, "claim_ttl", low=1, high=self.retention, kind="a number of seconds"
        )
        self._store = registry.tokens_store
        self._clock = clock
        self._tokens: dict[str, str] = {}  # delivery id -> this claimant's token, while claimed
        self._purged_at: float | None = None

    async def claim(self, delivery_id: str) -> Claim:
        check_delivery_id(delivery_id)
        token = secrets.token_hex(16)
        now = _stamp(self._clock)

        async def run(conn: psycopg.AsyncConnection[Any]) -> Claim:
            for _ in range(2):
                cur = await conn.execute(
                    self._store.sql(
                        "INSERT INTO {s}.webhook_deliveries AS d (delivery_id, state, token, until)"
                        " VALUES (%(id)s, 'claimed', %(token)s, "
                        + _NOW
                        + " + make_interval(secs => %(ttl)s))"
                        " ON CONFLICT (delivery_id) DO UPDATE SET state = 'claimed',"
                        " token = excluded.token, until = excluded.until"
                        " WHERE d.until <= " + _NOW + " RETURNING d.token"
                    ),
                    {"id": delivery_id, "token": token, "ttl": self.claim_ttl, "now": now},
                )
                if await cur.fetchone() is not None:
                    return Claim.NEW
                cur = await conn.execute(
                    self._store.sql(
                        "SELECT state FROM {s}.webhook_deliveries WHERE delivery_id = %s"
                    ),
                    (delivery_id,),
                )
                row = await cur.fetchone()
                if row is not None:
                    return Claim.HANDLED if row[0] == "done" else Claim.BUSY
                # Released between the two statements: claim again, once.
            return Claim.BUSY

        claim: Claim = await self._store.run("claim the delivery", "", run)
        if claim is Claim.NEW:
            self._tokens[delivery_id] = token
        return claim

    async def complete(self, delivery_id: str) -> None:
        check_delivery_id(delivery_id)
        self._tokens.pop(delivery_id, None)
        now = _stamp(self._clock)

        async def run(conn: psycopg.AsyncConnection[Any]) -> None:
            await conn.execute(
                self._store.sql(
                    "INSERT INTO {s}.webhook_deliveries (delivery_id, state, token, until)"
                    " VALUES (%(id)s, 'done', NULL, " + _NOW + " + make_interval(secs => %(keep)s))"
                    " ON CONFLICT (delivery_id) DO UPDATE SET state = 'done', token = NULL,"
                    " until = excluded.until"
                ),
                {"id": delivery_id, "keep": self.retention, "now": now},
            )
            await self._purge(conn, now)

        await self._store.run("complete the delivery", "", run)

    async def _purge(self, conn: psycopg.AsyncConnection[Any], now: dt.datetime | None) -> None:
        """Forget handled deliveries past their retention, a bounded batch at most every
        ten minutes per receiver (the table stays at about a retention's deliveries)."""
        import time

        at = self._clock.now() if self._clock is not None else time.monotonic()
        if self._purged_at is not None and at - self._purged_at < 600:
            return
        self._purged_at = at
        await conn.execute(
            self._store.sql(
                "DELETE FROM {s}.webhook_deliveries WHERE delivery_id IN (SELECT delivery_id"
                " FROM {s}.webhook_deliveries WHERE state = 'done' AND until < "
                + _NOW
                + " LIMIT 10000)"
            ),
            {"now": now},
        )

    async def release(self, delivery_id: str) -> None:
        check_delivery_id(delivery_id)
        token = self._tokens.pop(delivery_id, None)
        if token is None:
            return

        async def run(conn: psycopg.AsyncConnection[Any]) -> None:
            await conn.execute(
                self._store.sql(
                    "DELETE FROM {s}.webhook_deliveries WHERE delivery_id = %s"
                    " AND state = 'claimed' AND token = %s"
                ),
                (delivery_id, token),
            )

        await self._store.run("release the delivery", "", run)

    def __repr__(self) -> str:
        return f"RegistryDedupe(retention={self.retention:.0f}, claim_ttl={self.claim_ttl:.0f})"
