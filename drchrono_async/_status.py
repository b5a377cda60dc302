"""Is my copy current? Each resource's state, read from a store (and a fleet's registry).

Never the API, never credentials: everything comes from what the sync keeps beside the rows
(each resource's checkpoint and `last_run`), the rows themselves (live and deleted counts),
and for a fleet practice, the registry (calls spent this quota window) and procrastinate's
job table (the next queued or scheduled run); with freshness targets, the registry's
`freshness` table and the planner (`_status_freshness`). A store is looked at before it is
opened: a missing SQLite file or a schema without sync state is an error, never created.

`resource_statuses(store)` works on any open `SyncStore`; `store_status(url)` and
`practice_status(dsn, key)` open what they need (exported by `drchrono_async.sync` and
`drchrono_async.fleet`). `Status.to_json()` is the stable shape of
`drchrono-async status --json` (documented in the README's "Operating" section).
"""

from __future__ import annotations

import asyncio
import math
import re
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import attrs

from ._checks import check_number
from ._status_freshness import (
    FleetFreshness,
    ResourceFreshness,
    fleet_json,
    read_freshness,
    resource_json,
)
from .errors import InvalidRequestError, StoreError

if TYPE_CHECKING:
    from .fleet import FreshnessTargets, PracticeRegistry
    from .ratelimit import Quota
    from .sync import SyncStore

__all__ = [
    "JSON_VERSION",
    "FleetFreshness",
    "LastRun",
    "ListingProgress",
    "NextRun",
    "QuotaSpent",
    "ResourceFreshness",
    "ResourceStatus",
    "Status",
    "practice_status",
    "resource_statuses",
    "store_status",
]

JSON_VERSION = 1
State = Literal["done", "failed", "quota", "stopped", "skipped", "unknown", "never"]
_OUTCOMES: frozenset[str] = frozenset({"done", "failed", "quota", "stopped", "skipped"})
_TYPE_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}")
_WATERMARK = re.compile(r"[0-9T:. +\-]{1,40}")
_MAX_ATTEMPT = 1000

_WHY = {
    "done": "",
    "failed": "the last run failed; it resumes from its checkpoint",
    "quota": "the last run stopped for the quota; it resumes from its checkpoint",
    "stopped": "the last run was stopped (a signal, or a fleet slice); it resumes",
    "skipped": "skipped: the token may not read it",
    "unknown": "no run recorded (synced by an older version, or its checkpoint is unreadable)",
    "never": "never synced",
}


@attrs.frozen
class LastRun:
    """How the resource's last run ended (times: epoch seconds, the API server's clock)."""

    finished_at: float
    outcome: str  # done, failed, quota, stopped, skipped
    error: str | None  # the error's type name, if one ended it
    calls: int
    records: int
    # What it did with them: rows inserted or changed, held already as they are, deleted.
    written: int = 0
    unchanged: int = 0
    deleted: int = 0


@attrs.frozen
class ListingProgress:
    """A listing in progress: its kind, its chains (date windows) and those done, pages."""

    kind: str
    chains: int
    chains_done: int
    pages: int


@attrs.frozen
class NextRun:
    """The next run, where something says: `unknown` (a single store: cron or `sync
    --every` knows, not the store), `none` (a fleet with no job waiting: the next periodic
    pass queues one), `queued` (due, waiting for a worker), `scheduled` (at `at`), or
    `running`. `attempt`: retries of a failed sync so far (a fleet's)."""

    state: Literal["unknown", "none", "queued", "scheduled", "running"] = "unknown"
    at: float | None = None
    attempt: int = 0


@attrs.frozen
class QuotaSpent:
    """Calls spent in the current quota window: known for a fleet practice (the registry
    counts each job's calls), not for a single store (its calls are counted by the API)."""

    known: bool = False
    calls: int | None = None
    window_start: float | None = None  # epoch seconds
    window: float = 3600.0


@attrs.frozen
class ResourceStatus:
    """One resource: its state and why, its copy's watermark and rows, and what is next."""

    resource: str
    state: State
    last_done_at: float | None  # the last run that ended done: the copy was current then
    last_run: LastRun | None
    watermark: str | None  # practice-local time the next incremental listing starts from
    live: int
    deleted: int
    backfilled: bool
    listing: ListingProgress | None  # a listing in progress (resumed by the next run)
    next_run: NextRun = NextRun()
    freshness: ResourceFreshness | None = None  # with `practice_status(freshness=...)`

    def is_current(
        self, *, strict: bool = False, max_age: float | None = None, now: float = 0.0
    ) -> bool:
        """Done (or skipped for its scope, unless `strict`), and within `max_age` seconds."""
        if self.state == "skipped" and not strict:
            return True
        if self.state != "done":
            return False
        if max_age is None:
            return True
        return self.last_done_at is not None and now - self.last_done_at <= max_age

    @property
    def reason(self) -> str:
        """Why it is not current, in words ("" when done)."""
        why = _WHY[self.state]
        run = self.last_run
        if run is not None and run.error is not None and self.state != "done":
            why = f"{why} ({run.error})" if why else run.error
        return why


