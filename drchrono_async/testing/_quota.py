"""The hourly quota as the emulator keeps it: calls per key per clock hour.

The key is what the quota counts: an application's client id (the reference's rule: one
budget shared by every token issued to the application) or, in `quota_scope="token"`, each
access token apart. The book itself does not care which.
"""

from __future__ import annotations

import math

__all__ = ["HOUR", "QuotaBook"]

HOUR = 3600.0


class QuotaBook:
    """Calls per key per clock hour (epoch-aligned); the live service's hourly limit.

    `window` shortens the hour (epoch-aligned all the same) for tests and benchmarks that
    must see several windows go by in real time.
    """

    def __init__(self, limit: int, window: float = HOUR) -> None:
        self.limit = limit
        self.window = window
        self._windows: dict[str, tuple[float, int]] = {}

    def window_start(self, now: float) -> float:
        """The start of the window (clock hour) holding `now`."""
        return math.floor(now / self.window) * self.window

    def used(self, key: str, now: float) -> int:
        """Calls already counted in the current window."""
        start, used = self._windows.get(key, (math.nan, 0))
        return used if start == self.window_start(now) else 0

    def take(self, key: str, now: float) -> float | None:
        """Count one call; or, over the limit, return the seconds until the next window."""
        start = self.window_start(now)
        used = self.used(key, now)
        if used >= self.limit:
            return start + self.window - now
        self._windows[key] = (start, used + 1)
        return None

    def spend(self, key: str, now: float, calls: int) -> None:
        """Count calls made by someone else against the same key (capped at the limit)."""
        start = self.window_start(now)
        self._windows[key] = (start, min(self.limit, self.used(key, now) + calls))
