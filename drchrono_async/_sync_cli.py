"""`drchrono-async sync`: keep a database in step with a practice, with progress.

Credentials never go on the command line by default (other users of the machine can read
it): the access token comes from `DRCHRONO_ACCESS_TOKEN`; with `--oauth`, the app's id and
secret from `DRCHRONO_CLIENT_ID` / `DRCHRONO_CLIENT_SECRET` / `DRCHRONO_REDIRECT_URI`, and the
token from the store's own token table (or `--token-file`).

SIGINT or SIGTERM lets every resource finish the page it is writing (one transaction), then
exits 0; a second signal stops at once. `kill -9` loses nothing either: the database holds
whole pages with their checkpoints, and the next run resumes from them.

Every failure ends in one line and an exit code of its kind (`_cli_exit`): a refused token
after one call, an unreachable server after the first resource's retries, and each store
setup mistake (missing directory, read-only, locked, PostgreSQL's three) before anything
is sent.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import sys
from collections.abc import AsyncIterator
from typing import Any

from . import _cli_exit as ex
from ._cli_args import add_quota_args, check_names, duration, format_duration
from ._cli_exit import EXIT_LOCKED, CommandError, epilog, exit_for
from ._cli_log import FORMATS, emit, setup_logging
from ._cli_store import open_checked, open_store
from ._sync_views import backfill_eta
from .errors import AuthenticationError, DrChronoError, InvalidRequestError

__all__ = [
    "EXIT_LOCKED",
    "CommandError",
    "add_parser",
    "add_quota_args",
    "backfill_eta",
    "open_checked",
    "open_store",
    "parse_every",
]

# `--every`: a bare number is seconds, as in every duration flag (see _cli_args).
parse_every = duration(low=1)
_CODES = (0, 1, 2, 3, 4, 5, 10, 11, 12, 13, 14, 15, 16, 75, 130)


def add_parser(commands: Any) -> None:
    """Add `sync` to the CLI's subcommands."""
    sync = commands.add_parser(
        "sync",
        help="copy a practice into SQLite or PostgreSQL and keep it current",
        description="Backfill, then sync incrementally, every endpoint listable without a "
        "per-patient fan-out (or those given with --resource). Durations: 30s, 15m, 1h, 1d "
        "(a bare number is seconds).",
        epilog=epilog(*_CODES),
    )
    sync.add_argument(
        "--store",
        default="sqlite:///drchrono.db",
        help="sqlite:///PATH or postgresql://...",
    )
    sync.add_argument("--schema", default="drchrono", help="with a postgresql:// store: its schema")
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
    sync.add_argument("--base-url", default="https://drchrono.com", help="the API's origin")
    sync.add_argument(
        "--resource",
        action="append",
        default=None,
        metavar="NAME",
        help="an endpoint to sync, e.g. appointments (repeatable; default: every one a "
        "sync copies)",
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
        help="keep running, one sync every DURATION, e.g. 1h or 15m (default: once)",
    )
    sync.add_argument(
        "--strict",
        action="store_true",
        help="exit 5 when a resource was skipped for its scope (default: reported, exit 0)",
    )
    sync.add_argument("--seed", type=int, default=1, help="with --emulator: the practice's seed")
    sync.add_argument("--timezone", default="UTC", help="the practice's IANA timezone")
    sync.add_argument(
        "--plain",
        action="store_true",
        help="log lines instead of a live display (the default when not on a terminal)",
    )
    sync.add_argument("--log-format", choices=FORMATS, default="text", help="log lines as")
    sync.add_argument(
        "--progress-every",
        type=duration(zero=True, low=1),
        default="30s",
        metavar="DURATION",
        help="with plain lines: a progress line at most this often while pages arrive (0: none)",
    )
    sync.add_argument(
        "--wait-lock",
        type=duration(),
        default="0s",
        metavar="DURATION",
        help="while another sync of the same store runs, wait up to DURATION "
        f"for it (default 0: exit {EXIT_LOCKED} at once)",
    )
    add_quota_args(sync, redis=True)
    sync.add_argument(
        "--shards",
        type=int,
        default=1,
        help="cut a first backfill's past into N windows listed at once (a one-record probe "
        "finds where records begin; each window costs at least a call): for wall time, "
        "when the quota is not the limit",
    )

    from ._metrics_cli import add_arguments as add_metrics

    add_metrics(sync)
    sync.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    setup_logging(args.log_format)
    try:
        return asyncio.run(_main(args))
    except DrChronoError as exc:
        code, line = exit_for(exc)
        print(f"drchrono-async sync: {line}", file=sys.stderr)
        return code
    except KeyboardInterrupt:  # Ctrl-C before the signal handlers were set
        return ex.EXIT_INTERRUPTED


