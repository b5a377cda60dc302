"""Field hooks: how one JSON value becomes one field value (and back).

Structure hooks take `(value, declared type)` as cattrs calls them, check the common case first
and raise on anything that does not fit (the record function turns that into a warning or a
`RecordDecodeError`). They are registered on the converter, one per scalar type, plus one
factory for `T | None` and one for `Sequence[T]`; a hook a user registers for a scalar type
therefore also reaches the optional and list fields of that type.
"""

from __future__ import annotations

import datetime as dt
import types
import typing
from collections.abc import Callable, Mapping, Sequence
from decimal import Decimal
from typing import Any

from drchrono_async.errors import InvalidRequestError
from drchrono_async.records._base import (
    Codes,
    DateRange,
    JSONObject,
    JSONObjectOrObjects,
    JSONObjects,
)

Hook = Callable[[Any, Any], Any]


class Mismatch(ValueError):
    """Raised by a field hook: the value does not fit the declared type."""


# Bounds on what a payload may ask the converter to build: an API integer is at most 64 bits
# (19 digits); decimals are money and measurements. Anything larger is refused like any value
# that does not fit, before it is expanded (`int()` of a long digit string is quadratic, and
# `format()` or arithmetic on `Decimal("1e999999999")` writes out a billion digits).
MAX_INT_CHARS = 40
_MAX_INT = 10**MAX_INT_CHARS
_MAX_DECIMAL_CHARS = 64
_MAX_DECIMAL_DIGITS = 40
_MAX_DECIMAL_EXPONENT = 40


# -- scalars ----------------------------------------------------------------------------------


def structure_str(v: Any, _: Any) -> str:
    if v.__class__ is str:
        return v
    # Ids have been seen both ways: an integer becomes its decimal string.
    if v.__class__ is int and -_MAX_INT < v < _MAX_INT:
        return str(v)
    raise Mismatch


def structure_int(v: Any, _: Any) -> int:
    if v.__class__ is int:
        return v
    if v.__class__ is str and len(v) <= MAX_INT_CHARS and v.isascii():
        digits = v[1:] if v[:1] == "-" else v
        if digits.isdigit():  # ASCII digits only: int() would also take "1_0", " 1"
            return int(v)
    if v.__class__ is float and v.is_integer():
        return int(v)
    raise Mismatch


def structure_bool(v: Any, _: Any) -> bool:
    if v is True or v is False:
        return v
    if v.__class__ is int and (v == 0 or v == 1):
        return v == 1
    raise Mismatch


def structure_float(v: Any, _: Any) -> float:
    if v.__class__ is float:
        return v
    if v.__class__ is int:
        return float(v)  # OverflowError past 1e308: does not fit
    raise Mismatch


def structure_decimal(v: Any, _: Any) -> Decimal:
    if v.__class__ is str:
        if len(v) > _MAX_DECIMAL_CHARS:
            raise Mismatch
        d = Decimal(v)
    elif v.__class__ is int:
        if v.bit_length() > 4 * _MAX_DECIMAL_DIGITS:
            raise Mismatch
        d = Decimal(v)
    elif v.__class__ is float:
        d = Decimal(repr(v))  # the shortest repr: 0.1 stays 0.1
    elif isinstance(v, Decimal):
        d = v
    else:
        raise Mismatch
    if not decimal_in_bounds(d):
        raise Mismatch
    return d


def decimal_in_bounds(d: Decimal) -> bool:
    """Finite, at most 40 digits, and its exponents within 10**-40 .. 10**40.

    Checked on the parsed value's exponent and digit count only (no arithmetic, no `int()`),
    so that a hostile `"1e999999999"` costs nothing.
    """
    _, digits, exponent = d.as_tuple()
    if not isinstance(exponent, int):  # NaN, sNaN, Infinity
        return False
    return (
        len(digits) <= _MAX_DECIMAL_DIGITS
        and exponent >= -_MAX_DECIMAL_EXPONENT
        and exponent + len(digits) <= _MAX_DECIMAL_EXPONENT + 1
    )


