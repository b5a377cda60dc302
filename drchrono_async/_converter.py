"""The cattrs converter between API JSON and the typed records.

`converter.structure(payload, Appointment)` builds a record; `converter.unstructure(record)`
gives back the JSON-ready dict (all declared fields, then the `extra` keys);
`converter.unstructure_writable(record)` gives the body of a create or update (writable fields
that are set, never read-only ones).

How values are read (the same in lenient and strict mode):

- Timestamps: anything `datetime.fromisoformat` reads: with or without fractional seconds,
  `T` or a space, a bare date (midnight). The API's timestamps are naive local times; if an
  offset or `Z` appears anyway, the wall time is kept and the offset dropped, so that the value
  stays comparable with every other (naive, local) timestamp of the same practice. Written back
  with `isoformat()` and no suffix (the API rejects `Z` and offsets); a `tzinfo` on a record
  built in code is dropped the same way.
- Decimals: from strings, integers or floats (via their shortest repr, so `0.1` stays `0.1`);
  non-finite values do not fit. Written as plain strings (`"123.45"`, never an exponent).
- Blanks: `null` or `""` in an optional field of a non-string type is `None`; in an optional
  string field `null` is `None` and `""` stays `""`.
- Lossless coercions: an integer where a string is declared becomes its decimal string (ids
  have been seen both ways); a string of ASCII digits, or an integral float, where an integer
  is declared becomes that integer; `0` / `1` where a boolean is declared become `False` /
  `True`. Nothing else is coerced: a `bool` never counts as a number.
- Nested "object" values stay the decoded JSON (checked to be a mapping / a list of them).
- Sizes: an integer written as a string has at most 40 characters; a decimal at most 40
  digits and an exponent within 1e-40 .. 1e40 (so that `"1e999999999"` is refused before
  anything expands it). Larger values do not fit.

Speed: the converter is a cattrs `Converter` and records reach it through a cattrs hook
factory, but the per-class structure function is generated here rather than by cattrs'
`make_dict_structure_fn`: it checks the common case of each scalar field inline (no call per
field) and fills the frozen instance's slots directly, bypassing `__init__`. On a page of 250
appointments that is about 1.5x faster than cattrs' function with the same hooks, which is what
brings decode + structure under pydantic v2 (benchmarks/decode.py keeps both rows).

What does not fit: in the fast path, blanks, coercions and wrong types go through the field's
hook, which raises on a mismatch; any exception sends the record to a slow path that
structures the fields one by one. The lenient converter (the default) then sets each
offending field to `None`, keeps the value in `record.raw` and emits a `RecordDecodeWarning`
naming the record type and the field; a missing always-present field is handled the same
way (the record still reaches the caller, its annotation notwithstanding), and so is a
missing, `null` or blank `id` (a sync keys on it; the `id` of a writable endpoint is typed
optional only for records built in code for a create). The strict
converter raises `RecordDecodeError` instead. A payload that is not a JSON object cannot
become a record and raises `RecordDecodeError` in both modes.

Warnings rather than log records: the `warnings` machinery shows each distinct message (record
type and field, never the value) once per process by default, so a sync of 100k records with
one drifted field reports it once instead of 100k times; callers can turn it into an error, or
record it, with the standard filters.
"""

from __future__ import annotations

import datetime as dt
import linecache
import warnings
from collections.abc import Callable, Mapping, Sequence
from decimal import Decimal
from types import MappingProxyType
from typing import Any, TypeVar

import attrs
import cattrs
from cattrs.fns import identity
from cattrs.gen import make_dict_unstructure_fn, override

from drchrono_async.errors import InvalidRequestError, RecordDecodeError
from drchrono_async.records._base import (
    Codes,
    DateRange,
    JSONObject,
    JSONObjectOrObjects,
    JSONObjects,
    Record,
    api_fields,
    is_record_class,
    writable_fields,
)

__all__ = [
    "DrChronoConverter",
    "RecordDecodeWarning",
    "converter",
    "make_converter",
]

R = TypeVar("R", bound=Record)
_Hook = Callable[[Any, Any], Any]


class RecordDecodeWarning(UserWarning):
    """A value did not fit its record field and was read as `None` (lenient converter).

    The message names the record type and the field, never the value.
    """


class _Mismatch(ValueError):
    """Raised by a field hook; the fast path turns any exception into the slow path."""


