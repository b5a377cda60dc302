"""Checks of values a caller hands the library, before any of them is used."""

from __future__ import annotations

import math

from .errors import InvalidRequestError

__all__ = ["check_seconds", "check_secret"]


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
    """Seconds >= 0 as a float (infinity: no limit, read as None), or None when allowed."""
    if value is None and none_ok:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or math.isnan(value):
        raise InvalidRequestError(f"{what} must be a number of seconds >= 0")
    if value < 0:
        raise InvalidRequestError(f"{what} must be a number of seconds >= 0")
    return None if math.isinf(value) and none_ok else float(value)
