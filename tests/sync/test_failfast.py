"""A run stops when nothing can work: a refused token costs one call (two with a refresh),
an unreachable server one resource's retries, never one failure per resource."""

from __future__ import annotations

import socket

from drchrono_async import DrChronoClient, MemoryTokenStore, OAuthApp
from drchrono_async.errors import (
    AuthenticationError,
    InvalidGrantError,
    ServerError,
    TransportError,
)
from drchrono_async.oauth import Token
from drchrono_async.sync import Outcome, Syncer
from drchrono_async.sync._failfast import FailFast
from drchrono_async.testing import Emulator, VirtualClock

from ._memory_store import MemoryStore


async def test_a_refused_token_stops_the_run_after_one_call() -> None:
    emu = Emulator(seed=2, clock=VirtualClock())
    async with emu.client(access_token="at_refused_0123456789") as client:
        report = await Syncer(client, MemoryStore()).run()
    assert len(emu.requests) == 1  # not one 401 per resource (52 before)
    assert isinstance(report.halted, AuthenticationError)
    first, *rest = report.resources
    assert first.error_type is AuthenticationError and first.calls == 1
    assert rest and all(r.calls == 0 and r.reason.startswith("not started") for r in rest)
    assert all(r.outcome is Outcome.STOPPED for r in rest)
    assert not report.complete


async def test_a_refresh_token_refused_costs_two_calls() -> None:
    emu = Emulator(seed=2, clock=VirtualClock())
    wired = {"base_url": emu.base_url, "transport": emu.transport, "clock": emu.clock}
    app = OAuthApp(emu.client_id, emu.client_secret, emu.redirect_uri, **wired)
    tokens = MemoryTokenStore()
    far = emu.clock.now() + 86_400
    await tokens.save(Token("at_gone_0123456789", "rt_gone_0123456789", far))
    async with app, DrChronoClient(oauth=app, token_store=tokens, **wired) as client:
        report = await Syncer(client, MemoryStore(), granted_scopes=["patients"]).run()
    # The 401, then the refresh the server refuses: the run stops there.
    assert [e.status for e in emu.requests] == [401, 400]
    assert isinstance(report.halted, InvalidGrantError)


async def test_an_unreachable_server_costs_one_resources_retries() -> None:
    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    clock = VirtualClock()  # the retries' back-off is slept on it: no wall time
    async with DrChronoClient(
        "at_0123456789", base_url=f"http://127.0.0.1:{port}", clock=clock, max_retries=4
    ) as client:
        report = await Syncer(client, MemoryStore()).run()
    assert isinstance(report.halted, TransportError)
    assert report.halted.reason == "connection refused"
    assert report.calls == 5  # the first resource's attempts; the 50 others never start
    assert sum(1 for r in report.resources if r.calls) == 1


def test_only_a_refused_token_or_a_server_never_reached_is_fatal() -> None:
    run = FailFast()
    down = TransportError("GET /api/x failed", method="GET", path="/api/x", sent=False)
    assert run.fatal(down)  # nothing answered yet: the server is not there
    run.answered()
    assert not run.fatal(down)  # it answered before: one resource's bad luck
    refused = AuthenticationError("401", status_code=401, method="GET", path="/api/x")
    assert run.fatal(refused)  # a refused token is refused everywhere, any time
    assert not run.fatal(ServerError("500", status_code=500, method="GET", path="/api/x"))


async def test_the_other_resources_wait_for_the_first_answer_then_run_at_once() -> None:
    emu = Emulator(seed=3, clock=VirtualClock(), sizes={"patients": 30, "doctors": 3})
    order: list[str] = []
    async with emu.client() as client:
        syncer = Syncer(
            client,
            MemoryStore(),
            resources=["doctors", "patients", "offices"],
            progress=lambda r: order.append(r.resource),
        )
        report = await syncer.run()
    assert report.complete and report.halted is None
    assert order[0] == "doctors"  # the first page written is the leader's


def test_a_transport_failure_is_named_from_its_causes_types() -> None:
    import errno
    import ssl

    import httpx

    from drchrono_async._failures import failure_reason

    def failed(cause: BaseException) -> httpx.ConnectError:
        outer = httpx.ConnectError("text the reason never repeats")
        outer.__cause__ = cause
        return outer

    assert failure_reason(failed(ssl.SSLCertVerificationError("x"))) == (
        "TLS certificate not trusted"
    )
    assert failure_reason(failed(ssl.SSLError("x"))) == "TLS handshake failed"
    assert failure_reason(failed(socket.gaierror(-2, "x"))) == "DNS lookup failed"
    assert failure_reason(failed(OSError(errno.EHOSTUNREACH, "x"))) == "network unreachable"
    assert failure_reason(httpx.ConnectTimeout("x")) == "timed out"
    assert failure_reason(failed(ValueError("x"))) == ""
