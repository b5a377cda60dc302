"""Prometheus metrics of a process, and an HTTP endpoint serving them with a health check.

    from drchrono_async import metrics

    async def main() -> None:
        async with DrChronoClient(token) as client:
            with metrics.serve(port=9100, quota=client.quota) as server:
                ...  # GET http://127.0.0.1:9100/metrics and /healthz

Needs the `metrics` extra (`prometheus_client`). Nothing else in the library imports it: the
transport, the sync engine and the fleet's jobs call hooks through `active`, the process's
recorder, which is None (metrics off: one attribute read per call, nothing else) until
`install()` or `serve()` sets one. Each metric, its labels and meaning: the README's
"Operating" section, "Metrics".

Labels are bounded and name no value a server or a caller controls beyond the library's own
words: methods (GET, POST, ..., else OTHER), status classes (2xx ... 5xx, `error` for no
answer), quota lanes, endpoint names, practice keys and sync outcomes. Never a path with ids,
a query, a token or record content.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import socket
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any

from ._checks import check_int, check_number, needs_extra
from .errors import InvalidRequestError

if TYPE_CHECKING:
    from wsgiref.types import StartResponse, WSGIEnvironment

    from .ratelimit import Quota

__all__ = [
    "HEALTH_STALE",
    "Metrics",
    "MetricsServer",
    "active",
    "install",
    "job_failed",
    "practice",
    "serve",
    "sweep_missed",
    "webhook_delivery",
]

logger = logging.getLogger("drchrono_async.metrics")

# The process's recorder; None: metrics are off and every hook is one attribute read.
active: Metrics | None = None
# The practice whose work runs in this context: the fleet's jobs set their practice key;
# a single `sync` is "default".
practice: ContextVar[str] = ContextVar("drchrono_metrics_practice", default="default")

# /healthz answers 503 once the event loop has not ticked for this many seconds.
HEALTH_STALE = 10.0
# The most (practice, resource) pairs whose sync lag is kept (a bound on the series).
MAX_LAG_SERIES = 20_000

_METHODS = frozenset({"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"})
_LANES = ("interactive", "background")
_OUTCOMES = frozenset({"done", "stopped", "quota", "skipped", "failed"})
_HOOK_OUTCOMES = frozenset({"applied", "unrouted", "late", "expired", "ignored"})
_PRACTICE = re.compile(r"[a-z][a-z0-9_]{0,31}")
_HOST = re.compile(r"[A-Za-z0-9.:\-\[\]%]{1,253}")
# Seconds: a burst's spacing (ms) up to a window spent (an hour).
_WAIT_BUCKETS = (0.001, 0.01, 0.1, 0.5, 1.0, 5.0, 30.0, 120.0, 600.0, 1800.0, 3600.0)


def status_class(status: int) -> str:
    """`2xx` ... `5xx` for an HTTP status; `error` when no answer came (0) or none fits."""
    return f"{status // 100}xx" if 100 <= status <= 599 else "error"


class Metrics:
    """The process's collectors, in a registry of their own (`registry`).

    `clock`: epoch seconds now, for the sync lag (default `time.time`). `process`: also
    export prometheus_client's process and Python GC collectors (CPU, memory, open files).
    The hooks below are called by the library (through `active`), never needed by hand.
    """

    def __init__(self, *, clock: Callable[[], float] = time.time, process: bool = True) -> None:
        with needs_extra("metrics", "drchrono_async.metrics"):
            import prometheus_client as prom
            from prometheus_client.core import GaugeMetricFamily
        from ._endpoints import BY_NAME

        self._clock = clock
        self._resources = frozenset(BY_NAME)
        self.registry = prom.CollectorRegistry()
        r = self.registry
        self._calls = prom.Counter(
            "drchrono_calls",
            "HTTP requests sent to the API: every attempt, retry, redirect hop and re-send "
            "after a 429, by method and status class (error: no answer)",
            ("method", "status_class"),
            registry=r,
        )
        self._throttled = prom.Counter(
            "drchrono_throttled",
            "429 answers, by the quota lane of the request",
            ("lane",),
            registry=r,
        )
        self._wait = prom.Histogram(
            "drchrono_permit_wait_seconds",
            "Time each request waited for its quota permit, by lane",
            ("lane",),
            buckets=_WAIT_BUCKETS,
            registry=r,
        )
        for lane in _LANES:  # both lanes from the start, so rate() has a zero to start from
            self._throttled.labels(lane)
            self._wait.labels(lane)
        self._written = prom.Counter(
            "drchrono_records_written",
            "Rows inserted or updated by sync runs, by practice and resource",
            ("practice", "resource"),
            registry=r,
        )
        self._runs = prom.Counter(
            "drchrono_sync_runs",
            "Resource sync runs ended, by practice, resource and outcome",
            ("practice", "resource", "outcome"),
            registry=r,
        )
        self._job_failures = prom.Counter(
            "drchrono_job_failures",
            "Fleet sync jobs that failed, by practice and resource",
            ("practice", "resource"),
            registry=r,
        )
        self._job_retries = prom.Counter(
            "drchrono_job_retries",
            "Retries queued for failed fleet sync jobs, by practice and resource",
            ("practice", "resource"),
            registry=r,
        )
        self._hooks = prom.Counter(
            "drchrono_webhook_deliveries",
            "Webhook deliveries of a fleet's receiver, by practice ((none): matched none) and "
            "outcome: applied; unrouted (kept, retried); late (a kept one applied); expired "
            "(a kept one given up); ignored (an event of no known resource)",
            ("practice", "outcome"),
            registry=r,
        )
        self._sweep_missed = prom.Counter(
            "drchrono_sweep_missed_changes",
            "Changes a fleet's safety sweep found that webhooks had not delivered, by practice "
            "and resource",
            ("practice", "resource"),
            registry=r,
        )
        self._quota: Quota | None = None
        self._lock = threading.Lock()  # the lag table: written on the loop, read by scrapes
        self._done: dict[tuple[str, str], float] = {}  # -> when last done, on `clock`
        r.register(_Live(self, GaugeMetricFamily))
        if process:
            prom.ProcessCollector(registry=r)
            prom.GCCollector(registry=r)

    # -- what the process tells it ----------------------------------------------------------

    def watch_quota(self, quota: Quota | None) -> None:
        """Export this quota's used, limit and held reserve (read at each scrape)."""
        self._quota = quota

    # -- hooks --------------------------------------------------------------------------------

    def call(self, method: str, status: int, lane: str) -> None:
        """One request sent: `status` its answer's, 0 when none came."""
        self._calls.labels(method if method in _METHODS else "OTHER", status_class(status)).inc()
        if status == 429:
            self._throttled.labels(self._lane(lane)).inc()

    def permit_wait(self, lane: str, seconds: float) -> None:
        """A permit was granted after `seconds` of waiting."""
        self._wait.labels(self._lane(lane)).observe(max(0.0, seconds))

    def rows_written(self, resource: str, rows: int) -> None:
        """A sync run wrote `rows` more rows of `resource` (in this context's practice)."""
        if rows > 0:
            self._written.labels(self._practice(), self._resource(resource)).inc(rows)

    def run_ended(self, resource: str, outcome: str, done_ago: float | None) -> None:
        """A resource's run ended with `outcome`; its copy was last complete `done_ago`
        seconds ago (0 for a run that ended done; None when it never was)."""
        key = (self._practice(), self._resource(resource))
        self._runs.labels(*key, outcome if outcome in _OUTCOMES else "other").inc()
        if done_ago is None:
            return
        with self._lock:
            if key in self._done or len(self._done) < MAX_LAG_SERIES:
                self._done[key] = self._clock() - max(0.0, done_ago)

    def job_failed(self, key: str, resource: str, *, retried: bool) -> None:
        """A fleet job of practice `key` failed; `retried`: its retry was queued."""
        labels = (self._key(key), self._resource(resource))
        self._job_failures.labels(*labels).inc()
        if retried:
            self._job_retries.labels(*labels).inc()

    def webhook_delivery(self, key: str, outcome: str) -> None:
        """A fleet receiver's delivery ended with `outcome`; `key` "" when unrouted."""
        self._hooks.labels(
            self._key(key) if key else "(none)",
            outcome if outcome in _HOOK_OUTCOMES else "other",
        ).inc()

    def sweep_missed(self, key: str, resource: str, changes: int) -> None:
        """A sweep of practice `key`'s `resource` found `changes` the webhooks missed."""
        if changes > 0:
            self._sweep_missed.labels(self._key(key), self._resource(resource)).inc(changes)

    # -- labels -----------------------------------------------------------------------------

    @staticmethod
    def _lane(lane: str) -> str:
        return str(lane) if lane in _LANES else "other"

    @staticmethod
    def _key(key: str) -> str:
        return key if key == "default" or _PRACTICE.fullmatch(key) else "other"

    def _practice(self) -> str:
        return self._key(practice.get())

    def _resource(self, name: str) -> str:
        return name if name in self._resources else "other"

    # -- read at a scrape -------------------------------------------------------------------

    def lags(self) -> dict[tuple[str, str], float]:
        """(practice, resource) -> seconds since its copy was last complete, now."""
        now = self._clock()
        with self._lock:
            return {key: max(0.0, now - done) for key, done in self._done.items()}

    def quota(self) -> Quota | None:
        return self._quota


