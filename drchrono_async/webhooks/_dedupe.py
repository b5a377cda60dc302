"""Remembering handled deliveries: `Claim`, the `DeliveryDedupe` protocol and `MemoryDedupe`.

DrChrono redelivers a delivery that got no 2xx at +1 h, +3 h and +7 h after the event, and a
person can redeliver by hand at any time; each redelivery carries the same
`X-drchrono-delivery` id. A receiver claims the id before calling its handler, completes it
after the handler returned, and releases it when the handler failed, so that the next
redelivery is handled.
"""

from __future__ import annotations

import enum
import logging
from collections import OrderedDict
from typing import Protocol, runtime_checkable

from .._checks import check_int, check_number
from ..errors import InvalidRequestError, WebhookError
from ..ratelimit import Clock, SystemClock

__all__ = [
    "DEFAULT_RETENTION",
    "MIN_RETENTION",
    "Claim",
    "DeliveryDedupe",
    "MemoryDedupe",
    "check_delivery_id",
    "check_retention",
    "to_claim",
]

logger = logging.getLogger("drchrono_async.webhooks")

HOUR = 3600.0
MIN_RETENTION = 8 * HOUR  # the last automatic redelivery comes 7 hours after the event
DEFAULT_RETENTION = 24 * HOUR  # also covers a redelivery by hand the same day
MAX_DELIVERY_ID_CHARS = 128


class Claim(enum.Enum):
    """What `DeliveryDedupe.claim` found: three answers, because "not mine" is two things.

    - `NEW`: claimed for the caller, who handles the delivery now.
    - `HANDLED`: handled already; the copy is answered 200 and dropped.
    - `BUSY`: another claimant (process, receiver) is handling it right now. Its outcome is
      unknown, so the copy is answered 409: if the other claimant then fails, DrChrono's
      redelivery is still coming. (Answering 200 here lost the delivery for good.)

    A member is truthy only for `NEW`, as the bool `claim` returned before, so that
    `if await dedupe.claim(id):` keeps its meaning.
    """

    NEW = "new"
    HANDLED = "handled"
    BUSY = "busy"

    def __bool__(self) -> bool:
        return self is Claim.NEW


def to_claim(value: object) -> Claim:
    """A `claim` result as a `Claim`: a plain bool of an older dedupe means NEW / HANDLED.

    Anything else is a bug of that dedupe, raised as `WebhookError` (the receiver answers
    503 and DrChrono redelivers) rather than read as one of the two by its truthiness.
    """
    if isinstance(value, Claim):
        return value
    if value is True:
        return Claim.NEW
    if value is False:
        return Claim.HANDLED
    raise WebhookError("the dedupe's claim returned neither a Claim nor a bool")


@runtime_checkable
class DeliveryDedupe(Protocol):
    """Where a receiver records which deliveries it has handled.

    - `claim(id)`: a `Claim`. `NEW`: the caller should handle the delivery now; `HANDLED`:
      it was handled already; `BUSY`: another claimant holds a claim not yet completed
      nor released (the receiver answers 409 so that DrChrono redelivers, in case that
      claimant fails). A store that cannot tell the last two apart may return `HANDLED`,
      and a plain `True` / `False` still means `NEW` / `HANDLED`. Must be atomic: of two
      concurrent claims of one id, at most one returns `NEW` while neither completed nor
      released.
    - `complete(id)`: the handler succeeded; remember the id for at least the retention.
    - `release(id)`: the handler failed; forget the claim, so a redelivery is handled.

    A database store may implement it transactionally instead: `claim` only reads "not
    handled yet" (so two processes may both run the handler), and `complete` inserts the id
    under a unique constraint in the handler's own transaction (ON CONFLICT DO NOTHING);
    `release` then has nothing to do. Errors are raised as `WebhookError` (or `StoreError`).
    """

    async def claim(self, delivery_id: str) -> Claim | bool: ...

    async def complete(self, delivery_id: str) -> None: ...

    async def release(self, delivery_id: str) -> None: ...


