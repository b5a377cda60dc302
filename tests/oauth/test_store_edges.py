"""Token store edges that used to sign a practice out: a corrupt token blocking a new
authorization, and a token file written through a planted symlink or left half-written."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import orjson
import pytest

from drchrono_async.errors import TokenConflictError, TokenStoreError
from drchrono_async.oauth import FileTokenStore, Token

from .conftest import TokenBackend

ACCESS = "at_SECRETaccess0123456789"
REFRESH = "rt_SECRETrefresh0123456789"


def token(n: int) -> Token:
    return Token(access_token=f"{ACCESS}{n}", refresh_token=f"{REFRESH}{n}", expires_at=1e9 + n)


async def test_an_unconditional_save_replaces_a_corrupt_token(token_backend: TokenBackend) -> None:
    store = token_backend.new()
    await store.save(token(1))
    await token_backend.put_raw(b'{"access_token": "at_SECRET x", truncated')
    with pytest.raises(TokenStoreError) as unreadable:
        await store.load()
    assert "SECRET" not in str(unreadable.value)
    with pytest.raises(TokenStoreError):  # a compare-and-set cannot know what it replaces
        await store.save(token(2), replaces=token(1).refresh_token)
    await store.save(token(3))  # a new authorization: no manual deletion needed
    assert await store.load() == token(3)
    await store.save(token(4), replaces=token(3).refresh_token)
    assert await token_backend.new().load() == token(4)


async def test_an_unconditional_save_into_an_emptied_store(token_backend: TokenBackend) -> None:
    store = token_backend.new()
    await store.save(token(1))
    await token_backend.lose()
    assert await store.load() is None
    with pytest.raises(TokenConflictError):
        await store.save(token(2), replaces=token(1).refresh_token)
    await store.save(token(2))
    assert await store.load() == token(2)


def _tmp_files(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".tmp"))


async def test_a_symlink_planted_at_the_temporary_name_is_not_followed(tmp_path: Path) -> None:
    victim = tmp_path / "victim.txt"
    victim.write_bytes(b"precious")
    path = tmp_path / "token.json"
    # Where the temporary file used to be: predictable from the process id.
    (tmp_path / f".token.json.{os.getpid()}.tmp").symlink_to(victim)
    store = FileTokenStore(path)
    await store.save(token(1))
    assert victim.read_bytes() == b"precious"
    assert await store.load() == token(1)
    assert not path.is_symlink()


async def test_the_temporary_file_is_created_exclusively(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import secrets

    victim = tmp_path / "victim.txt"
    victim.write_bytes(b"precious")
    # Even a name guessed right: the planted link is refused, not followed.
    monkeypatch.setattr(secrets, "token_hex", lambda n=None: "guessed")
    (tmp_path / ".token.json.guessed.tmp").symlink_to(victim)
    with pytest.raises(TokenStoreError) as info:
        await FileTokenStore(tmp_path / "token.json").save(token(1))
    assert "EEXIST" in str(info.value) and "SECRET" not in str(info.value)
    assert victim.read_bytes() == b"precious"


@pytest.mark.parametrize("failing", ["write", "fsync", "replace"])
async def test_a_failed_write_leaves_no_temporary_file_and_the_old_token(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, failing: str
) -> None:
    path = tmp_path / "token.json"
    store = FileTokenStore(path)
    await store.save(token(1))

    def disk_full(*args: object, **kwargs: object) -> int:
        raise OSError(errno.ENOSPC, "No space left on device")

    real = getattr(os, failing)

    def failing_here(*args: object, **kwargs: object) -> object:
        # Only the token's temporary file fails; anything else in the process is untouched.
        first = args[0]
        is_tmp = isinstance(first, int) or str(first).endswith(".tmp")
        return disk_full() if is_tmp else real(*args, **kwargs)

    monkeypatch.setattr(os, failing, failing_here)
    with pytest.raises(TokenStoreError) as info:
        await store.save(token(2), replaces=token(1).refresh_token)
    monkeypatch.undo()
    assert "ENOSPC" in str(info.value)
    assert _tmp_files(tmp_path) == []
    assert await store.load() == token(1)


@pytest.mark.parametrize("bad", ["soon", None, [1], float("inf"), pytest.param(10**400, id="huge")])
def test_a_token_time_that_is_no_time_is_a_typed_error(bad: object) -> None:
    from drchrono_async.errors import InvalidRequestError

    with pytest.raises(InvalidRequestError, match="expires_at"):
        Token(access_token=ACCESS, refresh_token=REFRESH, expires_at=bad)  # type: ignore[arg-type]
    if bad is not None:
        with pytest.raises(InvalidRequestError, match="issued_at"):
            Token(ACCESS, REFRESH, 1e9, issued_at=bad)  # type: ignore[arg-type]


def test_the_issue_time_is_kept_and_an_impossible_one_left_out() -> None:
    t = Token(ACCESS, REFRESH, 1e9, "patients", issued_at=1e9 - 3600)
    assert t.lifetime == 3600 and Token.from_json(t.to_json()) == t
    assert Token(ACCESS, REFRESH, 1e9).lifetime is None
    for issued in ("1e9", True, -1, 2e9):  # a stored one that cannot be: not believed
        data = t.to_json().replace(b"999996400.0", orjson.dumps(issued))
        assert Token.from_json(data).issued_at is None
