"""Token and the token stores: reprs without secrets, compare-and-set, atomic files, locks."""

from __future__ import annotations

import asyncio
import os
import stat
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import redis.asyncio as aioredis

from drchrono_async.errors import InvalidRequestError, TokenConflictError, TokenStoreError
from drchrono_async.oauth import FileTokenStore, MemoryTokenStore, RedisTokenStore, Token

ACCESS = "at_SECRETaccess0123456789"
REFRESH = "rt_SECRETrefresh0123456789"


def token(n: int = 0) -> Token:
    return Token(access_token=f"{ACCESS}{n}", refresh_token=f"{REFRESH}{n}", expires_at=1e9 + n)


def test_token_repr_and_str_show_no_token() -> None:
    t = Token(access_token=ACCESS, refresh_token=REFRESH, expires_at=1e9, scope="patients")
    for text in (repr(t), str(t), f"{t}", repr([t])):
        assert "SECRET" not in text
    assert "patients" in repr(t) and "2001-09-09" in repr(t)


@pytest.mark.parametrize("bad", ["", "has space", "tab\there", "nl\n", "é", "x" * 5000, None, 5])
def test_token_refuses_values_no_header_could_carry(bad: object) -> None:
    with pytest.raises(InvalidRequestError) as info:
        Token(access_token=bad, refresh_token=REFRESH, expires_at=1.0)  # type: ignore[arg-type]
    assert "SECRET" not in str(info.value)
    with pytest.raises(InvalidRequestError):
        Token(access_token=ACCESS, refresh_token=REFRESH, expires_at=float("nan"))


def test_token_json_round_trip_and_unreadable_store_names_no_value() -> None:
    t = token(3)
    assert Token.from_json(t.to_json()) == t
    for data in (b"", b"[]", b'{"access_token": "at_SECRET x"}', b"{bad json SECRET"):
        with pytest.raises(TokenStoreError) as info:
            Token.from_json(data)
        assert "SECRET" not in str(info.value) and info.value.__cause__ is None


async def test_memory_store_compare_and_set() -> None:
    store = MemoryTokenStore()
    assert await store.load() is None
    await store.save(token(1))
    await store.save(token(2), replaces=token(1).refresh_token)
    with pytest.raises(TokenConflictError):
        await store.save(token(3), replaces=token(1).refresh_token)  # a stale replacement
    assert await store.load() == token(2)
    assert "SECRET" not in repr(store)


async def test_file_store_round_trip_mode_and_no_temp_files(tmp_path: Path) -> None:
    path = tmp_path / "token.json"
    store = FileTokenStore(path)
    assert await store.load() is None
    await store.save(token(1))
    path.chmod(0o644)  # a looser mode is tightened on the next save
    await store.save(token(2), replaces=token(1).refresh_token)
    assert await store.load() == token(2)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    names = sorted(p.name for p in await asyncio.to_thread(lambda: list(tmp_path.iterdir())))
    assert names == ["token.json", "token.json.lock"]


async def test_file_store_stale_save_is_refused_and_file_unchanged(tmp_path: Path) -> None:
    store = FileTokenStore(tmp_path / "t.json")
    await store.save(token(1))
    await store.save(token(2), replaces=token(1).refresh_token)
    with pytest.raises(TokenConflictError):
        await store.save(token(3), replaces=token(1).refresh_token)
    assert await store.load() == token(2)


async def test_file_store_save_inside_its_own_lock_does_not_deadlock(tmp_path: Path) -> None:
    store = FileTokenStore(tmp_path / "t.json")
    async with asyncio.timeout(5), store.lock():
        await store.save(token(1))
    assert await store.load() == token(1)


async def test_file_store_unreadable_or_unwritable_is_a_store_error(tmp_path: Path) -> None:
    path = tmp_path / "t.json"
    path.write_bytes(b"not json")
    with pytest.raises(TokenStoreError):
        await FileTokenStore(path).load()
    missing_dir = FileTokenStore(tmp_path / "nope" / "t.json")
    with pytest.raises(TokenStoreError) as info:
        await missing_dir.save(token(1))
    assert "nope" not in str(info.value)


async def test_file_store_lock_excludes_another_process(tmp_path: Path) -> None:
    store = FileTokenStore(tmp_path / "t.json")
    probe = textwrap.dedent(
        f"""
        import fcntl, os
        fd = os.open({str(tmp_path / "t.json.lock")!r}, os.O_RDWR | os.O_CREAT)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            print("got")
        except BlockingIOError:
            print("blocked")
        """
    )

    def other_process() -> str:
        run = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True)
        return run.stdout.strip()

    async with store.lock():
        assert await asyncio.to_thread(other_process) == "blocked"
    assert await asyncio.to_thread(other_process) == "got"


async def test_redis_store_compare_and_set(redis_client: aioredis.Redis, redis_key: str) -> None:
    store = RedisTokenStore(redis_client, f"{redis_key}:token")
    assert await store.load() is None
    with pytest.raises(TokenConflictError):
        await store.save(token(1), replaces="rt_nothing_stored")
    await store.save(token(1))
    await store.save(token(2), replaces=token(1).refresh_token)
    with pytest.raises(TokenConflictError):
        await store.save(token(3), replaces=token(1).refresh_token)
    assert await store.load() == token(2)
    assert "SECRET" not in repr(store)


async def test_redis_store_lock_is_exclusive_and_expires(
    redis_client: aioredis.Redis, redis_key: str
) -> None:
    a = RedisTokenStore(redis_client, f"{redis_key}:token", lock_timeout=30, lock_wait=0.2)
    b = RedisTokenStore(redis_client, f"{redis_key}:token", lock_timeout=30, lock_wait=0.2)
    async with a.lock():
        with pytest.raises(TokenStoreError):
            async with b.lock():
                pass
    async with b.lock():  # released: free again
        assert await redis_client.pttl(f"{redis_key}:token:lock") > 0  # it expires by itself


def test_redis_store_checks_its_arguments() -> None:
    client = aioredis.Redis()
    for kwargs in ({"key": ""}, {"key": "k", "lock_timeout": 0}, {"key": "k", "lock_wait": True}):
        with pytest.raises(InvalidRequestError):
            RedisTokenStore(client, **kwargs)  # type: ignore[arg-type]


def test_umask_does_not_loosen_file_mode(tmp_path: Path) -> None:
    old = os.umask(0)
    try:
        asyncio.run(FileTokenStore(tmp_path / "t.json").save(token(1)))
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "t.json").stat().st_mode) == 0o600


def test_a_token_file_path_must_name_a_file() -> None:
    from drchrono_async.errors import InvalidRequestError
    from drchrono_async.oauth import FileTokenStore

    for bad in ("/", "", 3):
        with pytest.raises(InvalidRequestError):
            FileTokenStore(bad)  # type: ignore[arg-type]