def structure_datetime(v: Any, _: Any) -> dt.datetime:
    if v.__class__ is str:
        d = dt.datetime.fromisoformat(v)
    elif isinstance(v, dt.datetime):
        d = v
    else:
        raise Mismatch
    if d.tzinfo is not None:
        d = d.replace(tzinfo=None)  # keep the wall time: see the package doc
    return d


def structure_date(v: Any, _: Any) -> dt.date:
    if v.__class__ is str:
        return dt.date.fromisoformat(v)
    if v.__class__ is dt.date:
        return v
    raise Mismatch


def structure_time(v: Any, _: Any) -> dt.time:
    if v.__class__ is str:
        t = dt.time.fromisoformat(v)
    elif v.__class__ is dt.time:
        t = v
    else:
        raise Mismatch
    if t.tzinfo is not None:
        t = t.replace(tzinfo=None)
    return t


def structure_date_range(v: Any, _: Any) -> DateRange:
    if v.__class__ is str:
        return DateRange.parse(v)
    if isinstance(v, DateRange):
        return v
    raise Mismatch


def structure_object(v: Any, _: Any) -> Mapping[str, Any]:
    if v.__class__ is dict or isinstance(v, Mapping):
        return v
    raise Mismatch


def structure_str_or_number(v: Any, _: Any) -> str | int | float:
    if v.__class__ is str or v.__class__ is int or v.__class__ is float:
        return v
    raise Mismatch


def structure_any(v: Any, _: Any) -> Any:
    return v


def structure_codes(v: Any, _: Any) -> Sequence[str]:
    """`Codes`: an array of strings, or the reference's comma-separated string."""
    if v.__class__ is str:
        return [c.strip() for c in v.split(",") if c.strip()]
    if v.__class__ is list or v.__class__ is tuple:
        for x in v:
            if x.__class__ is not str:
                raise Mismatch
        return v
    raise Mismatch


def structure_object_or_objects(v: Any, _: Any) -> Sequence[Mapping[str, Any]]:
    """`JSONObjectOrObjects`: an array of objects, or a lone object (wrapped)."""
    if v.__class__ is dict or isinstance(v, Mapping):
        return [v] if v else []
    if v.__class__ is list or v.__class__ is tuple:
        for x in v:
            if x.__class__ is not dict and not isinstance(x, Mapping):
                raise Mismatch
        return v
    raise Mismatch


# Hooks per declared (non-optional) type; the converter registers each of them.
SCALAR_HOOKS: dict[type[Any], Hook] = {
    str: structure_str,
    int: structure_int,
    bool: structure_bool,
    float: structure_float,
    Decimal: structure_decimal,
    dt.datetime: structure_datetime,
    dt.date: structure_date,
    dt.time: structure_time,
    DateRange: structure_date_range,
}
# Declared types that are not plain classes, matched by equality.
SPECIAL_HOOKS: dict[Any, Hook] = {
    JSONObject: structure_object,
    str | int | float: structure_str_or_number,
    Codes: structure_codes,
    JSONObjectOrObjects: structure_object_or_objects,
}

# Which values of an element type a list hook may keep without a call per element: the hooks
# whose common case is one exact class (the decoded list is then returned as it is).
_EXACT_CLASS: dict[Hook, tuple[type[Any], ...]] = {
    structure_str: (str,),
    structure_int: (int,),
    structure_object: (dict,),
}


# -- the two factories ------------------------------------------------------------------------


def strip_none(t: Any) -> Any:
    """`T` for `T | None` (either spelling of the union), else `t` itself."""
    if is_union(t):
        args = typing.get_args(t)
        if type(None) in args:
            rest = tuple(a for a in args if a is not type(None))
            out = rest[0]
            for r in rest[1:]:
                out = out | r
            return out
    return t


def is_union(t: Any) -> bool:
    return t.__class__ is types.UnionType or typing.get_origin(t) is typing.Union


