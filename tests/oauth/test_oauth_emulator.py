"""OAuthApp and DrChronoClient(oauth=...) against the emulator, in virtual time."""

from __future__ import annotations

import asyncio
import logging
import traceback

import httpx
import pytest

from drchrono_async import DrChronoClient
from drchrono_async.errors import (
    AuthenticationError,
    DrChronoError,
    InvalidGrantError,
    InvalidRequestError,
    TokenStoreError,
)
from drchrono_async.oauth import MemoryTokenStore, OAuthApp, Token
from drchrono_async.ratelimit import HourlyQuota
from drchrono_async.testing import Emulator, VirtualClock

HOUR = 3600.0
DAY = 86_400.0


def app_for(emu: Emulator, **options: object) -> OAuthApp:
    return OAuthApp(
        emu.client_id,
        emu.client_secret,
        emu.redirect_uri,
        base_url=emu.base_url,
        transport=emu.transport,
        clock=emu.clock,
        **options,  # type: ignore[arg-type]
    )


def token_calls(emu: Emulator) -> int:
    return sum(1 for e in emu.requests if e.path == "/o/token/")


async def authorize(emu: Emulator, app: OAuthApp) -> Token:
    """The browser's part: /o/authorize approves and redirects with a code."""
    url = app.authorize_url(scope="patients calendar", state="st-1")
    async with httpx.AsyncClient(transport=emu.transport) as browser:
        answer = await browser.get(url)
    assert answer.status_code == 302
    callback = httpx.URL(answer.headers["location"])
    assert callback.params["state"] == "st-1"
    return await app.exchange_code(callback.params["code"])


@pytest.fixture
def emu() -> Emulator:
    return Emulator(seed=3, clock=VirtualClock(), sizes={"appointments": 0, "patients": 3})


async def test_authorize_url_names_the_app_and_a_fresh_state(emu: Emulator) -> None:
    app = app_for(emu)
    a, b = httpx.URL(app.authorize_url()), httpx.URL(app.authorize_url(scope="patients"))
    assert a.path == "/o/authorize" and a.params["client_id"] == emu.client_id
    assert a.params["redirect_uri"] == emu.redirect_uri and a.params["response_type"] == "code"
    assert len(a.params["state"]) >= 32 and a.params["state"] != b.params["state"]
    assert b.params["scope"] == "patients" and "client_secret" not in str(a)
    with pytest.raises(InvalidRequestError):
        app.authorize_url(state="")


async def test_code_exchange_gives_a_working_token_expiring_on_the_server_clock(
    emu: Emulator,
) -> None:
    async with app_for(emu) as app:
        token = await authorize(emu, app)
    assert token.expires_at == pytest.approx(emu.clock.now() + 172_800, abs=1.0)
    assert token.access_token in emu.oauth.by_access
    async with emu.client(access_token=token.access_token) as client:
        assert (await client.users.current()).id == emu.current_user_id


async def test_a_used_or_expired_code_and_a_dead_refresh_token_are_invalid_grants(
    emu: Emulator,
) -> None:
    async with app_for(emu) as app:
        code = emu.issue_code()
        await app.exchange_code(code)
        with pytest.raises(InvalidGrantError):
            await app.exchange_code(code)  # codes work once
        late = emu.issue_code()
        emu.clock.advance(61)  # type: ignore[attr-defined]
        with pytest.raises(InvalidGrantError):
            await app.exchange_code(late)  # and live a minute
        first = await app.exchange_code(emu.issue_code())
        await app.refresh(first.refresh_token)
        with pytest.raises(InvalidGrantError) as info:
            await app.refresh(first.refresh_token)  # rotated: dead at once
    assert isinstance(info.value, AuthenticationError)
    assert first.refresh_token not in str(info.value)


async def test_a_wrong_secret_is_an_authentication_error_naming_nothing(emu: Emulator) -> None:
    app = OAuthApp(
        emu.client_id,
        "wrong-secret-XYZ",
        emu.redirect_uri,
        base_url=emu.base_url,
        transport=emu.transport,
        clock=emu.clock,
    )
    with pytest.raises(AuthenticationError) as info:
        await app.exchange_code(emu.issue_code())
    assert "wrong-secret-XYZ" not in "".join(traceback.format_exception(info.value))
    await app.aclose()


async def test_revoke_kills_the_access_token(emu: Emulator) -> None:
    async with app_for(emu) as app:
        token = await app.exchange_code(emu.issue_code())
        await app.revoke(token.access_token)
    async with emu.client(access_token=token.access_token, max_retries=0) as client:
        with pytest.raises(AuthenticationError):
            await client.users.current()


async def test_a_429_on_the_token_endpoint_is_waited_out_with_a_quota(emu: Emulator) -> None:
    quota = HourlyQuota(clock=emu.clock)
    async with app_for(emu, quota=quota) as app:
        first = await app.exchange_code(emu.issue_code())
        emu.faults.script(["429"], path_prefix="/o/token/")
        started = emu.clock.now()
        token = await app.refresh(first.refresh_token)
    assert token.access_token in emu.oauth.by_access
    assert emu.clock.now() - started > 60  # waited for the next hour, in virtual time
    assert quota.snapshot().throttled == 1


async def test_an_answer_lost_after_rotation_is_an_invalid_grant_not_a_loop(
    emu: Emulator,
) -> None:
    async with app_for(emu) as app:
        token = await app.exchange_code(emu.issue_code())
        before = token_calls(emu)
        emu.faults.script(["drop"], path_prefix="/o/token/")  # rotated, then the answer is lost
        with pytest.raises(InvalidGrantError, match="authorize the app again"):
            await app.refresh(token.refresh_token)
    assert token_calls(emu) - before == 2  # the try, and one retry that learns it rotated


