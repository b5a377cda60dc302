"""`drchrono-async login`: a practice's first token, from the command line.

It prints the `/o/authorize` address; the user opens it, approves, and DrChrono redirects the
browser to the app's redirect URI with a code that lives one minute. When that URI is on
loopback (`http://127.0.0.1:8000/...`, `http://localhost:...`), a listener bound to loopback
on its port takes the redirect; otherwise (or with `--paste`) the user pastes the address the
browser was sent to. The redirect must carry the `state` sent (anything else is refused: a
stale or forged redirect), the code is exchanged and the token saved in the store, encrypted
when `DRCHRONO_TOKEN_KEYS` is set. The app's credentials come from the environment, as for
`sync --oauth`: `DRCHRONO_CLIENT_ID`, `DRCHRONO_CLIENT_SECRET`, `DRCHRONO_REDIRECT_URI`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import secrets
import sys
import threading
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TYPE_CHECKING, Any, TextIO
from urllib.parse import parse_qsl, urlsplit

# Only the standard library and the errors at import: `drchrono-async --help` builds this
# parser and must stay fast (httpx and the rest load when the command runs).
from ._cli_args import duration, format_duration
from ._cli_exit import epilog, exit_for
from .errors import DrChronoError, InvalidRequestError

if TYPE_CHECKING:
    from .oauth import OAuthApp, Token, TokenStore
    from .ratelimit import Clock

__all__ = ["DEFAULT_TIMEOUT", "add_parser", "check_redirect", "listen_address", "login"]

DEFAULT_TIMEOUT = 300.0
_MAX_TIMEOUT = 3600.0
_MAX_HEAD = 16 * 1024  # a redirect's request line and headers
_MAX_PASTE = 8 * 1024
_READ_WAIT = 30.0  # one connection's request, at most (a browser sends it at once)
# Loopback hosts of a redirect URI, and the address the listener binds for each.
_LOOPBACK = {"127.0.0.1": "127.0.0.1", "localhost": "127.0.0.1", "::1": "::1"}
# RFC 6749's error codes for the authorization endpoint: the only server text repeated.
_AUTH_ERRORS = frozenset(
    {
        "access_denied",
        "invalid_request",
        "invalid_scope",
        "server_error",
        "temporarily_unavailable",
        "unauthorized_client",
        "unsupported_response_type",
    }
)


def add_parser(commands: Any) -> None:
    """Add `login` to the CLI's subcommands."""
    login_cmd = commands.add_parser(
        "login",
        help="sign a practice in: authorize in a browser, save the first token",
        description="Print the authorize address, take the redirect (a loopback listener, or "
        "the address pasted), check its state, exchange the code and save the token "
        "(encrypted when $DRCHRONO_TOKEN_KEYS is set). The app's credentials come from "
        "$DRCHRONO_CLIENT_ID, $DRCHRONO_CLIENT_SECRET and $DRCHRONO_REDIRECT_URI.",
        epilog=epilog(0, 2, 10, 11, 12, 13, 14, 15, 16, 130),
    )
    where = login_cmd.add_mutually_exclusive_group(required=True)
    where.add_argument(
        "--store", help="sqlite:///PATH, postgresql://... (the sync's token table) or redis://..."
    )
    where.add_argument("--token-file", help="a JSON token file (written with mode 0600)")
    login_cmd.add_argument("--schema", default="drchrono", help="with postgresql://: the schema")
    login_cmd.add_argument(
        "--key",
        default=None,
        help="the token's key: in a database's token table (default 'default', which "
        "`sync --oauth` reads), or the Redis key (default drchrono-async:token)",
    )
    login_cmd.add_argument("--scope", default=None, metavar="'A B ...'", help="scopes to ask")
    login_cmd.add_argument(
        "--base-url", default="https://drchrono.com", help="the service's origin"
    )
    login_cmd.add_argument(
        "--paste",
        action="store_true",
        help="paste the redirected address instead of listening on loopback",
    )
    login_cmd.add_argument(
        "--pkce", action="store_true", help="send a PKCE challenge (S256), for servers needing it"
    )
    login_cmd.add_argument(
        "--timeout",
        type=duration(low=1, high=_MAX_TIMEOUT),
        default=format_duration(DEFAULT_TIMEOUT),
        metavar="DURATION",
        help="how long to wait for the redirect",
    )
    login_cmd.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    try:
        asyncio.run(_main(args))
    except DrChronoError as exc:
        code, line = exit_for(exc)
        print(f"drchrono-async login: {line}", file=sys.stderr)
        return code
    except KeyboardInterrupt:
        print("drchrono-async login: interrupted; nothing saved", file=sys.stderr)
        return 130
    return 0


