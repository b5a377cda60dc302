"""`drchrono-async practices ...` and `drchrono-async worker`: run a fleet of sync workers.

Secrets never go in `ps` output by default: `--access-token` also reads
`$DRCHRONO_ACCESS_TOKEN` when given as `-`; the OAuth app comes from `DRCHRONO_CLIENT_ID`,
`DRCHRONO_CLIENT_SECRET` and `DRCHRONO_REDIRECT_URI`.

The worker logs at INFO (each job's start and end, quota pauses, the queue drained), in text
or JSON (`--log-format`); `-v` adds the library's DEBUG lines (each request: method, path,
status). Its durations take the one vocabulary (`30s`, `15m`, `1h`; a bare number is
seconds); `--every` must be a period a cron schedule repeats evenly.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import sys
from typing import Any

from ._cli_args import add_quota_args, check_names, duration, format_duration
from ._cli_exit import (
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_USAGE,
    CommandError,
    epilog,
    exit_for,
)
from ._cli_log import FORMATS, setup_logging
from .errors import DrChronoError, InvalidRequestError

__all__ = ["add_parsers", "every_minutes", "wait_for_redis"]

_STORE_CODES = (13, 14, 15, 16)

_FAR_FUTURE = 253_402_300_799.0  # 9999-12-31: a fixed token has no expiry to go by


def add_parsers(commands: Any) -> None:
    """Add `practices` and `worker` to the CLI's subcommands."""
    practices = commands.add_parser(
        "practices",
        help="register the practices a fleet of workers syncs",
        description="The practices registry, in the PostgreSQL store's registry schema.",
        epilog=epilog(0, 1, 2, *_STORE_CODES),
    )
    verbs = practices.add_subparsers(dest="verb", metavar="VERB", required=True)
    add = verbs.add_parser(
        "add",
        help="register a practice and its token",
        epilog=epilog(0, 2, *_STORE_CODES),
    )
    add.add_argument("key", help="the practice's key: [a-z][a-z0-9_]{0,31}")
    _store_args(add)
    cred = add.add_mutually_exclusive_group(required=True)
    cred.add_argument(
        "--access-token",
        metavar="T|-",
        help="a fixed token ('-': $DRCHRONO_ACCESS_TOKEN); never refreshed",
    )
    cred.add_argument("--token-file", help="a JSON token file (access and refresh token)")
    cred.add_argument(
        "--oauth-code",
        metavar="CODE",
        help="an authorization code, exchanged with the app in $DRCHRONO_CLIENT_*",
    )
    add.add_argument("--name", help="a display name (default: the key)")
    add.add_argument(
        "--replace",
        action="store_true",
        help="replace a practice already registered under KEY (its token, name, resources...)",
    )
    add.add_argument("--base-url", default="https://drchrono.com", help="the API's origin")
    add.add_argument(
        "--resource",
        action="append",
        default=None,
        metavar="NAME",
        help="an endpoint to sync (repeatable; default: every syncable one)",
    )
    add.add_argument("--timezone", default="UTC", help="the practice's IANA timezone")
    add.set_defaults(run=_run, action=_add)
    listing = verbs.add_parser(
        "list",
        help="the registered practices (tab-separated, with a header)",
        epilog=epilog(0, 2, *_STORE_CODES),
    )
    _store_args(listing)
    listing.set_defaults(run=_run, action=_list)
    remove = verbs.add_parser(
        "remove",
        help="deactivate a practice (its data is kept)",
        epilog=epilog(0, 1, 2, *_STORE_CODES),
    )
    remove.add_argument("key")
    _store_args(remove)
    remove.set_defaults(run=_run, action=_remove)

    worker = commands.add_parser(
        "worker",
        help="run a fleet worker: sync jobs from the PostgreSQL queue",
        description="Run sync jobs from the queue in PostgreSQL, taking permits from the "
        "shared Redis quota. Run as many as you like, on any machines. Durations: 30s, 15m, "
        "1h, 1d (a bare number is seconds).",
        epilog=epilog(0, 2, *_STORE_CODES, 130),
    )
    _store_args(worker)
    worker.add_argument("--redis", help="redis://... of the shared quota (not with --migrate)")
    worker.add_argument(
        "--quota-key",
        default=None,
        help="the quota's Redis key (default drchrono:quota:<client id>)",
    )
    add_quota_args(worker, redis=False)
    worker.add_argument(
        "--quota-window",
        type=duration(low=1, high=86_400),
        default="1h",
        metavar="DURATION",
        help="the quota's window: 1h (shorter only against an emulator run with the same "
        "--quota-window)",
    )
    worker.add_argument(
        "--quota-reserve",
        type=float,
        default=0.1,
        metavar="FRACTION",
        help="share of each window held for interactive callers",
    )
    worker.add_argument(
        "--quota-release",
        type=duration(high=86_400),
        default=None,
        metavar="DURATION",
        help="before the window's end, when background work may spend the reserve "
        "(default: the window's last 60th, 1m of an hour)",
    )
    worker.add_argument("--concurrency", type=int, default=4, help="jobs at once")
    worker.add_argument(
        "--every",
        type=duration(zero=True, low=1),
        default="15m",
        metavar="DURATION",
        help="between scheduled syncs of everything: a period a cron schedule repeats "
        "evenly (1m to 30m dividing an hour, or 1h to 1d dividing a day); 0: none, only "
        "the pass queued when a worker starts",
    )
    from ._freshness_cli import add_arguments as add_freshness

    add_freshness(
        worker,
        spec_help="poll by freshness, not by clock (--every is then not used): NAME=DURATION,"
        "... where NAME is a resource, a class (schedule 5m, activity 30m, record 4h, "
        "reference 1d: their defaults) or default (every resource not named); 'on' for the "
        "class defaults. Syncs are queued as their targets fall due, most behind first, "
        "within the quota; targets it cannot meet are logged with the quota that would",
        sweep_help="with --freshness and --webhooks: between safety sweeps of the resources "
        "webhooks cover, which are not polled otherwise (halved while sweeps find changes "
        "webhooks missed)",
    )
    worker.add_argument(
        "--exit-when-done",
        action="store_true",
        help="exit 0 once the queue holds no sync job (with --every 0: after one pass)",
    )
    worker.add_argument(
        "--slice-pages",
        type=int,
        default=20,
        help="pages a job writes before yielding to other practices",
    )
    worker.add_argument(
        "--shards",
        type=int,
        default=1,
        help="windows a first backfill's past is cut into, listed at once (see sync --help)",
    )
    worker.add_argument(
        "--full-every",
        type=duration(zero=True, high=366 * 86_400),
        default=None,
        metavar="DURATION",
        help="a resource without `since` (offices, doctors, medications...) is listed in full "
        "by a job only this long after its last full listing; jobs before then skip it "
        "(default: 0 with --freshness, whose planner decides when a poll is due; else 1d; 0: "
        "every job lists it)",
    )
    worker.add_argument(
        "--max-wait",
        type=duration(low=0.001, high=86_400),
        default="30s",
        metavar="DURATION",
        help="wait for a permit before deferring the job to the quota's reset",
    )
    worker.add_argument(
        "--heartbeat",
        type=duration(low=0.001, high=86_400),
        default="10s",
        metavar="DURATION",
        help="between a worker's heartbeats",
    )
    worker.add_argument(
        "--stalled-after",
        type=duration(low=0.001, high=86_400),
        default="1m",
        metavar="DURATION",
        help="without a heartbeat, a worker counts as dead and its jobs go to others; "
        "must exceed --heartbeat (default: 1m, with --heartbeat's 10s)",
    )
    worker.add_argument(
        "--poll",
        type=duration(low=0.05, high=60),
        default="1s",
        metavar="DURATION",
        help="between looks for due jobs",
    )
    worker.add_argument("--log-format", choices=FORMATS, default="text", help="log lines as")
    worker.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        help="also the library's DEBUG lines (each request: method, path, status; never "
        "a query value); jobs and quota pauses are logged at INFO without it",
    )
    worker.add_argument(
        "--migrate",
        action="store_true",
        help="create the queue's tables and exit (workers also do it)",
    )
    from ._metrics_cli import add_arguments as add_metrics

    add_metrics(worker)
    from ._webhooks_cli import add_arguments as add_webhooks

    add_webhooks(worker)
    worker.set_defaults(run=_run, action=_worker)


