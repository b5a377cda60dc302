"""Verify the signed query string DrChrono appends to an iframe integration's URL.

DrChrono loads an app's page inside the patient page or the clinical note page with the
context as query parameters (`doctor_id`, `patient_id`, ... and `iat`) plus `jwt`: an HS256
JSON Web Token over those same values, keyed with the app's OAuth `client_secret`.
`verify_iframe_request` checks the token with PyJWT (the algorithm pinned to HS256), checks
that every parameter is signed with the value it carries, that `iat` is recent, and
optionally that the token was not used before; it returns an `IframeContext`.

Replay protection: `verify_iframe_request` is synchronous and takes a synchronous
`ReplayCache` (`MemoryReplayCache`: one process). `averify_iframe_request` is the same check
for async frameworks; it takes either kind of cache, including the async `RedisReplayCache`
that every worker process of an app can share.

Needs the `jwt` extra: `pip install 'drchrono-async[jwt]'`.
"""

from __future__ import annotations

import hashlib
import math
import re
import time
from collections.abc import Awaitable, Iterable, Mapping
from typing import Any, Literal

import attrs

from ._checks import check_choice, check_number, needs_extra
from ._replay import AsyncReplayCache, MemoryReplayCache, RedisReplayCache, ReplayCache
from .errors import IframeVerificationError, InvalidRequestError
from .ratelimit import Clock

with needs_extra("jwt", "drchrono_async.iframe"):
    import jwt

__all__ = [
    "AsyncReplayCache",
    "IframeContext",
    "MemoryReplayCache",
    "Page",
    "RedisReplayCache",
    "ReplayCache",
    "averify_iframe_request",
    "verify_iframe_request",
]

Page = Literal["patient", "clinical_note"]
Query = Mapping[str, str] | str | Iterable[tuple[str, str]]

_ID_NAMES = ("user_id", "doctor_id", "patient_id", "appointment_id", "practice_id")
_INT_NAMES = (*_ID_NAMES, "iat")
_KNOWN = frozenset((*_INT_NAMES, "jwt"))
# What each page always carries besides `iat` and `jwt` (practice_id is optional on both).
_REQUIRED: dict[str, tuple[str, ...]] = {
    "patient": ("user_id", "doctor_id", "patient_id"),
    "clinical_note": ("appointment_id", "doctor_id", "patient_id"),
}
_MAX_ID = 2**63 - 1  # ids are 64-bit signed integers server-side
_MAX_QUERY_CHARS = 8192
_MAX_PARAMS = 16
_MAX_NAME = 64
_MAX_TOKEN = 4096
_MAX_AGE_LIMIT = 86_400.0
_MAX_LEEWAY = 300.0
_TOKEN_RE = re.compile(r"[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*")
_DIGITS_RE = re.compile(r"[0-9]{1,19}")
_DECODE_OPTIONS: Any = {
    "verify_signature": True,
    # Time is checked below against the injectable clock, not PyJWT's wall clock.
    "verify_exp": False,
    "verify_nbf": False,
    "verify_iat": False,
    # Not part of DrChrono's scheme: never a reason to refuse a request.
    "verify_aud": False,
    "verify_iss": False,
    "verify_sub": False,
    "verify_jti": False,
    "require": ["iat"],
}


def _fail(check: str) -> IframeVerificationError:
    return IframeVerificationError(f"iframe request refused: {check}")


@attrs.frozen
class IframeContext:
    """Who opened the iframe and on what, as signed by DrChrono.

    `page` is "patient" (the patient page: `user_id` is set, `appointment_id` is None) or
    "clinical_note" (the clinical note page: `appointment_id` is set).
    """

    page: Page
    doctor_id: int
    patient_id: int
    iat: int
    user_id: int | None = None
    appointment_id: int | None = None
    practice_id: int | None = None


def verify_iframe_request(
    query: Query,
    client_secret: str | bytes,
    *,
    max_age: float = 300,
    leeway: float = 30,
    now: float | Clock | None = None,
    replay_cache: ReplayCache | None = None,
    page: Page | None = None,
) -> IframeContext:
    """Verify an iframe request's query and return its context.

    `query`: the request's query as a mapping (Starlette's `request.query_params` works: its
    repeated parameters are seen), a query string, or a list of pairs. `client_secret`: the
    app's OAuth client secret. `iat` may be at most `max_age` seconds old and at most `leeway`
    seconds in the future (clock skew). `now`: epoch seconds or a `Clock` (default: the
    system clock). `replay_cache`: refuses a token seen before; it keeps each token until
    `iat + max_age + leeway` (and a second): past the age check on this host and on any host
    or cache whose clock lags this one by up to `leeway`, however early it was first used.
    `page`: require this page ("patient" or "clinical_note").

    Raises `IframeVerificationError` naming the failed check (never a value), or
    `InvalidRequestError` for bad arguments.
    """
    context, key, ttl, moment = _check(query, client_secret, max_age, leeway, now, page)
    if replay_cache is not None:
        first = replay_cache.add(key, ttl, moment)
        if isinstance(first, Awaitable):
            _discard(first)
            raise InvalidRequestError(
                "an async replay cache needs averify_iframe_request (this one is sync)"
            )
        if not first:
            raise _fail("replayed request (the token was used before)")
    return context


