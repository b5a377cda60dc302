"""The `since` watermark: a naive local time that no later change can fall below.

The API's timestamps are naive wall times of the practice. When clocks fall back (the autumn
DST hour), wall times repeat: a change made just after the fall-back has a wall time up to an
hour *earlier* than one made just before it. A watermark taken in the hour before the
fall-back would then skip those changes. So the watermark is the lowest wall time of any
moment from the chosen instant on: normally the instant's own wall time, and, when a
fall-back follows within the repeated span, the wall time just after the fall-back.
"""

from __future__ import annotations

import datetime as dt
import math

__all__ = ["format_since", "watermark"]

# Longer than any fall-back in use (they are one hour, some thirty minutes).
_SCAN = dt.timedelta(hours=3)


def _wall(instant: dt.datetime, tz: dt.tzinfo) -> dt.datetime:
    return instant.astimezone(tz).replace(tzinfo=None)


def watermark(instant: float, tz: dt.tzinfo) -> dt.datetime:
    """The lowest wall time in `tz` of any moment at or after the epoch time `instant`."""
    start = dt.datetime.fromtimestamp(instant, dt.UTC)
    low = _wall(start, tz)
    offset = start.astimezone(tz).utcoffset()
    if (start + _SCAN).astimezone(tz).utcoffset() == offset:
        return low
    # An offset change within the scan. Zones change on whole seconds: find that second.
    a, b = math.floor(instant), math.floor(instant + _SCAN.total_seconds())
    while b - a > 1:
        mid = (a + b) // 2
        if dt.datetime.fromtimestamp(mid, tz).utcoffset() == offset:
            a = mid
        else:
            b = mid
    return min(low, _wall(dt.datetime.fromtimestamp(b, dt.UTC), tz))


def format_since(value: dt.datetime) -> str:
    """A watermark as the `since` filter takes it (seconds, no zone, rounded down)."""
    return value.replace(microsecond=0).isoformat(timespec="seconds")
