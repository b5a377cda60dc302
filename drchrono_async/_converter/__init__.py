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

Custom hooks: the converter is a cattrs `Converter` and the record fields take their hooks
from it. `converter.register_structure_hook(dt.datetime, my_hook)` changes every `datetime`
and `datetime | None` field of every record, as it changes `converter.structure(x,
dt.datetime)`; registering a hook for `dt.datetime | None` (or any field's exact type) changes
only the fields of that type. cattrs clears its hook cache on every registration, so a hook
registered after records were already read applies from the next `structure` call on. Use
`make_converter()` for a converter of your own: hooks registered on the shared default
`converter` change what every client built without `converter=` reads.

Speed: the per-class function checks the common case of this package's own scalar hooks
inline and, where the record class's `__init__` only assigns (every record of this package),
fills the slots directly; see `drchrono_async._converter._records` and benchmarks/decode.py,
which keeps cattrs' `make_dict_structure_fn` with the same hooks as a reference row.

What does not fit: in the fast path, blanks, coercions and wrong types go through the field's
hook, which raises on a mismatch; any exception sends the record to a slow path that
structures the fields one by one. The lenient converter (the default) then sets each
offending field to `None`, keeps the value in `record.raw` and emits a `RecordDecodeWarning`
naming the record type and the field; a missing always-present field is handled the same
way (the record still reaches the caller, its annotation notwithstanding), and so is a
missing, `null` or blank `id` (a sync keys on it; the `id` of a writable endpoint is typed
optional only for records built in code for a create). The strict converter raises
`RecordDecodeError` instead. A payload that is not a JSON object cannot become a record and
raises `RecordDecodeError` in both modes.

Warnings rather than log records: the `warnings` machinery shows each distinct message (record
type and field, never the value) once per process by default, so a sync of 100k records with
one drifted field reports it once instead of 100k times; callers can turn it into an error, or
record it, with the standard filters.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import cattrs
from cattrs.fns import identity
from cattrs.gen import make_dict_unstructure_fn, override

from drchrono_async.records._base import (
    Record,
    api_fields,
    is_record_class,
    writable_fields,
)

from . import _hooks as h
from ._records import RecordDecodeWarning, build_structure_fn

__all__ = [
    "DrChronoConverter",
    "RecordDecodeWarning",
    "converter",
    "make_converter",
]

R = TypeVar("R", bound=Record)


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
        for cls, hook in h.SCALAR_HOOKS.items():
            self.register_structure_hook(cls, hook)
        for t, hook in h.SPECIAL_HOOKS.items():
            self.register_structure_hook_func(_equal_to(t), hook)
        self.register_structure_hook_factory(h.is_optional, self._optional_hook)
        self.register_structure_hook_factory(h.is_sequence, self._sequence_hook)
        self.register_structure_hook_factory(is_record_class, self._record_structure_hook)
        for cls, fmt in h.FORMATTERS.items():
            self.register_unstructure_hook(cls, fmt)
        self.register_unstructure_hook_factory(is_record_class, self._record_unstructure_hook)

    def register_structure_hook(self, cl: Any, func: Any = None) -> Any:
        """As cattrs', but a hook for a union (`T | None`) takes precedence over this
        converter's own optional hook, as a hook for a class does over its class hook."""
        if func is not None and h.is_union(cl):
            self.register_structure_hook_func(_equal_to(cl), func)
            return None
        return super().register_structure_hook(cl, func)

    # -- reading ------------------------------------------------------------------------------

    def _optional_hook(self, t: Any) -> h.Hook:
        inner = h.strip_none(t)
        return h.make_optional(self.get_structure_hook(inner, cache_result=False), inner)

    def _sequence_hook(self, t: Any) -> h.Hook:
        (inner,) = t.__args__
        if inner is Any:
            return h.make_sequence(h.structure_any, inner)
        return h.make_sequence(self.get_structure_hook(inner, cache_result=False), inner)

    def _record_structure_hook(self, cls: type[R]) -> Callable[[Any, Any], R]:
        return build_structure_fn(
            cls, lambda t: self.get_structure_hook(t, cache_result=False), strict=self.strict
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


def _unstructure_hook_for(t: Any) -> Callable[[Any], Any]:
    """A per-field unstructure hook; `identity` lets cattrs inline plain JSON values."""
    base = h.strip_none(t)
    fmt = h.FORMATTERS.get(base) if isinstance(base, type) else None
    if fmt is None:
        return identity
    if base is t:
        return fmt

    def opt(v: Any, _fmt: Callable[[Any], Any] = fmt) -> Any:
        return None if v is None else _fmt(v)

    return opt


def _equal_to(t: Any) -> Callable[[Any], bool]:
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
