"""Where the transport gets its bearer token: a fixed token, or one that refreshes itself."""

from __future__ import annotations

from typing import Protocol

__all__ = ["Auth", "StaticAuth"]


class Auth(Protocol):
    """The bearer token for each request, and what to do when one is refused."""

    async def token(self) -> str:
        """The access token to send now."""
        ...

    async def unauthorized(self, used: str) -> str | None:
        """A request sent with `used` got 401: a token to re-send with once, or None."""
        ...

    async def scopes(self) -> frozenset[str] | None:
        """The scopes the token was granted, or None when they are not known."""
        ...


class StaticAuth:
    """One access token for the client's whole life (`DrChronoClient(access_token=...)`)."""

    def __init__(self, access_token: str) -> None:
        self._token = access_token

    async def token(self) -> str:
        return self._token

    async def unauthorized(self, used: str) -> str | None:
        return None

    async def scopes(self) -> frozenset[str] | None:
        return None  # a fixed token does not say (Syncer(granted_scopes=) can)

    def __repr__(self) -> str:
        return "StaticAuth()"
