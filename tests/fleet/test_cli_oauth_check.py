"""`drchrono-async worker` checks the OAuth variables at start without leaving an app open."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from drchrono_async.cli import main
from drchrono_async.oauth import OAuthApp
from drchrono_async.testing import Emulator
from tests.ratelimit.conftest import REDIS_URL

from .conftest import POSTGRES_DSN


@pytest.fixture
def apps(monkeypatch: pytest.MonkeyPatch) -> dict[str, list[Any]]:
    """Every OAuthApp made, and every one closed, while the test runs."""
    seen: dict[str, list[Any]] = {"made": [], "closed": []}
    init, aclose = OAuthApp.__init__, OAuthApp.aclose

    def tracked_init(self: OAuthApp, *args: Any, **kwargs: Any) -> None:
        init(self, *args, **kwargs)
        seen["made"].append(self)

    async def tracked_aclose(self: OAuthApp) -> None:
        seen["closed"].append(self)
        await aclose(self)

    monkeypatch.setattr(OAuthApp, "__init__", tracked_init)
    monkeypatch.setattr(OAuthApp, "aclose", tracked_aclose)
    return seen


def oauth_env(monkeypatch: pytest.MonkeyPatch, **overrides: str) -> None:
    emu = Emulator(seed=1)
    values = {
        "DRCHRONO_CLIENT_ID": emu.client_id,
        "DRCHRONO_CLIENT_SECRET": emu.client_secret,
        "DRCHRONO_REDIRECT_URI": emu.redirect_uri,
        **overrides,
    }
    for name, value in values.items():
        monkeypatch.setenv(name, value)


async def worker(*extra: str) -> int:
    argv = ["worker", "--store", POSTGRES_DSN, "--schema", "tf_unused", "--redis", REDIS_URL]
    return await asyncio.to_thread(main, [*argv, *extra])


async def test_the_app_made_to_check_the_variables_is_closed(
    monkeypatch: pytest.MonkeyPatch,
    apps: dict[str, list[Any]],
    capsys: pytest.CaptureFixture[str],
) -> None:
    oauth_env(monkeypatch)
    # A bad reserve stops the worker right after the check, before any job or connection.
    assert await worker("--quota-reserve", "5") == 2
    assert "reserve, as a fraction of the limit, must be" in capsys.readouterr().err
    assert apps["made"], "the variables were not checked at start"
    assert all(any(app is c for c in apps["closed"]) for app in apps["made"])
    assert all(app._http.is_closed for app in apps["made"])


async def test_bad_oauth_variables_still_fail_at_start(
    monkeypatch: pytest.MonkeyPatch,
    apps: dict[str, list[Any]],
    capsys: pytest.CaptureFixture[str],
) -> None:
    oauth_env(monkeypatch, DRCHRONO_REDIRECT_URI="not a url")
    assert await worker() == 2
    assert "redirect_uri must be an absolute http(s) URL" in capsys.readouterr().err
    assert apps["made"] == []
