"""Test helpers: a virtual clock and (soon) an in-memory DrChrono emulator."""

from ._clock import VirtualClock

__all__ = ["VirtualClock"]
