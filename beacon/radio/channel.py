"""The radio channel between two people carrying phones: the one model the virtual air and the
simulator share.

Log-distance path loss with the exponent measured on bodies, a shadowing term per pair (one
encounter, one way of carrying) and a fading term per scan (``shared/spec/sim.md`` §2.1):

    RSSI = TX power − L(1 m) − 10·n·log10(d) + carriage_tx + carriage_rx − obstruction + X_pair + X_scan

Defaults (``ChannelParams``) are the fit of ``bluezone sim calibrate`` on the vendored DP-3T
EPFL measurements on the GAEN scale (``sim/channel_fit.py``: 68,775 ten-second bursts of 1,315
pairs at 0.3–10 m): ``L(1 m)`` = 47.0 dB of GAEN attenuation, n = 1.17 (bodies flatten the curve:
free space would be 2), σ_pair = 5.4 dB (a persistent offset per encounter), σ_scan = 5.2 dB
(burst to burst), and nothing heard beyond 70 dB, the farthest the phones logged; a test keeps
them equal to the fit. ``L`` includes both phones' calibration, so ``TX power − RSSI`` of a
sample is its GAEN attenuation for a receiver whose RSSI correction is 0: the simulator and the
virtual air produce attenuations on the scale the risk configuration was tuned on.
Carriage offsets are relative to a phone held in the hand (pc-ng and MIT Matrix
data in ``shared/spec/sim.md`` §2.1: 10–15 dB for pockets and bags): the EPFL data cannot
separate them, so they come from the literature.

Where the two people are (``Surroundings``) adds two more terms from the literature (§2.1):
the body between the phones, ``L_max·(1 − cos θ)/2`` for the angle θ between a person's facing
and the other phone (MIT LL: 20–24 dB swings in open space, about 10 dB in small reflective
rooms), centred on its mean so the fitted mean level stays the fit (the EPFL people had bodies
too); and vehicles, where distance hardly matters (Leith & Farrell: per-pair attenuation and
distance correlate 0.14 on a tram, 0.01 on a bus), an exponent of 0.3 and 3 dB more spread.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np

__all__ = [
    "CARRIAGE_OFFSET_DB",
    "SURROUNDINGS",
    "Carriage",
    "Channel",
    "ChannelParams",
    "Surroundings",
    "body_loss_db",
]


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
    loss_1m_db: float = 47.0
    exponent: float = 1.17
    sigma_pair_db: float = 5.4
    sigma_scan_db: float = 5.2
    max_attenuation_db: float = 70.0  # an advert attenuated more is not heard
    min_distance_m: float = 0.1


@dataclass(frozen=True, slots=True)
class Surroundings:
    body_loss_max_db: float
    exponent: float | None = None  # None: the fitted exponent
    extra_sigma_db: float = 0.0

    def body_loss_db(self, angle_rad: np.ndarray) -> np.ndarray:
        return body_loss_db(angle_rad, self.body_loss_max_db)


def body_loss_db(angle_rad: np.ndarray, max_db: float | np.ndarray) -> np.ndarray:
    """The body term ``L_max·(1 − cos θ)/2`` for facing angles, centred on zero over uniformly
    random angles (so it spreads the level without moving the fitted mean)."""
    import numpy as np

    out: np.ndarray = max_db * ((1 - np.cos(angle_rad)) / 2 - 0.5)
    return out


SURROUNDINGS: dict[str, Surroundings] = {
    "small_room": Surroundings(body_loss_max_db=8.0),
    "room": Surroundings(body_loss_max_db=12.0),
    "open": Surroundings(body_loss_max_db=18.0),
    "vehicle": Surroundings(body_loss_max_db=6.0, exponent=0.3, extra_sigma_db=3.0),
}


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
        exponent: float | np.ndarray | None = None,
        extra_sigma_db: float | np.ndarray = 0.0,
    ) -> np.ndarray:
        """One scan's RSSI per distance (vectorised): mean + per-scan fading, in dBm."""
        import numpy as np

        p = self.params
        n = p.exponent if exponent is None else exponent
        d = np.maximum(np.asarray(distance_m, dtype=float), p.min_distance_m)
        mean = np.asarray(tx_power_dbm) - p.loss_1m_db - 10 * n * np.log10(d) + offset_db
        sigma = np.hypot(p.sigma_scan_db, extra_sigma_db)
        out: np.ndarray = mean + rng.normal(0.0, 1.0, size=d.shape) * sigma
        return out

    def heard(self, rssi_dbm: float | np.ndarray, tx_power_dbm: float) -> bool | np.ndarray:
        """Whether an advert sent at ``tx_power_dbm`` and received at ``rssi_dbm`` is heard (per
        element for an array)."""
        heard: bool | np.ndarray = tx_power_dbm - rssi_dbm <= self.params.max_attenuation_db
        return heard
