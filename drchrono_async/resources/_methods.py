"""The methods of resources, one mixin per HTTP method, composed per endpoint.

An endpoint's row in the table says which methods the API allows; the class of its resource
has exactly those (`RESOURCE_TYPES` maps each method set that occurs to its class), so that
`client.doctors.create(...)` is a type error, not a run-time surprise. The run-time check
(`_require`) stays as a second line.
"""

from __future__ import annotations

import builtins
import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any, TypeVar, overload

from .._checks import check_int
from ..errors import InvalidRequestError
from ..pagination import Page, PageRequest, Paginator
from . import _query
from ._base import BaseResource, _malformed

# The most records a page's `count` may claim: beyond any practice (a billion).
MAX_COUNT = 1_000_000_000

__all__ = [
    "RESOURCE_TYPES",
    "ActionsResource",
    "ReadCreateResource",
    "ReadOnlyResource",
    "ReadPatchResource",
    "ReadWriteResource",
    "Resource",
]

T = TypeVar("T")
_list = builtins.list  # `list` is also a method name below


class _Gets(BaseResource[T]):
    def list(
        self,
        *,
        verbose: bool = False,
        page_size: int | None = None,
        shards: int | None = None,
        ordered: bool = False,
        prefetch: int = 1,
        **filters: Any,
    ) -> Paginator[T]:
        """List records: `await` it for the first page, `async for` it for every record.

        Filters are checked against the endpoint's documented filters and types before
        anything is sent. A `date_range` longer than the API accepts is split into windows
        fetched concurrently; `shards=N` splits it further. `ordered=True` yields windows
        in date order (records within a window are always in the API's order).
        """
        self._require("GET")
        params = _query.list_params(
            self.endpoint, filters, verbose=verbose, page_size=page_size, tz=self._ctx.tz
        )
        chains = [PageRequest(self.endpoint.path, params)]
        if shards is not None or (
            "date_range" in params and self.endpoint.date_range_max_days is not None
        ):
            chains = self._shard(params, shards)
        return Paginator(
            self._fetch_raw_page,
            chains,
            same_origin=self._ctx.transport.is_same_origin,
            base_url=self._ctx.transport.base_url,
            prefetch=prefetch,
            ordered=ordered,
            structure=lambda items: self._structure_many(items, "GET"),
        )

    def _shard(self, params: dict[str, str], shards: int | None) -> _list[PageRequest]:
        if shards is not None:
            shards = check_int(shards, "shards", low=1, high=64)
        if self.endpoint.date_range_max_days is None or "date_range" not in params:
            raise InvalidRequestError(
                f"shards needs a date_range, on an endpoint listed by date ({self.endpoint.name})"
            )
        span = _query.parse_date_range("date_range", params["date_range"])
        today = dt.datetime.fromtimestamp(self._ctx.transport.clock.now(), self._ctx.tz).date()
        windows = _query.split_date_range(
            span, today=today, shards=shards, limit_days=self.endpoint.date_range_max_days
        )
        return [
            PageRequest(self.endpoint.path, {**params, "date_range": f"{a}/{b}"})
            for a, b in windows
        ]

    async def _fetch_raw_page(self, target: str, params: Mapping[str, Any] | None) -> Page[Any]:
        # The page's dicts as decoded: the paginator builds records once the next request of
        # the chain is on its way (see Paginator's `structure`).
        data = await self._ctx.transport.request("GET", target, params=params)
        path = self.endpoint.path
        if not isinstance(data, Mapping) or not isinstance(data.get("results"), _list):
            raise _malformed("GET", path, "answered a page without a results list")
        nxt, prev = data.get("next"), data.get("previous")
        if (nxt is not None and not isinstance(nxt, str)) or (
            prev is not None and not isinstance(prev, str)
        ):
            raise _malformed("GET", path, "answered a page whose next/previous is not a URL")
        count = data.get("count")
        if not (isinstance(count, int) and not isinstance(count, bool) and 0 <= count <= MAX_COUNT):
            count = None  # advisory: a count out of bounds is ignored, never trusted
        return Page(results=data["results"], next=nxt, previous=prev, count=count)

    async def get(self, id: int | str, *, verbose: bool = False) -> T:
        """One record by id."""
        self._require("GET")
        params = {"verbose": "true"} if verbose else None
        data = await self._ctx.transport.request("GET", self._item_path(id), params=params)
        record: T = self._structure_one(data, "GET")
        return record


