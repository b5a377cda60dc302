"""Tokens encrypted at rest, in every persistent token store: nothing readable without the
key, plain tokens migrated, keys rotated, a wrong key a typed error naming nothing secret."""

from __future__ import annotations

import traceback
from typing import Any

import pytest

from drchrono_async.errors import InvalidRequestError, TokenConflictError, TokenStoreError
from drchrono_async.oauth import ENV_KEYS, MemoryTokenStore, Token, TokenCipher

from .conftest import TokenBackend

ACCESS = "at_SECRETaccess0123456789"
REFRESH = "rt_SECRETrefresh0123456789"
KEY_A = TokenCipher.generate_key()
KEY_B = TokenCipher.generate_key()


def token(n: int) -> Token:
    return Token(
        access_token=f"{ACCESS}{n}",
        refresh_token=f"{REFRESH}{n}",
        expires_at=1e9 + n,
        scope="patients",
        issued_at=1e9 + n - 3600,
    )


def readable(raw: bytes | None) -> bool:
    """Whether a reader of the database (or of a backup) sees anything of the token."""
    assert raw is not None
    return any(s in raw for s in (b"SECRET", b"access_token", b"patients"))


def no_secret(exc: BaseException, *keys: str) -> None:
    text = "".join(traceback.format_exception(exc))
    assert "SECRET" not in text
    for key in keys:
        assert key not in text


async def test_tokens_are_stored_encrypted_and_compare_and_set_still_works(
    token_backend: TokenBackend,
) -> None:
    store = token_backend.new(cipher=TokenCipher([KEY_A]))
    await store.save(token(1))
    assert not readable(await token_backend.raw())
    assert await store.load() == token(1)
    await store.save(token(2), replaces=token(1).refresh_token)
    with pytest.raises(TokenConflictError):
        await store.save(token(3), replaces=token(1).refresh_token)
    assert await token_backend.new(cipher=TokenCipher([KEY_A])).load() == token(2)
    assert not readable(await token_backend.raw())
    assert KEY_A not in repr(store) and "SECRET" not in repr(store)


async def test_the_key_comes_from_the_environment(
    token_backend: TokenBackend, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(ENV_KEYS, f" {KEY_A} , ")
    await token_backend.new().save(token(1))  # the default: cipher="env"
    assert not readable(await token_backend.raw())
    assert await token_backend.new(cipher=TokenCipher([KEY_A])).load() == token(1)
    monkeypatch.delenv(ENV_KEYS)
    with pytest.raises(TokenStoreError, match=ENV_KEYS) as info:
        await token_backend.new().load()  # no key: refused, not mistaken for garbage
    no_secret(info.value, KEY_A)


async def test_a_plain_token_is_read_and_written_back_encrypted(
    token_backend: TokenBackend,
) -> None:
    await token_backend.new(cipher=None).save(token(1))
    assert readable(await token_backend.raw())  # stored before encryption was turned on
    assert await token_backend.new(cipher=TokenCipher([KEY_A])).load() == token(1)
    assert not readable(await token_backend.raw())
    assert await token_backend.new(cipher=TokenCipher([KEY_A])).load() == token(1)


async def test_keys_rotate_first_encrypts_every_one_decrypts(token_backend: TokenBackend) -> None:
    await token_backend.new(cipher=TokenCipher([KEY_A])).save(token(1))
    before = await token_backend.raw()
    rotated = TokenCipher([KEY_B, KEY_A])
    assert await token_backend.new(cipher=rotated).load() == token(1)  # read, and re-saved
    assert await token_backend.raw() != before
    assert await token_backend.new(cipher=TokenCipher([KEY_B])).load() == token(1)
    # rotate(): at once, for a token nothing reads before the old key goes.
    await token_backend.new(cipher=TokenCipher([KEY_A])).save(token(2))
    assert await rotated.rotate(token_backend.new(cipher=rotated)) is True
    assert await token_backend.new(cipher=TokenCipher([KEY_B])).load() == token(2)


async def test_a_wrong_key_is_a_store_error_naming_no_secret(token_backend: TokenBackend) -> None:
    await token_backend.new(cipher=TokenCipher([KEY_A])).save(token(1))
    wrong = token_backend.new(cipher=TokenCipher([KEY_B]))
    with pytest.raises(TokenStoreError, match="cannot be decrypted") as info:
        await wrong.load()
    no_secret(info.value, KEY_A, KEY_B)
    assert info.value.__cause__ is None
    with pytest.raises(TokenStoreError) as cas:  # nor is it overwritten by compare-and-set
        await wrong.save(token(2), replaces=token(1).refresh_token)
    no_secret(cas.value, KEY_A, KEY_B)
    assert await token_backend.new(cipher=TokenCipher([KEY_A])).load() == token(1)


async def test_bad_keys_in_the_environment_are_a_store_error_naming_no_key(
    token_backend: TokenBackend, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(ENV_KEYS, f"{KEY_A},not-a-key-SECRET")
    store = token_backend.new()  # making a store never fails on the environment
    with pytest.raises(TokenStoreError, match=ENV_KEYS) as info:
        await store.save(token(1))
    no_secret(info.value, KEY_A)


BAD_KEYS: list[Any] = [[], "one-key-as-a-string", ["short-SECRET"], [KEY_A] * 17, [5]]


def test_the_cipher_checks_its_keys_and_shows_none() -> None:
    for bad in BAD_KEYS:
        with pytest.raises(InvalidRequestError) as info:
            TokenCipher(bad)
        no_secret(info.value, KEY_A)
    cipher = TokenCipher([KEY_A, KEY_B])
    assert repr(cipher) == "TokenCipher(keys=2)"
    assert TokenCipher.from_env(environ={}) is None
    assert TokenCipher.from_env(environ={ENV_KEYS: " , "}) is None
    environ = {ENV_KEYS: "SECRET-not-a-key"}
    with pytest.raises(InvalidRequestError, match=ENV_KEYS) as env:
        TokenCipher.from_env(environ=environ)
    no_secret(env.value)


async def test_a_store_cipher_must_be_one() -> None:
    from drchrono_async.oauth import FileTokenStore

    with pytest.raises(InvalidRequestError):
        FileTokenStore("t.json", cipher="yes")  # type: ignore[arg-type]
    assert await TokenCipher([KEY_A]).rotate(MemoryTokenStore()) is False


async def test_a_client_refreshes_through_an_encrypted_store(
    token_backend: TokenBackend, monkeypatch: pytest.MonkeyPatch
) -> None:
    from drchrono_async import DrChronoClient, OAuthApp
    from drchrono_async.testing import Emulator, VirtualClock

    monkeypatch.setenv(ENV_KEYS, KEY_A)
    emu = Emulator(seed=2, clock=VirtualClock(), sizes={"patients": 1})
    wired = {"base_url": emu.base_url, "transport": emu.transport, "clock": emu.clock}
    async with OAuthApp(emu.client_id, emu.client_secret, emu.redirect_uri, **wired) as app:
        first = await app.exchange_code(emu.issue_code())
        await token_backend.new().save(first)
        store = token_backend.new()
        async with DrChronoClient(oauth=app, token_store=store, quota=None, **wired) as client:
            emu.clock.advance(3 * 86_400)  # type: ignore[attr-defined]
            assert (await client.users.current()).id == emu.current_user_id
    raw = await token_backend.raw()
    assert raw is not None and first.refresh_token.encode() not in raw
    saved = await token_backend.new().load()
    assert saved is not None and saved.refresh_token in emu.oauth.by_refresh
    assert saved.refresh_token.encode() not in raw and not readable(raw)
