"""Checks of values a caller hands the library, before any of them is used.

One vocabulary for every argument check: each raises `InvalidRequestError` worded
"<what> must be <a kind> <a range>", for example "pool_size must be a whole number from 1
to 64", and never quotes the value (it may be a secret, or patient data). Ranges read
"from L to H" (both included), "over L and at most H", "at least L and under H", or "of at
least L" when there is no upper bound. `needs_extra` turns a missing optional dependency
into `MissingExtraError`.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Collection, Iterator
from typing import TypeVar

import httpx

from .errors import InvalidRequestError, MissingExtraError

__all__ = [
    "check_base_url",
    "check_choice",
    "check_int",
    "check_number",
    "check_seconds",
    "check_secret",
    "needs_extra",
]

S = TypeVar("S", bound=str)


def _text(bound: float) -> str:
    """A bound as a reader writes it: `3600`, `0.5`, `1000000` (never `1e+06`)."""
    if isinstance(bound, int):
        return str(bound)
    if math.isfinite(bound) and bound.is_integer() and abs(bound) < 1e15:
        return str(int(bound))
    return repr(bound)


def _refuse(
    what: str,
    kind: str,
    low: float,
    high: float,
    *,
    low_open: bool = False,
    high_open: bool = False,
    tail: str = "",
) -> InvalidRequestError:
    """The one message: "<what> must be <kind> <range><tail>"."""
    if high == math.inf:
        span = f"over {_text(low)}" if low_open else f"of at least {_text(low)}"
    elif low_open or high_open:
        above = f"over {_text(low)}" if low_open else f"at least {_text(low)}"
        below = f"under {_text(high)}" if high_open else f"at most {_text(high)}"
        span = f"{above} and {below}"
    else:
        span = f"from {_text(low)} to {_text(high)}"
    return InvalidRequestError(f"{what} must be {kind} {span}{tail}")


def check_int(value: object, what: str, *, low: int, high: int, tail: str = "") -> int:
    """A whole number from `low` to `high`, both included: an `int`, never a `bool`.

    Returned as a plain `int`: a subclass's own comparisons or arithmetic never run, here
    or later. `tail` ends the message (", the number of ...").
    """
    if isinstance(value, int) and not isinstance(value, bool):
        number = int.__int__(value)
        if low <= number <= high:
            return number
    raise _refuse(what, "a whole number", low, high, tail=tail)


def check_number(
    value: object,
    what: str,
    *,
    low: float,
    high: float,
    low_open: bool = False,
    high_open: bool = False,
    kind: str = "a number",
    tail: str = "",
) -> float:
    """A finite `int` or `float` (never a `bool`, NaN or an infinity) in range, as a float.

    The range is `low` to `high`, both included unless `low_open` / `high_open`; `high` may
    be infinity for no upper bound (the value must still be finite). An `int` too large for
    a float is refused, never an `OverflowError`. `kind` says what is asked for, such as
    "a number of seconds".
    """
    number: float | None = None
    if isinstance(value, float):
        number = float.__float__(value)
    elif isinstance(value, int) and not isinstance(value, bool):
        try:
            number = float(int.__int__(value))
        except OverflowError:  # beyond every float, so beyond any bound
            number = None
    if (
        number is not None
        and math.isfinite(number)
        and (low < number if low_open else low <= number)
        and (number < high if high_open else number <= high)
    ):
        return number
    raise _refuse(what, kind, low, high, low_open=low_open, high_open=high_open, tail=tail)


def check_choice(value: object, what: str, choices: Collection[S], *, tail: str = "") -> S:
    """One of `choices`, returned as the choice itself (an enum member for a `StrEnum`).

    The choices are the library's own words, so the message lists them; never the value.
    Compared by `==`, never hashed, so an unhashable value is refused like any other.
    """
    if isinstance(value, str):
        for choice in choices:
            if value == choice:
                return choice
    listed = ", ".join(f'"{c}"' for c in choices)
    raise InvalidRequestError(f"{what} must be one of {listed}{tail}")


@contextlib.contextmanager
def needs_extra(extra: str, feature: str) -> Iterator[None]:
    """Run optional imports; if one fails, raise `MissingExtraError` naming `extra`.

        with needs_extra("postgres", "PostgresStore"):
            import psycopg

    The `ImportError` stays the cause: an installed package that fails to import (psycopg
    without libpq, say) shows why. A context manager, not a function taking a module name,
    so that the imports keep their static types.
    """
    try:
        yield
    except ImportError as exc:
        raise MissingExtraError(extra, feature=feature, module=exc.name) from exc


def check_secret(value: object, what: str) -> str:
    """A token, secret or id as an HTTP header or form carries it: visible ASCII, no spaces.

    Checked up front so that no HTTP library error can ever carry the value into a
    traceback; the message names `what`, never the value.
    """
    if not isinstance(value, str) or not value:
        raise InvalidRequestError(f"{what} must be a non-empty string")
    if len(value) > 4096 or not all("!" <= c <= "~" for c in value):
        raise InvalidRequestError(
            f"{what} must be visible ASCII without whitespace or control characters"
        )
    return value


def check_seconds(value: object, what: str, *, none_ok: bool = True) -> float | None:
    """Seconds >= 0 as a float; with `none_ok`, None or infinity for no limit (read as None).

    Without `none_ok`, a finite number of seconds is required.
    """
    if none_ok and (value is None or (isinstance(value, float) and value == math.inf)):
        return None
    tail = ", or None for no limit" if none_ok else ""
    return check_number(value, what, low=0, high=math.inf, kind="a number of seconds", tail=tail)


def check_base_url(value: object) -> httpx.URL:
    """The API's origin: absolute http(s), no credentials, no query or fragment."""
    if not isinstance(value, str):
        raise InvalidRequestError("base_url must be a string")
    try:
        url = httpx.URL(value)
    except httpx.InvalidURL:
        raise InvalidRequestError("base_url is not a valid URL") from None
    if url.scheme not in ("http", "https") or not url.host:
        raise InvalidRequestError("base_url must be an absolute http(s) URL")
    if url.userinfo:
        raise InvalidRequestError("base_url must not carry a user name or password")
    if url.query or url.fragment:
        raise InvalidRequestError("base_url must not carry a query or fragment")
    return url
