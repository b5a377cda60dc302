"""Priorities of permit requests, the interactive reserve's settings, and how the transport asks.

Two lanes share one quota: `interactive` (a person is waiting: a web request, a click) and
`background` (syncs, backfills, reports). The rules, which `_algorithm.step` applies:

- Interactive waiters go before every background waiter. Within a process the scheduler keeps
  two queues and a background waiter at the head steps back as soon as an interactive one
  arrives. Across processes (`RedisQuota`), an interactive acquire that has to wait writes a
  claim into the shared state (until its expected grant time plus `claim` seconds); while any
  claim is live, background acquires in every process wait.
- A reserve of the window's permits is spent by interactive requests only: a background
  acquire is refused while `used + reserve >= limit`. The reserve is held until `release`
  seconds before the window ends (on the server's clock, as the window itself); then whatever
  is left of it goes to background work too, so a window with no interactive demand is still
  spent in full. Interactive requests can always spend the whole window.
"""

from __future__ import annotations

import enum
import inspect
from typing import Literal, Protocol

from .._checks import check_choice, check_int, check_number
from ..errors import InvalidRequestError

__all__ = [
    "DEFAULT_RESERVE",
    "Priority",
    "PriorityLike",
    "acquire_permit",
    "check_priority",
    "check_release",
    "reserve_permits",
]

DEFAULT_RESERVE = 0.1
# Of an hour, the reserve is held until the last minute: 50 permits at 10 per second take 5 s.
DEFAULT_RELEASE_SHARE = 1.0 / 60.0
MAX_DEFAULT_RELEASE = 60.0


class Priority(enum.StrEnum):
    """The lane a permit request waits in."""

    INTERACTIVE = "interactive"
    BACKGROUND = "background"


PriorityLike = Priority | Literal["interactive", "background"]


def check_priority(value: object) -> Priority:
    """A caller's priority: a `Priority` or its name, else `InvalidRequestError`."""
    return check_choice(value, "priority", tuple(Priority))


def reserve_permits(reserve: object, limit: int) -> int:
    """The reserve in permits: a fraction of `limit` in [0, 1) (a float), or a count (an int).

    A float is always a fraction (`0.1`: 10%, rounded to the nearest permit) and an int always
    a count (`1`: one permit), so `1.0` is refused rather than read as "all of them".
    """
    if isinstance(reserve, float):
        fraction = check_number(
            reserve, "reserve, as a fraction of the limit,", low=0, high=1, high_open=True
        )
        return round(limit * fraction)
    if isinstance(reserve, int) and not isinstance(reserve, bool):
        return check_int(
            reserve, "reserve, as a number of permits,", low=0, high=limit, tail=" (the limit)"
        )
    raise InvalidRequestError(
        "reserve must be a fraction of the limit (a float) or a whole number of permits"
    )


def check_release(release: object, window: float) -> float:
    """Seconds before the window's end at which the reserve goes to background work.

    `None`: the window's last 60th, at most 60 s (the last minute of an hour).
    """
    if release is None:
        return min(MAX_DEFAULT_RELEASE, window * DEFAULT_RELEASE_SHARE)
    return check_number(
        release,
        "reserve_release",
        low=0,
        high=window,
        kind="a number of seconds",
        tail=" (the window)",
    )


class _Acquiring(Protocol):
    async def acquire(self, *, max_wait: float | None = None) -> None: ...


# Whether a quota class's `acquire` takes `priority` (quotas written before it did not).
_TAKES_PRIORITY: dict[type, bool] = {}


def _takes_priority(quota: object) -> bool:
    cls = type(quota)
    known = _TAKES_PRIORITY.get(cls)
    if known is None:
        try:
            params = inspect.signature(quota.acquire).parameters  # type: ignore[attr-defined]
        except (TypeError, ValueError):
            params = {}  # type: ignore[assignment]
        known = "priority" in params or any(
            p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()
        )
        if len(_TAKES_PRIORITY) < 256:  # bounded: classes are few, but never grow unbounded
            _TAKES_PRIORITY[cls] = known
    return known


async def acquire_permit(quota: _Acquiring, *, max_wait: float | None, priority: Priority) -> None:
    """`quota.acquire` with the priority, or without it for a quota that takes none."""
    if _takes_priority(quota):
        await quota.acquire(max_wait=max_wait, priority=priority)  # type: ignore[call-arg]
    else:
        await quota.acquire(max_wait=max_wait)