async def test_a_refresh_that_never_left_is_retried_and_works(emu: Emulator) -> None:
    async with app_for(emu) as app:
        token = await app.exchange_code(emu.issue_code())
        emu.faults.script(["reset"], path_prefix="/o/token/")  # nothing reached the server
        new = await app.refresh(token.refresh_token)
    assert new.access_token in emu.oauth.by_access


@pytest.mark.parametrize(
    # Ten days: four expiries, each met by fifty coroutines at once.
    "days",
    [pytest.param(10, id="10-days"), pytest.param(30, id="30-days", marks=pytest.mark.soak)],
)
async def test_days_of_fifty_coroutines_one_refresh_per_expiry(emu: Emulator, days: int) -> None:
    app = app_for(emu)
    store = MemoryTokenStore(await app.exchange_code(emu.issue_code()))
    start = emu.clock.now()
    used: set[str] = set()
    async with emu.client(access_token=None, oauth=app, token_store=store) as client:
        ticks = 0
        while emu.clock.now() - start < days * DAY:
            results = await asyncio.gather(*(client.users.current() for _ in range(50)))
            assert all(u.id == emu.current_user_id for u in results)
            stored = await store.load()
            assert stored is not None and stored.refresh_token in emu.oauth.by_refresh
            used.add(stored.access_token)
            emu.clock.advance(7 * HOUR)  # type: ignore[attr-defined]
            ticks += 1
    await app.aclose()
    assert not any(e.status == 401 for e in emu.requests)  # refreshed ahead, never late
    refreshes = token_calls(emu) - 1  # the first was the code exchange
    assert refreshes == len(used) - 1 == client.auth.refreshes  # type: ignore[attr-defined]
    # One token lives 48 h: a refresh each 49 h tick boundary (7 ticks), no more.
    assert refreshes == (ticks - 1) // 7 >= 4


async def test_a_401_from_a_refresh_elsewhere_is_resent_once_with_the_new_token(
    emu: Emulator,
) -> None:
    app = app_for(emu)
    store = MemoryTokenStore(await app.exchange_code(emu.issue_code()))
    async with (
        emu.client(access_token=None, oauth=app, token_store=store) as a,
        emu.client(access_token=None, oauth=app, token_store=store) as b,
    ):
        await a.users.current()
        await b.users.current()
        # b refreshes (say, another process on the same store): a's access token dies.
        stored = await store.load()
        assert stored is not None
        await b.auth._single_flight(stored)  # type: ignore[attr-defined]
        calls = token_calls(emu)
        assert (await a.users.current()).id == emu.current_user_id
    assert token_calls(emu) == calls  # a re-read the store instead of refreshing again
    statuses = [e.status for e in emu.requests if e.path.startswith("/api/users")][-3:]
    assert 401 in statuses  # the request was refused once, then re-sent and answered
    await app.aclose()


async def test_a_failing_store_loses_nothing_end_to_end(emu: Emulator) -> None:
    class Flaky(MemoryTokenStore):
        fail = 0

        async def save(self, token: Token, *, replaces: str | None = None) -> None:
            if self.fail:
                self.fail -= 1
                raise TokenStoreError("disk full")
            await super().save(token, replaces=replaces)

    app = app_for(emu)
    store = Flaky(await app.exchange_code(emu.issue_code()))
    async with emu.client(access_token=None, oauth=app, token_store=store) as client:
        emu.clock.advance(48 * HOUR)  # type: ignore[attr-defined]
        store.fail = 1
        with pytest.raises(TokenStoreError):
            await client.users.current()
        assert (await client.users.current()).id == emu.current_user_id
    stored = await store.load()
    assert stored is not None and stored.refresh_token in emu.oauth.by_refresh
    assert token_calls(emu) == 2  # exchange + one refresh: the rotated token was kept
    await app.aclose()


async def test_no_token_or_secret_in_logs_reprs_or_errors(
    emu: Emulator, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    for name in ("httpx", "httpcore", "drchrono_async"):
        caplog.set_level(logging.DEBUG, logger=name)  # restored after the test
    app = app_for(emu)
    token = await app.exchange_code(emu.issue_code())
    store = MemoryTokenStore(token)
    texts = [repr(app), str(app), repr(token), repr(store)]
    async with emu.client(access_token=None, oauth=app, token_store=store) as client:
        emu.clock.advance(48 * HOUR)  # type: ignore[attr-defined]
        await client.users.current()
        texts += [repr(client), repr(client.auth)]
        new = await store.load()
        assert new is not None
        emu.faults.script(["drop"], path_prefix="/o/token/")
        try:
            await app.refresh(new.refresh_token)
        except DrChronoError as exc:
            texts.append("".join(traceback.format_exception(exc)))
    await app.aclose()
    texts += [r.getMessage() for r in caplog.records]
    secrets = [
        token.access_token,
        token.refresh_token,
        new.access_token,
        new.refresh_token,
        emu.client_secret,
    ]
    for text in texts:
        for secret in secrets:
            assert secret not in text


def test_client_credentials_are_one_or_the_other(emu: Emulator) -> None:
    app = app_for(emu)
    for kwargs in (
        {},
        {"access_token": "at_x", "oauth": app, "token_store": MemoryTokenStore()},
        {"oauth": app},
        {"access_token": "bad token"},
        {"oauth": app, "token_store": MemoryTokenStore(), "refresh_margin": -1},
    ):
        with pytest.raises(InvalidRequestError):
            DrChronoClient(**kwargs)  # type: ignore[arg-type]
