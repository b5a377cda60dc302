"""A resource's sync state: the typed, versioned checkpoint kept beside its rows.

The store holds it as a JSON object written in the same transaction as each page. It is
read and written here only, through a cattrs converter, and carries `version`; a row written
by an older version is migrated on load (as dlt keeps `_state_version` and migrates), so a
sync interrupted before an upgrade resumes after it. A row that cannot be read at all (hand
edited, truncated by a tool) is not trusted: the resource starts over with a warning, which
costs calls but never data, since every write is an upsert.

Version 1 (before checkpoints had a version): the same fields as version 2, without `version`,
chains holding `pages` and `reached` only once a page had arrived, `restarted` only once set.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any, Literal

import attrs
import cattrs

from ..errors import StoreError

__all__ = ["VERSION", "Chain", "Checkpoint", "ListingState", "Mode", "RunRecord", "dump", "load"]

logger = logging.getLogger("drchrono_async.sync")

VERSION = 2
Mode = Literal["backfill", "incremental", "full", "reconcile"]


@attrs.define
class Chain:
    """One stream of pages of a listing: a `date_range` window, or the whole listing.

    `params`: the listing's query (filters and page size). `next`: the last page's `next`
    link, from which a resumed chain continues. `restarted`: the server refused a saved link
    once and the chain was listed again from its start. `pages`, `reached` (the latest
    date a backfill chain's pages reached, ISO), `first` (the earliest date they showed),
    `ordered` (False once a page went back in time: dates then tell nothing) and `count`
    (the records the server said the listing holds, if it did) feed the estimate of calls
    left (`_estimate`).
    """

    params: dict[str, Any]
    next: str | None = None
    done: bool = False
    restarted: bool = False
    pages: int = 0
    reached: str | None = None
    first: str | None = None
    ordered: bool = True
    count: int | None = None


@attrs.define
class ListingState:
    """A listing in progress. `start`: the server's time when its first page was asked for
    (None until then). `fresh`: not resumed after a stop (only then are ids missing from it
    taken for vanished)."""

    kind: Mode
    chains: list[Chain]
    start: float | None = None
    fresh: bool = True
    verbose: bool = False  # asked with verbose=true (fewer records a page, every key)

    @property
    def resumed(self) -> bool:
        return self.start is not None or any(c.next or c.done for c in self.chains)


@attrs.define
class RunRecord:
    """How the resource's last run ended, for `status` and monitoring: when (server epoch
    seconds), its outcome (`Outcome` value), the error's type name if any, its calls, the
    records it fetched and what it did with them (`ResourceReport`'s counts; 0 in a record
    an older release wrote)."""

    finished_at: float
    outcome: str
    error: str | None = None
    calls: int = 0
    records: int = 0
    # When it last ended done (complete or up to date): the copy was current then.
    done_at: float | None = None
    written: int = 0
    unchanged: int = 0
    deleted: int = 0


@attrs.define
class Checkpoint:
    """A resource's state between runs (times in server epoch seconds).

    `watermark`: the practice-local time to list from with `since` next (see `_watermark`).
    `listing`: the listing in progress, if any. `backfilled`, `full_at`, `reconciled_at`:
    when the backfill, the last full listing and the last reconciliation completed.
    `verbose`: the rows held were listed with verbose=true (a copy made without it is
    listed again in full when verbose is asked for).
    """

    version: int = VERSION
    watermark: str | None = None
    listing: ListingState | None = None
    backfilled: bool = False
    full_at: float | None = None
    reconciled_at: float | None = None
    verbose: bool = False
    last_run: RunRecord | None = None


_converter = cattrs.Converter(forbid_extra_keys=False)


def _from_v1(raw: dict[str, Any]) -> dict[str, Any]:
    # Version 1 stored the same fields; only the version is new. Its chains lack the keys
    # they had not set yet, which the classes default.
    return {**raw, "version": 2}


# version -> the step that turns a row of that version into one of the next.
MIGRATIONS: dict[int, Callable[[dict[str, Any]], dict[str, Any]]] = {1: _from_v1}


def load(resource: str, raw: Mapping[str, Any] | None) -> Checkpoint:
    """The stored checkpoint of `resource` as a `Checkpoint` (a new one for None)."""
    if raw is None:
        return Checkpoint()
    data = dict(raw)
    version = data.get("version", 1)
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        return _unreadable(resource)
    if version > VERSION:
        # Written by a newer release: reading it here could lose what it knows.
        raise StoreError(
            f"the checkpoint of {resource} was written by a newer drchrono-async "
            f"(version {version}, this one reads up to {VERSION}); upgrade to resume it"
        )
    while version < VERSION:
        data = MIGRATIONS[version](data)
        version = data["version"]
    try:
        return _converter.structure(data, Checkpoint)
    except (cattrs.BaseValidationError, TypeError, ValueError, KeyError):
        return _unreadable(resource)


def dump(checkpoint: Checkpoint) -> dict[str, Any]:
    """The JSON object a store keeps."""
    out: dict[str, Any] = _converter.unstructure(checkpoint)
    return out


def _unreadable(resource: str) -> Checkpoint:
    logger.warning(
        "sync: the checkpoint of %s cannot be read; the resource starts over (its rows stay)",
        resource,
    )
    return Checkpoint()
