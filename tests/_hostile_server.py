"""The hostile server: what it answers, and two ways to answer it.

`answers()` and `raw_answers()` are Hypothesis strategies for what a broken or hostile server
sends: any status, hostile `Retry-After`, `Date`, `Location`, `Content-Type` and
`Content-Encoding` headers, and bodies from HTML to pages with hostile `next` links and records
with hostile field values. `Scripted` answers a script through `httpx.MockTransport`;
`HostileServer` writes raw bytes on a loopback socket, where nothing has to be well-formed HTTP
(a status line of any shape, a body longer or shorter than its `Content-Length`, a broken
chunked body, a connection cut or reset halfway), so that httpcore and its DEBUG logging are
on the path.
"""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import json
from collections import deque
from collections.abc import Iterable, Sequence
from email.utils import formatdate
from types import TracebackType
from typing import Any, Literal

import attrs
import httpx
from hypothesis import strategies as st

__all__ = [
    "BASE", "ECHO_AUTH", "ECHO_QUERY", "FIRST", "LAST", "MAX_SCRIPT", "NORMAL_BODY",
    "NORMAL_RAW", "RECORD_MARK", "STATUS", "T0", "Answer", "HostileServer", "RawAnswer",
    "Scripted", "answers", "bodies", "dates", "http_date", "page_answers", "raw_answers",
]  # fmt: skip

BASE = "https://drchrono.test"
T0 = 1_767_225_600.0  # VirtualClock's default start: 2026-01-01T00:00:00Z
# Distinctive filter values of the requests (the server echoes them in links, like DRF).
FIRST = "Zebulonqxw"
LAST = "Quimbyvqz"
STATUS = "Arrivedzqx"
# In every string the server puts into a record: patient data.
RECORD_MARK = "PHImarkq7"
MAX_SCRIPT = 6  # answers per example at most

# Placeholders in an answer's bytes, replaced by what the request carried: a server (or a
# proxy's debug page) that echoes the request back to the client.
ECHO_AUTH = b"{{echo-authorization}}"
ECHO_QUERY = b"{{echo-query}}"

Then = Literal["keep", "close", "abort"]


# -- what the server sends ------------------------------------------------------------------

STATUSES = [200, 201, 204, 301, 302, 303, 307, 308, 400, 401, 403, 404, 409, 429,
            500, 502, 503, 504, 100, 199, 299, 399, 418, 599, 600, 999]  # fmt: skip
# 429s (and redirects, retried 5xx) carry the headers that matter most: send them more often.
WEIGHTED = STATUSES + [429] * 8 + [302, 307, 503]


def http_date(ts: float) -> str:
    return formatdate(ts, usegmt=True)


HOSTILE_RETRY_AFTERS = st.sampled_from(
        ["1e12", "inf", "-inf", "nan", "NaN", "-5", "1e400", "9" * 400, "0", "  7 ", "", "soon",
         "1_000", "0x10", "Wed, 21 Oct 2015 07:28:00 GMT", http_date(T0 + 1800),
         "Fri, 31 Dec 9999 23:59:59 GMT", "Fri, 31 Dec 9999 23:59:59 -2359",
         "Mon, 01 Jan 0001 00:00:00 GMT", "Mon, 32 Jan 2026 00:00:00 GMT", "Thu, 01 Jan 1970"]
)  # fmt: skip
retry_afters = st.one_of(
    HOSTILE_RETRY_AFTERS,
    HOSTILE_RETRY_AFTERS,
    st.integers(0, 3600).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
)
dates = st.one_of(
    st.integers(-3 * 86400, 3 * 86400).map(lambda d: http_date(T0 + d)),
    st.sampled_from(
        ["Fri, 31 Dec 9999 23:59:59 GMT", "Fri, 31 Dec 9999 23:59:59 -2359",
         "Mon, 01 Jan 0001 00:00:00 GMT", "Sat, 01 Jan 0000 00:00:00 +2359", "garbage", "",
         "Thu, 01 Jan 1970 00:00:00 GMT", "Thu, 01 Jan 2026 00:00:60 GMT", "0", "-1e300",
         "Sun, 06 Nov 1994 08:49:37 +9999", "Tue, 01 Jan 99999 00:00:00 GMT"]
    ),
)  # fmt: skip
HOSTILE_URLS = [
    f"{BASE}/api/patients?first_name={FIRST}&last_name={LAST}&status={STATUS}&page=2",
    f"/api/patients?first_name={FIRST}&page=3", "/api/patients?page=2", f"{BASE}/api/patients",
    "https://evil.test/api/patients?page=2", "//evil.test/x", "http://drchrono.test/api/x",
    "https://drchrono.test:99999/x", "http://[::1", "https://drchrono.test/api/p?page=2#frag",
    "javascript:alert(1)", "", " ", "?page=3", "../../o/token/", "mailto:a@b.test",
    f"{BASE}/" + "a" * 70_000, f"{BASE}/api/\x00", f"{BASE}/api/p\r\nX-Injected: 1",
    "https://user:pass@drchrono.test/api/patients", "https://drchrono.test\\@evil.test/",
    "https://drchrono.test./api/patients", "HTTPS://DRCHRONO.TEST:443/api/patients?page=4",
    "https://[::1]:443/", "https://xn--e1afmkfd.test/", "https://\u0434\u0440.test/",
    "/api/\u00e9\u00ff", "https://drchrono.test/api/patients?page=%ff%00",
]  # fmt: skip
CONTENT_TYPES = ["application/json", "application/json; charset=utf-8", "text/html",
                 "text/html; charset=utf-8", "text/plain", "", "application/json; charset=bogus",
                 "application/json; charset=utf-16", "multipart/form-data; boundary=x",
                 "application/problem+json", "TEXT/HTML"]  # fmt: skip
