"""The converter: structuring, blanks, timestamps, decimals, leniency, strictness, writing."""

from __future__ import annotations

import datetime as dt
import warnings
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import attrs
import pytest

from drchrono_async._converter import (
    DrChronoConverter,
    RecordDecodeWarning,
    converter,
    make_converter,
)
from drchrono_async.errors import InvalidRequestError, RecordDecodeError
from drchrono_async.records import (
    RECORD_TYPES,
    Appointment,
    CustomVital,
    DateRange,
    LabResult,
    LineItem,
    Patient,
    Record,
    Token,
    api_fields,
    writable_fields,
)

from .samples import full_payload, minimal_payload, python_value, strip_none, wire_value

strict = make_converter(strict=True)


@pytest.fixture
def no_warnings() -> Iterator[None]:
    with warnings.catch_warnings():
        warnings.simplefilter("error", RecordDecodeWarning)
        yield


def appointment(**changes: Any) -> dict[str, Any]:
    payload = full_payload(Appointment)
    payload["id"] = "12345"
    payload.update(changes)
    return payload


# -- full payloads ----------------------------------------------------------------------------


@pytest.mark.parametrize("cls", RECORD_TYPES, ids=lambda c: c.__name__)
def test_full_documented_payload(cls: type[Record], no_warnings: None) -> None:
    payload = full_payload(cls)
    for conv in (converter, strict):
        record = conv.structure(payload, cls)
        assert type(record) is cls
        for a in api_fields(cls):
            assert getattr(record, a.name) == python_value(a.type), a.name
        assert record.raw is payload
        assert record.extra == {}
        # Canonical wire values come back unchanged.
        assert conv.unstructure(record) == payload


@pytest.mark.parametrize("cls", RECORD_TYPES, ids=lambda c: c.__name__)
def test_minimal_payload_leaves_optional_fields_none(cls: type[Record], no_warnings: None) -> None:
    record = converter.structure(minimal_payload(cls), cls)
    for a in api_fields(cls):
        if a.default is None and not a.metadata["always_present"]:
            assert getattr(record, a.name) is None, a.name


def test_values_are_typed() -> None:
    record = converter.structure(appointment(), Appointment)
    assert isinstance(record.scheduled_time, dt.datetime)
    assert record.scheduled_time.tzinfo is None
    assert isinstance(record.id, str)
    line = converter.structure(full_payload(LineItem), LineItem)
    assert isinstance(line.price, Decimal)
    assert isinstance(line.service_date, dt.date) and not isinstance(line.service_date, dt.datetime)


def test_fast_and_slow_paths_agree() -> None:
    """One bad field sends the record through the slow path; the other fields must not change."""
    good = converter.structure(appointment(), Appointment)
    with pytest.warns(RecordDecodeWarning):
        bad = converter.structure(appointment(doctor={"not": "an int"}), Appointment)
    assert bad.doctor is None
    assert attrs.evolve(bad, doctor=good.doctor) == good


def test_records_built_in_code_equal_structured_ones() -> None:
    record = converter.structure({"id": "7", "doctor": 1, "duration": 30}, Appointment)
    assert record == Appointment(id="7", doctor=1, duration=30)


# -- raw and extra ----------------------------------------------------------------------------


def test_unknown_keys_are_kept_in_extra_and_unstructure() -> None:
    payload = appointment(brand_new_field={"a": 1}, another=None)
    record = converter.structure(payload, Appointment)
    assert record.extra == {"brand_new_field": {"a": 1}, "another": None}
    assert record.raw is payload
    assert not hasattr(record, "brand_new_field")
    out = converter.unstructure(record)
    assert out == payload
    # Write payloads carry them only on request (their writability is unknown).
    assert "brand_new_field" not in converter.unstructure_writable(record)
    assert converter.unstructure_writable(record, include_extra=True)["brand_new_field"] == {"a": 1}


def test_empty_extra_is_read_only() -> None:
    """Records without unknown keys share one empty mapping, so it must not be writable."""
    a = converter.structure({"id": "1"}, Appointment)
    assert a.extra == {}
    with pytest.raises(TypeError):
        a.extra["x"] = 1  # type: ignore[index]


