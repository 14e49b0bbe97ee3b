"""The server's one clock: every expiry, key age, embargo, export window and retention reads it.

The clock type is :class:`protocol.clock.Clock` (``now()``, unix seconds), the beacon's too; the
server reads it as an aware datetime through :func:`utcnow`. The system clock in production; a
demo or simulation starts the server on a :class:`DemoClock` that begins at a chosen moment and
runs faster than real time, or hands it the simulation's own clock.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from protocol.clock import Clock

__all__ = ["Clock", "DemoClock", "ManualClock", "SystemClock", "utcnow"]


def utcnow(clock: Clock) -> datetime:
    """The clock's time as an aware UTC datetime."""
    return datetime.fromtimestamp(clock.now(), UTC)


class SystemClock:
    def now(self) -> float:
        return time.time()


class DemoClock:
    """``start`` at construction, then ``speed`` simulated seconds per real second."""

    def __init__(self, start: datetime, speed: float = 1.0, monotonic: Callable[[], float] = time.monotonic):
        if start.tzinfo is None:
            raise ValueError("the demo clock's start must be timezone-aware")
        self._start, self._speed, self._monotonic = start.timestamp(), speed, monotonic
        self._origin = monotonic()

    def now(self) -> float:
        return self._start + (self._monotonic() - self._origin) * self._speed


class ManualClock:
    """A clock tests move by hand: ``at`` is its time."""

    def __init__(self, at: datetime) -> None:
        self.at = at.astimezone(UTC)

    def now(self) -> float:
        return self.at.timestamp()

    def advance(self, **delta: float) -> datetime:
        self.at += timedelta(**delta)
        return self.at
