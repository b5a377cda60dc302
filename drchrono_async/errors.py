"""The typed error tree.

    DrChronoError
    +-- InvalidRequestError (also a ValueError): a bad argument; nothing was sent
    +-- MissingExtraError (also an ImportError; extra): an optional dependency is missing
    +-- RequestError (method, path): one request went wrong
    |   +-- TransportError (sent) -- TimeoutError (also the builtin TimeoutError)
    |   +-- ResponseDecodeError, RedirectError, PaginationError
    |   +-- QuotaExhaustedError (resets_at): no permit within max_wait; nothing was sent
    |   +-- QuotaBackendError: the quota's shared store (Redis) failed; not (re-)sent
    |   +-- APIError (status_code, body): BadRequestError, AuthenticationError
    |       (InvalidGrantError), PermissionDeniedError, NotFoundError, ConflictError,
    |       RateLimitError (a real 429), ServerError
    +-- RecordDecodeError (record_type, field)
    +-- StoreError: a sync store (a database) could not read or write
    |   +-- StoreTimeoutError, StoreLockedError
    |   +-- StoreOpenError (kind): why it could not be opened -- StoreOpenTimeoutError (also a
    |       StoreTimeoutError)
    +-- TokenStoreError: a token store could not load or save -- TokenConflictError
    +-- WebhookError -- WebhookSignatureError, WebhookPayloadError
    +-- IframeVerificationError

Every failure the library raises is a `DrChronoError`. Messages name what happened (method,
path, status, field names) and never carry a token, a query value or a record's content: this
is patient data. The decoded error body, where there is one, is on the exception as `.body`
for the caller to inspect, never in `str(exc)`.
"""

from __future__ import annotations

import builtins
from collections.abc import Mapping
from typing import Any, Literal

__all__ = [
    "APIError",
    "AuthenticationError",
    "BadRequestError",
    "ConflictError",
    "DrChronoError",
    "IframeVerificationError",
    "InvalidGrantError",
    "InvalidRequestError",
    "MissingExtraError",
    "NotFoundError",
    "PaginationError",
    "PermissionDeniedError",
    "QuotaBackendError",
    "QuotaExhaustedError",
    "RateLimitError",
    "RecordDecodeError",
    "RedirectError",
    "RequestError",
    "ResponseDecodeError",
    "ServerError",
    "StoreError",
    "StoreLockedError",
    "StoreOpenError",
    "StoreOpenTimeoutError",
    "StoreTimeoutError",
    "TimeoutError",
    "TokenConflictError",
    "TokenStoreError",
    "TransportError",
    "WebhookError",
    "WebhookPayloadError",
    "WebhookSignatureError",
]


class DrChronoError(Exception):
    """Base class of every error this library raises."""


class InvalidRequestError(DrChronoError, ValueError):
    """A bad argument, caught before anything was sent."""


class MissingExtraError(DrChronoError, ImportError):
    """A feature needs an optional dependency that is not installed (or fails to import).

    `extra` names the extra that brings it: `pip install 'drchrono-async[<extra>]'`; `name`
    (`ImportError`'s) the module that failed, when known. Also an `ImportError`, as a missing
    extra always was, so `except ImportError` still catches it.
    """

    def __init__(self, extra: str, *, feature: str, module: str | None = None) -> None:
        super().__init__(
            f"{feature} needs the {extra} extra: pip install 'drchrono-async[{extra}]'",
            name=module,
        )
        self.extra = extra


class RequestError(DrChronoError):
    """Something went wrong with one request: `method` and `path` (no query) say which.

    `path` is empty for a quota used directly, outside any request.
    """

    def __init__(self, message: str, *, method: str, path: str) -> None:
        super().__init__(message)
        self.method = method
        self.path = path


