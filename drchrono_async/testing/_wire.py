"""The emulator's view of one HTTP exchange, independent of how it arrived.

One request core serves both the in-process httpx transport and the loopback server, so both
hand it an `EmuRequest` and write out the `EmuResponse` it returns.
"""

from __future__ import annotations

import datetime as dt
import email.parser
import email.policy
import re
from collections.abc import Mapping
from email.utils import formatdate
from typing import Any
from urllib.parse import parse_qsl, urlencode

import attrs
import orjson

__all__ = [
    "EmuRequest",
    "EmuResponse",
    "UploadedFile",
    "http_date",
    "json_response",
    "parse_body",
]


@attrs.define
class EmuRequest:
    """A request as the emulator sees it. Header names are lower case."""

    method: str
    path: str
    query_string: str
    headers: Mapping[str, str]
    body: bytes = b""
    # "http://host:port" as the client addressed us: used for next/previous and Location URLs.
    origin: str = "http://drchrono.emulator"

    @property
    def query(self) -> list[tuple[str, str]]:
        return parse_qsl(self.query_string, keep_blank_values=True)

    def query_dict(self) -> dict[str, str]:
        """The query with the last value winning, as DRF's `query_params.get` reads it."""
        return dict(self.query)


@attrs.define
class EmuResponse:
    """What the core answers. `fault` tells the carrier how to deliver (or not) the answer."""

    status: int
    body: bytes = b""
    content_type: str | None = "application/json"
    headers: list[tuple[str, str]] = attrs.field(factory=list)
    # None, "drop" (close instead of answering), "slow" (trickle the body) or "truncate"
    # (send the headers and half the body, then close).
    fault: str | None = None
    slow_seconds: float = 0.0


@attrs.frozen
class UploadedFile:
    """A file part of a multipart body."""

    filename: str
    content_type: str
    data: bytes


def json_response(
    status: int, payload: Any, headers: list[tuple[str, str]] | None = None
) -> EmuResponse:
    return EmuResponse(status, orjson.dumps(payload), "application/json", headers or [])


def http_date(epoch: float) -> str:
    """An RFC 7231 date, as the live API's `Date` header carries it."""
    return formatdate(epoch, usegmt=True)


_BOUNDARY_CT = re.compile(r"multipart/form-data", re.I)


class BodyError(ValueError):
    """The body cannot be read in the content type it claims."""


def parse_body(content_type: str, body: bytes) -> Any:
    """Decode a request body: JSON (object or list), form-urlencoded or multipart.

    Form and multipart bodies become a dict of strings, with `UploadedFile` for file parts.
    """
    ctype = content_type.split(";", 1)[0].strip().lower()
    if not body:
        return {}
    if ctype == "application/json" or (not ctype and body[:1] in (b"{", b"[")):
        try:
            return orjson.loads(body)
        except orjson.JSONDecodeError as exc:
            raise BodyError(f"JSON parse error - {exc}") from exc
    if ctype == "application/x-www-form-urlencoded":
        return dict(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))
    if _BOUNDARY_CT.match(ctype):
        return _parse_multipart(content_type, body)
    raise BodyError(f'Unsupported media type "{ctype}" in request.')


def _parse_multipart(content_type: str, body: bytes) -> dict[str, Any]:
    head = f"Content-Type: {content_type}\r\nMIME-Version: 1.0\r\n\r\n".encode()
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(head + body)
    if not message.is_multipart():
        raise BodyError("Multipart form parse error - Invalid boundary in multipart: None")
    fields: dict[str, Any] = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        if not isinstance(name, str):
            continue
        payload = part.get_payload(decode=True)
        data = payload if isinstance(payload, bytes) else b""
        filename = part.get_filename()
        if filename is not None:
            ptype = part.get_content_type() or "application/octet-stream"
            fields[name] = UploadedFile(filename, ptype, data)
        else:
            fields[name] = data.decode("utf-8", "replace")
    return fields


# --- API wire formats -------------------------------------------------------------------------


_TS_RE = re.compile(r"^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?)?$")


def parse_ts(text: str) -> dt.datetime | None:
    """A naive timestamp or date; None for anything else, including a timezone suffix."""
    if not _TS_RE.match(text):
        return None
    try:
        return dt.datetime.fromisoformat(text)
    except ValueError:
        return None


def parse_date(text: str) -> dt.date | None:
    try:
        return dt.date.fromisoformat(text) if len(text) == 10 else None
    except ValueError:
        return None


def with_query(origin: str, path: str, params: list[tuple[str, str]]) -> str:
    return f"{origin}{path}?{urlencode(params)}" if params else f"{origin}{path}"
