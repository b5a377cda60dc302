"""What a write may carry: each endpoint's fields and their wire kinds, and value conversion.

The fields come from the endpoint's record class (`drchrono_async.records`): its types say
what a value must look like, its metadata which fields the API owns (read-only).
"""

from __future__ import annotations

import decimal
import re
from collections.abc import Callable, Mapping
from typing import Any

import attrs
import orjson

from drchrono_async._endpoints import Endpoint

from ._fake import kind_of, record_fields
from ._seed import EXTRA_FIELD
from ._wire import UploadedFile, parse_date, parse_ts

__all__ = ["Field", "Invalid", "convert", "default", "schema"]

TRUE = frozenset({"true", "1", "yes", "on"})
FALSE = frozenset({"false", "0", "no", "off", ""})


@attrs.frozen
class Field:
    kind: str
    read_only: bool


class Invalid(Exception):
    """A request the API answers 400, with DRF's error body."""

    def __init__(self, errors: Any) -> None:
        super().__init__(errors)
        self.errors = errors


_SCHEMAS: dict[str, Mapping[str, Field]] = {}


def schema(endpoint: Endpoint) -> Mapping[str, Field]:
    """Every field of the endpoint's records: its wire kind and whether a write may set it."""
    cached = _SCHEMAS.get(endpoint.name)
    if cached is not None:
        return cached
    fields: dict[str, Field] = {}
    record_type = endpoint.record_type
    if record_type is not None:
        for spec in record_fields(record_type):
            fields[spec.name] = Field(kind_of(spec.type), spec.read_only)
    for name in endpoint.file_fields:
        fields[name] = Field("file", False)
    if "id" in fields:  # a few record classes have none; the API assigns it where they do
        fields["id"] = Field(fields["id"].kind, True)
    fields[EXTRA_FIELD] = Field("any", True)
    _SCHEMAS[endpoint.name] = fields
    return fields


def default(kind: str) -> Any:
    """The value a new record holds for a field the create did not send."""
    return {"str": "", "bool": False, "list": [], "object": {}}.get(kind)


def convert(kind: str, value: Any, store_file: Callable[[UploadedFile], str]) -> Any:
    """A value sent for a field of `kind`, in wire form; `Invalid` with DRF's messages if not.

    `store_file` keeps an upload and returns the URL the record will carry.
    """
    if value is None:
        return None
    if kind == "file":
        if not isinstance(value, UploadedFile):
            raise Invalid(
                ["The submitted data was not a file. Check the encoding type on the form."]
            )
        return store_file(value)
    if isinstance(value, UploadedFile):
        raise Invalid(["Not a valid string."])
    handler = _CONVERTERS.get(kind)
    return handler(value) if handler is not None else value


def _int(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise Invalid(["A valid integer is required."])
    try:
        return int(value)
    except ValueError:
        raise Invalid(["A valid integer is required."]) from None


def _float(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise Invalid(["A valid number is required."])
    try:
        return float(value)
    except ValueError:
        raise Invalid(["A valid number is required."]) from None


def _bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if str(value).lower() in TRUE:
        return True
    if str(value).lower() in FALSE:
        return False
    raise Invalid(["Must be a valid boolean."])


def _decimal(value: Any) -> str:
    try:
        number = decimal.Decimal(str(value))
    except decimal.InvalidOperation:
        raise Invalid(["A valid number is required."]) from None
    return str(number.quantize(decimal.Decimal("0.01"), rounding=decimal.ROUND_DOWN))


def _timestamp(value: Any) -> str:
    ts = parse_ts(str(value))
    if ts is None:
        raise Invalid(
            [
                "Datetime has wrong format. Use one of these formats instead: "
                "YYYY-MM-DDThh:mm[:ss[.uuuuuu]]."
            ]
        )
    return ts.isoformat(timespec="seconds")


def _date(value: Any) -> str:
    day = parse_date(str(value))
    if day is None:
        raise Invalid(["Date has wrong format. Use one of these formats instead: YYYY-MM-DD."])
    return day.isoformat()


def _time(value: Any) -> str:
    if not re.fullmatch(r"\d{2}:\d{2}(:\d{2})?", str(value)):
        raise Invalid(["Time has wrong format. Use one of these formats instead: hh:mm[:ss]."])
    return str(value) if len(str(value)) == 8 else f"{value}:00"


def _json_text(value: Any) -> Any:
    if isinstance(value, str):  # form and multipart bodies carry JSON as text
        try:
            return orjson.loads(value)
        except orjson.JSONDecodeError:
            raise Invalid(["Value must be valid JSON."]) from None
    return value


def _list(value: Any) -> list[Any]:
    value = _json_text(value)
    if not isinstance(value, list):
        raise Invalid([f'Expected a list of items but got type "{type(value).__name__}".'])
    return value


def _object(value: Any) -> dict[str, Any]:
    value = _json_text(value)
    if not isinstance(value, dict):
        raise Invalid(["Expected a dictionary of items."])
    return value


def _str(value: Any) -> str:
    if isinstance(value, (dict, list)):
        raise Invalid(["Not a valid string."])
    if isinstance(value, bool):
        return str(value).lower()
    return str(value)


_CONVERTERS: Mapping[str, Callable[[Any], Any]] = {
    "int": _int,
    "float": _float,
    "bool": _bool,
    "decimal": _decimal,
    "timestamp": _timestamp,
    "date": _date,
    "time": _time,
    "list": _list,
    "object": _object,
    "str": _str,
}