def test_equality_repr_and_hash() -> None:
    a = converter.structure({"id": "1", "doctor": 2, "x": 1}, Appointment)
    b = converter.structure({"id": "1", "doctor": 2, "x": 1}, Appointment)
    c = converter.structure({"id": "1", "doctor": 2, "x": 2}, Appointment)
    assert a == b  # raw is a different dict object, and not compared anyway
    assert a != c  # extra differs
    assert hash(a) == hash(b) == hash(c)  # neither raw nor extra is hashed
    assert "raw" not in repr(a) and "extra" not in repr(a)
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        a.doctor = 3  # type: ignore[misc]


def test_evolve_keeps_extra() -> None:
    a = converter.structure({"id": "1", "x": 1}, Appointment)
    assert attrs.evolve(a, status="Arrived").extra == {"x": 1}


def test_token_repr_hides_the_tokens() -> None:
    token = converter.structure(
        {"access_token": "SECRET-A", "refresh_token": "SECRET-R", "expires_in": 172800}, Token
    )
    assert token.access_token == "SECRET-A"
    assert "SECRET" not in repr(token)


# -- blanks -----------------------------------------------------------------------------------


def _optional_non_string(a: attrs.Attribute[Any]) -> bool:
    base = strip_none(a.type)
    if a.name == "id":  # a record without an id does not fit: see test_blank_ids_do_not_fit
        return False
    return a.default is None and base is not str and str not in getattr(base, "__args__", ())


@pytest.mark.parametrize("blank", ["", None])
def test_blank_optional_non_string_fields_are_none(blank: Any, no_warnings: None) -> None:
    for cls in RECORD_TYPES:
        payload = full_payload(cls)
        for a in api_fields(cls):
            if _optional_non_string(a):
                payload[a.name] = blank
        record = strict.structure(payload, cls)
        for a in api_fields(cls):
            if _optional_non_string(a):
                assert getattr(record, a.name) is None, f"{cls.__name__}.{a.name}"


def test_blank_strings_stay_blank_and_null_strings_are_none(no_warnings: None) -> None:
    record = converter.structure(appointment(notes="", reason=None), Appointment)
    assert record.notes == ""
    assert record.reason is None


def test_blank_always_present_value_does_not_fit() -> None:
    payload = full_payload(CustomVital)
    payload["doctor"] = ""
    with pytest.raises(RecordDecodeError):
        strict.structure(payload, CustomVital)
    with pytest.warns(RecordDecodeWarning, match=r"CustomVital\.doctor"):
        assert converter.structure(payload, CustomVital).doctor is None


# -- timestamps, dates, times, decimals ---------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2014-02-24T15:32:19", dt.datetime(2014, 2, 24, 15, 32, 19)),
        ("2014-02-24T15:32:19.5", dt.datetime(2014, 2, 24, 15, 32, 19, 500000)),
        ("2014-02-24T15:32:19.123456", dt.datetime(2014, 2, 24, 15, 32, 19, 123456)),
        ("2014-02-24 15:32:19", dt.datetime(2014, 2, 24, 15, 32, 19)),
        ("2014-02-24 15:32:19.250", dt.datetime(2014, 2, 24, 15, 32, 19, 250000)),
        ("2014-02-24T15:32", dt.datetime(2014, 2, 24, 15, 32)),
        ("2014-02-24", dt.datetime(2014, 2, 24)),
        # An offset is dropped and the wall time kept: the API's times are naive local times.
        ("2014-02-24T15:32:19Z", dt.datetime(2014, 2, 24, 15, 32, 19)),
        ("2014-02-24T15:32:19+05:30", dt.datetime(2014, 2, 24, 15, 32, 19)),
        ("2014-02-24T15:32:19.1-08:00", dt.datetime(2014, 2, 24, 15, 32, 19, 100000)),
    ],
)
def test_timestamp_shapes(text: str, expected: dt.datetime, no_warnings: None) -> None:
    record = strict.structure(appointment(scheduled_time=text), Appointment)
    assert record.scheduled_time == expected
    assert record.scheduled_time is not None and record.scheduled_time.tzinfo is None