def is_optional(t: Any) -> bool:
    return strip_none(t) is not t


def admits_str(t: Any) -> bool:
    return t is str or str in typing.get_args(t)


def make_optional(inner: Hook, inner_type: Any) -> Hook:
    """The hook of `T | None`: blanks are `None`, anything else goes to `T`'s hook.

    A blank is `null`, or `""` where `T` is not a string type (there `""` stays `""`).
    """
    if admits_str(inner_type):

        def optional(v: Any, _: Any) -> Any:
            if v is None:
                return None
            return inner(v, inner_type)

    else:

        def optional(v: Any, _: Any) -> Any:
            if v is None or (v.__class__ is str and not v):
                return None
            return inner(v, inner_type)

    optional.inner = inner  # type: ignore[attr-defined]  # lets the record function inline
    return optional


def is_sequence(t: Any) -> bool:
    return typing.get_origin(t) is Sequence


def make_sequence(inner: Hook, inner_type: Any) -> Hook:
    """The hook of `Sequence[T]`: a JSON array whose elements fit `T`.

    The decoded list is returned as it is when every element already has the exact class
    `T`'s hook keeps (the common case, no copy); otherwise each element goes through `T`'s
    hook (coercions included) into a new list.
    """
    if inner_type is Any:

        def any_sequence(v: Any, _: Any) -> Sequence[Any]:
            if v.__class__ is list or v.__class__ is tuple:
                return v
            raise Mismatch

        return any_sequence
    exact = _EXACT_CLASS.get(inner, ())

    def sequence(v: Any, _: Any) -> Sequence[Any]:
        if v.__class__ is not list and v.__class__ is not tuple:
            raise Mismatch
        for x in v:
            if x.__class__ not in exact:
                return [inner(x, inner_type) for x in v]
        return v

    return sequence


# -- what a mismatch is called in messages ----------------------------------------------------

_REASONS: dict[Any, str] = {
    str: "expected a string",
    int: "expected an integer",
    bool: "expected a boolean",
    float: "expected a number",
    Decimal: "expected a decimal",
    dt.datetime: "expected a timestamp",
    dt.date: "expected a date",
    dt.time: "expected a time",
    DateRange: "expected a date range",
    JSONObject: "expected an object",
    JSONObjects: "expected an array of objects",
    JSONObjectOrObjects: "expected an array of objects",
    Codes: "expected an array of strings",
    Sequence[int]: "expected an array of integers",
    Sequence[str]: "expected an array of strings",
    Sequence[Any]: "expected an array",
    str | int | float: "expected a string or a number",
}


def reason(t: Any) -> str:
    """Names what a field of declared type `t` expects (never the value it got)."""
    try:
        return _REASONS.get(strip_none(t), "does not fit")
    except TypeError:  # an unhashable type annotation
        return "does not fit"


# -- unstructuring: JSON-ready values, no timezone suffixes, decimals as strings -------------


def unstructure_datetime(v: dt.datetime) -> str:
    if v.tzinfo is not None:
        v = v.replace(tzinfo=None)
    return v.isoformat()


def unstructure_time(v: dt.time) -> str:
    if v.tzinfo is not None:
        v = v.replace(tzinfo=None)
    return v.isoformat()


def unstructure_date(v: dt.date) -> str:
    return v.isoformat()


def unstructure_decimal(v: Decimal) -> str:
    if not decimal_in_bounds(v):
        # Written out, 1E+999999999 would be a gigabyte of zeros.
        raise InvalidRequestError("a decimal field is not finite or out of range")
    return format(v, "f")


def unstructure_date_range(v: DateRange) -> str:
    return str(v)


FORMATTERS: dict[type[Any], Callable[[Any], Any]] = {
    dt.datetime: unstructure_datetime,
    dt.date: unstructure_date,
    dt.time: unstructure_time,
    Decimal: unstructure_decimal,
    DateRange: unstructure_date_range,
}