ENCODINGS = ["gzip", "deflate", "br", "zstd", "bogus", "identity", "gzip, gzip", "GZIP"]

# Values the server puts into record fields.
HOSTILE_SCALARS = [
    "9" * 5000, "-0", "1e400", "2026-13-45", "9999-12-31T23:59:59.999999+23:59",
    "0000-00-00", "2026-01-01T00:00:00Z", "\x00", "true", "NaN", "", " ", "-", "1_0",
    "\u0661\u0662", "2026-01-01/2025-01-01", "12:61:00", "1" * 30,
    10**30, -(10**30), 2**63, -(2**63) - 1, 1e308, -1e-308, 0.1, True, None, [], {},
]  # fmt: skip
FIELDS = ["id", "first_name", "last_name", "date_of_birth", "doctor", "offices", "email",
          "custom_demographics", "patient_flags", "updated_at", "created_at", "scheduled_time",
          "duration", "patient", "office", "status", "deleted_flag", "reminders", "vitals",
          "notes", "extended_updated_at", "primary_insurance", "gender", "x-extra"]  # fmt: skip

marked_text = st.text(max_size=12).map(lambda s: f"{RECORD_MARK} {s}")
field_values = st.recursive(
    st.one_of(
        st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False, allow_infinity=False),
        st.sampled_from(HOSTILE_SCALARS), marked_text,
    ),
    lambda kids: st.lists(kids, max_size=3) | st.dictionaries(marked_text, kids, max_size=3),
    max_leaves=6,
)  # fmt: skip
records = st.dictionaries(st.sampled_from(FIELDS), field_values, max_size=6)
results = st.one_of(
    st.lists(records, max_size=4),
    st.lists(st.one_of(records, field_values), max_size=3),  # items that are not objects
    field_values,  # `results` that is not a list
)
links = st.one_of(st.none(), st.sampled_from(HOSTILE_URLS), field_values)
pages = st.builds(
    lambda res, nxt, prev, drop: {
        k: v
        for k, v in {"count": 10**40, "results": res, "next": nxt, "previous": prev}.items()
        if k not in drop
    },
    results,
    links,
    links,
    st.sets(st.sampled_from(["count", "results", "next", "previous"]), max_size=1),
)


SPECIAL_BODIES = [
    b"",
    b"   \n",
    b"[" * 5000 + b"]" * 5000,
    b'{"a":' * 3000 + b"1" + b"}" * 3000,
    b'{"results": [{"id": 1e400}]}',
    b'{"results": [{"id": 123456789012345678901234567890}]}',
    b'{"results": [], "next": "' + b"9" * 50_000 + b'"}',
    b"\xff\xfe{\x00}\x00",
    '{"results": [{"first_name": "Andr\u00e9"}]}'.encode("latin-1"),
    b'{"detail": "Request was throttled. Expected available in 99999999999 seconds."}',
    b'{"detail": "Expected available in 1e400 seconds."}',
    b'{"detail": "echo ' + ECHO_AUTH + b'"}',
    b'{"first_name": ["' + ECHO_QUERY + b'"], "' + ECHO_AUTH + b'": ["bad"]}',
    b"null",
    b"42",
    b'"text"',
    b"[]",
    b"true",
    b'{"results": null}',
    b'{"results": [], "next": null}',
    '{"results": ["\ud800"]}'.encode("utf-8", "surrogatepass"),
]