class _Live:
    """The values read when scraped: the quota's snapshot and the sync lag."""

    def __init__(self, metrics: Metrics, gauge: Any) -> None:
        self._metrics = metrics
        self._gauge = gauge

    def describe(self) -> list[Any]:
        return []  # computed at each scrape; nothing to check at registration

    def collect(self) -> Iterator[Any]:
        gauge = self._gauge
        quota = self._metrics.quota()
        if quota is not None:
            try:
                snap = quota.snapshot()
            except Exception as exc:  # a quota of the caller's own; its text may quote values
                logger.warning("metrics: the quota's snapshot failed: %s", type(exc).__name__)
            else:
                yield gauge("drchrono_quota_used", "Calls counted in the quota's window", snap.used)
                yield gauge("drchrono_quota_limit", "Calls the quota allows a window", snap.limit)
                yield gauge(
                    "drchrono_quota_reserved",
                    "Of the calls left, those held for the interactive lane now",
                    snap.reserved,
                )
        lag = gauge(
            "drchrono_sync_lag_seconds",
            "Seconds since the resource's copy was last complete (a run ended done)",
            labels=("practice", "resource"),
        )
        for (key, resource), seconds in sorted(self._metrics.lags().items()):
            lag.add_metric((key, resource), seconds)
        yield lag


