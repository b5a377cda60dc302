"""`drchrono-async login`, end to end against the emulator's OAuth server served on loopback:
the loopback listener, a pasted address, a wrong `state` refused, the command itself; and a
token file in DrChrono's own answer shape."""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import logging
import os
import socket
import stat
import sys
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from drchrono_async._login_cli import check_redirect, listen_address, login
from drchrono_async.errors import InvalidRequestError, TokenStoreError
from drchrono_async.oauth import ENV_KEYS, FileTokenStore, MemoryTokenStore, OAuthApp, TokenCipher
from drchrono_async.testing import Emulator, VirtualClock

from .conftest import TokenBackend

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class Out(io.StringIO):
    """What login prints, with a way to wait for a line."""

    def __init__(self) -> None:
        super().__init__()
        self.changed = asyncio.Event()

    def write(self, text: str) -> int:
        self.changed.set()
        return super().write(text)

    async def line(self, where: Callable[[str], bool]) -> str:
        while True:
            found = [line for line in self.getvalue().splitlines() if where(line)]
            if found:
                return found[-1]
            self.changed.clear()
            await self.changed.wait()


@contextlib.asynccontextmanager
async def served(**options: Any) -> AsyncIterator[tuple[Emulator, str, int]]:
    port = free_port()
    redirect = f"http://127.0.0.1:{port}/callback"
    emu = Emulator(seed=3, sizes={"patients": 1}, redirect_uri=redirect, **options)
    async with emu.serve() as url:
        yield emu, url, port


def app_on(emu: Emulator, url: str, **options: Any) -> OAuthApp:
    return OAuthApp(emu.client_id, emu.client_secret, emu.redirect_uri, base_url=url, **options)


async def approve(browser: httpx.AsyncClient, authorize_url: str) -> str:
    """The user approves: where DrChrono's /o/authorize sends the browser."""
    answer = await browser.get(authorize_url)
    assert answer.status_code == 302
    return answer.headers["location"]


def token_calls(emu: Emulator) -> int:
    return emu.count(path="/o/token/")


