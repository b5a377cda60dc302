"""The README's OAuth example closes what it opens (test_readme runs it; this checks that)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from drchrono_async import DrChronoClient, OAuthApp

README = Path(__file__).resolve().parents[1] / "README.md"


def _oauth_block() -> str:
    text = README.read_text(encoding="utf-8")
    _, sep, section = text.partition("\n## OAuth\n")
    assert sep, "the README has no OAuth section"
    found = re.search(r"^```python\n(.*?)^```", section, re.S | re.M)
    assert found is not None, "the OAuth section has no example"
    return found.group(1)


def test_the_oauth_example_closes_its_app_and_client(
    monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> None:
    made: list[Any] = []
    for cls in (OAuthApp, DrChronoClient):
        original = cls.__init__

        def init(self: Any, *args: Any, __original: Any = original, **kwargs: Any) -> None:
            __original(self, *args, **kwargs)
            made.append(self)

        monkeypatch.setattr(cls, "__init__", init)
    exec(compile(_oauth_block(), "README.md#oauth", "exec"), {"__name__": "__readme__"})
    assert "signed in as user" in capsys.readouterr().out
    apps = [m for m in made if isinstance(m, OAuthApp)]
    clients = [m for m in made if isinstance(m, DrChronoClient)]
    assert apps and clients
    assert all(app._http.is_closed for app in apps)  # the app's own HTTP client, closed
    assert all(client._transport.closed for client in clients)