def _store_args(parser: Any) -> None:
    parser.add_argument("--store", required=True, help="postgresql://... (the fleet's database)")
    parser.add_argument(
        "--schema", default="drchrono_fleet", help="the registry schema (default drchrono_fleet)"
    )


def _run(args: argparse.Namespace) -> int:
    if not args.store.startswith(("postgresql://", "postgres://")):
        print("drchrono-async: --store must be postgresql://...", file=sys.stderr)
        return EXIT_USAGE
    try:
        code: int = asyncio.run(_checked(args))
        return code
    except DrChronoError as exc:
        code, line = exit_for(exc)
        print(f"drchrono-async {args.command}: {line}", file=sys.stderr)
        return code
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED


async def _checked(args: argparse.Namespace) -> int:
    """The action, once the database answers (one line, its own exit code, if not)."""
    from ._cli_store import check_postgres

    await check_postgres(args.store)
    code: int = await args.action(args)
    return code


def every_minutes(seconds: float) -> int:
    """`--every` as the fleet's minutes, or `InvalidRequestError` saying what it takes."""
    from .fleet import EVERY_MINUTES as EVERY

    minutes = seconds / 60
    if minutes.is_integer() and int(minutes) in EVERY:
        return int(minutes)
    periods = ", ".join(format_duration(m * 60) for m in EVERY if m)
    hint = ""
    if float(seconds).is_integer() and int(seconds) in EVERY:  # minutes, as --every once took
        hint = f"; a bare number is seconds: did you mean {int(seconds)}m?"
    raise InvalidRequestError(
        f"--every {format_duration(seconds)} is no period a cron schedule repeats evenly: one "
        f"of {periods}, or 0 (no schedule){hint}"
    )