async def test_login_takes_the_redirect_on_loopback_and_refuses_a_wrong_state(
    token_backend: TokenBackend, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(ENV_KEYS, TokenCipher.generate_key())
    async with served() as (emu, url, port), app_on(emu, url) as app, httpx.AsyncClient() as web:
        out = Out()
        signing_in = asyncio.create_task(login(app, token_backend.new(), scope="patients", out=out))
        authorize = await out.line(lambda line: line.startswith(f"{url}/o/authorize"))
        await out.line(lambda line: line.startswith("Waiting for the redirect"))
        callback = f"http://127.0.0.1:{port}/callback"
        # A forged (or stale) redirect: refused, nothing exchanged, still waiting.
        forged = await web.get(callback, params={"code": "code_forged", "state": "not-it"})
        assert forged.status_code == 400 and "code_forged" not in forged.text
        assert token_calls(emu) == 0 and not signing_in.done()
        # Stray requests are refused too and leave the sign-in waiting.
        assert (await web.get(f"http://127.0.0.1:{port}/favicon.ico")).status_code == 404
        assert (await web.post(callback)).status_code == 405
        # The real one.
        answer = await web.get(await approve(web, authorize))
        assert answer.status_code == 200 and "close this tab" in answer.text
        token = await asyncio.wait_for(signing_in, 30)
    assert token.access_token in emu.oauth.by_access and token_calls(emu) == 1
    assert await token_backend.new().load() == token
    raw = await token_backend.raw()
    assert raw is not None and token.refresh_token.encode() not in raw  # encrypted
    printed = out.getvalue()
    assert token.access_token not in printed and token.refresh_token not in printed
    assert "Signed in" in printed and "encrypted" in printed


async def test_a_pasted_address_must_carry_the_state_sent() -> None:
    async with served() as (emu, url, _), app_on(emu, url) as app, httpx.AsyncClient() as web:
        store = MemoryTokenStore()
        out = Out()

        async def forged() -> str:
            return f"{emu.redirect_uri}?code={emu.issue_code()}&state=another-sign-in"

        with pytest.raises(InvalidRequestError, match="state is not the one sent") as info:
            await login(app, store, paste=True, out=out, lines=forged)
        assert "code_" not in str(info.value)
        assert token_calls(emu) == 0 and await store.load() is None

        async def only_the_code() -> str:
            return emu.issue_code()

        with pytest.raises(InvalidRequestError, match="state"):
            await login(app, store, paste=True, out=Out(), lines=only_the_code)

        out = Out()

        async def pasted() -> str:  # the user copies the address the browser was sent to
            authorize = await out.line(lambda line: line.startswith(f"{url}/o/authorize"))
            return "  " + await approve(web, authorize) + "\n"

        token = await login(app, store, paste=True, out=out, lines=pasted)
        assert await store.load() == token and token_calls(emu) == 1


async def test_a_refused_authorization_and_a_redirect_never_coming_are_typed_errors() -> None:
    async with served() as (emu, url, port), app_on(emu, url) as app, httpx.AsyncClient() as web:
        out = Out()
        signing_in = asyncio.create_task(login(app, MemoryTokenStore(), out=out))
        authorize = await out.line(lambda line: line.startswith(f"{url}/o/authorize"))
        await out.line(lambda line: line.startswith("Waiting"))
        state = httpx.URL(authorize).params["state"]
        callback = f"http://127.0.0.1:{port}/callback"
        denied = await web.get(callback, params={"error": "<b>access_denied", "state": state})
        assert denied.status_code == 200 and "<b>" not in denied.text
        with pytest.raises(InvalidRequestError, match=r"refused \(an error\)"):
            await signing_in
    clock = VirtualClock()
    emu = Emulator(seed=3, clock=clock, redirect_uri=f"http://127.0.0.1:{free_port()}/cb")
    async with OAuthApp(
        emu.client_id, emu.client_secret, emu.redirect_uri, transport=emu.transport, clock=clock
    ) as app:
        with pytest.raises(InvalidRequestError, match="no redirect came within 60 s"):
            await login(app, MemoryTokenStore(), out=Out(), wait_for=60)
        assert clock.now() >= 1_767_225_660
        # The listener is gone: its port can be bound again.
        host, port, _ = listen_address(emu.redirect_uri)  # type: ignore[misc]
        with socket.socket() as s:
            s.bind((host, port))


async def test_the_listener_refuses_what_is_not_a_redirect() -> None:
    port = free_port()
    emu = Emulator(seed=3, clock=VirtualClock(), redirect_uri=f"http://127.0.0.1:{port}/cb")
    wired = {"transport": emu.transport, "clock": emu.clock}
    async with OAuthApp(emu.client_id, emu.client_secret, emu.redirect_uri, **wired) as app:
        out = Out()
        signing_in = asyncio.create_task(login(app, MemoryTokenStore(), out=out))
        await out.line(lambda line: line.startswith("Waiting"))
        for request in (b"garbage\r\n\r\n", b"GET /cb?" + b"x" * 20_000 + b" HTTP/1.1\r\n\r\n"):
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(request)
            await writer.drain()
            assert (await reader.read(100)).startswith(b"HTTP/1.1 400")
            writer.close()
        assert not signing_in.done()
        signing_in.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await signing_in


def test_the_command_lines_parser_with_login_stays_light() -> None:
    """`drchrono-async --help` builds every parser: login's loads no HTTP client."""
    import subprocess

    probe = (
        "import sys, drchrono_async.cli as c\n"
        "c.build_parser()\n"
        "print([m for m in ('httpx', 'drchrono_async.oauth') if m in sys.modules])\n"
    )
    run = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, cwd=ROOT)
    assert run.stdout.strip() == "[]", run.stderr


def test_which_redirect_uris_get_a_listener() -> None:
    assert listen_address("http://localhost:8000/oauth/cb") == ("127.0.0.1", 8000, "/oauth/cb")
    assert listen_address("http://127.0.0.1/") == ("127.0.0.1", 80, "/")
    assert listen_address("http://[::1]:9/x") == ("::1", 9, "/x")
    others = ("https://127.0.0.1/cb", "http://app.example/cb", "http://localhost:x/cb")
    for other in others:
        assert listen_address(other) is None
    with pytest.raises(InvalidRequestError, match="repeats"):
        check_redirect("code=a&code=b&state=s", "s")
    with pytest.raises(InvalidRequestError):
        check_redirect("&".join(f"p{i}=1" for i in range(100)), "s")
    assert check_redirect("code=abc&state=s", "s") == "abc"


