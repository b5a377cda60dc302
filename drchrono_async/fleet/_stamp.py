"""The registry's notion of now: an injected clock's time, else the database's."""

from __future__ import annotations

import datetime as dt

from ..ratelimit import Clock

__all__ = ["NOW", "stamp"]


def stamp(clock: Clock | None) -> dt.datetime | None:
    """The injected clock's time (None: the database's `now()`, which every receiver and
    worker shares, whatever its own clock says)."""
    return None if clock is None else dt.datetime.fromtimestamp(clock.now(), dt.UTC)


# The SQL of that time, for a statement given `now` (`stamp`'s value) as a named parameter.
NOW = "coalesce(%(now)s::timestamptz, now())"
