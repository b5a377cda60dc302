"""Realistic-ish field values from a field's name and type, for seeding and for defaults.

Values are in wire form: naive timestamps `YYYY-MM-DDTHH:MM:SS`, decimals as strings.
"""

from __future__ import annotations

import datetime as dt
import decimal
import random
import types
import typing
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import attrs

__all__ = ["Faker", "FieldSpec", "record_fields"]

FIRST_NAMES = (
    "Ada",
    "Alan",
    "Amara",
    "Ben",
    "Chloe",
    "Diego",
    "Elena",
    "Farah",
    "Grace",
    "Hiro",
    "Ines",
    "Jamal",
    "Kira",
    "Liam",
    "Maya",
    "Noah",
    "Olga",
    "Priya",
    "Quinn",
    "Rosa",
    "Sam",
    "Tariq",
    "Uma",
    "Victor",
    "Wen",
    "Ximena",
    "Yusuf",
    "Zoe",
)
LAST_NAMES = (
    "Adams",
    "Baker",
    "Chen",
    "Diaz",
    "Evans",
    "Fischer",
    "Garcia",
    "Haddad",
    "Ito",
    "Jones",
    "Kowalski",
    "Lopez",
    "Martin",
    "Nguyen",
    "Okafor",
    "Patel",
    "Quiroga",
    "Rossi",
    "Smith",
    "Tanaka",
    "Umar",
    "Vargas",
    "Weber",
    "Xu",
    "Young",
    "Zhang",
)
CITIES = (
    ("Sunnyvale", "CA", "94086"),
    ("Austin", "TX", "73301"),
    ("Denver", "CO", "80202"),
    ("Boston", "MA", "02108"),
    ("Seattle", "WA", "98101"),
    ("Madison", "WI", "53703"),
)
STREETS = ("Oak St", "Maple Ave", "Main St", "Pine Rd", "Cedar Ln", "Elm Ct", "Hill Blvd")
WORDS = (
    "follow-up",
    "annual",
    "review",
    "routine",
    "acute",
    "chronic",
    "consult",
    "screening",
    "lab",
    "results",
    "pain",
    "cough",
    "refill",
    "checkup",
    "vaccination",
    "therapy",
)
COLORS = ("#3A87AD", "#D9534F", "#5CB85C", "#F0AD4E", "#8E44AD", "rgb(12, 34, 45)")

# A field holding another record's id, by name: the endpoint whose ids it takes.
REFS: Mapping[str, str] = {
    "doctor": "doctors",
    "supervising_provider": "doctors",
    "billing_provider": "doctors",
    "patient": "patients",
    "office": "offices",
    "appointment": "appointments",
    "user": "users",
    "assignee_user": "users",
    "assigned_by": "users",
    "created_by": "users",
    "owner": "users",
    "responsible_user": "users",
    "enabled_by": "users",
    "disabled_by": "users",
    "assignee_group": "user_groups",
    "profile": "appointment_profiles",
    "clinical_note_template": "clinical_note_templates",
    "clinical_note_field": "clinical_note_field_types",
    "line_item": "line_items",
    "task": "tasks",
    "category": "task_categories",
    "order": "lab_orders",
    "parent_message": "prescription_messages",
    "sublab": "sublabs",
    "vaccine_inventory": "inventory_vaccines",
    "inventory": "inventory_vaccines",
}


# Fields a write may send but the API never returns.
WRITE_ONLY: Mapping[str, frozenset[str]] = {"appointments": frozenset({"reminder_profile"})}


@attrs.frozen
class FieldSpec:
    """An API field of a record: its wire name, Python type and whether the API owns it."""

    name: str
    type: Any
    read_only: bool


def record_fields(record_type: type[Any] | None) -> list[FieldSpec] | None:
    """The API fields of a record class from `drchrono_async.records`, or None without one."""
    if record_type is None:
        return None
    specs = _FIELDS.get(record_type)
    if specs is None:
        specs = _FIELDS[record_type] = _record_fields(record_type)
    return list(specs)


# Worked out once a class: `get_type_hints` is slow, and a record class does not change.
_FIELDS: dict[type[Any], tuple[FieldSpec, ...]] = {}


def _record_fields(record_type: type[Any]) -> tuple[FieldSpec, ...]:
    from drchrono_async.records._base import api_fields

    try:
        hints = typing.get_type_hints(record_type)
    except Exception:  # an unresolvable annotation: fall back to the attrs field types
        hints = {}
    specs = []
    for field in api_fields(record_type):
        meta = field.metadata or {}
        name = str(meta.get("api_name", meta.get("wire_name", field.name)))
        specs.append(
            FieldSpec(name, hints.get(field.name, field.type), bool(meta.get("read_only", False)))
        )
    return tuple(specs)


def unwrap_optional(tp: Any) -> tuple[Any, bool]:
    """(`X`, True) for `X | None`; (`tp`, False) otherwise."""
    origin = typing.get_origin(tp)
    if origin is typing.Union or origin is types.UnionType:
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if len(args) < len(typing.get_args(tp)):
            # Several non-None members: keep the first, enough to pick a kind of value.
            return args[0], True
    return tp, False