async def _main(args: argparse.Namespace) -> int:
    from ._metrics_cli import serving as serving_metrics
    from .sync import DEFAULT_RESOURCES, Syncer

    if args.resource is not None:
        try:
            check_names(args.resource, DEFAULT_RESOURCES)
        except ValueError as exc:
            raise InvalidRequestError(str(exc)) from None
    verbose = _verbose_choice(args)
    store = await open_checked(args.store, args.schema)
    try:
        async with _client(args, store) as client:
            from ._sync_views import LiveView, PlainView, QuotaLine

            quota = QuotaLine(client)
            tty = sys.stdout.isatty() and args.log_format == "text"
            view: Any
            if tty and not args.plain and _has_rich():
                view = LiveView(quota)
            else:
                view = PlainView(quota, args.log_format, every=args.progress_every)
            syncer = Syncer(
                client,
                store,
                resources=args.resource,
                granted_scopes=args.scopes,
                wait_lock=args.wait_lock,
                verbose=verbose,
                shards=args.shards,
                progress=view.update,
            )
            redraw = view.progress if isinstance(view, LiveView) else None
            with serving_metrics(args, client.quota):
                return await _loop(args, syncer, view, quota, redraw)
    finally:
        await store.aclose()


async def _loop(args: argparse.Namespace, syncer: Any, view: Any, quota: Any, redraw: Any) -> int:
    stop = _Signals(syncer)
    refresher = asyncio.create_task(_refresh(quota, redraw))
    code = ex.EXIT_OK
    try:
        with stop, view:
            while True:
                _plan_line(args.log_format, await syncer.plan())
                report = await syncer.run()
                view.done(report)
                _not_copied(args.log_format)
                code = _exit_code(report, strict=args.strict)
                if report.halted is not None:
                    _, line = exit_for(report.halted)
                    print(f"drchrono-async sync: {line}", file=sys.stderr, flush=True)
                    # A refused token needs a person; a server away may come back.
                    if args.every is None or isinstance(report.halted, AuthenticationError):
                        return code
                if args.every is None or stop.requested:
                    break
                emit(args.log_format, f"next sync in {args.every:g} s", event="wait")
                if await stop.wait(args.every):
                    break
    finally:
        refresher.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await refresher
    return ex.EXIT_OK if stop.requested else code


def _exit_code(report: Any, *, strict: bool) -> int:
    if report.halted is not None:
        return exit_for(report.halted)[0]
    if report.complete:
        return ex.EXIT_OK
    if report.complete_but_skipped:  # only skipped for scope: reported, not a failure
        return ex.EXIT_SKIPPED if strict else ex.EXIT_OK
    return ex.EXIT_INCOMPLETE


async def _refresh(quota: Any, redraw: Any) -> None:
    """Read the application's shared quota from Redis every few seconds (a `RedisQuota`)."""
    while quota.shared:
        await quota.refresh()
        if redraw is not None:
            redraw()
        await asyncio.sleep(5)


def _plan_line(fmt: str, plan: Any) -> None:
    verbose = [i for i in plan.items if i.verbose and i.calls]
    if verbose:
        emit(
            fmt,
            "plan: verbose listings (all keys, smaller pages): "
            + ", ".join(f"{i.resource} {i.calls} calls" for i in verbose),
            event="plan-verbose",
        )
    first = [i.resource for i in plan.items if i.mode == "backfill" and i.estimate is None]
    head = f"plan: at least {plan.calls} calls"
    if plan.expected > plan.calls:
        head = f"plan: about {plan.expected} calls (at least {plan.calls})"
    if first:
        head += " (a first backfill's size shows with its first pages: the API gives no count)"
    rate = ""
    if plan.rate and plan.seconds >= 1:  # the spacing's floor, when it is worth saying
        rate = f", at least {format_duration(round(plan.seconds))} at {plan.rate:g} calls/s"
    per = f" at {plan.limit}/h" if plan.limit else ""
    emit(
        fmt,
        f"{head}, {plan.quota_hours} quota hour(s){per}{rate}",
        event="plan",
        calls=plan.calls,
        expected=plan.expected,
        quota_hours=plan.quota_hours,
        limit=plan.limit,
        rate=plan.rate,
        burst=plan.burst,
        shards=plan.shards,
        seconds=round(plan.seconds, 1),
    )