async def wait_for_redis(
    redis: Any, *, sleep: Any = asyncio.sleep, first: float = 1.0, most: float = 60.0
) -> None:
    """Return once Redis answers a PING: one log line per back-off while it does not
    (doubling from `first` to `most` seconds), never a traceback."""
    import logging

    logger = logging.getLogger("drchrono_async.fleet")
    delay = first
    while True:
        try:
            await redis.ping()
            return
        except Exception as exc:  # redis-py's errors (their text may quote the URL)
            logger.warning(
                "fleet: the quota's Redis is unreachable (%s); next try in %s",
                type(exc).__name__,
                format_duration(delay),
            )
        await sleep(delay)
        delay = min(most, delay * 2)


def _oauth_app(base_url: str) -> Any:
    from .oauth import OAuthApp

    names = ("DRCHRONO_CLIENT_ID", "DRCHRONO_CLIENT_SECRET", "DRCHRONO_REDIRECT_URI")
    values = [os.environ.get(n) for n in names]
    if not all(values):
        return None
    cid, secret, redirect = (str(v) for v in values)
    return OAuthApp(cid, secret, redirect, base_url=base_url)


async def _add(args: argparse.Namespace) -> int:
    from .fleet import PracticeRegistry, check_practice
    from .oauth import FileTokenStore, Token
    from .sync import DEFAULT_RESOURCES

    auth = "fixed" if args.access_token is not None else "oauth"
    try:
        check_names(args.resource or (), DEFAULT_RESOURCES)
    except ValueError as exc:
        raise InvalidRequestError(str(exc)) from None
    # Every value is checked, and the registry reached, before a one-time code is spent.
    check_practice(
        args.key,
        name=args.name,
        base_url=args.base_url,
        resources=args.resource,
        auth=auth,
        timezone=args.timezone,
    )
    async with PracticeRegistry(args.store, schema=args.schema) as registry:
        # Before a one-time code is spent or a token replaced: a typo must not overwrite.
        existing = await registry.get(args.key)
        if existing is not None and not args.replace:
            state = "active" if existing.active else "removed, its records kept"
            raise CommandError(
                f"practice {args.key} is already registered ({state}): --replace to replace "
                "its token and settings, or another key",
                EXIT_USAGE,
            )
        if args.access_token is not None:
            value = args.access_token
            if value == "-":
                value = os.environ.get("DRCHRONO_ACCESS_TOKEN", "")
            # A fixed token has no refresh token; a random one stands in, never to be used.
            token = Token(value, secrets.token_urlsafe(24), _FAR_FUTURE)
        elif args.token_file is not None:
            loaded = await FileTokenStore(args.token_file).load()
            if loaded is None:
                raise InvalidRequestError("the token file holds no token")
            token = loaded
        else:
            app = _oauth_app(args.base_url)
            if app is None:
                raise InvalidRequestError(
                    "--oauth-code needs $DRCHRONO_CLIENT_ID, "
                    "$DRCHRONO_CLIENT_SECRET and $DRCHRONO_REDIRECT_URI"
                )
            async with app:
                token = await app.exchange_code(args.oauth_code)
        practice = await registry.add(
            args.key,
            token,
            name=args.name,
            base_url=args.base_url,
            resources=args.resource,
            auth=auth,
            timezone=args.timezone,
        )
    print(
        f"practice {practice.key} registered ({practice.auth} token), data in schema "
        f"{practice.schema}"
    )
    return 0


async def _list(args: argparse.Namespace) -> int:
    from .fleet import PracticeRegistry

    async with PracticeRegistry(args.store, schema=args.schema) as registry:
        found = await registry.practices()
    print("key\tstate\tname\tbase_url\tresources\tauth\tcreated")
    for p in found:
        resources = "all" if p.resources is None else ",".join(p.resources)
        state = "active" if p.active else "removed"
        print(
            f"{p.key}\t{state}\t{p.name}\t{p.base_url}\t{resources}\t{p.auth}\t"
            f"{p.created_at:%Y-%m-%d}"
        )
    return 0


