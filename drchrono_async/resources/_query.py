"""Checking and formatting what goes into a query string, before anything is sent.

Every filter is checked against its `FilterKind` from the endpoint table; dates and
timestamps are written the way the API wants them (no timezone suffix: an aware datetime is
first converted to the client's timezone). `date_range` values longer than the API accepts
are split into windows here.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Mapping, Sequence
from decimal import Decimal
from typing import Any

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


def naive(value: dt.datetime, tz: dt.tzinfo) -> dt.datetime:
    """The wall time in `tz`, without tzinfo (the API rejects `Z` and offsets)."""
    if value.tzinfo is not None and value.utcoffset() is not None:
        value = value.astimezone(tz)
    return value.replace(tzinfo=None)


def format_timestamp(value: dt.datetime, tz: dt.tzinfo) -> str:
    return naive(value, tz).isoformat(timespec="seconds")


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
            raise InvalidRequestError(f"{name} takes an integer id")
        return str(value)
    if kind is FilterKind.STR:
        if isinstance(value, bool) or not isinstance(value, (str, int)):
            raise InvalidRequestError(f"{name} takes a string")
        return str(value)
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
            if _TZ_SUFFIX.search(text):
                try:
                    return format_timestamp(dt.datetime.fromisoformat(text), tz)
                except ValueError:
                    pass
            else:
                try:
                    dt.datetime.fromisoformat(text)
                    return text
                except ValueError:
                    pass
        raise InvalidRequestError(f"{name} takes a datetime (or an ISO 8601 timestamp)")
    if kind is FilterKind.STR_LIST:
        if isinstance(value, str) or not isinstance(value, Iterable):
            raise InvalidRequestError(f"{name} takes a list of strings")
        items = list(value)
        if not all(isinstance(v, str) and v for v in items):
            raise InvalidRequestError(f"{name} takes a list of non-empty strings")
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
    if isinstance(page_size, bool) or not isinstance(page_size, int) or page_size < 1:
        raise InvalidRequestError("page_size must be a whole number >= 1")
    if page_size > maximum:
        mode = " with verbose=True" if verbose else ""
        raise InvalidRequestError(
            f"page_size {page_size} is above the maximum of {maximum} for {endpoint.name}{mode}"
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
    """A request value as JSON: naive timestamps, ISO dates, decimals as strings."""
    if isinstance(value, dt.datetime):
        return format_timestamp(value, tz)
    if isinstance(value, (dt.date, dt.time)):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, Mapping):
        return {str(k): jsonable(v, tz) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v, tz) for v in value]
    if hasattr(value, "start") and hasattr(value, "end") and not isinstance(value, str):
        start, end = parse_date_range("date range", value)
        return f"{start.isoformat()}/{end.isoformat()}"
    return value
