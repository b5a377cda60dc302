"""Random JSON in every field: lenient never raises, strict raises only RecordDecodeError.

And what comes out is honest: every field is `None` or a value of its declared type.
"""

from __future__ import annotations

import datetime as dt
import warnings
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from drchrono_async._converter import RecordDecodeWarning, converter, make_converter
from drchrono_async.errors import RecordDecodeError
from drchrono_async.records import (
    Appointment,
    Codes,
    DateRange,
    JSONObject,
    JSONObjectOrObjects,
    JSONObjects,
    Patient,
    Record,
    api_fields,
)

from .samples import full_payload, strip_none

strict = make_converter(strict=True)

json_scalars = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=30)
# Strings that look like what the fields expect, so the fast path is exercised as well.
near_misses = st.sampled_from(
    [
        "",
        "2014-02-24T15:32:19",
        "2014-02-24",
        "12:34:56",
        "123.45",
        "17",
        "-3",
        "NaN",
        "1e5",
        "2014-02-24T15:32:19+01:00",
        "0",
        "true",
        "2014-02-24/2014-02-28",
    ]
)
json_values = st.recursive(
    json_scalars | near_misses,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)


def conforms(value: Any, t: Any) -> bool:
    """Is `value` a value of the declared type `t` (or None)?"""
    if value is None:
        return True
    base = strip_none(t)
    simple = {
        str: str,
        int: int,
        float: float,
        Decimal: Decimal,
        dt.datetime: dt.datetime,
        DateRange: DateRange,
    }
    if base is bool:
        return value is True or value is False
    if base in simple:
        return type(value) is simple[base] and not (
            base is dt.datetime and value.tzinfo is not None
        )
    if base is dt.date:
        return type(value) is dt.date
    if base is dt.time:
        return type(value) is dt.time and value.tzinfo is None
    if base == JSONObject:
        return isinstance(value, Mapping)
    if base in (JSONObjects, JSONObjectOrObjects):
        return isinstance(value, Sequence) and all(isinstance(x, Mapping) for x in value)
    if base == Sequence[int]:
        return isinstance(value, Sequence) and all(type(x) is int for x in value)
    if base in (Sequence[str], Codes):
        return isinstance(value, Sequence) and all(type(x) is str for x in value)
    if base == Sequence[Any]:
        return isinstance(value, list | tuple)
    if base == str | int | float:
        return type(value) in (str, int, float)
    raise AssertionError(f"no rule for {t}")


def payloads(cls: type[Record]) -> st.SearchStrategy[dict[str, Any]]:
    """A documented payload where any subset of fields holds random JSON, some keys dropped."""
    names = [a.name for a in api_fields(cls)]
    return st.fixed_dictionaries(
        {},
        optional={name: json_values for name in names},
    ).flatmap(
        lambda random_values: st.sets(st.sampled_from(names), max_size=3).map(
            lambda dropped: {
                k: v for k, v in {**full_payload(cls), **random_values}.items() if k not in dropped
            }
        )
    )


def check(cls: type[Record], payload: dict[str, Any]) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RecordDecodeWarning)
        record = converter.structure(payload, cls)  # must not raise at all
    assert record.raw is payload
    for a in api_fields(cls):
        assert conforms(getattr(record, a.name), a.type), a.name
    try:
        strict_record = strict.structure(payload, cls)
    except RecordDecodeError as exc:
        assert exc.record_type == cls.__name__
        assert exc.field in {a.name for a in api_fields(cls)}
    else:
        assert strict_record == record  # when nothing is wrong, both modes agree
    converter.unstructure(record)
    converter.unstructure_writable(record)


def random_json(cls: type[Record], examples: int) -> None:
    @settings(max_examples=examples, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(payloads(cls))
    def run(payload: dict[str, Any]) -> None:
        check(cls, payload)

    run()


# 100 payloads, each with random JSON in about half of its fields (thousands of random
# values a run; test_one_random_field below tries fields one at a time); `make soak`: 1,000.
EXAMPLES = [
    pytest.param(100, id="100"),
    pytest.param(1000, id="1000", marks=pytest.mark.soak),
]


@pytest.mark.parametrize("examples", EXAMPLES)
def test_appointment_random_json(examples: int) -> None:
    random_json(Appointment, examples)


@pytest.mark.parametrize("examples", EXAMPLES)
def test_patient_random_json(examples: int) -> None:
    random_json(Patient, examples)


@pytest.mark.parametrize("cls", [Appointment, Patient], ids=lambda c: c.__name__)
@settings(max_examples=100, deadline=None)
@given(value=json_values, data=st.data())
def test_one_random_field(cls: type[Record], value: Any, data: st.DataObject) -> None:
    """One random value in one field: the other fields are untouched by the fallback."""
    field = data.draw(st.sampled_from([a.name for a in api_fields(cls)]))
    payload = {**full_payload(cls), field: value}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RecordDecodeWarning)
        record = converter.structure(payload, cls)
    reference = converter.structure(full_payload(cls), cls)
    for a in api_fields(cls):
        if a.name != field:
            assert getattr(record, a.name) == getattr(reference, a.name), a.name
