"""The calls a backfill still needs, from what the server has shown so far.

DrChrono's list pages carry no count (cursor pagination), so the estimate comes from the
pages themselves, chain by chain (a chain: one `date_range` window), refined at each page:

- the server said how many records the listing holds (`Page.count`, where a server gives
  one): its pages at this page size, less those fetched;
- pages in date order (checked at every page): the pages so far, stretched over the days
  left to the window's end at the density seen since the *first record's* date. The window
  itself starts at `backfill_from` (2010-01-01 by default) while a practice's records may
  begin years later: counting from the window's start made a backfill "nearly done" after a
  few pages. A `since` chain (a backfill of everything changed since `backfill_from`, listed
  in one stream) has no end date: it is stretched to today, and records dated later (the
  appointments booked ahead) count one call, their floor, until the pages reach them;
- a chain not started yet: one call, its floor;
- pages that went back in time: no estimate (None), since dates then tell nothing.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterable, Sequence

from ._state import Chain

__all__ = ["calls_left", "observe"]

_SLACK = dt.timedelta(days=1)  # records of one day may straddle two pages in any order


def observe(chain: Chain, dates: Iterable[dt.date], count: int | None) -> None:
    """Record one page of `chain`: its records' dates (those that have one) and the
    server's count of the listing, if it gave one."""
    days = sorted(d.date() if isinstance(d, dt.datetime) else d for d in dates)
    chain.pages += 1
    if count is not None:
        chain.count = count
    if not days:
        return
    low, high = days[0], days[-1]
    if chain.reached is not None and low < dt.date.fromisoformat(chain.reached) - _SLACK:
        chain.ordered = False
    if chain.first is None or low.isoformat() < chain.first:
        chain.first = low.isoformat()
    if chain.reached is None or high.isoformat() > chain.reached:
        chain.reached = high.isoformat()


def calls_left(chains: Sequence[Chain], today: dt.date) -> int | None:
    """The calls the unfinished chains still need, or None when a chain's pages cannot say.
    `today`: the practice's date on the server's clock (where a `since` chain ends)."""
    left = 0.0
    for chain in chains:
        one = _chain_left(chain, today)
        if one is None:
            return None
        left += one
    return math.ceil(left)


def _chain_left(chain: Chain, today: dt.date) -> float | None:
    if chain.done:
        return 0.0
    if chain.count is not None:
        size = chain.params.get("page_size")
        if isinstance(size, int) and size > 0:
            return max(1.0, math.ceil(chain.count / size) - chain.pages)
    if not chain.pages:
        return 1.0
    if not chain.ordered:
        return None
    span, since = chain.params.get("date_range"), chain.params.get("since")
    if chain.reached is None:
        return 1.0  # pages without dates: nothing to go by but the floor
    if isinstance(span, str) and "/" in span:
        start, end = (dt.date.fromisoformat(part) for part in span.split("/", 1))
    elif isinstance(since, str) and len(since) >= 10:
        start, end = dt.date.fromisoformat(since[:10]), today
    else:
        return 1.0
    first = dt.date.fromisoformat(chain.first) if chain.first else start
    reached = dt.date.fromisoformat(chain.reached)
    if reached >= end:
        return 1.0  # past the end (a since chain's records dated ahead): the floor
    done = (reached - first).days + 1
    total = (end - first).days + 1
    return max(1.0, chain.pages * max(0, total - done) / max(1, done))
