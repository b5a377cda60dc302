"""The freshness options `worker` and `status` share: `--freshness`, `--sweep`, `--risk`.

Standard library only at the top (every `--help` builds these parsers); the fleet is loaded
when the targets are made. Both commands read the same flags the same way
(`targets_from`), so `status --freshness X --risk P` plans what `worker --freshness X
--risk P` does.
"""

from __future__ import annotations

import argparse
import math
from typing import TYPE_CHECKING, Any

from ._cli_args import duration

if TYPE_CHECKING:
    from .fleet import FreshnessTargets

__all__ = ["MAX_RISK", "add_arguments", "risk", "targets_from"]

MAX_RISK = 0.5  # FreshnessTargets' own bound

_RISK_FORMS = f"a probability from 0 to {MAX_RISK:g} (e.g. 0.05)"


def risk(text: str) -> float:
    """An argparse `type=` for `--risk`: a probability from 0 to `MAX_RISK`."""
    try:
        value = float(text) if len(text) <= 32 else math.nan
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and 0 <= value <= MAX_RISK):
        raise argparse.ArgumentTypeError(_RISK_FORMS)
    return value


risk.__name__ = "risk"  # argparse names the type in its messages


def add_arguments(parser: Any, *, spec_help: str, sweep_help: str) -> None:
    """Add `--freshness`, `--sweep` and `--risk` to a command's parser (`spec_help` and
    `sweep_help` say what the command does with them)."""
    parser.add_argument("--freshness", default=None, metavar="SPEC", help=spec_help)
    parser.add_argument(
        "--sweep",
        type=duration(low=60, high=30 * 86_400),
        default="6h",
        metavar="DURATION",
        help=sweep_help,
    )
    parser.add_argument(
        "--risk",
        type=risk,
        default=None,
        metavar="P",
        help="with --freshness, opt in to polling a quiet resource later than its target (at "
        "most 4 targets apart) while, at its observed change rate, the chance that one period "
        "holds a change seen past its target stays under P (0 to 0.5). P bounds that chance, "
        "not the share of changes seen late: in a stretched period every change made in its "
        "first (period - target) seconds is late. Default 0: every target is a hard bound on "
        "the copy's age",
    )


def targets_from(args: argparse.Namespace) -> FreshnessTargets | None:
    """The `FreshnessTargets` the flags give (`--risk` and `--sweep` with them), or None
    without `--freshness`. Raises `InvalidRequestError` for a spec it cannot read, or
    `--risk` without `--freshness`."""
    from .errors import InvalidRequestError
    from .fleet import FreshnessTargets as Targets

    if args.freshness is None:
        if args.risk is not None:
            raise InvalidRequestError("--risk needs --freshness (it tunes the targets' periods)")
        return None
    options: dict[str, float] = {"sweep": args.sweep}
    if args.risk is not None:
        options["risk"] = args.risk
    return Targets.parse(args.freshness, **options)
