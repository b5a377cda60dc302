"""Every program in examples/ runs, as a user would copy it."""

from __future__ import annotations

import importlib.util
import stat
from pathlib import Path
from types import ModuleType

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def load(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, EXAMPLES / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


async def test_oauth_flow_signs_in_and_keeps_the_token_private(tmp_path: Path) -> None:
    token_file = tmp_path / "token.json"
    said = await load("oauth_flow").main(str(token_file))
    assert said.startswith("signed in as user ")
    assert stat.S_IMODE(token_file.stat().st_mode) == 0o600
