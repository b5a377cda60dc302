"""The converter is a cattrs converter: registered hooks reach record fields, attrs runs."""

from __future__ import annotations

import datetime as dt
import warnings
from typing import Any

import attrs
import pytest

from drchrono_async._converter import RecordDecodeWarning, make_converter
from drchrono_async.errors import RecordDecodeError
from drchrono_async.records import Appointment, Record
from drchrono_async.records._base import ID, WRITABLE

PAYLOAD = {"id": "1", "scheduled_time": "2024-03-01T09:30:00", "created_at": "2024-02-01"}
MARK = dt.datetime(1999, 1, 1)


def marking_hook(v: Any, _: Any) -> dt.datetime:
    return MARK


def test_a_registered_scalar_hook_reaches_record_fields() -> None:
    conv = make_converter()
    conv.register_structure_hook(dt.datetime, marking_hook)
    record = conv.structure(PAYLOAD, Appointment)
    # Both the optional fields and the plain `structure` call use it.
    assert record.scheduled_time == MARK
    assert record.created_at == MARK
    assert conv.structure("2024-03-01T09:30:00", dt.datetime) == MARK
    # A blank optional field stays a blank: the hook is not asked about None.
    assert conv.structure({**PAYLOAD, "updated_at": None}, Appointment).updated_at is None


def test_a_hook_registered_after_first_use_applies_from_then_on() -> None:
    conv = make_converter()
    before = conv.structure(PAYLOAD, Appointment)
    assert before.scheduled_time == dt.datetime(2024, 3, 1, 9, 30)
    conv.register_structure_hook(dt.datetime, marking_hook)
    assert conv.structure(PAYLOAD, Appointment).scheduled_time == MARK
    assert conv.structure_many([PAYLOAD], Appointment)[0].scheduled_time == MARK


def test_a_hook_for_the_exact_optional_type_changes_only_those_fields() -> None:
    conv = make_converter()
    conv.register_structure_hook(str | None, lambda v, _: None if v is None else v.upper())
    record = conv.structure({**PAYLOAD, "notes": "hello"}, Appointment)
    assert record.notes == "HELLO"
    assert record.id == "1"  # `id` is also `str | None`: the same hook, same result
    assert conv.structure("abc", str) == "abc"  # the plain `str` hook is unchanged


def test_the_default_converter_is_not_changed_by_a_fresh_one() -> None:
    from drchrono_async._converter import converter

    conv = make_converter()
    conv.register_structure_hook(dt.datetime, marking_hook)
    assert converter.structure(PAYLOAD, Appointment).scheduled_time != MARK


def test_a_failing_registered_hook_is_a_value_that_does_not_fit() -> None:
    def refuse(v: Any, _: Any) -> dt.datetime:
        raise ValueError("SECRET-PHI")

    lenient, strict = make_converter(), make_converter(strict=True)
    for conv in (lenient, strict):
        conv.register_structure_hook(dt.datetime, refuse)
    payload = {"id": "1", "scheduled_time": "2024-03-01T09:30:00"}
    with pytest.warns(RecordDecodeWarning, match=r"Appointment\.scheduled_time read as None"):
        record = lenient.structure(payload, Appointment)
    assert record.scheduled_time is None and record.raw is payload
    with pytest.raises(RecordDecodeError) as info:
        strict.structure(payload, Appointment)
    assert info.value.field == "scheduled_time" and "SECRET" not in str(info.value)


# -- attrs validators, converters and post-init hooks run ---------------------------------------

seen: list[str] = []


def _positive(instance: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    if value is not None and value <= 0:
        raise ValueError(f"SECRET {value}")


@attrs.frozen(kw_only=True)
class Checked(Record):
    """A record class of a user's own, with a validator, a converter and a post-init hook."""

    id: int | None = attrs.field(default=None, metadata=ID)
    count: int | None = attrs.field(default=None, validator=_positive, metadata=WRITABLE)
    name: str | None = attrs.field(
        default=None,
        converter=lambda v: v if v is None else v.strip(),
        metadata=WRITABLE,
    )

    def __attrs_post_init__(self) -> None:
        seen.append("post-init")


def test_attrs_validators_converters_and_post_init_run() -> None:
    conv, strict = make_converter(), make_converter(strict=True)
    seen.clear()
    record = conv.structure({"id": 1, "count": 3, "name": "  Ann  ", "x": 1}, Checked)
    assert (record.count, record.name) == (3, "Ann")
    assert record.extra == {"x": 1} and record.raw["name"] == "  Ann  "
    assert seen == ["post-init"]
    for c in (conv, strict):
        with pytest.raises(RecordDecodeError, match="Checked") as info:
            c.structure({"id": 1, "count": -5}, Checked)
        assert "SECRET" not in str(info.value) and info.value.__cause__ is None
        assert info.value.__suppress_context__


def test_a_bad_value_still_goes_through_the_validator_path() -> None:
    """The slow path (a field that does not fit) also builds through `__init__`."""
    seen.clear()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RecordDecodeWarning)
        record = make_converter().structure({"id": 1, "count": "many", "name": " B"}, Checked)
    assert record.count is None and record.name == "B"
    assert seen == ["post-init"]
