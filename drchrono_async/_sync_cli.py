"""`drchrono-async sync`: keep a database in step with a practice, with progress.

Credentials never go on the command line by default (other users of the machine can read
it): the access token comes from `DRCHRONO_ACCESS_TOKEN`; with `--oauth`, the app's id and
secret from `DRCHRONO_CLIENT_ID` / `DRCHRONO_CLIENT_SECRET` / `DRCHRONO_REDIRECT_URI`, and the
token from the store's own token table (or `--token-file`).

SIGINT or SIGTERM lets every resource finish the page it is writing (one transaction), then
exits 0; a second signal stops at once. `kill -9` loses nothing either: the database holds
whole pages with their checkpoints, and the next run resumes from them.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import re
import signal
import sys
import time
from collections.abc import AsyncIterator
from typing import Any

from .errors import DrChronoError, InvalidRequestError, StoreLockedError

__all__ = ["EXIT_LOCKED", "add_parser", "backfill_eta", "open_store", "parse_every"]

# Another sync holds the store's lock (sysexits' EX_TEMPFAIL: try again later).
EXIT_LOCKED = 75

_EVERY = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*$")
_UNITS = {"": 1.0, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86_400.0}


def add_parser(commands: Any) -> None:
    """Add `sync` to the CLI's subcommands."""
    sync = commands.add_parser(
        "sync",
        help="copy a practice into SQLite or PostgreSQL and keep it current",
        description="Backfill, then sync incrementally, every endpoint listable without a "
        "per-patient fan-out (or those given with --resource).",
    )
    sync.add_argument(
        "--store",
        default="sqlite:///drchrono.db",
        help="sqlite:///PATH or postgresql://... (default sqlite:///drchrono.db)",
    )
    sync.add_argument(
        "--schema",
        default="drchrono",
        help="with a postgresql:// store: its schema (default drchrono)",
    )
    cred = sync.add_mutually_exclusive_group()
    cred.add_argument("--access-token", help="a fixed token (default: $DRCHRONO_ACCESS_TOKEN)")
    cred.add_argument(
        "--oauth",
        action="store_true",
        help="refresh the token as needed ($DRCHRONO_CLIENT_ID, ..._SECRET, "
        "..._REDIRECT_URI; the token in the store, or --token-file)",
    )
    cred.add_argument(
        "--emulator",
        action="store_true",
        help="sync an in-process emulator's practice (no credentials)",
    )
    sync.add_argument(
        "--scopes",
        default=None,
        metavar="'A B ...'",
        help="with --access-token: the scopes it was granted (resources needing "
        "others are skipped and reported, not mistaken for empty)",
    )
    sync.add_argument("--token-file", help="with --oauth: a JSON token file (mode 0600)")
    sync.add_argument(
        "--base-url",
        default="https://drchrono.com",
        help="the API's origin (default https://drchrono.com)",
    )
    sync.add_argument(
        "--resource",
        action="append",
        default=None,
        metavar="NAME",
        help="an endpoint to sync, e.g. appointments (repeatable)",
    )
    sync.add_argument(
        "--verbose",
        action="append",
        default=None,
        metavar="NAME",
        help="list NAME with verbose=true (repeatable; 'all' or 'none'); default: every "
        "resource with keys only verbose listings send (vitals, insurances, note values...)",
    )
    sync.add_argument(
        "--no-verbose",
        action="append",
        default=None,
        metavar="NAME",
        help="list NAME without verbose=true: five times fewer calls for its backfill, "
        "without its verbose keys (repeatable)",
    )
    sync.add_argument(
        "--every",
        type=parse_every,
        default=None,
        metavar="DURATION",
        help="keep running, one sync every DURATION (e.g. 1h, 30m)",
    )
    sync.add_argument("--seed", type=int, default=1, help="with --emulator: the practice's seed")
    sync.add_argument("--timezone", default="UTC", help="the practice's IANA timezone")
    sync.add_argument("--plain", action="store_true", help="log lines instead of a live display")
    sync.add_argument(
        "--wait-lock",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="while another sync of the same store runs, wait up to SECONDS "
        f"for it (default 0: exit {EXIT_LOCKED} at once)",
    )
    from ._metrics_cli import add_arguments as add_metrics

    add_metrics(sync)
    sync.set_defaults(run=run)


def parse_every(text: str) -> float:
    """`90s`, `30m`, `1h`, `1d` or plain seconds, as seconds (at least 1)."""
    match = _EVERY.match(text)
    if not match or float(match.group(1)) * _UNITS[match.group(2)] < 1:
        raise argparse.ArgumentTypeError("a duration like 90s, 30m, 1h or 1d")
    return float(match.group(1)) * _UNITS[match.group(2)]


