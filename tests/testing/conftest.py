"""Fixtures for the emulator's own tests: a small practice on virtual time, reached through
plain httpx (never through the project's client)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from drchrono_async.testing import Emulator, VirtualClock

# 2026-01-01T00:00:00Z, the top of an hour.
START = 1_767_225_600.0
SMALL = {"appointments": 400, "patients": 40, "clinical_notes": 30, "other": 3}


@pytest.fixture
def clock() -> VirtualClock:
    return VirtualClock(start=START)


@pytest.fixture
def emu(clock: VirtualClock) -> Emulator:
    return Emulator(seed=7, clock=clock, sizes=SMALL)


@pytest.fixture
async def client(emu: Emulator) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(
        transport=emu.transport,
        base_url=emu.base_url,
        headers={"Authorization": f"Bearer {emu.access_token}"},
    ) as c:
        yield c


@pytest.fixture
async def anon(emu: Emulator) -> AsyncIterator[httpx.AsyncClient]:
    """A client without credentials (for OAuth calls and 401s)."""
    async with httpx.AsyncClient(transport=emu.transport, base_url=emu.base_url) as c:
        yield c