def test_timestamps_are_written_without_a_timezone() -> None:
    record = Appointment(
        scheduled_time=dt.datetime(2014, 2, 24, 15, 32, 19, tzinfo=dt.UTC),
        created_at=dt.datetime(2014, 2, 24, 15, 32, 19, 120000),
    )
    out = converter.unstructure(record)
    assert out["scheduled_time"] == "2014-02-24T15:32:19"
    assert out["created_at"] == "2014-02-24T15:32:19.120000"
    assert converter.unstructure_writable(record) == {"scheduled_time": "2014-02-24T15:32:19"}


@pytest.mark.parametrize("value", ["yesterday", "2014-13-01T00:00:00", 1393255939, True, [], {}])
def test_bad_timestamps_do_not_fit(value: Any) -> None:
    with pytest.raises(RecordDecodeError) as info:
        strict.structure(appointment(scheduled_time=value), Appointment)
    assert info.value.field == "scheduled_time"


@pytest.mark.parametrize(
    ("value", "expected"),
    [("123.45", Decimal("123.45")), (12, Decimal(12)), (0.1, Decimal("0.1")), ("-3", Decimal(-3))],
)
def test_decimals_from_strings_and_numbers(value: Any, expected: Decimal) -> None:
    payload = full_payload(LineItem)
    payload["price"] = value
    record = strict.structure(payload, LineItem)
    assert record.price == expected
    assert str(record.price) == str(expected)


@pytest.mark.parametrize("value", ["NaN", "Infinity", "12,5", "abc", True, [1]])
def test_bad_decimals_do_not_fit(value: Any) -> None:
    payload = full_payload(LineItem)
    payload["price"] = value
    with pytest.raises(RecordDecodeError, match=r"LineItem\.price"):
        strict.structure(payload, LineItem)


def test_decimals_are_written_as_plain_strings() -> None:
    line = LineItem(price=Decimal("1E+2"), billed=Decimal("0.10"))
    assert converter.unstructure_writable(line) == {"price": "100", "billed": "0.10"}


def test_dates_times_and_date_ranges() -> None:
    assert converter.structure("2014-02-24", dt.date) == dt.date(2014, 2, 24)
    assert converter.structure("12:34", dt.time) == dt.time(12, 34)
    rng = converter.structure("2014-02-24/2014-02-28", DateRange)
    assert rng == DateRange(dt.date(2014, 2, 24), dt.date(2014, 2, 28))
    assert converter.unstructure(rng) == "2014-02-24/2014-02-28"
    assert str(rng) == "2014-02-24/2014-02-28"
    with pytest.raises(ValueError, match="two dates"):
        DateRange.parse("2014-02-24")


# -- coercions --------------------------------------------------------------------------------


def test_lossless_coercions(no_warnings: None) -> None:
    record = strict.structure(
        appointment(id=12345, doctor="17", duration=30.0, deleted_flag=1, is_walk_in=0),
        Appointment,
    )
    assert record.id == "12345"
    assert record.doctor == 17
    assert record.duration == 30
    assert record.deleted_flag is True and record.is_walk_in is False
    lab = strict.structure({"id": 1, "value": 5}, LabResult)
    assert lab.value == 5


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("doctor", True),
        ("doctor", "1_000"),
        ("doctor", " 12"),
        ("doctor", 1.5),
        ("deleted_flag", 2),
        ("deleted_flag", "true"),
        ("notes", 1.5),
        ("notes", ["a"]),
        ("vitals", ["not", "an", "object"]),
        ("custom_fields", [1, 2]),
        ("custom_fields", {"a": 1}),
    ],
)
def test_no_lossy_coercion(field: str, value: Any) -> None:
    with pytest.raises(RecordDecodeError) as info:
        strict.structure(appointment(**{field: value}), Appointment)
    assert info.value.field == field


# -- values that do not fit --------------------------------------------------------------------


def test_lenient_mistyped_value_becomes_none_with_a_warning() -> None:
    payload = appointment(duration="SECRET-PHI-VALUE")
    with pytest.warns(RecordDecodeWarning) as caught:
        record = converter.structure(payload, Appointment)
    assert record.duration is None
    assert record.raw["duration"] == "SECRET-PHI-VALUE"
    assert converter.unstructure(record)["duration"] is None
    messages = [str(w.message) for w in caught]
    assert messages == ["Appointment.duration read as None: expected an integer"]
    assert all("SECRET" not in m for m in messages)


