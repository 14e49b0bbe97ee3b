"""``bluezone beacon calibrate``: this beacon's calibrated TX power and RSSI correction, measured
against a reference beacon of known calibration, 1 m apart, in both directions.

Google calibrates each phone model so that it receives and transmits like a typical iPhone
(``shared/spec/gaen.md`` §2.5; developers.google.com/android/exposure-notifications/
ble-attenuation-computation): in calibrated terms, attenuation depends on the path only. With a
reference R whose calibration is known (advertised TX power ``tx_R``, correction ``c_R``) and the
attenuation ``A`` that calibrated devices show at 1 m, the channel's reciprocity gives both of
ours from two medians:

    c_us  = tx_R − RSSI(us ← R) − A          (we then compute A for R)
    tx_us = RSSI(R ← us) + c_R + A           (R then computes A for us)

``A`` defaults to ``ATTENUATION_AT_1M_DB``, where DP-3T's anechoic chamber puts one EPFL Samsung
heard by another at 1 m on the GAEN scale (40 dB through the iPhone 11, 43 dB through the Pixel 4;
``sim.anechoic``, ``docs/risk.md``): the scale the default risk configuration was tuned on.

A phone cannot be the reference: its advertised TX power sits inside its encrypted AEM. The
reference is another beacon (or a device whose TX power and correction are known) running
``calibrate record`` at the same time; each session advertises one random payload, not derived
from any key, and logs what it hears, so the two files identify each other exactly.
"""

from __future__ import annotations

import json
import math
import secrets
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from beacon.clock import SleepingClock
from beacon.errors import BeaconError
from beacon.radio import Advertiser, AdvertReport, Scanner
from protocol.advert import service_data
from protocol.calibration import CalibrationConfidence

__all__ = [
    "ATTENUATION_AT_1M_DB",
    "CalibrationError",
    "Proposal",
    "Session",
    "propose",
    "record",
]

ATTENUATION_AT_1M_DB = 41.5
MIN_REPORTS = 20


class CalibrationError(BeaconError):
    """A session that cannot give a calibration; the message says what to do."""


@dataclass(frozen=True)
class Session:
    """What one device advertised and heard during a calibration session."""

    advertised: bytes  # the 16-byte RPI-shaped identifier of this session
    heard: dict[bytes, list[int]]  # identifier → RSSIs
    seconds: float

    def to_json(self) -> dict[str, Any]:
        return {
            "advertised": self.advertised.hex(),
            "heard": {k.hex(): v for k, v in self.heard.items()},
            "seconds": self.seconds,
        }

    @classmethod
    def from_json(cls, data: object, source: str) -> Session:
        try:
            assert isinstance(data, dict)
            heard = {bytes.fromhex(k): [int(r) for r in v] for k, v in data["heard"].items()}
            return cls(bytes.fromhex(data["advertised"]), heard, float(data["seconds"]))
        except (AssertionError, KeyError, TypeError, ValueError, AttributeError) as exc:
            raise CalibrationError(f"{source} is not a calibration session file ({exc!s})") from None

    def save(self, path: Path) -> None:
        path.write_text(json.dumps(self.to_json()) + "\n")

    @classmethod
    def load(cls, path: Path) -> Session:
        try:
            text = path.read_text()
        except OSError as exc:
            raise CalibrationError(f"cannot read {path}: {exc.strerror}") from None
        try:
            data = json.loads(text)
        except json.JSONDecodeError:
            raise CalibrationError(f"{path} is not a calibration session file (not JSON)") from None
        return cls.from_json(data, str(path))


async def record(
    scanner: Scanner, advertiser: Advertiser, clock: SleepingClock, seconds: float, *, step_s: float = 1.0
) -> Session:
    """Advertise one random identifier for ``seconds`` and log every 0xFD6F report heard."""
    identifier = secrets.token_bytes(16)
    heard: dict[bytes, list[int]] = {}

    def on_report(report: AdvertReport) -> None:
        if report.rpi != identifier:
            heard.setdefault(report.rpi, []).append(report.rssi)

    unsubscribe = scanner.on_report(on_report)
    await scanner.start()
    try:
        async with scanner.paused():
            await advertiser.advertise(service_data(identifier, secrets.token_bytes(4)))
        start = clock.now()
        while (now := clock.now()) < start + seconds:
            await scanner.scan_window(now)
            await clock.sleep_until(now + step_s)
    finally:
        unsubscribe()
        await advertiser.stop()
        await scanner.stop()
    return Session(identifier, heard, seconds)


@dataclass(frozen=True)
class Proposal:
    tx_power_dbm: int
    rssi_correction_db: float
    confidence: CalibrationConfidence
    uncertainty_db: float  # 95 % half-width of the worse of the two medians
    heard: int  # our reports of the reference
    heard_by_reference: int

    def render(self) -> str:
        return "\n".join(
            [
                f"tx_power_dbm = {self.tx_power_dbm}",
                f"rssi_correction_db = {self.rssi_correction_db:.1f}",
                f"# confidence {self.confidence.name} (±{self.uncertainty_db:.1f} dB at 95 %; "
                f"{self.heard} reports of the reference, {self.heard_by_reference} of us by it)",
            ]
        )


def _median_ci(values: Sequence[int]) -> tuple[float, float]:
    """The median and the 95 % half-width of its interval (McGill et al.: 1.57 · IQR / √n)."""
    q1, _, q3 = statistics.quantiles(values, n=4) if len(values) > 1 else (values[0],) * 3
    return statistics.median(values), 1.57 * (q3 - q1) / math.sqrt(len(values))


def propose(
    ours: Session,
    reference: Session,
    *,
    reference_tx_power_dbm: float,
    reference_rssi_correction_db: float,
    attenuation_at_1m_db: float = ATTENUATION_AT_1M_DB,
) -> Proposal:
    """Our TX power and RSSI correction from both sessions (see the module's equations)."""
    heard = ours.heard.get(reference.advertised, [])
    heard_by = reference.heard.get(ours.advertised, [])
    for name, values, who in (("we", heard, "the reference"), ("the reference", heard_by, "us")):
        if len(values) < MIN_REPORTS:
            raise CalibrationError(
                f"{name} heard {who} {len(values)} times (at least {MIN_REPORTS} needed): "
                "record both sessions at the same time, 1 m apart, for a few minutes"
            )
    rx_median, rx_ci = _median_ci(heard)
    tx_median, tx_ci = _median_ci(heard_by)
    correction = reference_tx_power_dbm - rx_median - attenuation_at_1m_db
    tx_power = round(tx_median + reference_rssi_correction_db + attenuation_at_1m_db)
    uncertainty = max(rx_ci, tx_ci)
    n = min(len(heard), len(heard_by))
    if uncertainty <= 1.0 and n >= 200:
        confidence = CalibrationConfidence.HIGH
    elif uncertainty <= 2.0 and n >= 60:
        confidence = CalibrationConfidence.MEDIUM
    else:
        confidence = CalibrationConfidence.LOW
    return Proposal(tx_power, round(correction, 1), confidence, uncertainty, len(heard), len(heard_by))