def check_delivery_id(delivery_id: object) -> str:
    """1 to 128 visible ASCII characters: what `parse_delivery` lets through."""
    if (
        not isinstance(delivery_id, str)
        or not 0 < len(delivery_id) <= MAX_DELIVERY_ID_CHARS
        or not (delivery_id.isascii() and delivery_id.isprintable())
        or " " in delivery_id
    ):
        raise InvalidRequestError(
            f"a delivery id is 1 to {MAX_DELIVERY_ID_CHARS} visible ASCII characters"
        )
    return delivery_id


def check_retention(value: object, what: str = "retention") -> float:
    return check_number(
        value,
        what,
        low=MIN_RETENTION,
        high=366 * 24 * HOUR,
        high_open=True,
        kind="a number of seconds",
        tail=" (8 hours, since redeliveries come up to 7 hours after the event, to a year)",
    )


class MemoryDedupe:
    """Handled delivery ids in this process's memory, each kept `retention` seconds.

    For one process (a restart forgets everything: use `RedisDedupe`, or a database store,
    when that matters). At most `max_entries` ids are held, claims in progress included.
    When a claim finds it full, the ids past their retention go first; if it is still full,
    the oldest handled id is forgotten before its time (a late redelivery of it would be
    handled twice, which an idempotent handler survives, where refusing new deliveries would
    lose them), with a warning. Only when every entry is a claim in progress does `claim`
    raise `WebhookError` (the receiver answers 503 and DrChrono redelivers later).

    In-progress claims do not expire here: the receiver always completes or releases them,
    and a process that dies takes them with it. A claim of an id claimed but not yet
    completed or released is `Claim.BUSY` (one receiver never asks: its copies wait for the
    one in flight; two receivers sharing one `MemoryDedupe` do).
    """

    def __init__(
        self,
        retention: float = DEFAULT_RETENTION,
        *,
        max_entries: int = 100_000,
        clock: Clock | None = None,
    ) -> None:
        self.retention = check_retention(retention)
        self.max_entries = check_int(max_entries, "max_entries", low=1, high=100_000_000)
        self._clock: Clock = clock if clock is not None else SystemClock()
        # id -> time it may be forgotten; in completion order, which is expiry order.
        self._handled: OrderedDict[str, float] = OrderedDict()
        self._claimed: set[str] = set()
        self.evicted = 0  # handled ids forgotten before their retention, for monitoring

    def __len__(self) -> int:
        return len(self._handled) + len(self._claimed)

    async def claim(self, delivery_id: str) -> Claim:
        check_delivery_id(delivery_id)
        now = self._clock.now()
        self._expire(now)
        expires = self._handled.get(delivery_id)
        if expires is not None:
            if expires > now:
                return Claim.HANDLED
            del self._handled[delivery_id]  # expired out of order (the clock went back)
        if delivery_id in self._claimed:
            return Claim.BUSY  # one receiver waits on its own in-flight copy; two can get here
        if len(self) >= self.max_entries:
            if not self._handled:
                raise WebhookError("the delivery dedupe is full of deliveries in progress")
            self._handled.popitem(last=False)
            self.evicted += 1
            logger.warning(
                "MemoryDedupe is full (%d entries): forgot the oldest handled delivery "
                "before its retention",
                self.max_entries,
            )
        self._claimed.add(delivery_id)
        return Claim.NEW

    async def complete(self, delivery_id: str) -> None:
        check_delivery_id(delivery_id)
        self._claimed.discard(delivery_id)
        self._handled[delivery_id] = self._clock.now() + self.retention
        self._handled.move_to_end(delivery_id)
        while len(self) > self.max_entries and self._handled:  # completed without a claim
            self._handled.popitem(last=False)
            self.evicted += 1

    async def release(self, delivery_id: str) -> None:
        check_delivery_id(delivery_id)
        self._claimed.discard(delivery_id)

    def _expire(self, now: float) -> None:
        handled = self._handled
        while handled:
            oldest, expires = next(iter(handled.items()))
            if expires > now:
                break
            del handled[oldest]

    def __repr__(self) -> str:
        return (
            f"MemoryDedupe(retention={self.retention:.0f}, max_entries={self.max_entries}, "
            f"entries={len(self)})"
        )
