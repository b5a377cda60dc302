"""RedisQuota when Redis fails: only permits or typed `QuotaBackendError`s, never redis-py's.

Before, `RedisQuota(Redis(port=1)).acquire(max_wait=5)` raised `redis.ConnectionError`, and
with connections killed under load a few acquires in a few hundred did too; a give-back
left running by a cancelled waiter that failed logged "Task exception was never retrieved".
Real Redis on loopback (own key prefix); the dead server is a closed port.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import uuid
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio as aioredis
from redis.asyncio.connection import Connection
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as LostConnection
from redis.exceptions import RedisError

from drchrono_async import DrChronoError, QuotaBackendError, RedisQuota
from drchrono_async.sync import SQLiteStore, Syncer
from drchrono_async.testing import Emulator, VirtualClock

from .conftest import REDIS_URL

PLENTY = {"limit": 100_000, "burst": 1000.0, "rate": 100_000.0}


def dead_redis() -> aioredis.Redis:
    """A client of a closed port, retrying once as redis-py's default client does (quickly)."""
    return aioredis.Redis(host="127.0.0.1", port=1, retry=Retry(NoBackoff(), 1))


def assert_typed(exc: BaseException, *, key: str, method: str = "", path: str = "") -> None:
    assert isinstance(exc, QuotaBackendError) and not isinstance(exc, RedisError)
    assert (exc.method, exc.path) == (method, path)
    assert exc.__cause__ is None and exc.__suppress_context__
    assert key not in str(exc) and "127.0.0.1" not in str(exc) and "Connect" in str(exc)


async def test_every_operation_on_a_dead_redis_is_a_typed_error() -> None:
    redis = dead_redis()
    key = f"drchrono-async-test:dead:{uuid.uuid4().hex}"
    quota = RedisQuota(redis, key=key)
    try:
        calls = [
            lambda: quota.acquire(max_wait=5),
            lambda: quota.acquire(max_wait=None, priority="background"),
            lambda: quota.acquire(max_wait=0),
            lambda: quota.throttled(30.0),
            lambda: quota.throttled(None),
            quota.fetch_snapshot,
            quota.reset,
        ]
        for call in calls:
            with pytest.raises(QuotaBackendError) as info:
                await call()
            assert_typed(info.value, key=key)
        assert quota.snapshot().used == 0  # the local view still answers
    finally:
        await redis.aclose()


async def test_a_request_that_got_no_permit_fails_typed_with_its_method_and_path() -> None:
    redis = dead_redis()
    emu = Emulator(seed=1, sizes={"patients": 3})
    key = f"drchrono-async-test:dead:{uuid.uuid4().hex}"
    try:
        async with emu.client(quota=RedisQuota(redis, key=key), max_wait=5) as client:
            with pytest.raises(QuotaBackendError) as info:
                await client.patients.get(1)
        assert_typed(info.value, key=key, method="GET", path="/api/patients/1")
        assert len(emu.requests) == 0  # nothing was sent
    finally:
        await redis.aclose()


async def test_a_sync_on_a_dead_quota_reports_the_resource_incomplete(tmp_path: Path) -> None:
    redis = dead_redis()
    emu = Emulator(seed=1, clock=VirtualClock(), sizes={"patients": 3})
    key = f"drchrono-async-test:dead:{uuid.uuid4().hex}"
    try:
        async with (
            emu.client(quota=RedisQuota(redis, key=key)) as client,
            SQLiteStore(tmp_path / "sync.db") as store,
        ):
            report = await Syncer(client, store, resources=["patients"]).run()
        assert report["patients"].status == "incomplete"
        assert report["patients"].reason.startswith("QuotaBackendError")
    finally:
        await redis.aclose()


async def test_a_key_holding_something_else_is_a_typed_error(
    redis_client: aioredis.Redis, redis_key: str
) -> None:
    await redis_client.set(redis_key, "not a quota hash")
    quota = RedisQuota(redis_client, key=redis_key)
    with pytest.raises(QuotaBackendError, match=r"\(acquire\) failed: ResponseError$") as info:
        await quota.acquire(max_wait=0)
    assert redis_key not in str(info.value) and info.value.__cause__ is None


