"""PKCE (RFC 7636, S256): off by default, as DrChrono's flow has none; with it on, a
django-oauth-toolkit server that requires it (the emulator's `oauth.pkce_required`) works."""

from __future__ import annotations

import httpx
import pytest

from drchrono_async.errors import InvalidGrantError, InvalidRequestError
from drchrono_async.oauth import OAuthApp
from drchrono_async.oauth._app import pkce_challenge
from drchrono_async.testing import Emulator, VirtualClock


def app_for(emu: Emulator) -> OAuthApp:
    wired = {"base_url": emu.base_url, "transport": emu.transport, "clock": emu.clock}
    return OAuthApp(emu.client_id, emu.client_secret, emu.redirect_uri, **wired)  # type: ignore[arg-type]


async def browse(emu: Emulator, url: str) -> httpx.QueryParams:
    """The browser's part: /o/authorize approves and redirects; the callback's query."""
    async with httpx.AsyncClient(transport=emu.transport) as browser:
        answer = await browser.get(url)
    assert answer.status_code == 302
    return httpx.URL(answer.headers["location"]).params


def test_the_s256_challenge_is_rfc_7636s() -> None:
    # RFC 7636, appendix B.
    verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
    assert pkce_challenge(verifier) == "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
    fresh = OAuthApp.new_code_verifier()
    assert 43 <= len(fresh) <= 128 and fresh != OAuthApp.new_code_verifier()


async def test_pkce_is_off_by_default() -> None:
    emu = Emulator(seed=1, clock=VirtualClock(), sizes={"patients": 1})
    async with app_for(emu) as app:
        url = httpx.URL(app.authorize_url(state="s" * 8))
        assert "code_challenge" not in url.params
        callback = await browse(emu, str(url))
        assert (await app.exchange_code(callback["code"])).access_token in emu.oauth.by_access


async def test_a_server_requiring_pkce_works_with_it_on() -> None:
    emu = Emulator(seed=1, clock=VirtualClock(), sizes={"patients": 1})
    emu.oauth.pkce_required = True
    async with app_for(emu) as app:
        refused = await browse(emu, app.authorize_url(state="st-1"))
        assert refused["error"] == "invalid_request" and "code" not in refused
        assert refused["state"] == "st-1"

        verifier = app.new_code_verifier()
        url = httpx.URL(app.authorize_url(state="st-2", code_verifier=verifier))
        assert url.params["code_challenge_method"] == "S256"
        assert url.params["code_challenge"] == pkce_challenge(verifier)
        assert verifier not in str(url)  # only its digest travels through the browser
        callback = await browse(emu, str(url))
        token = await app.exchange_code(callback["code"], code_verifier=verifier)
        assert token.access_token in emu.oauth.by_access

        other = await browse(emu, app.authorize_url(code_verifier=verifier))
        with pytest.raises(InvalidGrantError) as wrong:
            await app.exchange_code(other["code"], code_verifier=app.new_code_verifier())
        assert verifier not in str(wrong.value)


@pytest.mark.parametrize("bad", ["short", "x" * 129, "has space" * 6, "é" * 50, 5])
async def test_a_bad_verifier_is_refused_before_anything_is_sent(bad: object) -> None:
    emu = Emulator(seed=1, clock=VirtualClock(), sizes={"patients": 1})
    async with app_for(emu) as app:
        with pytest.raises(InvalidRequestError) as info:
            app.authorize_url(code_verifier=bad)  # type: ignore[arg-type]
        with pytest.raises(InvalidRequestError):
            await app.exchange_code("code", code_verifier=bad)  # type: ignore[arg-type]
    assert str(bad) not in str(info.value)
    assert emu.count(path="/o/token/") == 0