def kind_of(tp: Any) -> str:
    """A coarse wire kind for a type: int, str, bool, float, decimal, timestamp, date, time,
    list, object or any."""
    tp, _ = unwrap_optional(tp)
    if isinstance(tp, str):  # an unresolved forward reference
        low = tp.lower()
        for name in ("datetime", "decimal", "date", "time", "int", "bool", "str", "list"):
            if name in low:
                return {"datetime": "timestamp", "str": "str"}.get(name, name)
        return "any"
    if typing.get_origin(tp) is typing.Annotated:
        return kind_of(typing.get_args(tp)[0])
    origin = typing.get_origin(tp) or tp
    if origin is bool:
        return "bool"
    if origin is int:
        return "int"
    if origin is float:
        return "float"  # a JSON number (decimals, unlike floats, travel as strings)
    if origin is decimal.Decimal:
        return "decimal"
    if origin is str:
        return "str"
    if origin is dt.datetime:
        return "timestamp"
    if origin is dt.date:
        return "date"
    if origin is dt.time:
        return "time"
    if origin in (list, tuple, Sequence, typing.Sequence) or (
        isinstance(origin, type) and issubclass(origin, (list, tuple))
    ):
        return "list"
    if origin in (dict, Mapping, typing.Mapping) or attrs.has(origin):
        return "object"
    return "any"


# The kind of each field type, worked out once: seeding asks for it once per value (tens of
# thousands of times per emulator), and the typing introspection was most of the seeding time.
_SHAPES: dict[Any, tuple[str, bool]] = {}


def _shape(tp: Any) -> tuple[str, bool]:
    """(`kind_of` the type without `None`, whether `None` is allowed), cached by type."""
    try:
        return _SHAPES[tp]
    except KeyError:
        pass
    except TypeError:  # an unhashable annotation: work it out every time
        inner, optional = unwrap_optional(tp)
        return kind_of(inner), optional
    inner, optional = unwrap_optional(tp)
    shape = _SHAPES[tp] = (kind_of(inner), optional)
    return shape


# Values by field name (built once, not per value: seeding asks tens of thousands of times).
_BY_NAME: dict[str, Callable[[random.Random], Any]] = {
    "first_name": lambda r: r.choice(FIRST_NAMES),
    "last_name": lambda r: r.choice(LAST_NAMES),
    "email": lambda r: f"{r.choice(FIRST_NAMES).lower()}{r.randrange(1000)}@example.com",
    "city": lambda r: r.choice(CITIES)[0],
    "state": lambda r: r.choice(CITIES)[1],
    "zip_code": lambda r: r.choice(CITIES)[2],
    "address": lambda r: f"{r.randrange(1, 9999)} {r.choice(STREETS)}",
    "color": lambda r: r.choice(COLORS),
    "country": lambda r: "US",
    "gender": lambda r: r.choice(("Male", "Female", "Other")),
    "status": lambda r: r.choice(("active", "inactive")),
}


class Faker:
    """Values for a practice seeded by one `random.Random`."""

    def __init__(self, rng: random.Random, now: dt.datetime, origin: str) -> None:
        self.rng = rng
        self.now = now
        self.origin = origin
        self.pools: dict[str, list[int]] = {}

    def ref(self, endpoint: str) -> int | None:
        pool = self.pools.get(endpoint)
        return self.rng.choice(pool) if pool else None

    def past_ts(self, days: int = 365) -> str:
        delta = dt.timedelta(seconds=self.rng.randrange(60, days * 86_400))
        return (self.now - delta).isoformat(timespec="seconds")

    def past_date(self, days: int = 365) -> str:
        return (self.now.date() - dt.timedelta(days=self.rng.randrange(0, days))).isoformat()

    def phone(self) -> str:
        r = self.rng
        return f"({r.randrange(200, 999)}) {r.randrange(200, 999)}-{r.randrange(0, 10_000):04d}"

    def words(self, n: int = 3) -> str:
        return " ".join(self.rng.choice(WORDS) for _ in range(n)).capitalize()

    def value(self, name: str, tp: Any) -> Any:
        """A plausible wire value for field `name` of type `tp`."""
        kind, optional = _shape(tp)
        if name in ("archived", "deleted_flag", "is_account_suspended"):
            return False if kind in ("bool", "any") else 0
        if name in REFS and kind in ("int", "any"):
            ref = self.ref(REFS[name])
            if ref is not None or optional:
                return ref
        if optional and kind not in ("list", "object") and self.rng.random() < 0.15:
            return None
        by_name = self._by_name(name, kind)
        if by_name is not None:
            return by_name
        return self._by_kind(name, kind)

    def _by_name(self, name: str, kind: str) -> Any:
        r = self.rng
        if kind not in ("str", "any"):
            return None
        if name in _BY_NAME:
            return _BY_NAME[name](r)
        if name.endswith("_phone") or name in ("phone", "phone_number", "fax_number", "fax"):
            return self.phone()
        if name.endswith(("_url", "_uri")) or name in ("url", "uri", "document", "attachment"):
            return f"{self.origin}/files/seed/{r.getrandbits(48):012x}.pdf"
        if name in ("name", "title", "description", "reason", "notes", "comments"):
            return self.words(r.randrange(2, 5))
        if name.endswith("code") or name in ("rxnorm", "ndc", "cvx_code"):
            return str(r.randrange(10_000, 99_999))
        return None

    def _by_kind(self, name: str, kind: str) -> Any:
        r = self.rng
        if kind == "int":
            return r.randrange(1, 100) if name != "id" else r.randrange(1, 1 << 30)
        if kind == "bool":
            return r.random() < 0.3
        if kind == "decimal":
            return f"{r.randrange(0, 50_000) / 100:.2f}"
        if kind == "float":
            return r.randrange(0, 50_000) / 100
        if kind == "timestamp":
            return self.past_ts()
        if kind == "date":
            return self.past_date()
        if kind == "time":
            return f"{r.randrange(7, 18):02d}:{r.choice((0, 15, 30, 45)):02d}:00"
        if kind == "list":
            return []
        if kind == "object":
            return {}
        if kind == "str":
            return self.words(2)
        return None
