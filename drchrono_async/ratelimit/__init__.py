"""Hourly quota scheduling: the `Clock` protocol, `HourlyQuota` and `RedisQuota`."""

from ._base import Quota, QuotaSnapshot
from ._clock import Clock, SystemClock

__all__ = ["Clock", "Quota", "QuotaSnapshot", "SystemClock"]