def test_strict_mistyped_value_raises_naming_type_and_field() -> None:
    with pytest.raises(RecordDecodeError) as info:
        strict.structure(appointment(duration="SECRET-PHI-VALUE"), Appointment)
    assert (info.value.record_type, info.value.field) == ("Appointment", "duration")
    assert "SECRET" not in str(info.value)
    assert "Appointment.duration" in str(info.value)


def test_missing_always_present_field() -> None:
    payload = full_payload(CustomVital)
    del payload["name"]
    with pytest.raises(RecordDecodeError, match=r"CustomVital\.name.*missing"):
        strict.structure(payload, CustomVital)
    with pytest.warns(RecordDecodeWarning, match=r"CustomVital\.name read as None: missing"):
        record = converter.structure(payload, CustomVital)
    # The record still reaches the caller, with every other field intact.
    assert record.name is None
    assert record.id == wire_value(int)


def test_a_page_survives_a_bad_record() -> None:
    page = [appointment(id=str(i)) for i in range(5)]
    page[2]["scheduled_time"] = "not a time"
    with pytest.warns(RecordDecodeWarning):
        records = converter.structure_many(page, Appointment)
    assert [r.id for r in records] == ["0", "1", "2", "3", "4"]
    assert records[2].scheduled_time is None and records[3].scheduled_time is not None
    with pytest.raises(RecordDecodeError):
        strict.structure_many(page, Appointment)


def test_non_object_payload_raises_in_both_modes() -> None:
    for conv in (converter, strict):
        with pytest.raises(RecordDecodeError, match="not a JSON object"):
            conv.structure(["a", "list"], Appointment)


def test_cattrs_entry_points_use_the_record_hooks() -> None:
    records = converter.structure([{"id": "1"}, {"id": "2", "z": 0}], list[Appointment])
    assert [r.id for r in records] == ["1", "2"]
    assert records[1].extra == {"z": 0}
    assert isinstance(make_converter(), DrChronoConverter)
    assert converter.strict is False and strict.strict is True


# -- writing ----------------------------------------------------------------------------------


@pytest.mark.parametrize("cls", RECORD_TYPES, ids=lambda c: c.__name__)
def test_write_round_trip_of_writable_fields(cls: type[Record]) -> None:
    payload = full_payload(cls)
    writable = {a.name for a in writable_fields(cls)}
    expected = {k: v for k, v in payload.items() if k in writable}
    assert converter.unstructure_writable(converter.structure(payload, cls)) == expected


def test_read_only_fields_are_never_sent() -> None:
    record = Appointment(
        id="1",
        doctor=2,
        created_at=dt.datetime(2020, 1, 1),
        deleted_flag=True,
        status_transitions={"a": 1},
        notes="",
    )
    assert converter.unstructure_writable(record) == {"doctor": 2, "notes": ""}


def test_unset_fields_are_not_sent() -> None:
    assert converter.unstructure_writable(Patient(doctor=1, gender="Female")) == {
        "doctor": 1,
        "gender": "Female",
    }


def test_field_metadata_helpers() -> None:
    names = [a.name for a in writable_fields(Appointment)]
    assert "doctor" in names and "id" not in names and "created_at" not in names
    assert all(not a.metadata["read_only"] for a in writable_fields(Appointment))
    assert "raw" not in [a.name for a in api_fields(Appointment)]
    assert writable_fields(CustomVital) == ()
    with pytest.raises(InvalidRequestError):
        api_fields(Record)


# -- ids and sizes ----------------------------------------------------------------------------

KEYED = [c for c in RECORD_TYPES if any(a.name == "id" for a in api_fields(c))]


@pytest.mark.parametrize("cls", KEYED, ids=lambda c: c.__name__)
@pytest.mark.parametrize(("blank", "problem"), [(None, "blank"), ("", "blank"), (" ", "blank")])
def test_blank_ids_do_not_fit(cls: type[Record], blank: Any, problem: str) -> None:
    """A sync keys on `id`: a record without one is reported, even where it is typed optional."""
    payload = full_payload(cls)
    payload["id"] = blank
    with pytest.raises(RecordDecodeError) as info:
        strict.structure(payload, cls)
    assert info.value.field == "id"
    with pytest.warns(RecordDecodeWarning, match=rf"{cls.__name__}\.id read as None: {problem}"):
        record = converter.structure(payload, cls)
    assert record.id is None  # type: ignore[attr-defined]
    assert record.raw is payload