def dumps(value: Any) -> bytes:
    # json, not orjson: it writes integers of any size, NaN and Infinity (hostile too).
    return json.dumps(value, allow_nan=True).encode()


@st.composite
def bodies(draw: st.DrawFn, *, page_weight: int = 1) -> bytes:
    """Every kind of body a broken or hostile server has been seen to send, and worse."""
    kind = draw(st.sampled_from(["page"] * page_weight + ["json", "html", "raw", "special"]))
    if kind == "page":
        body = dumps(draw(pages))
    elif kind == "json":
        body = dumps(draw(st.one_of(field_values, st.dictionaries(st.text(), field_values))))
    elif kind == "html":
        body = b"<html><body><h1>502 Bad Gateway</h1>" + ECHO_QUERY + b"</body></html>"
    elif kind == "raw":
        body = draw(st.binary(max_size=64))
    else:
        body = draw(st.sampled_from(SPECIAL_BODIES))
    cut = draw(st.sampled_from(["whole"] * 4 + ["truncate", "utf-16", "gzip"]))
    if cut == "truncate" and body:
        body = body[: draw(st.integers(0, len(body) - 1))]
    elif cut == "utf-16":
        body = body.decode("utf-8", "replace").encode("utf-16")
    elif cut == "gzip":
        body = gzip.compress(body)
    return body


@attrs.frozen
class Answer:
    status: int
    headers: tuple[tuple[bytes, bytes], ...]
    body: bytes


def _header(name: str, values: st.SearchStrategy[str]) -> st.SearchStrategy[tuple[bytes, bytes]]:
    return values.map(lambda v: (name.encode(), v.encode("utf-8", "surrogateescape")))


@st.composite
def answers(draw: st.DrawFn, *, page_weight: int = 1, statuses: Sequence[int] = WEIGHTED) -> Answer:
    status = draw(st.sampled_from(list(statuses)))
    optional = [
        _header("Retry-After", retry_afters),
        _header("Date", dates),
        _header("Location", st.sampled_from(HOSTILE_URLS)),
        _header("Content-Type", st.sampled_from(CONTENT_TYPES)),
        _header("Content-Encoding", st.sampled_from(ENCODINGS)),
    ]
    headers = [h for strategy in optional if draw(st.booleans()) for h in [draw(strategy)]]
    return Answer(status, tuple(headers), draw(bodies(page_weight=page_weight)))


def page_answers() -> st.SearchStrategy[Answer]:
    """Answers of a listing: mostly 200s with a page body."""
    return answers(page_weight=6, statuses=[200] * 16 + WEIGHTED)


NORMAL_BODY = b'{"results": [], "next": null, "previous": null}'


class Scripted:
    """An `httpx.MockTransport` handler: the script's answers in order, then a normal one."""

    def __init__(self, script: Sequence[Answer], clock: Any) -> None:
        self._script = deque(script)
        self._clock = clock

    def __call__(self, request: httpx.Request) -> httpx.Response:
        if self._script:
            a = self._script.popleft()
        else:
            date = http_date(self._clock.now()).encode()
            a = Answer(200, ((b"Content-Type", b"application/json"), (b"Date", date)), NORMAL_BODY)
        body = a.body.replace(ECHO_AUTH, request.headers.get("Authorization", "").encode())
        body = body.replace(ECHO_QUERY, request.url.query)
        # A stream, not `content=`: the client decodes (and fails to decode) the body itself.
        return httpx.Response(a.status, headers=list(a.headers), stream=httpx.ByteStream(body))


# -- raw bytes for the loopback socket -------------------------------------------------------


@attrs.frozen
class RawAnswer:
    """The bytes written after a request was read, and what happens to the connection then."""

    data: bytes
    then: Then = "close"


STATUS_LINES = [
    b"HTTP/1.1 200 OK", b"HTTP/1.1 429 Too Many Requests", b"HTTP/1.1 302 Found",
    b"HTTP/1.1 503 Service Unavailable", b"HTTP/1.1 600 Beyond", b"HTTP/1.1 999 Z",
    b"HTTP/1.1 99 Short", b"HTTP/1.1 1000 Long", b"HTTP/1.0 200 OK", b"HTTP/1.1 200",
    b"HTTP/1.1 200 \xff\xfe", b"HTTP/2 200 OK", b"GARBAGE", b"HTTP/1.1 199 Early",
    b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK", b"HTTP/1.1 -1 Neg", b"ICY 200 OK",
]  # fmt: skip
RAW_HEADERS = [
    b"Content-Length: -1", b"Content-Length: 99999999999999999999", b"Transfer-Encoding: chunked",
    b"Transfer-Encoding: gzip, chunked", b"X-Bad\xff: \xff\xfe", b" folded-continuation",
    b"NoColon", b"Location: /api/\xff?first_name=" + FIRST.encode(), b"Content-Type: text/html",
    b"Location: /api/patients?first_name=" + ECHO_QUERY, b"X-Echo: " + ECHO_QUERY,
]  # fmt: skip


