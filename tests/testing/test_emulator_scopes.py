"""The emulator grants the scopes an authorization asks for, and no more: a sync then skips
what the token may not read, as it would against DrChrono."""

from __future__ import annotations

import httpx

from drchrono_async import DrChronoClient, MemoryTokenStore, OAuthApp
from drchrono_async.sync import Outcome, Syncer
from drchrono_async.testing import Emulator, VirtualClock
from tests.sync._memory_store import MemoryStore


async def _authorize(emu: Emulator, app: OAuthApp, scope: str | None) -> httpx.URL:
    async with httpx.AsyncClient(transport=emu.transport, base_url=emu.base_url) as browser:
        answer = await browser.get(app.authorize_url(scope=scope))
    assert answer.status_code == 302
    return httpx.URL(answer.headers["location"])


async def test_a_token_has_the_scopes_asked_for_and_no_more() -> None:
    emu = Emulator(seed=1, clock=VirtualClock(), sizes={"patients": 5, "appointments": 5})
    wired = {"base_url": emu.base_url, "transport": emu.transport, "clock": emu.clock}
    app = OAuthApp(emu.client_id, emu.client_secret, emu.redirect_uri, **wired)
    async with app:
        narrow = await _authorize(emu, app, "user patients:read")
        token = await app.exchange_code(narrow.params["code"])
        assert token.scopes == {"user", "patients:read"}
        everything = await app.exchange_code((await _authorize(emu, app, None)).params["code"])
        assert {"calendar", "clinical", "billing"} <= everything.scopes
        refused = await _authorize(emu, app, "patients root")
        assert refused.params["error"] == "invalid_scope" and "code" not in refused.params
        # A refresh keeps the scopes granted.
        assert (await app.refresh(token.refresh_token)).scopes == {"user", "patients:read"}
        store = MemoryTokenStore()
        await store.save(
            await app.exchange_code((await _authorize(emu, app, "user patients")).params["code"])
        )
        async with DrChronoClient(oauth=app, token_store=store, **wired) as client:
            report = await Syncer(
                client, MemoryStore(), resources=["patients", "appointments"]
            ).run()
    assert report["patients"].complete
    assert report["appointments"].outcome is Outcome.SKIPPED
    assert report["appointments"].reason.startswith("scope not granted: calendar")