# ---------------------------------------------------------------------------------------------
# Field hooks. Each takes (value, type) as cattrs calls them and checks the common case first.


# Bounds on what a payload may ask the converter to build: an API integer is at most 64 bits
# (19 digits); decimals are money and measurements. Anything larger is refused like any value
# that does not fit, before it is expanded (`int()` of a long digit string is quadratic, and
# `format()` or arithmetic on `Decimal("1e999999999")` writes out a billion digits).
_MAX_INT_CHARS = 40
_MAX_INT = 10**_MAX_INT_CHARS
_MAX_DECIMAL_CHARS = 64
_MAX_DECIMAL_DIGITS = 40
_MAX_DECIMAL_EXPONENT = 40


def _coerce_str(v: Any) -> str:
    if v.__class__ is int and -_MAX_INT < v < _MAX_INT:
        return str(v)
    raise _Mismatch


def _coerce_int(v: Any) -> int:
    if v.__class__ is str and len(v) <= _MAX_INT_CHARS and v.isascii():
        digits = v[1:] if v[:1] == "-" else v
        if (
            digits.isdigit()
        ):  # ASCII digits only: int() would also take "1_0", " 1", non-ASCII digits
            return int(v)
    if v.__class__ is float and v.is_integer():
        return int(v)
    raise _Mismatch


def _str(v: Any, _: Any) -> str:
    if v.__class__ is str:
        return v
    return _coerce_str(v)


def _opt_str(v: Any, _: Any) -> str | None:
    if v.__class__ is str or v is None:
        return v
    return _coerce_str(v)


def _int(v: Any, _: Any) -> int:
    if v.__class__ is int:
        return v
    return _coerce_int(v)


def _opt_int(v: Any, _: Any) -> int | None:
    if v.__class__ is int or v is None:
        return v
    if v == "":
        return None
    return _coerce_int(v)


def _bool(v: Any, _: Any) -> bool:
    if v is True or v is False:
        return v
    if v.__class__ is int and (v == 0 or v == 1):
        return v == 1
    raise _Mismatch


def _opt_bool(v: Any, _: Any) -> bool | None:
    if v is True or v is False or v is None:
        return v
    if v == "":
        return None
    return _bool(v, _)


def _float(v: Any, _: Any) -> float:
    if v.__class__ is float:
        return v
    if v.__class__ is int:
        return float(v)
    raise _Mismatch


def _opt_float(v: Any, _: Any) -> float | None:
    if v is None or v == "":
        return None
    return _float(v, _)


def _decimal(v: Any, _: Any) -> Decimal:
    if v.__class__ is str:
        if len(v) > _MAX_DECIMAL_CHARS:
            raise _Mismatch
        d = Decimal(v)
    elif v.__class__ is int:
        if v.bit_length() > 4 * _MAX_DECIMAL_DIGITS:
            raise _Mismatch
        d = Decimal(v)
    elif v.__class__ is float:
        d = Decimal(repr(v))
    elif isinstance(v, Decimal):
        d = v
    else:
        raise _Mismatch
    if not _decimal_in_bounds(d):
        raise _Mismatch
    return d


def _decimal_in_bounds(d: Decimal) -> bool:
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


def _opt_decimal(v: Any, _: Any) -> Decimal | None:
    if v is None or v == "":
        return None
    return _decimal(v, _)


_fromisoformat = dt.datetime.fromisoformat


def _datetime(v: Any, _: Any) -> dt.datetime:
    if v.__class__ is str:
        d = _fromisoformat(v)
    elif isinstance(v, dt.datetime):
        d = v
    else:
        raise _Mismatch
    if d.tzinfo is not None:
        d = d.replace(tzinfo=None)  # keep the wall time: see the module doc
    return d


def _opt_datetime(v: Any, _: Any) -> dt.datetime | None:
    if v is None or v == "":
        return None
    return _datetime(v, _)


def _date(v: Any, _: Any) -> dt.date:
    if v.__class__ is str:
        return dt.date.fromisoformat(v)
    if v.__class__ is dt.date:
        return v
    raise _Mismatch


def _opt_date(v: Any, _: Any) -> dt.date | None:
    if v is None or v == "":
        return None
    return _date(v, _)


def _time(v: Any, _: Any) -> dt.time:
    if v.__class__ is str:
        t = dt.time.fromisoformat(v)
    elif v.__class__ is dt.time:
        t = v
    else:
        raise _Mismatch
    if t.tzinfo is not None:
        t = t.replace(tzinfo=None)
    return t


