"""The record classes against the reference's object tables, parsed from the reference itself.

Fails when an endpoint has no record class, a documented key has no field, or a field's type,
writability or presence drifts from the reference (apart from the departures listed here, each
documented in the record modules).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

import attrs

import drchrono_async.records as records
from drchrono_async.records import JSONObject, JSONObjects, api_fields
from drchrono_async.records._base import Record
from tests.reference import Endpoint, api_endpoints, endpoints

# The reference's type words (typos included) -> the declared Python type (without None).
TYPES: dict[str | None, Any] = {
    "timestamp": dt.datetime,
    "timestampe": dt.datetime,
    "timstamp": dt.datetime,
    "datetime": dt.datetime,
    "date": dt.date,
    "time": dt.time,
    "decimal": Decimal,
    "date range": records.DateRange,
    "boolean": bool,
    "bollean": bool,
    "integer": int,
    "integer or null": int,
    "long": int,
    "float": float,
    "string": str,
    "URL": str,
    "file": str,
    None: str,  # completion_status: the reference omits the type; its values are codes
    "string or number": str | int | float,
    "object": JSONObject,
    "objects": JSONObject,
    "array of objects": JSONObjects,
    "list of objects": JSONObjects,
    "List of objects": JSONObjects,
    "array of strings": Sequence[str],
    "array of string": Sequence[str],
    # The field's details (and the lab guide) describe an icd10_code as {code, description}.
    "array of icd10_code": JSONObjects,
    "array of integers": Sequence[int],
    "array of integer": Sequence[int],
    "list of integers": Sequence[int],
    "array": Sequence[Any],
    "list": Sequence[Any],
}

# (path, key) -> declared type, where the printed type is a typo or the live API differs.
TYPE_DEPARTURES: dict[tuple[str, str], Any] = {
    ("/api/messages", "received_at"): dt.datetime,
    ("/api/messages", "updated_at"): dt.datetime,
    ("/api/task_categories", "name"): str,
    ("/api/custom_insurance_plan_names", "archived"): bool,
    ("/api/prescription_messages", "created_at"): dt.datetime,
    # The live API departs from the printed type: see the Appointment docstring.
    ("/api/appointments", "icd9_codes"): records.Codes,
    ("/api/appointments", "icd10_codes"): records.Codes,
    ("/api/appointments", "status_transitions"): records.JSONObjectOrObjects,
    ("/api/appointments", "base_recurring_appointment"): str,
}
# Printed as always present, but null until the event they record happens.
# Fields the reference's tables leave out that the API has (`_endpoints.py` says why each).
BEYOND_THE_REFERENCE = {("TaskTemplate", "id")}

NOT_ALWAYS_PRESENT = {
    ("/api/patients/:id/onpatient_access", "activated_on"),
    ("/api/patients/:id/onpatient_access", "disabled_by"),
    ("/api/patients/:id/onpatient_access", "disabled_on"),
}
ONPATIENT = "/api/patients/:id/onpatient_access"
WRITE_METHODS = {"POST", "PUT", "PATCH"}


def _singular(word: str) -> str:
    if word.endswith("ies"):
        return word[:-3] + "y"
    if word.endswith("uses"):
        return word[:-2]
    if word.endswith("s") and not word.endswith(("ss", "us")):
        return word[:-1]
    return word


def class_name(path: str) -> str:
    """`/api/lab_orders_summary` -> `LabOrderSummary`: the issue's naming rule."""
    if path == ONPATIENT:
        return "OnpatientAccess"
    words = path.removeprefix("/api/").split("_")
    return "".join(w if w.isdigit() else _singular(w).capitalize() for w in words)


def object_tables() -> dict[str, Endpoint]:
    """Every endpoint whose table describes an object (not an action's request)."""
    return {
        path: e
        for path, e in api_endpoints().items()
        if e.keys and (not e.is_action or path == ONPATIENT)
    }


def _strip_none(t: Any) -> tuple[Any, bool]:
    args = getattr(t, "__args__", ())
    if type(None) in args:
        rest = tuple(a for a in args if a is not type(None))
        return (rest[0] if len(rest) == 1 else _union(rest)), True
    return t, False


def _union(types: tuple[Any, ...]) -> Any:
    out = types[0]
    for t in types[1:]:
        out = out | t
    return out


def _is_writable_endpoint(e: Endpoint) -> bool:
    return bool(WRITE_METHODS & set(e.methods)) and e.path != ONPATIENT


