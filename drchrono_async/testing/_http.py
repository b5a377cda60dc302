"""Reading one HTTP/1.1 request off an asyncio stream, strictly.

Anything the reader cannot take apart without guessing raises `HttpError` with the 4xx (or
501/505) status it deserves, so that the server answers it and closes instead of dying with a
traceback. Strictness matters more than leniency here: two readings of one byte stream (say a
`Content-Length` of `2, 2`, or both `Content-Length` and `Transfer-Encoding`) are how requests
get smuggled past a proxy, and a test server should refuse them as a careful real one does.
"""

from __future__ import annotations

import asyncio
import re
from urllib.parse import unquote, urlsplit

import attrs

__all__ = [
    "MAX_BODY",
    "MAX_HEADERS",
    "MAX_HEADER_LINE",
    "MAX_REQUEST_LINE",
    "STREAM_LIMIT",
    "HttpError",
    "RawRequest",
    "read_request",
]

MAX_REQUEST_LINE = 16 * 1024
MAX_HEADER_LINE = 8 * 1024
MAX_HEADERS = 100
MAX_HEAD = 64 * 1024
MAX_BODY = 64 * 1024 * 1024
_MAX_CHUNK_LINE = 1024
# asyncio's reader refuses to buffer more than this while looking for a line end: the longest
# line any part of a request may have, plus its CRLF.
STREAM_LIMIT = MAX_REQUEST_LINE + 2

