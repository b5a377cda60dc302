"""The `drchrono-async` command.

Subcommands:
  login      sign a practice in: authorize in a browser, save its first token
  demo       sync an in-process emulator's practice into SQLite, then prove it equal
  sync       copy a practice into SQLite and keep it current (`--emulator` needs nothing)
  emulator   serve a local DrChrono emulator over HTTP until interrupted
  practices  register the practices a fleet syncs (PostgreSQL)
  worker     run a fleet worker: sync jobs from a PostgreSQL queue, one shared Redis quota
  status     is my copy current? each resource's last sync, rows and next run (no API call)

Every duration flag takes `30s`, `15m`, `1h`, `1d`, and a bare number is seconds (see
`_cli_args`); every `--help` shows the defaults and the command's exit codes.
"""

from __future__ import annotations

import argparse
import asyncio
import errno
import sys
from collections.abc import Callable, Sequence

from ._cli_args import Parser, VersionAction, duration
from ._cli_exit import epilog

__all__ = ["build_parser", "main"]


def build_parser() -> argparse.ArgumentParser:
    """The argument parser, one subparser per subcommand."""
    parser = Parser(
        prog="drchrono-async",
        description="Tools around the DrChrono v4 API client. Durations: 30s, 15m, 1h, 1d "
        "(a bare number is seconds), in every command.",
    )
    parser.add_argument("--version", action=VersionAction)
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    emu = commands.add_parser(
        "emulator",
        help="serve a local DrChrono emulator over HTTP",
        description="Serve an in-memory DrChrono v4 API on loopback until Ctrl-C.",
        epilog=epilog(0, 2),
    )
    emu.add_argument("--host", default="127.0.0.1", help="address to bind")
    emu.add_argument("--port", type=int, default=8765, help="port (0: any free port)")
    emu.add_argument("--seed", type=int, default=0, help="seed of the practice's data")
    emu.add_argument(
        "--quota", type=int, default=500, help="calls per clock hour (see --quota-scope)"
    )
    emu.add_argument(
        "--quota-scope",
        choices=("application", "token"),
        default="application",
        help="whom the quota counts: the application, all tokens together (the default, as "
        "the live service), or each access token apart",
    )
    emu.add_argument(
        "--quota-window",
        type=duration(low=1, high=86_400),
        default="1h",
        metavar="DURATION",
        help="the quota's window, shortened for tests and benchmarks",
    )
    emu.add_argument(
        "--practices",
        type=int,
        default=1,
        help="practices to host, each seeded on its own with its own token (default 1)",
    )
    emu.add_argument(
        "--latency",
        type=duration(high=60),
        default="0s",
        metavar="DURATION",
        help="added to every answer, e.g. 0.05s",
    )
    emu.add_argument(
        "--size",
        action="append",
        default=[],
        metavar="ENDPOINT=N",
        help="records to seed for an endpoint, e.g. --size appointments=100000 (repeatable; "
        "default: the seed's own sizes)",
    )
    emu.set_defaults(run=_run_emulator)

    demo = commands.add_parser(
        "demo",
        help="sync an in-process emulator's practice into SQLite and prove it equal",
        description="Backfill an in-process emulator's practice into demo.db, let the "
        "practice change, sync again with a handful of calls, and compare every resource "
        "(rows and checksums) with the emulator. No credentials needed.",
        epilog=epilog(0, 1, 2, 10, 11),
    )
    demo.add_argument("--seed", type=int, default=1, help="seed of the practice's data")
    demo.add_argument(
        "--db",
        default="demo.db",
        help="the SQLite file (default demo.db); "
        "an existing file is replaced only if the demo made it",
    )
    demo.add_argument(
        "--overwrite", action="store_true", help="replace --db even if the demo did not make it"
    )
    demo.set_defaults(run=_run_demo)

    from ._login_cli import add_parser as add_login

    add_login(commands)
    from ._sync_cli import add_parser as add_sync

    add_sync(commands)
    from ._fleet_cli import add_parsers as add_fleet

    add_fleet(commands)
    from ._status_cli import add_parser as add_status

    add_status(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    run: Callable[[argparse.Namespace], int] = args.run
    return run(args)


def _parse_sizes(items: Sequence[str]) -> dict[str, int]:
    sizes = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not value.strip().isdigit() or len(value.strip()) > 9:
            shown = item if len(item) <= 80 and item.isprintable() else "(unreadable)"
            raise SystemExit(f"drchrono-async emulator: --size wants ENDPOINT=N, not {shown!r}")
        sizes[name.strip()] = int(value)
    return sizes


def _run_emulator(args: argparse.Namespace) -> int:
    from drchrono_async.errors import InvalidRequestError
    from drchrono_async.testing import Emulator

    try:
        emulator = Emulator(
            seed=args.seed,
            quota=args.quota,
            quota_window=args.quota_window,
            latency=args.latency,
            sizes=_parse_sizes(args.size),
            practices=args.practices,
            quota_scope=args.quota_scope,
        )
    except InvalidRequestError as exc:
        raise SystemExit(f"drchrono-async emulator: {exc}") from None

    async def serve() -> None:
        async with emulator.serve(host=args.host, port=args.port) as url:
            print(f"DrChrono emulator at {url}", flush=True)
            # Practice 0's credentials first, as they always were printed.
            print(f"  access token:  {emulator.access_token}")
            print(f"  refresh token: {emulator.refresh_token}")
            print(f"  client id:     {emulator.client_id}")
            print(f"  client secret: {emulator.client_secret}")
            print(f"  redirect uri:  {emulator.redirect_uri}")
            per = "hour" if args.quota_window == 3600 else f"{args.quota_window:g} s"
            print(f"  quota:         {emulator.quota} calls per {per} per {emulator.quota_scope}")
            # One line per practice: "practice <i> token <access> refresh <refresh>".
            for practice in emulator.practices:
                print(
                    f"practice {practice.index} token {practice.access_token} "
                    f"refresh {practice.refresh_token}"
                )
            print("Ctrl-C to stop.", flush=True)
            await asyncio.Event().wait()

    try:
        asyncio.run(serve())
    except KeyboardInterrupt:
        print("stopped", file=sys.stderr)
    except OSError as exc:  # binding: the port in use, an address not of this machine
        why = {errno.EADDRINUSE: "is in use", errno.EACCES: "needs privileges"}.get(
            exc.errno or 0, f"cannot be bound ({type(exc).__name__})"
        )
        print(
            f"drchrono-async emulator: {args.host}:{args.port} {why} (give another --port, or "
            "0 for any free one)",
            file=sys.stderr,
        )
        return 2
    return 0


def _run_demo(args: argparse.Namespace) -> int:
    from ._cli_exit import exit_for
    from ._demo import demo
    from .errors import DrChronoError

    try:  # a missing or read-only directory: the store's StoreOpenError, one line
        equal = asyncio.run(demo(seed=args.seed, path=args.db, overwrite=args.overwrite))
    except DrChronoError as exc:
        code, line = exit_for(exc)
        print(f"drchrono-async demo: {line}", file=sys.stderr)
        return code
    return 0 if equal else 1


if __name__ == "__main__":
    sys.exit(main())
