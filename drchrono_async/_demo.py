"""`drchrono-async demo` (`make demo`): the main job, on an in-process emulator, no credentials.

1. a practice is backfilled into SQLite (`demo.db`), with a line per resource;
2. the practice's staff change, create and delete some records;
3. a second run picks up exactly those, with one call per incremental resource;
4. a table proves the database equals the emulator: per resource, the live rows and a
   checksum of every payload on both sides.

Virtual time: the hour's burst spacing and any 429 pause are skipped, not slept.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path

from ._endpoints import ENDPOINTS
from .errors import InvalidRequestError, StoreOpenError
from .sync import (
    ResourceReport,
    SQLiteStore,
    Syncer,
    SyncReport,
    not_synced,
)
from .testing import Emulator, Practice, VirtualClock

__all__ = ["demo", "emulator_checksum"]

Out = Callable[[str], None]


def emulator_checksum(
    emulator: Emulator | Practice, resource: str, *, verbose: bool | None = None
) -> tuple[int, str]:
    """Live rows of an emulator's practice 0, or of one practice (as a sync lists them:
    verbosely where it does by default, not soft-deleted) and their checksum: the digest of
    `SyncStore.checksum`, SHA-256 over (key, canonical JSON) by key."""
    practice = emulator.practice(0) if isinstance(emulator, Emulator) else emulator
    return practice.checksum(resource, verbose=verbose)


def emulator_deleted(emulator: Emulator, resource: str) -> int:
    """How many records of `resource` the API lists as deleted or archived."""
    return len(emulator.practice(0).expected(resource)[1])


# A table only the demo makes: a file holding it is the demo's own, safe to start afresh.
MARKER = "_drchrono_async_demo"


def made_by_demo(db: Path) -> bool:
    """Whether `db` is a SQLite file the demo made (read only; never changes it)."""
    try:
        conn = sqlite3.connect(f"{db.resolve().as_uri()}?mode=ro", uri=True)
    except (sqlite3.Error, OSError):
        return False
    try:
        found = conn.execute(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (MARKER,)
        ).fetchone()
    except sqlite3.Error:  # not a database at all
        return False
    finally:
        conn.close()
    return found is not None


def _start_afresh(db: Path, overwrite: bool) -> None:
    if (db.exists() or db.is_symlink()) and not (overwrite or made_by_demo(db)):
        raise InvalidRequestError(
            f"{db} exists and was not made by the demo: refusing to replace it "
            "(give another --db, or --overwrite to replace it)"
        )
    for stale in (db, db.with_name(db.name + "-wal"), db.with_name(db.name + "-shm")):
        try:
            stale.unlink()  # a fresh backfill every time
        except (FileNotFoundError, NotADirectoryError):
            pass  # nothing there (a missing directory: the store's open says so)
        except PermissionError:
            raise StoreOpenError(
                f"the store's directory {db.parent} is read-only: {stale.name} could not be"
                " replaced",
                kind="read_only",
            ) from None


def _mark(db: Path) -> None:
    """Mark the file the store just made (0600) as the demo's."""
    with sqlite3.connect(db) as conn:
        conn.execute(f"CREATE TABLE {MARKER} (made_at TEXT)")
    conn.close()


async def demo(
    *, seed: int = 1, path: str | Path = "demo.db", out: Out = print, overwrite: bool = False
) -> bool:
    """Run the demo; returns True when the database equals the emulator everywhere.

    An existing file at `path` is replaced only when the demo made it (or `overwrite`);
    anything else is refused with `InvalidRequestError`, untouched.
    """
    db = Path(path)
    _start_afresh(db, overwrite)
    emulator = Emulator(seed=seed, clock=VirtualClock())
    # The store makes the file (mode 0600: patient data), or says why it cannot
    # (`StoreOpenError`: a missing or read-only directory...).
    async with emulator.client() as client, SQLiteStore(db) as store:
        _mark(db)
        syncer = Syncer(client, store, progress=_progress(out))
        out(f"1. backfilling the emulator's practice (seed {seed}) into {db}")
        first = await syncer.run()
        _summary(out, first)
        emulator.clock.advance(3600)  # type: ignore[attr-defined]
        out("2. the practice at work: appointments and patients changed, created, deleted")
        await emulator.activity.run(changes=5, creates=3, deletes=2, resources=["appointments"])
        await emulator.activity.run(changes=4, creates=2, deletes=0, resources=["patients"])
        emulator.clock.advance(60)  # type: ignore[attr-defined]
        out("3. the second run picks up only what changed")
        second = await syncer.run()
        _summary(out, second)
        out("4. the database against the emulator")
        equal = await _compare(out, emulator, store, [r.resource for r in first.resources])
    out("the database equals the emulator" if equal else "MISMATCH: see the table above")
    return equal and first.complete and second.complete


def _progress(out: Out) -> Callable[[ResourceReport], None]:
    def show(r: ResourceReport) -> None:
        if r.status not in ("running", "pending") and r.records:
            out(
                f"   {r.resource:<28} {r.mode:<11} {r.records:>6} records {r.pages:>4} pages "
                f"{r.calls:>4} calls"
            )

    return show


def _summary(out: Out, report: SyncReport) -> None:
    state = "complete" if report.complete else "INCOMPLETE"
    current = sum(1 for r in report.resources if r.status == "up to date")
    out(
        f"   {state}: {report.records} records, {report.calls} calls, "
        f"{current} resources up to date"
    )


async def _compare(out: Out, emulator: Emulator, store: SQLiteStore, resources: list[str]) -> bool:
    """Per resource: live rows and their checksum on both sides, and the records the API
    lists as deleted, each of which must be marked deleted in the database (which also
    keeps, marked, the records that vanished from the API altogether)."""
    out(f"   {'resource':<28} {'live':>6} {'db live':>7} {'deleted':>7} {'db del.':>7}  checksum")
    equal = True
    for resource in resources:
        rows, digest = emulator_checksum(emulator, resource)
        gone = emulator.practice(0).expected(resource)[1]
        held = await store.count(resource)
        held_gone = await store.count(resource, deleted=True)
        marked = [await store.is_deleted(resource, key) for key in sorted(gone)]
        mine = await store.checksum(resource)
        same = rows == held and digest == mine and all(marked)
        equal &= same
        if rows or held or gone or held_gone:
            out(
                f"   {resource:<28} {rows:>6} {held:>7} {len(gone):>7} {held_gone:>7}  "
                f"{digest[:12]} {'equal' if same else 'DIFFERENT ' + mine[:12]}"
            )
    skipped = [e for e in ENDPOINTS if not_synced(e)]
    out(f"   not copied ({len(skipped)} endpoints):")
    for endpoint in skipped:
        out(f"     {endpoint.name}: {not_synced(endpoint)}")
    return equal
