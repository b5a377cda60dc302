"""The loopback way in: a small HTTP/1.1 server on asyncio streams.

It is written on asyncio directly rather than on an ASGI server because the connection faults
need the socket: `"reset"` aborts the connection (RST) without answering, `"drop"` closes it
after the request was applied, `"truncate"` closes it halfway through the body. It keeps
connections alive, reads `Content-Length` and chunked bodies (see `_http`), and answers with
`Content-Length`. A request it cannot read gets its 4xx and `Connection: close`, never a
traceback; one connection's trouble never stops the others.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from http import HTTPStatus
from typing import TYPE_CHECKING

import orjson

from ._http import STREAM_LIMIT, HttpError, RawRequest, read_request
from ._wire import EmuRequest, EmuResponse

if TYPE_CHECKING:
    from ._emulator import Emulator

__all__ = ["serve"]

logger = logging.getLogger("drchrono_async.testing")

_SLOW_PIECES = 8
# After refusing a request, what the peer still sends is read and dropped for a while before
# the socket closes: closing with unread data makes the kernel send RST, and an RST can destroy
# the refusal before the client has read it.
_LINGER_SECONDS = 2.0
_LINGER_BYTES = 1024 * 1024


def _reason(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Unknown"


@contextlib.asynccontextmanager
async def serve(emulator: Emulator, host: str, port: int) -> AsyncIterator[str]:
    """Serve `emulator` until the context exits; yields `http://host:port`.

    Absolute URLs in answers (`next`, `previous`, `Location`, file URLs of uploads) are built
    from that URL, never from the request's `Host` header.
    """
    connections: dict[asyncio.StreamWriter, asyncio.Task[None] | None] = {}
    origin = ""

    async def on_connect(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connections[writer] = asyncio.current_task()
        try:
            await _Connection(emulator, origin, reader, writer).run()
        finally:
            connections.pop(writer, None)

    server = await asyncio.start_server(on_connect, host, port, limit=STREAM_LIMIT)
    bound = server.sockets[0].getsockname()
    origin = f"http://{host if ':' not in host else f'[{host}]'}:{bound[1]}"
    try:
        yield origin
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


class _Connection:
    """One client connection: requests in order, answered one at a time."""

    def __init__(
        self,
        emulator: Emulator,
        origin: str,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
    ) -> None:
        self.emulator = emulator
        self.origin = origin
        self.reader = reader
        self.writer = writer

    async def run(self) -> None:
        try:
            while await self._one():
                pass
        except (ConnectionError, TimeoutError):
            pass  # the peer went away; nobody is left to answer
        except Exception:
            # Halfway through an answer there is nothing left to say on this connection.
            logger.exception("emulator server: unexpected error on a connection")
        finally:
            self.writer.close()
            with contextlib.suppress(Exception):
                await self.writer.wait_closed()

    async def _one(self) -> bool:
        """Serve one request; False when the connection is done."""
        try:
            raw = await read_request(self.reader)
        except HttpError as exc:
            await self._refuse(exc.status, exc.detail)
            return False
        if raw is None:
            return False
        try:
            resp = await self.emulator.handle(self._request(raw))
        except Exception:
            # A bug of the emulator's, not the client's: say so once, keep the server up.
            logger.exception("emulator server: error answering %s %s", raw.method, raw.path)
            await self._refuse(500, "A server error occurred.")
            return False
        if resp.fault == "reset":
            self.writer.transport.abort()
            return False
        if resp.fault == "drop":
            return False
        await self._answer(raw, resp)
        return raw.keep_alive and resp.fault != "truncate"

    def _request(self, raw: RawRequest) -> EmuRequest:
        return EmuRequest(raw.method, raw.path, raw.query, raw.headers, raw.body, self.origin)

    async def _answer(self, raw: RawRequest, resp: EmuResponse) -> None:
        writer = self.writer
        # 1xx, 204 and 304 answers have no body and say nothing of its length (RFC 9110).
        bodiless = resp.status < 200 or resp.status in (204, 304)
        head = [f"HTTP/1.1 {resp.status} {_reason(resp.status)}"]
        if resp.content_type is not None and not bodiless:
            head.append(f"Content-Type: {resp.content_type}")
        if not bodiless:
            # For HEAD this is the length a GET would carry; the body itself is not sent.
            head.append(f"Content-Length: {len(resp.body)}")
        head.extend(f"{k}: {v}" for k, v in resp.headers)
        head.append("Server: drchrono-async-emulator")
        if not raw.keep_alive:
            head.append("Connection: close")
        writer.write(("\r\n".join(head) + "\r\n\r\n").encode("latin-1"))
        body = b"" if bodiless or raw.method == "HEAD" else resp.body
        if resp.fault == "truncate":
            writer.write(body[: len(body) // 2])
        elif resp.fault == "slow" and body:
            step = max(1, -(-len(body) // _SLOW_PIECES))
            for start in range(0, len(body), step):
                await self.emulator.clock.sleep(resp.slow_seconds / _SLOW_PIECES)
                writer.write(body[start : start + step])
                await writer.drain()
        else:
            writer.write(body)
        await writer.drain()

    async def _refuse(self, status: int, detail: str) -> None:
        """Answer `status` to a request that could not be read, then stop reading."""
        body = orjson.dumps({"detail": detail})
        head = (
            f"HTTP/1.1 {status} {_reason(status)}\r\n"
            "Content-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n"
            "Server: drchrono-async-emulator\r\n"
            "Connection: close\r\n\r\n"
        )
        self.writer.write(head.encode("latin-1") + body)
        await self.writer.drain()
        if self.writer.can_write_eof():
            self.writer.write_eof()
        with contextlib.suppress(TimeoutError, ConnectionError):
            async with asyncio.timeout(_LINGER_SECONDS):
                dropped = 0
                while dropped < _LINGER_BYTES:
                    chunk = await self.reader.read(64 * 1024)
                    if not chunk:
                        break
                    dropped += len(chunk)
