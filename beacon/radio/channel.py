"""The radio channel between two people carrying phones: the one model the virtual air and the
simulator share.

Log-distance path loss with the exponent measured on bodies, a shadowing term per pair (one
encounter, one way of carrying) and a fading term per scan (``shared/spec/sim.md`` §2.1):

    RSSI = TX power − L(1 m) − 10·n·log10(d) + carriage_tx + carriage_rx − obstruction + X_pair + X_scan

Defaults (``ChannelParams``) are the fit of ``bluezone sim calibrate`` on the vendored DP-3T
EPFL measurements (``sim/channel_fit.py``: 68,775 ten-second bursts of 1,315 pairs at 0.3–10 m):
``L(1 m)`` = 61.4 dB, n = 1.14 (bodies flatten the curve: free space would be 2), σ_pair = 5.6 dB
(a persistent offset per encounter), σ_scan = 5.2 dB (burst to burst); a test keeps them equal
to the fit. Carriage offsets are relative to a phone held in the hand (pc-ng and MIT Matrix
data in ``shared/spec/sim.md`` §2.1: 10–15 dB for pockets and bags): the EPFL data cannot
separate them, so they come from the literature.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np

__all__ = ["CARRIAGE_OFFSET_DB", "Carriage", "Channel", "ChannelParams"]


class Carriage(StrEnum):
    HAND = "hand"
    TABLE = "table"
    SHIRT_POCKET = "shirt_pocket"
    TROUSER_POCKET = "trouser_pocket"
    BAG = "bag"


CARRIAGE_OFFSET_DB: dict[Carriage, float] = {
    Carriage.HAND: 0.0,
    Carriage.TABLE: 0.0,
    Carriage.SHIRT_POCKET: -7.0,
    Carriage.TROUSER_POCKET: -12.0,
    Carriage.BAG: -10.0,
}
"""Per phone, transmit and receive alike (pc-ng: pocket↔pocket 15 dB below hand↔hand)."""


@dataclass(frozen=True, slots=True)
class ChannelParams:
    loss_1m_db: float = 61.4
    exponent: float = 1.14
    sigma_pair_db: float = 5.6
    sigma_scan_db: float = 5.2
    sensitivity_dbm: float = -100.0
    min_distance_m: float = 0.1


class Channel:
    """Samples RSSI; randomness comes from the generator passed in."""

    def __init__(self, params: ChannelParams | None = None) -> None:
        self.params = params or ChannelParams()

    def mean_rssi(self, distance_m: float, tx_power_dbm: float, *, offset_db: float = 0.0) -> float:
        p = self.params
        d = max(distance_m, p.min_distance_m)
        return tx_power_dbm - p.loss_1m_db - 10 * p.exponent * math.log10(d) + offset_db

    def pair_offset(self, rng: np.random.Generator) -> float:
        """The shadowing of one pair for one encounter."""
        return float(rng.normal(0.0, self.params.sigma_pair_db))

    def rssi(
        self,
        distance_m: np.ndarray,
        tx_power_dbm: float | np.ndarray,
        rng: np.random.Generator,
        *,
        offset_db: float | np.ndarray = 0.0,
    ) -> np.ndarray:
        """One scan's RSSI per distance (vectorised): mean + per-scan fading, in dBm."""
        import numpy as np

        p = self.params
        d = np.maximum(np.asarray(distance_m, dtype=float), p.min_distance_m)
        mean = np.asarray(tx_power_dbm) - p.loss_1m_db - 10 * p.exponent * np.log10(d) + offset_db
        out: np.ndarray = mean + rng.normal(0.0, p.sigma_scan_db, size=d.shape)
        return out

    def heard(self, rssi_dbm: float) -> bool:
        return rssi_dbm >= self.params.sensitivity_dbm
