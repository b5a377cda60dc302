"""What a sync run did, per resource and in all: `SyncReport` and `ResourceReport`."""

from __future__ import annotations

import enum
from typing import Literal

import attrs

from ..errors import DrChronoError
from ._store import WriteResult

__all__ = ["Mode", "Outcome", "ResourceReport", "Status", "SyncReport"]

Status = Literal["pending", "running", "complete", "incomplete", "skipped", "up to date"]
Mode = Literal["", "backfill", "incremental", "full", "reconcile"]


class Outcome(enum.Enum):
    """How a resource's part of a run ended: what a scheduler branches on.

    DONE: complete or already up to date. STOPPED: `Syncer.stop()` (resumes from its
    checkpoint). QUOTA: no permit within `max_wait`, or the API throttled it (`retry_at` says
    when a permit is expected). SKIPPED: the token may not read it (scope or a 403).
    FAILED: an error (`error_type`); it resumes from its checkpoint.
    """

    DONE = "done"
    STOPPED = "stopped"
    QUOTA = "quota"
    SKIPPED = "skipped"
    FAILED = "failed"


@attrs.define
class ResourceReport:
    """One resource's part of a run. Counts only; never record content."""

    resource: str
    status: Status = "pending"
    mode: Mode = ""
    records: int = 0  # records fetched
    # Rows inserted or changed: with `deleted`, what the run changed in the store (a safety
    # sweep's `written or deleted` is what it found that webhooks had not delivered).
    written: int = 0
    unchanged: int = 0  # rows the store already held as they are (an overlap re-listed)
    # Of `written`, rows written at the version the store held (only the payload differed:
    # verbose keys a webhook's object lacked); `written - revised` changed on the server.
    revised: int = 0
    skipped: int = 0  # rows not written: the store held a newer version
    deleted: int = 0  # rows newly marked deleted
    unkeyed: int = 0  # records without a usable id: not stored (a warning named each)
    misfits: int = 0  # column values that did not fit their column: NULL there, payload kept
    pages: int = 0
    calls: int = 0  # HTTP requests made for this resource, retries and 429s included
    seconds: float = 0.0
    # During a backfill: the calls its windows still need, estimated from how far into each
    # window's dates the pages have reached (None when there is nothing to go by).
    calls_left: int | None = None
    # Stopped by the quota: the epoch time a permit is expected for this sync's lane (for a
    # background sync held off by the interactive reserve, when the reserve is released).
    retry_at: float | None = None
    left: str = ""  # what remains for a later run, in words
    reason: str = ""  # why skipped or incomplete, in words (for people; branch on `outcome`)
    outcome: Outcome | None = None  # None while pending or running
    error_type: type[DrChronoError] | None = None  # the error that ended it (QUOTA, FAILED)

    @property
    def complete(self) -> bool:
        return self.status in ("complete", "up to date")

    def add(self, result: WriteResult) -> None:
        """Count what one store write did."""
        self.written += result.written
        self.unchanged += result.unchanged
        self.revised += result.revised
        self.skipped += result.skipped
        self.deleted += result.marked_deleted
        self.misfits += result.misfits


@attrs.frozen
class SyncReport:
    """The run: a report per resource. `complete` only when every resource is.

    `halted`: the error that stopped the whole run, when one no later call could cure
    ended it (a refused token; a server not reached before it answered anything): the
    resource that met it failed with it, and those not started yet did not start.
    """

    resources: tuple[ResourceReport, ...]
    seconds: float
    halted: DrChronoError | None = attrs.field(default=None, eq=False)

    @property
    def skipped(self) -> tuple[ResourceReport, ...]:
        """The resources skipped because the token may not read them (scope, or a 403)."""
        return tuple(r for r in self.resources if r.outcome is Outcome.SKIPPED)

    @property
    def complete_but_skipped(self) -> bool:
        """Every resource complete or up to date, except those skipped for their scope:
        all that this token may read is copied."""
        return all(r.complete or r.outcome is Outcome.SKIPPED for r in self.resources)

    @property
    def complete(self) -> bool:
        """True when every requested resource finished; a hole anywhere makes it False."""
        return all(r.complete for r in self.resources)

    @property
    def calls(self) -> int:
        return sum(r.calls for r in self.resources)

    @property
    def records(self) -> int:
        return sum(r.records for r in self.resources)

    @property
    def written(self) -> int:
        """Rows inserted or changed, all resources (see `ResourceReport.written`)."""
        return sum(r.written for r in self.resources)

    @property
    def unchanged(self) -> int:
        return sum(r.unchanged for r in self.resources)

    @property
    def deleted(self) -> int:
        return sum(r.deleted for r in self.resources)

    @property
    def calls_left(self) -> int | None:
        """Estimated calls the backfills still need (None when no resource says)."""
        known = [r.calls_left for r in self.resources if r.calls_left is not None]
        return sum(known) if known else None

    def __getitem__(self, resource: str) -> ResourceReport:
        for report in self.resources:
            if report.resource == resource:
                return report
        raise KeyError(resource)

    def table(self) -> str:
        """A plain-text table of the run, one line per resource."""
        head = f"{'resource':<28} {'status':<11} {'mode':<11} {'records':>8} {'written':>8} "
        head += f"{'unchanged':>9} {'deleted':>7} {'pages':>6} {'calls':>6} {'seconds':>8}"
        lines = [head]
        for r in self.resources:
            lines.append(
                f"{r.resource:<28} {r.status:<11} {r.mode:<11} {r.records:>8} {r.written:>8} "
                f"{r.unchanged:>9} {r.deleted:>7} {r.pages:>6} {r.calls:>6} {r.seconds:>8.1f}"
                + (f"  {r.reason}" if r.reason else "")
            )
        state = "complete" if self.complete else "INCOMPLETE"
        if not self.complete and self.complete_but_skipped:
            state = f"{len(self.skipped)} skipped"
        lines.append(
            f"{'all':<28} {state:<11} "
            f"{'':<11} {self.records:>8} {self.written:>8} {self.unchanged:>9} "
            f"{self.deleted:>7} {'':>6} {self.calls:>6} {self.seconds:>8.1f}"
        )
        return "\n".join(lines)