@pytest.mark.parametrize("cls", KEYED, ids=lambda c: c.__name__)
def test_missing_ids_do_not_fit(cls: type[Record]) -> None:
    payload = full_payload(cls)
    del payload["id"]
    with pytest.raises(RecordDecodeError, match=r"\.id does not fit.*missing"):
        strict.structure(payload, cls)
    with pytest.warns(RecordDecodeWarning, match=rf"{cls.__name__}\.id read as None: missing"):
        record = converter.structure(payload, cls)
    # Every other field is read as usual.
    expected = converter.structure(full_payload(cls), cls)
    assert attrs.evolve(record, id=expected.id) == expected  # type: ignore[attr-defined]


def test_zero_is_an_id(no_warnings: None) -> None:
    assert strict.structure(full_payload(CustomVital) | {"id": 0}, CustomVital).id == 0


@pytest.mark.parametrize(
    "value",
    [
        "1e50000000",
        "1E-999999999",
        "-1e+41",
        "1e-41",
        "9" * 41,
        "0." + "0" * 60 + "1",
        "1" * 5000,
        10**50,
        -(10**50),
        1e300,
    ],
)
def test_oversized_decimals_do_not_fit(value: Any) -> None:
    payload = full_payload(LineItem)
    payload["price"] = value
    with pytest.raises(RecordDecodeError, match=r"LineItem\.price"):
        strict.structure(payload, LineItem)
    with pytest.warns(RecordDecodeWarning, match=r"LineItem\.price"):
        assert converter.structure(payload, LineItem).price is None


@pytest.mark.parametrize(
    "value", ["0.000001", "1e40", "-1E+2", "9" * 40, "123456789012345678.1234", 10**39, 1e39]
)
def test_large_but_sane_decimals_fit(value: Any, no_warnings: None) -> None:
    payload = full_payload(LineItem)
    payload["price"] = value
    price = strict.structure(payload, LineItem).price
    assert price == Decimal(repr(value) if isinstance(value, float) else value)


def test_an_oversized_decimal_built_in_code_is_not_written_out() -> None:
    line = LineItem(price=Decimal("1e999999999"))
    with pytest.raises(InvalidRequestError, match="decimal"):
        converter.unstructure_writable(line)
    with pytest.raises(InvalidRequestError):
        converter.unstructure(line)


@pytest.mark.parametrize("value", ["1" * 41, "1" * 5000, "-" + "9" * 4400])
def test_oversized_integer_strings_do_not_fit(value: str) -> None:
    with pytest.raises(RecordDecodeError) as info:
        strict.structure(appointment(doctor=value), Appointment)
    assert info.value.field == "doctor"
    with pytest.warns(RecordDecodeWarning, match=r"Appointment\.doctor"):
        assert converter.structure(appointment(doctor=value), Appointment).doctor is None


def test_huge_integers_do_not_escape_as_strings() -> None:
    """An integer where a string is declared becomes a string only within the same bound."""
    for value in (10**40, -(10**40), 10**5000):
        with pytest.raises(RecordDecodeError) as info:
            strict.structure(appointment(notes=value), Appointment)
        assert info.value.field == "notes"
    assert strict.structure(appointment(id=10**39 - 1), Appointment).id == "9" * 39


# -- live payloads over the reference ----------------------------------------------------------


def live_appointment() -> dict[str, Any]:
    """An appointment shaped like the live API's (arrays of codes, keys the reference omits)."""
    return {
        "id": "257780001",
        "allow_overlapping": True,
        "appt_is_break": False,
        "base_recurring_appointment": None,
        "billing_status": "",
        "billing_provider": None,
        "billing_notes": [],
        "cloned_from": None,
        "color": "#E9B96E",
        "created_at": "2023-06-19T22:09:40",
        "deleted_flag": False,
        "doctor": 1,
        "duration": 75,
        "exam_room": 1,
        "first_billed_date": "2023-06-24T10:00:00",
        "first_edi_date": "",
        "icd9_codes": ["724.4", "739.1"],
        "icd10_codes": [],
        "ins1_status": "",
        "ins2_status": "",
        "is_walk_in": False,
        "is_virtual_base": False,
        "last_billed_date": "2023-06-24T10:00:00",
        "notes": "",
        "office": 1,
        "patient": 1,
        "profile": None,
        "reason": "New Patient / Initial Visit",
        "recurring_appointment": False,
        "scheduled_time": "2023-06-24T10:00:00",
        "status": "",
        "status_transitions": [{"from_status": "", "to_status": "Arrived", "datetime": ""}],
        "supervising_provider": None,
        "updated_at": "2023-06-19T22:09:46",
        "payment_profile": "Insurance",
        "is_telehealth": False,
    }


