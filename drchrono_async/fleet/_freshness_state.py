"""The planner's memory: one row per (practice, resource) in the registry's `freshness` table.

Each slice a worker runs is recorded (`record_slice`): a poll's slices accumulate, and the
slice that completes it folds the poll into the row (`_scheduler.observe`: when it started
and ended, its calls, the changes it wrote, the sweep period). The scheduler's tick reads
every row (`load_states`). Rows hold counts and times only, never record content.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

import attrs

from .. import metrics
from .._cli_args import format_duration
from ._freshness import FreshnessTargets
from ._scheduler import Pair, PollState, observe, sweep_period

if TYPE_CHECKING:
    import psycopg

    from ..sync import PostgresStore
    from ._registry import PracticeRegistry

__all__ = ["ensure_table", "load_states", "record_slice"]

logger = logging.getLogger("drchrono_async.fleet")

_SELECT = (
    "SELECT key, resource, backfilled, started, pending_calls, pending_changes, last_start,"
    " last_end, calls, changes, observed, sweep, missed FROM {s}.freshness"
)
_UPDATE = (
    "UPDATE {s}.freshness SET backfilled = %s, started = %s, pending_calls = %s,"
    " pending_changes = %s, last_start = %s, last_end = %s, calls = %s, changes = %s,"
    " observed = %s, sweep = %s, missed = %s WHERE key = %s AND resource = %s"
)
_MAX_COUNT = 2**62  # counts are clamped: a bigint never overflows


async def ensure_table(store: PostgresStore, conn: psycopg.AsyncConnection[Any]) -> None:
    """Create the `freshness` table in the registry schema (in the caller's transaction)."""
    await conn.execute(
        store.sql(
            "CREATE TABLE IF NOT EXISTS {s}.freshness (key text NOT NULL, resource text NOT NULL,"
            " backfilled boolean NOT NULL DEFAULT false, started double precision,"
            " pending_calls bigint NOT NULL DEFAULT 0, pending_changes bigint NOT NULL DEFAULT 0,"
            " last_start double precision, last_end double precision,"
            " calls double precision NOT NULL DEFAULT 1, changes double precision NOT NULL"
            " DEFAULT 0, observed double precision NOT NULL DEFAULT 0, sweep double precision,"
            " missed bigint NOT NULL DEFAULT 0, PRIMARY KEY (key, resource))"
        )
    )


def _state(row: Any) -> PollState:
    return PollState(row[0], row[1], *row[2:])


async def load_states(registry: PracticeRegistry) -> dict[Pair, PollState]:
    """Every row of the `freshness` table, by (practice key, resource)."""
    store = registry.tokens_store

    async def run(conn: psycopg.AsyncConnection[Any]) -> dict[Pair, PollState]:
        cur = await conn.execute(store.sql(_SELECT))
        return {(r[0], r[1]): _state(r) for r in await cur.fetchall()}

    return await store.run("read the freshness state", "", run)


async def record_slice(
    registry: PracticeRegistry,
    key: str,
    resource: str,
    *,
    started: float,
    ended: float,
    calls: int,
    changes: int,
    done: bool,
    targets: FreshnessTargets | None = None,
    webhooks: bool = False,
) -> int:
    """Fold one slice into the practice's row; the changes a sweep found that the webhooks
    missed (logged, counted in metrics, and its sweep tightened), else 0."""
    targets = targets or FreshnessTargets()
    store = registry.tokens_store
    calls = min(max(0, int(calls)), _MAX_COUNT)
    changes = min(max(0, int(changes)), _MAX_COUNT)

    async def run(conn: psycopg.AsyncConnection[Any]) -> tuple[PollState, int]:
        async with conn.transaction():
            await conn.execute(
                store.sql(
                    "INSERT INTO {s}.freshness (key, resource) VALUES (%s, %s)"
                    " ON CONFLICT DO NOTHING"
                ),
                (key, resource),
            )
            cur = await conn.execute(
                store.sql(_SELECT + " WHERE key = %s AND resource = %s FOR UPDATE"),
                (key, resource),
            )
            row = await cur.fetchone()
            assert row is not None
            state, missed = observe(
                _state(row),
                started=started,
                ended=ended,
                calls=calls,
                changes=changes,
                done=done,
                targets=targets,
                webhooks=webhooks,
            )
            values = attrs.astuple(state)[2:]
            clamped = tuple(
                min(v, _MAX_COUNT) if isinstance(v, int) and not isinstance(v, bool) else v
                for v in values
            )
            await conn.execute(
                store.sql(_UPDATE),
                (*clamped, key, resource),
            )
        return state, missed

    state, missed = await store.run("record the slice", resource, run)
    if missed:
        # Ids and counts only: which practice, which resource, how many.
        logger.warning(
            "fleet: a sweep of %s for practice %s found %d changes the webhooks missed; "
            "swept every %s now",
            resource,
            key,
            missed,
            format_duration(round(sweep_period(state, targets))),
        )
        metrics.sweep_missed(key, resource, missed)
    return missed
