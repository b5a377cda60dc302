"""Checks of values a caller hands the library, before any of them is used.

`needs_extra` turns a missing optional dependency into `MissingExtraError`.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator

import httpx

from .errors import InvalidRequestError, MissingExtraError

__all__ = ["check_seconds", "check_secret", "needs_extra"]


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
    """Seconds >= 0 as a float (infinity: no limit, read as None), or None when allowed."""
    if value is None and none_ok:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or math.isnan(value):
        raise InvalidRequestError(f"{what} must be a number of seconds >= 0")
    if value < 0:
        raise InvalidRequestError(f"{what} must be a number of seconds >= 0")
    return None if math.isinf(value) and none_ok else float(value)


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