_TOKEN = re.compile(rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_DIGITS = re.compile(rb"[0-9]+")
_HEX = re.compile(rb"[0-9A-Fa-f]{1,15}")
_VERSION = re.compile(rb"HTTP/([0-9])\.([0-9])")
_CONTROL = re.compile(rb"[\x00-\x20\x7f]")
_FIELD_VALUE_BAD = re.compile(rb"[\x00-\x08\x0a-\x1f\x7f]")


class HttpError(Exception):
    """The request cannot be read; answer `status` with `detail` and close the connection."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(status, detail)
        self.status = status
        self.detail = detail


@attrs.frozen
class RawRequest:
    """A request as read off the wire. Header names are lower case; the path is unquoted."""

    method: str
    path: str
    query: str
    headers: dict[str, str]
    body: bytes
    keep_alive: bool


async def read_request(reader: asyncio.StreamReader) -> RawRequest | None:
    """The next request on the connection; None when the peer closed it between requests."""
    line = await _line(reader, MAX_REQUEST_LINE, 414, "Request line too long.")
    # A client may send a stray CRLF after a body; one empty line before a request is allowed.
    if line == b"":
        line = await _line(reader, MAX_REQUEST_LINE, 414, "Request line too long.")
    if line is None:
        return None
    method, path, query, version = _request_line(line)
    headers = await _headers(reader, len(line))
    body = await _body(reader, headers)
    connection = {t.strip().lower() for t in headers.get("connection", "").split(",")}
    if version >= (1, 1):
        keep_alive = "close" not in connection
    else:
        keep_alive = "keep-alive" in connection and "close" not in connection
    return RawRequest(method, path, query, headers, body, keep_alive)


async def _line(reader: asyncio.StreamReader, limit: int, status: int, detail: str) -> bytes | None:
    """One line without its end; None at a clean end of stream (nothing read)."""
    try:
        raw = await reader.readuntil(b"\n")
    except asyncio.IncompleteReadError as exc:
        if not exc.partial:
            return None
        raise HttpError(400, "Incomplete request.") from None
    except asyncio.LimitOverrunError:
        raise HttpError(status, detail) from None
    line = raw[:-2] if raw.endswith(b"\r\n") else raw[:-1]
    if len(line) > limit:
        raise HttpError(status, detail)
    if b"\r" in line:  # a bare CR: parsers disagree on it, so refuse it
        raise HttpError(400, "Bare CR in the request head.")
    return line


def _request_line(line: bytes) -> tuple[str, str, str, tuple[int, int]]:
    parts = line.split(b" ")
    if len(parts) != 3 or not _TOKEN.fullmatch(parts[0]):
        raise HttpError(400, "Malformed request line.")
    method, target, version = parts
    match = _VERSION.fullmatch(version)
    if match is None:
        raise HttpError(400, "Malformed HTTP version.")
    major, minor = int(match[1]), int(match[2])
    if major != 1:
        raise HttpError(505, "HTTP version not supported.")
    if not target or _CONTROL.search(target):
        raise HttpError(400, "Malformed request target.")
    text = target.decode("latin-1")
    if not text.startswith("/"):
        # The absolute form (`http://host/path`), which proxies send; nothing else.
        split = urlsplit(text)
        if split.scheme not in ("http", "https") or not split.netloc:
            raise HttpError(400, "Malformed request target.")
        text = (split.path or "/") + (f"?{split.query}" if split.query else "")
    path, _, query = text.partition("?")
    return method.decode("ascii"), unquote(path), query, (major, minor)


async def _headers(reader: asyncio.StreamReader, used: int) -> dict[str, str]:
    headers: dict[str, str] = {}
    count = 0
    while True:
        line = await _line(reader, MAX_HEADER_LINE, 431, "Request header field too large.")
        if line is None:
            raise HttpError(400, "Incomplete request.")
        if not line:
            return headers
        count += 1
        used += len(line)
        if count > MAX_HEADERS:
            raise HttpError(431, "Too many request header fields.")
        if used > MAX_HEAD:
            raise HttpError(431, "Request header fields too large.")
        if line[:1] in (b" ", b"\t"):
            raise HttpError(400, "Obsolete header line folding.")
        raw_name, sep, raw_value = line.partition(b":")
        if not sep or not _TOKEN.fullmatch(raw_name):
            raise HttpError(400, "Malformed header field.")
        value = raw_value.strip(b" \t")
        if _FIELD_VALUE_BAD.search(value):
            raise HttpError(400, "Malformed header field.")
        name = raw_name.decode("ascii").lower()
        text = value.decode("latin-1")
        if name not in headers:
            headers[name] = text
        elif name in ("content-length", "host"):
            raise HttpError(400, f"Repeated {raw_name.decode('ascii')} header.")
        else:
            headers[name] = f"{headers[name]}, {text}"


async def _body(reader: asyncio.StreamReader, headers: dict[str, str]) -> bytes:
    coding = headers.get("transfer-encoding")
    length = headers.get("content-length")
    if coding is not None:
        if length is not None:
            raise HttpError(400, "Both Content-Length and Transfer-Encoding.")
        codings = [c.strip().lower() for c in coding.split(",")]
        if codings[-1] != "chunked":
            raise HttpError(400, "The body's length cannot be determined.")
        if codings != ["chunked"]:
            raise HttpError(501, "Transfer coding not supported.")
        return await _chunked(reader)
    if length is None:
        return b""
    raw = length.encode("latin-1")
    if not _DIGITS.fullmatch(raw):
        raise HttpError(400, "Malformed Content-Length.")
    # Too many digits is too large, and int() of thousands of digits would itself fail.
    size = int(raw) if len(raw) <= len(str(MAX_BODY)) else MAX_BODY + 1
    if size > MAX_BODY:
        raise HttpError(413, "Request body too large.")
    return await _exactly(reader, size)


async def _exactly(reader: asyncio.StreamReader, size: int) -> bytes:
    if not size:
        return b""
    try:
        return await reader.readexactly(size)
    except asyncio.IncompleteReadError:
        raise HttpError(400, "Incomplete request body.") from None


async def _chunked(reader: asyncio.StreamReader) -> bytes:
    parts: list[bytes] = []
    total = 0
    while True:
        line = await _line(reader, _MAX_CHUNK_LINE, 400, "Malformed chunk size.")
        if line is None:
            raise HttpError(400, "Incomplete request body.")
        size_text = line.split(b";", 1)[0].strip(b" \t")
        if not _HEX.fullmatch(size_text):
            raise HttpError(400, "Malformed chunk size.")
        size = int(size_text, 16)
        if size == 0:
            break
        total += size
        if total > MAX_BODY:
            raise HttpError(413, "Request body too large.")
        parts.append(await _exactly(reader, size))
        if await _line(reader, 0, 400, "Malformed chunk.") != b"":
            raise HttpError(400, "Malformed chunk.")
    # Trailer fields are read and dropped; they are held to the header limits.
    await _headers(reader, 0)
    return b"".join(parts)
