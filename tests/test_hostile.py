"""A hostile server: whatever it answers, the client stays typed, bounded, quiet and usable.

Hypothesis scripts the answers of a server (random statuses, `Retry-After`, `Date`,
`Location`, `Content-Type` and `Content-Encoding` headers, and bodies: HTML, truncated or
non-UTF-8 JSON, deep nesting, huge numbers, pages with hostile `next` links, records with
hostile field values) and sends them to `DrChronoClient.request` and to the iteration of
`client.patients.list(...)` / `client.appointments.list(...)`. For every example:

1. only a result or a `DrChronoError` comes out: never another exception type, never a hang
   (a wall-clock bound catches a deadlock; the virtual clock's elapsed time catches a wait no
   hourly quota can justify);
2. the access token is in no log record of any logger at DEBUG, and in no exception's
   message, repr or traceback; neither is a query value of the request, nor the content of a
   record the server sent (in warnings too);
3. the quota stays usable: a following normal request on the same quota succeeds, soon.

Most examples go through `httpx.MockTransport` on a `VirtualClock` (waits take no real time);
a smaller number go through a real loopback socket (`_hostile_server.py`), so that httpcore
and its DEBUG logging are on the path, and a few spend a `RedisQuota` on the real Redis.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import traceback
import uuid
import warnings
from collections.abc import Awaitable, Callable, Iterator, Sequence
from typing import Any

import attrs
import httpx
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from drchrono_async import DrChronoClient
from drchrono_async.errors import DrChronoError
from drchrono_async.ratelimit import HourlyQuota, Quota, RedisQuota, SystemClock
from drchrono_async.testing import VirtualClock

from ._hostile_server import (
    BASE,
    ECHO_AUTH,
    FIRST,
    LAST,
    MAX_SCRIPT,
    NORMAL_RAW,
    RECORD_MARK,
    STATUS,
    Answer,
    HostileServer,
    RawAnswer,
    Scripted,
    answers,
    bodies,
    dates,
    page_answers,
    raw_answers,
)

TOKEN = "tok-H0stile-5ecret-9c41e7a2"
# If one of these shows up in a log or an error, a query value leaked.
QUERY_VALUES = (FIRST, LAST, STATUS)

HOUR = 3600.0
# No answer of an hourly quota justifies a longer wait than its window plus a guard, so a
# script of at most MAX_SCRIPT answers (each at most one such wait) plus backoff stays under
# this; beyond it the client "hangs" (think `Retry-After: 1e12` on a real clock).
HOSTILE_BOUND = MAX_SCRIPT * (HOUR + 60) + 600
# After any hostile exchange, a normal request may wait out one pause, not more.
FOLLOW_UP_BOUND = 2 * HOUR + 60
WALL_BOUND = 5.0  # seconds of real time for one call: only a deadlock takes this long

scripts = st.lists(answers(), min_size=1, max_size=MAX_SCRIPT)
page_scripts = st.lists(page_answers(), min_size=1, max_size=MAX_SCRIPT)

SETTINGS: dict[str, Any] = {
    "deadline": None,
    "database": None,
    "suppress_health_check": [
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.filter_too_much,
    ],
}

# -- what the client does, and what is observed ----------------------------------------------


class _Capture(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


def _record_text(record: logging.LogRecord) -> str:
    parts = [str(record.msg), repr(record.args)]
    with contextlib.suppress(Exception):  # args that do not fit the format are in parts
        parts.append(record.getMessage())
    if record.exc_info and record.exc_info[1] is not None:
        parts.append("".join(traceback.format_exception(record.exc_info[1])))
    parts.extend(str(x) for x in (record.exc_text, record.stack_info) if x)
    return "\n".join(parts)


@contextlib.contextmanager
def capture_everything() -> Iterator[tuple[_Capture, list[warnings.WarningMessage]]]:
    """Every log record of every logger at DEBUG (httpx and httpcore too), and every warning."""
    handler = _Capture()
    names = {"", "httpx", "httpcore", "h11", "hpack", "drchrono_async", "asyncio", "redis"}
    names |= set(logging.root.manager.loggerDict)
    saved = []
    for name in names:
        logger = logging.getLogger(name)
        saved.append((logger, logger.level, logger.disabled, logger.propagate))
        logger.setLevel(logging.DEBUG)
        logger.disabled = False
        if name:
            logger.propagate = True
    logging.root.addHandler(handler)
    previous_disable = logging.root.manager.disable
    logging.disable(logging.NOTSET)
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            yield handler, caught
    finally:
        logging.disable(previous_disable)
        logging.root.removeHandler(handler)
        for logger, level, disabled, propagate in saved:
            logger.setLevel(level)
            logger.disabled = disabled
            logger.propagate = propagate


@attrs.define
class Outcome:
    """What one example produced."""

    escaped: BaseException | None = None
    hung: bool = False
    elapsed: float = 0.0
    follow_error: BaseException | None = None
    follow_hung: bool = False
    follow_elapsed: float = 0.0
    logs: list[tuple[str, str]] = attrs.Factory(list)
    warned: list[str] = attrs.Factory(list)


async def _bounded(
    call: Callable[[], Awaitable[Any]], clock: Any
) -> tuple[BaseException | None, bool, float]:
    """Run `call` under the wall bound: (what escaped, whether it hung, clock time spent)."""
    start = clock.now()
    escaped: BaseException | None = None
    hung = False
    try:
        async with asyncio.timeout(WALL_BOUND) as bound:
            await call()
    except (KeyboardInterrupt, SystemExit):
        raise
    except BaseException as exc:
        if bound.expired():
            hung = True
        else:
            escaped = exc
    return escaped, hung, clock.now() - start


async def exercise(
    hostile: Callable[[], Awaitable[Any]],
    follow_up: Callable[[], Awaitable[Any]],
    clock: Any,
) -> Outcome:
    """The hostile call, then a normal one on the same quota; logs and warnings captured."""
    out = Outcome()
    with capture_everything() as (handler, caught):
        out.escaped, out.hung, out.elapsed = await _bounded(hostile, clock)
        out.follow_error, out.follow_hung, out.follow_elapsed = await _bounded(follow_up, clock)
    out.logs = [(r.name, _record_text(r)) for r in handler.records]
    out.warned = [str(w.message) for w in caught]
    return out


def _exc_text(exc: BaseException | None) -> str:
    if exc is None:
        return ""
    return "\n".join([str(exc), repr(exc), "".join(traceback.format_exception(exc))])


def _leak(text: str, secret: str) -> str:
    at = text.find(secret)
    return text[max(0, at - 120) : at + len(secret) + 40]


def typed_and_bounded(out: Outcome, virtual: bool) -> None:
    """A result or a DrChronoError, within the wall bound and a credible virtual wait."""
    exc = out.escaped
    assert not out.hung, "hang: the call neither returned nor raised within the wall bound"
    assert exc is None or isinstance(exc, DrChronoError), (
        f"{type(exc).__name__} escaped:\n{_exc_text(exc)}"
    )
    if virtual:
        assert out.elapsed <= HOSTILE_BOUND, f"hang: waited {out.elapsed:.6g} s of virtual time"


def token_kept(out: Outcome, virtual: bool) -> None:
    """The access token in no log record, warning or escaped error."""
    for name, text in out.logs:
        assert TOKEN not in text, f"token in a log record of {name!r}: {_leak(text, TOKEN)}"
    for message in out.warned:
        assert TOKEN not in message, f"token in a warning: {_leak(message, TOKEN)}"
    for exc in (out.escaped, out.follow_error):
        text = _exc_text(exc)
        assert TOKEN not in text, f"token in an escaped error: {_leak(text, TOKEN)}"


def query_kept(out: Outcome, virtual: bool) -> None:
    """No query value of the request in a log record, warning or escaped error."""
    for value in QUERY_VALUES:
        for name, text in out.logs:
            assert value not in text, (
                f"query value in a log record of {name!r}: {_leak(text, value)}"
            )
        for message in out.warned:
            assert value not in message, f"query value in a warning: {_leak(message, value)}"
        text = _exc_text(out.escaped)
        assert value not in text, f"query value in the escaped error: {_leak(text, value)}"


def records_kept(out: Outcome, virtual: bool) -> None:
    """No content of a record the server sent in a log record, warning or escaped error."""
    for name, text in out.logs:
        assert RECORD_MARK not in text, (
            f"record content in a log record of {name!r}: {_leak(text, RECORD_MARK)}"
        )
    for message in out.warned:
        assert RECORD_MARK not in message, (
            f"record content in a warning: {_leak(message, RECORD_MARK)}"
        )
    text = _exc_text(out.escaped)
    assert RECORD_MARK not in text, (
        f"record content in the escaped error: {_leak(text, RECORD_MARK)}"
    )


def quota_usable(out: Outcome, virtual: bool) -> None:
    """A normal request on the same quota, after the hostile exchange, succeeds soon."""
    assert not out.follow_hung, "quota unusable: the following normal request hung"
    assert out.follow_error is None, (
        f"quota unusable: the following normal request failed:\n{_exc_text(out.follow_error)}"
    )
    if virtual:
        assert out.follow_elapsed <= FOLLOW_UP_BOUND, (
            f"quota unusable: the following normal request waited {out.follow_elapsed:.6g} s"
        )


PROPERTIES = (typed_and_bounded, token_kept, query_kept, records_kept, quota_usable)


def check(out: Outcome, *, virtual: bool = True) -> None:
    """Every property; each assertion is on its own line, so Hypothesis reports each apart."""
    for prop in PROPERTIES:
        prop(out, virtual)


def mock_client(
    script: Sequence[Answer], clock: VirtualClock, quota: Quota, **options: Any
) -> DrChronoClient:
    transport = httpx.MockTransport(Scripted(script, clock))
    return DrChronoClient(
        TOKEN, base_url=BASE, transport=transport, quota=quota, clock=clock, **options
    )


def normal_follow_up(clock: Any, quota: Quota) -> Callable[[], Awaitable[Any]]:
    async def call() -> None:
        async with mock_client([], clock, quota) as client:
            assert await client.request("GET", "/api/users/current") is not None

    return call


# -- the transport ---------------------------------------------------------------------------

REQUESTS = {
    "GET": {"params": {"first_name": FIRST, "last_name": LAST, "status": STATUS}},
    "POST": {"params": {"status": STATUS}, "json": {"first_name": FIRST, "last_name": LAST}},
    "PUT": {"json": {"first_name": FIRST, "status": STATUS}},
    "DELETE": {"params": {"first_name": FIRST}},
}


async def request_outcome(script: Sequence[Answer], method: str, max_wait: float | None) -> Outcome:
    clock = VirtualClock()
    quota = HourlyQuota(clock=clock)

    async def hostile() -> None:
        async with mock_client(script, clock, quota, max_wait=max_wait) as client:
            await client.request(method, "/api/patients", **REQUESTS[method])

    return await exercise(hostile, normal_follow_up(clock, quota), clock)


def throttled(retry_after: bytes, *more: tuple[bytes, bytes]) -> list[Answer]:
    return [Answer(429, ((b"Retry-After", retry_after), *more), b"")]


JSON = (b"Content-Type", b"application/json")


@settings(max_examples=150, **SETTINGS)
@example(script=throttled(b"1e12"), method="GET", max_wait=None)
@example(script=throttled(b"inf"), method="GET", max_wait=None)
@example(script=throttled(b"Fri, 31 Dec 9999 23:59:59 GMT"), method="GET", max_wait=30.0)
@example(
    script=[Answer(200, ((b"Content-Encoding", b"gzip"), JSON), b"{}")], method="GET", max_wait=None
)
@example(
    script=[Answer(302, ((b"Location", b"javascript:alert(1)"),), b"")], method="GET", max_wait=None
)
@example(
    script=[Answer(400, (JSON,), b'{"' + ECHO_AUTH + b'": ["bad"]}')], method="POST", max_wait=None
)
@given(
    script=scripts,
    method=st.sampled_from(sorted(REQUESTS)),
    max_wait=st.sampled_from([None, None, 0.0, 30.0]),
)
def test_request_against_a_hostile_server(
    script: list[Answer], method: str, max_wait: float | None
) -> None:
    check(asyncio.run(request_outcome(script, method, max_wait)))


# -- the paginator ---------------------------------------------------------------------------


def listing(client: DrChronoClient, kind: str, prefetch: int) -> Any:
    if kind == "patients":
        return client.patients.list(first_name=FIRST, last_name=LAST, prefetch=prefetch)
    if kind == "appointments":
        return client.appointments.list(date="2025-03-04", status=STATUS, prefetch=prefetch)
    # A date_range the API refuses in one piece: two chains run concurrently.
    return client.appointments.list(
        date_range="2025-06-01/2026-06-30", status=STATUS, prefetch=prefetch
    )


async def consume(paginator: Any, how: str) -> None:
    if how == "first":
        await paginator
    elif how == "pages":
        async for _ in paginator.pages():
            pass
    else:
        async for _ in paginator:
            pass


async def listing_outcome(script: Sequence[Answer], kind: str, prefetch: int, how: str) -> Outcome:
    clock = VirtualClock()
    quota = HourlyQuota(clock=clock)

    async def hostile() -> None:
        async with mock_client(script, clock, quota) as client:
            await consume(listing(client, kind, prefetch), how)

    return await exercise(hostile, normal_follow_up(clock, quota), clock)


KINDS = ["patients", "appointments", "appointments-sharded"]
HOWS = ["records", "pages", "first"]


@settings(max_examples=150, **SETTINGS)
@example(
    script=[Answer(200, (JSON,), b'{"results": [], "next": "https://drchrono.test/api/\\u0000"}')],
    kind="patients", prefetch=1, how="records",
)  # fmt: skip
@example(
    script=[Answer(200, (JSON,), b'{"results": [], "next": "https://drchrono.test:99999/p"}')],
    kind="appointments-sharded", prefetch=0, how="pages",
)  # fmt: skip
@given(
    script=page_scripts,
    kind=st.sampled_from(KINDS),
    prefetch=st.sampled_from([0, 1, 2]),
    how=st.sampled_from(HOWS),
)
def test_listing_against_a_hostile_server(
    script: list[Answer], kind: str, prefetch: int, how: str
) -> None:
    check(asyncio.run(listing_outcome(script, kind, prefetch, how)))


# -- the same through a real socket: httpcore, h11 and their DEBUG logging on the path ----------


async def loopback_outcome(script: Sequence[RawAnswer], what: str) -> Outcome:
    clock = VirtualClock()
    quota = HourlyQuota(clock=clock)
    async with HostileServer(script, NORMAL_RAW) as server:

        def client(timeout: float) -> DrChronoClient:
            return DrChronoClient(
                TOKEN, base_url=server.url, quota=quota, clock=clock, timeout=timeout, max_retries=2
            )

        async def hostile() -> None:
            # An answer that leaves the connection waiting costs a read time-out of wall time:
            # short, so that at most MAX_SCRIPT of them stay well under the wall bound.
            async with client(0.5) as c:
                if what == "request":
                    await c.request("GET", "/api/patients", **REQUESTS["GET"])
                else:
                    await consume(listing(c, "patients", 1), "records")

        async def follow_up() -> None:
            server.finish()
            async with client(4.0) as c:
                assert await c.request("GET", "/api/users/current") is not None

        return await exercise(hostile, follow_up, clock)


@settings(max_examples=30, **SETTINGS)
@given(
    script=st.lists(raw_answers(), min_size=1, max_size=4),
    what=st.sampled_from(["request", "listing"]),
)
def test_loopback_socket_against_a_hostile_server(script: list[RawAnswer], what: str) -> None:
    check(asyncio.run(loopback_outcome(script, what)))


# -- a RedisQuota on the real Redis ------------------------------------------------------------

REDIS_URL = os.environ.get("DRCHRONO_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
# Waits a correct client never takes at face value; real time runs here, so no credible wait.
REDIS_RETRY_AFTERS = ["1e12", "inf", "-inf", "nan", "-5", "1e400", "9" * 400, "0", "soon",
                      "Fri, 31 Dec 9999 23:59:59 GMT", "Mon, 01 Jan 0001 00:00:00 GMT",
                      "Wed, 21 Oct 2015 07:28:00 GMT"]  # fmt: skip
redis_answers = st.builds(
    lambda status, retry_after, date, body: Answer(
        status,
        tuple(
            (name.encode(), value.encode())
            for name, value in (("Retry-After", retry_after), ("Date", date))
            if value is not None
        ),
        body,
    ),
    st.sampled_from([200, 429, 429, 429, 503]),
    st.sampled_from(REDIS_RETRY_AFTERS),
    st.none() | dates,
    bodies(page_weight=3),
)
REDIS_WINDOW = 0.25  # a 429 without a credible wait pauses until the next window plus a guard


def _redis_available() -> None:
    import redis.asyncio as aioredis

    async def ping() -> None:
        client = aioredis.Redis.from_url(REDIS_URL)
        try:
            await client.ping()
        finally:
            await client.aclose()

    try:
        asyncio.run(ping())
    except (OSError, aioredis.ConnectionError) as exc:
        reason = f"Redis is not reachable at {REDIS_URL}: {type(exc).__name__}"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"{reason} (CI=true: the Redis tests must run)")
        pytest.skip(reason)


async def redis_outcome(script: Sequence[Answer]) -> Outcome:
    import redis.asyncio as aioredis

    redis = aioredis.Redis.from_url(REDIS_URL)
    key = f"drchrono-async-test:{uuid.uuid4().hex}:hostile"
    clock = SystemClock()
    quota = RedisQuota(redis, key=key, window=REDIS_WINDOW, clock=clock)
    try:

        async def hostile() -> None:
            # max_wait=0: a pause fails at once instead of taking real time here.
            transport = httpx.MockTransport(Scripted(script, VirtualClock(clock.now())))
            async with DrChronoClient(
                TOKEN, base_url=BASE, transport=transport, quota=quota, max_wait=0, max_retries=0
            ) as client:
                await client.request("GET", "/api/patients", **REQUESTS["GET"])

        async def follow_up() -> None:
            transport = httpx.MockTransport(Scripted([], VirtualClock(clock.now())))
            async with DrChronoClient(
                TOKEN, base_url=BASE, transport=transport, quota=quota
            ) as client:
                assert await client.request("GET", "/api/users/current") is not None

        return await exercise(hostile, follow_up, clock)
    finally:
        await redis.delete(key)
        await redis.aclose()


@settings(max_examples=6, **SETTINGS)
@example(script=throttled(b"inf"))
@example(script=throttled(b"1e12"))
@example(script=throttled(b"nan", (b"Date", b"Fri, 31 Dec 9999 23:59:59 GMT")))
@given(script=st.lists(redis_answers, min_size=1, max_size=3))
def test_redis_quota_against_a_hostile_server(script: list[Answer]) -> None:
    _redis_available()
    check(asyncio.run(redis_outcome(script)), virtual=False)