@attrs.frozen
class Status:
    """What `drchrono-async status` reports."""

    store: Literal["sqlite", "postgresql"]
    resources: tuple[ResourceStatus, ...]
    checked_at: float  # epoch seconds, this machine's clock
    practice: str | None = None
    active: bool | None = None  # the practice is active in the registry
    quota: QuotaSpent = QuotaSpent()
    freshness: FleetFreshness | None = None  # the fleet's plan, with `freshness=...`

    def is_current(self, *, strict: bool = False, max_age: float | None = None) -> bool:
        """Every resource current (see `ResourceStatus.is_current`), and at least one."""
        return bool(self.resources) and all(
            r.is_current(strict=strict, max_age=max_age, now=self.checked_at)
            for r in self.resources
        )

    def to_json(self, *, strict: bool = False, max_age: float | None = None) -> dict[str, Any]:
        """The stable JSON shape (`version` 1); times are epoch seconds."""
        now = self.checked_at
        shown: dict[str, Any] = {
            "version": JSON_VERSION,
            "checked_at": now,
            "store": self.store,
            "practice": None
            if self.practice is None
            else {"key": self.practice, "active": self.active},
            "current": self.is_current(strict=strict, max_age=max_age),
            "quota": {
                "known": self.quota.known,
                "calls": self.quota.calls,
                "window_start": self.quota.window_start,
                "window_seconds": self.quota.window,
            },
            "resources": [
                {
                    "resource": r.resource,
                    "state": r.state,
                    "current": r.is_current(strict=strict, max_age=max_age, now=now),
                    "reason": r.reason,
                    "last_done_at": r.last_done_at,
                    "last_run": None if r.last_run is None else attrs.asdict(r.last_run),
                    "watermark": r.watermark,
                    "rows": {"live": r.live, "deleted": r.deleted},
                    "backfilled": r.backfilled,
                    "listing": None if r.listing is None else attrs.asdict(r.listing),
                    "next_run": attrs.asdict(r.next_run),
                    # Only with freshness asked for: without it the shape is as it was.
                    **({} if r.freshness is None else {"freshness": resource_json(r.freshness)}),
                }
                for r in self.resources
            ],
        }
        if self.freshness is not None:
            shown["freshness"] = fleet_json(self.freshness)
        return shown


# -- reading a store ----------------------------------------------------------------------------


def _time(value: object) -> float | None:
    """A stored time as a finite float, or None (a hand-edited checkpoint is not trusted)."""
    if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
        return float(value)
    return None


def _count(value: object) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else 0


def _resource_names(names: Iterable[str] | None) -> tuple[str, ...] | None:
    from .sync import DEFAULT_RESOURCES

    if names is None:
        return None
    if isinstance(names, str):
        raise InvalidRequestError("resources must be a list of resource names")
    chosen = tuple(dict.fromkeys(names))
    for name in chosen:
        if name not in DEFAULT_RESOURCES:
            shown = name if isinstance(name, str) and re.fullmatch(r"[a-z0-9_]{1,64}", name) else ""
            raise InvalidRequestError(
                f"{shown or 'a name'} is not a resource a sync copies (see `sync --help`)"
            )
    return chosen