async def _main(args: argparse.Namespace) -> None:
    from .oauth import OAuthApp

    names = ("DRCHRONO_CLIENT_ID", "DRCHRONO_CLIENT_SECRET", "DRCHRONO_REDIRECT_URI")
    missing = [name for name in names if not os.environ.get(name)]
    if missing:
        raise InvalidRequestError("login needs $" + ", $".join(missing))
    cid, secret, redirect = (os.environ[name] for name in names)
    async with (
        _token_store(args) as store,
        OAuthApp(cid, secret, redirect, base_url=args.base_url) as app,
    ):
        await login(
            app, store, scope=args.scope, paste=args.paste, pkce=args.pkce, wait_for=args.timeout
        )


@contextlib.asynccontextmanager
async def _token_store(args: argparse.Namespace) -> AsyncIterator[TokenStore]:
    from .oauth import FileTokenStore, RedisTokenStore

    if args.token_file is not None:
        yield FileTokenStore(args.token_file)
        return
    url: str = args.store
    if url.startswith(("redis://", "rediss://", "unix://")):
        from ._checks import needs_extra

        with needs_extra("redis", "login --store redis://"):
            from redis.asyncio import Redis
        redis = Redis.from_url(url)
        try:
            yield RedisTokenStore(redis, args.key or "drchrono-async:token")
        finally:
            await redis.aclose()
        return
    from ._sync_cli import open_checked

    # The store's setup mistakes (a missing directory, a database not there...) are one line
    # and their exit code, before the browser is sent anywhere.
    store = await open_checked(url, args.schema)
    try:
        yield store.token_store(args.key or "default")
    finally:
        await store.aclose()


# -- the flow -----------------------------------------------------------------------------------


async def login(
    app: OAuthApp,
    store: TokenStore,
    *,
    scope: str | None = None,
    paste: bool = False,
    pkce: bool = False,
    wait_for: float = DEFAULT_TIMEOUT,
    out: TextIO | None = None,
    lines: Callable[[], Awaitable[str]] | None = None,
    clock: Clock | None = None,
) -> Token:
    """Authorize in a browser, take the redirect, check its state, exchange the code and
    save the token (unconditionally: a new authorization). `wait_for`: seconds to wait for
    the redirect (on `clock`, default the app's). `lines`: where a pasted address comes from
    (default: a line of standard input). Never prints a token."""
    out = sys.stdout if out is None else out
    state = app.new_state()
    verifier = app.new_code_verifier() if pkce else None
    url = app.authorize_url(scope=scope, state=state, code_verifier=verifier)
    bind = None if paste else listen_address(app.redirect_uri)
    listener: _Listener | None = None
    if bind is None:
        if not paste:
            _say(out, "The redirect URI is not on loopback: the address will be pasted.")
        _say(out, "Open this address in a browser and approve:")
        _say(out, url)
        _say(out, "Then paste here the whole address the browser was sent to:")
        wait: asyncio.Future[str] = asyncio.ensure_future(_pasted(lines or _stdin_line, state))
    else:
        listener = await _Listener.start(*bind, state, out)
        _say(out, "Open this address in a browser and approve:")
        _say(out, url)
        _say(out, f"Waiting for the redirect on {app.redirect_uri} (up to {wait_for:g} s)...")
        wait = listener.result
    try:
        code = await _within(wait, clock or app.clock, wait_for)
    finally:
        if listener is not None:
            await listener.close()
    token = await app.exchange_code(code, code_verifier=verifier)
    await store.save(token)
    encrypted = getattr(store, "cipher", None) is not None
    how = "encrypted" if encrypted else "plain text: set DRCHRONO_TOKEN_KEYS to encrypt it"
    # The scopes are the server's text: printed only as plain words, never control bytes.
    scopes = " ".join(sorted(s for s in token.scopes if s.isascii() and s.isprintable()))
    _say(out, f"Signed in. Token saved in {store!r} ({how}); scopes: {scopes[:500] or '?'}.")
    return token


def listen_address(redirect_uri: str) -> tuple[str, int, str] | None:
    """(address to bind, port, path) for an http redirect URI on loopback, else None."""
    try:
        url = urlsplit(redirect_uri)
        port = url.port or 80
    except ValueError:  # a port that is no port: not one to listen on
        return None
    host = _LOOPBACK.get(url.hostname or "")
    if url.scheme != "http" or host is None:
        return None
    return host, port, url.path or "/"


class _WrongState(InvalidRequestError):
    """A redirect that is not this sign-in's: the listener waits past it."""


