"""The argument-check vocabulary: `_checks.check_int`, `check_number`, `check_choice`, and
the library's arguments that go through them.

One message style ("<what> must be <a kind> <a range>"), one error (`InvalidRequestError`),
and no message ever quotes the value it refuses.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Callable
from typing import Any

import pytest

from drchrono_async._checks import check_choice, check_int, check_number, check_seconds
from drchrono_async.errors import InvalidRequestError

ODD = 987_654_321_987  # a value no message may quote, in any of its spellings
HUGE = 10**400  # beyond every float: `math.isfinite(HUGE)` raises OverflowError


def _refused(call: Callable[[], object]) -> str:
    with pytest.raises(InvalidRequestError) as info:
        call()
    message = str(info.value)
    assert "must be" in message
    for spelling in ("987654321987", "987_654_321_987", "9.87654321987e+11", "nan", "inf"):
        assert spelling not in message.lower()
    return message


# -- the helpers --------------------------------------------------------------------------


def test_check_int_takes_whole_numbers_in_range_as_plain_ints() -> None:
    class Sneaky(int):
        def __le__(self, other: object) -> bool:  # a subclass's comparison never decides
            return True

    assert check_int(5, "n", low=1, high=64) == 5
    assert type(check_int(Sneaky(5), "n", low=1, high=64)) is int
    assert _refused(lambda: check_int(Sneaky(ODD), "n", low=1, high=64)) == (
        "n must be a whole number from 1 to 64"
    )
    for bad in (True, False, 5.0, "5", None, 0, 65, ODD, -ODD, HUGE, [5]):
        _refused(lambda bad=bad: check_int(bad, "n", low=1, high=64))
    assert _refused(lambda: check_int(-1, "limit", low=0, high=1_000_000)) == (
        "limit must be a whole number from 0 to 1000000"
    )


def test_check_number_takes_finite_ints_and_floats_as_floats() -> None:
    assert check_number(2, "x", low=0, high=10) == 2.0
    assert type(check_number(2, "x", low=0, high=10)) is float
    assert check_number(0.5, "x", low=0, high=1, high_open=True) == 0.5
    assert check_number(1e300, "x", low=0, high=math.inf) == 1e300
    for bad in (True, "1", None, math.nan, math.inf, -math.inf, HUGE, -HUGE, -float(ODD), [1]):
        _refused(lambda bad=bad: check_number(bad, "x", low=0, high=math.inf))
    # The open ends are open, the closed ones closed.
    _refused(lambda: check_number(0, "x", low=0, low_open=True, high=1))
    _refused(lambda: check_number(1, "x", low=0, high=1, high_open=True))
    assert check_number(1, "x", low=0, low_open=True, high=1) == 1.0


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"low": 0, "high": 86_400}, "x must be a number from 0 to 86400"),
        (
            {"low": 0, "low_open": True, "high": 86_400},
            "x must be a number over 0 and at most 86400",
        ),
        ({"low": 0, "high": 1, "high_open": True}, "x must be a number at least 0 and under 1"),
        ({"low": 0, "high": math.inf}, "x must be a number of at least 0"),
        ({"low": 0, "low_open": True, "high": math.inf}, "x must be a number over 0"),
        (
            {"low": 0.001, "high": 60.0, "kind": "a number of seconds", "tail": " (a minute)"},
            "x must be a number of seconds from 0.001 to 60 (a minute)",
        ),
    ],
)
def test_one_message_style(options: dict[str, Any], message: str) -> None:
    assert _refused(lambda: check_number(-ODD, "x", **options)) == message


def test_check_choice_compares_and_never_hashes() -> None:
    assert check_choice("FULL", "synchronous", ("FULL", "NORMAL")) == "FULL"
    assert _refused(lambda: check_choice([], "synchronous", ("FULL", "NORMAL"))) == (
        'synchronous must be one of "FULL", "NORMAL"'
    )
    for bad in ("full", None, b"FULL", 1, {"FULL"}):
        _refused(lambda bad=bad: check_choice(bad, "synchronous", ("FULL", "NORMAL")))


def test_check_seconds_keeps_none_and_infinity_for_no_limit() -> None:
    assert check_seconds(None, "max_wait") is None
    assert check_seconds(math.inf, "max_wait") is None
    assert check_seconds(3, "max_wait") == 3.0
    assert _refused(lambda: check_seconds(-1, "max_wait")) == (
        "max_wait must be a number of seconds of at least 0, or None for no limit"
    )
    for bad in (math.nan, -math.inf, True, "1", HUGE):
        _refused(lambda bad=bad: check_seconds(bad, "max_wait"))
    for bad in (None, math.inf):
        _refused(lambda bad=bad: check_seconds(bad, "wait", none_ok=False))


# -- the library's arguments ----------------------------------------------------------------

DSN = "postgresql://u@127.0.0.1:1/x"


class _Scripts:
    """Enough of a Redis client for the Redis classes' constructors."""

    def register_script(self, script: str) -> object:
        return object()


