"""GAEN v2 risk scoring: matches → exposure windows → daily summaries → close contact or not.

The objects and arithmetic of Google's Exposure Notifications API v2 (``ExposureWindow``,
``ScanInstance``, ``DailySummariesConfig``, ``DiagnosisKeysDataMapping``; the computation of
``DailySummaryUtils``), as recorded in ``shared/spec/gaen.md`` §2.5 and §6:

* attenuation = TX power from the decrypted metadata − (RSSI + correction), clamped at 0;
* a scan instance is one logical scan that heard the key: min and typical (mean, dB domain)
  attenuation, weighted by the seconds since the device's previous scan (≤ 300 s, 120 s when
  unknown);
* a window holds at most 30 minutes of scans of one key on one UTC day;
* per window, ``weighted duration = Σ seconds × bucket weight(typical attenuation)`` and
  ``score = weighted duration × report-type weight × infectiousness weight``;
* per UTC day, the scores of windows reaching ``minimum_window_score`` are summed, and the day
  is a close contact when the sum reaches ``threshold_weighted_minutes``.

Windows of REVOKED keys, and of keys whose infectiousness maps to NONE, contribute nothing.
The default configuration and how it was chosen on measured data: ``docs/risk.md``.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import IntEnum
from types import MappingProxyType
from typing import Literal

from protocol.export import ReportType
from protocol.matching import Match

__all__ = [
    "DEFAULT_MAPPING",
    "DEFAULT_RISK_CONFIG",
    "DEFAULT_SECONDS_SINCE_LAST_SCAN",
    "MAX_SECONDS_SINCE_LAST_SCAN",
    "MAX_WINDOW_SECONDS",
    "DailySummary",
    "DiagnosisKeysDataMapping",
    "ExposureWindow",
    "Infectiousness",
    "ReportType",
    "RiskConfig",
    "ScanInstance",
    "attenuation",
    "daily_summaries",
    "exposure_windows",
    "is_close_contact",
    "window_weighted_seconds",
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
    """One scan in which the key was heard (``ENScanInstance``)."""

    min_attenuation_db: int
    typical_attenuation_db: int
    seconds_since_last_scan: int


@dataclass(frozen=True, slots=True)
class ExposureWindow:
    """Up to 30 minutes of scans of one key; ``day`` is the UTC day number (unix days)."""

    day: int
    scan_instances: tuple[ScanInstance, ...]
    report_type: int
    infectiousness: int
    calibration_confidence: int

    @property
    def seconds(self) -> int:
        return sum(scan.seconds_since_last_scan for scan in self.scan_instances)


def _frozen(mapping: Mapping[int, float] | Mapping[int, int]) -> Mapping[int, float]:
    return MappingProxyType(dict(mapping))


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


@dataclass(frozen=True, slots=True)
class RiskConfig:
    """``DailySummariesConfig`` plus the mapping and the app's per-day threshold.

    Buckets are on the typical attenuation, as in Google's code: immediate ≤ T0 < near ≤ T1 <
    medium ≤ T2 < other. ``bucket_attenuation="min"`` buckets on each scan's minimum attenuation
    (its strongest report) instead, as Corona-Warn-App's own scoring does: one body turned away
    for part of a scan drags the mean down, not the minimum.
    """

    attenuation_bucket_thresholds_db: tuple[int, int, int]
    attenuation_bucket_weights: tuple[float, float, float, float]
    report_type_weights: Mapping[int, float] = field(
        default_factory=lambda: _frozen({1: 1.0, 2: 1.0, 3: 1.0, 4: 1.0})
    )
    infectiousness_weights: Mapping[int, float] = field(default_factory=lambda: _frozen({1: 1.0, 2: 1.0}))
    mapping: DiagnosisKeysDataMapping = DEFAULT_MAPPING
    minimum_window_score: float = 0.0
    threshold_weighted_minutes: float = 15.0
    bucket_attenuation: Literal["typical", "min"] = "typical"

    def __post_init__(self) -> None:
        t = self.attenuation_bucket_thresholds_db
        if len(t) != 3 or not 0 <= t[0] < t[1] < t[2] <= 255:
            raise ValueError(f"need 3 strictly increasing bucket thresholds in 0..255 dB, got {t}")
        if len(self.attenuation_bucket_weights) != 4 or not all(
            0 <= w <= 2.5 for w in self.attenuation_bucket_weights
        ):
            raise ValueError("need 4 attenuation bucket weights, each 0..2.5")
        for name in ("report_type_weights", "infectiousness_weights"):
            weights = dict(getattr(self, name))
            if not all(0 <= w <= 2.5 for w in weights.values()):
                raise ValueError(f"{name}: each weight must be 0..2.5")
            object.__setattr__(self, name, MappingProxyType(weights))
        if self.bucket_attenuation not in ("typical", "min"):
            raise ValueError(
                f"bucket_attenuation must be 'typical' or 'min', got {self.bucket_attenuation!r}"
            )
        if self.minimum_window_score < 0 or self.threshold_weighted_minutes <= 0:
            raise ValueError("minimum_window_score must be >= 0 and the threshold > 0")

    def bucket_weight(self, attenuation_db: int) -> float:
        t0, t1, t2 = self.attenuation_bucket_thresholds_db
        w = self.attenuation_bucket_weights
        if attenuation_db <= t0:
            return w[0]
        if attenuation_db <= t1:
            return w[1]
        return w[2] if attenuation_db <= t2 else w[3]


DEFAULT_RISK_CONFIG = RiskConfig(
    attenuation_bucket_thresholds_db=(64, 66, 68),
    attenuation_bucket_weights=(2.0, 1.0, 0.0, 0.0),
    threshold_weighted_minutes=15.0,
    bucket_attenuation="min",
)
"""Tuned on the DP-3T EPFL measurements for "about 2 m for 15 minutes a day" (``docs/risk.md``)."""


@dataclass(frozen=True, slots=True)
class DailySummary:
    """Per UTC day: the sum and maximum of window scores and the summed weighted duration (s)."""

    day: int
    score_sum: float
    maximum_score: float
    weighted_duration_sum: float

    @property
    def weighted_minutes(self) -> float:
        return self.score_sum / 60


def attenuation(tx_power_dbm: int, rssi_dbm: int, rssi_correction_db: int = 0) -> int:
    """max(TX power − (RSSI + correction), 0) dB (``SightingRecordWithMetadata.attenuationValue``)."""
    return max(tx_power_dbm - (rssi_dbm + rssi_correction_db), 0)


def exposure_windows(
    matches: Iterable[Match],
    mapping: DiagnosisKeysDataMapping | None = None,
    *,
    scan_times: Sequence[float] | None = None,
    rssi_correction_db: int = 0,
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


def window_weighted_seconds(window: ExposureWindow, config: RiskConfig) -> float:
    """Σ seconds since last scan × bucket weight of the scan's typical (or min) attenuation."""
    use_min = config.bucket_attenuation == "min"
    return sum(
        scan.seconds_since_last_scan
        * config.bucket_weight(scan.min_attenuation_db if use_min else scan.typical_attenuation_db)
        for scan in window.scan_instances
    )


def daily_summaries(
    windows: Iterable[ExposureWindow], config: RiskConfig = DEFAULT_RISK_CONFIG
) -> list[DailySummary]:
    """One summary per UTC day with at least one scoring window, oldest day first."""
    days: dict[int, list[tuple[float, float]]] = {}
    for window in windows:
        if window.report_type == ReportType.REVOKED or window.infectiousness == Infectiousness.NONE:
            continue
        weighted = window_weighted_seconds(window, config)
        score = (
            weighted
            * config.report_type_weights.get(window.report_type, 0.0)
            * config.infectiousness_weights.get(window.infectiousness, 0.0)
        )
        if score < config.minimum_window_score:
            continue
        days.setdefault(window.day, []).append((score, weighted))
    return [
        DailySummary(
            day=day,
            score_sum=sum(score for score, _ in scored),
            maximum_score=max(score for score, _ in scored),
            weighted_duration_sum=sum(weighted for _, weighted in scored),
        )
        for day, scored in sorted(days.items())
    ]


def is_close_contact(summary: DailySummary, config: RiskConfig = DEFAULT_RISK_CONFIG) -> bool:
    """The day's weighted minutes reach the configured threshold."""
    return summary.score_sum >= config.threshold_weighted_minutes * 60
