"""Hourly quota scheduling: the `Clock` protocol, `HourlyQuota` and `RedisQuota`."""

from ._base import Quota, QuotaSnapshot
from ._clock import Clock, SystemClock
from ._memory import HourlyQuota
from ._redis import RedisQuota

__all__ = ["Clock", "HourlyQuota", "Quota", "QuotaSnapshot", "RedisQuota", "SystemClock"]
