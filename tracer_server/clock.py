"""The server's one clock: every expiry, key age, embargo, export window and retention reads it.

The system clock in production; a demo or simulation starts the server on a :class:`DemoClock`
that begins at a chosen moment and runs faster than real time.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

Clock = Callable[[], datetime]
"""Returns the current time as an aware UTC datetime."""


def system_clock() -> datetime:
    return datetime.now(UTC)


class DemoClock:
    """``start`` at construction, then ``speed`` simulated seconds per real second."""

    def __init__(self, start: datetime, speed: float = 1.0, monotonic: Callable[[], float] = time.monotonic):
        if start.tzinfo is None:
            raise ValueError("the demo clock's start must be timezone-aware")
        self._start, self._speed, self._monotonic = start.astimezone(UTC), speed, monotonic
        self._origin = monotonic()

    def __call__(self) -> datetime:
        return self._start + timedelta(seconds=(self._monotonic() - self._origin) * self._speed)


class ManualClock:
    """A clock tests move by hand."""

    def __init__(self, now: datetime) -> None:
        self.now = now.astimezone(UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> datetime:
        self.now += timedelta(**delta)
        return self.now
