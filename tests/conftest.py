"""Settings for the whole suite.

Child processes (sync workers, quota workers, `drchrono-async worker`) import the package of
this checkout, not whichever one the interpreter has installed: with a shared virtualenv
whose editable install points at another worktree, a child started as `python some/script.py`
would otherwise test that worktree's code.
"""

from __future__ import annotations

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

os.environ["PYTHONPATH"] = os.pathsep.join(
    p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p
)