def open_store(url: str, *, schema: str = "drchrono") -> Any:
    """A `SyncStore` for `sqlite:///path` or `postgresql://...` (not yet opened)."""
    from .sync import PostgresStore, SQLiteStore

    if url.startswith("sqlite:///"):
        return SQLiteStore(url[len("sqlite:///") :])
    if url.startswith(("postgresql://", "postgres://")):
        return PostgresStore(url, schema=schema)
    raise InvalidRequestError("--store must be sqlite:///PATH or postgresql://...")


def run(args: argparse.Namespace) -> int:
    try:
        return asyncio.run(_main(args))
    except StoreLockedError as exc:
        print(f"drchrono-async sync: {exc}", file=sys.stderr)
        return EXIT_LOCKED
    except DrChronoError as exc:
        print(f"drchrono-async sync: {exc}", file=sys.stderr)
        return 2


async def _main(args: argparse.Namespace) -> int:
    from ._metrics_cli import serving as serving_metrics
    from .sync import Syncer

    store = open_store(args.store, schema=args.schema)
    await store.open()
    try:
        async with _client(args, store) as client:
            live = not args.plain and sys.stdout.isatty() and _has_rich()
            view = _LiveView(client) if live else _PlainView()
            syncer = Syncer(
                client,
                store,
                resources=args.resource,
                progress=view.update,
                granted_scopes=args.scopes,
                wait_lock=args.wait_lock,
                verbose=_verbose_choice(args),
            )
            stop = _Signals(syncer)
            with stop, view, serving_metrics(args, client.quota):
                while True:
                    plan = await syncer.plan()
                    verbose = [i for i in plan.items if i.verbose and i.calls]
                    if verbose:
                        print(
                            "plan: verbose listings (all keys, smaller pages): "
                            + ", ".join(f"{i.resource} {i.calls} calls" for i in verbose),
                            file=sys.stderr,
                            flush=True,
                        )
                    print(
                        f"plan: at least {plan.calls} calls, {plan.quota_hours} quota hour(s)",
                        file=sys.stderr,
                        flush=True,
                    )
                    report = await syncer.run()
                    view.done(report)
                    _not_copied()
                    if args.every is None or stop.requested:
                        break
                    if await stop.wait(args.every):
                        break
            return 0 if report.complete or stop.requested else 1
    finally:
        await store.aclose()


@contextlib.asynccontextmanager
async def _client(args: argparse.Namespace, store: Any) -> AsyncIterator[Any]:
    from . import DrChronoClient
    from .oauth import FileTokenStore, OAuthApp

    if args.emulator:
        from .testing import Emulator

        emulator = Emulator(seed=args.seed, timezone=args.timezone)
        async with emulator.client(timezone=args.timezone) as client:
            yield client
        return
    if args.oauth:
        # The token store first: if it cannot be made, no app is left open behind it.
        tokens = FileTokenStore(args.token_file) if args.token_file else store.token_store()
        app = OAuthApp(
            _env("DRCHRONO_CLIENT_ID"),
            _env("DRCHRONO_CLIENT_SECRET"),
            _env("DRCHRONO_REDIRECT_URI"),
            base_url=args.base_url,
        )
        async with (
            app,
            DrChronoClient(
                oauth=app, token_store=tokens, base_url=args.base_url, timezone=args.timezone
            ) as client,
        ):
            yield client
        return
    token = args.access_token or os.environ.get("DRCHRONO_ACCESS_TOKEN")
    if not token:
        raise InvalidRequestError(
            "give --access-token, $DRCHRONO_ACCESS_TOKEN, --oauth or --emulator"
        )
    async with DrChronoClient(token, base_url=args.base_url, timezone=args.timezone) as client:
        yield client


def _has_rich() -> bool:
    import importlib.util

    return importlib.util.find_spec("rich") is not None  # the `cli` extra


def _env(name: str) -> str:
    value = os.environ.get(name)
    if not value:
        raise InvalidRequestError(f"--oauth needs ${name}")
    return value


