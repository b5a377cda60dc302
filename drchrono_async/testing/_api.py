"""The REST behaviour of `/api/...`, driven by the endpoint table.

Generic list/get/create/update/delete serve every endpoint: listings through `_filters`,
writes through `_schema`. What an endpoint does beyond that (appointment overlaps, patient
chart ids, actions) is a hook in `_behaviour`, never a branch on an endpoint's name here.
"""

from __future__ import annotations

import base64
import bisect
import datetime as dt
import secrets
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

import attrs
import orjson

from drchrono_async._endpoints import BY_NAME, Action, Endpoint

from ._behaviour import ActionCall, behaviour_of, default_action
from ._fake import Faker
from ._filters import selection
from ._schema import Invalid, convert, default, schema
from ._seed import EXTRA_FIELD
from ._store import Row, Table
from ._wire import (
    BodyError,
    EmuRequest,
    EmuResponse,
    UploadedFile,
    json_response,
    parse_body,
    with_query,
)

__all__ = ["Api", "StoredFile"]

NOT_FOUND = {"detail": "Not found."}


@attrs.frozen
class StoredFile:
    """An uploaded file, served back at the URL the record carries."""

    filename: str
    content_type: str
    data: bytes


def _bad(errors: Any) -> EmuResponse:
    return json_response(400, errors)


def _not_allowed(method: str) -> EmuResponse:
    return json_response(405, {"detail": f'Method "{method}" not allowed.'})


def _encode_cursor(direction: str, key: int) -> str:
    return base64.urlsafe_b64encode(f"{direction}{key}".encode()).decode().rstrip("=")


def _decode_cursor(text: str) -> tuple[str, int] | None:
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)).decode()
        direction, key = raw[0], int(raw[1:])
    except (ValueError, IndexError, UnicodeDecodeError):
        return None
    return (direction, key) if direction in "np" else None


