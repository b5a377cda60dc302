"""`Token`: an access token, the refresh token issued with it, and when it expires."""

from __future__ import annotations

import datetime as dt
import math
from typing import Any, TypeGuard

import attrs
import orjson

from .._checks import check_secret
from ..errors import InvalidRequestError, TokenStoreError

__all__ = ["Token"]


def _iso(ts: float) -> str:
    try:
        return dt.datetime.fromtimestamp(ts, dt.UTC).isoformat(timespec="seconds")
    except (OverflowError, OSError, ValueError):
        return "?"


def _is_time(value: object) -> TypeGuard[float]:
    return (
        isinstance(value, (int, float))
        and not isinstance(value, bool)
        and math.isfinite(value)
        and value >= 0
    )


@attrs.frozen(repr=False)
class Token:
    """An OAuth token pair. `repr`, `str` and errors never show either token.

    `expires_at` is an epoch time on the API server's clock (the token answer's `Date`
    plus `expires_in`); `scope` is the space-separated scopes granted, when the server said;
    `issued_at`, when known, the server time the token was asked for (what its lifetime, and
    so how early it may be refreshed, is measured from).
    """

    access_token: str = attrs.field(validator=lambda _, __, v: check_secret(v, "access_token"))
    refresh_token: str = attrs.field(validator=lambda _, __, v: check_secret(v, "refresh_token"))
    expires_at: float = attrs.field(converter=float)
    scope: str | None = None
    issued_at: float | None = attrs.field(default=None, converter=attrs.converters.optional(float))

    def __attrs_post_init__(self) -> None:
        if not math.isfinite(self.expires_at):
            raise InvalidRequestError("expires_at must be a finite epoch time")
        if self.issued_at is not None and not (
            math.isfinite(self.issued_at) and self.issued_at <= self.expires_at
        ):
            raise InvalidRequestError("issued_at must be a finite epoch time before expires_at")

    @property
    def lifetime(self) -> float | None:
        """Seconds from `issued_at` to `expires_at`, or None when the issue time is unknown."""
        return None if self.issued_at is None else self.expires_at - self.issued_at

    @property
    def scopes(self) -> frozenset[str]:
        """The granted scopes as a set (empty when the server did not say)."""
        return frozenset((self.scope or "").split())

    def expires_within(self, seconds: float, *, server_now: float) -> bool:
        """True when the token expires less than `seconds` after `server_now`."""
        return server_now + seconds >= self.expires_at

    def to_json(self) -> bytes:
        """The token as stored: JSON with both tokens (keep the store private)."""
        stored: dict[str, Any] = {
            "access_token": self.access_token,
            "refresh_token": self.refresh_token,
            "expires_at": self.expires_at,
            "scope": self.scope,
        }
        if self.issued_at is not None:
            stored["issued_at"] = self.issued_at
        return orjson.dumps(stored)

    @classmethod
    def from_json(cls, data: bytes | str) -> Token:
        """A stored token; `TokenStoreError` (naming no value) if it is not one."""
        try:
            raw: Any = orjson.loads(data)
            if not isinstance(raw, dict):
                raise TypeError
            scope, issued = raw.get("scope"), raw.get("issued_at")
            token = cls(
                access_token=raw["access_token"],
                refresh_token=raw["refresh_token"],
                expires_at=raw["expires_at"],
                scope=scope if isinstance(scope, str) else None,
            )
            # Optional (tokens stored before it was kept have none); a bad one is left out.
            if _is_time(issued) and issued <= token.expires_at:
                token = attrs.evolve(token, issued_at=issued)
            return token
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
            # `from None`: a decode error may quote the stored secret.
            raise TokenStoreError("the stored token is unreadable") from None

    def __repr__(self) -> str:
        return f"Token(expires_at={_iso(self.expires_at)}, scope={self.scope!r})"

    __str__ = __repr__
