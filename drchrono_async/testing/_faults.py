"""Fault injection.

Fault kinds, and where in a request's life the emulator applies each:

- `"reset"`: the connection fails before the request is read. Nothing is applied or counted.
  In process: `httpx.ConnectError`. Over a socket: the connection is aborted (RST) unread.
- `"500"`: a `500` JSON error after the request was authenticated and counted; not applied.
- `"html"`: a `200 text/html` page (a proxy's error page) instead of the answer; not applied.
- `"429"`: a throttled answer with the usual body, whatever the quota says; not counted.
- `"drop"`: the request is applied (a POST creates its record), then the connection is closed
  without an answer. In process: `httpx.RemoteProtocolError`.
- `"truncate"`: applied; the headers and half the body are sent, then the connection closes.
- `"slow"`: applied; the body is sent in pieces over `slow_body_seconds` of the clock.
"""

from __future__ import annotations

import random
from collections import deque
from collections.abc import Callable, Iterable

import attrs

from drchrono_async.errors import InvalidRequestError

__all__ = ["FAULT_KINDS", "FaultContext", "Faults"]

FAULT_KINDS = frozenset({"reset", "500", "html", "429", "drop", "truncate", "slow"})

FaultHook = Callable[["FaultContext"], str | None]


@attrs.frozen
class FaultContext:
    """What a fault hook sees of a request (never its credentials)."""

    method: str
    path: str
    query: dict[str, str]
    index: int  # 0-based number of this request among all the emulator has received


class Faults:
    """Switchable faults. Scripted and hooked faults win over random ones.

    Rates are shares of requests to `/api/` paths (0.0 to 1.0), drawn from a seeded RNG; the
    OAuth endpoints only see scripted or hooked faults, so a test can make `/o/token/` fail
    on purpose without random noise there.
    """

    def __init__(self, seed: int = 0) -> None:
        self.error_rate = 0.0
        self.html_rate = 0.0
        self.drop_rate = 0.0
        self.reset_rate = 0.0
        self.slow_rate = 0.0
        self.truncate_rate = 0.0
        self.slow_body_seconds = 1.0
        self.hook: FaultHook | None = None
        self._script: deque[tuple[str | None, str | None]] = deque()
        self._rng = random.Random(f"faults:{seed}")

    def script(self, kinds: Iterable[str | None], *, path_prefix: str | None = None) -> None:
        """Queue faults for the next requests, in order; `None` lets one request through.

        With `path_prefix`, only requests whose path starts with it take from this script.
        """
        for kind in kinds:
            if kind is not None and kind not in FAULT_KINDS:
                raise InvalidRequestError(
                    f"unknown fault kind; expected one of {sorted(FAULT_KINDS)}"
                )
            self._script.append((kind, path_prefix))

    @property
    def scripted(self) -> int:
        """How many scripted entries are still waiting."""
        return len(self._script)

    def clear(self) -> None:
        """Switch every fault off."""
        self.error_rate = self.html_rate = self.drop_rate = 0.0
        self.reset_rate = self.slow_rate = self.truncate_rate = 0.0
        self.hook = None
        self._script.clear()

    def pick(self, ctx: FaultContext) -> str | None:
        """The fault for this request, if any."""
        for i, (kind, prefix) in enumerate(self._script):
            if prefix is None or ctx.path.startswith(prefix):
                del self._script[i]
                return kind
        if self.hook is not None:
            kind = self.hook(ctx)
            if kind is not None:
                if kind not in FAULT_KINDS:
                    raise InvalidRequestError(
                        f"the fault hook returned an unknown fault kind; expected one of "
                        f"{sorted(FAULT_KINDS)}"
                    )
                return kind
        if not ctx.path.startswith("/api/"):
            return None
        roll = self._rng.random()
        for kind, rate in (
            ("reset", self.reset_rate),
            ("500", self.error_rate),
            ("html", self.html_rate),
            ("drop", self.drop_rate),
            ("truncate", self.truncate_rate),
            ("slow", self.slow_rate),
        ):
            if roll < rate:
                return kind
            roll -= rate
        return None
