"""Shutting down without losing a rotated token: a bounded wait for in-flight refreshes.

A refresh the server has answered has already rotated the refresh token: if the process
closes the HTTP client under it, or exits before its save, the stored refresh token is dead
and the practice is signed out. So `DrChronoClient.aclose()` and `OAuthApp.aclose()` wait for
it first, at most `CLOSE_WAIT` seconds (on the app's clock): one token request's default
timeout, and what most process managers grant between SIGTERM and SIGKILL (Kubernetes: 30 s).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterable
from typing import Any

from ..ratelimit import Clock

__all__ = ["CLOSE_WAIT", "retrieve", "wait_bounded"]

logger = logging.getLogger("drchrono_async.oauth")

CLOSE_WAIT = 30.0


async def wait_bounded(waits: Iterable[asyncio.Future[Any]], clock: Clock, seconds: float) -> bool:
    """Wait until every one of `waits` is done, or `seconds` on `clock` passed: True if done.

    Never cancels nor raises what it waits for (their results stay with their owners), and
    a cancelled waiter leaves them running.
    """
    pending = {w for w in waits if not w.done()}
    if not pending:
        return True
    timer = asyncio.ensure_future(clock.sleep(seconds))
    try:
        while pending:
            done, _ = await asyncio.wait({*pending, timer}, return_when=asyncio.FIRST_COMPLETED)
            pending -= done
            if timer in done and pending:
                return False
        return True
    finally:
        timer.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await timer


def retrieve(task: asyncio.Task[Any]) -> None:
    """A done callback: the task's failure is logged (its type only: an error message may
    carry a server's text), and retrieved, so asyncio never reports "Task exception was never
    retrieved" for a refresh whose callers had all gone."""
    if task.cancelled():
        return
    exc = task.exception()
    if exc is not None:
        logger.warning("oauth: a token refresh failed (%s)", type(exc).__name__)
