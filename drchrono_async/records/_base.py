"""What every record shares: the `Record` base, field metadata, `DateRange`, introspection.

Conventions (the reference's "Data Types" and object tables, read once, applied everywhere):

- Every API field carries attrs metadata `{"read_only": bool, "always_present": bool}`, set by
  the field helpers `writable()`, `read_only()` and `key()` (optional fields) or by
  `attrs.field(metadata=ALWAYS)` (always-present fields).
  `read_only` fields are never sent on create/update. `always_present` says the API promises
  the key in every response.
- What counts as always present: in the tables of read-only endpoints (an "Always present"
  column), the keys marked "Yes", except keys that need `verbose=true` (absent otherwise) and a
  few documented departures. In the tables of writable endpoints (required / optional /
  read-only columns) only `id` is promised; every other field may be absent, `null` or `""`.
- Always-present fields are typed without `None` and have no default. The `id` of a writable
  endpoint is the exception: it is `always_present` in the metadata but typed `... | None`
  with a `None` default, because a record built for a create has no id yet.
- Every other field is `T | None = None`: absent and blank (`null`, or `""` for a non-string
  type) both read as `None`.
- Nested values the reference only calls "object" stay plain JSON: `JSONObject` (a mapping)
  and `JSONObjects` (a sequence of mappings); they are the decoded JSON itself, not copies.

Each record also has two non-API attributes, set by the converter:

- `raw`: the mapping the record was built from (the same object, not a copy; `{}` for a
  record built in code). Excluded from `==`, `hash` and `repr`: it duplicates the fields.
- `extra`: the keys of `raw` the class does not declare (the API adds fields without notice);
  a shared read-only empty mapping when there are none. Part of `==` (records that carry
  different data are not equal) but not of `hash` or `repr`.
  `attrs.evolve` keeps both; `raw` then still describes the record it was read as.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Annotated, Any, Final

import attrs

__all__ = [
    "ALWAYS",
    "ID",
    "READ_ONLY",
    "WRITABLE",
    "Codes",
    "DateRange",
    "JSONObject",
    "JSONObjectOrObjects",
    "JSONObjects",
    "Record",
    "api_fields",
    "is_record_class",
    "key",
    "read_only",
    "writable",
    "writable_fields",
]

JSONObject = Mapping[str, Any]
"""A nested object the reference describes only as "object": the decoded JSON mapping."""

JSONObjects = Sequence[Mapping[str, Any]]
"""An "array of objects": the decoded JSON list of mappings."""


class _Shape(str):
    """Marks a type whose wire shape differs between the reference and the live API."""


Codes = Annotated[Sequence[str], _Shape("codes")]
"""Codes (ICD-9, ICD-10) as a list of strings.

The live API sends an array of strings; a comma-separated string (the shape the reference
prints for some endpoints) is split on the commas and stripped. A blank (`null` or `""`) is
`None`, like every other blank.
"""

JSONObjectOrObjects = Annotated[Sequence[Mapping[str, Any]], _Shape("object or objects")]
"""A list of objects, where the reference prints a single object and the live API a list.

An array of objects is kept as decoded; a lone object is read as a list of that one object
(an empty object as an empty list).
"""

# Field metadata. Shared, never mutated (attrs exposes them read-only).
WRITABLE: Final[Mapping[str, bool]] = {"read_only": False, "always_present": False}
READ_ONLY: Final[Mapping[str, bool]] = {"read_only": True, "always_present": False}
ALWAYS: Final[Mapping[str, bool]] = {"read_only": True, "always_present": True}
ID: Final[Mapping[str, bool]] = ALWAYS  # the id of a writable endpoint: see the module doc


def writable() -> Any:
    """An optional field a create or update may send: declare it `T | None = writable()`."""
    return attrs.field(default=None, metadata=WRITABLE)


def read_only() -> Any:
    """An optional field the API sets and never takes: `T | None = read_only()`."""
    return attrs.field(default=None, metadata=READ_ONLY)


def key() -> Any:
    """The `id` of a writable endpoint: `T | None = key()` (see the module doc)."""
    return attrs.field(default=None, metadata=ID)


# Always-present fields stay `attrs.field(metadata=ALWAYS)`: type checkers learn that a field
# is required only from attrs' own `field()` call (a helper would read as a default).


@attrs.frozen(kw_only=True)
class Record:
    """Base class of every API record: frozen, slotted, keyword-only attrs classes."""

    raw: Mapping[str, Any] = attrs.field(factory=dict, eq=False, hash=False, repr=False)
    extra: Mapping[str, Any] = attrs.field(factory=dict, hash=False, repr=False)


@attrs.frozen
class DateRange:
    """An inclusive range of dates, written `2014-02-24/2014-02-28` on the wire."""

    start: dt.date
    end: dt.date

    @classmethod
    def parse(cls, text: str) -> DateRange:
        """Read `YYYY-MM-DD/YYYY-MM-DD`; raises ValueError (without the text) otherwise."""
        from ..errors import InvalidRequestError

        start, sep, end = text.partition("/")
        try:
            if not sep:
                raise ValueError
            return cls(dt.date.fromisoformat(start.strip()), dt.date.fromisoformat(end.strip()))
        except ValueError:
            raise InvalidRequestError("a date range is two dates: YYYY-MM-DD/YYYY-MM-DD") from None

    def __str__(self) -> str:
        return f"{self.start.isoformat()}/{self.end.isoformat()}"


def is_record_class(cls: Any) -> bool:
    """True for the API record classes (subclasses of `Record`), not `Record` itself."""
    return isinstance(cls, type) and issubclass(cls, Record) and cls is not Record


def api_fields(cls: type[Record]) -> tuple[attrs.Attribute[Any], ...]:
    """The API fields of a record class, in the reference's order (not `raw` / `extra`)."""
    return _api_fields(cls)


def writable_fields(cls: type[Record]) -> tuple[attrs.Attribute[Any], ...]:
    """The API fields a create or update may send (those not marked read-only)."""
    return _writable_fields(cls)


_API_CACHE: dict[type[Any], tuple[attrs.Attribute[Any], ...]] = {}
_WRITABLE_CACHE: dict[type[Any], tuple[attrs.Attribute[Any], ...]] = {}


def _api_fields(cls: type[Record]) -> tuple[attrs.Attribute[Any], ...]:
    try:
        return _API_CACHE[cls]
    except KeyError:
        pass
    if not is_record_class(cls):
        from ..errors import InvalidRequestError

        raise InvalidRequestError("api_fields takes a record class")
    fields = attrs.fields(attrs.resolve_types(cls))
    result = tuple(a for a in fields if "read_only" in a.metadata)
    _API_CACHE[cls] = result
    return result


def _writable_fields(cls: type[Record]) -> tuple[attrs.Attribute[Any], ...]:
    try:
        return _WRITABLE_CACHE[cls]
    except KeyError:
        pass
    result = tuple(a for a in _api_fields(cls) if not a.metadata["read_only"])
    _WRITABLE_CACHE[cls] = result
    return result
