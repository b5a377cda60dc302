"""Wire payloads for every record class, built from the declared field types.

`wire_value(t)` is what the API sends for a field of type `t` (canonical form, so that
unstructuring gives it back unchanged); `python_value(t)` is what the converter must make of it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from drchrono_async.records import (
    Codes,
    DateRange,
    JSONObject,
    JSONObjectOrObjects,
    JSONObjects,
    Record,
    api_fields,
)


def strip_none(t: Any) -> Any:
    args = getattr(t, "__args__", ())
    if type(None) in args:
        rest = [a for a in args if a is not type(None)]
        out = rest[0]
        for r in rest[1:]:
            out = out | r
        return out
    return t


_WIRE: dict[Any, tuple[Any, Any]] = {
    str: ("some text", "some text"),
    int: (42, 42),
    bool: (True, True),
    float: (1.5, 1.5),
    Decimal: ("123.45", Decimal("123.45")),
    dt.datetime: ("2014-02-24T15:32:19", dt.datetime(2014, 2, 24, 15, 32, 19)),
    dt.date: ("2014-02-24", dt.date(2014, 2, 24)),
    dt.time: ("12:34:56", dt.time(12, 34, 56)),
    DateRange: ("2014-02-24/2014-02-28", DateRange(dt.date(2014, 2, 24), dt.date(2014, 2, 28))),
    JSONObject: ({"key": "value", "n": [1, {"deep": None}]}, None),
    JSONObjects: ([{"key": "value"}, {"other": 2}], None),
    Sequence[int]: ([1, 2, 3], None),
    Sequence[str]: (["a", "b"], None),
    Sequence[Any]: ([1, "A", None], None),
    str | int | float: ("5.1", "5.1"),
    Codes: (["E11.9", "I10"], None),
    JSONObjectOrObjects: ([{"from_status": "", "to_status": "Arrived"}], None),
}


def wire_value(t: Any) -> Any:
    return _WIRE[strip_none(t)][0]


def python_value(t: Any) -> Any:
    wire, value = _WIRE[strip_none(t)]
    return wire if value is None else value  # JSON values stay as decoded


def full_payload(cls: type[Record]) -> dict[str, Any]:
    """Every documented key of `cls`, filled."""
    return {a.name: wire_value(a.type) for a in api_fields(cls)}


def minimal_payload(cls: type[Record]) -> dict[str, Any]:
    """Only the always-present keys of `cls` (the `id` of a writable endpoint included)."""
    return {a.name: wire_value(a.type) for a in api_fields(cls) if a.metadata["always_present"]}
