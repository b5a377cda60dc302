"""The emulator as an HTTP server: any unparseable request gets a 4xx, never a traceback."""

from __future__ import annotations

import asyncio
import logging

import httpx
import pytest

from drchrono_async.testing import Emulator


async def exchange(url: str, raw: bytes, *, read_all: bool = True) -> bytes:
    host, port = url.removeprefix("http://").rsplit(":", 1)
    reader, writer = await asyncio.open_connection(host, int(port))
    try:
        writer.write(raw)
        await writer.drain()
        async with asyncio.timeout(5):
            return await reader.read() if read_all else await reader.read(65536)
    finally:
        writer.close()


def status_of(answer: bytes) -> int:
    return int(answer.split(b" ", 2)[1])


BAD = [
    (b"GET /api/users HTTP/1.1\r\nContent-Length: abc\r\n\r\n", 400),
    (b"POST /api/users HTTP/1.1\r\nContent-Length: -1\r\n\r\n", 400),
    (b"POST /api/users HTTP/1.1\r\nContent-Length: 2, 2\r\n\r\nab", 400),
    (b"POST /api/users HTTP/1.1\r\nContent-Length: 1e3\r\n\r\n", 400),
    (b"POST /api/users HTTP/1.1\r\nContent-Length: 99999999999\r\n\r\n", 413),
    (b"POST /x HTTP/1.1\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nab", 400),
    (b"POST /x HTTP/1.1\r\nTransfer-Encoding: chunked\r\nContent-Length: 2\r\n\r\n", 400),
    (b"POST /x HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", 400),
    (b"POST /x HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n", 400),
    (b"GET /" + b"a" * 20_000 + b" HTTP/1.1\r\n\r\n", 414),
    (b"GET / HTTP/1.1\r\nX-Long: " + b"a" * 20_000 + b"\r\n\r\n", 431),
    (b"GET / HTTP/1.1\r\n" + b"X-A: 1\r\n" * 150 + b"\r\n", 431),
    (b"GET / HTTP/2.0\r\n\r\n", 505),
    (b"NONSENSE\r\n\r\n", 400),
    (b"GET noslash HTTP/1.1\r\n\r\n", 400),
    (b"GET / HTTP/1.1\r\nno-colon-here\r\n\r\n", 400),
]


@pytest.mark.parametrize(("raw", "status"), BAD)
async def test_an_unparseable_request_gets_a_4xx_and_the_server_lives_on(
    raw: bytes, status: int, caplog: pytest.LogCaptureFixture
) -> None:
    emu = Emulator(seed=1)
    async with emu.serve() as url:
        answer = await exchange(url, raw)
        assert status_of(answer) == status
        assert b"connection: close" in answer.lower()
        async with httpx.AsyncClient() as other:  # another connection is served as usual
            auth = {"Authorization": f"Bearer {emu.access_token}"}
            ok = await other.get(f"{url}/api/users/current", headers=auth)
        assert ok.status_code == 302
    assert not [r for r in caplog.records if r.exc_info or "Traceback" in r.getMessage()]


async def test_head_answers_carry_no_body_and_keep_alive_works() -> None:
    emu = Emulator(seed=1)
    async with emu.serve() as url:
        host, port = url.removeprefix("http://").rsplit(":", 1)
        reader, writer = await asyncio.open_connection(host, int(port))
        writer.write(b"HEAD /api/doctors HTTP/1.1\r\nHost: x\r\n\r\n")
        writer.write(b"GET /nowhere HTTP/1.1\r\nHost: x\r\n\r\n")
        await writer.drain()
        async with asyncio.timeout(5):
            head = await reader.readuntil(b"\r\n\r\n")
            second = await reader.readuntil(b"\r\n\r\n")
        writer.close()
    assert head.startswith(b"HTTP/1.1 ") and b"content-length:" in head.lower()
    # The next response starts right after the HEAD's headers: no body was sent for it.
    assert second.startswith(b"HTTP/1.1 404")


async def test_links_use_the_emulators_own_url_not_the_host_header() -> None:
    emu = Emulator(seed=1, sizes={"patients": 30})
    auth = b"Authorization: Bearer " + emu.access_token.encode() + b"\r\n"
    async with emu.serve() as url:
        answer = await exchange(
            url,
            b"GET /api/patients?page_size=5 HTTP/1.1\r\nHost: evil.example\r\n"
            + auth
            + b"Connection: close\r\n\r\n",
        )
        redirect = await exchange(
            url,
            b"GET /api/users/current HTTP/1.1\r\nHost: evil.example\r\n"
            + auth
            + b"Connection: close\r\n\r\n",
        )
    assert b"evil.example" not in answer and url.encode() in answer
    assert b"evil.example" not in redirect and f"Location: {url}/api/users/".encode() in redirect


async def test_an_emulator_bug_is_a_500_not_a_dead_connection(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    emu = Emulator(seed=1)

    async def broken(req: object) -> object:
        raise KeyError("bug")

    monkeypatch.setattr(emu, "handle", broken)
    caplog.set_level(logging.ERROR)
    async with emu.serve() as url:
        answer = await exchange(url, b"GET /api/x HTTP/1.1\r\nHost: x\r\n\r\n")
    assert status_of(answer) == 500