def _opt_time(v: Any, _: Any) -> dt.time | None:
    if v is None or v == "":
        return None
    return _time(v, _)


def _date_range(v: Any, _: Any) -> DateRange:
    if v.__class__ is str:
        return DateRange.parse(v)
    if isinstance(v, DateRange):
        return v
    raise _Mismatch


def _opt_date_range(v: Any, _: Any) -> DateRange | None:
    if v is None or v == "":
        return None
    return _date_range(v, _)


def _object(v: Any, _: Any) -> Mapping[str, Any]:
    if v.__class__ is dict or isinstance(v, Mapping):
        return v
    raise _Mismatch


def _opt_object(v: Any, _: Any) -> Mapping[str, Any] | None:
    if v.__class__ is dict or v is None:
        return v
    if v == "":
        return None
    return _object(v, _)


def _objects(v: Any, _: Any) -> Sequence[Mapping[str, Any]]:
    if v.__class__ is list or v.__class__ is tuple:
        for x in v:
            if x.__class__ is not dict and not isinstance(x, Mapping):
                raise _Mismatch
        return v
    raise _Mismatch


def _ints(v: Any, _: Any) -> Sequence[int]:
    if v.__class__ is list or v.__class__ is tuple:
        for x in v:
            if x.__class__ is not int:
                # Some lists of ids have been published as strings: coerce losslessly.
                return [_int(x, None) for x in v]
        return v
    raise _Mismatch


def _codes(v: Any, _: Any) -> Sequence[str]:
    """`Codes`: an array of strings, or the reference's comma-separated string."""
    if v.__class__ is str:
        return [c.strip() for c in v.split(",") if c.strip()]
    return _strs(v, _)


def _object_or_objects(v: Any, _: Any) -> Sequence[Mapping[str, Any]]:
    """`JSONObjectOrObjects`: an array of objects, or a lone object (wrapped)."""
    if v.__class__ is dict or isinstance(v, Mapping):
        return [v] if v else []
    return _objects(v, _)


def _strs(v: Any, _: Any) -> Sequence[str]:
    if v.__class__ is list or v.__class__ is tuple:
        for x in v:
            if x.__class__ is not str:
                raise _Mismatch
        return v
    raise _Mismatch


def _anys(v: Any, _: Any) -> Sequence[Any]:
    if v.__class__ is list or v.__class__ is tuple:
        return v
    raise _Mismatch


def _optional(hook: _Hook) -> _Hook:
    def opt(v: Any, t: Any) -> Any:
        if v is None or v == "":
            return None
        return hook(v, t)

    return opt


def _str_or_number(v: Any, _: Any) -> str | int | float:
    if v.__class__ is str or v.__class__ is int or v.__class__ is float:
        return v
    raise _Mismatch


def _opt_str_or_number(v: Any, _: Any) -> str | int | float | None:
    if v is None:
        return None
    return _str_or_number(v, _)


# Declared type -> (hook, what a mismatch is called in messages).
_HOOKS: dict[Any, tuple[_Hook, str]] = {
    str: (_str, "expected a string"),
    str | None: (_opt_str, "expected a string"),
    int: (_int, "expected an integer"),
    int | None: (_opt_int, "expected an integer"),
    bool: (_bool, "expected a boolean"),
    bool | None: (_opt_bool, "expected a boolean"),
    float: (_float, "expected a number"),
    float | None: (_opt_float, "expected a number"),
    Decimal: (_decimal, "expected a decimal"),
    Decimal | None: (_opt_decimal, "expected a decimal"),
    dt.datetime: (_datetime, "expected a timestamp"),
    dt.datetime | None: (_opt_datetime, "expected a timestamp"),
    dt.date: (_date, "expected a date"),
    dt.date | None: (_opt_date, "expected a date"),
    dt.time: (_time, "expected a time"),
    dt.time | None: (_opt_time, "expected a time"),
    DateRange: (_date_range, "expected a date range"),
    DateRange | None: (_opt_date_range, "expected a date range"),
    JSONObject: (_object, "expected an object"),
    JSONObject | None: (_opt_object, "expected an object"),
    JSONObjects: (_objects, "expected an array of objects"),
    JSONObjects | None: (_optional(_objects), "expected an array of objects"),
    Sequence[int]: (_ints, "expected an array of integers"),
    Sequence[int] | None: (_optional(_ints), "expected an array of integers"),
    Sequence[str]: (_strs, "expected an array of strings"),
    Sequence[str] | None: (_optional(_strs), "expected an array of strings"),
    Sequence[Any]: (_anys, "expected an array"),
    Sequence[Any] | None: (_optional(_anys), "expected an array"),
    Codes: (_codes, "expected an array of strings"),
    Codes | None: (_optional(_codes), "expected an array of strings"),
    JSONObjectOrObjects: (_object_or_objects, "expected an array of objects"),
    JSONObjectOrObjects | None: (_optional(_object_or_objects), "expected an array of objects"),
    str | int | float: (_str_or_number, "expected a string or a number"),
    str | int | float | None: (_opt_str_or_number, "expected a string or a number"),
}


