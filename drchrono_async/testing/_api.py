"""The REST behaviour of `/api/...`, driven by the endpoint table.

Generic list/get/create/update/delete serve every endpoint; the filters are compiled from each
endpoint's declared filter kinds. Only what the API does differently has its own code here:
`/api/users/current`, appointment overlap, soft delete, actions and file uploads.
"""

from __future__ import annotations

import base64
import bisect
import datetime as dt
import decimal
import math
import re
import secrets
from collections.abc import Callable, Iterable, Mapping
from typing import Any
from urllib.parse import quote

import attrs
import orjson

from drchrono_async._endpoints import (
    BY_NAME,
    MAX_DATE_RANGE_DAYS,
    Action,
    Endpoint,
    FilterKind,
)

from ._fake import WRITE_ONLY, Faker, kind_of, record_fields
from ._rules import rules_for
from ._seed import EXTRA_FIELD
from ._store import Row, Table
from ._wire import (
    BodyError,
    EmuRequest,
    EmuResponse,
    UploadedFile,
    json_response,
    parse_body,
    parse_date,
    parse_ts,
    with_query,
)

__all__ = ["Api", "StoredFile"]

Predicate = Callable[[Row], bool]

NOT_FOUND = {"detail": "Not found."}

# Checked but not applied (they need state the emulator does not model).
IGNORED_FILTERS = frozenset(
    {
        ("appointment_templates", "available"),
        ("appointment_templates", "strict"),
        ("tasks", "due_at_unknown"),
        ("mu_2015_report", "date_range"),
        ("mu_2015_report", "stage"),
        ("clinical_note_field_values", "show_persistent"),
    }
)
_LIST_METHODS = frozenset({"GET", "POST"})
_RECORD_METHODS = frozenset({"GET", "PUT", "PATCH", "DELETE"})
_TRUE = frozenset({"true", "1", "yes", "on"})
_FALSE = frozenset({"false", "0", "no", "off", ""})


@attrs.frozen
class StoredFile:
    """An uploaded file, served back at the URL the record carries."""

    filename: str
    content_type: str
    data: bytes


@attrs.frozen
class _Field:
    kind: str
    read_only: bool


class _Invalid(Exception):
    def __init__(self, errors: Any) -> None:
        super().__init__(errors)
        self.errors = errors


def _bad(errors: Any) -> EmuResponse:
    return json_response(400, errors)


def _encode_cursor(direction: str, key: int) -> str:
    return base64.urlsafe_b64encode(f"{direction}{key}".encode()).decode().rstrip("=")


def _decode_cursor(text: str) -> tuple[str, int] | None:
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)).decode()
        direction, key = raw[0], int(raw[1:])
    except (ValueError, IndexError, UnicodeDecodeError):
        return None
    return (direction, key) if direction in "np" else None