class TransportError(RequestError):
    """The request did not complete: a connection error or a timeout.

    `sent` is False when the request provably never reached the server (a connect error),
    which is the only case in which a non-idempotent request is retried. `reason` says what
    failed, in words, where the cause tells: "connection refused", "DNS lookup failed",
    "TLS handshake failed", "TLS certificate not trusted", "timed out", "connection reset",
    "network unreachable"; "" when it does not.
    """

    def __init__(
        self, message: str, *, method: str, path: str, sent: bool, reason: str = ""
    ) -> None:
        super().__init__(message, method=method, path=path)
        self.sent = sent
        self.reason = reason


class TimeoutError(TransportError, builtins.TimeoutError):
    """The request timed out (connecting, writing, reading or waiting for a connection).

    Also the builtin `TimeoutError` (an `OSError`) whose name it shadows, so that `except
    TimeoutError:` catches it whichever of the two names is in scope.
    """


class ResponseDecodeError(RequestError):
    """A success status whose body is not the JSON the API promises (HTML pages are seen).

    Treated as transient: retried like a 5xx for idempotent requests.
    """

    def __init__(self, message: str, *, method: str, path: str, status_code: int) -> None:
        super().__init__(message, method=method, path=path)
        self.status_code = status_code


class RedirectError(RequestError):
    """A redirect that cannot be followed: another origin, a missing Location, or too many hops."""


class PaginationError(RequestError):
    """A listing that would lose or repeat records: a bad `next` link, or a stopped fetcher."""

    def __init__(self, message: str, *, method: str = "GET", path: str = "") -> None:
        super().__init__(message, method=method, path=path)


class QuotaExhaustedError(RequestError):
    """No request permit is available within the caller's `max_wait`; nothing was sent.

    Not an `APIError`: no request reached the server and no 429 happened. `resets_at` is the
    epoch time at which a permit is expected; `retry_after` the seconds until then.
    """

    def __init__(
        self,
        message: str,
        *,
        method: str,
        path: str,
        resets_at: float,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message, method=method, path=path)
        self.resets_at = resets_at
        self.retry_after = retry_after


class QuotaBackendError(RequestError):
    """The quota's shared store (Redis) failed or gave an unreadable answer.

    The request was not sent: it got no permit (or, after a 429, the pause could not be
    recorded, and it was not sent again). A request error, as `QuotaExhaustedError`, so
    that it says which request (`method`, `path`; both empty for a quota used directly),
    and a caller catching `DrChronoError` (the sync engine, per resource) stops cleanly.
    The message names the error type only: a Redis error's text can quote keys or values.
    A permit may have been counted when the store applied the call but its answer was lost:
    the quota then errs on the side of fewer requests, never more.
    """


class RecordDecodeError(DrChronoError):
    """A value that does not fit its record field (raised only by a strict converter).

    Names the record type and the field, never the value.
    """

    def __init__(self, record_type: str, field: str, reason: str = "") -> None:
        detail = f": {reason}" if reason else ""
        super().__init__(f"{record_type}.{field} does not fit its declared type{detail}")
        self.record_type = record_type
        self.field = field


class APIError(RequestError):
    """The API answered with an error status.

    `body` is the decoded JSON error body (or None); it may echo submitted values, so it is
    kept off the message.
    """

    def __init__(
        self,
        message: str,
        *,
        status_code: int,
        method: str,
        path: str,
        body: Any = None,
    ) -> None:
        super().__init__(message, method=method, path=path)
        self.status_code = status_code
        self.body = body


class BadRequestError(APIError):
    """400: the API rejected the request's fields. `field_errors` maps field -> messages."""

    @property
    def field_errors(self) -> dict[str, list[str]]:
        """The DRF error map of the body: `{"patient": ["This field may not be null."]}`."""
        return _field_errors(self.body)


class AuthenticationError(APIError):
    """401: the access token is missing, expired or revoked."""


class PermissionDeniedError(APIError):
    """403: the token lacks the scope, or the user the permission."""


class NotFoundError(APIError):
    """404."""


class ConflictError(APIError):
    """409: for example an appointment overlapping another."""


class RateLimitError(APIError):
    """429: the hourly quota is spent. `retry_after` is the wait in seconds, when known."""

    def __init__(
        self,
        message: str,
        *,
        status_code: int = 429,
        method: str,
        path: str,
        body: Any = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message, status_code=status_code, method=method, path=path, body=body)
        self.retry_after = retry_after


