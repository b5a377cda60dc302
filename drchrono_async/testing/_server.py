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
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING
from urllib.parse import unquote

from ._wire import EmuRequest

if TYPE_CHECKING:
    from ._emulator import Emulator

__all__ = ["serve"]

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
    413: "Payload Too Large",
    429: "Too Many Requests",
    500: "Internal Server Error",
}
_MAX_HEAD = 64 * 1024
_MAX_BODY = 64 * 1024 * 1024
_SLOW_PIECES = 8


class _BadRequest(Exception):
    pass


@contextlib.asynccontextmanager
async def serve(emulator: Emulator, host: str, port: int) -> AsyncIterator[str]:
    """Serve `emulator` until the context exits; yields `http://host:port`."""
    connections: dict[asyncio.StreamWriter, asyncio.Task[None] | None] = {}

    async def on_connect(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connections[writer] = asyncio.current_task()
        try:
            await _connection(emulator, reader, writer)
        finally:
            connections.pop(writer, None)

    server = await asyncio.start_server(on_connect, host, port, limit=_MAX_HEAD)
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
        await server.wait_closed()


async def _connection(
    emulator: Emulator, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
) -> None:
    try:
        while True:
            try:
                req, keep_alive = await _read_request(reader)
            except _BadRequest:
                writer.write(
                    b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                )
                await writer.drain()
                return
            if req is None:
                return
            resp = await emulator.handle(req)
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
            body = resp.body
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


async def _read_request(reader: asyncio.StreamReader) -> tuple[EmuRequest | None, bool]:
    line = await reader.readline()
    if not line:
        return None, False
    try:
        method, target, version = line.decode("latin-1").split()
    except ValueError:
        raise _BadRequest from None
    headers: dict[str, str] = {}
    while True:
        raw = await reader.readline()
        if raw in (b"\r\n", b"\n", b""):
            break
        name, sep, value = raw.decode("latin-1").partition(":")
        if not sep:
            raise _BadRequest
        headers[name.strip().lower()] = value.strip()
    if headers.get("transfer-encoding", "").lower() == "chunked":
        body = await _read_chunked(reader)
    else:
        length = int(headers.get("content-length") or 0)
        if length > _MAX_BODY:
            raise _BadRequest
        body = await reader.readexactly(length) if length else b""
    connection = headers.get("connection", "").lower()
    keep_alive = connection != "close" and (version != "HTTP/1.0" or connection == "keep-alive")
    path, _, query = target.partition("?")
    host = headers.get("host", "127.0.0.1")
    req = EmuRequest(method.upper(), unquote(path), query, headers, body, f"http://{host}")
    return req, keep_alive


async def _read_chunked(reader: asyncio.StreamReader) -> bytes:
    parts: list[bytes] = []
    total = 0
    while True:
        size_line = await reader.readline()
        try:
            size = int(size_line.split(b";", 1)[0].strip(), 16)
        except ValueError:
            raise _BadRequest from None
        if size == 0:
            while (await reader.readline()) not in (b"\r\n", b"\n", b""):
                pass
            return b"".join(parts)
        total += size
        if total > _MAX_BODY:
            raise _BadRequest
        parts.append(await reader.readexactly(size))
        await reader.readexactly(2)
