"""`RedisQuota`: one application's quota shared by every process and machine, in Redis.

The algorithm is `_algorithm.step`, run as one atomic Lua script per operation on a hash at
`key`, with Redis `TIME` as the clock every process shares. A 429 seen by any process is
written there and pauses all of them. Needs the `redis` extra (redis-py's asyncio client).

Priorities across processes, exactly what holds (see `_priority.py` for the rules):

- The reserve holds across processes: the check is in the same atomic script as the shared
  count, so no background acquire in any process takes a permit that leaves fewer than
  `reserve` of the window before the reserve is released.
- Within a process, interactive waiters go before every background waiter (two queues).
- Between processes, an interactive acquire that has to wait writes a claim into the hash (its
  expected grant time plus `claim` seconds), and background acquires in every process wait
  while a claim is live. So a background permit goes ahead of a waiting interactive request
  of another process only when the interactive one has not yet been refused once (the two
  raced for a free permit), or when its process comes back later than `claim` seconds after
  its expected grant time (a stalled event loop or a slow network); a dead process's claim
  ends by itself.

Every failure of Redis (a refused or killed connection, a timeout, an error reply, an answer
the script cannot have given) is a `QuotaBackendError` naming the error type only, from
`acquire`, `throttled`, `fetch_snapshot` and `reset` alike; the transport adds the request's
method and path. Work left running by a cancelled waiter logs its failure instead of
leaving an exception nobody retrieves.
"""

from __future__ import annotations

import asyncio
import hashlib
import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import attrs

from .._checks import check_number
from ..errors import InvalidRequestError, QuotaBackendError
from ._algorithm import (
    CountWait,
    Decision,
    Op,
    Params,
    Reason,
    State,
    eta,
    server_wait,
    step,
    usable_offset,
)
from ._base import QuotaSnapshot
from ._clock import Clock, SystemClock
from ._lua import FIELDS, SCRIPT
from ._memory import _snapshot, quota_params
from ._priority import DEFAULT_RESERVE
from ._scheduler import Scheduler, iso, logger

if TYPE_CHECKING:
    from redis.asyncio import Redis

__all__ = ["RedisQuota", "application_key"]


def application_key(client_id: str) -> str:
    """The Redis key of one OAuth application's quota (shared by all its tokens)."""
    digest = hashlib.sha256(client_id.encode("utf-8", "surrogatepass")).hexdigest()[:16]
    return f"drchrono:quota:{digest}"


# A waiting interactive request's claim outlives its due time by this much: time for its
# process to wake and reach Redis. Background work of every process pays it once per claim.
DEFAULT_CLAIM = 0.25
MAX_CLAIM = 10.0


