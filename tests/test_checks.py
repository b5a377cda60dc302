"""The argument-check vocabulary: `_checks.check_int`, `check_number`, `check_choice`.

One message style ("<what> must be <a kind> <a range>"), one error (`InvalidRequestError`),
and no message ever quotes the value it refuses.
"""

from __future__ import annotations

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
        ({"low": 0, "low_open": True, "high": 86_400},
         "x must be a number over 0 and at most 86400"),
        ({"low": 0, "high": 1, "high_open": True}, "x must be a number at least 0 and under 1"),
        ({"low": 0, "high": math.inf}, "x must be a number of at least 0"),
        ({"low": 0, "low_open": True, "high": math.inf}, "x must be a number over 0"),
        ({"low": 0.001, "high": 60.0, "kind": "a number of seconds", "tail": " (a minute)"},
         "x must be a number of seconds from 0.001 to 60 (a minute)"),
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
