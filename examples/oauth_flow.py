"""A minimal OAuth web flow: send the user to DrChrono, take the callback, keep the token.

A plain ASGI application (mount it in any ASGI server or framework):

    GET /login     -> 302 to DrChrono's authorize page, with a fresh `state` in a cookie
    GET /callback  -> checks `state`, exchanges the code, saves the token, says who signed in

Run it against an in-process emulator (no credentials, no browser):

    python examples/oauth_flow.py

`tests/test_examples.py` runs `main()`. For the real service, build `OAuthApp` with your app's
client id, secret and redirect URI, and serve `make_app(...)` with uvicorn.
"""

from __future__ import annotations

import asyncio
import hmac
from collections.abc import Awaitable, Callable, MutableMapping
from http.cookies import SimpleCookie
from typing import Any
from urllib.parse import parse_qs

import httpx

from drchrono_async import DrChronoClient
from drchrono_async.errors import DrChronoError
from drchrono_async.oauth import FileTokenStore, OAuthApp, TokenStore

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]


def make_app(
    oauth: OAuthApp, store: TokenStore, **client_options: Any
) -> Callable[[Scope, Receive, Send], Awaitable[None]]:
    """The two routes of the flow, as an ASGI application.

    `client_options` go to the `DrChronoClient` the callback opens (e.g. `base_url=`).
    """

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        query = {k: v[0] for k, v in parse_qs(scope["query_string"].decode()).items()}
        if scope["path"] == "/login":
            state = OAuthApp.new_state()
            url = oauth.authorize_url(scope="user patients calendar", state=state)
            cookie = f"oauth_state={state}; HttpOnly; Secure; SameSite=Lax; Path=/callback"
            await _answer(send, 302, b"", [("location", url), ("set-cookie", cookie)])
        elif scope["path"] == "/callback":
            cookies = SimpleCookie(_header(scope, "cookie"))
            expected = cookies["oauth_state"].value if "oauth_state" in cookies else ""
            # Constant time: the state is the only thing tying this callback to /login.
            if not expected or not hmac.compare_digest(expected, query.get("state", "")):
                await _answer(send, 400, b"state does not match: start again at /login")
                return
            try:
                token = await oauth.exchange_code(query.get("code", ""))
            except DrChronoError:
                await _answer(send, 400, b"the code was refused: start again at /login")
                return
            await store.save(token)  # stored before anything uses it
            async with DrChronoClient(oauth=oauth, token_store=store, **client_options) as client:
                me = await client.users.current()
            await _answer(send, 200, f"signed in as user {me.id}".encode())
        else:
            await _answer(send, 404, b"not found")

    return app


def _header(scope: Scope, name: str) -> str:
    for key, value in scope["headers"]:
        if key.decode().lower() == name:
            return str(value.decode("latin-1"))
    return ""


async def _answer(
    send: Send, status: int, body: bytes, headers: list[tuple[str, str]] | None = None
) -> None:
    raw = [(k.encode(), v.encode()) for k, v in headers or []]
    raw.append((b"content-type", b"text/plain; charset=utf-8"))
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": body})


async def main(token_path: str = "oauth-demo-token.json") -> str:
    """Sign in through the flow against an emulator; returns what the callback said."""
    from drchrono_async.testing import Emulator

    emu = Emulator(seed=1, redirect_uri="https://myapp.example/callback")
    oauth = OAuthApp(
        emu.client_id,
        emu.client_secret,
        "https://myapp.example/callback",
        base_url=emu.base_url,
        transport=emu.transport,
    )
    web = httpx.AsyncClient(
        transport=httpx.ASGITransport(
            app=make_app(
                oauth,
                FileTokenStore(token_path),
                base_url=emu.base_url,
                transport=emu.transport,
            )
        ),
        base_url="https://myapp.example",
    )
    browser = httpx.AsyncClient(transport=emu.transport)  # stands in for the user's browser
    async with oauth, web, browser:
        login = await web.get("/login")
        approved = await browser.get(login.headers["location"])  # the user clicks "Authorize"
        callback = httpx.URL(approved.headers["location"])
        done = await web.get(callback.path, params=callback.params)
        return done.text


if __name__ == "__main__":
    print(asyncio.run(main()))