async def averify_iframe_request(
    query: Query,
    client_secret: str | bytes,
    *,
    max_age: float = 300,
    leeway: float = 30,
    now: float | Clock | None = None,
    replay_cache: ReplayCache | AsyncReplayCache | None = None,
    page: Page | None = None,
) -> IframeContext:
    """`verify_iframe_request` for async code: the same checks; the replay cache may be async
    (e.g. `RedisReplayCache`, shared by every process of the app) or sync."""
    context, key, ttl, moment = _check(query, client_secret, max_age, leeway, now, page)
    if replay_cache is not None:
        answer: bool | Awaitable[bool] = replay_cache.add(key, ttl, moment)
        first = await answer if isinstance(answer, Awaitable) else answer
        if not first:
            raise _fail("replayed request (the token was used before)")
    return context


def _discard(awaitable: Awaitable[Any]) -> None:
    close = getattr(awaitable, "close", None)
    if callable(close):
        close()  # a coroutine never awaited would warn at garbage collection


# --- the checks -------------------------------------------------------------------------------


def _check(
    query: Query,
    client_secret: str | bytes,
    max_age: float,
    leeway: float,
    now: float | Clock | None,
    page: Page | None,
) -> tuple[IframeContext, str, float, float]:
    """Everything but the replay cache: (context, replay key, its ttl, the time used)."""
    max_age = _seconds("max_age", max_age, _MAX_AGE_LIMIT, allow_zero=False)
    leeway = _seconds("leeway", leeway, _MAX_LEEWAY, allow_zero=True)
    if isinstance(client_secret, str):
        client_secret = client_secret.encode("utf-8")
    if not isinstance(client_secret, bytes) or not client_secret:
        raise InvalidRequestError("client_secret must be a non-empty string")
    if page is not None:
        check_choice(page, "page", tuple(_REQUIRED), tail=", or None")
    moment = _now(now)

    params = _params(query)
    token = params.pop("jwt", None)
    if token is None:
        raise _fail("no jwt parameter")
    claims, signature = _decode(token, client_secret)

    values: dict[str, int] = {}
    for name in _INT_NAMES:
        in_query, in_claims = name in params, name in claims
        if in_claims and not in_query:
            raise _fail(f"{name} is signed but missing from the query")
        if in_query and not in_claims:
            raise _fail(f"{name} is not signed")
        if not in_query:
            continue
        low = 0 if name == "iat" else 1
        mine = _query_int(name, params[name], low)
        signed = _claim_int(name, claims[name], low)
        if mine != signed:
            raise _fail(f"{name} does not match its signed value")
        values[name] = mine
    for name, value in params.items():
        if name not in _KNOWN and not _same(value, claims.get(name, _ABSENT)):
            raise _fail("a query parameter is not signed with the value it carries")

    found: Page = "clinical_note" if "appointment_id" in values else "patient"
    for name in _REQUIRED[found]:
        if name not in values:
            raise _fail(f"{name} is missing")
    if page is not None and page != found:
        raise _fail(f"the request is for the {found} page, not the {page} page")

    iat = values["iat"]
    if iat > moment + leeway:
        raise _fail("iat is in the future")
    if moment - iat > max_age:
        raise _fail("iat is too old (the request expired)")
    _check_window(claims, moment, leeway)

    context = IframeContext(
        page=found,
        doctor_id=values["doctor_id"],
        patient_id=values["patient_id"],
        iat=iat,
        user_id=values.get("user_id"),
        appointment_id=values.get("appointment_id"),
        practice_id=values.get("practice_id"),
    )
    # The decoded signature, hashed: one key per token whatever its text encoding.
    key = hashlib.sha256(signature).hexdigest()
    # Kept until the token cannot pass the age check anywhere: not `max_age + leeway` from
    # its first use (a token first used at `iat - leeway` would be forgotten at `iat +
    # max_age`, still valid), but until `iat + max_age`, plus `leeway` for hosts whose clock
    # lags this one (or Redis', which expires the entry), plus a second as `iat` is whole
    # seconds and the age check includes its bound.
    ttl = iat + max_age + leeway + 1 - moment
    return context, key, ttl, moment


def _seconds(name: str, value: float, limit: float, *, allow_zero: bool) -> float:
    return check_number(
        value, name, low=0, low_open=not allow_zero, high=limit, kind="a number of seconds"
    )


def _now(now: float | Clock | None) -> float:
    if now is None:
        return time.time()
    value = now if isinstance(now, (int, float)) and not isinstance(now, bool) else None
    if value is None:
        reader = getattr(now, "now", None)
        if not callable(reader):
            raise InvalidRequestError("now must be epoch seconds or a Clock")
        value = reader()
    # Bounded to dates a verifier can meet (1970 to about 5138): a clock beyond is broken.
    return check_number(value, "now", low=0, high=1e11, kind="a number of epoch seconds")


