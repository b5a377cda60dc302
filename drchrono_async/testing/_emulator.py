"""`Emulator`: a local DrChrono for tests, demos and benchmarks."""

from __future__ import annotations

import contextlib
import datetime as dt
import math
import random
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

import orjson

from drchrono_async._endpoints import BY_NAME
from drchrono_async.ratelimit import Clock, SystemClock

from .._checks import check_choice, check_int, check_number
from .._ids import MAX_INT_ID as MAX_ID
from ..errors import InvalidRequestError
from ._activity import STAFF_CLIENT_ID, Activity
from ._api import Api
from ._faults import FaultContext, Faults
from ._log import LogEntry, RequestLog
from ._oauth import OAuthServer, Token
from ._practice import Practice
from ._quota import HOUR, QuotaBook
from ._seed import DEFAULT_SIZES
from ._store import Table
from ._webhooks import Webhooks
from ._wire import EmuRequest, EmuResponse, http_date, json_response, parse_body

if TYPE_CHECKING:
    from drchrono_async import DrChronoClient

__all__ = ["DEFAULT_BASE_URL", "MAX_PRACTICES", "QUOTA_SCOPES", "Emulator"]

DEFAULT_BASE_URL = "http://drchrono.emulator"
MAX_PRACTICES = 1000
MAX_SEED = 10_000_000  # records of one kind a seed makes: memory, not realism

Latency = float | tuple[float, float]
QuotaScope = Literal["application", "token"]
QUOTA_SCOPES: tuple[QuotaScope, ...] = ("application", "token")