async def resource_statuses(
    store: SyncStore, resources: Iterable[str] | None = None
) -> tuple[ResourceStatus, ...]:
    """Each resource's state in an open `store`.

    `resources`: the names to report (one never synced reads `never`); None: every resource
    the store holds a checkpoint of.
    """
    from .sync import DEFAULT_RESOURCES
    from .sync import load_checkpoint as load

    chosen = _resource_names(resources)
    out: list[ResourceStatus] = []
    for name in DEFAULT_RESOURCES if chosen is None else chosen:
        raw = await store.checkpoint(name)
        if raw is None:
            if chosen is not None:
                out.append(ResourceStatus(name, "never", None, None, None, 0, 0, False, None))
            continue
        try:
            cp = load(name, raw)
        except StoreError:  # written by a newer release: its state is not ours to read
            cp = None
        last = None if cp is None else cp.last_run
        run = None
        state: State = "unknown"
        if last is not None and (finished := _time(last.finished_at)) is not None:
            outcome = last.outcome if last.outcome in _OUTCOMES else "unknown"
            error = last.error if last.error and _TYPE_NAME.fullmatch(last.error) else None
            run = LastRun(
                finished,
                outcome,
                error,
                _count(last.calls),
                _count(last.records),
                _count(last.written),
                _count(last.unchanged),
                _count(last.deleted),
            )
            state = outcome  # type: ignore[assignment]  # one of _OUTCOMES, or "unknown"
        listing = None
        if cp is not None and cp.listing is not None:
            chains = cp.listing.chains
            listing = ListingProgress(
                cp.listing.kind,
                len(chains),
                sum(1 for c in chains if c.done),
                sum(_count(c.pages) for c in chains),
            )
        watermark = None if cp is None else cp.watermark
        out.append(
            ResourceStatus(
                name,
                state,
                None if last is None else _time(last.done_at),
                run,
                watermark if watermark is None or _WATERMARK.fullmatch(watermark) else None,
                await store.count(name),
                await store.count(name, deleted=True),
                cp is not None and cp.backfilled,
                listing,
            )
        )
    return tuple(out)


async def _relations(dsn: str, names: Sequence[tuple[str, str]]) -> set[tuple[str, str]]:
    """Which of (schema, table) exist, on one plain connection (nothing is created)."""
    from .sync import PostgresStore

    # Through the store's public seams: a connection of its own (no pool, nothing created)
    # and its guard, which types a failure as the store's other operations do.
    store = PostgresStore(dsn, schema=names[0][0])

    async def look() -> set[tuple[str, str]]:
        conn = await store.connect("read the store's state")
        try:
            cur = await conn.execute(
                "SELECT i, to_regclass(n) IS NOT NULL FROM unnest(%s::text[])"
                " WITH ORDINALITY AS t(n, i)",
                ([f'"{s}"."{t}"' for s, t in names],),
            )
            return {names[i - 1] for i, found in await cur.fetchall() if found}
        finally:
            await conn.close()

    return await store.guard("read the store's state", look)


def _sqlite_has_state(path: Path) -> bool:
    """Whether the SQLite file holds sync state (read only: never created nor changed)."""
    import sqlite3

    if not path.is_file():
        raise StoreError("the SQLite file given by --store does not exist")
    try:
        conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
    except sqlite3.Error as exc:
        raise StoreError(f"the SQLite file cannot be opened ({type(exc).__name__})") from None
    try:
        found = conn.execute(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = '_checkpoints'"
        ).fetchone()
    except sqlite3.Error as exc:
        code = getattr(exc, "sqlite_errorname", None) or type(exc).__name__
        raise StoreError(f"the file given by --store is not a readable store ({code})") from None
    finally:
        conn.close()
    return found is not None


_NO_STATE = "the store holds no sync state: nothing was synced into it (check --store and --schema)"


async def store_status(
    url: str, *, schema: str = "drchrono", resources: Iterable[str] | None = None
) -> Status:
    """The status of one store: `sqlite:///PATH` or `postgresql://...` (with `schema`)."""
    from .sync import PostgresStore, SQLiteStore

    if not isinstance(url, str) or len(url) > 4096:
        raise InvalidRequestError("--store must be sqlite:///PATH or postgresql://...")
    kind: Literal["sqlite", "postgresql"]
    if url.startswith("sqlite:///"):
        path = Path(url[len("sqlite:///") :])
        if not await asyncio.to_thread(_sqlite_has_state, path):
            raise StoreError(_NO_STATE)
        store: Any = SQLiteStore(path, read_only=True)  # reads only: a file it may not write
        kind = "sqlite"
    elif url.startswith(("postgresql://", "postgres://")):
        store = PostgresStore(url, schema=schema)  # checks the schema name and the DSN
        if not await _relations(url, [(schema, "_checkpoints")]):
            raise StoreError(_NO_STATE)
        kind = "postgresql"
    else:
        raise InvalidRequestError("--store must be sqlite:///PATH or postgresql://...")
    async with store:
        found = await resource_statuses(store, resources)
    return Status(kind, found, time.time())