def _params(query: Query) -> dict[str, str]:
    """The query's parameters: bounded, ASCII, each name at most once."""
    pairs: list[Any]
    if isinstance(query, str):
        pairs = _parse_query_string(query)
    elif isinstance(query, (bytes, bytearray)):
        raise InvalidRequestError("query must be a str, a mapping or pairs, not bytes")
    elif isinstance(query, Mapping):
        multi = getattr(query, "multi_items", None)  # Starlette: keep repeated parameters
        source = multi() if callable(multi) else query.items()
        pairs = _bounded(source)
    elif isinstance(query, Iterable):
        pairs = _bounded(query)
    else:
        raise InvalidRequestError("query must be a mapping, a query string or a list of pairs")
    params: dict[str, str] = {}
    total = 0
    for pair in pairs:
        if not isinstance(pair, tuple) or len(pair) != 2:
            raise _fail("malformed query parameter")
        name, value = pair
        if not isinstance(name, str) or not isinstance(value, str):
            raise _fail("malformed query parameter")
        if not name.isascii() or not value.isascii():
            raise _fail("a query parameter is not ASCII")
        if not name or len(name) > _MAX_NAME:
            raise _fail("a query parameter name is empty or too long")
        total += len(name) + len(value) + 2
        if total > _MAX_QUERY_CHARS:
            raise _fail("query too long")
        if name in params:
            raise _fail(f"{_label(name)} given more than once")
        params[name] = value
    return params


def _parse_query_string(text: str) -> list[tuple[str, str]]:
    from urllib.parse import parse_qsl

    if len(text) > _MAX_QUERY_CHARS:
        raise _fail("query too long")
    if not text.isascii():
        raise _fail("a query parameter is not ASCII")
    text = text.removeprefix("?")
    try:
        return parse_qsl(
            text,
            keep_blank_values=True,
            strict_parsing=True,
            max_num_fields=_MAX_PARAMS,
            errors="strict",
        )
    except ValueError:  # too many fields, a bad pair, or percent-escapes that are not UTF-8
        raise _fail("malformed query string") from None


def _bounded(items: Iterable[Any]) -> list[Any]:
    pairs = []
    for item in items:
        pairs.append(item)
        if len(pairs) > _MAX_PARAMS:
            raise _fail("too many query parameters")
    return pairs


def _label(name: str) -> str:
    """A parameter's name if it is one of DrChrono's, else a neutral word: names are input."""
    return name if name in _KNOWN else "a query parameter"


def _decode(token: str, key: bytes) -> tuple[dict[str, Any], bytes]:
    if len(token) > _MAX_TOKEN:
        raise _fail("jwt too long")
    if not _TOKEN_RE.fullmatch(token):
        raise _fail("jwt is malformed")
    try:
        decoded = jwt.decode_complete(token, key, algorithms=["HS256"], options=_DECODE_OPTIONS)
    # PyJWT's messages can quote parts of the token: never chained, never copied.
    except jwt.InvalidAlgorithmError:
        raise _fail("jwt algorithm is not HS256") from None
    except jwt.InvalidSignatureError:
        raise _fail("jwt signature does not match") from None
    except jwt.MissingRequiredClaimError:
        raise _fail("jwt has no iat claim") from None
    except jwt.DecodeError:
        raise _fail("jwt is malformed") from None
    except jwt.InvalidKeyError:
        raise _fail("client_secret is not usable as an HS256 key") from None
    except (jwt.PyJWTError, ValueError, TypeError, OverflowError, RecursionError):
        raise _fail("jwt is invalid") from None
    claims, signature = decoded.get("payload"), decoded.get("signature")
    if not isinstance(claims, dict) or not isinstance(signature, bytes):
        raise _fail("jwt is malformed")
    return claims, signature


def _query_int(name: str, value: str, low: int) -> int:
    if not _DIGITS_RE.fullmatch(value):
        raise _fail(f"{name} is not an integer in range")
    number = int(value)
    if not low <= number <= _MAX_ID:
        raise _fail(f"{name} is not an integer in range")
    return number


def _claim_int(name: str, value: Any, low: int) -> int:
    if isinstance(value, str) and name != "iat":  # ids may be signed as digit strings
        return _query_int(name, value, low)
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= _MAX_ID:
        raise _fail(f"signed {name} is not an integer in range")
    return value


_ABSENT = object()


def _same(value: str, claim: Any) -> bool:
    """A parameter DrChrono may add later: signed with the same text, or the same integer."""
    if isinstance(claim, str):
        return claim == value
    if isinstance(claim, int) and not isinstance(claim, bool):
        return bool(_DIGITS_RE.fullmatch(value)) and int(value) == claim
    return False


def _check_window(claims: Mapping[str, Any], moment: float, leeway: float) -> None:
    """`exp` and `nbf`, if DrChrono ever sends them, on the same clock as `iat`."""
    for name in ("exp", "nbf"):
        if name not in claims:
            continue
        value = claims[name]
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise _fail(f"{name} is not a number")
        if not math.isfinite(value):
            raise _fail(f"{name} is not a number")
        if name == "exp" and moment >= value + leeway:
            raise _fail("jwt expired (exp)")
        if name == "nbf" and value > moment + leeway:
            raise _fail("jwt is not valid yet (nbf)")