class ServerError(APIError):
    """5xx."""


def _field_errors(body: Any) -> dict[str, list[str]]:
    """Read a DRF error map (`{"field": ["message", ...]}`) into field -> list of messages."""
    if not isinstance(body, Mapping):
        return {}
    out: dict[str, list[str]] = {}
    for key, value in body.items():
        if isinstance(value, list):
            out[str(key)] = [str(v) for v in value]
        elif isinstance(value, str):
            out[str(key)] = [value]
        elif isinstance(value, Mapping):
            # Nested serializer errors: flatten one level as "field.sub".
            for sub, msgs in _field_errors(value).items():
                out[f"{key}.{sub}"] = msgs
    return out


class InvalidGrantError(AuthenticationError):
    """The token endpoint refused a code or refresh token: used, expired or rotated away.

    For a refresh token this means the user must authorize the app again.
    """


class StoreError(DrChronoError):
    """A sync store (a database) could not read or write; a failed write left nothing."""


class StoreTimeoutError(StoreError):
    """A store operation waited longer than its stated bound: a lock another session held
    (PostgreSQL `lock_timeout`, SQLite's busy timeout) or a statement that ran too long
    (`statement_timeout`). Nothing of the operation was written."""


class StoreLockedError(StoreError):
    """Another sync holds the store's sync lock of a resource this run needs (see
    `SyncStore.lock`); the run did nothing. `resource` names the first one held."""

    def __init__(self, message: str, *, resource: str = "") -> None:
        super().__init__(message)
        self.resource = resource


# Why a store could not be opened (`StoreOpenError.kind`); a type, so not in `__all__`.
StoreOpenKind = Literal[
    "missing_directory",
    "read_only",
    "not_a_database",
    "locked",
    "database_missing",
    "unreachable",
    "auth_failed",
]


class StoreOpenError(StoreError):
    """A store could not be opened, for the reason `kind` names (each is fixed differently).

    SQLite: `"missing_directory"` (the file's directory does not exist), `"read_only"` (the
    file, or its directory, where SQLite writes the -wal and -shm files, cannot be written),
    `"not_a_database"` (the path holds something else), `"locked"` (another connection held
    the write lock past the open's wait: a `StoreOpenTimeoutError`). PostgreSQL:
    `"database_missing"`, `"unreachable"` (connection refused, DNS, a timeout),
    `"auth_failed"` (the role or its password refused). A failure of none of these kinds is a
    plain `StoreError`. Messages name a SQLite path the caller gave; never a DSN (it may
    carry a password), nor a server's or a file's text.
    """

    def __init__(self, message: str, *, kind: StoreOpenKind) -> None:
        super().__init__(message)
        self.kind: StoreOpenKind = kind


class StoreOpenTimeoutError(StoreOpenError, StoreTimeoutError):
    """An open that waited past its stated bound: `"locked"` (SQLite: another connection's
    write lock), `"unreachable"` (PostgreSQL: no pooled connection within `connect_timeout`)."""


class TokenStoreError(DrChronoError):
    """A token store could not load or save a token (or holds none).

    Not a `StoreError`: most token stores are no sync store (a file, Redis, memory), and one
    kept in a sync database (`SQLiteStore.token_store()`) raises this, not `StoreError`.
    """


class TokenConflictError(TokenStoreError):
    """A compare-and-set save found a different token stored than the one it replaces."""


class WebhookError(DrChronoError):
    """A webhook delivery could not be accepted."""


class WebhookSignatureError(WebhookError):
    """The delivery's signature header is missing or matches no configured secret.

    The message never names the header's value nor any secret.
    """


class WebhookPayloadError(WebhookError):
    """The delivery's body or headers are malformed (not JSON, no event, too large)."""


class IframeVerificationError(DrChronoError):
    """An iframe request's signed query string failed verification.

    Raised for a missing, malformed, expired, replayed or forged `jwt` parameter, or one whose
    claims disagree with the other parameters; the message names the check, never a value.
    """