class RedisQuota(Scheduler):
    """DrChrono's hourly quota shared through Redis by any number of processes and machines.

    The same algorithm as `HourlyQuota` (aligned windows on the API server's clock, a burst
    bucket, a pause after a 429), kept in one Redis hash per application with a TTL. Within a
    process, waiting is first come, first served within each lane, interactive before
    background, and only the head of the queue calls Redis; between processes, the next free
    permit goes to whichever process asks first, except that a background acquire waits while
    an interactive waiter anywhere has a claim, and never spends the held reserve.

    Args:
        redis: a `redis.asyncio.Redis` client (either `decode_responses` setting works).
        client_id: the OAuth application's client id. DrChrono counts the quota per
            application, so by default every process of one application shares the key
            `drchrono:quota:<sha256 of the client id, 16 hex>` (the id itself is not
            written to Redis).
        key: the Redis key instead, where one application's workers must name it themselves
            (e.g. a fixed access token with no client id at hand). One of the two is needed.
        limit, window, burst, rate, margin, reserve, reserve_release: as for `HourlyQuota`.
        claim: seconds, in [0, 10], an interactive waiter's claim outlives the time its permit
            is due, so that its process has time to come back for it (default 0.25).
        clock: this process's clock; waits are slept on it (the quota's own time is Redis's).
    """

    def __init__(
        self,
        redis: Redis,
        *,
        client_id: str | None = None,
        key: str | None = None,
        limit: int = 500,
        window: float = 3600.0,
        burst: float = 10.0,
        rate: float = 10.0,
        clock: Clock | None = None,
        margin: float = 1.0,
        reserve: float | int = DEFAULT_RESERVE,
        reserve_release: float | None = None,
        claim: float = DEFAULT_CLAIM,
    ) -> None:
        super().__init__(clock or SystemClock())
        if key is None and isinstance(client_id, str) and 0 < len(client_id) <= 512:
            key = application_key(client_id)
        if not isinstance(key, str) or not key or len(key) > 512:
            raise InvalidRequestError("RedisQuota needs the application's client_id (or a key)")
        claim = check_number(claim, "claim", low=0, high=MAX_CLAIM, kind="a number of seconds")
        self.key = key
        self.params = quota_params(
            limit=limit,
            window=window,
            burst=burst,
            rate=rate,
            margin=margin,
            reserve=reserve,
            reserve_release=reserve_release,
            claim=claim,
        )
        self._redis = redis
        self._script = redis.register_script(SCRIPT)
        # Local time minus Redis time, a lower bound from the latest call (None: no call yet).
        self._delta: float | None = None
        self._pending_obs: float | None = None  # best Date observation not yet sent, local
        self._last: tuple[State, Decision] | None = None
        self._background: set[asyncio.Task[Decision]] = set()

    # -- Redis --------------------------------------------------------------------------------

    async def _call(
        self,
        op: Op,
        *,
        arg: float | None = None,
        count_wait: CountWait = CountWait.NEVER,
        zone_arg: bool = False,
        background: bool = False,
        now: float | None = None,
    ) -> Decision:
        p = self.params
        obs = None
        if self._pending_obs is not None and self._delta is not None:
            # Date - local receive time, moved onto Redis's clock (still a lower bound).
            obs, self._pending_obs = self._pending_obs + self._delta, None
        args = script_args(
            p,
            op,
            now=now,
            obs=obs,
            arg=arg,
            count_wait=count_wait,
            zone_arg=zone_arg,
            background=background,
        )
        before = self.clock.now()
        try:
            reply = await self._script(keys=[self.key], args=args)
        except Exception as exc:  # redis-py's errors, and whatever its connection lets out
            raise _failed(f"the quota's Redis call ({op.name.lower()}) failed", exc) from None
        try:
            state, d = decode(reply)
        except Exception as exc:  # not what the script returns: a foreign key or server
            raise _failed("the quota's Redis answer is unreadable", exc) from None
        if not (math.isfinite(d.now) and math.isfinite(d.wait) and d.wait >= 0):
            raise QuotaBackendError(
                "the quota's Redis answer is unreadable (a time out of range)", method="", path=""
            )
        self._delta = before - d.now
        self._last = (state, d)
        return d

    async def _attempt(self, *, count_wait: CountWait, background: bool) -> Decision:
        task = asyncio.ensure_future(
            self._call(Op.ACQUIRE, count_wait=count_wait, background=background)
        )
        try:
            # Shielded: once sent, the script runs; a permit it grants must not be lost.
            return await asyncio.shield(task)
        except asyncio.CancelledError:
            self._background.add(task)
            task.add_done_callback(self._background.discard)
            task.add_done_callback(self._give_back)
            raise

    def _give_back(self, task: asyncio.Task[Decision]) -> None:
        """A cancelled waiter's permit, granted after it left, goes back to the store."""
        if task.cancelled() or task.exception() is not None or not task.result().granted:
            return
        d = task.result()
        back = asyncio.ensure_future(self._call(Op.RELEASE, arg=d.k, zone_arg=d.zone))
        self._background.add(back)
        back.add_done_callback(self._background.discard)
        back.add_done_callback(_log_give_back_failure)

    async def _settle(self) -> None:
        """Wait for the script calls and give-backs that cancelled waiters left running."""
        while self._background:
            await asyncio.gather(*self._background, return_exceptions=True)

    def _store_now(self) -> float:
        return self.clock.now() - (self._delta or 0.0)

    async def _eta(self, n: int, background: int = 0) -> float:
        if self._last is None:
            await self._call(Op.PEEK)
        assert self._last is not None
        return eta(self._last[0], self.params, self._store_now(), n, background)

    # -- the Quota protocol -------------------------------------------------------------------

    async def throttled(self, retry_after: float | None) -> float:
        """Record a 429 for every process and pause them all; returns the epoch paused-until."""
        retry_after = server_wait(retry_after)
        d = await self._call(Op.THROTTLE, arg=retry_after)
        until = self.clock.now() + d.wait
        logger.info(
            "rate limit: 429 received, all requests paused until %s (%s)",
            iso(until),
            "server's wait" if retry_after is not None else "next window",
        )
        await self._recheck_deadlines()
        return until

    def observe_server_time(self, server_now: float) -> None:
        """Learn the server's clock from a response's `Date`; sent with the next Redis call."""
        obs = server_now - self.clock.now()
        if not usable_offset(obs):
            return  # a nan kept here would block every later observation
        if self._pending_obs is None or obs > self._pending_obs:
            self._pending_obs = obs

    def snapshot(self) -> QuotaSnapshot:
        """The state as of this process's latest Redis call, advanced to now locally.

        Other processes' permits since that call are not in it; `await fetch_snapshot()`
        asks Redis.
        """
        if self._last is None:
            p = self.params
            return QuotaSnapshot(p.limit, 0, p.limit, 0.0, None, 0, 0)
        s = attrs.evolve(self._last[0])
        now = self._store_now()
        d = step(s, self.params, now, Op.PEEK)
        return _snapshot(self.params, s, d, shift=self.clock.now() - now)

    async def fetch_snapshot(self) -> QuotaSnapshot:
        """The shared state, read from Redis now."""
        d = await self._call(Op.PEEK)
        assert self._last is not None
        return _snapshot(self.params, self._last[0], d, shift=self.clock.now() - d.now)

    async def reset(self) -> None:
        """Forget the shared state (counts, pause, clock offset): for tests and operators."""
        try:
            await self._redis.delete(self.key)
        except Exception as exc:
            raise _failed("the quota's Redis call (reset) failed", exc) from None
        self._last = None

    def __repr__(self) -> str:
        p = self.params
        return (
            f"RedisQuota(key={self.key!r}, limit={p.limit}, window={p.window}, reserve={p.reserve})"
        )