def _verbose(req: EmuRequest) -> bool:
    return req.query_dict().get("verbose", "").lower() == "true"


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

    def stamp(self) -> str:
        """The current time as the API writes `updated_at`."""
        return self.now().isoformat(timespec="seconds")

    # --- routing ----------------------------------------------------------------------------

    def handle(self, req: EmuRequest, user_id: int) -> EmuResponse:
        parts = [p for p in req.path.split("/") if p]
        if len(parts) < 2 or parts[0] != "api" or parts[1] not in BY_NAME:
            return json_response(404, NOT_FOUND)
        endpoint = BY_NAME[parts[1]]
        actions = self._match_actions(endpoint, parts)
        if actions:
            return self._action(endpoint, actions, parts, req, user_id)
        if len(parts) > 3:
            return json_response(404, NOT_FOUND)
        if req.method not in endpoint.methods:
            return _not_allowed(req.method)
        table = self.tables[endpoint.name]
        if len(parts) == 2:
            if req.method == "GET":
                return self._list(endpoint, table, req)
            if req.method == "POST":
                return self._create(endpoint, table, req)
            return _not_allowed(req.method)
        if req.method == "POST":
            return _not_allowed(req.method)
        row = table.lookup(parts[2])
        if row is None:
            return json_response(404, NOT_FOUND)
        if req.method == "GET":
            return EmuResponse(200, row.encoded(_verbose(req), endpoint.verbose_keys))
        if req.method in ("PUT", "PATCH"):
            return self._update(endpoint, table, row, req)
        return self._delete(endpoint, table, row)

    @staticmethod
    def _match_actions(endpoint: Endpoint, parts: list[str]) -> list[Action]:
        found = []
        for action in endpoint.actions:
            pattern = [p for p in action.path.split("/") if p]
            if len(pattern) == len(parts) and all(
                p == "{id}" or p == q for p, q in zip(pattern, parts, strict=True)
            ):
                found.append(action)
        return found

    # --- list -------------------------------------------------------------------------------

    def _list(self, endpoint: Endpoint, table: Table, req: EmuRequest) -> EmuResponse:
        params = req.query
        q = dict(params)
        verbose = q.get("verbose", "").lower() == "true"
        try:
            chosen = selection(endpoint, q, self.now().date())
        except Invalid as exc:
            return _bad(exc.errors)
        keys = table.select(chosen.signature, chosen.predicate, chosen.within)

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

    # --- writes -----------------------------------------------------------------------------

    def _body(self, req: EmuRequest) -> Any:
        return parse_body(req.headers.get("content-type", ""), req.body)

    def _clean(
        self, endpoint: Endpoint, item: Any, origin: str, *, partial: bool
    ) -> dict[str, Any]:
        """Validate and convert one object of a write into wire form, or raise `Invalid`."""
        if not isinstance(item, dict):
            raise Invalid({"non_field_errors": ["Invalid data. Expected a dictionary."]})
        fields = schema(endpoint)
        errors: dict[str, list[str]] = {}
        out: dict[str, Any] = {}

        def store_file(upload: UploadedFile) -> str:
            token = secrets.token_hex(8)
            self.files[token] = StoredFile(upload.filename, upload.content_type, upload.data)
            return f"{origin}/files/{token}/{quote(upload.filename or 'upload')}"

        for key, value in item.items():
            field = fields.get(key)
            if field is None or field.read_only:
                continue  # as DRF does: unknown and read-only fields are ignored
            try:
                out[key] = convert(field.kind, value, store_file)
            except Invalid as exc:
                errors[key] = exc.errors
        if not partial:
            behaviour = behaviour_of(endpoint)
            for key in endpoint.required_fields:
                if key not in item:
                    errors.setdefault(key, ["This field is required."])
                elif item[key] is None and key not in behaviour.nullable:
                    errors.setdefault(key, ["This field may not be null."])
            if behaviour.validate is not None:
                behaviour.validate(item, errors)
        if errors:
            raise Invalid(errors)
        return out

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
            except Invalid as exc:
                errors.append(exc.errors)
        if any(errors):
            return _bad(errors if many else errors[0])
        conflict = behaviour_of(endpoint).conflict
        rows = []
        for data in cleaned:
            row = self._new_row(endpoint, table, data)
            if conflict is not None:
                found = conflict(table, row.data, None)
                if found is not None:
                    return json_response(409, found)
            table.add(row)
            rows.append(row)
        verbose = _verbose(req)
        views = [row.view(verbose, endpoint.verbose_keys) for row in rows]
        return json_response(201, views if many else views[0])

    def _new_row(self, endpoint: Endpoint, table: Table, data: dict[str, Any]) -> Row:
        """A new record: defaults for every field not sent, then what was sent."""
        key = table.new_key()
        stamp = self.stamp()
        fields = schema(endpoint)
        record: dict[str, Any] = {name: default(f.kind) for name, f in fields.items()}
        record.update(data)
        for name in endpoint.write_only_fields:
            record.pop(name, None)
        if "id" in fields:
            record["id"] = str(key) if endpoint.id_type is str else key
        if "created_at" in record:
            record["created_at"] = stamp
        record["updated_at"] = stamp
        if endpoint.soft_delete_field:
            record[endpoint.soft_delete_field] = False
        if "archived" in record:
            record["archived"] = False if not isinstance(record["archived"], int) else 0
        record[EXTRA_FIELD] = key % 7
        complete = behaviour_of(endpoint).complete
        if complete is not None:
            complete(self, record, key)
        return Row(key, record)

    def _update(self, endpoint: Endpoint, table: Table, row: Row, req: EmuRequest) -> EmuResponse:
        try:
            body = self._body(req)
            data = self._clean(endpoint, body, req.origin, partial=req.method == "PATCH")
        except BodyError as exc:
            return _bad({"detail": str(exc)})
        except Invalid as exc:
            return _bad(exc.errors)
        merged = {**row.data, **data}
        for name in endpoint.write_only_fields:
            merged.pop(name, None)
        behaviour = behaviour_of(endpoint)
        if behaviour.conflict is not None and behaviour.conflict_fields & data.keys():
            found = behaviour.conflict(table, merged, row.key)
            if found is not None:
                return json_response(409, found)
        if behaviour.refresh is not None:
            behaviour.refresh(self, merged)
        self.save(endpoint, row, merged)
        return EmuResponse(204, b"", None)

    def save(self, endpoint: Endpoint, row: Row, data: dict[str, Any]) -> None:
        """Replace a stored row's data, stamping its update time."""
        if "updated_at" in data:
            data["updated_at"] = self.stamp()
        else:
            row.hidden["updated_at"] = self.stamp()
        row.data = data
        row.touch()
        self.tables[endpoint.name].changed()

    def _delete(self, endpoint: Endpoint, table: Table, row: Row) -> EmuResponse:
        if endpoint.soft_delete_field:
            self.save(endpoint, row, {**row.data, endpoint.soft_delete_field: True})
        else:
            table.remove(row.key)
        return EmuResponse(204, b"", None)

    # --- actions ----------------------------------------------------------------------------

    def _action(
        self,
        endpoint: Endpoint,
        actions: list[Action],
        parts: list[str],
        req: EmuRequest,
        user_id: int,
    ) -> EmuResponse:
        action = next((a for a in actions if a.method == req.method), None)
        if action is None:
            return _not_allowed(req.method)
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
            name: ["This field is required."] for name in action.required_body if name not in body
        }
        if missing:
            return _bad(missing)
        handler = behaviour_of(endpoint).actions.get(action.name, default_action)
        return handler(ActionCall(self, endpoint, action, row, body, req, user_id))
