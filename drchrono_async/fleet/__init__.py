"""A fleet of sync workers on a PostgreSQL-backed job queue (procrastinate).

Each (practice, resource) sync is a job; any number of `drchrono-async worker` processes,
on any machines, share the queue, one `RedisQuota` and the practices' tokens. Needs the
`fleet` extra: `pip install 'drchrono-async[fleet]'`.
"""

from .._status import practice_status
from ._app import FleetConfig, build_app, defer_sync, ensure_schema, recover_stalled, schedule_all
from ._registry import DEFAULT_SCHEMA, Practice, PracticeRegistry
from ._runner import FleetRuntime, Outcome, SliceResult
from ._webhooks import FleetWebhooks, webhook_app
from ._worker import run_worker

__all__ = [
    "DEFAULT_SCHEMA",
    "FleetConfig",
    "FleetRuntime",
    "FleetWebhooks",
    "Outcome",
    "Practice",
    "PracticeRegistry",
    "SliceResult",
    "build_app",
    "defer_sync",
    "ensure_schema",
    "practice_status",
    "recover_stalled",
    "run_worker",
    "schedule_all",
    "webhook_app",
]