def _sites() -> list[tuple[str, Callable[[Any], object], list[Any]]]:
    from drchrono_async.fleet import FleetConfig
    from drchrono_async.iframe import MemoryReplayCache, verify_iframe_request
    from drchrono_async.oauth import RedisTokenStore
    from drchrono_async.ratelimit import HourlyQuota, RedisQuota
    from drchrono_async.ratelimit._algorithm import Params
    from drchrono_async.ratelimit._priority import check_priority, check_release, reserve_permits
    from drchrono_async.sync import PostgresStore, SQLiteStore
    from drchrono_async.sync._locks import check_wait
    from drchrono_async.testing import Emulator
    from drchrono_async.transports import aiohttp_transport
    from drchrono_async.webhooks import MemoryDedupe, RedisDedupe, WebhookReceiver

    async def handler(event: object) -> None:
        return None

    emulator = Emulator(seed=1)
    numbers: list[Any] = [True, math.nan, math.inf, HUGE, -ODD, "1"]
    counts: list[Any] = [True, 1.0, HUGE, -ODD, ODD, "1"]
    return [
        ("FleetConfig.every", lambda v: FleetConfig(DSN, every=v), [*counts, 45, 1441]),
        ("FleetConfig.slice_pages", lambda v: FleetConfig(DSN, slice_pages=v), [*counts, 0]),
        ("FleetConfig.heartbeat", lambda v: FleetConfig(DSN, heartbeat=v), [*numbers, 0]),
        ("iframe max_age", lambda v: verify_iframe_request({}, "s", max_age=v), [*numbers, 0]),
        ("iframe leeway", lambda v: verify_iframe_request({}, "s", leeway=v), numbers),
        ("iframe now", lambda v: verify_iframe_request({}, "s", now=v), [math.nan, HUGE, -ODD]),
        ("iframe page", lambda v: verify_iframe_request({}, "s", page=v), ["x", [], 1]),
        ("MemoryReplayCache", lambda v: MemoryReplayCache(max_entries=v), [*counts, 0]),
        (
            "RedisTokenStore.lock_timeout",
            lambda v: RedisTokenStore(object(), "k", lock_timeout=v),
            [*numbers, 0],
        ),
        (
            "RedisTokenStore.lock_wait",
            lambda v: RedisTokenStore(object(), "k", lock_wait=v),
            [*numbers, 0],
        ),
        ("HourlyQuota.limit", lambda v: HourlyQuota(limit=v), [*counts, 0]),
        ("HourlyQuota.window", lambda v: HourlyQuota(window=v), [*numbers, 0]),
        ("HourlyQuota.burst", lambda v: HourlyQuota(burst=v), [*numbers, 0.5]),
        (
            "HourlyQuota.reserve",
            lambda v: HourlyQuota(limit=10, reserve=v),
            [True, 11, -1, 1.0, math.nan, "1"],
        ),
        (
            "HourlyQuota.reserve_release",
            lambda v: HourlyQuota(window=60, reserve_release=v),
            [*numbers, 61],
        ),
        ("Params.drift", lambda v: Params(drift=v), [*numbers, 0.5]),
        ("Params.confirm", lambda v: Params(confirm=v), [*counts, 0]),
        (
            "RedisQuota.claim",
            lambda v: RedisQuota(_Scripts(), key="k", claim=v),  # type: ignore[arg-type]
            [*numbers, 3601],
        ),
        ("priority", check_priority, ["urgent", [], None, 1]),
        ("reserve_permits", lambda v: reserve_permits(v, 10), [True, None, "0.1"]),
        ("check_release", lambda v: check_release(v, 60.0), numbers),
        ("sync lock wait", check_wait, [*numbers, 8 * 86_400]),
        ("PostgresStore.pool_size", lambda v: PostgresStore(DSN, pool_size=v), [*counts, 0]),
        ("PostgresStore.lock_timeout", lambda v: PostgresStore(DSN, lock_timeout=v), numbers),
        (
            "SQLiteStore.synchronous",
            lambda v: SQLiteStore(":memory:", synchronous=v),
            ["OFF", [], None],
        ),
        (
            "SQLiteStore.busy_timeout",
            lambda v: SQLiteStore(":memory:", busy_timeout=v),
            [*numbers, 86_401],
        ),
        ("Emulator.quota_window", lambda v: Emulator(quota_window=v), [*numbers, 0.5]),
        ("Emulator.quota_scope", lambda v: Emulator(quota_scope=v), ["app", [], None]),
        ("Emulator.practices", lambda v: Emulator(practices=v), [*counts, 0]),
        ("Emulator.practice", emulator.practice, [*counts, 1]),
        ("Emulator.practice_of_user", emulator.practice_of_user, [True, 1.0, HUGE, "1"]),
        ("Emulator.spend", emulator.spend, [True, 1.0, HUGE, -1]),
        (
            "Emulator webhooks timeout",
            lambda v: setattr(emulator.webhooks, "timeout", v),
            [*numbers, 0],
        ),
        (
            "aiohttp_transport.max_concurrency",
            lambda v: aiohttp_transport(max_concurrency=v),
            [*counts, 0],
        ),
        (
            "aiohttp_transport.keepalive_expiry",
            lambda v: aiohttp_transport(keepalive_expiry=v),
            numbers,
        ),
        ("MemoryDedupe.retention", lambda v: MemoryDedupe(retention=v), [*numbers, 3600]),
        ("MemoryDedupe.max_entries", lambda v: MemoryDedupe(max_entries=v), [*counts, 0]),
        (
            "RedisDedupe.claim_ttl",
            lambda v: RedisDedupe(_Scripts(), claim_ttl=v),  # type: ignore[arg-type]
            [*numbers, 0.5],
        ),
        (
            "WebhookReceiver.max_body",
            lambda v: WebhookReceiver("s", handler, max_body=v),
            [*counts, 0],
        ),
    ]


