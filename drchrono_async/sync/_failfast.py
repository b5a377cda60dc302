"""Fail fast: a run stops when nothing more can work, instead of failing once per resource.

Two failures no later call of the run can cure:

- a refused token: a 401 that the client's refresh (if it has one) did not cure, or a
  refresh token refused (`AuthenticationError`, `InvalidGrantError`). Every further call
  would be refused the same way, and each costs a permit of the application's hour.
- a server never reached: a `TransportError` (connection refused, DNS, TLS, timeout) after
  the request's own retries, before the server has answered anything in this run. Once it
  has answered, a transport failure is one resource's bad luck, resumed next run.

So that a run with a refused token or an unreachable server spends one resource's calls
(its retries included) and not one per resource, the first resource goes alone until the
server has answered once (its first page is written, or it ended with calls made); the
others then start. A resource that made no call at all hands the lead to the next.
"""

from __future__ import annotations

import asyncio

from ..errors import AuthenticationError, DrChronoError, TransportError

__all__ = ["FailFast"]


class FailFast:
    """The run's first contact with the server, and the error that stopped the run."""

    def __init__(self) -> None:
        self.halted: DrChronoError | None = None
        self._answered = False
        self._leading = False
        # Replaced (and the old one set) at every change: a waiter holds the one it saw.
        self._changed = asyncio.Event()

    async def turn(self) -> None:
        """Wait until this resource may start: at once once the server has answered (or the
        run has stopped); before that, one resource at a time."""
        while not (self._answered or self.halted is not None):
            if not self._leading:
                self._leading = True
                return
            await self._changed.wait()

    def answered(self) -> None:
        """The server answered a call of this run: every resource may start."""
        if not self._answered:
            self._answered = True
            self._wake()

    def ended(self, *, calls: int, error: DrChronoError | None) -> None:
        """A resource ended: the run stops on a fatal `error`; else the lead passes on (and
        every resource may start once one has made calls and not failed fatally)."""
        if error is not None and self.fatal(error):
            if self.halted is None:
                self.halted = error
        elif calls:
            self._answered = True
        self._leading = False
        self._wake()

    def fatal(self, error: DrChronoError) -> bool:
        """Whether `error` stops the whole run (see the module's docstring)."""
        if isinstance(error, AuthenticationError):
            return True
        return isinstance(error, TransportError) and not self._answered

    def _wake(self) -> None:
        changed, self._changed = self._changed, asyncio.Event()
        changed.set()