@st.composite
def raw_answers(draw: st.DrawFn) -> RawAnswer:
    a = draw(answers(page_weight=3))
    line = draw(st.one_of(st.sampled_from(STATUS_LINES), st.just(b"HTTP/1.1 %d X" % a.status)))
    headers = [name + b": " + value for name, value in a.headers]
    headers += draw(st.lists(st.sampled_from(RAW_HEADERS), max_size=2))
    body = a.body
    framing = draw(
        st.sampled_from(
            ["length"] * 4 + ["short", "none", "chunked", "bad-chunked", "cut", "nothing"]
        )
    )
    then = draw(st.sampled_from(["keep", "close", "abort"]))
    if framing == "length":
        headers.append(b"Content-Length: %d" % len(body))
    elif framing == "short":
        headers.append(b"Content-Length: %d" % (len(body) + 10))
        then = "close"
    elif framing == "chunked":
        headers.append(b"Transfer-Encoding: chunked")
        body = (b"%x\r\n%s\r\n" % (len(body), body) if body else b"") + b"0\r\n\r\n"
    elif framing == "bad-chunked":
        headers.append(b"Transfer-Encoding: chunked")
        body = b"zz\r\n" + body
        then = "close"
    elif framing == "none":
        then = "close"
    head = line + b"\r\n" + b"".join(h + b"\r\n" for h in headers) + b"\r\n"
    if framing == "cut":
        return RawAnswer(head[: draw(st.integers(0, len(head)))], "abort")
    if framing == "nothing":
        return RawAnswer(b"", draw(st.sampled_from(["close", "abort"])))
    return RawAnswer(head + body, then)


NORMAL_RAW = RawAnswer(
    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s"
    % (len(NORMAL_BODY), NORMAL_BODY),
    "keep",
)


class HostileServer:
    """Serves `script` in order, one answer per request, then `fallback` for ever.

    Use as `async with HostileServer(script, fallback) as server:`; `server.url` is its origin.
    """

    def __init__(self, script: Iterable[RawAnswer], fallback: RawAnswer) -> None:
        self._script = deque(script)
        self._fallback = fallback
        self._server: asyncio.Server | None = None
        self._handlers: set[asyncio.Task[None]] = set()
        self._writers: set[asyncio.StreamWriter] = set()
        self.requests = 0
        self.url = ""

    def finish(self) -> None:
        """Drop what is left of the script: every request from now on gets the fallback."""
        self._script.clear()

    async def __aenter__(self) -> HostileServer:
        self._server = await asyncio.start_server(self._on_connect, "127.0.0.1", 0)
        port = self._server.sockets[0].getsockname()[1]
        self.url = f"http://127.0.0.1:{port}"
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        assert self._server is not None
        self._server.close()
        # Cut every connection; each handler then sees the end of its stream and returns.
        for writer in list(self._writers):
            writer.transport.abort()
        if self._handlers:
            await asyncio.wait(self._handlers, timeout=5)
        await self._server.wait_closed()

    async def _on_connect(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._handlers.add(task)
        self._writers.add(writer)
        try:
            while True:
                request = await _read_request(reader)
                if request is None:
                    return
                authorization, query = request
                self.requests += 1
                answer = self._script.popleft() if self._script else self._fallback
                data = answer.data.replace(ECHO_AUTH, authorization).replace(ECHO_QUERY, query)
                writer.write(data)
                await writer.drain()
                if answer.then == "abort":
                    writer.transport.abort()
                    return
                if answer.then == "close":
                    return
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            return
        finally:
            self._writers.discard(writer)
            self._handlers.discard(task)
            with contextlib.suppress(Exception):
                writer.close()


async def _read_request(reader: asyncio.StreamReader) -> tuple[bytes, bytes] | None:
    """Read one request; returns its Authorization value and query string, None at EOF."""
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError:
        return None
    lines = head.split(b"\r\n")
    target = lines[0].split(b" ")[1] if len(lines[0].split(b" ")) > 1 else b"/"
    query = target.partition(b"?")[2]
    authorization = b""
    length = 0
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"authorization":
            authorization = value.strip()
        elif name.strip().lower() == b"content-length":
            length = int(value.strip() or b"0")
    if length:
        await reader.readexactly(length)
    return authorization, query
