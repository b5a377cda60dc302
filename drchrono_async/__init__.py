"""drchrono-async: an asyncio client for the DrChrono v4 EHR API."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from . import errors
from ._version import __version__
from .errors import (
    APIError,
    AuthenticationError,
    BadRequestError,
    ConflictError,
    DrChronoError,
    IframeVerificationError,
    InvalidGrantError,
    InvalidRequestError,
    MissingExtraError,
    NotFoundError,
    PaginationError,
    PermissionDeniedError,
    QuotaBackendError,
    QuotaExhaustedError,
    RateLimitError,
    RecordDecodeError,
    RedirectError,
    RequestError,
    ResponseDecodeError,
    ServerError,
    StoreError,
    StoreLockedError,
    StoreOpenError,
    StoreOpenTimeoutError,
    StoreTimeoutError,
    TokenConflictError,
    TokenStoreError,
    TransportError,
    WebhookError,
    WebhookPayloadError,
    WebhookSignatureError,
)
from .errors import TimeoutError as TimeoutError  # re-exported; not in __all__ (see there)

# The rest is imported on first use (PEP 562), so that `import drchrono_async` and the
# command line's `--help` do not load httpx, cattrs and every record module up front.
_LAZY: dict[str, str] = {
    "DrChronoClient": "._client",
    "CallCount": "._transport",
    "DrChronoConverter": "._converter",
    "RecordDecodeWarning": "._converter",
    "converter": "._converter",
    "make_converter": "._converter",
    "FileTokenStore": ".oauth",
    "MemoryTokenStore": ".oauth",
    "OAuthApp": ".oauth",
    "RedisTokenStore": ".oauth",
    "Token": ".oauth",
    "TokenCipher": ".oauth",
    "TokenStore": ".oauth",
    "Page": ".pagination",
    "Paginator": ".pagination",
    "Clock": ".ratelimit",
    "HourlyQuota": ".ratelimit",
    "Priority": ".ratelimit",
    "Quota": ".ratelimit",
    "QuotaSnapshot": ".ratelimit",
    "RedisQuota": ".ratelimit",
    "SystemClock": ".ratelimit",
    "DateRange": ".records",
}

if TYPE_CHECKING:
    from . import records
    from ._client import DrChronoClient
    from ._converter import DrChronoConverter, RecordDecodeWarning, converter, make_converter
    from ._transport import CallCount
    from .oauth import (
        FileTokenStore,
        MemoryTokenStore,
        OAuthApp,
        RedisTokenStore,
        Token,
        TokenCipher,
        TokenStore,
    )
    from .pagination import Page, Paginator
    from .ratelimit import (
        Clock,
        HourlyQuota,
        Priority,
        Quota,
        QuotaSnapshot,
        RedisQuota,
        SystemClock,
    )
    from .records import DateRange


def __getattr__(name: str) -> Any:
    if name == "records":
        return importlib.import_module(".records", __name__)
    where = _LAZY.get(name)
    if where is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(where, __name__), name)
    globals()[name] = value  # found at once next time
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY, "records"})


# Every error of `errors.__all__` but `TimeoutError`: a star import must not shadow the
# builtin name (`drchrono_async.TimeoutError` and `errors.TimeoutError` still import).
__all__ = [
    "APIError",
    "AuthenticationError",
    "BadRequestError",
    "CallCount",
    "Clock",
    "ConflictError",
    "DateRange",
    "DrChronoClient",
    "DrChronoConverter",
    "DrChronoError",
    "FileTokenStore",
    "HourlyQuota",
    "IframeVerificationError",
    "InvalidGrantError",
    "InvalidRequestError",
    "MemoryTokenStore",
    "MissingExtraError",
    "NotFoundError",
    "OAuthApp",
    "Page",
    "PaginationError",
    "Paginator",
    "PermissionDeniedError",
    "Priority",
    "Quota",
    "QuotaBackendError",
    "QuotaExhaustedError",
    "QuotaSnapshot",
    "RateLimitError",
    "RecordDecodeError",
    "RecordDecodeWarning",
    "RedirectError",
    "RedisQuota",
    "RedisTokenStore",
    "RequestError",
    "ResponseDecodeError",
    "ServerError",
    "StoreError",
    "StoreLockedError",
    "StoreOpenError",
    "StoreOpenTimeoutError",
    "StoreTimeoutError",
    "SystemClock",
    "Token",
    "TokenCipher",
    "TokenConflictError",
    "TokenStore",
    "TokenStoreError",
    "TransportError",
    "WebhookError",
    "WebhookPayloadError",
    "WebhookSignatureError",
    "__version__",
    "converter",
    "errors",
    "make_converter",
    "records",
]
