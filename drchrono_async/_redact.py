"""Keep query values and header values of this library's requests out of httpx's logs.

httpx logs every request at INFO with its full URL (`?first_name=...&last_name=...`), and
httpcore logs response headers at DEBUG (a `Location` may carry a query, a `Set-Cookie` a
session). Filters on those loggers rewrite such records before any handler sees them:

- `httpx`: a URL on the origin of a client of this library keeps its path and query keys;
  each query value becomes `[redacted]`.
- `httpcore.*`: every header value in a trace line becomes `[redacted]` (header names and
  statuses stay; httpcore's lines do not say which request they belong to).

A logging filter on a logger sees only records logged on that logger, not its children's,
so each httpcore logger gets its own. Installed once, by the first client or OAuth app.
"""

from __future__ import annotations

import logging
import re
import threading
from typing import Any

import httpx

__all__ = ["REDACTED", "protect_origin", "redact_url", "safe_path"]

REDACTED = "[redacted]"
_HTTPCORE_LOGGERS = (
    "httpcore",
    "httpcore.connection",
    "httpcore.http11",
    "httpcore.http2",
    "httpcore.proxy",
    "httpcore.socks",
)
# A header pair as httpcore prints it: (b'Name', b'value') with either quote style.
_HEADER = re.compile(rb"""\((b'[^']*'|b"[^"]*"), (?:b'(?:[^'\\]|\\.)*'|b"(?:[^"\\]|\\.)*")\)""")
_ORIGINS: set[tuple[str, str, int | None]] = set()
_LOCK = threading.Lock()
_installed = False


def _origin(url: httpx.URL) -> tuple[str, str, int | None]:
    return (url.scheme, url.host, url.port or {"http": 80, "https": 443}.get(url.scheme))


def redact_url(url: httpx.URL) -> str:
    """The URL without userinfo or fragment, each query value replaced by `[redacted]`."""
    query = "&".join(f"{key}={REDACTED}" for key, _ in url.params.multi_items())
    bare = url.copy_with(query=None, fragment=None, username=None, password=None)
    return f"{bare}?{query}" if query else str(bare)


def safe_path(url: httpx.URL) -> str:
    """The URL's path as sent (percent-encoded: no control character survives), no query."""
    return url.raw_path.split(b"?", 1)[0].decode("ascii", "backslashreplace")


class _HttpxFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple) and any(isinstance(a, httpx.URL) for a in record.args):
            record.args = tuple(
                redact_url(a) if isinstance(a, httpx.URL) and _origin(a) in _ORIGINS else a
                for a in record.args
            )
        return True


# httpcore's trace of a failure: `... exception=RemoteProtocolError(<text quoting bytes>)`.
_EXCEPTION = re.compile(r"exception=([A-Za-z_][A-Za-z0-9_.]*)\(.*", re.S)


class _HttpcoreFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        message: Any = record.msg
        if isinstance(message, str) and "exception=" in message:
            # The exception's text may quote what the server sent: keep its type only.
            message = record.msg = _EXCEPTION.sub(r"exception=\1(...)", message)
        if isinstance(message, str) and ("b'" in message or 'b"' in message):
            raw = message.encode("utf-8", "surrogateescape")
            record.msg = _HEADER.sub(rb"(\1, b'" + REDACTED.encode() + rb"')", raw).decode(
                "utf-8", "surrogateescape"
            )
        return True


def protect_origin(base_url: httpx.URL) -> None:
    """Redact this origin's query values in httpx's logs (installs the filters once)."""
    global _installed
    with _LOCK:
        _ORIGINS.add(_origin(base_url))
        if _installed:
            return
        logging.getLogger("httpx").addFilter(_HttpxFilter())
        for name in _HTTPCORE_LOGGERS:
            logging.getLogger(name).addFilter(_HttpcoreFilter())
        _installed = True