def install(metrics: Metrics | None) -> Metrics | None:
    """Make `metrics` the process's recorder (None: metrics off); returns the one before."""
    global active
    if metrics is not None and not isinstance(metrics, Metrics):
        raise InvalidRequestError("metrics must be a Metrics or None")
    previous, active = active, metrics
    return previous


def job_failed(key: str, resource: str, *, retried: bool) -> None:
    """The fleet's hook: a job failed (a no-op while metrics are off)."""
    if (recorder := active) is not None:
        recorder.job_failed(key, resource, retried=retried)


def webhook_delivery(key: str, outcome: str) -> None:
    """The fleet receiver's hook: a delivery's outcome (a no-op while metrics are off)."""
    if (recorder := active) is not None:
        recorder.webhook_delivery(key, outcome)


def sweep_missed(key: str, resource: str, changes: int) -> None:
    """The fleet's hook: a sweep found changes webhooks missed (a no-op while metrics are off)."""
    if (recorder := active) is not None:
        recorder.sweep_missed(key, resource, changes)


class MetricsServer:
    """Serves `GET /metrics` (Prometheus' text format) and `GET /healthz` from a thread.

    prometheus_client's own `start_http_server` answers metrics on every path, so a health
    path cannot be added to it; this is its WSGI app (`make_wsgi_app`) behind a router, in
    the same standard-library threading WSGI server it uses. `/healthz` answers 200 while
    the event loop that started the server has ticked within `stale` seconds (a task beats
    every second), 503 once it has not (blocked, or gone); anything else is 404.
    `monotonic` is for tests.
    """

    def __init__(
        self,
        metrics: Metrics,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        stale: float = HEALTH_STALE,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        if not isinstance(metrics, Metrics):
            raise InvalidRequestError("metrics must be a Metrics")
        if not isinstance(host, str) or not _HOST.fullmatch(host):
            raise InvalidRequestError("the metrics host must be a host name or IP address")
        self.host = host
        self._port = check_int(port, "the metrics port", low=0, high=65_535)
        self.stale = check_number(stale, "stale", low=1, high=3600, kind="a number of seconds")
        self.metrics = metrics
        self._monotonic = monotonic
        self._last = monotonic()
        self._server: Any = None
        self._thread: threading.Thread | None = None
        self._beat: asyncio.Task[None] | None = None

    @property
    def port(self) -> int:
        """The bound port (the one chosen, for port 0), once started."""
        return self._port

    def healthy(self) -> bool:
        return self._monotonic() - self._last <= self.stale

    def start(self) -> None:
        """Bind and serve; from a coroutine (its loop is the one `/healthz` watches)."""
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            raise InvalidRequestError(
                "start the metrics server from a coroutine: /healthz watches its event loop"
            ) from None
        from wsgiref.simple_server import make_server

        import prometheus_client

        scrape = prometheus_client.make_wsgi_app(self.metrics.registry)

        def app(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
            path = environ.get("PATH_INFO", "")
            if path == "/metrics":
                out: Iterable[bytes] = scrape(environ, start_response)
                return out
            if path == "/healthz":
                ok = self.healthy()
                start_response(
                    "200 OK" if ok else "503 Service Unavailable",
                    [("Content-Type", "text/plain; charset=utf-8")],
                )
                return [b"ok\n" if ok else b"the event loop has stalled\n"]
            start_response("404 Not Found", [("Content-Type", "text/plain; charset=utf-8")])
            return [b"not found: GET /metrics or /healthz\n"]

        try:
            family = socket.getaddrinfo(self.host, self._port, type=socket.SOCK_STREAM)[0][0]
        except (OSError, UnicodeError):
            raise InvalidRequestError(
                "the metrics host must be a host name or IP address of this machine"
            ) from None
        server_class, handler = _server_classes(family)
        try:
            server = make_server(self.host, self._port, app, server_class, handler)
        except OSError as exc:
            import errno

            code = errno.errorcode.get(exc.errno or 0, type(exc).__name__)
            raise InvalidRequestError(
                f"cannot serve metrics on {self.host} port {self._port} ({code})"
            ) from None
        self._server = server
        self._port = int(server.server_address[1])
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.1}, name="drchrono-metrics"
        )
        self._thread.daemon = True
        self._thread.start()
        self._last = self._monotonic()
        self._beat = loop.create_task(self._heartbeat(), name="drchrono-metrics heartbeat")

    async def _heartbeat(self) -> None:
        while True:
            self._last = self._monotonic()
            await asyncio.sleep(min(1.0, self.stale / 4))

    def close(self) -> None:
        """Stop serving; safe to call twice."""
        beat, self._beat = self._beat, None
        if beat is not None:
            beat.cancel()
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()  # within its poll interval (0.1 s)
            server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> MetricsServer:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


