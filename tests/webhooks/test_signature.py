"""The verification handshake and the delivery's signature header."""

from __future__ import annotations

import hashlib
import hmac
from typing import Any

import httpx
import pytest

from drchrono_async.errors import (
    InvalidRequestError,
    WebhookPayloadError,
    WebhookSignatureError,
)
from drchrono_async.webhooks import _signature, parse_delivery, verification_response

from .conftest import OTHER_SECRET, SECRET, signed


def reference_example(secret: bytes, msg: bytes) -> str:
    """The reference's Python example, as written there (Python 2 strs are bytes)."""
    return hmac.new(secret, msg, hashlib.sha256).hexdigest()


@pytest.mark.parametrize("msg", ["abc123", "a" * 4096, "héllo wörld", "x y&z=1"])
@pytest.mark.parametrize("secret", [SECRET, SECRET.encode(), "sécret-ütf8"])
def test_handshake_equals_the_reference_example(msg: str, secret: str | bytes) -> None:
    key = secret.encode() if isinstance(secret, str) else secret
    expected = reference_example(key, msg.encode())
    assert verification_response(msg, secret) == {"secret_token": expected}


@pytest.mark.parametrize("msg", ["", "a" * 4097, "\ud800"])
def test_handshake_bounds_msg(msg: str) -> None:
    with pytest.raises(WebhookPayloadError) as info:
        verification_response(msg, SECRET)
    assert SECRET not in str(info.value)


@pytest.mark.parametrize("secret", ["", b"", None, 5, "x" * 5000])
def test_handshake_refuses_unusable_secrets(secret: Any) -> None:
    with pytest.raises(InvalidRequestError):
        verification_response("m", secret)


def test_the_right_secret_passes_in_every_header_shape(emu: Any) -> None:
    headers, body = signed("PING")
    shapes: list[Any] = [
        headers,
        {k.lower(): v for k, v in headers.items()},
        {k.upper().encode(): v.encode() for k, v in headers.items()},
        [(k.lower().encode(), v.encode()) for k, v in headers.items()],  # ASGI
        httpx.Headers(headers),
    ]
    for shape in shapes:
        assert parse_delivery(shape, body, SECRET).event == "PING"
    assert parse_delivery(headers, body, SECRET.encode()).event == "PING"


def forged(headers: dict[str, str], value: str | None) -> dict[str, str]:
    out = {k: v for k, v in headers.items() if k != "X-drchrono-signature"}
    if value is not None:
        out["X-drchrono-signature"] = value
    return out


@pytest.mark.parametrize(
    "value",
    [
        None,  # missing
        "",  # empty
        "   ",  # blank
        OTHER_SECRET,  # another webhook's secret
        SECRET[:-1],  # a prefix
        SECRET + "x",
        SECRET.upper(),
        hmac.new(SECRET.encode(), b"{}", hashlib.sha256).hexdigest(),  # an HMAC is not it
        "x" * 10_000,
        "s€cret",  # not latin-1: no header on the wire carries it
    ],
)
def test_bad_signatures_fail_closed_without_naming_values(value: str | None) -> None:
    headers, body = signed("PING")
    with pytest.raises(WebhookSignatureError) as info:
        parse_delivery(forged(headers, value), body, SECRET)
    text = str(info.value)
    assert SECRET not in text and OTHER_SECRET not in text
    assert value is None or not value.strip() or value not in text
    assert info.value.__cause__ is None


def test_a_duplicated_signature_header_fails_even_when_both_are_right() -> None:
    headers, body = signed("PING")
    pairs = [(k.encode(), v.encode()) for k, v in headers.items()]
    pairs.append((b"x-drchrono-signature", SECRET.encode()))
    with pytest.raises(WebhookSignatureError, match="more than once"):
        parse_delivery(pairs, body, SECRET)
    # Two spellings in one mapping are the same header twice.
    twice = {**headers, "x-drchrono-signature": SECRET}
    with pytest.raises(WebhookSignatureError):
        parse_delivery(twice, body, SECRET)
    # httpx.Headers merges repeats in items(); multi_items() still shows both.
    with pytest.raises(WebhookSignatureError):
        parse_delivery(httpx.Headers(pairs), body, SECRET)


def test_the_signature_is_checked_before_anything_else() -> None:
    with pytest.raises(WebhookSignatureError):
        parse_delivery({"X-drchrono-event": "not an event"}, b"not json", SECRET)


def test_rotated_secrets_each_pass_and_others_fail() -> None:
    new, old = "whsec-NEW-0001", SECRET
    for sent in (new, old):
        headers, body = signed("PING", secret=sent)
        assert parse_delivery(headers, body, [new, old]).event == "PING"
    headers, body = signed("PING", secret=OTHER_SECRET)
    with pytest.raises(WebhookSignatureError):
        parse_delivery(headers, body, [new, old])
    for bad in ([], ["ok", ""], ["s"] * 17, [5]):
        with pytest.raises(InvalidRequestError):
            parse_delivery(headers, body, bad)  # type: ignore[arg-type]


@pytest.mark.parametrize("position", [0, 1, 2])
def test_every_secret_is_compared_with_compare_digest(
    monkeypatch: pytest.MonkeyPatch, position: int
) -> None:
    """The timing probe: whichever secret matches (or none), compare_digest runs once per
    secret, on inputs of one length, and nothing else decides the result."""
    secrets = ["whsec-A-1", "whsec-BB-22", "whsec-CCC-333"]
    calls: list[tuple[bytes, bytes]] = []
    real = hmac.compare_digest

    def recording(a: Any, b: Any) -> bool:
        calls.append((a, b))
        return real(a, b)

    monkeypatch.setattr(_signature.hmac, "compare_digest", recording)
    headers, body = signed("PING", secret=secrets[position])
    assert parse_delivery(headers, body, secrets).event == "PING"
    assert len(calls) == 3
    assert {len(a) for a, _ in calls} | {len(b) for _, b in calls} == {32}
    assert [real(a, b) for a, b in calls] == [i == position for i in range(3)]

    calls.clear()
    headers, body = signed("PING", secret="whsec-nobody")
    with pytest.raises(WebhookSignatureError):
        parse_delivery(headers, body, secrets)
    assert len(calls) == 3

    # With compare_digest answering False, nothing else lets the right secret through.
    monkeypatch.setattr(_signature.hmac, "compare_digest", lambda a, b: False)
    headers, body = signed("PING", secret=secrets[position])
    with pytest.raises(WebhookSignatureError):
        parse_delivery(headers, body, secrets)


@pytest.mark.parametrize("headers", ["X-drchrono-signature: x", b"raw", 5, [("only-name",)]])
def test_headers_of_no_known_shape_are_a_caller_error(headers: Any) -> None:
    with pytest.raises(InvalidRequestError):
        parse_delivery(headers, b"{}", SECRET)


def test_too_many_header_lines_are_refused() -> None:
    headers, body = signed("PING")
    pairs = [(f"x-{i}", "v") for i in range(600)] + list(headers.items())
    with pytest.raises(WebhookPayloadError):
        parse_delivery(pairs, body, SECRET)
