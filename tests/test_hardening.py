"""Issue-level guarantees of the transport and client: every server or caller value is
bounded; only typed errors escape; nothing private reaches a message."""

from __future__ import annotations

import gzip
import math
import traceback

import httpx
import pytest
import respx

from drchrono_async import DrChronoClient, errors
from drchrono_async._transport import _retry_after, _server_time
from drchrono_async.testing import Emulator, VirtualClock

BASE = "https://drchrono.test"
TOKEN = "tok-SECRET-123"


def client(**options: object) -> DrChronoClient:
    options.setdefault("quota", None)
    return DrChronoClient(TOKEN, base_url=BASE, clock=VirtualClock(), **options)  # type: ignore[arg-type]


# -- caller values ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "token", ["has space", "new\nline", "tab\t", "nul\x00", "é-unicode", " lead", "x" * 5000]
)
def test_a_token_no_header_could_carry_is_refused_without_echoing_it(token: str) -> None:
    with pytest.raises(errors.InvalidRequestError) as info:
        DrChronoClient(token, base_url=BASE)
    assert token.strip()[:6] not in str(info.value) or token.strip()[:6] == ""


@pytest.mark.parametrize(
    "base_url",
    [
        "https://user:pw@drchrono.test",
        "https://drchrono.test/?a=1",
        "https://drchrono.test/#f",
        "ftp://drchrono.test",
        "http://[::1",
        5,
    ],
)
def test_a_base_url_with_credentials_query_or_junk_is_refused(base_url: object) -> None:
    with pytest.raises(errors.InvalidRequestError) as info:
        DrChronoClient(TOKEN, base_url=base_url)  # type: ignore[arg-type]
    assert "pw" not in str(info.value)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("max_wait", "5"),
        ("max_wait", math.nan),
        ("max_wait", -1),
        ("max_wait", True),
        ("timeout", math.inf),
        ("timeout", math.nan),
        ("max_retries", True),
        ("max_retries", -1),
        ("max_concurrency", 0),
        ("http_client", object()),
        ("transport", object()),
        ("converter", object()),
        ("timezone", "Mars/Olympus"),
    ],
)
def test_every_constructor_argument_is_checked(name: str, value: object) -> None:
    with pytest.raises(errors.InvalidRequestError):
        DrChronoClient(TOKEN, base_url=BASE, **{name: value})  # type: ignore[arg-type]


def test_infinite_max_wait_means_no_limit() -> None:
    assert client(max_wait=math.inf)._transport.max_wait is None


async def test_a_request_after_aclose_is_a_typed_error_on_every_path() -> None:
    emu = Emulator(seed=1, sizes={"patients": 3})
    c = emu.client()
    await c.aclose()
    for call in (c.request("GET", "/api/patients"), c.patients.get(1)):
        with pytest.raises(errors.InvalidRequestError, match="closed"):
            await call
    with pytest.raises(errors.InvalidRequestError, match="closed"):
        await c.patients.list()
    own = httpx.AsyncClient(transport=emu.transport)
    c2 = DrChronoClient(emu.access_token, base_url=emu.base_url, http_client=own, quota=None)
    await own.aclose()  # the caller closed their own client under ours
    with pytest.raises(errors.InvalidRequestError, match="closed"):
        await c2.patients.get(1)


@respx.mock
async def test_an_invalid_url_is_an_invalid_request() -> None:
    async with client() as c:
        with pytest.raises(errors.InvalidRequestError):
            await c.request("GET", "http://[::1/x")


# -- server values ---------------------------------------------------------------------------


async def test_a_bad_content_encoding_is_a_transient_decode_error() -> None:
    calls = 0

    def answer(request: httpx.Request) -> httpx.Response:
        nonlocal calls
        calls += 1
        body = b"this is not gzip" if request.url.path == "/api/x" else gzip.compress(b"[1]")
        # A stream, so that the body is decoded when the client reads it, as from a socket.
        return httpx.Response(
            200, headers={"Content-Encoding": "gzip"}, stream=httpx.ByteStream(body)
        )

    async with client(max_retries=2, transport=httpx.MockTransport(answer)) as c:
        with pytest.raises(errors.ResponseDecodeError):
            await c.request("GET", "/api/x")
        assert calls == 3  # retried like any transient failure
        assert await c.request("GET", "/api/y") == [1]


