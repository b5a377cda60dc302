"""One request, end to end: permit, send, redirects, classification, retries, logging.

Everything that happens to every HTTP call lives here, in this order:

1. take one permit from the quota (every hop and every retry is a real call and counts);
2. send through httpx, with httpx's own redirect following off;
3. on 301/302/303/307/308 re-send the original method, headers and body to `Location`
   (at most `MAX_REDIRECTS` hops); the bearer token goes only to the client's own origin;
4. on 429 pause the whole quota and re-send once the wait is over, unless the wait exceeds
   `max_wait`;
5. classify the answer into decoded JSON, text, `None`, or a typed error;
6. retry transient failures with tenacity (exponential backoff, full jitter); a request that
   is not idempotent is retried only when it provably never reached the server.

Logs carry the method, the path without its query, the status, the time and the attempt:
never a header value, a token, a query value or a body.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import email.utils
import logging
import math
import re
import time
from collections.abc import Iterator, Mapping
from contextvars import ContextVar
from typing import Any, Literal

import attrs
import httpx
import orjson
from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception,
    stop_after_attempt,
    wait_random_exponential,
)

from . import metrics as _metrics
from ._auth import Auth
from ._failures import failure_reason
from ._redact import safe_path
from ._version import __version__
from .errors import (
    APIError,
    AuthenticationError,
    BadRequestError,
    ConflictError,
    DrChronoError,
    InvalidRequestError,
    NotFoundError,
    PermissionDeniedError,
    QuotaBackendError,
    QuotaExhaustedError,
    RateLimitError,
    RedirectError,
    RequestError,
    ResponseDecodeError,
    ServerError,
    TransportError,
)
from .errors import TimeoutError as RequestTimeoutError
from .ratelimit import Clock, Priority, Quota
from .ratelimit._priority import acquire_permit

__all__ = ["MAX_REDIRECTS", "Expect", "Transport"]

logger = logging.getLogger("drchrono_async")

MAX_REDIRECTS = 5
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
RETRYABLE_STATUSES = frozenset({500, 502, 503, 504})
IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})
# A server that keeps answering 429 after every pause is not a quota problem any more.
MAX_CONSECUTIVE_429 = 8
MAX_SERVER_OFFSET = 86_400.0
USER_AGENT = f"drchrono-async/{__version__} (+httpx/{httpx.__version__})"

# httpx errors raised before a single byte of the request can have reached the server.
_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout, httpx.UnsupportedProtocol)
_FIELD_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.]{0,63}")
_THROTTLE_BODY = re.compile(r"available in\s+([0-9]+(?:\.[0-9]+)?)\s+second", re.IGNORECASE)

Expect = Literal["json", "text"]


@attrs.define
class CallCount:
    """HTTP requests sent while it was counting: retries, redirect hops and 429 re-sends
    included, by any client, in the context that started it and the tasks started there."""

    calls: int = 0


_counting: ContextVar[CallCount | None] = ContextVar("drchrono_call_count", default=None)


@contextlib.contextmanager
def count_calls() -> Iterator[CallCount]:
    """Count the requests sent in this context (see `DrChronoClient.count_calls`)."""
    count = CallCount()
    token = _counting.set(count)
    try:
        yield count
    finally:
        _counting.reset(token)


_ERRORS: Mapping[int, type[APIError]] = {
    400: BadRequestError,
    401: AuthenticationError,
    403: PermissionDeniedError,
    404: NotFoundError,
    409: ConflictError,
}


class _Life:
    """Whether the client (and so every view of it) is closed."""

    closed = False


class _ServerOffset:
    """API server time minus local time, shared by the client and its views."""

    offset: float | None = None


def origin(url: httpx.URL) -> tuple[str, str, int | None]:
    """(scheme, host, port) with the default port made explicit, for same-origin checks."""
    port = url.port or {"http": 80, "https": 443}.get(url.scheme)
    return (url.scheme, url.host, port)


class Transport:
    """Sends one logical request; owns retries, redirects, 429 pauses and classification."""

    def __init__(
        self,
        *,
        http: httpx.AsyncClient,
        base_url: httpx.URL | str,
        auth: Auth | None,
        clock: Clock,
        quota: Quota | None = None,
        max_retries: int = 4,
        max_wait: float | None = None,
        timeout: httpx.Timeout | None = None,
        backoff: float = 0.5,
        backoff_max: float = 30.0,
        max_concurrency: int = 8,
        priority: Priority = Priority.INTERACTIVE,
    ) -> None:
        self._http = http
        self.base_url = httpx.URL(base_url)
        self._origin = origin(self.base_url)
        # None: requests carry no bearer token (the OAuth token endpoint).
        self._auth = auth
        # API server time minus local time, from the latest usable `Date` header; shared
        # with every view, so a view made before the first answer still learns it.
        self._server = _ServerOffset()
        self.clock = clock
        self.quota = quota
        self.max_retries = max_retries
        self.max_wait = max_wait
        self.priority = priority  # the quota lane every permit of this transport waits in
        self._timeout = timeout
        self._backoff = backoff
        self._backoff_max = backoff_max
        # Bounds requests in flight across every listing and shard of the client. Held only
        # around the send: a request waiting for a permit does not block a connection.
        self._in_flight = asyncio.Semaphore(max_concurrency)
        # Shared with every view (`with_options`): closing the client closes them all.
        self._life = _Life()

    # -- public -------------------------------------------------------------------------------

    @property
    def closed(self) -> bool:
        """True once the client closed: no request is sent after it, by any view."""
        return self._life.closed

    @closed.setter
    def closed(self, value: bool) -> None:
        self._life.closed = value

    def with_options(self, **options: Any) -> Transport:
        """A copy with other per-call options, sharing the pool, quota, auth and life."""
        view = copy.copy(self)
        for name, value in options.items():
            public = name in ("max_retries", "max_wait", "priority")
            setattr(view, name if public else f"_{name}", value)
        return view

    def url_for(self, path_or_url: str) -> httpx.URL:
        """Resolve a path against the base URL; an absolute URL must share its origin."""
        if not isinstance(path_or_url, str):
            raise InvalidRequestError("a request path must be a string")
        url = self.base_url.join(path_or_url)
        if origin(url) != self._origin:
            raise InvalidRequestError(
                f"refusing to send the access token to another origin ({url.scheme}://{url.host})"
            )
        return url

    def is_same_origin(self, url: httpx.URL) -> bool:
        return origin(url) == self._origin

    async def request(
        self,
        method: str,
        path_or_url: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        data: Mapping[str, Any] | None = None,
        files: Mapping[str, Any] | None = None,
        expect: Expect = "json",
    ) -> Any:
        """Send one request with retries; return decoded JSON (or text), `None` when empty."""
        if self.closed:
            raise InvalidRequestError("this client is closed")
        method = method.upper()
        try:
            request = self._build(method, self.url_for(path_or_url), params, json, data, files)
        except httpx.InvalidURL:
            raise InvalidRequestError("the request's path or query is not a valid URL") from None
        retrying = AsyncRetrying(
            stop=stop_after_attempt(self.max_retries + 1),
            wait=wait_random_exponential(multiplier=self._backoff, max=self._backoff_max),
            retry=retry_if_exception(lambda exc: _is_retryable(method, exc)),
            sleep=self.clock.sleep,
            before_sleep=_log_retry,
            reraise=True,
        )
        result: Any = None
        async for attempt in retrying:
            with attempt:
                result = await self._send(request, expect, attempt.retry_state.attempt_number)
        return result

    # -- one attempt ---------------------------------------------------------------------------

    def _build(
        self,
        method: str,
        url: httpx.URL,
        params: Mapping[str, Any] | None,
        json: Any,
        data: Mapping[str, Any] | None,
        files: Mapping[str, Any] | None,
    ) -> httpx.Request:
        if json is not None and (data is not None or files is not None):
            raise InvalidRequestError("send either json or data/files, not both")
        # The Authorization header is set per hop in `_send`: a refresh may change it.
        headers = {
            "Accept": "application/json",
            "User-Agent": USER_AGENT,
        }
        extra: dict[str, Any] = {}
        if self._timeout is not None:
            extra["timeout"] = self._timeout
        request = self._http.build_request(
            method,
            url,
            params=params,
            json=json,
            data=data,
            files=files,
            headers=headers,
            **extra,
        )
        # Materialise the body once so that retries and redirect hops re-send the same bytes.
        request.read()
        return request

    async def _send(self, request: httpx.Request, expect: Expect, attempt: int) -> Any:
        hops = 0
        throttles = 0
        resent_after_401 = False
        while True:
            await self._permit(request)
            token = await self._authorize(request)
            try:
                response = await self._send_once(request, attempt)
            except RequestError:
                if (recorder := _metrics.active) is not None:  # metrics: a call, no answer
                    recorder.call(request.method, 0, self.priority)
                raise
            status = response.status_code
            if (recorder := _metrics.active) is not None:
                recorder.call(request.method, status, self.priority)
            if status == 401 and token is not None and not resent_after_401:
                # Refreshed elsewhere (the old access token dies with its refresh token), or
                # refreshable now: re-send once with the new token.
                assert self._auth is not None
                if await self._auth.unauthorized(token) is not None:
                    resent_after_401 = True
                    continue
            if status in REDIRECT_STATUSES:
                hops += 1
                request = self._follow(request, response, hops)
                continue
            if status == 429:
                throttles += 1
                await self._wait_out_429(request, response, throttles)
                continue
            return self._classify(request, response, expect)

    async def _authorize(self, request: httpx.Request) -> str | None:
        if self._auth is None:
            return None
        token = await self._auth.token()
        request.headers["Authorization"] = f"Bearer {token}"
        return token

    def server_offset(self) -> float:
        """API server time minus local time, from `Date` headers (0 until one arrives)."""
        return self._server.offset or 0.0

    async def _permit(self, request: httpx.Request) -> None:
        if self.quota is None:
            return
        recorder = _metrics.active
        started = self.clock.now() if recorder is not None else 0.0
        try:
            await acquire_permit(self.quota, max_wait=self.max_wait, priority=self.priority)
        except QuotaExhaustedError as exc:
            # The quota knows no request: say which one went unsent.
            raise QuotaExhaustedError(
                str(exc),
                method=request.method,
                path=safe_path(request.url),
                resets_at=exc.resets_at,
                retry_after=exc.retry_after,
            ) from None
        except QuotaBackendError as exc:
            raise _quota_failed(request, exc) from None
        except DrChronoError:
            raise
        except Exception as exc:  # a quota of the caller's own: typed, by its type only
            raise _quota_failed(request, exc) from None
        if recorder is not None:
            recorder.permit_wait(self.priority, self.clock.now() - started)

    async def _throttled(self, request: httpx.Request, retry_after: float | None) -> float:
        """`quota.throttled`, its store's failure typed with the request's method and path."""
        assert self.quota is not None
        try:
            return await self.quota.throttled(retry_after)
        except QuotaBackendError as exc:
            raise _quota_failed(request, exc) from None
        except DrChronoError:
            raise
        except Exception as exc:  # a quota of the caller's own: typed, by its type only
            raise _quota_failed(request, exc) from None

    async def _send_once(self, request: httpx.Request, attempt: int) -> httpx.Response:
        method, path = request.method, safe_path(request.url)
        started = time.perf_counter()
        if (count := _counting.get()) is not None:
            count.calls += 1
        try:
            async with self._in_flight:
                response = await self._http.send(request, follow_redirects=False)
        except httpx.DecodingError:
            # A body its Content-Encoding cannot decode: a bad answer, sent or not, transient.
            logger.debug("%s %s: undecodable body (attempt %d)", method, path, attempt)
            raise ResponseDecodeError(
                f"{method} {path} answered a body its Content-Encoding does not decode",
                method=method,
                path=path,
                status_code=0,
            ) from None
        except httpx.RemoteProtocolError as exc:
            # httpx prepares the next request of any redirect, even when not following it,
            # and fails on a Location that is no URL: that is the redirect's fault.
            if "location header" not in str(exc).lower():
                raise self._transport_error(request, exc, attempt) from None
            raise RedirectError(
                f"{method} {path}: a redirect without a usable Location", method=method, path=path
            ) from None
        except httpx.InvalidURL:
            # Also from preparing a redirect's next request: a Location that is no URL.
            raise RedirectError(
                f"{method} {path}: a redirect without a usable Location", method=method, path=path
            ) from None
        except httpx.HTTPError as exc:  # transport errors, timeouts, protocol errors, streams
            # `from None`: httpx's and h11's messages may quote bytes the server sent.
            raise self._transport_error(request, exc, attempt) from None
        except RuntimeError as exc:
            if self._http.is_closed or self.closed:
                # httpx refuses to send on a client that was closed (a caller's own client).
                raise InvalidRequestError(
                    "the HTTP client of this DrChronoClient is closed"
                ) from None
            # Anything else (a custom transport's bug, a closed event loop) is no closed
            # client: typed by its type only (its text may quote what was sent), not retried.
            raise self._unexpected(request, exc, attempt) from None
        elapsed_ms = (time.perf_counter() - started) * 1000
        logger.debug(
            "%s %s -> %d in %.1f ms (attempt %d)",
            method,
            path,
            response.status_code,
            elapsed_ms,
            attempt,
        )
        if (server_now := _server_time(response)) is not None:
            local = self.clock.now()
            # A Date a day away from this clock is garbage, not a clock offset.
            if abs(server_now - local) <= MAX_SERVER_OFFSET:
                self._server.offset = server_now - local
            if self.quota is not None:
                self.quota.observe_server_time(server_now)
        return response

    @staticmethod
    def _transport_error(
        request: httpx.Request, exc: httpx.HTTPError, attempt: int
    ) -> TransportError:
        method, path = request.method, safe_path(request.url)
        timeout = isinstance(exc, httpx.TimeoutException)
        what = "timed out" if timeout else "failed"
        reason = failure_reason(exc)
        logger.debug("%s %s %s: %s (attempt %d)", method, path, what, type(exc).__name__, attempt)
        return (RequestTimeoutError if timeout else TransportError)(
            f"{method} {path} {what}: {type(exc).__name__}"
            + (f" ({reason})" if reason and not timeout else ""),
            method=method,
            path=path,
            sent=not isinstance(exc, _NOT_SENT),
            reason=reason,
        )

    @staticmethod
    def _unexpected(request: httpx.Request, exc: Exception, attempt: int) -> TransportError:
        method, path = request.method, safe_path(request.url)
        logger.debug("%s %s failed: %s (attempt %d)", method, path, type(exc).__name__, attempt)
        return _UnexpectedTransportError(
            f"{method} {path} failed: {type(exc).__name__}", method=method, path=path, sent=True
        )

    def _follow(self, request: httpx.Request, response: httpx.Response, hops: int) -> httpx.Request:
        method, path = request.method, safe_path(request.url)
        if hops > MAX_REDIRECTS:
            raise RedirectError(
                f"{method} {path}: more than {MAX_REDIRECTS} redirects", method=method, path=path
            )
        target = _location(request.url, response.headers.get("Location"))
        if target is None:
            raise RedirectError(
                f"{method} {path}: a redirect without a usable Location", method=method, path=path
            )
        if not self.is_same_origin(target):
            # The bearer token must never leave the API's origin; nothing is sent.
            raise RedirectError(
                f"{method} {path}: a redirect to another origin was refused",
                method=method,
                path=path,
            )
        logger.debug("%s %s redirected (hop %d)", method, path, hops)
        headers = [(k, v) for k, v in request.headers.raw if k.lower() != b"host"]
        if response.status_code == 303:
            # RFC 9110: See Other is fetched with GET, without the original body.
            dropped = {b"content-type", b"content-length", b"transfer-encoding"}
            headers = [(k, v) for k, v in headers if k.lower() not in dropped]
            return httpx.Request("GET", target, headers=headers, extensions=request.extensions)
        # The reference's rule for the rest: the same method, headers and body.
        return httpx.Request(
            method,
            target,
            headers=headers,
            content=request.content,
            extensions=request.extensions,
        )

    async def _wait_out_429(
        self, request: httpx.Request, response: httpx.Response, throttles: int
    ) -> None:
        method, path = request.method, safe_path(request.url)
        retry_after = _retry_after(response, self.clock.now())
        body = _json_or_none(response)
        if self.quota is None or throttles > MAX_CONSECUTIVE_429:
            raise RateLimitError(
                _status_message(method, path, response),
                method=method,
                path=path,
                body=body,
                retry_after=retry_after,
            )
        paused_until = await self._throttled(request, retry_after)
        wait = max(0.0, paused_until - self.clock.now())
        if self.max_wait is not None and wait > self.max_wait:
            raise RateLimitError(
                _status_message(method, path, response)
                + f"; the wait ({wait:.0f} s) exceeds max_wait",
                method=method,
                path=path,
                body=body,
                retry_after=wait,
            )

    def _classify(self, request: httpx.Request, response: httpx.Response, expect: Expect) -> Any:
        method, path, status = request.method, safe_path(request.url), response.status_code
        if 200 <= status < 300:
            content = response.content
            if status == 204 or not content.strip():
                return None
            content_type = response.headers.get("Content-Type", "")
            if "text/html" in content_type:
                raise ResponseDecodeError(
                    f"{method} {path} answered {status} with an HTML page instead of data",
                    method=method,
                    path=path,
                    status_code=status,
                )
            if expect == "text":
                try:
                    return response.text
                except (LookupError, ValueError):  # a charset Python does not know
                    return content.decode("utf-8", "replace")
            try:
                return orjson.loads(content)
            except orjson.JSONDecodeError:
                raise ResponseDecodeError(
                    f"{method} {path} answered {status} with a body that is not JSON",
                    method=method,
                    path=path,
                    status_code=status,
                ) from None
        body = _json_or_none(response)
        message = _status_message(method, path, response)
        if status == 400 and isinstance(body, Mapping) and body:
            # Field names only: a key the server chose that is not a plain name (it could echo
            # a header or a value) is counted, never shown.
            names = sorted(k for k in body if isinstance(k, str) and _FIELD_NAME.fullmatch(k))
            others = len(body) - len(names)
            shown = ", ".join(names) + (f" and {others} other(s)" if others else "")
            message += f"; invalid fields: {shown}"
        error_type = _ERRORS.get(status) or (ServerError if status >= 500 else APIError)
        raise error_type(message, status_code=status, method=method, path=path, body=body)


# -- helpers ---------------------------------------------------------------------------------


class _UnexpectedTransportError(TransportError):
    """The HTTP transport raised something other than an httpx error (a `RuntimeError` on a
    client that is not closed): a `TransportError` to callers, never retried, since nothing
    says it is transient. `sent` is True: nothing says it was not."""


def _quota_failed(request: httpx.Request, exc: Exception) -> QuotaBackendError:
    """A quota's failure as a `QuotaBackendError` of the request that got no permit (its
    method and path): the store's own message (the error type only), or for a quota of the
    caller's own that raised something else, that exception's type."""
    if isinstance(exc, QuotaBackendError):
        message = str(exc)
    else:
        message = f"the quota failed: {type(exc).__name__}"
    return QuotaBackendError(message, method=request.method, path=safe_path(request.url))


def _is_retryable(method: str, exc: BaseException) -> bool:
    if isinstance(exc, _UnexpectedTransportError):
        return False
    if isinstance(exc, TransportError):
        # A request that never left is always safe to send again.
        return (not exc.sent) or method in IDEMPOTENT_METHODS
    if method not in IDEMPOTENT_METHODS:
        return False
    if isinstance(exc, ServerError):
        return exc.status_code in RETRYABLE_STATUSES
    return isinstance(exc, ResponseDecodeError)


def _log_retry(state: RetryCallState) -> None:
    exc = state.outcome.exception() if state.outcome else None
    wait = state.next_action.sleep if state.next_action else 0.0
    method = getattr(exc, "method", "?")
    path = getattr(exc, "path", "?")
    logger.warning(
        "%s %s: %s, retrying in %.2f s (attempt %d)",
        method,
        path,
        type(exc).__name__,
        wait,
        state.attempt_number + 1,
    )


def _status_message(method: str, path: str, response: httpx.Response) -> str:
    # Never the reason phrase: it is text the server chose.
    return f"{method} {path} answered {response.status_code}"


def _json_or_none(response: httpx.Response) -> Any:
    try:
        return orjson.loads(response.content) if response.content else None
    except orjson.JSONDecodeError:
        return None


def _retry_after(response: httpx.Response, now: float) -> float | None:
    """The wait of a 429: a `Retry-After` header (seconds or a date), else the DRF body.

    None for anything that is not a finite wait >= 0; the quota bounds the rest.
    """
    header = response.headers.get("Retry-After", "").strip()
    if header:
        try:
            wait = float(header)
        except ValueError:
            when = _http_date(header)
            if when is None:
                return None
            server_now = _server_time(response)
            wait = when - (server_now if server_now is not None else now)
        return wait if math.isfinite(wait) and wait >= 0 else None
    body = _json_or_none(response)
    detail = body.get("detail") if isinstance(body, Mapping) else None
    if isinstance(detail, str) and (m := _THROTTLE_BODY.search(detail[:1000])):
        wait = float(m.group(1))
        return wait if math.isfinite(wait) else None
    return None


def _http_date(value: str) -> float | None:
    """An HTTP date as epoch seconds, or None for anything unusable."""
    if len(value) > 100:
        return None
    try:
        return email.utils.parsedate_to_datetime(value).timestamp()
    except (TypeError, ValueError, IndexError, OverflowError, OSError):
        return None


def _server_time(response: httpx.Response) -> float | None:
    value = response.headers.get("Date")
    return _http_date(value) if value else None


def _location(base: httpx.URL, value: str | None) -> httpx.URL | None:
    """A redirect's target, or None when `Location` is not a usable http(s) URL."""
    if not value or not value.strip() or len(value) > 8192:
        return None
    if any(c < " " or c == "\x7f" for c in value):
        return None
    try:
        given = httpx.URL(value.strip())
        target = base.join(given)
    except (httpx.InvalidURL, ValueError, TypeError):
        return None
    if given.scheme and not given.host:  # "https:///x": absolute, but names no host
        return None
    if target.scheme not in ("http", "https") or not target.host or target.userinfo:
        return None
    return target
