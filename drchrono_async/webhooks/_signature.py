"""The webhook's secret token: the GET handshake and the check of a delivery's header.

Two different uses of one secret, which public receivers often confuse:

- Verification (GET `?msg=...`): DrChrono expects `{"secret_token": <hex HMAC-SHA256 of msg,
  keyed by the secret>}`.
- Deliveries (POST): the `X-drchrono-signature` header carries the secret token itself. It is
  not an HMAC of the body, so it authenticates the sender but does not bind the body; TLS
  is what protects the body in transit.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Sequence

from ..errors import InvalidRequestError, WebhookPayloadError, WebhookSignatureError

__all__ = [
    "MAX_MSG_CHARS",
    "SIGNATURE",
    "Secrets",
    "check_signature",
    "verification_response",
]

SIGNATURE = b"x-drchrono-signature"
MAX_MSG_CHARS = 4096
MAX_SECRETS = 16
MAX_SECRET_BYTES = 4096
# A header value longer than any secret we accept cannot match; refused before hashing.
_MAX_SIGNATURE_BYTES = MAX_SECRET_BYTES


def _secret_bytes(secret: object) -> bytes:
    if isinstance(secret, str):
        secret = secret.encode("utf-8")
    if not isinstance(secret, bytes):
        raise InvalidRequestError("a webhook secret must be str or bytes")
    if not secret or len(secret) > MAX_SECRET_BYTES:
        raise InvalidRequestError(f"a webhook secret must be 1 to {MAX_SECRET_BYTES} bytes long")
    return secret


def verification_response(msg: str, secret: str | bytes) -> dict[str, str]:
    """The JSON DrChrono expects from the verification GET: `{"secret_token": hex digest}`.

    The digest is HMAC-SHA256 of `msg` (UTF-8) keyed by `secret` (UTF-8 if text), as the
    reference's Python example computes it. `msg` comes from the request, so it is bounded:
    an empty or longer than `MAX_MSG_CHARS` one is a `WebhookPayloadError`.
    """
    key = _secret_bytes(secret)
    if not isinstance(msg, str):
        raise InvalidRequestError("msg must be a str")
    if not msg or len(msg) > MAX_MSG_CHARS:
        raise WebhookPayloadError(f"msg must be 1 to {MAX_MSG_CHARS} characters long")
    try:
        data = msg.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate
        raise WebhookPayloadError("msg is not valid text") from None
    return {"secret_token": hmac.new(key, data, hashlib.sha256).hexdigest()}


class Secrets:
    """One or more accepted secrets (several while one is being rotated); the first is
    the current one, used for the verification handshake.

    Kept as their SHA-256 digests for comparison: comparing digests of equal length with
    `hmac.compare_digest` takes the same time whatever the header holds, and does not
    reveal a secret's length either (compare_digest on unequal lengths returns early).
    """

    __slots__ = ("_digests", "current")

    def __init__(self, secret: str | bytes | Sequence[str | bytes]) -> None:
        if isinstance(secret, (str, bytes)):
            keys = [_secret_bytes(secret)]
        elif isinstance(secret, Sequence):
            if not 1 <= len(secret) <= MAX_SECRETS:
                raise InvalidRequestError(f"give 1 to {MAX_SECRETS} webhook secrets")
            keys = [_secret_bytes(s) for s in secret]
        else:
            raise InvalidRequestError("secret must be str, bytes or a sequence of them")
        self.current: bytes = keys[0]
        self._digests = tuple(hashlib.sha256(k).digest() for k in keys)

    def __len__(self) -> int:
        return len(self._digests)

    def matches(self, value: bytes) -> bool:
        """Whether `value` equals one of the secrets; every secret is compared, always."""
        digest = hashlib.sha256(value).digest()
        matched = False
        for known in self._digests:
            # `|`, not `or`: no early exit that would tell which secret matched.
            matched = hmac.compare_digest(digest, known) | matched
        return matched

    def __repr__(self) -> str:
        return f"Secrets(count={len(self._digests)})"


def check_signature(values: list[bytes | None] | None, secrets: Secrets) -> None:
    """Fail closed unless exactly one non-empty signature header matches a secret."""
    if not values:
        raise WebhookSignatureError("the delivery has no X-drchrono-signature header")
    if len(values) > 1:
        raise WebhookSignatureError("the X-drchrono-signature header appears more than once")
    value = values[0]
    if value is not None:
        value = value.strip(b" \t")
    if not value:
        raise WebhookSignatureError("the X-drchrono-signature header is empty or unreadable")
    if len(value) > _MAX_SIGNATURE_BYTES or not secrets.matches(value):
        raise WebhookSignatureError("the X-drchrono-signature header matches no webhook secret")