# ---------------------------------------------------------------------------------------------
# Unstructuring: JSON-ready values, no timezone suffixes, decimals as strings.


def _fmt_datetime(v: dt.datetime) -> str:
    if v.tzinfo is not None:
        v = v.replace(tzinfo=None)
    return v.isoformat()


def _fmt_time(v: dt.time) -> str:
    if v.tzinfo is not None:
        v = v.replace(tzinfo=None)
    return v.isoformat()


def _fmt_date(v: dt.date) -> str:
    return v.isoformat()


def _fmt_decimal(v: Decimal) -> str:
    if not _decimal_in_bounds(v):
        # Written out, 1E+999999999 would be a gigabyte of zeros.
        raise InvalidRequestError("a decimal field is not finite or out of range")
    return format(v, "f")


def _fmt_date_range(v: DateRange) -> str:
    return str(v)


_FORMATTERS: dict[Any, Callable[[Any], Any]] = {
    dt.datetime: _fmt_datetime,
    dt.date: _fmt_date,
    dt.time: _fmt_time,
    Decimal: _fmt_decimal,
    DateRange: _fmt_date_range,
}


def _unstructure_hook_for(t: Any) -> Callable[[Any], Any]:
    """A per-field unstructure hook; `identity` lets cattrs inline plain JSON values."""
    base = _strip_none(t)
    fmt = _FORMATTERS.get(base)
    if fmt is None:
        return identity
    if base is t:
        return fmt

    def opt(v: Any, _fmt: Callable[[Any], Any] = fmt) -> Any:
        return None if v is None else _fmt(v)

    return opt


def _strip_none(t: Any) -> Any:
    args = getattr(t, "__args__", None)
    if args and type(None) in args and t.__class__ is type(int | None):
        rest = tuple(a for a in args if a is not type(None))
        if len(rest) == 1:
            return rest[0]
    return t


# ---------------------------------------------------------------------------------------------


