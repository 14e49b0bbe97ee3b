"""Attenuation as GAEN defines it, and the device calibrations it rests on.

The framework computes ``attenuation = TX power − (RSSI + RSSI correction)``, clamped at 0
(``SightingRecordWithMetadata.attenuationValue``; ``shared/spec/gaen.md`` §2.5): the TX power is
the *transmitting* model's calibrated TX power, which its metadata advertises inside the AEM;
the RSSI correction is the *receiving* model's, from the same calibration table. A phone's
metadata also carries the calibration confidence of its entry (``CalibrationConfidence``).

``KNOWN_CALIBRATIONS`` holds the entries this project relies on, each with its source; a
beacon that is not in Google's table measures its own values (``bluezone beacon calibrate``).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum

__all__ = [
    "KNOWN_CALIBRATIONS",
    "CalibrationConfidence",
    "DeviceCalibration",
    "attenuation",
    "calibration_for",
]


class CalibrationConfidence(IntEnum):
    """How much the transmitter's calibration is worth (GAEN ``CalibrationConfidence``)."""

    LOWEST = 0
    LOW = 1
    MEDIUM = 2
    HIGH = 3


@dataclass(frozen=True, slots=True)
class DeviceCalibration:
    """One model's entry: what it adds to the RSSI it measures, and the TX power it advertises."""

    manufacturer: str
    model: str
    rssi_correction_db: float
    tx_power_dbm: float
    source: str


_GOOGLE_2020_08_13 = (
    "Google's GAEN device calibration table of 2020-08-13 (en-calibration-2020-08-13.csv), "
    "as DP-3T used it to process its GAEN experiments at EPFL"
)

KNOWN_CALIBRATIONS: dict[str, DeviceCalibration] = {
    model: DeviceCalibration("samsung", model, 5.0, -24.0, _GOOGLE_2020_08_13)
    for model in ("SM-G973F", "SM-G970F", "SM-A405FN", "SM-A515F", "SM-A908B", "SM-G981B")
}
"""The Samsung models of DP-3T's EPFL experiments: RSSI correction +5.0 dB, TX power −24.0 dBm."""


def calibration_for(model: str) -> DeviceCalibration | None:
    """The known entry for a model code (case-insensitive; a variant suffix such as the dual-SIM
    "/DS" of "SM-G981B/DS" names the same hardware), or None."""
    return KNOWN_CALIBRATIONS.get(model.split("/")[0].strip().upper())


def attenuation(tx_power_dbm: float, rssi_dbm: float, rssi_correction_db: float = 0.0) -> int:
    """max(TX power − (RSSI + correction), 0) dB, rounded half away from zero to whole dB."""
    value = tx_power_dbm - (rssi_dbm + rssi_correction_db)
    whole = int(abs(value) + 0.5)
    return max(whole if value >= 0 else -whole, 0)
