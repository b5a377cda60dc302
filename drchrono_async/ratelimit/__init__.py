"""Hourly quota scheduling: the `Clock` protocol, `HourlyQuota`, `RedisQuota`, `Priority`."""

from ._base import Quota, QuotaSnapshot
from ._clock import Clock, SystemClock
from ._memory import HourlyQuota
from ._priority import Priority, PriorityLike
from ._redis import RedisQuota

__all__ = [
    "Clock",
    "HourlyQuota",
    "Priority",
    "PriorityLike",
    "Quota",
    "QuotaSnapshot",
    "RedisQuota",
    "SystemClock",
]
