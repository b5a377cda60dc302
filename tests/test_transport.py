"""The transport, through `DrChronoClient.request`, against respx."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator

import httpx
import pytest
import respx

from drchrono_async import DrChronoClient, errors
from drchrono_async.ratelimit import QuotaSnapshot
from drchrono_async.testing import VirtualClock

BASE = "https://drchrono.test"
TOKEN = "tok-SECRET-123"


@pytest.fixture
def clock() -> VirtualClock:
    return VirtualClock()


@pytest.fixture
async def client(clock: VirtualClock) -> AsyncIterator[DrChronoClient]:
    # No quota: these tests look at one request at a time (the quota has tests of its own).
    async with DrChronoClient(TOKEN, base_url=BASE, clock=clock, max_retries=3, quota=None) as c:
        yield c


class RecordingQuota:
    """A quota that grants every permit at once and records what the transport asked."""

    def __init__(self, clock: VirtualClock) -> None:
        self.clock = clock
        self.acquired = 0
        self.throttled_with: list[float | None] = []
        self.server_times: list[float] = []
        self.paused_until = 0.0

    async def acquire(self, *, max_wait: float | None = None) -> None:
        wait = self.paused_until - self.clock.now()
        if wait > 0:
            if max_wait is not None and wait > max_wait:
                raise errors.QuotaExhaustedError(
                    "quota", method="", path="", resets_at=self.paused_until
                )
            await self.clock.sleep(wait)
        self.acquired += 1

    async def throttled(self, retry_after: float | None) -> float:
        self.throttled_with.append(retry_after)
        self.paused_until = self.clock.now() + (retry_after if retry_after is not None else 3600)
        return self.paused_until

    def observe_server_time(self, server_now: float) -> None:
        self.server_times.append(server_now)

    def snapshot(self) -> QuotaSnapshot:
        raise NotImplementedError


# -- requests as sent ------------------------------------------------------------------------


@respx.mock
async def test_sends_bearer_json_accept_and_user_agent(client: DrChronoClient) -> None:
    route = respx.get(f"{BASE}/api/doctors").respond(200, json={"results": []})
    assert await client.request("GET", "/api/doctors") == {"results": []}
    sent = route.calls.last.request
    assert sent.headers["Authorization"] == f"Bearer {TOKEN}"
    assert sent.headers["Accept"] == "application/json"
    assert "text/html" not in sent.headers["Accept"]
    assert sent.headers["User-Agent"].startswith("drchrono-async/")


@respx.mock
async def test_204_and_empty_body_are_none(client: DrChronoClient) -> None:
    respx.patch(f"{BASE}/api/patients/1").respond(204)
    respx.get(f"{BASE}/api/empty").respond(200, content=b"")
    assert await client.request("PATCH", "/api/patients/1", json={"first_name": "A"}) is None
    assert await client.request("GET", "/api/empty") is None


# -- status mapping --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "error"),
    [
        (400, errors.BadRequestError),
        (401, errors.AuthenticationError),
        (403, errors.PermissionDeniedError),
        (404, errors.NotFoundError),
        (409, errors.ConflictError),
        (418, errors.APIError),
        (500, errors.ServerError),
        (502, errors.ServerError),
        (503, errors.ServerError),
        (504, errors.ServerError),
        (501, errors.ServerError),
    ],
)
@respx.mock
async def test_status_mapping(client: DrChronoClient, status: int, error: type[Exception]) -> None:
    route = respx.post(f"{BASE}/api/appointments").respond(status, json={"detail": "nope"})
    with pytest.raises(error) as info:
        await client.request("POST", "/api/appointments", json={"doctor": 1})
    exc = info.value
    assert type(exc) is error
    assert isinstance(exc, errors.APIError)
    assert exc.status_code == status
    assert exc.method == "POST"
    assert exc.path == "/api/appointments"
    assert exc.body == {"detail": "nope"}
    assert route.call_count == 1  # POST is never retried once it reached the server


@respx.mock
async def test_bad_request_field_errors(client: DrChronoClient) -> None:
    body = {"patient": ["This field may not be null."], "doctor": "Invalid pk."}
    respx.post(f"{BASE}/api/appointments").respond(400, json=body)
    with pytest.raises(errors.BadRequestError) as info:
        await client.request("POST", "/api/appointments", json={"patient": None})
    assert info.value.field_errors == {
        "patient": ["This field may not be null."],
        "doctor": ["Invalid pk."],
    }
    # The message names the fields, never the messages (they may echo submitted values).
    assert "doctor" in str(info.value) and "patient" in str(info.value)
    assert "may not be null" not in str(info.value)


@respx.mock
async def test_429_wait_from_retry_after_header(client: DrChronoClient) -> None:
    respx.get(f"{BASE}/api/doctors").respond(429, headers={"Retry-After": "120"})
    with pytest.raises(errors.RateLimitError) as info:
        await client.request("GET", "/api/doctors")
    assert info.value.retry_after == 120.0
    assert info.value.status_code == 429
    assert not isinstance(info.value, errors.QuotaExhaustedError)


@respx.mock
async def test_429_wait_from_body(client: DrChronoClient) -> None:
    body = {"detail": "Request was throttled. Expected available in 2710.0 seconds."}
    route = respx.get(f"{BASE}/api/doctors").respond(429, json=body)
    with pytest.raises(errors.RateLimitError) as info:
        await client.request("GET", "/api/doctors")
    assert info.value.retry_after == 2710.0
    assert route.call_count == 1  # without a quota, a 429 is not retried


@respx.mock
async def test_429_retry_after_as_http_date(client: DrChronoClient) -> None:
    respx.get(f"{BASE}/api/doctors").respond(
        429,
        headers={
            "Date": "Wed, 25 Nov 2026 10:00:00 GMT",
            "Retry-After": "Wed, 25 Nov 2026 10:05:00 GMT",
        },
    )
    with pytest.raises(errors.RateLimitError) as info:
        await client.request("GET", "/api/doctors")
    assert info.value.retry_after == 300.0


# -- redirects -------------------------------------------------------------------------------


@respx.mock
async def test_302_on_post_resends_post_with_same_body_and_token(client: DrChronoClient) -> None:
    first = respx.post(f"{BASE}/api/iframe_integration").respond(
        302, headers={"Location": "/api/iframe_integration/v2"}
    )
    second = respx.post(f"{BASE}/api/iframe_integration/v2").respond(201, json={"ok": True})
    payload = {"name": "x", "n": 3}
    assert await client.request("POST", "/api/iframe_integration", json=payload) == {"ok": True}
    assert first.call_count == 1 and second.call_count == 1
    resent = second.calls.last.request
    assert resent.method == "POST"
    assert json.loads(resent.content) == payload
    assert resent.headers["Authorization"] == f"Bearer {TOKEN}"
    assert resent.headers["Content-Type"] == "application/json"


@pytest.mark.parametrize("status", [301, 302, 307, 308])
@respx.mock
async def test_every_redirect_status_keeps_the_method(client: DrChronoClient, status: int) -> None:
    respx.put(f"{BASE}/api/a/1").respond(status, headers={"Location": f"{BASE}/api/b/1"})
    target = respx.put(f"{BASE}/api/b/1").respond(204)
    await client.request("PUT", "/api/a/1", json={"x": 1})
    assert target.calls.last.request.method == "PUT"
    assert json.loads(target.calls.last.request.content) == {"x": 1}


@respx.mock
async def test_303_is_followed_with_get_and_no_body(client: DrChronoClient) -> None:
    respx.post(f"{BASE}/api/a").respond(303, headers={"Location": f"{BASE}/api/b/1"})
    target = respx.get(f"{BASE}/api/b/1").respond(200, json={"id": 1})
    assert await client.request("POST", "/api/a", json={"x": 1}) == {"id": 1}
    sent = target.calls.last.request
    assert sent.method == "GET" and sent.content == b""
    assert "content-type" not in sent.headers and sent.headers["authorization"].startswith("Bearer")


@pytest.mark.parametrize(
    "location",
    [
        "http://[::1",
        "//evil.example/x",
        "/api/\x00x",
        "ftp://drchrono.test/x",
        "https://user:pw@drchrono.test/x",
        "https:///nohost",
        "/" + "a" * 9000,
        " ",
    ],
)
@respx.mock
async def test_an_unusable_location_is_a_redirect_error(
    client: DrChronoClient, location: str
) -> None:
    respx.get(f"{BASE}/api/a").respond(302, headers={"Location": location})
    with pytest.raises(errors.RedirectError) as info:
        await client.request("GET", "/api/a")
    assert location.strip() == "" or location not in str(info.value)
    assert len(respx.calls) == 1  # nothing was sent anywhere else


@respx.mock
async def test_cross_origin_redirect_sends_no_token(client: DrChronoClient) -> None:
    respx.get(f"{BASE}/api/users/current").respond(
        302, headers={"Location": "https://evil.example/api/users/1"}
    )
    elsewhere = respx.get("https://evil.example/api/users/1").respond(200, json={})
    with pytest.raises(errors.RedirectError) as info:
        await client.request("GET", "/api/users/current")
    assert elsewhere.call_count == 0
    assert TOKEN not in str(info.value)


@respx.mock
async def test_same_host_other_scheme_is_another_origin(client: DrChronoClient) -> None:
    respx.get(f"{BASE}/api/x").respond(302, headers={"Location": "http://drchrono.test/api/x"})
    plain = respx.get("http://drchrono.test/api/x").respond(200, json={})
    with pytest.raises(errors.RedirectError):
        await client.request("GET", "/api/x")
    assert plain.call_count == 0


@respx.mock
async def test_redirect_loop_stops_after_five_hops(client: DrChronoClient) -> None:
    loop = respx.get(f"{BASE}/api/loop").respond(302, headers={"Location": "/api/loop"})
    with pytest.raises(errors.RedirectError, match="more than 5 redirects"):
        await client.request("GET", "/api/loop")
    assert loop.call_count == 6  # the request and five hops, each a real call


@respx.mock
async def test_users_current_redirect_is_followed(client: DrChronoClient) -> None:
    respx.get(f"{BASE}/api/users/current").respond(302, headers={"Location": "/api/users/7"})
    respx.get(f"{BASE}/api/users/7").respond(200, json={"id": 7})
    assert await client.request("GET", "/api/users/current") == {"id": 7}


@respx.mock
async def test_redirect_without_location(client: DrChronoClient) -> None:
    respx.get(f"{BASE}/api/x").respond(302)
    with pytest.raises(errors.RedirectError, match="without a usable Location"):
        await client.request("GET", "/api/x")


# -- retries ---------------------------------------------------------------------------------


@respx.mock
async def test_html_200_is_retried_then_succeeds(client: DrChronoClient) -> None:
    route = respx.get(f"{BASE}/api/patients").mock(
        side_effect=[
            httpx.Response(200, text="<html>oops</html>", headers={"Content-Type": "text/html"}),
            httpx.Response(200, json={"results": [1]}),
        ]
    )
    assert await client.request("GET", "/api/patients") == {"results": [1]}
    assert route.call_count == 2


@respx.mock
async def test_non_json_200_exhausts_retries(client: DrChronoClient) -> None:
    route = respx.get(f"{BASE}/api/patients").respond(200, content=b"not json")
    with pytest.raises(errors.ResponseDecodeError) as info:
        await client.request("GET", "/api/patients")
    assert route.call_count == 4  # max_retries=3
    assert "not json" not in str(info.value)


@respx.mock
async def test_503_then_200_on_get(client: DrChronoClient, clock: VirtualClock) -> None:
    start = clock.now()
    route = respx.get(f"{BASE}/api/x").mock(
        side_effect=[httpx.Response(503), httpx.Response(502), httpx.Response(200, json=[])]
    )
    assert await client.request("GET", "/api/x") == []
    assert route.call_count == 3
    assert clock.now() > start  # the backoff slept on the injected clock, not the wall


@respx.mock
async def test_post_timing_out_after_sending_is_not_retried(client: DrChronoClient) -> None:
    route = respx.post(f"{BASE}/api/patients").mock(side_effect=httpx.ReadTimeout("slow"))
    with pytest.raises(errors.TransportError) as info:
        await client.request("POST", "/api/patients", json={"first_name": "A"})
    assert route.call_count == 1
    assert info.value.sent is True


@respx.mock
async def test_post_connect_error_is_retried(client: DrChronoClient) -> None:
    route = respx.post(f"{BASE}/api/patients").mock(
        side_effect=[httpx.ConnectError("refused"), httpx.Response(201, json={"id": 1})]
    )
    assert await client.request("POST", "/api/patients", json={}) == {"id": 1}
    assert route.call_count == 2


@respx.mock
async def test_patch_500_is_not_retried(client: DrChronoClient) -> None:
    route = respx.patch(f"{BASE}/api/patients/1").respond(500)
    with pytest.raises(errors.ServerError):
        await client.request("PATCH", "/api/patients/1", json={})
    assert route.call_count == 1


@respx.mock
async def test_get_timeout_is_retried_then_raises(client: DrChronoClient) -> None:
    route = respx.get(f"{BASE}/api/x").mock(side_effect=httpx.ReadTimeout("slow"))
    with pytest.raises(errors.TransportError, match="timed out"):
        await client.request("GET", "/api/x")
    assert route.call_count == 4


@respx.mock
async def test_4xx_is_not_retried(client: DrChronoClient) -> None:
    route = respx.get(f"{BASE}/api/x/9").respond(404)
    with pytest.raises(errors.NotFoundError):
        await client.request("GET", "/api/x/9")
    assert route.call_count == 1


# -- the quota -------------------------------------------------------------------------------


@respx.mock
async def test_every_hop_and_retry_takes_a_permit(clock: VirtualClock) -> None:
    quota = RecordingQuota(clock)
    respx.get(f"{BASE}/api/a").respond(302, headers={"Location": "/api/b"})
    respx.get(f"{BASE}/api/b").mock(side_effect=[httpx.Response(500), httpx.Response(200, json=1)])
    async with DrChronoClient(TOKEN, base_url=BASE, quota=quota) as client:
        assert await client.request("GET", "/api/a") == 1
    # attempt 1: /a (redirect) + /b (500); attempt 2: /a (redirect) + /b (200)
    assert quota.acquired == 4


@respx.mock
async def test_429_pauses_the_quota_and_resends(clock: VirtualClock) -> None:
    quota = RecordingQuota(clock)
    body = {"detail": "Request was throttled. Expected available in 30.0 seconds."}
    route = respx.get(f"{BASE}/api/x").mock(
        side_effect=[httpx.Response(429, json=body), httpx.Response(200, json={"ok": 1})]
    )
    start = clock.now()
    async with DrChronoClient(TOKEN, base_url=BASE, quota=quota) as client:
        assert await client.request("GET", "/api/x") == {"ok": 1}
    assert quota.throttled_with == [30.0]
    assert route.call_count == 2
    assert clock.now() - start >= 30.0


@respx.mock
async def test_429_longer_than_max_wait_raises(clock: VirtualClock) -> None:
    quota = RecordingQuota(clock)
    respx.get(f"{BASE}/api/x").respond(429, headers={"Retry-After": "600"})
    async with DrChronoClient(TOKEN, base_url=BASE, quota=quota, max_wait=60) as client:
        with pytest.raises(errors.RateLimitError) as info:
            await client.request("GET", "/api/x")
    assert info.value.retry_after == 600.0


@respx.mock
async def test_quota_exhausted_carries_method_and_path(clock: VirtualClock) -> None:
    quota = RecordingQuota(clock)
    quota.paused_until = clock.now() + 100
    route = respx.get(f"{BASE}/api/x").respond(200, json=1)
    async with DrChronoClient(TOKEN, base_url=BASE, quota=quota, max_wait=0) as client:
        with pytest.raises(errors.QuotaExhaustedError) as info:
            await client.request("GET", "/api/x")
    assert (info.value.method, info.value.path) == ("GET", "/api/x")
    assert route.call_count == 0


@respx.mock
async def test_server_date_is_fed_to_the_quota(clock: VirtualClock) -> None:
    quota = RecordingQuota(clock)
    respx.get(f"{BASE}/api/x").respond(
        200, json=1, headers={"Date": "Wed, 25 Nov 2026 10:00:00 GMT"}
    )
    async with DrChronoClient(TOKEN, base_url=BASE, quota=quota) as client:
        await client.request("GET", "/api/x")
    assert quota.server_times == [1795600800.0]


# -- logging ---------------------------------------------------------------------------------


@respx.mock
async def test_debug_logs_carry_no_token_query_or_body(
    client: DrChronoClient, caplog: pytest.LogCaptureFixture
) -> None:
    secret_query = "Jane-Doe-1970"
    secret_body = "allergic-to-penicillin"
    respx.get(f"{BASE}/api/patients").mock(
        side_effect=[
            httpx.Response(503, json={"detail": secret_body}),
            httpx.Response(200, json={"results": [{"notes": secret_body}]}),
        ]
    )
    respx.post(f"{BASE}/api/patients").respond(400, json={"notes": [secret_body]})
    with caplog.at_level(logging.DEBUG, logger="drchrono_async"):
        await client.request("GET", "/api/patients", params={"last_name": secret_query})
        with pytest.raises(errors.BadRequestError):
            await client.request("POST", "/api/patients", json={"notes": secret_body})
    text = "\n".join(r.getMessage() for r in caplog.records)
    assert "/api/patients" in text and "503" in text and "200" in text
    for secret in (TOKEN, secret_query, secret_body):
        assert secret not in text
    assert "last_name=" not in text or "last_name=[redacted]" in text  # keys, never values


# -- what the HTTP transport raises besides httpx errors ------------------------------------


class RaisingTransport(httpx.AsyncBaseTransport):
    """A caller's transport with a bug: every send raises `error`."""

    def __init__(self, error: BaseException) -> None:
        self.error = error
        self.calls = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.calls += 1
        raise self.error