class Api:
    """Answers `/api/...` for an authenticated user."""

    def __init__(
        self,
        tables: dict[str, Table],
        faker: Faker,
        now: Callable[[], dt.datetime],
    ) -> None:
        self.tables = tables
        self.faker = faker
        self.now = now
        self.files: dict[str, StoredFile] = {}
        self._schemas: dict[str, dict[str, _Field]] = {}
        # Told of every write, at once (the webhooks): the resource, CREATE/MODIFY/DELETE, and
        # how to build the record as a GET answers it now (only built if someone listens).
        self.observer: Callable[[str, str, Callable[[], dict[str, Any]]], None] | None = None

    def _notify(self, endpoint: Endpoint, action: str, row: Row) -> None:
        if self.observer is not None:
            self.observer(endpoint.name, action, lambda: row.view(False, endpoint.verbose_keys))

    # --- routing ----------------------------------------------------------------------------

    def handle(self, req: EmuRequest, user_id: int) -> EmuResponse:
        parts = [p for p in req.path.split("/") if p]
        if len(parts) < 2 or parts[0] != "api" or parts[1] not in BY_NAME:
            return json_response(404, NOT_FOUND)
        endpoint = BY_NAME[parts[1]]
        if endpoint.name == "users" and parts[2:] == ["current"]:
            if req.method != "GET":
                return self._not_allowed(req.method, {"GET"})
            location = f"{req.origin}/api/users/{user_id}"
            return EmuResponse(302, b"", None, [("Location", location)])
        action = self._match_action(endpoint, parts)
        if action is not None:
            return self._action(endpoint, action, parts, req)
        if len(parts) > 3:
            return json_response(404, NOT_FOUND)
        # What this path serves: the list takes GET and POST, a record the other three.
        allowed = endpoint.methods & (_LIST_METHODS if len(parts) == 2 else _RECORD_METHODS)
        if req.method not in allowed:
            return self._not_allowed(req.method, allowed)
        table = self.tables[endpoint.name]
        if len(parts) == 2:
            if req.method == "GET":
                return self._list(endpoint, table, req)
            return self._create(endpoint, table, req)
        row = table.lookup(parts[2])
        if row is None:
            return json_response(404, NOT_FOUND)
        if req.method == "GET":
            verbose = req.query_dict().get("verbose", "").lower() == "true"
            return EmuResponse(200, row.encoded(verbose, endpoint.verbose_keys))
        if req.method in ("PUT", "PATCH"):
            return self._update(endpoint, table, row, req)
        return self._delete(endpoint, table, row)

    @staticmethod
    def _not_allowed(method: str, allowed: Iterable[str]) -> EmuResponse:
        """A 405 with the `Allow` header DRF sends with it: the methods this path serves."""
        return json_response(
            405,
            {"detail": f'Method "{method}" not allowed.'},
            [("Allow", ", ".join(sorted(allowed)))],
        )

    @staticmethod
    def _match_action(endpoint: Endpoint, parts: list[str]) -> list[Action] | None:
        found = []
        for action in endpoint.actions:
            pattern = [p for p in action.path.split("/") if p]
            if len(pattern) == len(parts) and all(
                p == "{id}" or p == q for p, q in zip(pattern, parts, strict=True)
            ):
                found.append(action)
        return found or None

    # --- list -------------------------------------------------------------------------------

    def _list(self, endpoint: Endpoint, table: Table, req: EmuRequest) -> EmuResponse:
        params = req.query
        q = dict(params)
        verbose = q.get("verbose", "").lower() == "true"
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
            if name not in q or name in ("show_archived", "show_inactive"):
                continue
            try:
                pred = self._compile(endpoint, name, kind, q[name])
            except _Invalid as exc:
                errors[name] = exc.errors
                continue
            if (endpoint.name, name) in IGNORED_FILTERS:
                continue  # its value is checked like any other, then not applied
            if pred is not None:
                preds.append(pred)
                signature.append((name, q[name]))
            if within is None and kind in (FilterKind.DATE, FilterKind.DATE_RANGE):
                field = endpoint.filter_field(name)
                lo, _, hi = q[name].partition("/")
                within = (field, lo, hi or lo)
        if errors:
            return _bad(errors)
        hide = self._hidden_rows(endpoint, q)
        if hide is not None:
            preds.append(hide)
            signature.append(("~hide", ""))
        keys = table.select(tuple(signature), _all(preds), within)

        size = endpoint.default_page_size_for(verbose)
        raw_size = q.get("page_size")
        if raw_size and raw_size.isdigit() and int(raw_size) > 0:
            size = min(int(raw_size), endpoint.max_page_size_for(verbose))
        start, end = 0, min(size, len(keys))
        raw_cursor = q.get("cursor")
        if raw_cursor:
            cursor = _decode_cursor(raw_cursor)
            if cursor is None:
                return json_response(404, {"detail": "Invalid cursor"})
            direction, key = cursor
            if direction == "n":
                start = bisect.bisect_right(keys, key)
                end = min(start + size, len(keys))
            else:
                end = bisect.bisect_left(keys, key)
                start = max(0, end - size)
        page = keys[start:end]
        rest = [(k, v) for k, v in params if k != "cursor"]
        next_url = previous_url = None
        if page and end < len(keys):
            next_url = with_query(
                req.origin, req.path, [*rest, ("cursor", _encode_cursor("n", page[-1]))]
            )
        if page and start > 0:
            previous_url = with_query(
                req.origin, req.path, [*rest, ("cursor", _encode_cursor("p", page[0]))]
            )
        rows = table.rows
        vk = endpoint.verbose_keys
        body = b"".join(
            (
                b'{"next":',
                orjson.dumps(next_url),
                b',"previous":',
                orjson.dumps(previous_url),
                b',"results":[',
                b",".join(rows[k].encoded(verbose, vk) for k in page),
                b"]}",
            )
        )
        return EmuResponse(200, body)

    def _hidden_rows(self, endpoint: Endpoint, q: Mapping[str, str]) -> Predicate | None:
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
        self, endpoint: Endpoint, name: str, kind: FilterKind, raw: str
    ) -> Predicate | None:
        field = endpoint.filter_field(name)
        if kind is FilterKind.INT:
            try:
                want = int(raw)
            except ValueError:
                raise _Invalid(["Enter a whole number."]) from None
            return lambda row: _matches(row.get(field), want)
        if kind is FilterKind.BOOL:
            if raw.lower() not in _TRUE | _FALSE:
                raise _Invalid(["Enter a valid boolean."])
            want_b = raw.lower() in _TRUE
            return lambda row: bool(row.get(field)) is want_b
        if kind is FilterKind.DATE:
            day = parse_date(raw)
            if day is None:
                raise _Invalid(["Enter a valid date."])
            text = day.isoformat()
            return lambda row: str(row.get(field) or "")[:10] == text
        if kind is FilterKind.DATE_RANGE:
            lo, hi = self._date_range(endpoint, name, raw)
            return lambda row: lo <= str(row.get(field) or "")[:10] <= hi
        if kind is FilterKind.TIMESTAMP:
            since = parse_ts(raw)
            if since is None:
                raise _Invalid(["Enter a valid date/time."])
            text = since.isoformat(timespec="seconds")
            also = rules_for(endpoint.name).since_also if name == "since" else None
            if also is not None:
                # The latest of both times: a record whose nested parts changed is listed.
                return lambda row: (
                    max(str(row.get(field) or ""), str(row.get(also) or "")).replace(" ", "T")
                    >= text
                )
            return lambda row: str(row.get(field) or "").replace(" ", "T") >= text
        if kind is FilterKind.STR_LIST:
            wanted = {v for v in raw.split(",") if v}
            return lambda row: _any_of(row.get(field), wanted)
        if kind is FilterKind.FLAG:
            return None
        if name in endpoint.contains_filters:
            needle = raw.lower()
            return lambda row: needle in str(row.get(field) or "").lower()
        own = rules_for(endpoint.name).filter(name, raw)
        if own is not None:
            return own
        if "," in raw:  # e.g. patients' `offices`: a comma-separated list of ids
            wanted = {v.strip() for v in raw.split(",")}
            return lambda row: _any_of(row.get(field), wanted)
        if field == "week_days":
            wanted = {v.strip() for v in raw.split(",")}
            return lambda row: _any_of(row.get(field), wanted)
        return lambda row: _matches(row.get(field), raw)

    def _date_range(self, endpoint: Endpoint, name: str, raw: str) -> tuple[str, str]:
        first, sep, last = raw.partition("/")
        lo, hi = parse_date(first), parse_date(last)
        if not sep or lo is None or hi is None:
            raise _Invalid(["Enter a valid date range: YYYY-MM-DD/YYYY-MM-DD."])
        if hi < lo:
            raise _Invalid(["The start of the range must not be after its end."])
        # The table's rule, the same the client splits ranges by.
        if name == "date_range" and not endpoint.date_range_accepted(lo, hi, self.now().date()):
            raise _Invalid(
                [
                    f"Date range cannot be longer than {MAX_DATE_RANGE_DAYS} days "
                    "unless it is in the past."
                ]
            )
        return lo.isoformat(), hi.isoformat()

    # --- writes -----------------------------------------------------------------------------

    def schema(self, endpoint: Endpoint) -> dict[str, _Field]:
        """Field kinds and read-only flags, from the endpoint's record class."""
        cached = self._schemas.get(endpoint.name)
        if cached is not None:
            return cached
        specs = record_fields(endpoint.record_type) if endpoint.record else None
        schema: dict[str, _Field] = {}
        if specs is not None:
            for spec in specs:
                schema[spec.name] = _Field(kind_of(spec.type), spec.read_only)
        for name in endpoint.file_fields:
            schema[name] = _Field("file", False)
        for name in ("id", EXTRA_FIELD):
            schema[name] = _Field(schema[name].kind if name in schema else "any", True)
        self._schemas[endpoint.name] = schema
        return schema

    def _body(self, req: EmuRequest) -> Any:
        return parse_body(req.headers.get("content-type", ""), req.body)

    def _clean(
        self, endpoint: Endpoint, item: Any, origin: str, *, partial: bool
    ) -> dict[str, Any]:
        """Validate and convert one object of a write into wire form, or raise `_Invalid`."""
        if not isinstance(item, dict):
            raise _Invalid({"non_field_errors": ["Invalid data. Expected a dictionary."]})
        schema = self.schema(endpoint)
        errors: dict[str, list[str]] = {}
        out: dict[str, Any] = {}
        for key, value in item.items():
            field = schema.get(key)
            if field is None:
                # Without a schema (no record class, no rows) keep what was sent.
                if not schema or len(schema) <= 2:
                    out[key] = value
                continue
            if field.read_only:
                continue
            try:
                out[key] = self._convert(field.kind, value, origin)
            except ValueError as exc:
                errors[key] = [str(exc)]
        if not partial:
            rules = rules_for(endpoint.name)
            required = endpoint.required_fields
            for key in required:
                if key not in item:
                    errors.setdefault(key, ["This field is required."])
                elif item[key] is None and key not in rules.nullable:
                    errors.setdefault(key, ["This field may not be null."])
            rules.check(item, errors)
        if errors:
            raise _Invalid(errors)
        return out

    def _convert(self, kind: str, value: Any, origin: str) -> Any:
        if value is None:
            return None
        if kind == "file":
            if not isinstance(value, UploadedFile):
                raise ValueError(
                    "The submitted data was not a file. Check the encoding type on the form."
                )
            token = secrets.token_hex(8)
            self.files[token] = StoredFile(value.filename, value.content_type, value.data)
            return f"{origin}/files/{token}/{quote(value.filename or 'upload')}"
        if isinstance(value, UploadedFile):
            raise ValueError("Not a valid string.")
        if kind == "int":
            if isinstance(value, bool) or not isinstance(value, (int, str)):
                raise ValueError("A valid integer is required.")
            try:
                return int(value)
            except ValueError:
                raise ValueError("A valid integer is required.") from None
        if kind == "bool":
            if isinstance(value, bool):
                return value
            if str(value).lower() in _TRUE:
                return True
            if str(value).lower() in _FALSE:
                return False
            raise ValueError("Must be a valid boolean.")
        if kind == "float":
            if isinstance(value, bool) or not isinstance(value, (int, float, str)):
                raise ValueError("A valid number is required.")
            try:
                result = float(value)
            except ValueError:
                raise ValueError("A valid number is required.") from None
            if not math.isfinite(result):
                raise ValueError("A valid number is required.")
            return result
        if kind == "decimal":
            try:
                number = decimal.Decimal(str(value))
            except decimal.InvalidOperation:
                raise ValueError("A valid number is required.") from None
            return str(number.quantize(decimal.Decimal("0.01"), rounding=decimal.ROUND_DOWN))
        if kind == "timestamp":
            ts = parse_ts(str(value))
            if ts is None:
                raise ValueError(
                    "Datetime has wrong format. Use one of these formats instead: "
                    "YYYY-MM-DDThh:mm[:ss[.uuuuuu]]."
                )
            return ts.isoformat(timespec="seconds")
        if kind == "date":
            day = parse_date(str(value))
            if day is None:
                raise ValueError(
                    "Date has wrong format. Use one of these formats instead: YYYY-MM-DD."
                )
            return day.isoformat()
        if kind == "time":
            if not re.fullmatch(r"\d{2}:\d{2}(:\d{2})?", str(value)):
                raise ValueError(
                    "Time has wrong format. Use one of these formats instead: hh:mm[:ss]."
                )
            return str(value) if len(str(value)) == 8 else f"{value}:00"
        if kind in ("list", "object"):
            if isinstance(value, str):  # form and multipart bodies carry JSON as text
                try:
                    value = orjson.loads(value)
                except orjson.JSONDecodeError:
                    raise ValueError("Value must be valid JSON.") from None
            if kind == "list" and not isinstance(value, list):
                raise ValueError(f'Expected a list of items but got type "{type(value).__name__}".')
            if kind == "object" and not isinstance(value, dict):
                raise ValueError("Expected a dictionary of items.")
            return value
        if kind == "str":
            if isinstance(value, (dict, list)):
                raise ValueError("Not a valid string.")
            return (
                value
                if isinstance(value, str)
                else str(value).lower()
                if isinstance(value, bool)
                else str(value)
            )
        return value

    def _create(self, endpoint: Endpoint, table: Table, req: EmuRequest) -> EmuResponse:
        try:
            body = self._body(req)
        except BodyError as exc:
            return _bad({"detail": str(exc)})
        many = isinstance(body, list)
        items = body if many else [body]
        cleaned: list[dict[str, Any]] = []
        errors: list[Any] = []
        for item in items:
            try:
                cleaned.append(self._clean(endpoint, item, req.origin, partial=False))
                errors.append({})
            except _Invalid as exc:
                errors.append(exc.errors)
        if any(errors):
            return _bad(errors if many else errors[0])
        rows = []
        for data in cleaned:
            row = self._new_row(endpoint, table, data)
            conflict = rules_for(endpoint.name).conflict(table, row.data, None, set(data))
            if conflict is not None:
                return json_response(409, conflict)
            table.add(row)
            rows.append(row)
            self._notify(endpoint, "CREATE", row)
        verbose = rules_for(endpoint.name).verbose_create_answer or (
            req.query_dict().get("verbose", "").lower() == "true"
        )
        views = [row.view(verbose, endpoint.verbose_keys) for row in rows]
        return json_response(201, views if many else views[0])

    def _new_row(self, endpoint: Endpoint, table: Table, data: dict[str, Any]) -> Row:
        """A new record: defaults for every field not sent, then what was sent."""
        key = table.new_key()
        stamp = self.now().isoformat(timespec="seconds")
        record: dict[str, Any] = {}
        for name, field in self.schema(endpoint).items():
            record[name] = _default(field.kind)
        record.update(data)
        for name in WRITE_ONLY.get(endpoint.name, ()):
            record.pop(name, None)
        if "id" in record or not record:
            record["id"] = str(key) if endpoint.id_type is str else key
        for name in ("created_at", "updated_at"):
            if name in record or name == "updated_at":
                record[name] = stamp
        if endpoint.soft_delete_field:
            record[endpoint.soft_delete_field] = False
        if "archived" in record:
            record["archived"] = False if not isinstance(record["archived"], int) else 0
        record[EXTRA_FIELD] = key % 7
        rules_for(endpoint.name).new_row(record, key, stamp, self.tables)
        return Row(key, record)

    def _update(self, endpoint: Endpoint, table: Table, row: Row, req: EmuRequest) -> EmuResponse:
        try:
            body = self._body(req)
            data = self._clean(endpoint, body, req.origin, partial=req.method == "PATCH")
        except BodyError as exc:
            return _bad({"detail": str(exc)})
        except _Invalid as exc:
            return _bad(exc.errors)
        merged = {**row.data, **data}
        for name in WRITE_ONLY.get(endpoint.name, ()):
            merged.pop(name, None)
        rules = rules_for(endpoint.name)
        conflict = rules.conflict(table, merged, row.key, set(data))
        if conflict is not None:
            return json_response(409, conflict)
        rules.changed(merged, self.now().isoformat(timespec="seconds"))
        self._stamp(row, merged)
        table.changed()
        self._notify(endpoint, "MODIFY", row)
        return EmuResponse(204, b"", None)

    def stamp(self, row: Row, data: dict[str, Any]) -> None:
        """Give `row` the values `data` as a write at the clock's now does (its `updated_at`
        stamped); for reference data staff change outside the API (see `Activity.act`)."""
        self._stamp(row, data)

    def _stamp(self, row: Row, data: dict[str, Any]) -> None:
        stamp = self.now().isoformat(timespec="seconds")
        if "updated_at" in data:
            data["updated_at"] = stamp
        else:
            row.hidden["updated_at"] = stamp
        row.data = data
        row.touch()

    def _delete(self, endpoint: Endpoint, table: Table, row: Row) -> EmuResponse:
        if endpoint.soft_delete_field:
            self._stamp(row, {**row.data, endpoint.soft_delete_field: True})
            table.changed()
            self._notify(endpoint, "DELETE", row)
        else:
            self._notify(endpoint, "DELETE", row)  # the record as it was, before it goes
            table.remove(row.key)
        return EmuResponse(204, b"", None)

    # --- actions ----------------------------------------------------------------------------

    def _action(
        self, endpoint: Endpoint, actions: list[Action], parts: list[str], req: EmuRequest
    ) -> EmuResponse:
        action = next((a for a in actions if a.method == req.method), None)
        if action is None:
            return self._not_allowed(req.method, {a.method for a in actions})
        row = None
        if "{id}" in action.path:
            row = self.tables[endpoint.name].lookup(parts[2])
            if row is None:
                return json_response(404, NOT_FOUND)
        try:
            body = self._body(req) if req.body else {}
        except BodyError as exc:
            return _bad({"detail": str(exc)})
        body = body if isinstance(body, dict) else {}
        missing = {
            name: ["This field is required."]
            for name in action.body
            if name not in body and name not in ("online_scheduling",)
        }
        if missing:
            return _bad(missing)
        table = self.tables[endpoint.name]
        if action.name == "add_exam_room" and row is not None:
            rooms = list(row.data.get("exam_rooms") or [])
            rooms.append(
                {
                    "index": len(rooms) + 1,
                    "name": str(body["name"]),
                    "online_scheduling": str(body.get("online_scheduling", "")).lower() in _TRUE,
                }
            )
            self._stamp(row, {**row.data, "exam_rooms": rooms})
            table.changed()
            self._notify(endpoint, "MODIFY", row)
            return EmuResponse(200, row.encoded(False, endpoint.verbose_keys))
        if action.name == "append_to_pharmacy_note" and row is not None:
            note = str(row.data.get("pharmacy_note") or "")
            note = f"{note}\n\n{body['text']}" if note else str(body["text"])
            self._stamp(row, {**row.data, "pharmacy_note": note})
            table.changed()
            self._notify(endpoint, "MODIFY", row)
            return json_response(200, {"pharmacy_note": note})
        if action.returns == "text":
            name = f"{row.get('first_name')} {row.get('last_name')}" if row else ""
            xml = (
                '<?xml version="1.0" encoding="UTF-8"?>\n'
                f'<ClinicalDocument kind="{action.name}"><patient id="{parts[2]}">'
                f"<name>{name}</name></patient></ClinicalDocument>\n"
            )
            return EmuResponse(200, xml.encode(), "application/xml")
        if action.many:
            return json_response(200, [])
        if action.returns is None:
            return EmuResponse(204, b"", None)
        if row is not None:
            return EmuResponse(200, row.encoded(False, endpoint.verbose_keys))
        return json_response(200, {})


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


def _default(kind: str) -> Any:
    return {"str": "", "bool": False, "list": [], "object": {}}.get(kind)