class _Signals:
    """First SIGINT/SIGTERM: stop after the current pages. Second: cancel at once."""

    def __init__(self, syncer: Any) -> None:
        self._syncer = syncer
        self.requested = False
        self._event = asyncio.Event()
        self._task = asyncio.current_task()

    def __enter__(self) -> _Signals:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, self._on_signal)
        return self

    def __exit__(self, *exc: object) -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)

    def _on_signal(self) -> None:
        if self.requested and self._task is not None:
            self._task.cancel()
        self.requested = True
        self._syncer.stop()
        self._event.set()
        print("stopping after the pages being written (again to stop at once)", file=sys.stderr)

    async def wait(self, seconds: float) -> bool:
        """Sleep between runs; True when a signal came meanwhile."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._event.wait(), seconds)
        return self.requested


class _PlainView:
    """One log line per finished resource; for logs and pipes."""

    def __enter__(self) -> _PlainView:
        return self

    def __exit__(self, *exc: object) -> None:
        pass

    def update(self, report: Any) -> None:
        if report.status not in ("running", "pending"):
            print(
                f"{time.strftime('%H:%M:%S')} {report.resource}: {report.status} "
                f"({report.mode or '-'}) records={report.records} pages={report.pages} "
                f"calls={report.calls}" + (f" {report.reason}" if report.reason else ""),
                flush=True,
            )

    def done(self, report: Any) -> None:
        print(report.table(), flush=True)


class _LiveView:
    """A rich table per resource (records, pages, calls) and the quota line."""

    def __init__(self, client: Any) -> None:
        from rich.console import Console
        from rich.live import Live

        self._client = client
        self._reports: dict[str, Any] = {}
        self._console = Console()
        self._live = Live(console=self._console, refresh_per_second=4, transient=False)

    def __enter__(self) -> _LiveView:
        self._live.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._live.stop()

    def update(self, report: Any) -> None:
        self._reports[report.resource] = report
        self._live.update(self._table())

    def done(self, report: Any) -> None:
        self._live.update(self._table())

    def _table(self) -> Any:
        from rich.table import Table

        table = Table(title="drchrono-async sync", caption=self._quota_line())
        for column in ("resource", "status", "mode"):
            table.add_column(column)
        for column in ("records", "pages", "calls"):
            table.add_column(column, justify="right")
        for r in self._reports.values():
            table.add_row(r.resource, r.status, r.mode, str(r.records), str(r.pages), str(r.calls))
        return table

    def _quota_line(self) -> str:
        quota = self._client.quota
        if quota is None:
            return "no quota scheduler"
        snap = quota.snapshot()
        reset = max(0.0, snap.resets_at - self._client.clock.now())
        calls = sum(r.calls for r in self._reports.values())
        known = [r.calls_left for r in self._reports.values() if r.calls_left is not None]
        line = (
            f"quota {snap.used}/{snap.limit} this hour, resets in {int(reset // 60)}m"
            f"{int(reset % 60):02d}s; {calls} calls this run"
        )
        if known:
            line += "; backfill " + backfill_eta(sum(known), snap.remaining, snap.limit, reset)
        return line


def backfill_eta(calls_left: int, remaining: int, limit: int, reset_in: float) -> str:
    """`~N calls left, done in about ...` at one quota hour per `limit` calls."""
    if calls_left <= remaining or limit <= 0:
        return f"~{calls_left} calls left, within this hour"
    # What this hour has left goes now; the rest at `limit` an hour from the reset on.
    seconds = reset_in + (calls_left - remaining) / limit * 3600
    h, m = divmod(int(seconds // 60), 60)
    return f"~{calls_left} calls left, about {h}h{m:02d}m at this quota"


def _verbose_choice(args: argparse.Namespace) -> bool | list[str] | None:
    """`Syncer(verbose=...)` from --verbose and --no-verbose (None: the default set)."""
    from ._endpoints import BY_NAME
    from .sync import DEFAULT_RESOURCES, default_verbose

    names = args.resource or list(DEFAULT_RESOURCES)
    asked, refused = args.verbose or [], args.no_verbose or []
    for name in (*asked, *refused):
        if name not in ("all", "none") and name not in names:
            raise InvalidRequestError(
                f"--verbose/--no-verbose: {name} is not a resource of this sync"
            )
    if not asked and not refused:
        return None
    if "all" in asked:
        chosen = {n for n in names if BY_NAME[n].verbose_keys or BY_NAME[n].sync_verbose}
    elif "none" in asked:
        chosen = set()
    else:
        chosen = {n for n in names if default_verbose(BY_NAME[n])}
    chosen |= {n for n in asked if n not in ("all", "none")}
    chosen -= set(refused)
    return sorted(chosen)


def _not_copied() -> None:
    """The endpoints no sync copies, and why (after the run's table)."""
    from ._endpoints import ENDPOINTS
    from .sync import not_synced

    for endpoint in ENDPOINTS:
        reason = not_synced(endpoint)
        if reason is not None:
            print(f"not copied: {endpoint.name}: {reason}", flush=True)