class Emulator:
    """An in-memory DrChrono v4 API that behaves as the reference and the live service do.

    Reach it in process through `transport` (for `httpx.AsyncClient(transport=...,
    base_url=emulator.base_url)`), or over loopback with `async with emulator.serve() as url`.
    `access_token` is valid from the start; the OAuth endpoints issue more.

    Time comes from `clock` (quota windows, token expiry, latency, `updated_at` stamps, what
    "the past" is for `date_range`); timestamps are naive times in `timezone`.
    `sizes` overrides how many records of each kind the seed creates (see `DEFAULT_SIZES`),
    e.g. `Emulator(sizes={"appointments": 100_000})`.

    `practices=N` hosts N practices of one application, each seeded on its own (practice 0
    from `seed`, practice i from `f"{seed}:{i}"`) with `sizes`, or `practice_sizes[i]` over
    them; `practice(i)` holds each one's tokens and data, and a token sees its practice only.
    `quota_scope` says whom the hourly `quota` counts: `"application"` (the reference's rule:
    every token issued to the client id shares one budget) or `"token"` (each access token
    its own). `quota_window` shortens the quota's hour (still aligned on the epoch), so that a
    benchmark sees windows end and reset in real time. The emulator's `access_token`,
    `records()`, `tables`, `activity`, ... are practice 0's.
    """

    def __init__(
        self,
        *,
        seed: int = 0,
        clock: Clock | None = None,
        quota: int = 500,
        quota_window: float = HOUR,
        sizes: Mapping[str, int] | None = None,
        practices: int | None = None,
        practice_sizes: Sequence[Mapping[str, int]] | None = None,
        quota_scope: QuotaScope = "application",
        timezone: str = "UTC",
        latency: Latency = 0.0,
        base_url: str = DEFAULT_BASE_URL,
        client_id: str = "emulator-client-id",
        # 32 bytes or more: PyJWT warns about shorter HS256 keys (iframe URLs are signed with it).
        client_secret: str = "emulator-client-secret-hs256-signing-key",
        redirect_uri: str = "http://localhost:8000/oauth/callback",
    ) -> None:
        self.quota_scope: QuotaScope = check_choice(quota_scope, "quota_scope", QUOTA_SCOPES)
        window = check_number(
            quota_window, "quota_window", low=1, high=HOUR, kind="a number of seconds"
        )
        all_sizes = _practice_sizes(practices, sizes, practice_sizes)
        self.clock: Clock = clock if clock is not None else SystemClock()
        self.tz = ZoneInfo(timezone)
        self.base_url = base_url.rstrip("/")
        self.latency: Latency = latency
        self.faults = Faults(seed)
        self.requests = RequestLog()
        self._quota = QuotaBook(quota, window)
        self._rng = random.Random(f"emulator:{seed}")
        self.oauth = OAuthServer(
            self.clock,
            random.Random(f"tokens:{seed}"),
            client_id=client_id,
            client_secret=client_secret,
            redirect_uri=redirect_uri,
        )
        self.webhooks = Webhooks(
            self.clock,
            random.Random(f"webhooks:{seed}"),
            practices=len(all_sizes),
            loss_rng=random.Random(f"webhook-loss:{seed}"),
        )
        # Practice 0 is seeded exactly as a one-practice emulator always was.
        self._practices = tuple(
            Practice(self, i, seed=seed if i == 0 else f"{seed}:{i}", sizes=practice)
            for i, practice in enumerate(all_sizes)
        )
        first = self._practices[0]
        self.tables: dict[str, Table] = first.tables
        self.current_user_id = first.current_user_id
        self.api: Api = first.api
        self.activity: Activity = first.activity  # simulated staff work
        self._received = 0
        self._transport: Any = None

    # --- configuration and credentials ------------------------------------------------------

    @property
    def quota(self) -> int:
        """Calls allowed per clock hour to the application (per access token when
        `quota_scope="token"`)."""
        return self._quota.limit

    @quota.setter
    def quota(self, value: int) -> None:
        self._quota.limit = value

    # --- practices -----------------------------------------------------------------------

    @property
    def practices(self) -> tuple[Practice, ...]:
        """Every practice, by index."""
        return self._practices

    def practice(self, index: int) -> Practice:
        """Practice `index` (0 .. number of practices - 1)."""
        return self._practices[
            check_int(index, "a practice index", low=0, high=len(self._practices) - 1)
        ]

    def practice_of_user(self, user_id: int) -> Practice:
        """The practice a user belongs to (a user id outside every practice is refused)."""
        user_id = check_int(user_id, "user_id", low=1, high=MAX_ID)
        for practice in self._practices:
            if practice.owns_user(user_id):
                return practice
        raise InvalidRequestError("user_id is not a user of any practice")

    # --- credentials (practice 0's) ------------------------------------------------------

    @property
    def token(self) -> Token:
        """Practice 0's token, issued at construction."""
        return self._practices[0].token

    @property
    def access_token(self) -> str:
        """A valid access token of practice 0, issued at construction (it expires after 48
        clock hours)."""
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
        """An authorization code, as `/o/authorize` would hand the redirect URI (valid 60 s);
        its token will see the practice of `user_id` (default: practice 0's first user)."""
        if user_id is None:
            return self._practices[0].issue_code()
        return self.practice_of_user(user_id).issue_code(user_id)

    def issue_token(self, user_id: int | None = None, *, client_id: str | None = None) -> Token:
        """Another access token (with its refresh token) for `user_id`'s practice (default:
        practice 0's first user). `client_id` issues it to another application (default: this
        one), which has a quota of its own when the quota is per application."""
        if user_id is None:
            return self._practices[0].issue_token(client_id=client_id)
        return self.practice_of_user(user_id).issue_token(user_id, client_id=client_id)

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
        return self.window_start() + self._quota.window

    def used(self, token: str | None = None) -> int:
        """Calls counted in the current window against `token`'s budget (default:
        `access_token`). Under `quota_scope="application"` the budget is the application's
        that `token` was issued to (every practice's tokens share it); under `"token"` it is
        that access token's alone."""
        return self._quota.used(self._quota_key_of(token), self.clock.now())

    def remaining(self, token: str | None = None) -> int:
        """What `token`'s budget has left in the current window (see `used`)."""
        return max(0, self.quota - self.used(token))

    def spend(self, calls: int, token: str | None = None) -> None:
        """Count `calls` made by an outside consumer sharing `token`'s budget (see `used`)."""
        calls = check_int(calls, "calls", low=0, high=2**31 - 1)
        self._quota.spend(self._quota_key_of(token), self.clock.now(), calls)

    def _quota_key(self, token: Token) -> str:
        """What the quota counts a call made with `token` against."""
        if self.quota_scope == "token":
            return token.access
        return f"app:{token.client_id}"

    def _quota_key_of(self, access: str | None) -> str:
        if access is None:
            return self._quota_key(self.token)
        if self.quota_scope == "token":
            return access
        token = self.oauth.by_access.get(access) if isinstance(access, str) else None
        if token is None:
            # Whose application it is cannot be told: refuse rather than count nobody.
            raise InvalidRequestError("not an access token this emulator issued")
        return self._quota_key(token)

    # --- state -------------------------------------------------------------------------------

    def records(self, endpoint: str) -> list[dict[str, Any]]:
        """Copies of every stored record of an endpoint in practice 0 (verbose keys
        included), by id."""
        return self._practices[0].records(endpoint)

    def record(self, endpoint: str, id: int | str) -> dict[str, Any] | None:
        """A copy of one stored record of practice 0, or None."""
        return self._practices[0].record(endpoint, id)

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
        """A `DrChronoClient` on this emulator: practice 0's token (or `access_token=`), base
        URL, in-process transport and clock.

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
        resp, practice = self._answer(req, fault)
        resp.headers.append(("Date", http_date(self.clock.now())))
        if fault in ("drop", "truncate", "slow"):
            resp.fault = fault
            resp.slow_seconds = self.faults.slow_body_seconds
        location = next((v for k, v in resp.headers if k == "Location"), None)
        status = None if fault == "drop" else resp.status
        self._log(req, query, status, arrived, fault, location, practice)
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
        practice: int | None = None,
    ) -> None:
        self.requests.append(
            LogEntry(req.method, req.path, query, status, arrived, fault, location, practice)
        )

    def _answer(self, req: EmuRequest, fault: str | None) -> tuple[EmuResponse, int | None]:
        """The answer, and the practice of the request's token (None without a valid one)."""
        path = req.path
        if path.startswith("/files/"):
            return self._file(req), None
        if path.startswith("/o/"):
            return self._oauth(req, fault), None
        if not path.startswith("/api/"):
            return json_response(404, {"detail": "Not found."}), None
        token = self.oauth.authenticate(req.headers.get("authorization"))
        if token is None:
            body = {"detail": "Authentication credentials were not provided."}
            return json_response(401, body), None
        if fault == "429":
            until = self.window_resets_at()
            return self._throttled(until), token.practice
        # Staff work through DrChrono's own web application, which no API quota limits.
        staff = token.client_id == STAFF_CLIENT_ID
        wait = None if staff else self._quota.take(self._quota_key(token), self.clock.now())
        if wait is not None:
            return self._throttled(self.clock.now() + wait), token.practice
        early = self._early_fault(fault)
        if early is not None:
            return early, token.practice
        # The token's practice answers: another practice's ids are simply not in its tables.
        return self._practices[token.practice].api.handle(req, token.user_id), token.practice

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
            return self._throttled(self.window_resets_at())
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
        """`/o/authorize`: approve at once as the first user of a practice and redirect with a
        code. The emulator-only parameter `practice=<index>` says whose user signs in
        (default 0), as a different person at the browser would."""
        q = req.query_dict()
        if q.get("client_id") != self.client_id:
            return json_response(400, {"error": "invalid_client"})
        redirect = q.get("redirect_uri") or self.redirect_uri
        if redirect != self.redirect_uri:
            return json_response(400, {"error": "invalid_request"})
        raw = q.get("practice", "0")
        if not (raw.isascii() and raw.isdigit() and len(raw) <= 4) or int(raw) >= len(
            self._practices
        ):
            return json_response(400, {"error": "invalid_request"})
        params = {}
        refused = self.oauth.pkce_refusal(q)
        scope = self.oauth.granted(q.get("scope"))
        if scope is None:  # a scope DrChrono does not have
            params["error"] = "invalid_scope"
        elif refused is None:
            params["code"] = self._practices[int(raw)].issue_code(scope=scope)
            self.oauth.bind_challenge(params["code"], q)
        else:  # an OAuth error goes back to the redirect URI, as django-oauth-toolkit does
            params.update(error="invalid_request", error_description=refused)
        if "state" in q:
            params["state"] = q["state"]
        sep = "&" if "?" in redirect else "?"
        return EmuResponse(302, b"", None, [("Location", f"{redirect}{sep}{urlencode(params)}")])

    def _file(self, req: EmuRequest) -> EmuResponse:
        parts = req.path.split("/")
        if len(parts) >= 3 and parts[2] == "seed":
            return EmuResponse(200, b"%PDF-1.4\n% emulator seed file\n", "application/pdf")
        name = parts[2] if len(parts) >= 3 else ""
        found = (p.api.files.get(name) for p in self._practices)
        stored = next((f for f in found if f is not None), None)
        if stored is None:
            return json_response(404, {"detail": "Not found."})
        return EmuResponse(200, stored.data, stored.content_type)

    def __repr__(self) -> str:
        sizes = {name: len(t) for name, t in self.tables.items() if name in BY_NAME and len(t)}
        more = f", practices={len(self._practices)}" if len(self._practices) > 1 else ""
        return f"Emulator(base_url={self.base_url!r}, sizes={orjson.dumps(sizes).decode()}{more})"


