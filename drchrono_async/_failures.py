"""What a transport failure was, in words, for the one line a command prints."""

from __future__ import annotations

import builtins
import errno
import socket
import ssl

import httpx

__all__ = ["failure_reason"]


def failure_reason(exc: BaseException) -> str:
    """What a transport failure was, in words, from the types along its causes (never
    their text, which may quote what the server sent); "" when no type tells."""
    seen: BaseException | None = exc
    for _ in range(8):  # httpx -> httpcore -> OSError: a short chain; a cycle ends here
        if seen is None:
            break
        if isinstance(seen, (httpx.TimeoutException, builtins.TimeoutError)):
            return "timed out"
        if isinstance(seen, ssl.SSLCertVerificationError):
            return "TLS certificate not trusted"
        if isinstance(seen, ssl.SSLError):
            return "TLS handshake failed"
        if isinstance(seen, socket.gaierror):
            return "DNS lookup failed"
        if isinstance(seen, ConnectionRefusedError):
            return "connection refused"
        if isinstance(seen, ConnectionResetError):
            return "connection reset"
        if isinstance(seen, OSError) and seen.errno in (errno.ENETUNREACH, errno.EHOSTUNREACH):
            return "network unreachable"
        seen = seen.__cause__ or seen.__context__
    return ""
