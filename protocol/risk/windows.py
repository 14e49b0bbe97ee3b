"""Matches → GAEN v2 exposure windows: the objects the risk models score.

The objects of Google's Exposure Notifications API v2 (``ExposureWindow``, ``ScanInstance``,
``DiagnosisKeysDataMapping``) and how the framework builds them (``shared/spec/gaen.md`` §2.5, §6.1):

* attenuation = TX power from the decrypted metadata − (RSSI + the receiver's correction),
  clamped at 0 (``protocol.calibration``);
* a scan instance is one logical scan that heard the key: min and typical (mean, dB domain)
  attenuation, weighted by the seconds since the device's previous scan (≤ 300 s, 120 s when
  unknown);
* a window holds at most 30 minutes of scans of one key on one UTC day.

Windows of REVOKED keys, and of keys whose infectiousness maps to NONE, are not made.
"""

from __future__ import annotations

import operator
from bisect import bisect_left
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import IntEnum
from types import MappingProxyType

from protocol.calibration import attenuation
from protocol.export import ReportType
from protocol.matching import Match

__all__ = [
    "DEFAULT_MAPPING",
    "DEFAULT_SECONDS_SINCE_LAST_SCAN",
    "MAX_SECONDS_SINCE_LAST_SCAN",
    "MAX_WINDOW_SECONDS",
    "DiagnosisKeysDataMapping",
    "ExposureWindow",
    "Infectiousness",
    "ScanInstance",
    "attenuation",
    "exposure_windows",
]

MAX_WINDOW_SECONDS = 30 * 60
"""``maxExposureWindowDurationMinutes`` = 30."""
MAX_SECONDS_SINCE_LAST_SCAN = 300
"""``maxMinutesSinceLastScan`` = 5."""
DEFAULT_SECONDS_SINCE_LAST_SCAN = 120
"""``defaultMinutesSinceLastScan`` = 2, when the previous scan is not known."""
_DAY_SECONDS = 86_400


class Infectiousness(IntEnum):
    NONE = 0
    STANDARD = 1
    HIGH = 2


@dataclass(frozen=True, slots=True)
class ScanInstance:
    """One scan in which the key was heard (``ENScanInstance``).

    Validation is bounded by what real devices and Corona-Warn-App's suites contain: integers,
    attenuations within 0..255 (a minimum above the typical one occurs); any gap, zero, negative
    or over 300 s, is kept, and scorers weigh ``max(seconds, 0)`` as CWA does.
    """

    min_attenuation_db: int
    typical_attenuation_db: int
    seconds_since_last_scan: int

    def __post_init__(self) -> None:
        for name in ("min_attenuation_db", "typical_attenuation_db", "seconds_since_last_scan"):
            value = getattr(self, name)
            if isinstance(value, bool):
                raise ValueError(f"{name} must be an integer, got {value!r}")
            try:  # accepts numpy integers, refuses floats and strings
                object.__setattr__(self, name, operator.index(value))
            except TypeError:
                raise ValueError(f"{name} must be an integer, got {value!r}") from None
        for name in ("min_attenuation_db", "typical_attenuation_db"):
            if not 0 <= getattr(self, name) <= 255:
                raise ValueError(f"{name} must be within 0..255 dB, got {getattr(self, name)}")


@dataclass(frozen=True, slots=True)
class ExposureWindow:
    """Up to 30 minutes of scans of one key; ``day`` is the UTC day number (unix days)."""

    day: int
    scan_instances: tuple[ScanInstance, ...]
    report_type: int
    infectiousness: int
    calibration_confidence: int

    def __post_init__(self) -> None:
        object.__setattr__(self, "scan_instances", tuple(self.scan_instances))

    @property
    def seconds(self) -> int:
        """Σ max(seconds since last scan, 0): how long the key was heard."""
        return sum(max(scan.seconds_since_last_scan, 0) for scan in self.scan_instances)


