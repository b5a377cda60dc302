"""The hourly quota as the live service keeps it: calls per access token per clock hour."""

from __future__ import annotations

import math

__all__ = ["HOUR", "QuotaBook"]

HOUR = 3600.0


class QuotaBook:
    """Calls per access token per clock hour (epoch-aligned); the live service's hourly limit."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._windows: dict[str, tuple[float, int]] = {}

    @staticmethod
    def window_start(now: float) -> float:
        """The start of the clock hour holding `now`."""
        return math.floor(now / HOUR) * HOUR

    def used(self, token: str, now: float) -> int:
        """Calls already counted in the current window."""
        start, used = self._windows.get(token, (math.nan, 0))
        return used if start == self.window_start(now) else 0

    def take(self, token: str, now: float) -> float | None:
        """Count one call; or, over the limit, return the seconds until the next window."""
        start = self.window_start(now)
        used = self.used(token, now)
        if used >= self.limit:
            return start + HOUR - now
        self._windows[token] = (start, used + 1)
        return None

    def spend(self, token: str, now: float, calls: int) -> None:
        """Count calls made by someone else with the same token (capped at the limit)."""
        start = self.window_start(now)
        self._windows[token] = (start, min(self.limit, self.used(token, now) + calls))
