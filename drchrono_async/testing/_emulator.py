"""`Emulator`: a local DrChrono for tests, demos and benchmarks."""

from __future__ import annotations

import contextlib
import datetime as dt
import math
import random
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

import orjson

from drchrono_async._endpoints import BY_NAME, ENDPOINTS
from drchrono_async.ratelimit import Clock, SystemClock

from ._activity import Activity
from ._api import Api
from ._faults import FaultContext, Faults
from ._log import LogEntry, RequestLog
from ._oauth import OAuthServer, Token
from ._quota import HOUR, QuotaBook
from ._seed import Seeder
from ._store import Table
from ._webhooks import Webhooks
from ._wire import EmuRequest, EmuResponse, http_date, json_response, parse_body

if TYPE_CHECKING:
    from drchrono_async import DrChronoClient

__all__ = ["DEFAULT_BASE_URL", "Emulator"]

DEFAULT_BASE_URL = "http://drchrono.emulator"

Latency = float | tuple[float, float]


class Emulator:
    """An in-memory DrChrono v4 API that behaves as the reference and the live service do.

    Reach it in process through `transport` (for `httpx.AsyncClient(transport=...,
    base_url=emulator.base_url)`), or over loopback with `async with emulator.serve() as url`.
    `access_token` is valid from the start; the OAuth endpoints issue more.

    Time comes from `clock` (quota windows, token expiry, latency, `updated_at` stamps, what
    "the past" is for `date_range`); timestamps are naive times in `timezone`.
    `sizes` overrides how many records of each kind the seed creates (see `DEFAULT_SIZES`),
    e.g. `Emulator(sizes={"appointments": 100_000})`.
    """

    def __init__(
        self,
        *,
        seed: int = 0,
        clock: Clock | None = None,
        quota: int = 500,
        sizes: Mapping[str, int] | None = None,
        timezone: str = "UTC",
        latency: Latency = 0.0,
        base_url: str = DEFAULT_BASE_URL,
        client_id: str = "emulator-client-id",
        # 32 bytes or more: PyJWT warns about shorter HS256 keys (iframe URLs are signed with it).
        client_secret: str = "emulator-client-secret-hs256-signing-key",
        redirect_uri: str = "http://localhost:8000/oauth/callback",
    ) -> None:
        self.clock: Clock = clock if clock is not None else SystemClock()
        self.tz = ZoneInfo(timezone)
        self.base_url = base_url.rstrip("/")
        self.latency: Latency = latency
        self.faults = Faults(seed)
        self.requests = RequestLog()
        self._quota = QuotaBook(quota)
        self._rng = random.Random(f"emulator:{seed}")
        self.tables: dict[str, Table] = {e.name: Table(e) for e in ENDPOINTS}
        seeder = Seeder(
            self.tables, seed=seed, now=self.local_now(), origin=self.base_url, sizes=sizes
        )
        seeder.run()
        self.current_user_id = seeder.current_user_id
        self.oauth = OAuthServer(
            self.clock,
            random.Random(f"tokens:{seed}"),
            client_id=client_id,
            client_secret=client_secret,
            redirect_uri=redirect_uri,
        )
        self.token: Token = self.oauth.issue_token(self.current_user_id)
        self.api = Api(self.tables, seeder.fake, self.local_now)
        self.activity = Activity(self, seed=seed)  # simulated staff work
        self.webhooks = Webhooks(self.clock, random.Random(f"webhooks:{seed}"))
        self.api.observer = self.webhooks.record_change
        self._received = 0
        self._transport: Any = None

    # --- configuration and credentials ------------------------------------------------------

    @property
    def quota(self) -> int:
        """Calls allowed per access token per clock hour."""
        return self._quota.limit

    @quota.setter
    def quota(self, value: int) -> None:
        self._quota.limit = value

    @property
    def access_token(self) -> str:
        """A valid access token, issued at construction (it expires after 48 clock hours)."""
        return self.token.access

    @property
    def refresh_token(self) -> str:
        """The refresh token issued with `access_token`."""
        return self.token.refresh

    @property
    def client_id(self) -> str:
        return self.oauth.client_id

    @property
    def client_secret(self) -> str:
        return self.oauth.client_secret

    @property
    def redirect_uri(self) -> str:
        return self.oauth.redirect_uri

    def issue_code(self, user_id: int | None = None) -> str:
        """An authorization code, as `/o/authorize` would hand the redirect URI (valid 60 s)."""
        return self.oauth.issue_code(user_id or self.current_user_id)

    def issue_token(self, user_id: int | None = None) -> Token:
        """Another access token (with its refresh token), e.g. for a second application."""
        return self.oauth.issue_token(user_id or self.current_user_id)

    def iframe_url(
        self,
        page: str,
        *,
        base_url: str,
        user_id: int | None = None,
        doctor_id: int | None = None,
        patient_id: int | None = None,
        appointment_id: int | None = None,
        practice_id: int | None = None,
        iat: int | None = None,
    ) -> str:
        """The URL DrChrono would load in an app's iframe on `page` ("patient" or
        "clinical_note"): `base_url` plus the page's parameters and `jwt` signing them (HS256,
        `client_secret`). Ids default to the current user, their doctor, and that doctor's
        first patient (or appointment); `iat` to the clock's now. Needs the `jwt` extra."""
        from ._iframe import iframe_url

        return iframe_url(
            self,
            page,
            base_url=base_url,
            user_id=user_id,
            doctor_id=doctor_id,
            patient_id=patient_id,
            appointment_id=appointment_id,
            practice_id=practice_id,
            iat=iat,
        )

    def local_now(self) -> dt.datetime:
        """The emulator clock's time in the practice's timezone, naive, as the API writes it."""
        return dt.datetime.fromtimestamp(self.clock.now(), self.tz).replace(tzinfo=None)

    # --- quota -------------------------------------------------------------------------------

    def window_start(self) -> float:
        """Epoch start of the current quota window (the clock hour)."""
        return self._quota.window_start(self.clock.now())

    def window_resets_at(self) -> float:
        """Epoch time the current window ends and a fresh quota begins."""
        return self.window_start() + HOUR

    def used(self, token: str | None = None) -> int:
        """Calls counted for `token` (default: `access_token`) in the current window."""
        return self._quota.used(token or self.access_token, self.clock.now())

    def remaining(self, token: str | None = None) -> int:
        return max(0, self.quota - self.used(token))

    def spend(self, calls: int, token: str | None = None) -> None:
        """Count `calls` made by an outside consumer sharing `token`'s window."""
        self._quota.spend(token or self.access_token, self.clock.now(), calls)

    # --- state -------------------------------------------------------------------------------

    def records(self, endpoint: str) -> list[dict[str, Any]]:
        """Copies of every stored record of an endpoint (verbose keys included), by id."""
        return [dict(row.data) for row in self.tables[endpoint]]

    def record(self, endpoint: str, id: int | str) -> dict[str, Any] | None:
        """A copy of one stored record, or None."""
        row = self.tables[endpoint].lookup(str(id))
        return dict(row.data) if row is not None else None

    def count(self, **criteria: Any) -> int:
        """Shorthand for `requests.count(...)`, e.g. `emulator.count(status=429)`."""
        return self.requests.count(**criteria)

    # --- ways in -----------------------------------------------------------------------------

    @property
    def transport(self) -> Any:
        """An `httpx.AsyncBaseTransport` that calls the emulator in process (no sockets)."""
        if self._transport is None:
            from ._transport import EmulatorTransport

            self._transport = EmulatorTransport(self)
        return self._transport

    def client(self, **options: Any) -> DrChronoClient:
        """A `DrChronoClient` on this emulator: its token, base URL, in-process transport and clock.

        `options` go to `DrChronoClient` (e.g. `quota=`, `max_wait=`, `max_concurrency=`).
        """
        from drchrono_async import DrChronoClient

        options.setdefault("base_url", self.base_url)
        options.setdefault("clock", self.clock)
        if "http_client" not in options:
            options.setdefault("transport", self.transport)
        return DrChronoClient(options.pop("access_token", self.access_token), **options)

    def serve(
        self, host: str = "127.0.0.1", port: int = 0
    ) -> contextlib.AbstractAsyncContextManager[str]:
        """Serve HTTP on `host:port` (0: any free port); the context yields the base URL."""
        from ._server import serve

        return serve(self, host, port)

    # --- the request core --------------------------------------------------------------------

    async def handle(self, req: EmuRequest) -> EmuResponse:
        """Answer one request; both the transport and the server call this."""
        arrived = self.clock.now()
        index = self._received
        self._received += 1
        query = req.query_dict()
        fault = None
        if not req.path.startswith("/files/"):
            fault = self.faults.pick(FaultContext(req.method, req.path, query, index))
        if fault == "reset":
            self._log(req, query, None, arrived, fault)
            return EmuResponse(0, fault="reset")
        delay = self._latency()
        if delay > 0:
            await self.clock.sleep(delay)
        resp = self._answer(req, fault)
        resp.headers.append(("Date", http_date(self.clock.now())))
        if fault in ("drop", "truncate", "slow"):
            resp.fault = fault
            resp.slow_seconds = self.faults.slow_body_seconds
        location = next((v for k, v in resp.headers if k == "Location"), None)
        self._log(req, query, None if fault == "drop" else resp.status, arrived, fault, location)
        return resp

    def _latency(self) -> float:
        latency = self.latency
        if isinstance(latency, tuple):
            return self._rng.uniform(*latency)
        return float(latency)

    def _log(
        self,
        req: EmuRequest,
        query: dict[str, str],
        status: int | None,
        arrived: float,
        fault: str | None,
        location: str | None = None,
    ) -> None:
        self.requests.append(
            LogEntry(req.method, req.path, query, status, arrived, fault, location)
        )

    def _answer(self, req: EmuRequest, fault: str | None) -> EmuResponse:
        path = req.path
        if path.startswith("/files/"):
            return self._file(req)
        if path.startswith("/o/"):
            return self._oauth(req, fault)
        if not path.startswith("/api/"):
            return json_response(404, {"detail": "Not found."})
        token = self.oauth.authenticate(req.headers.get("authorization"))
        if token is None:
            return json_response(401, {"detail": "Authentication credentials were not provided."})
        if fault == "429":
            return self._throttled(self._quota.window_start(self.clock.now()) + HOUR)
        wait = self._quota.take(token.access, self.clock.now())
        if wait is not None:
            return self._throttled(self.clock.now() + wait)
        early = self._early_fault(fault)
        if early is not None:
            return early
        return self.api.handle(req, token.user_id)

    def _throttled(self, until: float) -> EmuResponse:
        # The live service puts the wait in the body only, with no Retry-After header.
        seconds = float(max(0, math.ceil(until - self.clock.now())))
        return json_response(
            429, {"detail": f"Request was throttled. Expected available in {seconds} seconds."}
        )

    @staticmethod
    def _early_fault(fault: str | None) -> EmuResponse | None:
        if fault == "500":
            return json_response(500, {"detail": "A server error occurred."})
        if fault == "html":
            page = (
                b"<!DOCTYPE html><html><head><title>DrChrono</title></head><body>"
                b"<h1>We'll be right back</h1><p>DrChrono is temporarily unavailable.</p>"
                b"</body></html>"
            )
            return EmuResponse(200, page, "text/html; charset=utf-8")
        return None

    def _oauth(self, req: EmuRequest, fault: str | None) -> EmuResponse:
        path = req.path
        if path == "/o/authorize" or path == "/o/authorize/":
            return self._authorize(req)
        if path not in ("/o/token/", "/o/revoke_token/"):
            if path in ("/o/token", "/o/revoke_token"):
                # Django's APPEND_SLASH answer: a client that follows it as GET fails.
                return EmuResponse(301, b"", None, [("Location", f"{req.origin}{path}/")])
            return json_response(404, {"detail": "Not found."})
        if req.method != "POST":
            return json_response(405, {"detail": f'Method "{req.method}" not allowed.'})
        if fault == "429":
            return self._throttled(self._quota.window_start(self.clock.now()) + HOUR)
        early = self._early_fault(fault)
        if early is not None:
            return early
        ctype = req.headers.get("content-type", "")
        form: Mapping[str, object] = {}
        # Form-encoded only: a JSON body is read as no parameters at all.
        if "json" not in ctype.lower():
            try:
                parsed = parse_body(ctype, req.body)
            except ValueError:
                parsed = {}
            form = parsed if isinstance(parsed, dict) else {}
        if path == "/o/token/":
            return self.oauth.token_endpoint(form)
        return self.oauth.revoke_endpoint(form)

    def _authorize(self, req: EmuRequest) -> EmuResponse:
        """`/o/authorize`: approve at once as the current user and redirect with a code."""
        q = req.query_dict()
        if q.get("client_id") != self.client_id:
            return json_response(400, {"error": "invalid_client"})
        redirect = q.get("redirect_uri") or self.redirect_uri
        if redirect != self.redirect_uri:
            return json_response(400, {"error": "invalid_request"})
        params = {"code": self.issue_code()}
        if "state" in q:
            params["state"] = q["state"]
        sep = "&" if "?" in redirect else "?"
        return EmuResponse(302, b"", None, [("Location", f"{redirect}{sep}{urlencode(params)}")])

    def _file(self, req: EmuRequest) -> EmuResponse:
        parts = req.path.split("/")
        if len(parts) >= 3 and parts[2] == "seed":
            return EmuResponse(200, b"%PDF-1.4\n% emulator seed file\n", "application/pdf")
        stored = self.api.files.get(parts[2]) if len(parts) >= 3 else None
        if stored is None:
            return json_response(404, {"detail": "Not found."})
        return EmuResponse(200, stored.data, stored.content_type)

    def __repr__(self) -> str:
        sizes = {name: len(t) for name, t in self.tables.items() if name in BY_NAME and len(t)}
        return f"Emulator(base_url={self.base_url!r}, sizes={orjson.dumps(sizes).decode()})"