def _practice_sizes(
    practices: int | None,
    sizes: Mapping[str, int] | None,
    practice_sizes: Sequence[Mapping[str, int]] | None,
) -> list[dict[str, int]]:
    """Each practice's `sizes`: the shared ones with the practice's own over them."""
    if practices is not None:
        practices = check_int(practices, "practices", low=1, high=MAX_PRACTICES)
    if sizes is not None and not isinstance(sizes, Mapping):
        raise InvalidRequestError("sizes must be a mapping of endpoint name to a count")
    _check_sizes(sizes or {})
    if practice_sizes is None:
        return [dict(sizes or {}) for _ in range(practices or 1)]
    if isinstance(practice_sizes, (str, bytes, Mapping)) or not isinstance(
        practice_sizes, Sequence
    ):
        raise InvalidRequestError("practice_sizes must be a list of mappings, one per practice")
    if practices is not None and len(practice_sizes) != practices:
        raise InvalidRequestError("practice_sizes must have one mapping per practice")
    if not 1 <= len(practice_sizes) <= MAX_PRACTICES:
        raise InvalidRequestError(f"practice_sizes must hold 1..{MAX_PRACTICES} mappings")
    if not all(isinstance(own, Mapping) for own in practice_sizes):
        raise InvalidRequestError("practice_sizes must be a list of mappings, one per practice")
    for own in practice_sizes:
        _check_sizes(own)
    return [{**(sizes or {}), **own} for own in practice_sizes]


def size_names() -> list[str]:
    """The names `sizes` takes: the seed's kinds (exam rooms per office, staff, "other" for
    every endpoint not named) and every endpoint."""
    return sorted({*DEFAULT_SIZES, *BY_NAME})


def _check_sizes(sizes: Mapping[str, int]) -> None:
    """A name the seed does not know would be ignored without a word: refused instead."""
    known = set(DEFAULT_SIZES) | set(BY_NAME)
    for name, count in sizes.items():
        if name not in known:
            shown = name if isinstance(name, str) and len(name) <= 64 else "(a name)"
            raise InvalidRequestError(
                f"sizes: {shown} is not a size the seed knows; the names: "
                + ", ".join(size_names())
            )
        check_int(count, f"sizes[{name}]", low=0, high=MAX_SEED)
