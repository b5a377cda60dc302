"""Test helpers: a virtual clock and a local DrChrono emulator.

`Emulator` is an in-memory DrChrono v4 API (an extra: `pip install drchrono-async[emulator]`
is not needed for it, the standard library serves it). `VirtualClock` runs hours of quota and
token-expiry behaviour in milliseconds. `emulator.webhooks` sends DrChrono's webhook deliveries
to your receiver; `emulator.iframe_url(...)` signs an iframe URL as DrChrono does.
`Emulator(practices=N)` hosts N practices of one application (`emulator.practice(i)`), whose
tokens share one hourly quota; `Simulation` keeps them busy at realistic rates.
"""

from ._clock import VirtualClock
from ._deliveries import DeliveryLog, DeliveryLogEntry, PendingDelivery
from ._emulator import Emulator
from ._faults import FAULT_KINDS, Faults
from ._log import LogEntry, RequestLog
from ._practice import Practice
from ._seed import DEFAULT_SIZES, EXTRA_FIELD
from ._simulation import RATES as ACTIVITY_RATES
from ._simulation import Change as SimulatedChange
from ._simulation import PlannedChange, Rate, Simulation
from ._webhooks import EVENTS as WEBHOOK_EVENTS
from ._webhooks import Hook, Webhooks

__all__ = [
    "ACTIVITY_RATES",
    "DEFAULT_SIZES",
    "EXTRA_FIELD",
    "FAULT_KINDS",
    "WEBHOOK_EVENTS",
    "DeliveryLog",
    "DeliveryLogEntry",
    "Emulator",
    "Faults",
    "Hook",
    "LogEntry",
    "PendingDelivery",
    "PlannedChange",
    "Practice",
    "Rate",
    "RequestLog",
    "SimulatedChange",
    "Simulation",
    "VirtualClock",
    "Webhooks",
]
