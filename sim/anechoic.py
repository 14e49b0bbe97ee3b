"""DP-3T's anechoic-chamber calibration experiments 25, 27, 28 and 29 (phones 1 m apart).

Vendored unmodified in ``sim/data/dp3t-anechoic/`` (CC BY-ND 4.0, © EPFL and ETH Zurich; see its
NOTICE.md, which lists each file's SHA-256): per scenario, one reference phone (iPhone 11 or
Pixel 4) and one other model logging each other's advertisements at 1 m. This module reads them
into one median RSSI per (receiver model, transmitter model) and direction, which is what a
device calibration is made from, and puts them on the GAEN scale where both models' calibrations
are known (``protocol.calibration``). Derived values are computed at run time, never written.
"""

from __future__ import annotations

import sqlite3
import statistics
from contextlib import closing
from dataclasses import dataclass
from importlib import resources

from protocol.calibration import attenuation, calibration_for

__all__ = [
    "EXPERIMENTS",
    "REFERENCES",
    "AnechoicPair",
    "gaen_attenuation_at_1m",
    "load_anechoic",
    "samsung_attenuation_at_1m",
    "samsung_to_samsung_at_1m",
]

EXPERIMENTS = (
    "exp25-calibration-iphone-to-android-anechoic",
    "exp27-calibration-iphone-to-iphone-anechoic",
    "exp28-calibration-pixel4-to-android-anechoic",
    "exp29-calibration-pixel4-anechoic",
)
_DATA = "data/dp3t-anechoic"
REFERENCES = {"iPhone11": "iPhone 11", "GA01187-DE": "Pixel 4"}


@dataclass(frozen=True, slots=True)
class AnechoicPair:
    """What ``receiver_model`` heard of ``transmitter_model`` at 1 m in one scenario."""

    experiment: str
    scenario: str
    receiver_model: str
    transmitter_model: str
    reports: int
    median_rssi: float


def load_anechoic() -> list[AnechoicPair]:
    """Every (scenario, receiver, transmitter) of the four experiments, in file order."""
    out = []
    root = resources.files("sim") / _DATA
    for experiment in EXPERIMENTS:
        folder = root / experiment
        for entry in sorted(folder.iterdir(), key=lambda e: e.name):
            if not entry.name.endswith(".sqlite"):
                continue
            with (
                resources.as_file(entry) as path,
                closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as db,
            ):
                rows = db.execute("SELECT receiver_model, transmitter_model, rssi FROM results").fetchall()
            heard: dict[tuple[str, str], list[int]] = {}
            for receiver, transmitter, rssi in rows:
                heard.setdefault((receiver, transmitter), []).append(int(rssi))
            scenario = entry.name.removesuffix(".sqlite")
            for (receiver, transmitter), rssis in heard.items():
                out.append(
                    AnechoicPair(
                        experiment, scenario, receiver, transmitter, len(rssis), statistics.median(rssis)
                    )
                )
    return out


def gaen_attenuation_at_1m(pair: AnechoicPair) -> int | None:
    """GAEN attenuation of the pair's median report: the transmitter's calibrated TX power minus
    (RSSI + the receiver's correction); None unless both models are in the known table."""
    receiver, transmitter = calibration_for(pair.receiver_model), calibration_for(pair.transmitter_model)
    if receiver is None or transmitter is None:
        return None
    return attenuation(transmitter.tx_power_dbm, pair.median_rssi, receiver.rssi_correction_db)


def samsung_to_samsung_at_1m(pairs: list[AnechoicPair], reference: str) -> float:
    """The RSSI one EPFL Samsung would measure of another at 1 m in the chamber, through a
    reference phone R measured both ways against each: in dB, path loss cancels, so
    RSSI(A←B) ≈ RSSI(A←R) + RSSI(R←B) − RSSI(R←R). The median over every ordered pair of
    distinct Samsungs; no calibration of R is needed."""
    heard = {(p.receiver_model, p.transmitter_model): p.median_rssi for p in pairs}
    samsungs = sorted(
        {p.receiver_model for p in pairs if calibration_for(p.receiver_model) is not None}
        & {p.transmitter_model for p in pairs if p.receiver_model == reference}
    )
    self_rssi = heard[(reference, reference)]
    estimates = [
        heard[(a, reference)] + heard[(reference, b)] - self_rssi
        for a in samsungs
        for b in samsungs
        if a != b and (a, reference) in heard and (reference, b) in heard
    ]
    return statistics.median(estimates)


def samsung_attenuation_at_1m(pairs: list[AnechoicPair], reference: str) -> float:
    """``samsung_to_samsung_at_1m`` on the GAEN scale, with the EPFL Samsungs' shared calibration."""
    samsung = calibration_for("SM-G973F")
    assert samsung is not None
    return samsung.tx_power_dbm - (samsung_to_samsung_at_1m(pairs, reference) + samsung.rssi_correction_db)
