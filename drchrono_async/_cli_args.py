"""What every `drchrono-async` command shares: one duration vocabulary, help that shows
every default, `--version`, and resource names checked with the bad one named.

Standard library only: `drchrono-async --help` builds every parser and must stay fast.

Durations: `30s`, `15m`, `1h`, `1d` (decimals too: `1.5h`), and a bare number is seconds,
in every flag of every command. Seconds because every duration flag but one (`worker
--every`, minutes until now) and every duration argument of the library already were, as are
`sleep(1)` and `timeout(1)`: one flag changes meaning instead of eight, and the one that did
refuses what it no longer means (`worker --every 15` is 15 s, which no cron schedule repeats:
"did you mean 15m?") instead of silently running every 15 seconds.
"""

from __future__ import annotations

import argparse
import difflib
import math
import re
from collections.abc import Callable, Iterable, Sequence
from typing import Any

__all__ = [
    "HelpFormatter",
    "Parser",
    "add_quota_args",
    "check_names",
    "duration",
    "format_duration",
    "parse_duration",
]

_DURATION = re.compile(r"(\d{1,12}(?:\.\d{1,6})?)\s*([smhd]?)")
UNITS = {"": 1.0, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86_400.0}
_YEAR = 366 * 86_400.0
FORMS = "a duration like 30s, 15m, 1h or 1d (a bare number is seconds)"


def parse_duration(
    text: str, *, low: float = 0.0, high: float = _YEAR, zero: bool = False
) -> float:
    """`30s`, `15m`, `1h`, `1d` or a bare number of seconds, as seconds.

    Raises `ValueError` naming the forms and the bounds (never echoing more than the flag's
    own text, which the caller typed). `zero`: 0 is allowed besides [low, high].
    """
    match = _DURATION.fullmatch(text.strip()) if len(text) <= 32 else None
    if match is None:
        raise ValueError(FORMS)
    value = float(match.group(1)) * UNITS[match.group(2)]
    if zero and value == 0:
        return 0.0
    if not (math.isfinite(value) and low <= value <= high):
        bounds = f"from {format_duration(low)} to {format_duration(high)}"
        raise ValueError(f"{FORMS}, {bounds}" + (", or 0" if zero else ""))
    return value


def duration(
    *, low: float = 0.0, high: float = _YEAR, zero: bool = False
) -> Callable[[str], float]:
    """An argparse `type=` for a duration flag (see `parse_duration`)."""

    def parse(text: str) -> float:
        try:
            return parse_duration(text, low=low, high=high, zero=zero)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None

    parse.__name__ = "duration"  # argparse names the type in its messages
    return parse


def format_duration(seconds: float) -> str:
    """The shortest exact form: 900 -> `15m`, 90 -> `90s`, 0.25 -> `0.25s`."""
    for unit in ("d", "h", "m"):
        size = UNITS[unit]
        if seconds >= size and seconds % size == 0:
            return f"{seconds / size:g}{unit}"
    return f"{seconds:g}s"


class HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """Appends `(default: ...)` to every option whose help does not say its default, and
    keeps descriptions and epilogs (the exit code table) as written."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        text = action.help or ""
        default = action.default
        if (
            "default" in text
            or not action.option_strings
            or default in (None, False, argparse.SUPPRESS)
            or (isinstance(default, list) and not default)
        ):
            return text
        return text + " (default: %(default)s)"


class Parser(argparse.ArgumentParser):
    """`ArgumentParser` with `HelpFormatter`; subcommands' parsers are of this class too."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("formatter_class", HelpFormatter)
        super().__init__(*args, **kwargs)


class VersionAction(argparse.Action):
    """`--version`: the package's version, read only when asked."""

    def __init__(self, option_strings: Sequence[str], dest: str, **kwargs: Any) -> None:
        kwargs.setdefault("help", "show the version and exit")
        super().__init__(option_strings, dest, nargs=0, default=argparse.SUPPRESS, **kwargs)

    def __call__(self, parser: argparse.ArgumentParser, *args: Any, **kwargs: Any) -> None:
        from ._version import __version__

        print(f"{parser.prog} {__version__}")
        parser.exit()


def check_names(
    given: Iterable[str], known: Sequence[str], *, flag: str = "--resource", what: str = ""
) -> list[str]:
    """The names given, each one of `known`; else `ValueError` naming the first unknown
    one and the nearest known names (a typo is the usual cause)."""
    names = list(given)
    for name in names:
        if name not in known:
            near = difflib.get_close_matches(name, known, n=3)
            hint = f"; did you mean {' or '.join(near)}?" if near else ""
            shown = name if len(name) <= 64 and name.isprintable() else "(an unreadable name)"
            kind = what or "an endpoint a sync copies"
            raise ValueError(f"{flag} {shown}: not {kind}{hint}")
    return names


def add_quota_args(parser: Any, *, redis: bool) -> None:
    """The client quota's knobs, shared by `sync` and `worker`."""
    parser.add_argument(
        "--quota-limit",
        type=int,
        default=500,
        metavar="N",
        help="calls per hour: DrChrono's quota of the application (raise it only when "
        "DrChrono has granted more)",
    )
    parser.add_argument(
        "--rate",
        type=float,
        default=10.0,
        metavar="PER_SECOND",
        help="calls a second at most (the burst bucket's refill): raise it with a larger "
        "--quota-limit when wall time matters (at 10 a second, 10,000 calls take 17 minutes), "
        "or against a local emulator",
    )
    parser.add_argument(
        "--burst",
        type=float,
        default=10.0,
        metavar="N",
        help="calls back to back at most: raise it with --rate when more requests run at once "
        "(--shards, many resources)",
    )
    if redis:
        parser.add_argument(
            "--redis",
            default=None,
            metavar="URL",
            help="redis://... : share the application's quota with other processes "
            "(RedisQuota; key from $DRCHRONO_CLIENT_ID or --quota-key)",
        )
        parser.add_argument(
            "--quota-key", default=None, help="the quota's Redis key (default from the client id)"
        )
