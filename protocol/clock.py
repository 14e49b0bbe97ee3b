"""The one clock type the beacon and the server pass around: ``now()``, unix seconds.

``protocol`` never reads a clock (its functions take the time as an argument); it only names the
type, so that the daemon, the server and the simulator can share one clock: the simulator runs
beacons and server on the same simulated time.
"""

from __future__ import annotations

from typing import Protocol

__all__ = ["Clock"]


class Clock(Protocol):
    def now(self) -> float:
        """Seconds since the Unix epoch (UTC)."""
        ...
