"""Fixtures of the webhook tests: an emulator's records as objects, signed deliveries, Redis.

The secret and the patient name are recognisable so that tests can assert they appear in no
log record, exception message or repr.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from typing import Any

import orjson
import pytest

from drchrono_async.testing import Emulator
from tests.ratelimit.conftest import REDIS_URL, redis_client, redis_key

__all__ = ["REDIS_URL", "redis_client", "redis_key"]

SECRET = "whsec-SECRETVALUE-5f0c1e2d3a4b"
OTHER_SECRET = "whsec-OTHERSECRET-9a8b7c6d5e4f"
PATIENT_NAME = "Zebulonia"


@pytest.fixture(scope="session")
def emu() -> Emulator:
    return Emulator(seed=3, sizes={"appointments": 30, "patients": 20})


def signed(
    event: str,
    obj: Mapping[str, Any] | None = None,
    *,
    delivery: str = "d-1",
    secret: str | None = SECRET,
    receiver: Mapping[str, Any] | None = None,
) -> tuple[dict[str, str], bytes]:
    """The headers and body DrChrono sends for one delivery."""
    headers = {"X-drchrono-event": event, "X-drchrono-delivery": delivery}
    if secret is not None:
        headers["X-drchrono-signature"] = secret
    payload: dict[str, Any] = {"receiver": dict(receiver or {"id": 7, "url": "https://x/hook"})}
    if obj is not None:
        payload["object"] = dict(obj)
    return headers, orjson.dumps(payload)


def patient(emu: Emulator) -> dict[str, Any]:
    """A patient wire object carrying the recognisable name."""
    record = emu.records("patients")[0]
    record["first_name"] = PATIENT_NAME
    return record


async def until(condition: Callable[[], object], *, turns: int = 10_000) -> None:
    """Yield to the event loop until `condition()` holds (no wall-clock sleeping)."""
    for _ in range(turns):
        if condition():
            return
        await asyncio.sleep(0)
    raise AssertionError("the condition never held")
