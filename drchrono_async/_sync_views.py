"""What `drchrono-async sync` shows while it runs: a live table on a terminal, or plain log
lines (text or JSON) for cron and containers, and the quota line both share.

Calls are counted per resource as they are made, so the resources' calls add up to the
run's, and the run's to the quota's count of this hour when this process is its only user;
with a `RedisQuota` the quota line shows the application's shared count, read from Redis.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from typing import Any

from ._cli_log import emit

__all__ = ["LiveView", "PlainView", "QuotaLine", "backfill_eta"]

_RUNNING = ("running", "pending")


class QuotaLine:
    """`quota 120/500 this hour, resets in 42m10s; 118 calls this run; backfill ~40 calls
    left, within this hour`."""

    def __init__(self, client: Any) -> None:
        self._client = client
        self._shared: Any = None  # the application's snapshot, read from Redis
        self.shared = hasattr(client.quota, "fetch_snapshot")

    async def refresh(self) -> None:
        """Read the shared count from Redis (a `RedisQuota`); the last one stays on failure."""
        quota = self._client.quota
        if self.shared:
            with contextlib.suppress(Exception):  # shown stale rather than failing the run
                self._shared = await quota.fetch_snapshot()

    def line(self, reports: dict[str, Any]) -> str:
        quota = self._client.quota
        calls = sum(r.calls for r in reports.values())
        if quota is None:
            return f"no quota scheduler; {calls} calls this run"
        snap = self._shared if self._shared is not None else quota.snapshot()
        reset = max(0.0, snap.resets_at - self._client.clock.now())
        whose = " (the application's, all processes)" if self.shared else ""
        line = (
            f"quota {snap.used}/{snap.limit} this hour{whose}, resets in {int(reset // 60)}m"
            f"{int(reset % 60):02d}s; {calls} calls this run"
        )
        backfills = [r for r in reports.values() if r.mode == "backfill" and r.status in _RUNNING]
        if backfills:
            known = [r.calls_left for r in backfills]
            if any(k is None for k in known):
                line += "; backfill: calls left unknown (pages out of date order)"
            else:
                left = sum(k for k in known if k is not None)
                line += "; backfill " + backfill_eta(left, snap.remaining, snap.limit, reset)
        return line


def backfill_eta(calls_left: int, remaining: int, limit: int, reset_in: float) -> str:
    """`~N calls left, done in about ...` at one quota hour per `limit` calls."""
    if calls_left <= remaining or limit <= 0:
        return f"~{calls_left} calls left, within this hour"
    # What this hour has left goes now; the rest at `limit` an hour from the reset on.
    seconds = reset_in + (calls_left - remaining) / limit * 3600
    h, m = divmod(int(seconds // 60), 60)
    return f"~{calls_left} calls left, about {h}h{m:02d}m at this quota"


class PlainView:
    """A line per finished resource, and a progress line every `every` seconds while pages
    arrive (quota pauses in between are logged by the quota itself: start, why, end)."""

    def __init__(
        self,
        quota: QuotaLine,
        fmt: str,
        *,
        every: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._quota = quota
        self._fmt = fmt
        self._every = every
        self._clock = clock
        self._reports: dict[str, Any] = {}
        self._last = clock()

    def __enter__(self) -> PlainView:
        return self

    def __exit__(self, *exc: object) -> None:
        pass

    def update(self, report: Any) -> None:
        self._reports[report.resource] = report
        if report.status not in _RUNNING:
            emit(
                self._fmt,
                f"{report.resource}: {report.status} ({report.mode or '-'}) records="
                f"{report.records} written={report.written} unchanged={report.unchanged} "
                f"deleted={report.deleted} pages={report.pages} calls={report.calls}"
                + (f" {report.reason}" if report.reason else ""),
                event="resource",
                resource=report.resource,
                status=report.status,
                mode=report.mode,
                records=report.records,
                written=report.written,
                unchanged=report.unchanged,
                deleted=report.deleted,
                pages=report.pages,
                calls=report.calls,
                reason=report.reason,
            )
        now = self._clock()
        if self._every and now - self._last >= self._every:
            self._last = now
            self.progress()

    def progress(self) -> None:
        """One line: resources done, those running (calls, calls left), the quota line."""
        reports = self._reports.values()
        done = sum(1 for r in reports if r.status not in _RUNNING)
        running = [r for r in reports if r.status == "running"]
        parts = [
            f"{r.resource} {r.mode} {r.pages} pages {r.calls} calls"
            + (f" ~{r.calls_left} left" if r.calls_left is not None else "")
            for r in running[:3]
        ]
        more = f" and {len(running) - 3} more" if len(running) > 3 else ""
        emit(
            self._fmt,
            f"progress: {done} resources done; running: {', '.join(parts) or 'none'}{more}; "
            + self._quota.line(self._reports),
            event="progress",
            done=done,
            running=[r.resource for r in running],
            calls=sum(r.calls for r in reports),
            records=sum(r.records for r in reports),
            written=sum(r.written for r in reports),
            unchanged=sum(r.unchanged for r in reports),
        )

    def done(self, report: Any) -> None:
        if self._fmt == "json":
            emit(
                self._fmt,
                "run finished",
                event="run",
                complete=report.complete,
                skipped=[r.resource for r in report.skipped],
                records=report.records,
                written=report.written,
                unchanged=report.unchanged,
                deleted=report.deleted,
                calls=report.calls,
                seconds=round(report.seconds, 1),
            )
        else:
            print(report.table(), flush=True)


class LiveView:
    """A rich table per resource (records, rows written and unchanged, pages, calls, calls
    left) and the quota line."""

    def __init__(self, quota: QuotaLine) -> None:
        from rich.console import Console
        from rich.live import Live

        self._quota = quota
        self._reports: dict[str, Any] = {}
        self._console = Console()
        self._live = Live(console=self._console, refresh_per_second=4, transient=False)

    def __enter__(self) -> LiveView:
        self._live.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._live.stop()

    def update(self, report: Any) -> None:
        self._reports[report.resource] = report
        self._live.update(self._table())

    def progress(self) -> None:
        self._live.update(self._table())

    def done(self, report: Any) -> None:
        self._live.update(self._table())

    def _table(self) -> Any:
        from rich.table import Table

        table = Table(title="drchrono-async sync", caption=self._quota.line(self._reports))
        for column in ("resource", "status", "mode"):
            table.add_column(column)
        for column in ("records", "written", "unchanged", "pages", "calls", "left"):
            table.add_column(column, justify="right")
        for r in self._reports.values():
            left = "" if r.calls_left is None else f"~{r.calls_left}"
            counts = (r.records, r.written, r.unchanged, r.pages, r.calls)
            table.add_row(r.resource, r.status, r.mode, *map(str, counts), left)
        return table
