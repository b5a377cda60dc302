"""`Resource`: list/get/create/update/patch/delete for any endpoint of the table.

Everything here is the same for every endpoint and is driven by its `Endpoint` row: which
methods exist, which filters and page sizes are allowed, which fields are files. A method the
API does not offer on an endpoint raises `InvalidRequestError` before anything is sent.
"""

from __future__ import annotations

import builtins
import datetime as dt
import io
import os
import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Generic, TypeVar

import anyio
import attrs
import orjson

from .._endpoints import Action, Endpoint
from ..errors import InvalidRequestError, ResponseDecodeError
from ..records import Record, api_fields
from . import _query

if TYPE_CHECKING:
    from .._converter import DrChronoConverter
    from .._transport import Expect, Transport

__all__ = ["BaseResource", "ResourceContext"]

T = TypeVar("T")
_list = builtins.list  # `list` is also a method name below
MAX_INT_ID = 2**63 - 1
_STRING_ID = re.compile(r"[A-Za-z0-9_.:-]{1,64}")


@attrs.frozen
class ResourceContext:
    """What every resource of one client shares."""

    transport: Transport
    converter: DrChronoConverter
    tz: dt.tzinfo


class BaseResource(Generic[T]):
    """What every resource shares: its endpoint row, record type, checks and actions.

    The methods a resource has come from mixins, one per HTTP method the endpoint allows
    (`resources/_methods.py`), so that a type checker refuses what the API refuses.
    """

    def __init__(self, ctx: ResourceContext, endpoint: Endpoint) -> None:
        self._ctx = ctx
        self.endpoint = endpoint
        self._record_type: type[T] | None = endpoint.record_type

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.endpoint.path}>"

    @property
    def record_type(self) -> type[T]:
        """The record class of this endpoint's objects."""
        if self._record_type is None:
            raise InvalidRequestError(f"{self.endpoint.name} has no records")
        return self._record_type

    # -- actions (used by the subclasses that have them) ----------------------------------------

    async def _action(
        self,
        name: str,
        id: int | str | None = None,
        *,
        body: Mapping[str, Any] | None = None,
        params: Mapping[str, Any] | None = None,
    ) -> Any:
        action: Action = self.endpoint.action(name)
        path = action.path.format(id=self._quoted_id(id)) if "{id}" in action.path else action.path
        query = _query.action_params(action, params or {}, self._ctx.tz) if params else None
        json_body = _query.jsonable(dict(body), self._ctx.tz) if body is not None else None
        expect: Expect = "text" if action.returns == "text" else "json"
        result = await self._ctx.transport.request(
            action.method, path, params=query, json=json_body, expect=expect
        )
        if action.returns in (None, "json", "text"):
            return result
        from .. import records

        record_type = getattr(records, action.returns)
        if action.many:
            items = result.get("results") if isinstance(result, Mapping) else result
            return self._structure_many(items, action.method, record_type)
        return self._structure_one(result, action.method, record_type)

    # -- helpers -------------------------------------------------------------------------------

    def _require(self, method: str) -> None:
        if method not in self.endpoint.methods:
            offered = ", ".join(sorted(self.endpoint.methods)) or "no plain methods"
            raise InvalidRequestError(
                f"{self.endpoint.name} does not support {method} (it offers {offered})"
            )

    def _quoted_id(self, id: int | str | None) -> str:
        """The id as a path segment, or `InvalidRequestError` (which never shows the id)."""
        name = self.endpoint.name
        strings = self.endpoint.id_type is str
        if isinstance(id, bool) or not isinstance(id, (int, str) if strings else int):
            kind = "a string or integer" if strings else "an integer"
            raise InvalidRequestError(f"{name} ids are {kind}")
        if isinstance(id, int):
            number = int.__int__(id)  # a plain int, whatever a subclass's __str__ says
            if not 0 < number <= MAX_INT_ID:
                raise InvalidRequestError(f"{name} ids are positive integers")
            return str(number)
        id = str.__str__(id)  # a plain str, likewise
        if not id:
            raise InvalidRequestError("an id cannot be empty")
        # An id is one path segment: nothing that could leave it ("/", "..", "?", "#"),
        # nothing a proxy could read differently (whitespace, controls, escapes).
        if not _STRING_ID.fullmatch(id) or id in (".", ".."):
            raise InvalidRequestError(
                f"{name} ids are 1 to 64 letters, digits, '-', '_', '.' or ':'"
            )
        return id

    def _item_path(self, id: int | str) -> str:
        return f"{self.endpoint.path}/{self._quoted_id(id)}"

    def _structure_one(self, data: Any, method: str, record_type: type[Any] | None = None) -> Any:
        if not isinstance(data, Mapping):
            path = self.endpoint.path
            raise _malformed(method, path, "did not answer an object")
        return self._ctx.converter.structure(data, record_type or self.record_type)

    def _structure_many(
        self, items: Any, method: str, record_type: type[Any] | None = None
    ) -> _list[Any]:
        if not isinstance(items, _list):
            path = self.endpoint.path
            raise _malformed(method, path, "did not answer a list")
        rtype = record_type or self.record_type
        if not all(isinstance(item, Mapping) for item in items):
            path = self.endpoint.path
            raise _malformed(method, path, "answered a list item that is not an object")
        return self._ctx.converter.structure_many(items, rtype)

    def _payload(self, data: Any) -> dict[str, Any]:
        """A request body from a record (writable set fields) or a mapping."""
        rtype = self._record_type
        if rtype is not None and isinstance(data, rtype) and isinstance(data, Record):
            # Writable fields that are set; read-only ones are never sent.
            return self._ctx.converter.unstructure_writable(data)
        if attrs.has(type(data)):
            raise InvalidRequestError(
                f"{self.endpoint.name} takes {rtype.__name__ if rtype else 'mappings'}, "
                f"not {type(data).__name__}"
            )
        if not isinstance(data, Mapping):
            raise InvalidRequestError(f"{self.endpoint.name} takes a record or a mapping")
        read_only = sorted(set(data) & _read_only_fields(rtype))
        if read_only:
            raise InvalidRequestError(
                f"{self.endpoint.name}: read-only fields cannot be sent: {', '.join(read_only)}"
            )
        return {str(k): v for k, v in data.items()}

    def _file_parts(self, payload: Mapping[str, Any]) -> dict[str, Any]:
        return {
            name: payload[name]
            for name in self.endpoint.file_fields
            if payload.get(name) is not None and not isinstance(payload[name], str)
        }

    async def _send_payload(self, method: str, path: str, payload: dict[str, Any]) -> Any:
        files = self._file_parts(payload)
        tz = self._ctx.tz
        if not files:
            return await self._ctx.transport.request(
                method, path, json=_query.jsonable(payload, tz)
            )
        form: dict[str, str] = {}
        for key, value in payload.items():
            if key in files or value is None:
                continue
            value = _query.jsonable(value, tz)
            if isinstance(value, Mapping):
                raise InvalidRequestError(
                    f"{key}: nested objects cannot be sent with a file upload (send them apart)"
                )
            if isinstance(value, _list):
                form[key] = orjson.dumps(value).decode()  # e.g. metatags: '["a", "b"]'
            elif isinstance(value, bool):
                form[key] = "true" if value else "false"
            else:
                form[key] = str(value)
        uploads = {name: await _file_part(name, value) for name, value in files.items()}
        return await self._ctx.transport.request(method, path, data=form, files=uploads)


def _malformed(method: str, path: str, what: str) -> ResponseDecodeError:
    """A success answer of the wrong shape: typed, naming the call, never the content."""
    return ResponseDecodeError(f"{method} {path} {what}", method=method, path=path, status_code=200)


def _read_only_fields(record_type: type[Any] | None) -> set[str]:
    if record_type is None:
        return set()
    return {f.name for f in api_fields(record_type) if f.metadata.get("read_only")}


async def _file_part(name: str, value: Any) -> Any:
    """bytes, a binary file object, a path, or an httpx-style (filename, content[, type])."""
    if isinstance(value, (bytes, bytearray)):
        return (name, bytes(value))
    if isinstance(value, os.PathLike):
        path = anyio.Path(os.fspath(value))
        return (path.name, await path.read_bytes())
    if isinstance(value, tuple) and 2 <= len(value) <= 3:
        return value
    if isinstance(value, io.IOBase) or hasattr(value, "read"):
        return (os.path.basename(str(getattr(value, "name", name))), value)
    raise InvalidRequestError(
        f"{name} is a file field: pass bytes, a binary file, a path or (filename, content)"
    )
