"""The logical scan: a few seconds every 4–5 minutes, GAEN's cadence, defined once here.

Google's implementation scans for 4 s every 300 s minus a random 0–90 s
(``scanTimeSeconds``, ``scanIntervalSeconds``, ``scanIntervalRandomRangeSeconds``;
``shared/spec/gaen.md`` §2.4). The virtual air samples the channel once per window; a
continuous scanner's reports are binned into the window that started last, so either way one
window yields one aggregate sighting per RPI (mean and strongest RSSI, count) stamped with the
window's start. ``protocol.risk`` weighs each by the time since the previous window, and the
simulator uses the same schedule.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

__all__ = ["SCAN_DURATION_S", "SCAN_INTERVAL_S", "SCAN_JITTER_S", "ScanSchedule"]

SCAN_DURATION_S = 4.0
SCAN_INTERVAL_S = 300.0
SCAN_JITTER_S = 90.0


@dataclass
class ScanSchedule:
    """When the next window starts; ``rng`` is injected so a seeded run repeats."""

    rng: random.Random
    interval_s: float = SCAN_INTERVAL_S
    jitter_s: float = SCAN_JITTER_S

    def first(self, now: float) -> float:
        """A random phase within one interval, so devices started together do not scan together."""
        return now + self.rng.uniform(0, self.interval_s - self.jitter_s)

    def next(self, previous: float) -> float:
        return previous + self.interval_s - self.rng.uniform(0, self.jitter_s)