def _expected_read_only(e: Endpoint, flag: str, read_only: bool) -> bool:
    if "Writable" in e.key_columns:  # /api/offices: a Yes/No "Writable" column
        return flag == "No"
    if not _is_writable_endpoint(e):
        return True
    return read_only


def test_every_object_table_has_a_record_class() -> None:
    tables = object_tables()
    assert len(tables) >= 60, "the reference parser found too few object tables"
    missing = [
        f"{path} -> {class_name(path)}" for path in tables if not hasattr(records, class_name(path))
    ]
    assert not missing, f"endpoints without a record class: {missing}"


def test_every_record_class_is_exported_and_documented() -> None:
    expected = {class_name(p) for p in object_tables()} | {"Token"}
    exported = {cls.__name__ for cls in records.RECORD_TYPES}
    assert exported == expected
    for cls in records.RECORD_TYPES:
        assert cls.__doc__
        assert attrs.has(cls) and issubclass(cls, Record)
        assert getattr(cls, "__slots__", None) is not None, cls
        params = attrs.fields(cls)
        assert all(a.kw_only for a in params), cls


def problems(path: str, e: Endpoint) -> list[str]:
    """Every way the record class of `path` disagrees with its table."""
    cls = getattr(records, class_name(path), None)
    if cls is None:
        return [f"{path}: no record class {class_name(path)}"]
    fields = {a.name: a for a in api_fields(cls)}
    out = [f"{cls.__name__} lacks documented key {k}" for k in e.keys if k not in fields]
    out += [
        f"{cls.__name__}.{k} is not in the reference"
        for k in fields
        if k not in e.keys and (cls.__name__, k) not in BEYOND_THE_REFERENCE
    ]
    always_table = "always" in e.key_columns.lower() and not _is_writable_endpoint(e)
    for name, key in e.keys.items():
        a = fields.get(name)
        if a is None:
            continue
        where = f"{cls.__name__}.{name}"
        declared, optional = _strip_none(a.type)
        expected = TYPE_DEPARTURES.get((path, name), TYPES.get(key.type, "unknown type"))
        if declared != expected:
            out.append(f"{where}: declared {declared}, reference {key.type!r} -> {expected}")
        if a.metadata["read_only"] is not _expected_read_only(e, key.flag, key.read_only):
            out.append(f"{where}: read_only should be {not a.metadata['read_only']}")
        present = (
            always_table
            and key.flag == "Yes"
            and name not in e.verbose_keys
            and (path, name) not in NOT_ALWAYS_PRESENT
        )
        if present and (optional or a.default is not attrs.NOTHING):
            out.append(f"{where}: always present, so required and not Optional")
        if not present and (not optional or a.default is not None):
            out.append(f"{where}: optional, so `T | None = None`")
        # Only the ids of writable endpoints are promised without being required.
        if a.metadata["always_present"] is not (present or name == "id"):
            out.append(f"{where}: always_present metadata")
    return out


def test_every_documented_key_has_a_matching_field() -> None:
    found = [p for path, e in object_tables().items() for p in problems(path, e)]
    assert not found, "\n".join(found)


def test_the_check_notices_drift() -> None:
    """The comparison above fails on a new key, a new endpoint and a changed type."""
    e = object_tables()["/api/sublabs"]
    added = Endpoint(path=e.path, methods=e.methods, key_columns=e.key_columns, keys=dict(e.keys))
    added.keys["brand_new"] = type(e.keys["name"])(name="brand_new", type="string", flag="optional")
    assert problems(e.path, added) == ["Sublab lacks documented key brand_new"]
    retyped = Endpoint(path=e.path, methods=e.methods, key_columns=e.key_columns, keys=dict(e.keys))
    retyped.keys["name"] = type(e.keys["name"])(name="name", type="integer", flag="required")
    assert len(problems(e.path, retyped)) == 1
    assert problems("/api/brand_new_things", e) == [
        "/api/brand_new_things: no record class BrandNewThing"
    ]


def test_appointment_id_is_a_string() -> None:
    (a,) = [a for a in api_fields(records.Appointment) if a.name == "id"]
    assert a.type == str | None


def test_token_matches_the_token_response_table() -> None:
    documented = endpoints()["token response"].keys
    fields = {a.name: a for a in api_fields(records.Token)}
    assert set(documented) <= set(fields)
    for name, key in documented.items():
        assert fields[name].type is TYPES[key.type]
        assert fields[name].default is attrs.NOTHING  # always in the answer
    assert fields["token_type"].default is None and fields["scope"].default is None
