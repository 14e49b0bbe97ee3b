"""The logical scan: what one "scan" is, for the beacon, the risk tuning and the simulator alike.

A scan is a window of ``SCAN_DURATION_S`` that opens every 300 s minus a random 0–90 s,
Google's cadence (``scanIntervalSeconds``, ``scanIntervalRandomRangeSeconds``;
``shared/spec/gaen.md`` §2.4). Within it, every advertisement heard from one RPI becomes one
aggregate sighting (mean and strongest RSSI, count) stamped with the window's start; reports
outside any window are not part of a scan. ``protocol.risk`` weighs each scan instance by the
time since the previous window.

Google's phones listen 4 s (``scanTimeSeconds``), a battery budget. We define the window as
10 s because the measurements the default risk configuration is tuned on (DP-3T exp05) were
logged in bursts that fill a window only from about 10 s (``sim.calibration``), and a beacon's
continuous scanner listens for 10 s at no extra cost. What counts is that the three agree:
the beacon keeps exactly the reports of ``[start, start + SCAN_DURATION_S)`` however long its
scanner runs (before, a continuous scanner's window stayed open until the next one, 210–300 s,
and its strongest report was the strongest of hundreds).

Pure: the caller passes the clock's reading and the random generator.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

__all__ = [
    "SCAN_DURATION_S",
    "SCAN_INTERVAL_S",
    "SCAN_JITTER_S",
    "ScanSchedule",
    "in_window",
]

SCAN_DURATION_S = 10.0
SCAN_INTERVAL_S = 300.0
SCAN_JITTER_S = 90.0


def in_window(start: float, when: float) -> bool:
    """Whether a report heard at ``when`` belongs to the scan window opened at ``start``."""
    return start <= when < start + SCAN_DURATION_S


@dataclass
class ScanSchedule:
    """When the next window opens; ``rng`` is injected so a seeded run repeats."""

    rng: random.Random
    interval_s: float = SCAN_INTERVAL_S
    jitter_s: float = SCAN_JITTER_S

    def first(self, now: float) -> float:
        """A random phase within one interval, so devices started together do not scan together."""
        return now + self.rng.uniform(0, self.interval_s - self.jitter_s)

    def next(self, previous: float) -> float:
        return previous + self.interval_s - self.rng.uniform(0, self.jitter_s)

    def between(self, start: float, end: float) -> list[float]:
        """Every window that opens in ``[start, end)``, from a random first phase."""
        times, when = [], self.first(start)
        while when < end:
            times.append(when)
            when = self.next(when)
        return times
