"""The in-process way in: an httpx transport that hands requests to the emulator's core."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

import httpx

from ._wire import EmuRequest, EmuResponse

if TYPE_CHECKING:
    from ._emulator import Emulator

__all__ = ["EmulatorTransport"]

_SLOW_PIECES = 8


class EmulatorTransport(httpx.AsyncBaseTransport):
    """Sends each request to `Emulator.handle` without a socket.

    Connection faults surface as the exceptions httpx raises for them on a real connection:
    `"reset"` as `httpx.ConnectError` (nothing reached the server), `"drop"` as
    `httpx.RemoteProtocolError` before any response (the request *was* applied), `"truncate"`
    as `httpx.RemoteProtocolError` while the body is read.
    """

    def __init__(self, emulator: Emulator) -> None:
        self.emulator = emulator

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        body = await request.aread()
        url = request.url
        req = EmuRequest(
            method=request.method,
            path=url.path,
            query_string=url.query.decode("ascii", "replace"),
            headers={
                k.decode("latin-1").lower(): v.decode("latin-1") for k, v in request.headers.raw
            },
            body=body,
            origin=f"{url.scheme}://{url.netloc.decode('ascii')}",
        )
        resp = await self.emulator.handle(req)
        if resp.fault == "reset":
            raise httpx.ConnectError("[Errno 111] Connection refused (emulated)", request=request)
        if resp.fault == "drop":
            raise httpx.RemoteProtocolError(
                "Server disconnected without sending a response. (emulated)", request=request
            )
        headers = response_headers(resp)
        if resp.fault in ("truncate", "slow"):
            stream = _FaultyStream(self.emulator, resp, request)
            return httpx.Response(resp.status, headers=headers, stream=stream, request=request)
        return httpx.Response(resp.status, headers=headers, content=resp.body, request=request)


def response_headers(resp: EmuResponse) -> list[tuple[str, str]]:
    headers = []
    if resp.content_type is not None:
        headers.append(("Content-Type", resp.content_type))
    headers.append(("Content-Length", str(len(resp.body))))
    headers.extend(resp.headers)
    return headers


class _FaultyStream(httpx.AsyncByteStream):
    """A body that trickles over the emulator's clock, or stops halfway."""

    def __init__(self, emulator: Emulator, resp: EmuResponse, request: httpx.Request) -> None:
        self._emulator = emulator
        self._resp = resp
        self._request = request

    async def __aiter__(self) -> AsyncIterator[bytes]:
        body = self._resp.body
        if self._resp.fault == "truncate":
            yield body[: len(body) // 2]
            raise httpx.RemoteProtocolError(
                "peer closed connection without sending complete message body (emulated)",
                request=self._request,
            )
        step = max(1, -(-len(body) // _SLOW_PIECES))
        pause = self._resp.slow_seconds / _SLOW_PIECES
        for start in range(0, len(body), step):
            await self._emulator.clock.sleep(pause)
            yield body[start : start + step]