class _Creates(BaseResource[T]):
    @overload
    async def create(self, data: Sequence[T | Mapping[str, Any]]) -> _list[T]: ...

    @overload
    async def create(self, data: T | Mapping[str, Any]) -> T: ...

    async def create(self, data: Any) -> Any:
        """Create one record (a record or a mapping), or several at once (a list of them).

        Records with file fields (bytes, a file object, a path or `(filename, content)`) are
        uploaded as multipart; everything else, bulk and nested writes included, as JSON.
        """
        self._require("POST")
        path = self.endpoint.path
        if isinstance(data, Sequence) and not isinstance(data, (str, bytes)):
            if not data:
                raise InvalidRequestError("bulk create needs at least one record")
            payloads = [self._payload(item) for item in data]
            if any(self._file_parts(p) for p in payloads):
                raise InvalidRequestError("files cannot be uploaded in a bulk create")
            result = await self._ctx.transport.request("POST", path, json=payloads)
            if not isinstance(result, _list):
                raise _malformed("POST", path, "did not answer a list for a bulk create")
            return self._structure_many(result, "POST")
        result = await self._send_payload("POST", path, self._payload(data))
        return self._structure_one(result, "POST")


class _Replaces(BaseResource[T]):
    async def update(self, id: int | str, data: T | Mapping[str, Any]) -> None:
        """Replace a record (PUT): every writable field."""
        self._require("PUT")
        await self._send_payload("PUT", self._item_path(id), self._payload(data))


class _Patches(BaseResource[T]):
    async def patch(self, id: int | str, **fields: Any) -> None:
        """Change only the given fields (PATCH)."""
        self._require("PATCH")
        if not fields:
            raise InvalidRequestError("patch needs at least one field")
        await self._send_payload("PATCH", self._item_path(id), self._payload(fields))


class _Deletes(BaseResource[T]):
    async def delete(self, id: int | str) -> None:
        """Delete a record (some endpoints only mark it deleted or archived)."""
        self._require("DELETE")
        await self._ctx.transport.request("DELETE", self._item_path(id))


class ActionsResource(BaseResource[T]):
    """An endpoint with no plain methods, only its actions."""


class ReadOnlyResource(_Gets[T]):
    """`list` and `get`."""


class ReadCreateResource(_Gets[T], _Creates[T]):
    """`list`, `get` and `create`."""


class ReadPatchResource(_Gets[T], _Patches[T]):
    """`list`, `get` and `patch`."""


class ReadWriteResource(_Gets[T], _Creates[T], _Replaces[T], _Patches[T]):
    """`list`, `get`, `create`, `update` and `patch`: everything but `delete`."""


class Resource(_Gets[T], _Creates[T], _Replaces[T], _Patches[T], _Deletes[T]):
    """Every plain method: `list`, `get`, `create`, `update`, `patch` and `delete`."""


# The class of an endpoint's resource, by the set of methods its table row allows.
RESOURCE_TYPES: dict[frozenset[str], type[BaseResource[Any]]] = {
    frozenset(): ActionsResource,
    frozenset({"GET"}): ReadOnlyResource,
    frozenset({"GET", "POST"}): ReadCreateResource,
    frozenset({"GET", "PATCH"}): ReadPatchResource,
    frozenset({"GET", "POST", "PUT", "PATCH"}): ReadWriteResource,
    frozenset({"GET", "POST", "PUT", "PATCH", "DELETE"}): Resource,
}