async def test_the_command_signs_in_end_to_end(tmp_path: Path) -> None:
    path = tmp_path / "token.json"
    async with served() as (emu, url, _), httpx.AsyncClient() as web:
        env = {
            **os.environ,
            "DRCHRONO_CLIENT_ID": emu.client_id,
            "DRCHRONO_CLIENT_SECRET": emu.client_secret,
            "DRCHRONO_REDIRECT_URI": emu.redirect_uri,
        }
        env.pop(ENV_KEYS, None)
        command = [sys.executable, "-m", "drchrono_async.cli", "login"]
        proc = await asyncio.create_subprocess_exec(
            *command,
            "--token-file",
            str(path),
            "--base-url",
            url,
            "--timeout",
            "60",
            cwd=ROOT,
            env=env,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        assert proc.stdout is not None
        printed = []
        while not printed or not printed[-1].startswith("Waiting"):
            line = (await asyncio.wait_for(proc.stdout.readline(), 60)).decode()
            assert line, "the command ended before it was waiting"
            printed.append(line.strip())
        authorize = next(line for line in printed if line.startswith(f"{url}/o/authorize"))
        assert (await web.get(await approve(web, authorize))).status_code == 200
        rest, errors = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == 0, errors.decode()
    token = await FileTokenStore(path, cipher=None).load()
    assert token is not None and token.access_token in emu.oauth.by_access
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    everything = "\n".join(printed) + rest.decode() + errors.decode()
    assert token.access_token not in everything and token.refresh_token not in everything


# -- a token file in DrChrono's answer shape ---------------------------------------------------


def write_answer(path: Path, mtime: float, **override: Any) -> dict[str, Any]:
    answer = {
        "access_token": "at_SECRETanswer",
        "refresh_token": "rt_SECRETanswer",
        "expires_in": 172_800,
        "token_type": "Bearer",
        "scope": "patients calendar",
        **override,
    }
    path.write_text(json.dumps(answer))
    os.utime(path, (mtime, mtime))
    return answer


async def test_a_token_file_in_drchronos_answer_shape_is_read(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "token.json"
    write_answer(path, 1_767_225_600.0)
    with caplog.at_level(logging.INFO, "drchrono_async.oauth"):
        token = await FileTokenStore(path).load()
    assert token is not None and token.refresh_token == "rt_SECRETanswer"
    assert token.issued_at == 1_767_225_600.0
    assert token.expires_at == 1_767_225_600.0 + 172_800
    assert token.scopes == {"patients", "calendar"}
    assert "modification time" in caplog.text and "SECRET" not in caplog.text
    # Written back in the store's own form: its expiry no longer moves with the file.
    stored = json.loads(path.read_text())
    assert stored["expires_at"] == token.expires_at and "expires_in" not in stored
    os.utime(path, (1_767_300_000.0, 1_767_300_000.0))
    assert await FileTokenStore(path).load() == token
    # With keys set, it is written back encrypted.
    monkeypatch.setenv(ENV_KEYS, TokenCipher.generate_key())
    write_answer(path, 1_767_225_600.0)
    assert await FileTokenStore(path).load() == token
    assert b"SECRET" not in path.read_bytes()


@pytest.mark.parametrize(
    "override", [{"token_type": "mac"}, {"access_token": None}, {"refresh_token": "a b"}]
)
async def test_a_token_answer_that_is_no_bearer_pair_is_unreadable(
    tmp_path: Path, override: dict[str, Any]
) -> None:
    path = tmp_path / "token.json"
    write_answer(path, 1_767_225_600.0, **override)
    with pytest.raises(TokenStoreError, match="unreadable") as info:
        await FileTokenStore(path).load()
    assert "SECRET" not in str(info.value)


async def test_what_login_prints_of_the_servers_answer_is_plain_words() -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        body = {"access_token": "at_SECRETa", "refresh_token": "rt_SECRETr", "expires_in": 3600}
        return httpx.Response(200, json={**body, "scope": "patients \x1b[2J\x07 calendar"})

    out = Out()
    app = OAuthApp("id", "secret", "https://app.example/cb", transport=httpx.MockTransport(answer))

    async def pasted() -> str:  # a redirect URI off loopback: the address is pasted
        authorize = await out.line(lambda line: "/o/authorize" in line)
        return f"https://app.example/cb?code=c0de&state={httpx.URL(authorize).params['state']}"

    async with app:
        await login(app, MemoryTokenStore(), out=out, lines=pasted)
    printed = out.getvalue()
    assert "not on loopback" in printed and "scopes: calendar patients." in printed
    assert "\x1b" not in printed and "\x07" not in printed and "SECRET" not in printed
