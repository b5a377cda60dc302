"""A row's typed column values: checked against their column's type, converted, or NULL.

The rule (the same in every store): a scalar that does not fit its column's type is stored
as NULL in that column, the payload keeps it exactly as received, and a warning names the
resource, the record's id and the field, never the value. A record never stops its page:
one odd value from the server must not leave every later page of a resource unstored.

What does not fit, per column type (None always fits):

- integer: not an `int` (a bool is not one), or outside a signed 64-bit integer;
- real: not a float or int, or not finite (NaN, infinity, an int beyond a double);
- decimal: not a `Decimal` or int, not finite, or beyond PostgreSQL's `numeric` (131,072
  digits before the point, 16,383 after);
- boolean: not a bool; date: not a date (a datetime is not one); time, timestamp: not one;
- text: not a str, or not encodable as UTF-8 (a lone surrogate); for PostgreSQL also a
  string holding U+0000, which its `text` cannot store.

Times and timestamps with a timezone are stored without it (the API's times are naive
practice-local wall times; the record converter reads them so too).
"""

from __future__ import annotations

import datetime as dt
import logging
import math
from collections.abc import Callable, Mapping, Sequence
from decimal import Decimal
from typing import Any

from ..errors import InvalidRequestError
from ._sql import BASE_COLUMNS, check_name
from ._store import ColumnType

__all__ = ["ColumnValues", "fits", "fitter", "warn_misfit"]

logger = logging.getLogger("drchrono_async.sync")

_I64_MIN, _I64_MAX = -(2**63), 2**63 - 1
_NUMERIC_WHOLE_DIGITS = 131_072
_NUMERIC_FRACTION_DIGITS = 16_383


def _integer(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and _I64_MIN <= value <= _I64_MAX


def _real(value: Any) -> bool:
    if value.__class__ is float:
        return math.isfinite(value)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    try:
        return math.isfinite(float(value))
    except OverflowError:  # an int beyond a double
        return False


def _decimal(value: Any) -> bool:
    if isinstance(value, bool):
        return False
    if isinstance(value, int):
        value = Decimal(value)
    elif not isinstance(value, Decimal):
        return False
    if not value.is_finite():
        return False
    exponent = value.as_tuple().exponent
    assert isinstance(exponent, int)  # finite: never "n", "N" or "F"
    return value.adjusted() < _NUMERIC_WHOLE_DIGITS and -exponent <= _NUMERIC_FRACTION_DIGITS


def _text(value: Any) -> bool:
    if not isinstance(value, str):
        return False
    if value.isascii():
        return True
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate: no database takes it as text
        return False
    return True


def _text_no_nul(value: Any) -> bool:
    return _text(value) and "\x00" not in value


_FITS: dict[str, Callable[[Any], bool]] = {
    "integer": _integer,
    "real": _real,
    "decimal": _decimal,
    "boolean": lambda v: v.__class__ is bool,
    "date": lambda v: isinstance(v, dt.date) and not isinstance(v, dt.datetime),
    "time": lambda v: isinstance(v, dt.time),
    "timestamp": lambda v: isinstance(v, dt.datetime),
    "text": _text,
}


def fits(type_: ColumnType, value: object, *, nul_in_text: bool = True) -> bool:
    """Whether `value` fits a column of `type_` (None always does); see the module's rule."""
    if value is None:
        return True
    return fitter(type_, nul_in_text=nul_in_text)(value)


def fitter(type_: ColumnType, *, nul_in_text: bool = True) -> Callable[[Any], bool]:
    """`fits` for one column type, for a value that is not None (looked up once, called per
    value)."""
    if type_ == "text" and not nul_in_text:
        return _text_no_nul
    return _FITS[type_]


# Values taken without a further look: the common case, checked at C speed per row.
_PLAIN: dict[str, frozenset[type]] = {
    "boolean": frozenset({bool}),
    "date": frozenset({dt.date}),
    "time": frozenset({dt.time}),
    "timestamp": frozenset({dt.datetime}),
    # These need a look at the value as well (range, finiteness, NUL), done per column below.
    "integer": frozenset(),
    "real": frozenset(),
    "decimal": frozenset(),
    "text": frozenset(),
}
_LOOKED_AT = ("integer", "real", "decimal", "text")


class ColumnValues:
    """Checks a row's column values against their types and converts them, in table order.

    `names`: the table's typed columns in order; `declared`: the types the record class
    declares now. A column the table has but the class no longer declares (columns are never
    dropped) is written NULL; a value for a column the table does not have is refused
    (`InvalidRequestError`: the caller's rows do not match `ensure_resource()`).
    `nul_in_text`: whether the store's text columns take U+0000.
    """

    def __init__(
        self,
        resource: str,
        names: Sequence[str],
        declared: Mapping[str, ColumnType],
        convert: Mapping[str, Callable[[Any], Any] | None],
        *,
        nul_in_text: bool = True,
    ) -> None:
        self.resource = resource
        self.names = tuple(names)
        self.declared = dict(declared)
        self.known = BASE_COLUMNS | set(declared)
        self._types: list[ColumnType | None] = [declared.get(n) for n in self.names]
        self._nul_in_text = nul_in_text
        # Per column, the exact types taken at once; a column no longer declared takes only
        # None (anything else there is written NULL, without a warning: nobody reads it).
        self._fast = [frozenset({type(None)} | (_PLAIN[t] if t else set())) for t in self._types]
        text_fits = _text if nul_in_text else _text_no_nul
        self._looked_at = [
            (i, text_fits if t == "text" else _FITS[t])
            for i, t in enumerate(self._types)
            if t in _LOOKED_AT
        ]
        self._convert = [
            (i, f) for i, t in enumerate(self._types) if t and (f := convert[t]) is not None
        ]
        self._zoned = [i for i, t in enumerate(self._types) if t in ("time", "timestamp")]

    def __call__(self, row_id: str, values: Mapping[str, Any]) -> tuple[list[Any], int]:
        """The row's values in table order, and how many were misfits stored as NULL."""
        if not self.known.issuperset(values):
            for name in values:
                if name not in self.known:
                    check_name(name, "a column name")
                    raise InvalidRequestError(
                        f"{self.resource} has no column {name}; see ensure_resource()"
                    )
        out = [values.get(n) for n in self.names]
        misfits = 0
        # C-level loop over the columns: this runs for every row of every page.
        if not all(map(frozenset.__contains__, self._fast, map(type, out))):
            for i, (type_, value) in enumerate(zip(self._types, out, strict=True)):
                if value is None or type_ in _LOOKED_AT:
                    continue
                if type_ is None:
                    out[i] = None  # no longer declared
                elif not _FITS[type_](value):
                    out[i] = None
                    misfits += self._warn(row_id, i)
        for i, fit in self._looked_at:
            value = out[i]
            if value is not None and not fit(value):
                out[i] = None
                misfits += self._warn(row_id, i)
        for i in self._zoned:
            value = out[i]
            if value is not None and value.tzinfo is not None:
                out[i] = value.replace(tzinfo=None)
        for i, convert in self._convert:
            value = out[i]
            if value is not None:
                out[i] = convert(value)
        return out, misfits

    def _warn(self, row_id: str, index: int) -> int:
        warn_misfit(self.resource, row_id, self.names[index], self._types[index])
        return 1


def warn_misfit(table: str, row_id: str, column: str, type_: str | None) -> None:
    """The misfit warning: the table, the (parent) id and the column, never the value (it
    may be patient data)."""
    logger.warning(
        "sync: %s %s: field %s does not fit its %s column; stored NULL there (the "
        "payload keeps it as received)",
        table,
        row_id,
        column,
        type_,
    )