SITES = _sites()


@pytest.mark.parametrize(("call", "bad_values"), [s[1:] for s in SITES], ids=[s[0] for s in SITES])
def test_each_argument_is_refused_in_the_one_style(
    call: Callable[[Any], object], bad_values: list[Any]
) -> None:
    for bad in bad_values:
        _refused(lambda bad=bad: call(bad))


async def test_the_syncer_and_the_worker_check_their_arguments() -> None:
    from drchrono_async.fleet import FleetConfig, run_worker
    from drchrono_async.ratelimit import HourlyQuota
    from drchrono_async.sync import SQLiteStore, Syncer
    from drchrono_async.testing import Emulator

    async with Emulator(seed=1).client() as client:
        store = SQLiteStore(":memory:")
        for option in ("overlap", "full_every", "reconcile_every"):
            for bad in (True, math.nan, math.inf, HUGE, -1, 367 * 86_400):
                _refused(lambda option=option, bad=bad: Syncer(client, store, **{option: bad}))
        for option in ("shards", "concurrency", "backfill_ahead", "confirm_limit"):
            for bad in (True, 1.0, HUGE, -1, ODD):
                _refused(lambda option=option, bad=bad: Syncer(client, store, **{option: bad}))
        async with store:
            for bad in (True, -1, 1_000_001, 1.0):
                with pytest.raises(InvalidRequestError):
                    await store.stale_ids("patients", limit=bad)
    config = FleetConfig(DSN)
    for options in (
        {"concurrency": 0},
        {"concurrency": True},
        {"poll": 0.0},
        {"poll": math.nan},
        {"poll": 61},
    ):
        with pytest.raises(InvalidRequestError, match="must be"):
            await asyncio.wait_for(run_worker(config, HourlyQuota(), **options), 5)