@dataclass(frozen=True, slots=True)
class DiagnosisKeysDataMapping:
    """How a key's labels become report type and infectiousness (``DiagnosisKeysDataMapping``).

    ``days_since_onset_to_infectiousness`` covers −14…+14; a day it does not list maps to NONE.
    """

    days_since_onset_to_infectiousness: Mapping[int, int]
    report_type_when_missing: int = ReportType.CONFIRMED_TEST
    infectiousness_when_days_since_onset_missing: int = Infectiousness.STANDARD

    def __post_init__(self) -> None:
        table = dict(self.days_since_onset_to_infectiousness)
        if any(not -14 <= day <= 14 for day in table):
            raise ValueError("days since onset must be within -14..14")
        if any(value not in Infectiousness._value2member_map_ for value in table.values()):
            raise ValueError("infectiousness values must be 0 (NONE), 1 (STANDARD) or 2 (HIGH)")
        if self.report_type_when_missing not in (1, 2, 3, 4):
            raise ValueError("report_type_when_missing must be CONFIRMED_TEST..RECURSIVE (1..4)")
        if self.infectiousness_when_days_since_onset_missing not in Infectiousness._value2member_map_:
            raise ValueError("infectiousness_when_days_since_onset_missing must be 0, 1 or 2")
        object.__setattr__(self, "days_since_onset_to_infectiousness", MappingProxyType(table))

    def infectiousness(self, days_since_onset: int | None) -> int:
        if days_since_onset is None:
            return self.infectiousness_when_days_since_onset_missing
        return self.days_since_onset_to_infectiousness.get(days_since_onset, Infectiousness.NONE)

    def report_type(self, report_type: int) -> int:
        return self.report_type_when_missing if report_type == ReportType.UNKNOWN else report_type


# CoronaMelder's mapping (shared/spec/gaen.md §6.3b): STANDARD from 2 days before onset to 11 after.
DEFAULT_MAPPING = DiagnosisKeysDataMapping({day: Infectiousness.STANDARD for day in range(-2, 12)})


def exposure_windows(
    matches: Iterable[Match],
    mapping: DiagnosisKeysDataMapping | None = None,
    *,
    scan_times: Sequence[float] | None = None,
    rssi_correction_db: float = 0.0,
) -> list[ExposureWindow]:
    """Exposure windows from matches, per key and UTC day, each at most 30 minutes long.

    A scan instance gathers the sightings of one key that share a timestamp, i.e. one logical
    scan window (the beacon stamps every sighting with its scan's time). ``scan_times`` are all
    the device's scans, sorted, to weight each instance by the time since the previous scan;
    without them every instance weighs the default 120 s. Windows are ordered by key, then time.
    """
    mapping = mapping or DEFAULT_MAPPING
    per_key: dict[bytes, list[Match]] = {}
    for found in matches:
        per_key.setdefault(found.key.key_data, []).append(found)
    windows = []
    for key_matches in per_key.values():
        key = key_matches[0].key
        report_type = mapping.report_type(key.report_type)
        infectiousness = mapping.infectiousness(key.days_since_onset_of_symptoms)
        if report_type == ReportType.REVOKED or infectiousness == Infectiousness.NONE:
            continue
        # (time → attenuations of every advert heard in that scan, with their counts)
        scans: dict[float, list[tuple[int, int, int]]] = {}
        confidence = 0
        for found in key_matches:
            tx = found.metadata.tx_power_dbm
            confidence = max(confidence, found.metadata.calibration_confidence)
            for s in found.sightings:
                typical = attenuation(tx, s.rssi, rssi_correction_db)
                strongest = attenuation(tx, s.strongest_rssi, rssi_correction_db)
                scans.setdefault(s.timestamp, []).append((strongest, typical, s.count))
        current: list[ScanInstance] = []
        window_start = window_day = -1.0
        for when in sorted(scans):
            heard = scans[when]
            total = sum(count for _, _, count in heard)
            instance = ScanInstance(
                min_attenuation_db=min(strongest for strongest, _, _ in heard),
                typical_attenuation_db=round(sum(t * c for _, t, c in heard) / total),
                seconds_since_last_scan=_seconds_since_last_scan(when, scan_times),
            )
            day = when // _DAY_SECONDS
            if current and (day != window_day or when - window_start >= MAX_WINDOW_SECONDS):
                windows.append(
                    ExposureWindow(int(window_day), tuple(current), report_type, infectiousness, confidence)
                )
                current = []
            if not current:
                window_start, window_day = when, day
            current.append(instance)
        if current:
            windows.append(
                ExposureWindow(int(window_day), tuple(current), report_type, infectiousness, confidence)
            )
    return windows


def _seconds_since_last_scan(when: float, scan_times: Sequence[float] | None) -> int:
    if scan_times is None:
        return DEFAULT_SECONDS_SINCE_LAST_SCAN
    i = bisect_left(scan_times, when)
    if i == 0:
        return DEFAULT_SECONDS_SINCE_LAST_SCAN
    return int(min(when - scan_times[i - 1], MAX_SECONDS_SINCE_LAST_SCAN))