def check_redirect(query: str, state: str) -> str:
    """The code of a redirect's query, after checking its `state` (a typed error otherwise,
    naming neither the code nor the state)."""
    try:
        pairs = parse_qsl(query, keep_blank_values=True, max_num_fields=32)
    except ValueError:
        raise InvalidRequestError("the redirect's address is not one DrChrono sends") from None
    params: dict[str, str] = {}
    for name, value in pairs:
        if name in params:
            raise InvalidRequestError(f"the redirect repeats {name[:32]!r}: refused")
        params[name] = value
    sent = params.get("state", "").encode("utf-8", "replace")
    if not secrets.compare_digest(sent, state.encode("ascii")):
        raise _WrongState(
            "the redirect's state is not the one sent: refused (a stale or forged redirect; "
            "paste the whole address)"
        )
    error = params.get("error")
    if error is not None:
        said = error if error in _AUTH_ERRORS else "an error"
        raise InvalidRequestError(f"the authorization was refused ({said})")
    if not params.get("code"):
        raise InvalidRequestError("the redirect carries no code")
    from ._checks import check_secret

    return check_secret(params["code"], "code")


async def _within(wait: asyncio.Future[str], clock: Clock, seconds: float) -> str:
    # On the app's clock (tests run it virtual), not asyncio.timeout's.
    timer: asyncio.Future[Any] = asyncio.ensure_future(clock.sleep(seconds))
    try:
        await asyncio.wait([wait, timer], return_when=asyncio.FIRST_COMPLETED)
    finally:
        timer.cancel()
    if not wait.done():
        wait.cancel()
        raise InvalidRequestError(f"no redirect came within {seconds:g} s; nothing saved")
    return wait.result()


async def _pasted(lines: Callable[[], Awaitable[str]], state: str) -> str:
    text = (await lines()).strip()
    if not text:
        raise InvalidRequestError("nothing was pasted")
    if len(text) > _MAX_PASTE:
        raise InvalidRequestError("the pasted address is too long to be a redirect")
    _, _, query = text.partition("?")
    return check_redirect(query.partition("#")[0], state)


async def _stdin_line() -> str:
    # A daemon thread, not the executor: a read that never ends must not hold up the exit.
    loop = asyncio.get_running_loop()
    got: asyncio.Future[str] = loop.create_future()

    def read() -> None:
        line = sys.stdin.readline(_MAX_PASTE + 1)

        def deliver() -> None:
            if not got.done():
                got.set_result(line)

        with contextlib.suppress(RuntimeError):  # the loop is gone: nobody waits any more
            loop.call_soon_threadsafe(deliver)

    threading.Thread(target=read, name="drchrono-login-paste", daemon=True).start()
    return await got


def _say(out: TextIO, line: str) -> None:
    print(line, file=out, flush=True)


class _Listener:
    """The redirect's receiver: one HTTP/1.1 GET on loopback, answered and closed.

    Anything but a GET of the redirect path with the right `state` is answered with an
    error page and waited past (a stray or forged request must not end the sign-in); the
    pages echo nothing of the request.
    """

    def __init__(self, path: str, state: str, out: TextIO) -> None:
        self._path = path
        self._state = state
        self._out = out
        self.result: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        self._server: asyncio.Server | None = None

    @classmethod
    async def start(cls, host: str, port: int, path: str, state: str, out: TextIO) -> _Listener:
        listener = cls(path, state, out)
        try:
            listener._server = await asyncio.start_server(
                listener._connection, host, port, limit=_MAX_HEAD
            )
        except OSError as exc:
            raise InvalidRequestError(
                f"cannot listen on {host} port {port} for the redirect ({type(exc).__name__}); "
                "use --paste"
            ) from None
        return listener

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            try:
                head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), _READ_WAIT)
                status, page = self._answer(head)
            except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, TimeoutError):
                status, page = 400, "This is not a sign-in redirect."
            body = f"<!doctype html><title>drchrono-async login</title><p>{page}</p>".encode()
            reason = {200: "OK", 400: "Bad Request", 404: "Not Found", 405: "Not Allowed"}
            writer.write(
                f"HTTP/1.1 {status} {reason.get(status, 'Gone')}\r\n"
                "Content-Type: text/html; charset=utf-8\r\nCache-Control: no-store\r\n"
                f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode("ascii")
                + body
            )
            await writer.drain()
        except ConnectionError:
            pass  # the browser went away: nothing to answer
        finally:
            writer.close()

    def _answer(self, head: bytes) -> tuple[int, str]:
        parts = head.split(b"\r\n", 1)[0].decode("latin-1").split(" ")
        if len(parts) != 3 or not parts[2].startswith("HTTP/1."):
            return 400, "This is not a sign-in redirect."
        if parts[0] != "GET":
            return 405, "This is not a sign-in redirect."
        path, _, query = parts[1].partition("?")
        if path != self._path:
            return 404, "Not found."
        if self.result.done():
            return 410, "This sign-in is over; you can close this tab."
        try:
            code = check_redirect(query, self._state)
        except _WrongState:
            _say(self._out, "Refused a redirect whose state is not the one sent; waiting.")
            return 400, "Refused: this redirect is not the one this sign-in asked for."
        except InvalidRequestError as exc:
            self.result.set_exception(exc)
            return 200, "The authorization was not given; see the command line."
        self.result.set_result(code)
        return 200, "Signed in: you can close this tab and go back to the command line."
