"""`drchrono-async status`: is my copy current? Read from the store, never from the API.

Loaded when the parser is built: the standard library only at the top; the store, the
fleet and rich when the command runs.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from .errors import DrChronoError

__all__ = ["EXIT_CURRENT", "EXIT_ERROR", "EXIT_NOT_CURRENT", "add_parser", "run"]

EXIT_CURRENT = 0
EXIT_NOT_CURRENT = 1
EXIT_ERROR = 2

_EPILOG = """\
exit status:
  0  every resource's last run ended done (skipped for scope counts unless --strict),
     within --max-age when given
  1  a resource failed, stopped, was held by the quota, was never synced, or is older
     than --max-age
  2  the store or the registry could not be read, or a bad argument

--json prints one object (version 1; the README's "Operating" section lists its keys);
times are Unix epoch seconds. Nothing here calls the API or needs a token."""


def add_parser(commands: Any) -> None:
    """Add `status` to the CLI's subcommands."""
    from ._sync_cli import parse_every  # the one duration syntax of the command line

    status = commands.add_parser(
        "status",
        help="is my copy current? each resource's last sync, rows and next run",
        description="Per resource: the last complete sync, the watermark, rows live and\n"
        "deleted, failing or incomplete resources and why, a listing in progress, the next\n"
        "scheduled run and the quota spent this window (the last two for a fleet practice);\n"
        "with --freshness, each resource's freshness under the fleet's targets (its period,\n"
        "the copy's age, behind or not) and whether the targets fit the quota.",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    status.add_argument(
        "--store",
        default="sqlite:///drchrono.db",
        help="sqlite:///PATH or postgresql://...; with --practice the fleet's database "
        "(default sqlite:///drchrono.db)",
    )
    status.add_argument(
        "--schema",
        default=None,
        help="the PostgreSQL schema: the store's (default drchrono), or with --practice "
        "the registry's (default drchrono_fleet)",
    )
    status.add_argument("--practice", metavar="KEY", help="a fleet practice, by its key")
    status.add_argument(
        "--resource",
        action="append",
        default=None,
        metavar="NAME",
        help="report NAME only (repeatable; default: every resource the store has synced, "
        "or the practice's resources)",
    )
    status.add_argument(
        "--max-age",
        type=parse_every,
        default=None,
        metavar="DURATION",
        help="also exit 1 when a resource's last complete sync is older (e.g. 2h; "
        "default: no limit)",
    )
    status.add_argument(
        "--strict", action="store_true", help="a resource skipped for its scope counts too"
    )
    status.add_argument(
        "--quota-window",
        type=parse_every,
        default=3600.0,
        metavar="DURATION",
        help="with --practice: the workers' quota window (default 3600 s)",
    )
    from ._freshness_cli import add_arguments as add_freshness

    add_freshness(
        status,
        spec_help="with --practice: also each resource's freshness under these targets (the "
        "workers' --freshness: NAME=DURATION,... or 'on') and whether the fleet's targets fit "
        "the quota (default: not shown)",
        sweep_help="with --freshness: the workers' --sweep (default 6h)",
    )
    status.add_argument(
        "--webhooks",
        action="store_true",
        help="with --freshness: the fleet's webhooks are on (the workers run with --webhooks), "
        "so the resources they cover show as swept",
    )
    status.add_argument(
        "--quota-limit",
        type=int,
        default=500,
        metavar="N",
        help="with --freshness: the workers' --quota-limit, calls per window (default 500)",
    )
    status.add_argument(
        "--quota-reserve",
        type=float,
        default=0.1,
        metavar="FRACTION",
        help="with --freshness: the workers' --quota-reserve (default 0.1)",
    )
    shown = status.add_mutually_exclusive_group()
    shown.add_argument("--json", action="store_true", help="print JSON (a stable shape)")
    shown.add_argument(
        "--plain", action="store_true", help="plain text even on a terminal (default: a table)"
    )
    status.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    import asyncio
    import json

    from ._freshness_cli import targets_from
    from ._status import practice_status, store_status

    try:
        targets = targets_from(args)
        if targets is not None and args.practice is None:
            print(
                "drchrono-async status: --freshness needs --practice (the planner's state is "
                "a fleet's)",
                file=sys.stderr,
            )
            return EXIT_ERROR
        if args.practice is not None:
            if not args.store.startswith(("postgresql://", "postgres://")):
                print(
                    "drchrono-async status: --practice needs --store postgresql://... "
                    "(the fleet's database)",
                    file=sys.stderr,
                )
                return EXIT_ERROR
            status = asyncio.run(
                practice_status(
                    args.store,
                    args.practice,
                    schema=args.schema,
                    resources=args.resource,
                    window=args.quota_window,
                    freshness=targets,
                    webhooks=args.webhooks,
                    quota=None if targets is None else _quota(args),
                )
            )
        else:
            status = asyncio.run(
                store_status(args.store, schema=args.schema or "drchrono", resources=args.resource)
            )
    except DrChronoError as exc:
        print(f"drchrono-async status: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        return 130
    options = {"strict": args.strict, "max_age": args.max_age}
    if args.json:
        print(json.dumps(status.to_json(**options), indent=2))
    elif not args.plain and sys.stdout.isatty() and _has_rich():
        _rich(status, **options)
    else:
        print(plain(status, **options))
    return EXIT_CURRENT if status.is_current(**options) else EXIT_NOT_CURRENT


def _quota(args: argparse.Namespace) -> Any:
    """The workers' quota as their flags give it (its limit, window and reserve; its count
    is the registry's)."""
    from .ratelimit import HourlyQuota

    return HourlyQuota(args.quota_limit, window=args.quota_window, reserve=args.quota_reserve)


def _has_rich() -> bool:
    import importlib.util

    return importlib.util.find_spec("rich") is not None  # the `cli` extra


# -- words ------------------------------------------------------------------------------------


def ago(seconds: float) -> str:
    """`45s`, `12m`, `3h05m`, `2d04h`."""
    s = max(0, int(seconds))
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m"
    if s < 86_400:
        return f"{s // 3600}h{s % 3600 // 60:02d}m"
    return f"{s // 86_400}d{s % 86_400 // 3600:02d}h"


def _utc(epoch: float) -> str:
    import time

    return time.strftime("%Y-%m-%d %H:%M:%SZ", time.gmtime(epoch))


def _row(r: Any, now: float) -> list[str]:
    last = "-" if r.last_done_at is None else f"{ago(now - r.last_done_at)} ago"
    listing = "-"
    if r.listing is not None:
        listing = (
            f"{r.listing.kind} {r.listing.chains_done}/{r.listing.chains} windows, "
            f"{r.listing.pages} pages"
        )
    nxt = r.next_run
    when = {
        "unknown": "not known",
        "none": "next periodic pass",
        "queued": "queued, due now",
        "running": "running now",
        "scheduled": "scheduled",
    }[nxt.state]
    if nxt.state == "scheduled" and nxt.at is not None:
        when = f"in {ago(nxt.at - now)}" if nxt.at > now else "due now"
    if nxt.attempt:
        when += f" (retry {nxt.attempt})"
    return [
        r.resource,
        r.state,
        last,
        r.watermark or "-",
        str(r.live),
        str(r.deleted),
        listing,
        when,
        r.reason,
    ]


_HEAD = ["resource", "state", "last complete", "watermark", "live", "deleted", "listing", "next"]


def _title(status: Any) -> str:
    if status.practice is None:
        return f"drchrono-async status: {status.store} store"
    state = "active" if status.active else "removed from the registry"
    return f"drchrono-async status: practice {status.practice} ({state})"


def _quota_line(status: Any) -> str:
    q = status.quota
    if not q.known:
        return "quota: calls this hour not known for a single store (the API counts them)"
    since = "" if q.window_start is None else f" (window from {_utc(q.window_start)})"
    return f"quota: {q.calls} calls this window{since}, counted by the registry"


def _verdict(status: Any, strict: bool, max_age: float | None) -> str:
    now = status.checked_at
    behind = [
        r for r in status.resources if not r.is_current(strict=strict, max_age=max_age, now=now)
    ]
    if not status.resources:
        return "NOT CURRENT: no resource has been synced (exit 1)"
    if not behind:
        return f"current: {len(status.resources)} resource(s), each last run done"
    return f"NOT CURRENT: {len(behind)} of {len(status.resources)} resource(s) (exit 1)"


def plain(status: Any, *, strict: bool = False, max_age: float | None = None) -> str:
    """The plain-text report: a header, a line per resource, the quota and the verdict."""
    rows = [_row(r, status.checked_at) for r in status.resources]
    widths = [max([len(h)] + [len(row[i]) for row in rows]) for i, h in enumerate(_HEAD)]
    right = {4, 5}  # counts

    def line(cells: list[str]) -> str:
        parts = [
            c.rjust(widths[i]) if i in right else c.ljust(widths[i])
            for i, c in enumerate(cells[: len(_HEAD)])
        ]
        why = cells[len(_HEAD)] if len(cells) > len(_HEAD) else ""
        return ("  ".join(parts) + (f"  {why}" if why else "")).rstrip()

    out = [_title(status), line([*_HEAD, "why"]), *(line(row) for row in rows)]
    out += [_quota_line(status), *_freshness_plain(status), _verdict(status, strict, max_age)]
    return "\n".join(out)


# -- freshness (with --freshness) ---------------------------------------------------------------

_FRESH_HEAD = ["resource", "kind", "target", "period", "age", "behind", "missed"]
_KINDS = {"poll": "poll", "sweep": "sweep", "backfill": "backfill pending"}
_SOURCES = {
    "quota": "the shared quota's count",
    "registry": "the registry's count of the fleet's sync calls",
    "none": "the registry counted none this window: taken as 0",
}


def _span(seconds: float) -> str:
    """A target or period: `5m`, `6h`, `1d` when whole, else as `ago` (`8m`, `3h05m`)."""
    from ._cli_args import format_duration

    whole = round(seconds)
    return format_duration(whole) if whole % 60 == 0 and whole == seconds else ago(seconds)


def _fresh_row(r: Any) -> list[str]:
    f = r.freshness
    behind = "-" if f.behind is None else ("BEHIND" if f.behind else "no")
    return [
        r.resource,
        _KINDS[f.kind],
        _span(f.target),
        _span(f.period),
        "-" if f.age is None else ago(f.age),
        behind,
        str(f.missed),
    ]


def _freshness_head(status: Any) -> str:
    f = status.freshness
    hooks = "on: covered resources are swept" if f.webhooks else "off"
    return f"freshness: risk {f.risk:g}, sweep {_span(f.sweep)}, webhooks {hooks}"


def _freshness_lines(status: Any) -> list[str]:
    """The fleet's plan in two lines: the planner's verdict and the budget it assumed."""
    f = status.freshness
    b = f.budget
    return [
        f"fleet: {f.summary}",
        f"budget: {b.limit} calls per {_span(b.window)} window, {b.reserve} reserved, "
        f"{b.used} used ({_SOURCES[b.source]})",
    ]


def _freshness_plain(status: Any) -> list[str]:
    if status.freshness is None:
        return []
    rows = [_fresh_row(r) for r in status.resources if r.freshness is not None]
    widths = [max([len(h)] + [len(row[i]) for row in rows]) for i, h in enumerate(_FRESH_HEAD)]

    def line(cells: list[str]) -> str:
        return "  ".join(
            c.rjust(widths[i]) if i == 6 else c.ljust(widths[i]) for i, c in enumerate(cells)
        ).rstrip()

    return [
        _freshness_head(status),
        line(_FRESH_HEAD),
        *(line(row) for row in rows),
        *_freshness_lines(status),
    ]


def _rich(status: Any, *, strict: bool, max_age: float | None) -> None:
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    table = Table(title=_title(status), caption=_quota_line(status))
    for i, head in enumerate([*_HEAD, "why"]):
        # The resource, its state and the counts never wrap: the words around them do.
        table.add_column(
            head, justify="right" if i in (4, 5) else "left", no_wrap=i in (0, 1, 4, 5)
        )
    styles = {"done": "green", "skipped": "yellow"}
    for r in status.resources:
        # Text, never markup: no cell is read as rich's [style] syntax.
        cells = [Text(c) for c in _row(r, status.checked_at)]
        cells[1].stylize(styles.get(r.state, "red"))
        table.add_row(*cells)
    console = Console()
    console.print(table)
    if status.freshness is not None:
        fresh = Table(title=_freshness_head(status), caption="\n".join(_freshness_lines(status)))
        for i, head in enumerate(_FRESH_HEAD):
            fresh.add_column(head, justify="right" if i == 6 else "left", no_wrap=True)
        for r in status.resources:
            if r.freshness is not None:
                cells = [Text(c) for c in _fresh_row(r)]
                if r.freshness.behind:
                    cells[5].stylize("red")
                fresh.add_row(*cells)
        console.print(fresh)
    console.print(_verdict(status, strict, max_age), markup=False, highlight=False)