async def _remove(args: argparse.Namespace) -> int:
    from .fleet import PracticeRegistry

    async with PracticeRegistry(args.store, schema=args.schema) as registry:
        if not await registry.remove(args.key):
            print(f"no practice {args.key}", file=sys.stderr)
            return 1
    print(f"practice {args.key} deactivated (its records are kept)")
    return 0


async def _worker(args: argparse.Namespace) -> int:
    import logging

    from ._freshness_cli import targets_from
    from ._metrics_cli import serving as serving_metrics
    from .fleet import FleetConfig, build_app, ensure_schema, run_worker

    # Job lines name the practice key and resource only: no token, no record content.
    setup_logging(
        args.log_format,
        level=logging.DEBUG if args.verbose else logging.INFO,
        loud=("procrastinate",),
    )
    if args.verbose:
        logging.getLogger("procrastinate").setLevel(logging.INFO)  # its DEBUG is per poll
    logger = logging.getLogger("drchrono_async.fleet")
    freshness = targets_from(args)
    config = FleetConfig(
        args.store,
        schema=args.schema,
        every=every_minutes(args.every),
        freshness=freshness,
        # The webhook receiver's flag, where the worker has one: its resources are swept.
        webhooks=bool(getattr(args, "webhooks", None)),
        slice_pages=args.slice_pages,
        max_wait=args.max_wait,
        heartbeat=args.heartbeat,
        stalled_after=args.stalled_after,
    )
    if args.migrate:
        created = await ensure_schema(build_app(config), config)
        print("job queue created" if created else "job queue already there")
        return 0
    if not args.redis:
        raise InvalidRequestError("worker needs --redis redis://... (the shared quota)")
    from ._webhooks_cli import listening

    hooks = listening(args)  # before Redis: no secret, or a port in use, is one line
    try:
        import redis.asyncio as aioredis
    except ImportError:
        raise InvalidRequestError(
            "worker needs redis: pip install 'drchrono-async[fleet]'"
        ) from None
    from .ratelimit import RedisQuota

    # The quota is the application's: every worker of one client id shares its key.
    client_id = os.environ.get("DRCHRONO_CLIENT_ID") or "default"
    if not os.environ.get("DRCHRONO_CLIENT_ID") and args.quota_key is None:
        logger.warning(
            "fleet: $DRCHRONO_CLIENT_ID is unset: this worker's quota key is the one of client "
            "id 'default', which workers and web backends with the client id set do not share "
            "(set it, or --quota-key, the same everywhere)"
        )
    # The OAuth variables are checked now, not at a practice's first job, and before Redis
    # is opened: the app made to check them is closed (jobs make their own, per origin).
    oauth = None
    if (probe := _oauth_app("https://drchrono.com")) is not None:
        await probe.aclose()
        oauth = _OAuthApps()
    try:
        redis = aioredis.Redis.from_url(args.redis)
    except ValueError:
        raise InvalidRequestError("--redis is not a redis:// URL") from None
    try:
        quota = RedisQuota(
            redis,
            key=args.quota_key,
            client_id=client_id,
            limit=args.quota_limit,
            rate=args.rate,
            burst=args.burst,
            window=args.quota_window,
            reserve=args.quota_reserve,
            reserve_release=args.quota_release,
        )
        await wait_for_redis(redis)
        schedule = f"every {format_duration(args.every)}" if args.every else "every 0: one pass"
        if freshness is not None:
            schedule = "by freshness" + (f", risk {freshness.risk:g}" if freshness.risk else "")
        logger.info(
            "fleet: worker started (concurrency %d, %s, quota %d/h)",
            args.concurrency,
            schedule,
            args.quota_limit,
        )
        with serving_metrics(args, quota):
            async with hooks.serving(args.store, args.schema):
                await run_worker(
                    config,
                    quota,
                    concurrency=args.concurrency,
                    oauth=oauth,
                    poll=args.poll,
                    exit_when_done=args.exit_when_done,
                    shards=args.shards,
                    full_every=args.full_every,
                )
    finally:
        hooks.close()
        await redis.aclose()
        if oauth is not None:
            await oauth.aclose()
    return EXIT_OK


class _OAuthApps:
    """One `OAuthApp` per practice origin, made on first use, closed with the worker."""

    def __init__(self) -> None:
        self._apps: dict[str, Any] = {}

    def __call__(self, base_url: str) -> Any:
        if base_url not in self._apps:
            self._apps[base_url] = _oauth_app(base_url)
        return self._apps[base_url]

    async def aclose(self) -> None:
        for app in self._apps.values():
            await app.aclose()
