"""`RegistryDedupe`: the fleet's delivery dedupe, in the registry's `webhook_deliveries`.

Shared by every receiver on the registry (several behind a load balancer): a claim is one
`INSERT ... ON CONFLICT DO UPDATE ... WHERE` (of two at once, PostgreSQL gives the row to
one); it holds for `claim_ttl`, after which a receiver that died mid-apply has lost it; a
delivery is completed only after its apply committed, then remembered for `retention`.
The table is created with the other routing tables (`_routing.create_tables`).
"""

from __future__ import annotations

import datetime as dt
import secrets
import time
from typing import TYPE_CHECKING, Any

from .._checks import check_number
from ..ratelimit import Clock
from ..webhooks import DEFAULT_RETENTION, MIN_RETENTION, Claim, check_delivery_id
from ._stamp import NOW, stamp

if TYPE_CHECKING:
    import psycopg

    from ._registry import PracticeRegistry

__all__ = ["RegistryDedupe"]


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
        now = stamp(self._clock)

        async def run(conn: psycopg.AsyncConnection[Any]) -> Claim:
            for _ in range(2):
                cur = await conn.execute(
                    self._store.sql(
                        "INSERT INTO {s}.webhook_deliveries AS d (delivery_id, state, token, until)"
                        " VALUES (%(id)s, 'claimed', %(token)s, "
                        + NOW
                        + " + make_interval(secs => %(ttl)s))"
                        " ON CONFLICT (delivery_id) DO UPDATE SET state = 'claimed',"
                        " token = excluded.token, until = excluded.until"
                        " WHERE d.until <= " + NOW + " RETURNING d.token"
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
        now = stamp(self._clock)

        async def run(conn: psycopg.AsyncConnection[Any]) -> None:
            await conn.execute(
                self._store.sql(
                    "INSERT INTO {s}.webhook_deliveries (delivery_id, state, token, until)"
                    " VALUES (%(id)s, 'done', NULL, " + NOW + " + make_interval(secs => %(keep)s))"
                    " ON CONFLICT (delivery_id) DO UPDATE SET state = 'done', token = NULL,"
                    " until = excluded.until"
                ),
                {"id": delivery_id, "keep": self.retention, "now": now},
            )
            await self._purge(conn, now)

        await self._store.run("complete the delivery", "", run)

    async def _purge(self, conn: psycopg.AsyncConnection[Any], now: dt.datetime | None) -> None:
        """Forget handled deliveries past their retention (and lapsed claims: a missing row
        claims as they do), a bounded batch at most every ten minutes per receiver (the
        table stays at about a retention's deliveries)."""
        at = self._clock.now() if self._clock is not None else time.monotonic()
        if self._purged_at is not None and at - self._purged_at < 600:
            return
        self._purged_at = at
        await conn.execute(
            self._store.sql(
                "DELETE FROM {s}.webhook_deliveries WHERE delivery_id IN (SELECT delivery_id"
                " FROM {s}.webhook_deliveries WHERE until < " + NOW + " LIMIT 10000)"
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