def _quota(args: argparse.Namespace, clock: Any) -> tuple[Any, Any]:
    """The client's quota from --quota-limit, --rate, --burst (and --redis), and the Redis
    client to close after it (None without --redis)."""
    from .ratelimit import HourlyQuota, RedisQuota

    knobs = {"limit": args.quota_limit, "rate": args.rate, "burst": args.burst, "clock": clock}
    if not args.redis:
        return HourlyQuota(**knobs), None
    try:
        import redis.asyncio as aioredis
    except ImportError:
        raise InvalidRequestError("--redis needs the redis extra: pip install "
                                  "'drchrono-async[redis]'") from None  # fmt: skip
    client_id = os.environ.get("DRCHRONO_CLIENT_ID")
    if not (client_id or args.quota_key):
        raise InvalidRequestError("--redis needs $DRCHRONO_CLIENT_ID or --quota-key")
    try:
        redis = aioredis.Redis.from_url(args.redis)
    except ValueError:
        raise InvalidRequestError("--redis is not a redis:// URL") from None
    # (A bad knob raises before any connection is made: nothing is left open.)
    return RedisQuota(redis, client_id=client_id, key=args.quota_key, **knobs), redis


@contextlib.asynccontextmanager
async def _client(args: argparse.Namespace, store: Any) -> AsyncIterator[Any]:
    """The API client (and its quota's Redis connection, closed after it)."""
    from .ratelimit import SystemClock

    clock: Any = SystemClock()
    emulator = None
    if args.emulator:
        from .testing import Emulator

        emulator = Emulator(seed=args.seed, timezone=args.timezone)
        clock = emulator.clock
    quota, redis = _quota(args, clock)
    try:
        async with _open_client(args, store, quota, emulator) as client:
            yield client
    finally:
        if redis is not None:
            await redis.aclose()


@contextlib.asynccontextmanager
async def _open_client(
    args: argparse.Namespace, store: Any, quota: Any, emulator: Any
) -> AsyncIterator[Any]:
    from . import DrChronoClient
    from .oauth import FileTokenStore, OAuthApp

    if emulator is not None:
        async with emulator.client(timezone=args.timezone, quota=quota) as client:
            yield client
        return
    options = {"base_url": args.base_url, "timezone": args.timezone, "quota": quota}
    if args.oauth:
        # The token store first: if it cannot be made, no app is left open behind it.
        tokens = FileTokenStore(args.token_file) if args.token_file else store.token_store()
        app = OAuthApp(
            _env("DRCHRONO_CLIENT_ID"),
            _env("DRCHRONO_CLIENT_SECRET"),
            _env("DRCHRONO_REDIRECT_URI"),
            base_url=args.base_url,
        )
        async with app, DrChronoClient(oauth=app, token_store=tokens, **options) as client:
            yield client
        return
    token = args.access_token or os.environ.get("DRCHRONO_ACCESS_TOKEN")
    if not token:
        raise InvalidRequestError(
            "give --access-token, $DRCHRONO_ACCESS_TOKEN, --oauth or --emulator"
        )
    async with DrChronoClient(token, **options) as client:
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


def _verbose_choice(args: argparse.Namespace) -> bool | list[str] | None:
    """`Syncer(verbose=...)` from --verbose and --no-verbose (None: the default set)."""
    from ._endpoints import BY_NAME
    from .sync import DEFAULT_RESOURCES, default_verbose

    names = args.resource or list(DEFAULT_RESOURCES)
    asked, refused = args.verbose or [], args.no_verbose or []
    for flag, given in (("--verbose", asked), ("--no-verbose", refused)):
        try:
            check_names(
                (n for n in given if n not in ("all", "none")),
                names,
                flag=flag,
                what="a resource of this sync",
            )
        except ValueError as exc:
            raise InvalidRequestError(str(exc)) from None
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


def _not_copied(fmt: str) -> None:
    """The endpoints no sync copies, and why (after the run's table)."""
    from ._endpoints import ENDPOINTS
    from .sync import not_synced

    for endpoint in ENDPOINTS:
        reason = not_synced(endpoint)
        if reason is not None:
            if fmt == "json":
                emit(fmt, f"not copied: {endpoint.name}", event="not-copied", reason=reason)
            else:
                print(f"not copied: {endpoint.name}: {reason}", flush=True)
