"""drchrono-async: an asyncio client for the DrChrono v4 EHR API."""

from . import errors
from ._client import DrChronoClient
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
    QuotaExhaustedError,
    RateLimitError,
    RecordDecodeError,
    RedirectError,
    ResponseDecodeError,
    ServerError,
    TransportError,
)
from .ratelimit import Clock, Quota, QuotaSnapshot, SystemClock

__all__ = [
    "APIError",
    "AuthenticationError",
    "BadRequestError",
    "Clock",
    "ConflictError",
    "DrChronoClient",
    "DrChronoError",
    "InvalidRequestError",
    "NotFoundError",
    "PaginationError",
    "PermissionDeniedError",
    "Quota",
    "QuotaExhaustedError",
    "QuotaSnapshot",
    "RateLimitError",
    "RecordDecodeError",
    "RedirectError",
    "ResponseDecodeError",
    "ServerError",
    "SystemClock",
    "TransportError",
    "__version__",
    "errors",
]
