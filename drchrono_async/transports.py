"""Optional HTTP transports for `DrChronoClient(transport=...)`.

`aiohttp_transport()` sends through aiohttp (the `aiohttp` extra, via `httpx-aiohttp`) instead
of httpcore. httpx's client stays in front, so retries, redirects, 429 handling and errors are
the library's own either way; only the connection pool and the HTTP/1.1 wire code change.
Measured on loopback (`benchmarks/paging.py`, see `benchmarks/RESULTS.md`): it takes less CPU
per request than httpcore, which matters at high concurrency and with large pages.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx

from ._checks import check_int, check_number, needs_extra

__all__ = ["aiohttp_transport"]


def aiohttp_transport(
    *, max_concurrency: int = 8, keepalive_expiry: float = 5.0
) -> httpx.AsyncBaseTransport:
    """An httpx transport backed by aiohttp, for `DrChronoClient(..., transport=...)`.

    Give it the client's `max_concurrency`: the pool keeps that many connections, as the
    client's own httpx pool would::

        DrChronoClient(token, max_concurrency=16, transport=aiohttp_transport(max_concurrency=16))

    Use one transport per client (the client closes it). The transport never follows
    redirects itself, keeps no cookies of its own (httpx does), and reports a connection lost
    after the request went out as a read error, not a connect error, so a POST is never
    re-sent on the belief that it did not reach the server.

    Raises:
        MissingExtraError: (an `ImportError`) when the `aiohttp` extra is not installed.
    """
    # The client's own bounds: a pool is never larger than the client can use.
    max_concurrency = check_int(max_concurrency, "max_concurrency", low=1, high=1024)
    keepalive_expiry = check_number(
        keepalive_expiry, "keepalive_expiry", low=0, high=3600, kind="a number of seconds"
    )
    with needs_extra("aiohttp", "aiohttp_transport()"):
        import aiohttp
        from httpx_aiohttp import AiohttpTransport

    # The same trust settings as httpx's own transport (SSL_CERT_FILE and friends).
    ssl_context = httpx.create_ssl_context()

    def session() -> aiohttp.ClientSession:
        # Called on the first request, inside the running loop, as aiohttp requires.
        connector = aiohttp.TCPConnector(
            limit=max_concurrency, keepalive_timeout=keepalive_expiry, ssl=ssl_context
        )
        # httpx already keeps cookies; a second jar would send them twice.
        return aiohttp.ClientSession(connector=connector, cookie_jar=aiohttp.DummyCookieJar())

    inner = AiohttpTransport(
        limits=httpx.Limits(
            max_connections=max_concurrency,
            max_keepalive_connections=max_concurrency,
            keepalive_expiry=keepalive_expiry,
        ),
        client=session,
    )
    return _AiohttpTransport(
        inner,
        connect_failed=aiohttp.ClientConnectorError,
        connect_timed_out=aiohttp.ConnectionTimeoutError,
        disconnected=aiohttp.ServerDisconnectedError,
    )


class _AiohttpTransport(httpx.AsyncBaseTransport):
    """`httpx_aiohttp.AiohttpTransport` with its error mapping corrected where it matters.

    httpx-aiohttp maps every `aiohttp.ClientConnectionError` to `httpx.ConnectTimeout`,
    including a server that hung up after reading the request. The library reads
    `ConnectTimeout` as "never sent" and would then retry a POST: a duplicate write. Only
    errors of the connect phase stay connect errors here (a refused connection becomes
    `httpx.ConnectError`, as with httpx's own transport).
    """

    def __init__(
        self,
        inner: httpx.AsyncBaseTransport,
        *,
        connect_failed: type[BaseException],
        connect_timed_out: type[BaseException],
        disconnected: type[BaseException],
    ) -> None:
        self._inner = inner
        self._connect_failed = connect_failed
        self._connect_timed_out = connect_timed_out
        self._disconnected = disconnected

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        try:
            response = await self._inner.handle_async_request(request)
        except httpx.ConnectTimeout as exc:
            raise self._remap(exc, request) from exc.__cause__
        return httpx.Response(
            status_code=response.status_code,
            headers=response.headers,
            stream=_Stream(response.stream, self, request),
            request=request,
            extensions=response.extensions,
        )

    def _remap(self, exc: httpx.ConnectTimeout, request: httpx.Request) -> httpx.TransportError:
        cause = exc.__cause__
        if cause is None or isinstance(cause, self._connect_timed_out):
            return exc
        message = str(exc) or type(cause).__name__
        if isinstance(cause, self._connect_failed):
            return httpx.ConnectError(message, request=request)
        if isinstance(cause, self._disconnected):
            return httpx.RemoteProtocolError(message, request=request)
        if isinstance(cause, TimeoutError):
            return httpx.ReadTimeout(message, request=request)
        return httpx.ReadError(message, request=request)

    async def aclose(self) -> None:
        await self._inner.aclose()


class _Stream(httpx.AsyncByteStream):
    """The response body, with the same error correction while it is read."""

    def __init__(self, stream: Any, transport: _AiohttpTransport, request: httpx.Request) -> None:
        self._stream = stream
        self._transport = transport
        self._request = request

    async def __aiter__(self) -> AsyncIterator[bytes]:
        try:
            async for chunk in self._stream:
                yield chunk
        except httpx.ConnectTimeout as exc:
            # Bytes of the answer arrived: the request was sent, whatever the error says.
            mapped = self._transport._remap(exc, self._request)
            if isinstance(mapped, (httpx.ConnectTimeout, httpx.ConnectError)):
                mapped = httpx.ReadError(str(exc), request=self._request)
            raise mapped from exc.__cause__

    async def aclose(self) -> None:
        await self._stream.aclose()
