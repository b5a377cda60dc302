"""Tokens encrypted at rest: `TokenCipher`, on `cryptography`'s Fernet and MultiFernet.

The refresh token is the practice's standing authorization; stored in plain text beside the
data, anyone who can read the database (or a backup of it) can act as the practice. With
keys in `DRCHRONO_TOKEN_KEYS` (comma-separated Fernet keys: the first encrypts, every one
decrypts), every token store encrypts what it writes. A token stored in plain text (before
the keys were set) or under an older key is still read, and written back under the first
key at once. Encryption is Fernet's (AES-128-CBC with HMAC-SHA256), never hand-written.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Literal

from .._checks import needs_extra
from ..errors import InvalidRequestError, TokenConflictError, TokenStoreError
from ._token import Token

if TYPE_CHECKING:
    from ._stores import TokenStore

__all__ = ["ENV_KEYS", "CipherChoice", "TokenCipher"]

logger = logging.getLogger("drchrono_async.oauth")

ENV_KEYS = "DRCHRONO_TOKEN_KEYS"
_MAX_KEYS = 16  # rotation needs two or three; more is a mistake
MAX_STORED = 64 * 1024  # a stored token is a few hundred bytes, encrypted or not


class TokenCipher:
    """Encrypts stored tokens with Fernet; `keys[0]` encrypts, every key decrypts (rotation).

    `TokenCipher.generate_key()` makes a key. Neither `repr` nor any error shows a key.
    Needs the `crypto` extra: `pip install 'drchrono-async[crypto]'`.
    """

    def __init__(self, keys: Sequence[str | bytes]) -> None:
        with needs_extra("crypto", "TokenCipher"):
            from cryptography.fernet import Fernet, MultiFernet
        if isinstance(keys, (str, bytes)) or not isinstance(keys, Sequence):
            raise InvalidRequestError("keys must be a list of Fernet keys")
        if not 1 <= len(keys) <= _MAX_KEYS:
            raise InvalidRequestError(f"give between 1 and {_MAX_KEYS} Fernet keys")
        try:
            fernets = [Fernet(key) for key in keys]
        except (ValueError, TypeError):
            # `from None`: the decoding error may quote the key.
            raise InvalidRequestError(
                "every key must be a Fernet key (32 url-safe base64-encoded bytes, as "
                "TokenCipher.generate_key() makes)"
            ) from None
        self._first = fernets[0]
        self._all = MultiFernet(fernets)
        self.key_count = len(fernets)

    @classmethod
    def from_env(
        cls, name: str = ENV_KEYS, environ: Mapping[str, str] | None = None
    ) -> TokenCipher | None:
        """The cipher of the keys in `$name` (comma-separated), or None when it is unset."""
        raw = (os.environ if environ is None else environ).get(name, "")
        keys = [key.strip() for key in raw.split(",") if key.strip()]
        if not keys:
            return None
        try:
            return cls(keys)
        except InvalidRequestError as exc:
            raise InvalidRequestError(f"${name}: {exc}") from None

    @staticmethod
    def generate_key() -> str:
        """A new random Fernet key (keep it out of the database it protects)."""
        with needs_extra("crypto", "TokenCipher"):
            from cryptography.fernet import Fernet
        return Fernet.generate_key().decode("ascii")

    def encrypt(self, data: bytes) -> bytes:
        """`data` encrypted under the first key."""
        return self._first.encrypt(data)

    def decrypt(self, data: bytes) -> tuple[bytes, bool]:
        """`data` decrypted, and whether it was under a key other than the first."""
        from cryptography.fernet import InvalidToken

        try:
            return self._first.decrypt(data), False
        except InvalidToken:
            pass
        try:
            return self._all.decrypt(data), True
        except InvalidToken:
            raise TokenStoreError(
                "the stored token cannot be decrypted with the keys given (a wrong or "
                f"retired key in ${ENV_KEYS}?)"
            ) from None

    async def rotate(self, store: TokenStore) -> bool:
        """Write the token in `store` (a store using these keys) again, under the first key.

        Stores do this by themselves for a token they read under an older key; this is for
        a token nothing reads before the old key is dropped. False if the store is empty.
        """
        async with store.lock():
            token = await store.load()
            if token is None:
                return False
            await store.save(token, replaces=token.refresh_token)
            return True

    def __repr__(self) -> str:
        return f"TokenCipher(keys={self.key_count})"


# A store's `cipher=`: "env" (the default: `DRCHRONO_TOKEN_KEYS` when set, else plain),
# a `TokenCipher`, or None (plain text, whatever the environment says).
CipherChoice = TokenCipher | Literal["env"] | None


class StoreCipher:
    """A store's `cipher=`, checked at once; the environment's keys are read on first use
    (so that making a store never fails on them, nor needs the `crypto` extra)."""

    def __init__(self, choice: CipherChoice) -> None:
        if not (choice == "env" or choice is None or isinstance(choice, TokenCipher)):
            raise InvalidRequestError("cipher must be a TokenCipher, 'env' or None")
        self._choice = choice
        self._cipher: TokenCipher | None = None
        self._resolved = False

    def get(self) -> TokenCipher | None:
        """The cipher in use, or None: plain text. `TokenStoreError` for bad keys in the
        environment (naming the variable, never a key)."""
        if not self._resolved:
            if isinstance(self._choice, TokenCipher) or self._choice is None:
                self._cipher = self._choice
            else:
                try:
                    self._cipher = TokenCipher.from_env()
                except InvalidRequestError as exc:
                    raise TokenStoreError(str(exc)) from None
            self._resolved = True
        return self._cipher


def seal(token: Token, cipher: TokenCipher | None) -> bytes:
    """A token as a store writes it: JSON, encrypted when there is a cipher."""
    data = token.to_json()
    return data if cipher is None else cipher.encrypt(data)


def unseal(
    data: bytes | str, cipher: TokenCipher | None, *, issued_at: float | None = None
) -> tuple[Token, str | None]:
    """A stored token, and why to write it back, if it should be: "plain" (plain text under a
    cipher), "older key", or "answer" (DrChrono's token answer shape, read only when
    `issued_at` says when it was issued; refused without it).
    """
    raw = data.encode("utf-8") if isinstance(data, str) else bytes(data)
    if len(raw) > MAX_STORED:
        raise TokenStoreError("the stored token is unreadable (too large to be one)")
    if raw.lstrip()[:1] == b"{":
        token, answer_shape = Token.parse_stored(raw, issued_at=issued_at)
        if answer_shape:
            return token, "answer"
        return token, None if cipher is None else "plain"
    if cipher is None:
        raise TokenStoreError(
            f"the stored token is encrypted: set ${ENV_KEYS} (or give the store a cipher)"
        )
    plain, older_key = cipher.decrypt(raw)
    token, _ = Token.parse_stored(plain)
    return token, "older key" if older_key else None


async def resave(store: TokenStore, token: Token) -> None:
    """Write back a token just read (now encrypted, under the first key, in the store's own
    shape). A failure leaves it as it was, readable: never a reason to fail the read."""
    try:
        await store.save(token, replaces=token.refresh_token)
    except TokenConflictError:
        return  # a newer token was saved meanwhile: it stands
    except TokenStoreError as exc:
        logger.warning(
            "oauth: the stored token could not be written back encrypted (%s); it stays as it was",
            type(exc).__name__,
        )
    else:
        logger.info("oauth: the stored token was written back (encrypted when keys are set)")
