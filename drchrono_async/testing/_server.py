"""The loopback way in: a small HTTP/1.1 server on asyncio streams.

It is written on asyncio directly rather than on an ASGI server because the connection faults
need the socket: `"reset"` aborts the connection (RST) without answering, `"drop"` closes it
after the request was applied, `"truncate"` closes it halfway through the body. It keeps
connections alive, reads `Content-Length` and chunked bodies, and answers with
`Content-Length`; that is all an HTTP client of the API needs.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING
from urllib.parse import unquote

from ._wire import EmuRequest

if TYPE_CHECKING:
    from ._emulator import Emulator

__all__ = ["serve"]

logger = logging.getLogger("drchrono_async.testing")

_REASONS = {
    200: "OK",
    201: "Created",
    204: "No Content",
    301: "Moved Permanently",
    302: "Found",
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    409: "Conflict",
    413: "Content Too Large",
    414: "URI Too Long",
    429: "Too Many Requests",
    431: "Request Header Fields Too Large",
    500: "Internal Server Error",
    505: "HTTP Version Not Supported",
}
_MAX_LINE = 16 * 1024  # a request line or one header line
_MAX_HEADERS = 100
_MAX_BODY = 64 * 1024 * 1024
_SLOW_PIECES = 8


class _BadRequest(Exception):
    """A request that cannot be read: answered with `status`, then the connection closes."""

    def __init__(self, status: int = 400) -> None:
        super().__init__(status)
        self.status = status


@contextlib.asynccontextmanager
async def serve(emulator: Emulator, host: str, port: int) -> AsyncIterator[str]:
    """Serve `emulator` until the context exits; yields `http://host:port`."""
    connections: dict[asyncio.StreamWriter, asyncio.Task[None] | None] = {}

    url = ""

    async def on_connect(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connections[writer] = asyncio.current_task()
        try:
            await _connection(emulator, reader, writer, url)
        finally:
            connections.pop(writer, None)

    server = await asyncio.start_server(on_connect, host, port, limit=_MAX_LINE)
    bound = server.sockets[0].getsockname()
    url = f"http://{host if ':' not in host else f'[{host}]'}:{bound[1]}"
    try:
        yield url
    finally:
        server.close()
        # Idle keep-alive connections would outlive the server: cut them, then let their
        # handlers see the end of the stream and finish before the loop tears them down.
        handlers = [task for task in connections.values() if task is not None]
        for writer in list(connections):
            writer.transport.abort()
        if handlers:
            await asyncio.wait(handlers, timeout=5)
        # Bounded, so a stop never hangs: wait_closed can wait on a connection the server
        # accepted whose handler never registered (nothing of ours to abort). A Ctrl-C of
        # `emulator` was once seen to take over 10 s; the cause was not pinned down.
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(server.wait_closed(), 2)


async def _connection(
    emulator: Emulator, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, origin: str
) -> None:
    try:
        while True:
            try:
                req, keep_alive = await _read_request(reader, origin)
            except _BadRequest as bad:
                reason = _REASONS.get(bad.status, "Bad Request")
                writer.write(
                    f"HTTP/1.1 {bad.status} {reason}\r\nContent-Length: 0\r\n"
                    "Connection: close\r\n\r\n".encode("latin-1")
                )
                await writer.drain()
                return
            if req is None:
                return
            try:
                resp = await emulator.handle(req)
            except Exception:  # the emulator's own bug: a 500, never a dead connection
                logger.exception("emulator: %s %s failed", req.method, req.path[:100])
                writer.write(
                    b"HTTP/1.1 500 Internal Server Error\r\nContent-Length: 0\r\n"
                    b"Connection: close\r\n\r\n"
                )
                await writer.drain()
                return
            if resp.fault == "reset":
                writer.transport.abort()
                return
            if resp.fault == "drop":
                return
            head = [f"HTTP/1.1 {resp.status} {_REASONS.get(resp.status, 'Unknown')}"]
            if resp.content_type is not None:
                head.append(f"Content-Type: {resp.content_type}")
            head.append(f"Content-Length: {len(resp.body)}")
            head.extend(f"{k}: {v}" for k, v in resp.headers)
            head.append("Server: drchrono-async-emulator")
            if not keep_alive:
                head.append("Connection: close")
            writer.write(("\r\n".join(head) + "\r\n\r\n").encode("latin-1"))
            body = b"" if req.method == "HEAD" else resp.body  # HEAD: the length, no body
            if resp.fault == "truncate":
                writer.write(body[: len(body) // 2])
                await writer.drain()
                return
            if resp.fault == "slow":
                step = max(1, -(-len(body) // _SLOW_PIECES))
                for start in range(0, len(body), step):
                    await emulator.clock.sleep(resp.slow_seconds / _SLOW_PIECES)
                    writer.write(body[start : start + step])
                    await writer.drain()
            else:
                writer.write(body)
                await writer.drain()
            if not keep_alive:
                return
    except (ConnectionError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
        return
    finally:
        writer.close()


async def _line(reader: asyncio.StreamReader, too_long: int) -> bytes:
    try:
        return await reader.readline()
    except (ValueError, asyncio.LimitOverrunError):  # longer than the stream's limit
        raise _BadRequest(too_long) from None


async def _read_request(
    reader: asyncio.StreamReader, origin: str
) -> tuple[EmuRequest | None, bool]:
    line = await _line(reader, 414)
    if not line:
        return None, False
    try:
        method, target, version = line.decode("latin-1").split()
    except ValueError:
        raise _BadRequest from None
    if version not in ("HTTP/1.1", "HTTP/1.0"):
        raise _BadRequest(505 if version.startswith("HTTP/") else 400)
    if not method.isalpha() or not target.startswith("/"):
        raise _BadRequest
    headers: dict[str, str] = {}
    for _ in range(_MAX_HEADERS + 1):
        raw = await _line(reader, 431)
        if raw in (b"\r\n", b"\n", b""):
            break
        name, sep, value = raw.decode("latin-1").partition(":")
        name = name.strip().lower()
        if not sep or not name or any(c in name for c in " \t"):
            raise _BadRequest
        if name in headers and name in ("content-length", "transfer-encoding", "host"):
            raise _BadRequest  # two framings: a smuggling attempt, not a request
        headers[name] = value.strip()
    else:
        raise _BadRequest(431)
    encoding = headers.get("transfer-encoding", "").lower()
    if encoding and "content-length" in headers:
        raise _BadRequest
    if encoding == "chunked":
        body = await _read_chunked(reader)
    elif encoding:
        raise _BadRequest
    else:
        length = _content_length(headers.get("content-length", "0"))
        body = await reader.readexactly(length) if length else b""
    connection = headers.get("connection", "").lower()
    keep_alive = connection != "close" and (version != "HTTP/1.0" or connection == "keep-alive")
    path, _, query = target.partition("?")
    # The origin of links the emulator builds is its own URL, never the client's Host header.
    req = EmuRequest(method.upper(), unquote(path), query, headers, body, origin)
    return req, keep_alive


def _content_length(value: str) -> int:
    """A Content-Length of ASCII digits only (not "-1", "2, 2", "1e3"), within the limit."""
    if not value.isascii() or not value.isdigit() or len(value) > 12:
        raise _BadRequest
    length = int(value)
    if length > _MAX_BODY:
        raise _BadRequest(413)
    return length


async def _read_chunked(reader: asyncio.StreamReader) -> bytes:
    parts: list[bytes] = []
    total = 0
    while True:
        size_line = await _line(reader, 400)
        digits = size_line.split(b";", 1)[0].strip()
        if not digits or len(digits) > 8 or not all(c in b"0123456789abcdefABCDEF" for c in digits):
            raise _BadRequest
        size = int(digits, 16)
        if size == 0:
            while (await reader.readline()) not in (b"\r\n", b"\n", b""):
                pass
            return b"".join(parts)
        total += size
        if total > _MAX_BODY:
            raise _BadRequest(413)
        parts.append(await reader.readexactly(size))
        await reader.readexactly(2)