@respx.mock
async def test_messages_carry_no_reason_phrase_and_escape_control_characters() -> None:
    respx.get(url__startswith=f"{BASE}/api/").mock(
        return_value=httpx.Response(
            404,
            json={"detail": "Patient Zelda Quux"},
            extensions={"reason_phrase": b"Patient Zelda Quux"},
        )
    )
    async with client() as c:
        with pytest.raises(errors.NotFoundError) as info:
            await c.request("GET", "/api/pa%0Atients%1B")
        with pytest.raises(errors.InvalidRequestError, match="not a valid URL") as refused:
            await c.request("GET", "/api/pa\ntients")  # httpx refuses it: typed, not echoed
    text = "".join(traceback.format_exception(info.value))
    assert "Zelda" not in text and "\x1b" not in str(info.value) and "\n" not in str(info.value)
    assert "%0A" in str(info.value)
    assert "\n" not in str(refused.value)


def _response(headers: dict[str, str], body: bytes = b"") -> httpx.Response:
    return httpx.Response(429, headers=headers, content=body)


@pytest.mark.parametrize(
    "value",
    [
        "nan",
        "inf",
        "-inf",
        "-5",
        "1e400",
        "garbage",
        "Fri, 31 Dec 99999 23:59:59 GMT",
        "Mon, 01 Jan 0001 00:00:00 GMT",
        "x" * 5000,
    ],
)
def test_retry_after_is_finite_and_non_negative_or_none(value: str) -> None:
    wait = _retry_after(_response({"Retry-After": value}), now=1e9)
    assert wait is None or (math.isfinite(wait) and wait >= 0)


def test_retry_after_reads_seconds_dates_and_the_drf_body() -> None:
    assert _retry_after(_response({"Retry-After": "30"}), now=0) == 30.0
    date = {"Retry-After": "Thu, 01 Jan 2026 00:01:00 GMT", "Date": "Thu, 01 Jan 2026 00:00:00 GMT"}
    assert _retry_after(_response(date), now=0) == 60.0
    body = b'{"detail": "Request was throttled. Expected available in 2710.0 seconds."}'
    assert _retry_after(_response({}, body), now=0) == 2710.0


@pytest.mark.parametrize("value", ["garbage", "Fri, 31 Dec 99999 23:59:59 GMT", "", "x" * 500])
def test_an_unusable_date_header_is_ignored(value: str) -> None:
    assert _server_time(httpx.Response(200, headers={"Date": value})) is None


async def test_a_location_httpx_cannot_parse_is_a_redirect_error() -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(302, headers={"Location": "javascript:alert(1)"})

    async with client(transport=httpx.MockTransport(answer)) as c:
        with pytest.raises(errors.RedirectError):
            await c.request("GET", "/api/a")


async def test_a_400_names_plain_field_names_only() -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        body = {"Bearer SECRET-echo": ["bad"], "first_name": ["x"], "a b": ["y"]}
        return httpx.Response(400, json=body)

    async with client(transport=httpx.MockTransport(answer)) as c:
        with pytest.raises(errors.BadRequestError) as info:
            await c.request("GET", "/api/b")
    assert "SECRET" not in str(info.value) and "a b" not in str(info.value)
    assert "first_name and 2 other(s)" in str(info.value)
    assert "Bearer SECRET-echo" in info.value.field_errors  # still there for the caller


async def test_a_transport_error_does_not_chain_the_servers_bytes() -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        raise httpx.RemoteProtocolError("illegal status line: b'first_name=Zelda'")

    async with client(transport=httpx.MockTransport(answer), max_retries=0) as c:
        with pytest.raises(errors.TransportError) as info:
            await c.request("GET", "/api/c")
    assert "Zelda" not in "".join(traceback.format_exception(info.value))


def test_httpcore_exception_lines_keep_the_type_only() -> None:
    import logging

    Emulator(seed=1).client()  # installs the filters
    line = "receive_response_headers.failed exception="
    text = line + "RemoteProtocolError(\"illegal: b'first_name=Zelda'\")"
    record = logging.LogRecord("httpcore.http11", logging.DEBUG, "x", 1, text, None, None)
    for f in logging.getLogger("httpcore.http11").filters:
        f.filter(record)
    assert record.getMessage() == line + "RemoteProtocolError(...)"
