"""The `since` watermark survives the autumn fall-back, when wall times repeat."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from drchrono_async.sync._watermark import format_since, watermark

NY = ZoneInfo("America/New_York")
# 2026-11-01 06:00 UTC: New York's clocks fall back from 02:00 EDT to 01:00 EST.
FALL_BACK = dt.datetime(2026, 11, 1, 6, 0, tzinfo=dt.UTC).timestamp()
SPRING = dt.datetime(2026, 3, 8, 7, 0, tzinfo=dt.UTC).timestamp()  # 02:00 EST -> 03:00 EDT


def wall(ts: float) -> dt.datetime:
    return dt.datetime.fromtimestamp(ts, NY).replace(tzinfo=None)


def test_an_ordinary_instant_is_its_own_wall_time() -> None:
    ts = FALL_BACK - 10 * 3600
    assert watermark(ts, NY) == wall(ts)
    assert watermark(ts, dt.UTC) == dt.datetime.fromtimestamp(ts, dt.UTC).replace(tzinfo=None)


@pytest.mark.parametrize("minutes_before", [1, 10, 30, 59, 60, 90])
def test_no_change_after_the_watermark_has_a_lower_wall_time(minutes_before: int) -> None:
    ts = FALL_BACK - minutes_before * 60
    mark = watermark(ts, NY)
    # Every moment from the instant on (to well past the fall-back) is at or above it.
    later = [ts + s for s in range(0, 4 * 3600, 60)]
    assert all(wall(t) >= mark for t in later)
    # And it is the tightest such bound: some later moment sits exactly on it.
    assert min(wall(t) for t in later) == mark.replace(second=0) or mark == wall(ts)


def test_in_the_hour_before_the_fall_back_the_mark_drops_to_the_repeat() -> None:
    mark = watermark(FALL_BACK - 15 * 60, NY)  # 01:45 EDT
    assert mark == dt.datetime(2026, 11, 1, 1, 0)  # 01:00 EST comes after it


def test_the_spring_gap_never_raises_the_mark() -> None:
    ts = SPRING - 30 * 60  # 01:30 EST, before the jump to 03:00
    assert watermark(ts, NY) == wall(ts)


def test_since_text_has_no_zone_and_no_fraction() -> None:
    assert format_since(dt.datetime(2026, 1, 2, 3, 4, 5, 999_999)) == "2026-01-02T03:04:05"