class KilledEveryNth(Connection):
    """A quota connection that, before every `every`-th script call is written, is killed
    by Redis (`CLIENT KILL ADDR` from another client): that call fails in flight for sure."""

    killer: aioredis.Redis
    every = 7
    calls = 0
    kills = 0

    async def send_command(self, *args: Any, **kwargs: Any) -> None:
        cls = type(self)
        if args and args[0] in ("EVALSHA", b"EVALSHA"):
            cls.calls += 1
            if cls.calls % cls.every == 0 and self._writer is not None:
                host, port = self._writer.get_extra_info("sockname")[:2]
                cls.kills += await cls.killer.client_kill_filter(addr=f"{host}:{port}")
        await super().send_command(*args, **kwargs)


async def test_connections_killed_under_load_give_permits_or_typed_errors(
    redis_client: aioredis.Redis, redis_key: str
) -> None:
    name = f"quota-{uuid.uuid4().hex[:12]}"
    KilledEveryNth.killer, KilledEveryNth.calls, KilledEveryNth.kills = redis_client, 0, 0
    # No retry in redis-py (a `from_url` client's default): each kill reaches the quota.
    flaky = aioredis.Redis.from_url(
        REDIS_URL, connection_class=KilledEveryNth, client_name=name, max_connections=16
    )
    quota = RedisQuota(flaky, key=redis_key, **PLENTY)
    stop = False
    random_kills = 0

    async def kill_ours_at_random() -> None:
        """`CLIENT KILL` of this test's own quota connections (by name, never another
        test's: `TYPE normal` would cut every client of the shared server), after every
        ninth script call, wherever the others are then."""
        nonlocal random_kills
        seen = 0
        while not stop:
            if KilledEveryNth.calls < seen + 9:
                await asyncio.sleep(0)  # a turn of the loop, not a wait on the clock
                continue
            seen = KilledEveryNth.calls
            for c in await redis_client.client_list():
                if c.get("name") == name:
                    random_kills += await redis_client.client_kill_filter(_id=c["id"])

    async def one(i: int) -> BaseException | None:
        try:
            await quota.acquire(priority="background" if i % 3 == 0 else "interactive")
        except Exception as exc:
            return exc
        return None

    try:
        killer = asyncio.ensure_future(kill_ours_at_random())
        outcomes = await asyncio.gather(*(one(i) for i in range(150)))
        stop = True
        await killer
        await quota._settle()
    finally:
        await flaky.aclose()
    errors = [e for e in outcomes if e is not None]
    assert all(isinstance(e, QuotaBackendError) for e in errors), {type(e) for e in errors}
    assert all(redis_key not in str(e) for e in errors)
    assert KilledEveryNth.kills >= 10 and len(errors) >= 10  # every 7th call of ~150 died
    assert len(errors) < len(outcomes)  # the others got their permits
    assert all(isinstance(e, DrChronoError) for e in errors)


class HeldThenBroken(aioredis.Redis):
    """The first script call (an acquire) waits at a gate; every later one (the give-back)
    fails as a dropped connection does."""

    gate: asyncio.Event
    sent: asyncio.Event
    entered = 0

    async def evalsha(self, *args: Any) -> Any:  # type: ignore[override]
        type(self).entered += 1
        if type(self).entered == 1:
            type(self).sent.set()
            await type(self).gate.wait()
            return await super().evalsha(*args)
        raise LostConnection("Connection closed by server.")


async def test_a_failed_give_back_is_logged_and_never_left_unretrieved(
    redis_key: str, redis_client: aioredis.Redis, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="drchrono_async.ratelimit")
    unretrieved: list[dict[str, Any]] = []
    loop = asyncio.get_running_loop()
    previous = loop.get_exception_handler()
    loop.set_exception_handler(lambda _loop, context: unretrieved.append(context))
    HeldThenBroken.gate, HeldThenBroken.sent, HeldThenBroken.entered = (
        asyncio.Event(),
        asyncio.Event(),
        0,
    )
    redis = HeldThenBroken.from_url(REDIS_URL)
    try:
        quota = RedisQuota(redis, key=redis_key, **PLENTY)
        waiter = asyncio.ensure_future(quota.acquire())
        await HeldThenBroken.sent.wait()
        waiter.cancel()  # the script was sent: its permit must go back
        with pytest.raises(asyncio.CancelledError):
            await waiter
        HeldThenBroken.gate.set()
        while quota._background:  # the acquire, then its give-back; `wait` retrieves nothing
            await asyncio.wait(set(quota._background))
        assert HeldThenBroken.entered == 2
        del waiter
        gc.collect()
        await asyncio.sleep(0)
    finally:
        loop.set_exception_handler(previous)
        await redis.aclose()
    assert unretrieved == []
    assert "permit could not be given back (QuotaBackendError)" in caplog.text
    assert redis_key not in caplog.text