def test_a_live_shaped_appointment_loses_nothing(no_warnings: None) -> None:
    payload = live_appointment()
    record = strict.structure(payload, Appointment)
    assert record.icd9_codes == ["724.4", "739.1"]
    assert record.icd10_codes == []
    assert record.status_transitions == payload["status_transitions"]
    assert set(record.extra) == {
        "first_edi_date",
        "ins1_status",
        "ins2_status",
        "payment_profile",
        "is_telehealth",
    }


@pytest.mark.parametrize(
    ("wire", "codes"),
    [
        (["E11.9", "I10"], ["E11.9", "I10"]),
        ([], []),
        ("E11.9,I10", ["E11.9", "I10"]),  # the reference's shape
        ("E11.9, I10 ,", ["E11.9", "I10"]),
        ("Z00.00", ["Z00.00"]),
        ("", None),
        (None, None),
    ],
)
def test_icd_codes_read_both_shapes(wire: Any, codes: Any, no_warnings: None) -> None:
    record = strict.structure(appointment(icd10_codes=wire, icd9_codes=wire), Appointment)
    assert record.icd10_codes == codes and record.icd9_codes == codes


@pytest.mark.parametrize("wire", [[1, 2], [None], {"code": "I10"}, 7])
def test_icd_codes_of_another_shape_do_not_fit(wire: Any) -> None:
    with pytest.raises(RecordDecodeError) as info:
        strict.structure(appointment(icd10_codes=wire), Appointment)
    assert info.value.field == "icd10_codes"


def test_status_transitions_read_both_shapes(no_warnings: None) -> None:
    one = {"from_status": "", "to_status": "Arrived", "datetime": "2024-01-02T10:00:00"}

    def read(value: Any) -> Any:
        return strict.structure(
            appointment(status_transitions=value), Appointment
        ).status_transitions

    assert read([one]) == [one]
    assert read(one) == [one]
    assert read({}) == []
    with pytest.raises(RecordDecodeError):
        read(["x"])


def test_base_recurring_appointment_is_an_appointment_id(no_warnings: None) -> None:
    record = strict.structure(appointment(base_recurring_appointment="8812_20240105"), Appointment)
    assert record.base_recurring_appointment == "8812_20240105"
    record = strict.structure(appointment(base_recurring_appointment=8812), Appointment)
    assert record.base_recurring_appointment == "8812"


def test_lab_order_codes_are_objects_and_document_ids_may_be_strings(no_warnings: None) -> None:
    from drchrono_async.records import LabOrder

    codes = [{"code": "F01.50", "description": "Vascular dementia"}]
    order = strict.structure({"id": 3, "icd10_codes": codes, "documents": ["11", 12]}, LabOrder)
    assert order.icd10_codes == codes
    assert order.documents == [11, 12]
    assert converter.unstructure_writable(LabOrder(icd10_codes=[{"code": "I10"}])) == {
        "icd10_codes": [{"code": "I10"}]
    }


def test_the_emulator_sends_codes_and_transitions_as_the_live_api(no_warnings: None) -> None:
    from drchrono_async.testing import Emulator, VirtualClock

    emu = Emulator(seed=3, clock=VirtualClock(start=1_767_225_600.0), sizes={"appointments": 400})
    rows = emu.records("appointments")
    assert all(isinstance(r["icd10_codes"], list) for r in rows)
    assert all(isinstance(r["icd9_codes"], list) for r in rows)
    assert all(isinstance(r["status_transitions"], list) for r in rows)
    records = strict.structure_many(rows, Appointment)
    assert any(r.icd10_codes for r in records) and any(r.status_transitions for r in records)