@contextlib.contextmanager
def serve(
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    quota: Quota | None = None,
    metrics: Metrics | None = None,
) -> Iterator[MetricsServer]:
    """Record this process's metrics (`metrics`, or a new `Metrics`) and serve them.

    From a coroutine. `quota`: the quota whose used/limit to export (a client's `quota`, a
    fleet's `RedisQuota`). On exit the recorder that was active before is put back.
    """
    metrics = Metrics() if metrics is None else metrics
    if quota is not None:
        metrics.watch_quota(quota)
    with MetricsServer(metrics, host=host, port=port) as server:
        previous = install(metrics)
        try:
            yield server
        finally:
            install(previous)


def _server_classes(family: socket.AddressFamily) -> tuple[type[Any], type[Any]]:
    """The threading WSGI server (on `family`: IPv4 or IPv6) and a handler that logs
    nothing; made when a server starts, so that importing this module loads no HTTP server."""
    from socketserver import ThreadingMixIn
    from wsgiref.simple_server import WSGIRequestHandler, WSGIServer

    class Server(ThreadingMixIn, WSGIServer):
        address_family = family
        daemon_threads = True  # a scrape in flight never holds the process open

    class Quiet(WSGIRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass  # no access log on stderr (scrapes come every few seconds)

    return Server, Quiet
