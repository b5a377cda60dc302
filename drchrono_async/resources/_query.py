"""Checking and formatting what goes into a query string, before anything is sent.

Every filter is checked against its `FilterKind` from the endpoint table; dates and
timestamps are written the way the API wants them (no timezone suffix: an aware datetime is
first converted to the client's timezone). `date_range` values longer than the API accepts
are split into windows here.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from decimal import Decimal
from typing import Any

from .._checks import check_int
from .._endpoints import Action, Endpoint, FilterKind
from ..errors import InvalidRequestError

__all__ = [
    "DateSpan",
    "action_params",
    "check_required",
    "format_filter",
    "format_timestamp",
    "jsonable",
    "list_params",
    "naive",
    "parse_date_range",
    "split_date_range",
]

DateSpan = tuple[dt.date, dt.date]
# The most date windows (concurrent chains) one listing may be cut into.
MAX_WINDOWS = 256
_DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_TZ_SUFFIX = re.compile(r"(Z|[+-]\d{2}:?\d{2})$")
# Integers beyond a signed 64 bits are no id or count the API stores.
MAX_INT = 2**63 - 1


def naive(value: dt.datetime, tz: dt.tzinfo) -> dt.datetime:
    """The wall time in `tz`, without tzinfo (the API rejects `Z` and offsets).

    Raises `InvalidRequestError` when that wall time is outside the years 1 to 9999 (an
    aware datetime near `datetime.min`/`max`) or the datetime's own tzinfo fails.
    """
    try:
        if value.tzinfo is not None and value.utcoffset() is not None:
            value = value.astimezone(tz)
    except (OverflowError, ValueError, TypeError):
        raise InvalidRequestError(
            "a datetime cannot be converted to the client's timezone (out of range)"
        ) from None
    return value.replace(tzinfo=None)


def format_timestamp(value: dt.datetime, tz: dt.tzinfo) -> str:
    return naive(value, tz).isoformat(timespec="seconds")


def _plain_int(name: str, value: int) -> int:
    # int.__int__ gives a plain int even for a subclass with its own __str__; the bound keeps
    # str() clear of Python's 4300-digit limit and every value inside what the API stores.
    number = int.__int__(value)
    if not -MAX_INT <= number <= MAX_INT:
        raise InvalidRequestError(f"{name} is out of range (a 64-bit integer)")
    return number


def _plain_str(name: str, value: str) -> str:
    text = str.__str__(value)  # a plain str, whatever a subclass's __str__ says
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:  # lone surrogates: no URL or JSON body can carry them
        raise InvalidRequestError(f"{name} is not valid text (lone surrogates)") from None
    return text


def parse_date_range(name: str, value: Any) -> DateSpan:
    """Accept `DateRange`-likes (`.start`/`.end`), `(start, end)` pairs and `"a/b"` strings."""
    start: Any
    end: Any
    if isinstance(value, str):
        parts = value.split("/")
        if len(parts) != 2:
            raise InvalidRequestError(f"{name} must look like YYYY-MM-DD/YYYY-MM-DD")
        start, end = parts
    elif hasattr(value, "start") and hasattr(value, "end"):
        start, end = value.start, value.end
    elif isinstance(value, Sequence) and len(value) == 2:
        start, end = value
    else:
        raise InvalidRequestError(f"{name} must be a DateRange, a (start, end) pair or 'a/b'")
    span = (_as_date(name, start), _as_date(name, end))
    if span[0] > span[1]:
        raise InvalidRequestError(f"{name} starts after it ends")
    return span


def _as_date(name: str, value: Any) -> dt.date:
    if isinstance(value, dt.datetime):
        raise InvalidRequestError(f"{name} takes dates, not datetimes")
    if isinstance(value, dt.date):
        return value
    if isinstance(value, str) and _DATE_RE.match(value.strip()):
        try:
            return dt.date.fromisoformat(value.strip())
        except ValueError:
            pass
    raise InvalidRequestError(f"{name} takes a date (datetime.date or 'YYYY-MM-DD')")


def format_filter(name: str, kind: FilterKind, value: Any, tz: dt.tzinfo) -> str | None:
    """The query value of one filter, or None to leave it out. Raises on a wrong type."""
    if kind is FilterKind.FLAG:
        if not isinstance(value, bool):
            raise InvalidRequestError(f"{name} is a flag: pass True or False")
        return "true" if value else None
    if kind is FilterKind.BOOL:
        if not isinstance(value, bool):
            raise InvalidRequestError(f"{name} takes a bool")
        return "true" if value else "false"
    if kind is FilterKind.INT:
        if isinstance(value, bool) or not isinstance(value, int):
            raise InvalidRequestError(f"{name} takes an integer")
        return str(_plain_int(name, value))
    if kind is FilterKind.STR:
        if isinstance(value, str):
            return _plain_str(name, value)
        if isinstance(value, int) and not isinstance(value, bool):
            return str(_plain_int(name, value))
        raise InvalidRequestError(f"{name} takes a string")
    if kind is FilterKind.DATE:
        return _as_date(name, value).isoformat()
    if kind is FilterKind.DATE_RANGE:
        start, end = parse_date_range(name, value)
        return f"{start.isoformat()}/{end.isoformat()}"
    if kind is FilterKind.TIMESTAMP:
        if isinstance(value, dt.datetime):
            return format_timestamp(value, tz)
        if isinstance(value, dt.date):
            return dt.datetime.combine(value, dt.time()).isoformat(timespec="seconds")
        if isinstance(value, str):
            text = value.strip().replace(" ", "T")
            try:
                parsed = dt.datetime.fromisoformat(text)
            except ValueError:
                pass
            else:
                # Written in the one form the API reads, whatever ISO form was given.
                return format_timestamp(parsed, tz)
        raise InvalidRequestError(f"{name} takes a datetime (or an ISO 8601 timestamp)")
    if kind is FilterKind.STR_LIST:
        if isinstance(value, str) or not isinstance(value, Iterable):
            raise InvalidRequestError(f"{name} takes a list of strings")
        items = [_plain_str(name, v) if isinstance(v, str) else v for v in value]
        if not all(isinstance(v, str) and v for v in items):
            raise InvalidRequestError(f"{name} takes a list of non-empty strings")
        if any("," in v for v in items):
            # The API splits the value on commas: one item would become several.
            raise InvalidRequestError(f"{name}: an item cannot contain a comma")
        return ",".join(items)
    raise AssertionError(f"unhandled filter kind {kind}")  # pragma: no cover


def check_required(endpoint: Endpoint, given: Iterable[str]) -> None:
    present = set(given)
    for group in endpoint.required_filters:
        if not present.intersection(group):
            names = " or ".join(group)
            raise InvalidRequestError(f"listing {endpoint.name} needs {names}")


def list_params(
    endpoint: Endpoint,
    filters: Mapping[str, Any],
    *,
    verbose: bool,
    page_size: int | None,
    tz: dt.tzinfo,
) -> dict[str, str]:
    """The checked query of a listing (without any sharding)."""
    unknown = sorted(set(filters) - set(endpoint.filters))
    if unknown:
        allowed = ", ".join(sorted(endpoint.filters)) or "none"
        raise InvalidRequestError(
            f"{endpoint.name} has no filter {', '.join(unknown)} (filters: {allowed})"
        )
    params = _format_all(endpoint.filters, filters, tz)
    check_required(endpoint, params)
    if not isinstance(verbose, bool):
        raise InvalidRequestError("verbose takes a bool")
    maximum = endpoint.max_page_size_for(verbose)
    if page_size is None:
        page_size = maximum  # under an hourly quota, records per call is throughput
    mode = " with verbose=True" if verbose else ""
    page_size = check_int(
        page_size,
        "page_size",
        low=1,
        high=maximum,
        tail=f" (the maximum for {endpoint.name}{mode})",
    )
    params["page_size"] = str(page_size)
    if verbose:
        params["verbose"] = "true"
    return params


def action_params(action: Action, values: Mapping[str, Any], tz: dt.tzinfo) -> dict[str, str]:
    """The checked query of an action such as `patients.ccda`."""
    return _format_all(action.params, values, tz)


def _format_all(
    kinds: Mapping[str, FilterKind], values: Mapping[str, Any], tz: dt.tzinfo
) -> dict[str, str]:
    """Format every given value by its kind; `None` values and false flags are left out."""
    params: dict[str, str] = {}
    for name, value in values.items():
        if value is None:
            continue
        text = format_filter(name, kinds[name], value, tz)
        if text is not None:
            params[name] = text
    return params


def split_date_range(
    span: DateSpan, *, today: dt.date, shards: int | None, limit_days: int | None
) -> list[DateSpan]:
    """Cut an inclusive date span into consecutive windows that the API accepts.

    A span that is not wholly in the past may be at most `limit_days` long; `shards` cuts
    it further into that many windows (about equal). Windows never overlap and leave no gap,
    so the listing returns every record of the span exactly once.
    """
    start, end = span
    days = (end - start).days + 1
    pieces = 1
    if limit_days is not None and end >= today and days > limit_days:
        pieces = -(-days // limit_days)
    if shards is not None:
        pieces = max(pieces, min(shards, days))
    if pieces > MAX_WINDOWS:
        raise InvalidRequestError(
            f"that date range needs more than {MAX_WINDOWS} windows; list a shorter range"
        )
    size, extra = divmod(days, pieces)
    windows: list[DateSpan] = []
    cursor = start
    for i in range(pieces):
        length = size + (1 if i < extra else 0)
        window_end = cursor + dt.timedelta(days=length - 1)
        windows.append((cursor, window_end))
        if i + 1 < pieces:  # never step past the last day (date.max has no next day)
            cursor = window_end + dt.timedelta(days=1)
    return windows


def jsonable(value: Any, tz: dt.tzinfo) -> Any:
    """A request value as JSON: naive timestamps, ISO dates, decimals as strings.

    Anything JSON cannot carry as the API expects (NaN, an integer beyond 64 bits, lone
    surrogates, bytes, sets, arbitrary objects) is an `InvalidRequestError` here, before any
    request is built.
    """
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, int):
        return _plain_int("a request body integer", value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise InvalidRequestError("a request body holds NaN or infinity, which JSON lacks")
        return float(value)
    if isinstance(value, str):
        return _plain_str("a request body string", value)
    if isinstance(value, dt.datetime):
        return format_timestamp(value, tz)
    if isinstance(value, (dt.date, dt.time)):
        return value.isoformat()
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise InvalidRequestError("a request body holds a NaN or infinite Decimal")
        return str(value)
    if isinstance(value, Mapping):
        out: dict[str, Any] = {}
        for key, item in value.items():
            if not isinstance(key, (str, int)) or isinstance(key, bool):
                raise InvalidRequestError("request body keys are strings")
            name = _plain_str("a request body key", key) if isinstance(key, str) else str(key)
            out[name] = jsonable(item, tz)
        return out
    if isinstance(value, (list, tuple)):
        return [jsonable(v, tz) for v in value]
    if hasattr(value, "start") and hasattr(value, "end"):
        start, end = parse_date_range("date range", value)
        return f"{start.isoformat()}/{end.isoformat()}"
    raise InvalidRequestError(
        f"a request body holds a {type(value).__name__}, which cannot be sent as JSON"
    )