async def practice_status(
    dsn: str,
    key: str,
    *,
    schema: str | None = None,
    resources: Iterable[str] | None = None,
    window: float = 3600.0,
    freshness: FreshnessTargets | None = None,
    webhooks: bool = False,
    quota: Quota | None = None,
) -> Status:
    """The status of a fleet's practice `key`: its store, the registry's count of its calls
    this quota window (`window` seconds, the workers' `--quota-window`), and its next jobs.

    With `freshness` (the workers' targets; `webhooks`: the fleet's webhooks are on, so the
    resources they cover are swept), also each resource's freshness and the fleet's plan
    (`Status.freshness`), against `quota`'s window: a `RedisQuota`'s shared count, else
    its limit and reserve (default: 500 an hour, a 10% reserve, over `window`) with the
    registry's count of the fleet's calls (see `_status_freshness`).
    """
    from .fleet import DEFAULT_SCHEMA, FreshnessTargets, PracticeRegistry, check_practice_key
    from .sync import DEFAULT_RESOURCES, check_name

    check_practice_key(key)
    if freshness is not None and not isinstance(freshness, FreshnessTargets):
        raise InvalidRequestError("freshness must be FreshnessTargets (or None)")
    schema = DEFAULT_SCHEMA if schema is None else check_name(schema, "the registry schema")
    window = check_number(window, "window", low=1, high=86_400, kind="a number of seconds")
    chosen = _resource_names(resources)
    data = f"{schema}_p_{key}"
    wanted = [(schema, "practices"), (schema, "procrastinate_jobs"), (data, "_checkpoints")]
    found = await _relations(dsn, wanted)
    if wanted[0] not in found:
        raise StoreError("no fleet registry there (check --store and --schema)")
    async with PracticeRegistry(dsn, schema=schema) as registry:
        practice = await registry.get(key)
        if practice is None:
            raise InvalidRequestError(f"no practice {key} in the registry")
        names = practice.sync_resources(DEFAULT_RESOURCES)
        if chosen is not None:
            names = tuple(n for n in names if n in chosen)
        if wanted[2] in found:
            async with registry.data_store(key) as store:
                rows = await resource_statuses(store, names)
        else:  # registered, never synced: its schema is made by its first job
            rows = tuple(
                ResourceStatus(n, "never", None, None, None, 0, 0, False, None) for n in names
            )
        jobs = await _next_runs(registry, key, names) if wanted[1] in found else {}
        calls, start = await registry.usage(key, window=window)
        now = time.time()
        plan, found_by = None, dict[str, ResourceFreshness]()
        if freshness is not None:
            found_by, plan = await read_freshness(
                registry,
                key,
                names,
                freshness,
                webhooks=bool(webhooks),
                quota=quota,
                window=window,
                now=now,
            )
    rows = tuple(
        attrs.evolve(
            r,
            next_run=jobs.get(r.resource, NextRun("none")),
            freshness=found_by.get(r.resource),
        )
        for r in rows
    )
    return Status(
        "postgresql",
        rows,
        now,
        practice=key,
        active=practice.active,
        quota=QuotaSpent(True, calls, start, window),
        freshness=plan,
    )


async def _next_runs(
    registry: PracticeRegistry, key: str, resources: Sequence[str]
) -> dict[str, NextRun]:
    """From procrastinate's job table: each resource's running, due or scheduled sync."""
    from .fleet import SYNC_TASK

    locks = {f"sync:{key}:{r}": r for r in resources}  # the lock `defer_sync` gives a job

    async def run(conn: Any) -> list[tuple[Any, ...]]:
        cur = await conn.execute(
            registry.tokens_store.sql(
                "SELECT lock, status::text, extract(epoch FROM scheduled_at)::float8,"
                " scheduled_at IS NULL OR scheduled_at <= now(), args->>'attempt'"
                " FROM {s}.procrastinate_jobs WHERE task_name = %s AND lock = ANY(%s)"
                " AND status IN ('todo', 'doing') ORDER BY scheduled_at NULLS FIRST, id"
            ),
            (SYNC_TASK, list(locks)),
        )
        rows: list[tuple[Any, ...]] = await cur.fetchall()
        return rows

    out: dict[str, NextRun] = {}
    for lock, status, at, due, attempt_text in await registry.tokens_store.run(
        "read the job queue", "", run
    ):
        resource = locks.get(lock)
        if resource is None:
            continue
        attempt = 0
        if isinstance(attempt_text, str) and attempt_text.isdigit() and len(attempt_text) < 6:
            attempt = min(int(attempt_text), _MAX_ATTEMPT)
        if status == "doing":
            out[resource] = NextRun("running", None, attempt)
        elif resource not in out:  # the earliest waiting job
            when = None if due else _time(at)
            out[resource] = NextRun("queued" if due else "scheduled", when, attempt)
    return out
