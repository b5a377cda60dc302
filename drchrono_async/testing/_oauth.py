"""OAuth tokens, as the emulator keeps them.

Tokens follow django-oauth-toolkit, which the live service runs: access tokens live 48 hours,
refreshing rotates the refresh token (the old one dies at once, and with it the access token
it was issued with), authorization codes live one minute and work once. A token is bound to
the practice of the user who authorized (a code carries it), and to the application (client
id) it was issued to, which is what an application-wide quota counts.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import random
import re
from collections.abc import Mapping

import attrs

from drchrono_async.ratelimit import Clock

from ._wire import EmuResponse, json_response

__all__ = ["ACCESS_TOKEN_LIFETIME", "OAuthServer", "Token"]

ACCESS_TOKEN_LIFETIME = 172_800.0
CODE_LIFETIME = 60.0
# The scopes a token gets when none are asked for; `/o/authorize?scope=...` grants exactly
# those asked (each a known scope, bare or with `:read`/`:write`), as DrChrono does.
ALL_SCOPES = "user patients calendar clinical billing settings labs messages tasks"
_KNOWN = frozenset(ALL_SCOPES.split())


@attrs.define
class Token:
    """An access token and the refresh token issued with it."""

    access: str
    refresh: str
    user_id: int
    expires_at: float
    scope: str = ALL_SCOPES
    revoked: bool = False  # the access token
    refresh_used: bool = False
    practice: int = 0  # the index of the practice whose data the token sees
    client_id: str = ""  # the application it was issued to


@attrs.define
class _Code:
    user_id: int
    redirect_uri: str
    expires_at: float
    practice: int = 0
    challenge: tuple[str, str] | None = None  # PKCE: (code_challenge, method)
    scope: str = ALL_SCOPES


class OAuthServer:
    """`/o/token/` and `/o/revoke_token/`, and bearer-token checks for the API."""

    def __init__(
        self,
        clock: Clock,
        rng: random.Random,
        *,
        client_id: str,
        client_secret: str,
        redirect_uri: str,
    ) -> None:
        self.clock = clock
        self._rng = rng
        self.client_id = client_id
        self.client_secret = client_secret
        self.redirect_uri = redirect_uri
        # What a token answer says in `expires_in` (tests shorten it, or make it absurd).
        self.access_token_lifetime = ACCESS_TOKEN_LIFETIME
        # django-oauth-toolkit's PKCE_REQUIRED: /o/authorize refuses a request without a
        # code_challenge. Off, as on DrChrono; a challenge given is checked either way.
        self.pkce_required = False
        self.by_access: dict[str, Token] = {}
        self.by_refresh: dict[str, Token] = {}
        self._codes: dict[str, _Code] = {}

    def _secret(self, prefix: str) -> str:
        return f"{prefix}{self._rng.getrandbits(160):040x}"

    def issue_token(
        self,
        user_id: int,
        *,
        practice: int = 0,
        client_id: str | None = None,
        scope: str = ALL_SCOPES,
    ) -> Token:
        token = Token(
            access=self._secret("at_"),
            refresh=self._secret("rt_"),
            user_id=user_id,
            expires_at=self.clock.now() + self.access_token_lifetime,
            scope=scope,
            practice=practice,
            client_id=self.client_id if client_id is None else client_id,
        )
        self.by_access[token.access] = token
        self.by_refresh[token.refresh] = token
        return token

    def issue_code(
        self,
        user_id: int,
        redirect_uri: str | None = None,
        *,
        practice: int = 0,
        scope: str | None = None,
    ) -> str:
        """A code whose token will have `scope` (None: every scope)."""
        code = self._secret("code_")
        self._codes[code] = _Code(
            user_id,
            redirect_uri or self.redirect_uri,
            self.clock.now() + CODE_LIFETIME,
            practice,
            scope=ALL_SCOPES if scope is None else scope,
        )
        return code

    @staticmethod
    def granted(requested: str | None) -> str | None:
        """The scopes an authorization asking for `requested` grants: those asked, in order
        and once each (all when none are asked); None when one is no scope DrChrono has."""
        if requested is None or not requested.strip():
            return ALL_SCOPES
        asked = list(dict.fromkeys(requested.split()))
        if len(asked) > 64 or any(a.split(":", 1)[0] not in _KNOWN for a in asked):
            return None
        return " ".join(asked)

    def pkce_refusal(self, query: Mapping[str, str]) -> str | None:
        """Why `/o/authorize` refuses this request's PKCE parameters (an OAuth error
        description), or None. S256 and plain, as django-oauth-toolkit takes them."""
        challenge = query.get("code_challenge")
        if challenge is None:
            return "Code challenge required." if self.pkce_required else None
        method = query.get("code_challenge_method", "plain")
        if method not in ("S256", "plain"):
            return "Transform algorithm not supported."
        return None if _VERIFIER.fullmatch(challenge) else "Invalid challenge."

    def bind_challenge(self, code: str, query: Mapping[str, str]) -> None:
        """Keep the PKCE challenge of the request that got `code` (checked by pkce_refusal)."""
        challenge = query.get("code_challenge")
        if challenge is not None and code in self._codes:
            self._codes[code].challenge = (challenge, query.get("code_challenge_method", "plain"))

    def authenticate(self, authorization: str | None) -> Token | None:
        """The live token named by an `Authorization: Bearer ...` header, or None."""
        if not authorization:
            return None
        scheme, _, value = authorization.partition(" ")
        if scheme.lower() != "bearer":
            return None
        token = self.by_access.get(value.strip())
        if token is None or token.revoked or self.clock.now() >= token.expires_at:
            return None
        return token

    def token_endpoint(self, form: Mapping[str, object]) -> EmuResponse:
        """POST /o/token/: the authorization_code and refresh_token grants."""
        if not self._client_ok(form):
            return json_response(401, {"error": "invalid_client"})
        grant = form.get("grant_type")
        now = self.clock.now()
        if grant == "authorization_code":
            code = self._codes.pop(str(form.get("code", "")), None)
            if code is None or now >= code.expires_at:
                return json_response(400, {"error": "invalid_grant"})
            if form.get("redirect_uri") != code.redirect_uri:
                return json_response(400, {"error": "invalid_request"})
            if code.challenge is not None or self.pkce_required:
                refused = _pkce_refused(code.challenge, form.get("code_verifier"))
                if refused is not None:
                    return json_response(400, {"error": refused})
            token = self.issue_token(code.user_id, practice=code.practice, scope=code.scope)
            return self._token_answer(token)
        if grant == "refresh_token":
            old = self.by_refresh.get(str(form.get("refresh_token", "")))
            if old is None or old.refresh_used:
                return json_response(400, {"error": "invalid_grant"})
            # Rotation: the old refresh token and its access token stop working now.
            old.refresh_used = True
            old.revoked = True
            del self.by_refresh[old.refresh]
            new = self.issue_token(
                old.user_id, practice=old.practice, client_id=old.client_id, scope=old.scope
            )
            return self._token_answer(new)
        return json_response(400, {"error": "unsupported_grant_type"})

    def revoke_endpoint(self, form: Mapping[str, object]) -> EmuResponse:
        """POST /o/revoke_token/: revoke an access (or refresh) token; unknown ones are fine."""
        if not self._client_ok(form):
            return json_response(401, {"error": "invalid_client"})
        value = str(form.get("token", ""))
        token = self.by_access.get(value)
        if token is not None:
            token.revoked = True
        token = self.by_refresh.pop(value, None)
        if token is not None:
            token.refresh_used = True
            token.revoked = True
        # RFC 7009: 200 even for an unknown token.
        return EmuResponse(200, b"", None)

    def _client_ok(self, form: Mapping[str, object]) -> bool:
        return form.get("client_id") == self.client_id and (
            form.get("client_secret") == self.client_secret
        )

    def _token_answer(self, token: Token) -> EmuResponse:
        return json_response(
            200,
            {
                "access_token": token.access,
                "token_type": "Bearer",
                "expires_in": int(self.access_token_lifetime),
                "refresh_token": token.refresh,
                "scope": token.scope,
            },
            [("Cache-Control", "no-store"), ("Pragma", "no-cache")],
        )


_VERIFIER = re.compile(r"[A-Za-z0-9._~-]{43,128}")


def _pkce_refused(challenge: tuple[str, str] | None, verifier: object) -> str | None:
    """The OAuth error for a code exchange's PKCE verifier, or None (oauthlib's rules)."""
    if challenge is None:
        return "invalid_request"  # PKCE required, and the code was issued without it
    if not isinstance(verifier, str) or not verifier:
        return "invalid_request"
    expected, method = challenge
    if method == "S256":
        digest = hashlib.sha256(verifier.encode("ascii", "replace")).digest()
        computed = base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")
    else:
        computed = verifier
    return None if hmac.compare_digest(computed, expected) else "invalid_grant"
