"""A fleet of sync workers on a PostgreSQL-backed job queue (procrastinate).

Each (practice, resource) sync is a job; any number of `drchrono-async worker` processes,
on any machines, share the queue, one `RedisQuota` and the practices' tokens. Needs the
`fleet` extra: `pip install 'drchrono-async[fleet]'`.
"""

from .._status import practice_status
from ._app import (
    EVERY as EVERY_MINUTES,
)
from ._app import (
    SYNC_TASK,
    FleetConfig,
    build_app,
    defer_sync,
    ensure_schema,
    recover_stalled,
    schedule_all,
)
from ._freshness import CLASS_TARGETS, WEBHOOK_RESOURCES, FreshnessTargets
from ._freshness_state import load_states
from ._registry import (
    DEFAULT_SCHEMA,
    Practice,
    PracticeRegistry,
    check_practice,
    check_practice_key,
)
from ._runner import FleetRuntime, Outcome, SliceResult
from ._scheduler import (
    Budget,
    Feasibility,
    Late,
    Plan,
    PlannedSync,
    PollState,
    observe_slice,
    period_of,
    plan,
)
from ._tick import TickLog, budget_of, freshness_tick, plan_fleet
from ._webhooks import FleetWebhooks, webhook_app
from ._worker import run_worker

__all__ = [
    "CLASS_TARGETS",
    "DEFAULT_SCHEMA",
    "EVERY_MINUTES",
    "SYNC_TASK",
    "WEBHOOK_RESOURCES",
    "Budget",
    "Feasibility",
    "FleetConfig",
    "FleetRuntime",
    "FleetWebhooks",
    "FreshnessTargets",
    "Late",
    "Outcome",
    "Plan",
    "PlannedSync",
    "PollState",
    "Practice",
    "PracticeRegistry",
    "SliceResult",
    "TickLog",
    "budget_of",
    "build_app",
    "check_practice",
    "check_practice_key",
    "defer_sync",
    "ensure_schema",
    "freshness_tick",
    "load_states",
    "observe_slice",
    "period_of",
    "plan",
    "plan_fleet",
    "practice_status",
    "recover_stalled",
    "run_worker",
    "schedule_all",
    "webhook_app",
]