class DrChronoConverter(cattrs.Converter):
    """A cattrs `Converter` that knows the API's value formats and the record classes.

    `strict=False` (the default): a value that does not fit becomes `None` with a
    `RecordDecodeWarning`. `strict=True`: it raises `RecordDecodeError`.
    """

    def __init__(self, *, strict: bool = False, **kwargs: Any) -> None:
        kwargs.setdefault("detailed_validation", False)
        kwargs.setdefault("forbid_extra_keys", False)
        super().__init__(**kwargs)
        self.strict = strict
        self._writers: dict[type[Any], tuple[tuple[str, Callable[[Any], Any]], ...]] = {}
        for t, (hook, _) in _HOOKS.items():
            self.register_structure_hook_func(_same_type(t), hook)
        self.register_unstructure_hook(dt.datetime, _fmt_datetime)
        self.register_unstructure_hook(dt.date, _fmt_date)
        self.register_unstructure_hook(dt.time, _fmt_time)
        self.register_unstructure_hook(Decimal, _fmt_decimal)
        self.register_unstructure_hook(DateRange, _fmt_date_range)
        self.register_structure_hook_factory(is_record_class, self._record_structure_hook)
        self.register_unstructure_hook_factory(is_record_class, self._record_unstructure_hook)

    # -- reading ------------------------------------------------------------------------------

    def _field_hook(self, t: Any) -> tuple[_Hook, str]:
        try:
            return _HOOKS[t]
        except (KeyError, TypeError):
            # A type outside the reference's vocabulary: defer to cattrs.
            return self.get_structure_hook(t), "does not fit"

    def _record_structure_hook(self, cls: type[R]) -> Callable[[Any, Any], R]:
        fields = api_fields(cls)
        hooks = {a.name: self._field_hook(a.type) for a in fields}
        slow_spec = tuple(
            (
                a.name,
                a.type,
                hooks[a.name][0],
                hooks[a.name][1],
                a.default is attrs.NOTHING,
                _is_key(a),
            )
            for a in fields
        )
        known = frozenset(hooks)
        name = cls.__name__
        strict = self.strict
        set_raw, set_extra = _slot_setter(cls, "raw"), _slot_setter(cls, "extra")

        def slow(o: Mapping[str, Any]) -> R:
            kwargs: dict[str, Any] = {}
            for field, t, hook, reason, required, key in slow_spec:
                if field in o:
                    value = o[field]
                    if key and _blank(value):
                        problem = "blank"
                    else:
                        try:
                            kwargs[field] = hook(value, t)
                            continue
                        except Exception:
                            problem = reason
                elif required or key:
                    problem = "missing"
                else:
                    continue
                if strict:
                    raise RecordDecodeError(name, field, problem) from None
                # stacklevel=1: one fixed location, so the default filter shows each
                # (record type, field, problem) once per process, however many records.
                warnings.warn(
                    f"{name}.{field} read as None: {problem}", RecordDecodeWarning, stacklevel=1
                )
                kwargs[field] = None
            return cls(**kwargs)

        def fallback(o: Any) -> R:
            if o.__class__ is not dict and not isinstance(o, Mapping):
                raise RecordDecodeError(name, "(record)", "not a JSON object")
            inst = slow(o)
            set_raw(inst, o)
            set_extra(inst, _extra(o, known))
            return inst

        return _generate_structure_fn(
            cls, fields, {n: h for n, (h, _) in hooks.items()}, known, fallback
        )

    def structure_many(self, objs: Sequence[Any], cls: type[R]) -> list[R]:
        """Structure a page of results (a list of JSON objects) into records."""
        hook = self.get_structure_hook(cls)
        return [hook(o, cls) for o in objs]

    # -- writing ------------------------------------------------------------------------------

    def _record_unstructure_hook(self, cls: type[Record]) -> Callable[[Any], dict[str, Any]]:
        overrides: dict[str, Any] = {"raw": override(omit=True), "extra": override(omit=True)}
        for a in api_fields(cls):
            overrides[a.name] = override(unstruct_hook=_unstructure_hook_for(a.type))
        gen = make_dict_unstructure_fn(cls, self, **overrides)

        def unstructure(record: Record) -> dict[str, Any]:
            out = gen(record)
            if record.extra:
                for k, v in record.extra.items():
                    out.setdefault(k, v)  # a declared field wins over a stray extra key
            return out

        return unstructure

    def unstructure_writable(
        self, record: Record, *, include_extra: bool = False
    ) -> dict[str, Any]:
        """The body of a create or update: the writable fields that are not `None`.

        Read-only fields are never sent. `include_extra=True` also sends the `extra` keys
        (their writability is unknown; the API ignores read-only keys it receives).
        """
        cls = type(record)
        writers = self._writers.get(cls)
        if writers is None:
            writers = tuple((a.name, _unstructure_hook_for(a.type)) for a in writable_fields(cls))
            self._writers[cls] = writers
        out: dict[str, Any] = {}
        if include_extra:
            out.update(record.extra)
        for field, fmt in writers:
            value = getattr(record, field)
            if value is not None:
                out[field] = fmt(value)
        return out


def _is_key(a: attrs.Attribute[Any]) -> bool:
    """The documented-always `id`: a sync keys on it, so a record without one does not fit.

    (The `id` of a writable endpoint is typed `... | None` only so that a record can be built
    in code for a create; a record read from the API always has one.)
    """
    return a.name == "id" and bool(a.metadata.get("always_present"))


def _blank(v: Any) -> bool:
    return v is None or (v.__class__ is str and not v.strip())


def _slot_setter(cls: type[Any], name: str) -> Callable[[Any, Any], None]:
    """The `__set__` of a slot: fills a frozen record's field without its `__setattr__`."""
    for klass in cls.__mro__:
        if name in klass.__dict__:
            setter: Callable[[Any, Any], None] = klass.__dict__[name].__set__
            return setter
    raise AttributeError(name)


