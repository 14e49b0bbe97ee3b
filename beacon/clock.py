"""Clocks: the daemon asks one for unix seconds and sleeps through it, so tests run days in seconds.

:class:`protocol.clock.Clock` is the one clock type of beacon and server; the daemon's clock can
also sleep. :class:`SimClock` drives beacons and the server together in the demo and simulator.
"""

from __future__ import annotations

import asyncio
import time
from typing import Protocol

from protocol.clock import Clock

__all__ = ["Clock", "SimClock", "SleepingClock", "SystemClock"]


class SleepingClock(Clock, Protocol):
    async def sleep_until(self, when: float) -> None: ...


class SystemClock:
    def now(self) -> float:
        return time.time()

    async def sleep_until(self, when: float) -> None:
        await asyncio.sleep(max(0.0, when - time.time()))


class SimClock:
    """Simulated time: moved by whoever drives the simulation; sleeping returns at once.

    A daemon on a SimClock is stepped with ``Daemon.tick()`` after ``set()``/``advance()``.
    """

    def __init__(self, now: float) -> None:
        self._now = float(now)

    def now(self) -> float:
        return self._now

    def set(self, when: float) -> None:
        if when < self._now:
            raise ValueError("simulated time does not run backwards")
        self._now = float(when)

    def advance(self, seconds: float) -> float:
        self.set(self._now + seconds)
        return self._now

    async def sleep_until(self, when: float) -> None:
        self.set(max(self._now, when))
        await asyncio.sleep(0)