async def test_a_runtime_error_of_an_open_client_is_a_transport_error_not_closed(
    clock: VirtualClock,
) -> None:
    secret = "Jane-Doe-1970"
    broken = RaisingTransport(RuntimeError(f"transport bug while sending {secret}"))
    async with DrChronoClient(
        TOKEN, base_url=BASE, clock=clock, quota=None, max_retries=3, transport=broken
    ) as client:
        with pytest.raises(errors.TransportError) as info:
            await client.request("GET", "/api/patients", params={"last_name": secret})
    assert not isinstance(info.value, errors.InvalidRequestError)
    assert "closed" not in str(info.value)
    assert str(info.value) == "GET /api/patients failed: RuntimeError"  # its type only
    assert info.value.method == "GET" and info.value.path == "/api/patients"
    assert secret not in str(info.value) and secret not in repr(info.value)
    assert info.value.__cause__ is None and info.value.__suppress_context__
    assert broken.calls == 1  # nothing says it is transient: not retried


async def test_a_closed_callers_client_is_still_said_to_be_closed(clock: VirtualClock) -> None:
    http = httpx.AsyncClient(transport=httpx.MockTransport(lambda r: httpx.Response(200)))
    client = DrChronoClient(TOKEN, base_url=BASE, clock=clock, quota=None, http_client=http)
    await http.aclose()
    with pytest.raises(errors.InvalidRequestError, match=r"HTTP client .* is closed"):
        await client.request("GET", "/api/x")
    await client.aclose()
