"""The README's OAuth example closes what it opens (test_readme runs it; this checks that)."""

from __future__ import annotations

import ast
import re
from pathlib import Path
from typing import Any

from drchrono_async.testing import Emulator, VirtualClock

README = Path(__file__).resolve().parents[1] / "README.md"


def _oauth_block() -> str:
    text = README.read_text(encoding="utf-8")
    _, sep, section = text.partition("\n## OAuth\n")
    assert sep, "the README has no OAuth section"
    found = re.search(r"^```python\n(.*?)^```", section, re.S | re.M)
    assert found is not None, "the OAuth section has no example"
    return found.group(1)


async def test_the_oauth_example_closes_its_app_and_client(capsys: Any) -> None:
    emulator = Emulator(seed=5, clock=VirtualClock())
    namespace: dict[str, Any] = {"emulator": emulator}
    code = compile(_oauth_block(), "README.md#oauth", "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)
    result = eval(code, namespace)
    if result is not None:
        await result
    assert f"signed in as user {emulator.current_user_id}" in capsys.readouterr().out
    assert namespace["app"]._http.is_closed  # the app's own HTTP client, closed
    assert namespace["signed_in"]._transport.closed
