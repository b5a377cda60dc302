"""`Token`: an access token, the refresh token issued with it, and when it expires."""

from __future__ import annotations

import datetime as dt
import logging
import math
from collections.abc import Mapping
from typing import Any, TypeGuard

import attrs
import orjson

from .._checks import check_secret
from ..errors import InvalidRequestError, TokenStoreError

__all__ = ["DEFAULT_EXPIRES_IN", "MAX_EXPIRES_IN", "MIN_EXPIRES_IN", "Token", "believed_lifetime"]

logger = logging.getLogger("drchrono_async.oauth")

# DrChrono issues 48-hour tokens; an answer outside these bounds is not believed.
MIN_EXPIRES_IN = 60.0
MAX_EXPIRES_IN = 30 * 86400.0
DEFAULT_EXPIRES_IN = 172_800.0


def _iso(ts: float) -> str:
    try:
        return dt.datetime.fromtimestamp(ts, dt.UTC).isoformat(timespec="seconds")
    except (OverflowError, OSError, ValueError):
        return "?"


def believed_lifetime(expires_in: object) -> float:
    """`expires_in` as believed. Never an error: by the time the answer is read, the server
    has spent the code or rotated the refresh token, and this answer is the only copy of the
    new pair. An unlikely value is clamped (a token that dies earlier gets a 401, which
    refreshes it); the warning names the bounds, never the value."""
    if isinstance(expires_in, bool) or not isinstance(expires_in, (int, float)):
        logger.warning(
            "oauth: the token answer's expires_in is not a number; the token is kept "
            "and taken to live %d hours, DrChrono's usual lifetime",
            DEFAULT_EXPIRES_IN // 3600,
        )
        return DEFAULT_EXPIRES_IN
    if math.isfinite(expires_in) and MIN_EXPIRES_IN <= expires_in <= MAX_EXPIRES_IN:
        return float(expires_in)
    logger.warning(
        "oauth: the token answer's expires_in is out of bounds (%d s to %d days); the token "
        "is kept with its expiry clamped to the nearer bound",
        MIN_EXPIRES_IN,
        MAX_EXPIRES_IN // 86400,
    )
    # NaN is below nothing: it goes to the lower bound (refreshed soon rather than late).
    return MAX_EXPIRES_IN if expires_in > MAX_EXPIRES_IN else MIN_EXPIRES_IN


def _epoch(value: object, name: str) -> float:
    """A time field as a float; a typed error (naming the field only) if it is not one."""
    try:
        return float(value)  # type: ignore[arg-type]  # what float() refuses is caught
    except (TypeError, ValueError, OverflowError):
        raise InvalidRequestError(f"{name} must be an epoch time in seconds") from None


def _expires_at(value: float) -> float:
    return _epoch(value, "expires_at")


def _issued_at(value: float | None) -> float | None:
    return None if value is None else _epoch(value, "issued_at")


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
    expires_at: float = attrs.field(converter=_expires_at)
    scope: str | None = None
    issued_at: float | None = attrs.field(default=None, converter=_issued_at)

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
        return cls.parse_stored(data)[0]

    @classmethod
    def parse_stored(
        cls, data: bytes | str, *, issued_at: float | None = None
    ) -> tuple[Token, bool]:
        """A stored token, and whether it was in DrChrono's token answer shape.

        That shape (`access_token`, `refresh_token`, `expires_in`, `token_type`, `scope`: what
        `POST /o/token/` answers, saved as is) is read when `issued_at` says when it was
        issued; its `expires_in` is believed as in an answer. `TokenStoreError`, naming no
        value, for anything else.
        """
        try:
            raw: Any = orjson.loads(data)
            if not isinstance(raw, dict):
                raise TypeError
            if issued_at is not None and "expires_in" in raw and "expires_at" not in raw:
                return cls._from_answer(raw, issued_at), True
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
            return token, False
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
            # `from None`: a decode error may quote the stored secret.
            raise TokenStoreError("the stored token is unreadable") from None

    @classmethod
    def _from_answer(cls, raw: Mapping[str, Any], issued_at: float) -> Token:
        kind = raw.get("token_type", "Bearer")
        if not isinstance(kind, str) or kind.lower() != "bearer":
            raise ValueError  # not a bearer token: nothing this client can send
        scope = raw.get("scope")
        return cls(
            access_token=raw["access_token"],
            refresh_token=raw["refresh_token"],
            expires_at=issued_at + believed_lifetime(raw["expires_in"]),
            scope=scope if isinstance(scope, str) else None,
            issued_at=issued_at,
        )

    def __repr__(self) -> str:
        return f"Token(expires_at={_iso(self.expires_at)}, scope={self.scope!r})"

    __str__ = __repr__
