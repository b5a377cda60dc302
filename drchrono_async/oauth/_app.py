"""`OAuthApp`: one DrChrono API application's OAuth calls.

`authorize_url` builds the page a user is sent to; `exchange_code`, `refresh` and `revoke`
are form-encoded POSTs to `/o/token/` and `/o/revoke_token/` (the trailing slash matters),
sent through the same transport as the API: timeouts, a 429 waited out, typed errors.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import logging
import re
import secrets
from collections.abc import Mapping
from types import TracebackType
from typing import Any

import httpx

from .._checks import check_base_url, check_int, check_number, check_secret
from .._redact import protect_origin
from .._transport import Transport
from ..errors import (
    AuthenticationError,
    BadRequestError,
    InvalidGrantError,
    InvalidRequestError,
    ResponseDecodeError,
    TransportError,
)
from ..ratelimit import Clock, Quota, SystemClock
from ._closing import CLOSE_WAIT, wait_bounded
from ._token import DEFAULT_EXPIRES_IN, Token, believed_lifetime

__all__ = ["OAuthApp", "pkce_challenge"]

logger = logging.getLogger("drchrono_async.oauth")

TOKEN_PATH = "/o/token/"
REVOKE_PATH = "/o/revoke_token/"
AUTHORIZE_PATH = "/o/authorize"

# OAuth error codes (RFC 6749) this app names, and the typed error each becomes.
_OAUTH_ERRORS: dict[str, tuple[type[AuthenticationError], str]] = {
    "invalid_grant": (
        InvalidGrantError,
        "the code or refresh token is invalid, expired or already used",
    ),
    "invalid_client": (AuthenticationError, "the client id or secret was refused"),
}

_LOST_ANSWER = (
    "the refresh token was used, but the answer carrying its replacement was lost; the "
    "server has rotated it, so the user must authorize the app again"
)


class OAuthApp:
    """A DrChrono API application: its id, secret and registered redirect URI.

    Args:
        client_id, client_secret: from the API management page. Never logged or shown.
        redirect_uri: one of the app's registered redirect URIs.
        base_url: the service's origin.
        http_client: the caller's `httpx.AsyncClient` (not closed by the app); by default the
            app makes one and closes it in `aclose()` / `async with`.
        quota: a quota scheduler; when given, every token call takes a permit from it.
        clock: the time source (tests inject a `VirtualClock`).

    Like `DrChronoClient`, it adds `base_url`'s origin to the process-wide logging filters
    that redact query values in httpx's logs (installing them if it is the first).
    """

    def __init__(
        self,
        client_id: str,
        client_secret: str,
        redirect_uri: str,
        *,
        base_url: str = "https://drchrono.com",
        http_client: httpx.AsyncClient | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        quota: Quota | None = None,
        clock: Clock | None = None,
        timeout: float = 30.0,
        max_retries: int = 3,
    ) -> None:
        timeout = check_number(
            timeout, "timeout", low=0, high=600, low_open=True, kind="a number of seconds"
        )
        max_retries = check_int(max_retries, "max_retries", low=0, high=100)
        self.client_id = check_secret(client_id, "client_id")
        self._client_secret = check_secret(client_secret, "client_secret")
        try:
            redirect = httpx.URL(redirect_uri) if isinstance(redirect_uri, str) else None
        except httpx.InvalidURL:
            redirect = None
        if redirect is None or redirect.scheme not in ("http", "https") or not redirect.host:
            raise InvalidRequestError("redirect_uri must be an absolute http(s) URL")
        self.redirect_uri = redirect_uri
        if http_client is not None and transport is not None:
            raise InvalidRequestError("give either http_client or transport, not both")
        if http_client is not None and not isinstance(http_client, httpx.AsyncClient):
            raise InvalidRequestError("http_client must be an httpx.AsyncClient")
        self._owns_http = http_client is None
        self._http = http_client or httpx.AsyncClient(
            transport=transport, timeout=httpx.Timeout(timeout), follow_redirects=False
        )
        self.clock: Clock = clock or getattr(quota, "clock", None) or SystemClock()
        url = check_base_url(base_url)
        protect_origin(url)
        self._transport = Transport(
            http=self._http,
            base_url=url,
            auth=None,
            clock=self.clock,
            quota=quota,
            max_retries=max_retries,
        )
        self.base_url = self._transport.base_url
        # What aclose() waits for: refresh tasks (with their saves) and token calls in flight.
        self._held: set[asyncio.Task[Any]] = set()
        self._calls = 0
        self._quiet: asyncio.Event | None = None

    # -- the user's side -----------------------------------------------------------------------

    def authorize_url(
        self,
        *,
        scope: str | None = None,
        state: str | None = None,
        code_verifier: str | None = None,
    ) -> str:
        """The `/o/authorize` URL to send a user to.

        `state` defaults to a fresh random value (it is in the returned URL's query); to
        check it on the callback, generate and keep your own (`OAuthApp.new_state()`).
        `code_verifier`: PKCE (RFC 7636, S256), for a server that requires it (DrChrono's
        flow has none): keep `OAuthApp.new_code_verifier()` and give it to `exchange_code`.
        """
        params = {"response_type": "code", "client_id": self.client_id}
        params["redirect_uri"] = self.redirect_uri
        if scope is not None:
            if not isinstance(scope, str) or not scope.strip():
                raise InvalidRequestError("scope must be a non-empty string of scopes")
            params["scope"] = scope
        params["state"] = self.new_state() if state is None else _check_state(state)
        if code_verifier is not None:
            params["code_challenge"] = pkce_challenge(code_verifier)
            params["code_challenge_method"] = "S256"
        return str(self.base_url.join(AUTHORIZE_PATH).copy_merge_params(params))

    @staticmethod
    def new_state() -> str:
        """A fresh unguessable `state` value for `authorize_url`."""
        return secrets.token_urlsafe(32)

    @staticmethod
    def new_code_verifier() -> str:
        """A fresh PKCE code verifier (86 characters, 512 random bits)."""
        return secrets.token_urlsafe(64)

    # -- token calls ----------------------------------------------------------------------------

    async def exchange_code(self, code: str, *, code_verifier: str | None = None) -> Token:
        """Trade the callback's `code` for a token (codes live a minute and work once).

        `code_verifier`: the PKCE verifier given to `authorize_url`, if one was.
        """
        code = check_secret(code, "code")
        form = {"grant_type": "authorization_code", "code": code}
        if code_verifier is not None:
            form["code_verifier"] = _check_verifier(code_verifier)
        return await self._token_call(form)

    async def refresh(self, refresh_token: str) -> Token:
        """A new token pair for `refresh_token`; the old pair stops working at once.

        A network failure after the request went out is retried once with the same refresh
        token: if the server had not rotated it, that works; if it had, the answer carrying
        the new token is lost for good and `InvalidGrantError` says the user must authorize
        again. Never more than two attempts.
        """
        checked = check_secret(refresh_token, "refresh_token")
        form = {"grant_type": "refresh_token", "refresh_token": checked}
        try:
            return await self._token_call(form)
        except TransportError as exc:
            if not exc.sent:
                raise
        try:
            return await self._token_call(form)
        except InvalidGrantError as exc:
            raise InvalidGrantError(
                _LOST_ANSWER, status_code=exc.status_code, method="POST", path=TOKEN_PATH
            ) from None

    async def revoke(self, access_token: str) -> None:
        """Revoke an access token (the server accepts unknown tokens silently)."""
        form = {"token": check_secret(access_token, "access_token")}
        await self._post(REVOKE_PATH, form)

    async def _token_call(self, form: dict[str, str]) -> Token:
        form["redirect_uri"] = self.redirect_uri
        sent_at = self.clock.now()
        self._calls += 1
        try:
            body = await self._post(TOKEN_PATH, form)
        finally:
            self._calls -= 1
            if not self._calls and self._quiet is not None:
                self._quiet.set()
        return self._token_from(body, sent_at)

    async def _post(self, path: str, form: dict[str, str]) -> Any:
        form = {**form, "client_id": self.client_id, "client_secret": self._client_secret}
        try:
            return await self._transport.request("POST", path, data=form)
        except (BadRequestError, AuthenticationError) as exc:
            known = _OAUTH_ERRORS.get(_oauth_error(exc.body) or "")
            if known is None:
                raise
            error_type, message = known
            # The server's own error text stays out of the message: only its known code.
            raise error_type(
                message, status_code=exc.status_code, method="POST", path=path
            ) from None

    def _token_from(self, body: Any, sent_at: float) -> Token:
        def bad(what: str) -> ResponseDecodeError:
            return ResponseDecodeError(
                f"POST {TOKEN_PATH} answered a token {what}",
                method="POST",
                path=TOKEN_PATH,
                status_code=200,
            )

        if not isinstance(body, Mapping):
            raise bad("that is not an object")
        # Sent time (not received) on the server's clock: a conservative expiry.
        server_sent = sent_at + self._transport.server_offset()
        scope = body.get("scope")
        try:
            return Token(
                # Whatever the server sent: Token's validators check it.
                access_token=body.get("access_token", ""),
                refresh_token=body.get("refresh_token", ""),
                expires_at=server_sent
                + believed_lifetime(body.get("expires_in", DEFAULT_EXPIRES_IN)),
                scope=scope if isinstance(scope, str) else None,
                issued_at=server_sent,
            )
        except InvalidRequestError:
            raise bad("without a usable access or refresh token") from None

    def server_now(self) -> float:
        """The API server's time as this app estimates it from `Date` headers."""
        return self.clock.now() + self._transport.server_offset()

    # -- lifetime -------------------------------------------------------------------------------

    def _hold(self, task: asyncio.Task[Any]) -> None:
        """Make `aclose()` wait for `task` (a refresh and the save of its token)."""
        self._held.add(task)
        task.add_done_callback(self._held.discard)

    async def aclose(self) -> None:
        """Close the HTTP client if the app made it.

        First waits, at most `CLOSE_WAIT` (30) seconds on the app's clock, for the refreshes
        of its clients (and their saves) and its token calls in flight: the server may already
        have rotated the refresh token, and the answer is the only copy of the new one.
        """
        waits: list[asyncio.Future[Any]] = list(self._held)
        quiet = None
        if self._calls:
            self._quiet = asyncio.Event()
            quiet = asyncio.ensure_future(self._quiet.wait())
            waits.append(quiet)
        try:
            if waits and not await wait_bounded(waits, self.clock, CLOSE_WAIT):
                for task in list(self._held):
                    task.cancel()  # given up: ended now rather than failing later
                logger.error(
                    "oauth: a token call was still running %d s after aclose() began; given "
                    "up (if the server rotated the token, the practice must authorize again)",
                    CLOSE_WAIT,
                )
        finally:
            if quiet is not None:
                quiet.cancel()
            if self._owns_http:
                await self._http.aclose()

    async def __aenter__(self) -> OAuthApp:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    def __repr__(self) -> str:
        return f"OAuthApp(client_id={self.client_id!r}, base_url={str(self.base_url)!r})"


def _oauth_error(body: Any) -> str | None:
    error = body.get("error") if isinstance(body, Mapping) else None
    return error if isinstance(error, str) else None


def _check_state(state: object) -> str:
    if not isinstance(state, str) or not state or len(state) > 512:
        raise InvalidRequestError("state must be a non-empty string of at most 512 characters")
    return state


_VERIFIER = re.compile(r"[A-Za-z0-9._~-]{43,128}")


def _check_verifier(verifier: object) -> str:
    if not isinstance(verifier, str) or not _VERIFIER.fullmatch(verifier):
        raise InvalidRequestError(
            "code_verifier must be 43 to 128 characters of A-Z a-z 0-9 - . _ ~ (RFC 7636)"
        )
    return verifier


def pkce_challenge(verifier: str) -> str:
    """The S256 `code_challenge` of a PKCE verifier: BASE64URL(SHA256(verifier)), unpadded."""
    digest = hashlib.sha256(_check_verifier(verifier).encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")
