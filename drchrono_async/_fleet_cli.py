"""`drchrono-async practices ...` and `drchrono-async worker`: run a fleet of sync workers.

Secrets never go in `ps` output by default: `--access-token` also reads
`$DRCHRONO_ACCESS_TOKEN` when given as `-`; the OAuth app comes from `DRCHRONO_CLIENT_ID`,
`DRCHRONO_CLIENT_SECRET` and `DRCHRONO_REDIRECT_URI`.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import sys
from typing import Any

from .errors import DrChronoError, InvalidRequestError

__all__ = ["add_parsers"]

_FAR_FUTURE = 253_402_300_799.0  # 9999-12-31: a fixed token has no expiry to go by


def add_parsers(commands: Any) -> None:
    """Add `practices` and `worker` to the CLI's subcommands."""
    practices = commands.add_parser(
        "practices",
        help="register the practices a fleet of workers syncs",
        description="The practices registry, in the PostgreSQL store's registry schema.",
    )
    verbs = practices.add_subparsers(dest="verb", metavar="VERB", required=True)
    add = verbs.add_parser("add", help="register a practice and its token")
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
    listing = verbs.add_parser("list", help="the registered practices")
    _store_args(listing)
    listing.set_defaults(run=_run, action=_list)
    remove = verbs.add_parser("remove", help="deactivate a practice (its data is kept)")
    remove.add_argument("key")
    _store_args(remove)
    remove.set_defaults(run=_run, action=_remove)

    worker = commands.add_parser(
        "worker",
        help="run a fleet worker: sync jobs from the PostgreSQL queue",
        description="Run sync jobs from the queue in PostgreSQL, taking permits from the "
        "shared Redis quota. Run as many as you like, on any machines.",
    )
    _store_args(worker)
    worker.add_argument("--redis", help="redis://... of the shared quota (not with --migrate)")
    worker.add_argument(
        "--quota-key",
        default=None,
        help="the quota's Redis key (default drchrono:quota:<client id>)",
    )
    worker.add_argument("--quota-limit", type=int, default=500, help="calls per hour")
    worker.add_argument(
        "--quota-window",
        type=float,
        default=3600.0,
        metavar="SECONDS",
        help="the quota's window: 3600 (shorter only against an emulator "
        "run with the same --quota-window)",
    )
    worker.add_argument(
        "--quota-reserve",
        type=float,
        default=0.1,
        metavar="FRACTION",
        help="share of each window held for interactive callers (default 0.1)",
    )
    worker.add_argument(
        "--quota-release",
        type=float,
        default=None,
        metavar="SECONDS",
        help="seconds before the window's end at which background work may "
        "spend the reserve (default: the window's last 60th, 60 s of an hour)",
    )
    worker.add_argument("--concurrency", type=int, default=4, help="jobs at once (default 4)")
    worker.add_argument(
        "--every",
        type=int,
        default=15,
        help="minutes between scheduled syncs of everything (default 15; 0: "
        "none, only the pass queued when a worker starts)",
    )
    worker.add_argument(
        "--slice-pages",
        type=int,
        default=20,
        help="pages a job writes before yielding to other practices",
    )
    worker.add_argument(
        "--max-wait",
        type=float,
        default=30.0,
        help="seconds to wait for a permit before deferring to the reset",
    )
    worker.add_argument("--heartbeat", type=float, default=10.0, help="seconds")
    worker.add_argument(
        "--stalled-after",
        type=float,
        default=60.0,
        help="seconds without a heartbeat before a worker counts as dead",
    )
    worker.add_argument(
        "--poll", type=float, default=1.0, help="seconds between looks for due jobs (default 1)"
    )
    worker.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        help="log each job (practice, resource, outcome) and the queue's events",
    )
    worker.add_argument(
        "--migrate",
        action="store_true",
        help="create the queue's tables and exit (workers also do it)",
    )
    from ._metrics_cli import add_arguments as add_metrics

    add_metrics(worker)
    worker.set_defaults(run=_run, action=_worker)


def _store_args(parser: Any) -> None:
    parser.add_argument("--store", required=True, help="postgresql://... (the fleet's database)")
    parser.add_argument(
        "--schema", default="drchrono_fleet", help="the registry schema (default drchrono_fleet)"
    )


def _run(args: argparse.Namespace) -> int:
    if not args.store.startswith(("postgresql://", "postgres://")):
        print("drchrono-async: --store must be postgresql://...", file=sys.stderr)
        return 2
    try:
        code: int = asyncio.run(args.action(args))
        return code
    except DrChronoError as exc:
        print(f"drchrono-async {args.command}: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


def _oauth_app(base_url: str) -> Any:
    from .oauth import OAuthApp

    names = ("DRCHRONO_CLIENT_ID", "DRCHRONO_CLIENT_SECRET", "DRCHRONO_REDIRECT_URI")
    values = [os.environ.get(n) for n in names]
    if not all(values):
        return None
    cid, secret, redirect = (str(v) for v in values)
    return OAuthApp(cid, secret, redirect, base_url=base_url)


async def _add(args: argparse.Namespace) -> int:
    from .fleet import PracticeRegistry
    from .fleet._registry import check_practice
    from .oauth import FileTokenStore, Token

    auth = "fixed" if args.access_token is not None else "oauth"
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

    from ._metrics_cli import serving as serving_metrics
    from .fleet import FleetConfig, build_app, ensure_schema, run_worker

    # Job lines name the practice key and resource only: no token, no record content.
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(asctime)s %(name)s %(levelname)s %(message)s",
    )
    config = FleetConfig(
        args.store,
        schema=args.schema,
        every=args.every,
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
    try:
        import redis.asyncio as aioredis
    except ImportError:
        raise InvalidRequestError(
            "worker needs redis: pip install 'drchrono-async[fleet]'"
        ) from None
    from .ratelimit import RedisQuota

    # The quota is the application's: every worker of one client id shares its key.
    client_id = os.environ.get("DRCHRONO_CLIENT_ID") or "default"
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
            window=args.quota_window,
            reserve=args.quota_reserve,
            reserve_release=args.quota_release,
        )
        if not 0.05 <= args.poll <= 60:
            raise InvalidRequestError("--poll must be 0.05 to 60 seconds")
        with serving_metrics(args, quota):
            await run_worker(
                config, quota, concurrency=args.concurrency, oauth=oauth, poll=args.poll
            )
    finally:
        await redis.aclose()
        if oauth is not None:
            await oauth.aclose()
    return 0


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