def _failed(what: str, exc: BaseException) -> QuotaBackendError:
    # The type only: a Redis error's text can quote the key, an argument or the server.
    return QuotaBackendError(f"{what}: {type(exc).__name__}", method="", path="")


def _log_give_back_failure(task: asyncio.Task[Decision]) -> None:
    """Retrieve a give-back's failure (no "Task exception was never retrieved") and say so:
    the permit then stays counted, which errs on the side of fewer requests."""
    if task.cancelled():
        return
    exc = task.exception()
    if exc is not None:
        logger.warning(
            "rate limit: a cancelled waiter's permit could not be given back (%s)",
            type(exc).__name__,
        )


def script_args(
    p: Params,
    op: Op,
    *,
    now: float | None = None,
    obs: float | None = None,
    arg: float | None = None,
    count_wait: CountWait = CountWait.NEVER,
    zone_arg: bool = False,
    background: bool = False,
) -> list[str | int]:
    """The script's ARGV; `repr` keeps every float exact.

    A value that is not finite never reaches the script (Lua would read `inf` and `nan` as
    numbers): it goes as "none", which the algorithm reads as "no wait given" or "no
    observation".
    """
    obs = obs if obs is not None and math.isfinite(obs) else None
    arg = float(arg) if arg is not None and math.isfinite(arg) else None
    return [
        int(op),
        p.limit,
        repr(p.window),
        repr(p.burst),
        repr(p.rate),
        repr(p.margin),
        repr(p.guard),
        repr(p.drift),
        repr(p.step),
        p.confirm,
        "" if now is None else repr(now),
        "" if obs is None else repr(obs),
        "" if arg is None else repr(float(arg)),
        int(count_wait),
        int(zone_arg),
        repr(2 * p.window),
        int(background),
        p.reserve,
        repr(p.release),
        repr(p.claim),
    ]


def _text(v: Any) -> str:
    return v.decode() if isinstance(v, bytes) else str(v)


def decode(reply: Sequence[Any]) -> tuple[State, Decision]:
    """The script's reply: the decision, then the state in `FIELDS` order."""
    head = [_text(v) for v in reply[:8]]
    values = [float(_text(v)) for v in reply[8:]]
    fields = dict(zip(FIELDS, values, strict=True))
    ints = {"init", "k", "cal", "bad", "waits", "throttled"}
    state = State(**{f: int(v) if f in ints else v for f, v in fields.items()})  # type: ignore[arg-type]
    d = Decision(
        granted=head[0] == "1",
        wait=float(head[1]),
        reason=Reason(int(head[2])),
        now=float(head[3]),
        resets_at=float(head[4]),
        paused_until=float(head[5]),
        k=int(float(head[6])),
        zone=head[7] == "1",
    )
    return state, d