# Declared types whose happy path is one class check: `v.__class__ is X`.
_CLASS_CHECKED: dict[Any, str] = {
    str: "str",
    int: "int",
    bool: "bool",
    float: "float",
    JSONObject: "dict",
}
_ISO_PARSERS: dict[Any, Callable[[str], Any]] = {
    dt.datetime: dt.datetime.fromisoformat,
    dt.date: dt.date.fromisoformat,
    dt.time: dt.time.fromisoformat,
}


_EMPTY: Mapping[str, Any] = MappingProxyType({})


def _extra(o: Mapping[str, Any], known: frozenset[str]) -> Mapping[str, Any]:
    """The undeclared keys of `o`; a shared read-only empty mapping when there are none."""
    if o.keys() <= known:
        return _EMPTY
    return {k: v for k, v in o.items() if k not in known}


def _generate_structure_fn(
    cls: type[R],
    fields: Sequence[attrs.Attribute[Any]],
    hooks: Mapping[str, _Hook],
    known: frozenset[str],
    fallback: Callable[[Any], R],
) -> Callable[[Any, Any], R]:
    """Generate the structure function of one record class: the hot path of every sync.

    Like cattrs' `make_dict_structure_fn`, but the common case of each scalar field is checked
    inline (no call per field) and the instance's slots are filled directly, which is about
    twice as fast on a page of appointments (see benchmarks/decode.py). Anything unusual
    (blanks, coercions, a wrong type) goes through the field's hook; any exception sends the
    whole record to `fallback` (the slow path), which decides per field.
    """
    ns: dict[str, Any] = {
        "_new": object.__new__,
        "_cls": cls,
        "_fallback": fallback,
        "_extra": _extra,
        "_known": known,
        "_set_raw": _slot_setter(cls, "raw"),
        "_set_extra": _slot_setter(cls, "extra"),
    }
    body = ["g = o.get"]
    for i, a in enumerate(fields):
        v, h = f"v{i}", f"h{i}"
        ns[h] = hooks[a.name]
        ns[f"s{i}"] = _slot_setter(cls, a.name)
        base = _strip_none(a.type)
        optional = base is not a.type
        body.append(f"{v} = g({a.name!r})")
        if _is_key(a):
            # Missing, null or blank: the slow path says which (see `_is_key`).
            ns["_Mismatch"] = _Mismatch
            body.append(
                f"if {v} is None or ({v}.__class__ is str and not {v}.strip()): raise _Mismatch"
            )
        if base in _CLASS_CHECKED:
            check = f"{v}.__class__ is not {_CLASS_CHECKED[base]}"
            if optional:
                check += f" and {v} is not None"
            body.append(f"if {check}: {v} = {h}({v}, None)")
        elif base in _ISO_PARSERS:
            ns[f"p{i}"] = _ISO_PARSERS[base]
            body.append(f"if {v}.__class__ is str and {v}:")
            body.append(f"    {v} = p{i}({v})")
            if base is not dt.date:
                # An offset is dropped, keeping the wall time (see the module doc).
                body.append(f"    if {v}.tzinfo is not None: {v} = {v}.replace(tzinfo=None)")
            body.append(
                f"elif {v} is not None: {v} = {h}({v}, None)"
                if optional
                else f"else: {v} = {h}({v}, None)"
            )
        elif optional:
            body.append(f"if {v} is not None: {v} = {h}({v}, None)")
        else:
            body.append(f"{v} = {h}({v}, None)")
    body.append("i = _new(_cls)")
    body += [f"s{i}(i, v{i})" for i in range(len(fields))]
    body += ["_set_raw(i, o)", "_set_extra(i, _extra(o, _known))", "return i"]
    lines = [f"def structure_{cls.__name__}(o, _=None):", "    try:"]
    lines += [f"        {line}" for line in body]
    lines += ["    except Exception:", "        return _fallback(o)"]
    source = "\n".join(lines)
    filename = f"<drchrono_async generated structure {cls.__module__}.{cls.__qualname__}>"
    linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
    exec(compile(source, filename, "exec"), ns)
    structure: Callable[[Any, Any], R] = ns[f"structure_{cls.__name__}"]
    return structure


def _same_type(t: Any) -> Callable[[Any], bool]:
    def predicate(other: Any) -> bool:
        try:
            return bool(other == t)
        except Exception:
            return False

    return predicate


def make_converter(*, strict: bool = False) -> DrChronoConverter:
    """A new converter; `strict=True` raises `RecordDecodeError` where the lenient one warns."""
    return DrChronoConverter(strict=strict)


converter: DrChronoConverter = make_converter()
"""The default, lenient converter."""
