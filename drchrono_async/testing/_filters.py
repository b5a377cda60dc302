"""A listing's query as the API reads it: checked, then compiled into a row predicate.

Everything here comes from the endpoint table: the filters and their kinds, the groups one of
which is required, the record field each filter selects by, the search filters, the
`date_range` limit, and which filters the emulator accepts without applying.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Hashable, Mapping
from typing import Any

import attrs

from drchrono_async._endpoints import Endpoint, FilterKind

from ._schema import FALSE, TRUE, Invalid
from ._store import Row
from ._wire import parse_date, parse_ts

__all__ = ["Predicate", "Selection", "selection"]

Predicate = Callable[[Row], bool]
# Switches that widen a listing rather than narrow it (see `_hidden_rows`).
_SWITCHES = frozenset({"show_archived", "show_inactive"})


@attrs.frozen
class Selection:
    """Which rows a listing returns: `predicate` (None: all) over the rows whose
    `within=(field, lo, hi)` date lies in `lo..hi` (None: every row); `signature` names the
    selection for the table's query cache."""

    predicate: Predicate | None
    signature: Hashable
    within: tuple[str, str, str] | None


def selection(endpoint: Endpoint, q: Mapping[str, str], today: dt.date) -> Selection:
    """The rows a listing with query `q` returns, or `Invalid` with DRF's error map."""
    errors: dict[str, list[str]] = {}
    for group in endpoint.required_filters:
        if not any(q.get(name) for name in group):
            if len(group) == 1:
                errors[group[0]] = ["This field is required."]
            else:
                message = f"One of {', '.join(group)} is required."
                for name in group:
                    errors[name] = [message]
    preds: list[Predicate] = []
    signature: list[tuple[str, str]] = []
    within: tuple[str, str, str] | None = None
    for name, kind in endpoint.filters.items():
        if name not in q or name in _SWITCHES:
            continue
        try:
            pred = _compile(endpoint, name, kind, q[name], today)
        except Invalid as exc:
            errors[name] = exc.errors
            continue
        if name in endpoint.unmodelled_filters:
            continue  # checked like the API checks it, but it selects nothing here
        if pred is not None:
            preds.append(pred)
            signature.append((name, q[name]))
        if within is None and kind in (FilterKind.DATE, FilterKind.DATE_RANGE):
            lo, _, hi = q[name].partition("/")
            within = (endpoint.filter_field(name), lo, hi or lo)
    if errors:
        raise Invalid(errors)
    hide = _hidden_rows(endpoint, q)
    if hide is not None:
        preds.append(hide)
        signature.append(("~hide", ""))
    return Selection(_all(preds), tuple(signature), within)


def _hidden_rows(endpoint: Endpoint, q: Mapping[str, str]) -> Predicate | None:
    """Archived (or soft-deleted) and inactive rows, which lists leave out unless asked."""
    preds: list[Predicate] = []
    if "show_archived" in endpoint.filters and not _flag(q.get("show_archived")):
        field = endpoint.soft_delete_field
        if field and field != "archived":
            preds.append(lambda row: not row.get(field) and not row.get("archived"))
        else:
            preds.append(lambda row: not row.get("archived"))
    if "show_inactive" in endpoint.filters and not _flag(q.get("show_inactive")):
        preds.append(lambda row: row.get("patient_status") in (None, "", "A"))
    return _all(preds)


def _compile(
    endpoint: Endpoint, name: str, kind: FilterKind, raw: str, today: dt.date
) -> Predicate | None:
    field = endpoint.filter_field(name)
    if kind is FilterKind.INT:
        try:
            want = int(raw)
        except ValueError:
            raise Invalid(["Enter a whole number."]) from None
        return lambda row: _matches(row.get(field), want)
    if kind is FilterKind.BOOL:
        if raw.lower() not in TRUE | FALSE:
            raise Invalid(["Enter a valid boolean."])
        want_b = raw.lower() in TRUE
        return lambda row: bool(row.get(field)) is want_b
    if kind is FilterKind.DATE:
        day = parse_date(raw)
        if day is None:
            raise Invalid(["Enter a valid date."])
        text = day.isoformat()
        return lambda row: str(row.get(field) or "")[:10] == text
    if kind is FilterKind.DATE_RANGE:
        limit = endpoint.date_range_max_days if name == "date_range" else None
        lo, hi = _date_range(raw, limit, today)
        return lambda row: lo <= str(row.get(field) or "")[:10] <= hi
    if kind is FilterKind.TIMESTAMP:
        since = parse_ts(raw)
        if since is None:
            raise Invalid(["Enter a valid date/time."])
        text = since.isoformat(timespec="seconds")
        return lambda row: str(row.get(field) or "").replace(" ", "T") >= text
    if kind is FilterKind.STR_LIST:
        wanted = {v for v in raw.split(",") if v}
        return lambda row: _any_of(row.get(field), wanted)
    if kind is FilterKind.FLAG:
        return None
    searched = endpoint.search_filters.get(name)
    if searched is not None:
        needle = raw.lower()
        return lambda row: any(needle in str(row.get(f) or "").lower() for f in searched)
    if "," in raw:  # e.g. patients' `offices`: a comma-separated list of ids
        wanted = {v.strip() for v in raw.split(",")}
        return lambda row: _any_of(row.get(field), wanted)
    return lambda row: _matches(row.get(field), raw)


def _date_range(raw: str, limit: int | None, today: dt.date) -> tuple[str, str]:
    first, sep, last = raw.partition("/")
    lo, hi = parse_date(first), parse_date(last)
    if not sep or lo is None or hi is None:
        raise Invalid(["Enter a valid date range: YYYY-MM-DD/YYYY-MM-DD."])
    if hi < lo:
        raise Invalid(["The start of the range must not be after its end."])
    # Both ends count; the limit holds unless the whole range is in the past.
    if limit is not None and (hi - lo).days + 1 > limit and hi >= today:
        raise Invalid([f"Date range cannot be longer than {limit} days unless it is in the past."])
    return lo.isoformat(), hi.isoformat()


def _all(preds: list[Predicate]) -> Predicate | None:
    if not preds:
        return None
    if len(preds) == 1:
        return preds[0]
    return lambda row: all(p(row) for p in preds)


def _flag(raw: str | None) -> bool:
    """A present boolean switch, as `show_archived`: on unless it says false."""
    return raw is not None and raw.lower() not in ("false", "0", "no", "off")


def _matches(value: Any, want: Any) -> bool:
    if isinstance(value, list):
        return any(_matches(v, want) for v in value)
    if isinstance(want, int):
        if isinstance(value, str):
            return value == str(want)
        return value == want and not isinstance(value, bool)
    return value == want or (value is not None and str(value) == want)


def _any_of(value: Any, wanted: set[str]) -> bool:
    if isinstance(value, list):
        return any(str(v) in wanted for v in value)
    return value is not None and str(value) in wanted
