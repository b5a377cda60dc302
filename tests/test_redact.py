"""No query value or header value of this library's requests reaches httpx's or httpcore's logs."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import httpx
import pytest

from drchrono_async import DrChronoClient
from drchrono_async._redact import redact_url
from drchrono_async.testing import Emulator

NAMES = ("Zelda", "Quux")


@pytest.fixture
def records() -> Iterator[list[logging.LogRecord]]:
    """Every record of every logger, at DEBUG, as a user's root handler would get them."""
    got: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            got.append(record)

    handler = Keep(logging.DEBUG)
    root = logging.getLogger()
    levels = {n: logging.getLogger(n).level for n in ("", "httpx", "httpcore", "drchrono_async")}
    root.addHandler(handler)
    for name in levels:
        logging.getLogger(name).setLevel(logging.DEBUG)
    yield got
    root.removeHandler(handler)
    for name, level in levels.items():
        logging.getLogger(name).setLevel(level)


def text_of(records: list[logging.LogRecord]) -> str:
    return "\n".join(r.getMessage() for r in records)


async def test_query_values_stay_out_of_httpx_logs_in_process(
    records: list[logging.LogRecord],
) -> None:
    emu = Emulator(seed=2, sizes={"patients": 5})
    async with emu.client() as client:
        await client.patients.list(first_name=NAMES[0], last_name=NAMES[1])
    logged = text_of(records)
    assert "HTTP Request: GET" in logged and "first_name=[redacted]" in logged
    for secret in (*NAMES, emu.access_token):
        assert secret not in logged


async def test_header_values_stay_out_of_httpcore_logs_over_a_socket(
    records: list[logging.LogRecord],
) -> None:
    emu = Emulator(seed=2, sizes={"patients": 5})
    async with (
        emu.serve() as base_url,
        DrChronoClient(emu.access_token, base_url=base_url, quota=None) as client,
    ):
        await client.patients.list(first_name=NAMES[0], last_name=NAMES[1])
        await client.users.current()  # a 302 with a Location
    core = [r for r in records if r.name.startswith("httpcore")]
    assert any("receive_response_headers" in r.getMessage() for r in core)
    assert "[redacted]" in text_of(core)
    assert "application/json" not in text_of(core)  # header values are gone
    for secret in (*NAMES, emu.access_token, "/api/users/"):
        assert secret not in text_of(core)
    assert not any(s in text_of(records) for s in (*NAMES, emu.access_token))


async def test_other_origins_keep_their_logs(records: list[logging.LogRecord]) -> None:
    Emulator(seed=2).client()  # installs the filters
    transport = httpx.MockTransport(lambda request: httpx.Response(200))
    async with httpx.AsyncClient(transport=transport) as other:
        await other.get("https://elsewhere.example/search", params={"q": "kept"})
    assert "q=kept" in text_of(records)


def test_redact_url_keeps_keys_and_drops_values_userinfo_and_fragment() -> None:
    url = httpx.URL("https://u:p@h.example/api/x?a=1&b=two&a=3#frag")
    assert redact_url(url) == "https://h.example/api/x?a=[redacted]&a=[redacted]&b=[redacted]"


async def test_building_clients_installs_the_filters_once_on_the_loggers_themselves() -> None:
    from drchrono_async import _redact

    for n in range(3):  # as the client's docstring says: installed once, per process
        async with DrChronoClient("tok", base_url=f"https://host{n}.example"):
            pass
    httpx_filters = [
        f for f in logging.getLogger("httpx").filters if isinstance(f, _redact._HttpxFilter)
    ]
    assert len(httpx_filters) == 1
    for name in _redact._HTTPCORE_LOGGERS:
        core = logging.getLogger(name).filters
        assert sum(isinstance(f, _redact._HttpcoreFilter) for f in core) == 1, name
    assert ("https", "host2.example", 443) in _redact._ORIGINS  # each client adds its origin
