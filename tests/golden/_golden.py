"""Loading the golden fixtures of this folder (see SOURCES.md for where each comes from)."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import httpx

HERE = Path(__file__).resolve().parent
PAGES = ("appointments_page_1.json", "appointments_page_2.json", "appointments_page_3.json")


def load(name: str) -> Any:
    """A fixture, decoded (a fresh copy each call: tests may change it)."""
    return json.loads((HERE / name).read_text(encoding="utf-8"))


def response(exchange: Mapping[str, Any]) -> httpx.Response:
    """The HTTP answer a fixture records: status, headers and body (JSON or text)."""
    body = exchange["body"]
    content = body.encode() if isinstance(body, str) else json.dumps(body).encode()
    return httpx.Response(exchange["status"], headers=exchange["headers"], content=content)


def json_type(value: Any) -> str:
    """The JSON type of a decoded value, as a name (`null`, `string`, `integer`, ...)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


Handler = Callable[[httpx.Request], httpx.Response]


def serving(*names: str, calls: list[httpx.Request] | None = None) -> httpx.MockTransport:
    """A transport answering each request with the next fixture of `names`, in order (the
    last one again once they are used up), recording the requests in `calls`."""
    answers = [load(name) for name in names]
    seen = calls if calls is not None else []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return response(answers[min(len(seen), len(answers)) - 1])

    return httpx.MockTransport(handler)
