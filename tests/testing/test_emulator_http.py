"""The emulator's HTTP server against malformed and unusual requests, over real loopback sockets.

Each refusal must be an HTTP answer (a 4xx, or 501/505 for what HTTP/1.1 names so) with
`Connection: close`, never a reset socket or a logged traceback, and the server must keep
serving every other connection.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from urllib.parse import urlsplit

import attrs
import orjson
import pytest

from drchrono_async.testing import Emulator
from drchrono_async.testing._http import MAX_BODY, MAX_HEADER_LINE, MAX_HEADERS, MAX_REQUEST_LINE

_GUARD = 10.0  # seconds: only against a hang; every exchange ends long before


@attrs.frozen
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes


@pytest.fixture
async def served() -> AsyncIterator[tuple[Emulator, str]]:
    emu = Emulator(seed=3, sizes={"appointments": 300, "other": 2})
    async with emu.serve(port=0) as url:
        yield emu, url


async def _open(url: str) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    split = urlsplit(url)
    assert split.hostname is not None and split.port is not None
    return await asyncio.open_connection(split.hostname, split.port)


async def _read_answer(reader: asyncio.StreamReader, *, head_only: bool = False) -> Answer:
    """One response off the stream, its body read by its Content-Length."""
    raw = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), _GUARD)
    lines = raw.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ")[1])
    headers = {}
    for line in lines[1:]:
        if line:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
    length = 0 if head_only else int(headers.get("content-length", "0"))
    body = await asyncio.wait_for(reader.readexactly(length), _GUARD) if length else b""
    return Answer(status, headers, body)


async def _refused(url: str, data: bytes, *, half_close: bool = False) -> Answer:
    """Send `data`, read one answer, and check the server then closed the connection."""
    reader, writer = await _open(url)
    try:
        writer.write(data)
        await writer.drain()
        if half_close:
            writer.write_eof()
        answer = await _read_answer(reader)
        assert await asyncio.wait_for(reader.read(), _GUARD) == b"", "connection left open"
        return answer
    finally:
        writer.close()


def _auth(emu: Emulator) -> bytes:
    return f"Authorization: Bearer {emu.access_token}\r\n".encode()


def _post(headers: bytes, body: bytes = b"") -> bytes:
    return b"POST /api/patients HTTP/1.1\r\nHost: x\r\n" + headers + b"\r\n" + body


BAD_REQUESTS = {
    "content-length not a number": (_post(b"Content-Length: abc\r\n", b"{}"), 400),
    "content-length negative": (_post(b"Content-Length: -1\r\n", b"{}"), 400),
    "content-length list": (_post(b"Content-Length: 2, 2\r\n", b"{}"), 400),
    "content-length repeated": (_post(b"Content-Length: 2\r\nContent-Length: 2\r\n", b"{}"), 400),
    "content-length huge": (_post(b"Content-Length: " + b"9" * 5000 + b"\r\n"), 413),
    "content-length over the body limit": (
        _post(b"Content-Length: " + str(MAX_BODY + 1).encode() + b"\r\n"),
        413,
    ),
    "both lengths": (
        _post(b"Content-Length: 3\r\nTransfer-Encoding: chunked\r\n", b"0\r\n\r\n"),
        400,
    ),
    "chunked not last": (_post(b"Transfer-Encoding: chunked, gzip\r\n", b"0\r\n\r\n"), 400),
    "unknown coding": (_post(b"Transfer-Encoding: gzip, chunked\r\n", b"0\r\n\r\n"), 501),
    "chunk size not hex": (_post(b"Transfer-Encoding: chunked\r\n", b"zz\r\n{}\r\n0\r\n\r\n"), 400),
    "chunk size overflow": (
        _post(b"Transfer-Encoding: chunked\r\n", b"f" * 40 + b"\r\n{}\r\n0\r\n\r\n"),
        400,
    ),
    "chunk without its CRLF": (
        _post(b"Transfer-Encoding: chunked\r\n", b"2\r\n{}XX0\r\n\r\n"),
        400,
    ),
    "request line too long": (
        b"GET /api/doctors?q=" + b"a" * (MAX_REQUEST_LINE + 10) + b" HTTP/1.1\r\nHost: x\r\n\r\n",
        414,
    ),
    "request line far too long": (b"GET /" + b"a" * (4 * MAX_REQUEST_LINE), 414),
    "header line too long": (
        b"GET /api/doctors HTTP/1.1\r\nX-Big: " + b"a" * (MAX_HEADER_LINE + 10) + b"\r\n\r\n",
        431,
    ),
    "header line far too long": (
        b"GET /api/doctors HTTP/1.1\r\nX-Big: " + b"a" * (4 * MAX_REQUEST_LINE) + b"\r\n\r\n",
        431,
    ),
    "too many headers": (
        b"GET /api/doctors HTTP/1.1\r\n"
        + b"".join(b"X-H%d: v\r\n" % i for i in range(MAX_HEADERS + 1))
        + b"\r\n",
        431,
    ),
    "garbage request line": (b"HELLO\r\n\r\n", 400),
    "TLS on the plain port": (b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n", 400),
    "no version": (b"GET /api/doctors\r\n\r\n", 400),
    "HTTP/2 request line": (b"GET /api/doctors HTTP/2.0\r\n\r\n", 505),
    "target not a path": (b"GET api/doctors HTTP/1.1\r\n\r\n", 400),
    "header without colon": (b"GET /api/doctors HTTP/1.1\r\nHost x\r\n\r\n", 400),
    "header name with space": (b"GET /api/doctors HTTP/1.1\r\nHost : x\r\n\r\n", 400),
    "folded header": (b"GET /api/doctors HTTP/1.1\r\nX-A: 1\r\n  2\r\n\r\n", 400),
    "bare CR": (b"GET /api/doctors HTTP/1.1\r\nX-A: 1\r2\r\n\r\n", 400),
}


@pytest.mark.parametrize("case", sorted(BAD_REQUESTS))
async def test_malformed_requests_get_an_answer_and_close(
    served: tuple[Emulator, str], caplog: pytest.LogCaptureFixture, case: str
) -> None:
    emu, url = served
    caplog.set_level(logging.DEBUG)
    data, status = BAD_REQUESTS[case]
    answer = await _refused(url, data)
    assert answer.status == status
    assert answer.headers["connection"] == "close"
    assert answer.headers["content-type"] == "application/json"
    assert set(_json(answer.body)) == {"detail"}
    # Nothing reached the API and nothing was logged as a failure.
    assert len(emu.requests) == 0
    assert [r for r in caplog.records if r.exc_info or r.levelno >= logging.WARNING] == []
    # And the server goes on serving.
    reader, writer = await _open(url)
    try:
        writer.write(b"GET /api/doctors HTTP/1.1\r\nHost: x\r\n" + _auth(emu) + b"\r\n")
        assert (await _read_answer(reader)).status == 200
    finally:
        writer.close()


def _json(body: bytes) -> dict[str, object]:
    data = orjson.loads(body)
    assert isinstance(data, dict)
    return data


async def test_a_body_cut_short_is_refused(served: tuple[Emulator, str]) -> None:
    emu, url = served
    data = _post(_auth(emu) + b"Content-Type: application/json\r\nContent-Length: 40\r\n", b"{}")
    answer = await _refused(url, data, half_close=True)
    assert answer.status == 400 and answer.headers["connection"] == "close"
    assert len(emu.requests) == 0


async def test_a_refusal_leaves_other_connections_alive(served: tuple[Emulator, str]) -> None:
    emu, url = served
    request = b"GET /api/doctors HTTP/1.1\r\nHost: x\r\n" + _auth(emu) + b"\r\n"
    reader, writer = await _open(url)
    try:
        writer.write(request)
        assert (await _read_answer(reader)).status == 200
        assert (await _refused(url, _post(b"Content-Length: abc\r\n"))).status == 400
        writer.write(request)  # the same, older connection, kept alive across the refusal
        assert (await _read_answer(reader)).status == 200
    finally:
        writer.close()


async def test_head_answers_carry_no_body_and_keep_the_connection_usable(
    served: tuple[Emulator, str],
) -> None:
    emu, url = served
    reader, writer = await _open(url)
    try:
        # The API refuses HEAD (405 with a JSON body for GET); the body must not be sent.
        writer.write(b"HEAD /api/doctors HTTP/1.1\r\nHost: x\r\n" + _auth(emu) + b"\r\n")
        head = await _read_answer(reader, head_only=True)
        assert head.status == 405
        assert int(head.headers["content-length"]) > 0  # what a GET-style answer would carry
        writer.write(b"GET /api/doctors HTTP/1.1\r\nHost: x\r\n" + _auth(emu) + b"\r\n")
        answer = await _read_answer(reader)
        assert answer.status == 200
        assert _json(answer.body)["results"]
        writer.write(b"HEAD /files/seed/x.pdf HTTP/1.1\r\nHost: x\r\n\r\n")
        head = await _read_answer(reader, head_only=True)
        assert head.status == 200 and int(head.headers["content-length"]) > 0
        writer.write(b"GET /api/doctors/0 HTTP/1.1\r\nHost: x\r\n" + _auth(emu) + b"\r\n")
        assert (await _read_answer(reader)).status == 404
    finally:
        writer.close()


async def test_no_content_answers_have_no_length_or_body(served: tuple[Emulator, str]) -> None:
    emu, url = served
    patient = emu.records("patients")[0]["id"]
    reader, writer = await _open(url)
    try:
        writer.write(
            f"DELETE /api/patients/{patient} HTTP/1.1\r\nHost: x\r\n".encode()
            + _auth(emu)
            + b"\r\n"
        )
        answer = await _read_answer(reader)
        assert answer.status == 204
        assert "content-length" not in answer.headers and "content-type" not in answer.headers
        writer.write(b"GET /api/doctors HTTP/1.1\r\nHost: x\r\n" + _auth(emu) + b"\r\n")
        assert (await _read_answer(reader)).status == 200
    finally:
        writer.close()


async def test_urls_in_answers_come_from_the_server_not_the_host_header(
    served: tuple[Emulator, str],
) -> None:
    emu, url = served
    reader, writer = await _open(url)
    try:
        spoofed = b"Host: evil.example\r\n" + _auth(emu)
        writer.write(b"GET /api/users/current HTTP/1.1\r\n" + spoofed + b"\r\n")
        answer = await _read_answer(reader)
        assert answer.status == 302
        assert answer.headers["location"] == f"{url}/api/users/{emu.current_user_id}"
        writer.write(b"GET /api/appointments?since=2000-01-01 HTTP/1.1\r\n" + spoofed + b"\r\n")
        page = _json((await _read_answer(reader)).body)
        assert isinstance(page["next"], str) and page["next"].startswith(f"{url}/api/")
        writer.write(b"GET /o/token HTTP/1.1\r\n" + spoofed + b"\r\n")
        answer = await _read_answer(reader)
        assert answer.status == 301 and answer.headers["location"] == f"{url}/o/token/"
    finally:
        writer.close()
    assert [e.location for e in emu.requests if e.location] == [
        f"{url}/api/users/{emu.current_user_id}",
        f"{url}/o/token/",
    ]


async def test_an_emulator_bug_is_a_500_and_one_log_record(
    served: tuple[Emulator, str], caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    emu, url = served

    async def broken(req: object) -> object:
        raise KeyError("a bug")

    monkeypatch.setattr(emu, "handle", broken)
    answer = await _refused(url, b"GET /api/doctors HTTP/1.1\r\nHost: x\r\n\r\n")
    assert answer.status == 500 and answer.headers["connection"] == "close"
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1 and errors[0].name == "drchrono_async.testing"
    assert "GET /api/doctors" in errors[0].getMessage()
    monkeypatch.undo()
    reader, writer = await _open(url)
    try:
        writer.write(b"GET /api/doctors HTTP/1.1\r\nHost: x\r\n" + _auth(emu) + b"\r\n")
        assert (await _read_answer(reader)).status == 200
    finally:
        writer.close()
