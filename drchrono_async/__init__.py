"""drchrono-async: an asyncio client for the DrChrono v4 EHR API."""

from . import errors, records
from ._client import DrChronoClient
from ._converter import DrChronoConverter, RecordDecodeWarning, converter, make_converter
from ._version import __version__
from .errors import (
    APIError,
    AuthenticationError,
    BadRequestError,
    ConflictError,
    DrChronoError,
    InvalidRequestError,
    NotFoundError,
    PaginationError,
    PermissionDeniedError,
    QuotaBackendError,
    QuotaExhaustedError,
    RateLimitError,
    RecordDecodeError,
    RedirectError,
    ResponseDecodeError,
    ServerError,
    TransportError,
)
from .oauth import (
    FileTokenStore,
    MemoryTokenStore,
    OAuthApp,
    RedisTokenStore,
    Token,
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

__all__ = [
    "APIError",
    "AuthenticationError",
    "BadRequestError",
    "Clock",
    "ConflictError",
    "DateRange",
    "DrChronoClient",
    "DrChronoConverter",
    "DrChronoError",
    "FileTokenStore",
    "HourlyQuota",
    "InvalidRequestError",
    "MemoryTokenStore",
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
    "ResponseDecodeError",
    "ServerError",
    "SystemClock",
    "Token",
    "TokenStore",
    "TransportError",
    "__version__",
    "converter",
    "errors",
    "make_converter",
    "records",
]
