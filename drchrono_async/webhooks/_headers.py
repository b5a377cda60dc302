"""Request headers in whatever shape the caller holds them, read case-insensitively.

Accepted: a mapping (`dict`, `httpx.Headers`, Starlette's `Headers`, ...) or an iterable of
name/value pairs (ASGI's `scope["headers"]`: bytes pairs). Names and values may be `str` or
`bytes`; `str` ones are taken as HTTP's latin-1, which gives back the bytes on the wire.
Every value of a wanted name is kept, so that a header sent twice is seen twice (a mapping
that merges repeats, like `httpx.Headers.items()`, is read through `multi_items()`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from ..errors import InvalidRequestError, WebhookPayloadError

__all__ = ["MAX_HEADERS", "HeadersLike", "collect"]

HeadersLike = Mapping[str, str] | Mapping[bytes, bytes] | Iterable[tuple[str | bytes, str | bytes]]

# More header lines than any real request carries; past it the request is refused.
MAX_HEADERS = 512


def collect(headers: HeadersLike, wanted: frozenset[bytes]) -> dict[bytes, list[bytes | None]]:
    """Each wanted (lower-case) name -> its values in order; `None` for an unreadable value.

    A value that is not latin-1 text cannot have come off the wire as it is; it is kept as
    `None` so that the caller's check of that header fails closed.
    """
    found: dict[bytes, list[bytes | None]] = {}
    count = 0
    for pair in _pairs(headers):
        count += 1
        if count > MAX_HEADERS:
            raise WebhookPayloadError(f"the delivery has more than {MAX_HEADERS} headers")
        try:
            name, value = pair
        except (TypeError, ValueError):
            raise InvalidRequestError("headers must be name/value pairs") from None
        if name.__class__ is bytes:  # ASGI: the hot path
            key = name.lower()
        else:
            raw = _as_bytes(name)
            if raw is None:
                continue  # not latin-1: not one of ours
            key = raw.lower()
        if key in wanted:
            found.setdefault(key, []).append(
                value if value.__class__ is bytes else _as_bytes(value)
            )
    return found


def _pairs(headers: Any) -> Iterable[Any]:
    if headers.__class__ is list:
        return headers
    if isinstance(headers, (str, bytes, bytearray)):
        raise InvalidRequestError("headers must be a mapping or name/value pairs")
    multi = getattr(headers, "multi_items", None)
    if callable(multi):  # httpx.Headers: items() would join repeated headers with ", "
        return multi()  # type: ignore[no-any-return]
    if isinstance(headers, Mapping):
        return headers.items()
    if isinstance(headers, Iterable):
        return headers
    raise InvalidRequestError("headers must be a mapping or name/value pairs")


def _as_bytes(value: object) -> bytes | None:
    if isinstance(value, bytes):
        return value
    if isinstance(value, str):
        try:
            return value.encode("latin-1")
        except UnicodeEncodeError:
            return None
    if isinstance(value, bytearray):
        return bytes(value)
    raise InvalidRequestError("header names and values must be str or bytes")
