"""One risk model that holds every GAEN v2 configuration health authorities shipped.

Google's ``DailySummariesConfig`` (attenuation buckets × report-type × infectiousness weights,
``minimumWindowScore``, a per-day score threshold), Corona-Warn-App's own parameters
(``riskCalculationParameters``: minutes-at-attenuation and TRL filters, weights on attenuation
ranges, the transmission risk level and its value table, per-window and per-day normalized
time → risk level), and the extra conditions apps added (COCOA's floor on the day's scan
seconds and other day conditions, ``daysSinceExposureThreshold``) are fields of one frozen :class:`RiskConfig`; the
arithmetic is in ``protocol.risk.assessment``, the published shapes in ``protocol.risk.formats``.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import IntEnum
from types import MappingProxyType
from typing import Any, Literal

from protocol.export import ReportType
from protocol.risk.windows import DEFAULT_MAPPING, DiagnosisKeysDataMapping, Infectiousness

__all__ = [
    "CWA_TRL_ENCODING",
    "DEFAULT_RISK_CONFIG",
    "DayCondition",
    "LevelRange",
    "MinutesAtAttenuationFilter",
    "Range",
    "RiskConfig",
    "RiskConfigError",
    "RiskLevel",
    "TrlEncoding",
]


class RiskConfigError(ValueError):
    """A risk configuration that cannot be used; the message names the field."""


class RiskLevel(IntEnum):
    """Corona-Warn-App's levels: HIGH is a close contact (a warning), LOW is shown, not warned."""

    LOW = 1
    HIGH = 2


@dataclass(frozen=True, slots=True)
class Range:
    """An interval, closed unless an end is marked exclusive (CWA's ``Range`` message)."""

    min: float = -math.inf
    max: float = math.inf
    min_exclusive: bool = False
    max_exclusive: bool = False

    def __contains__(self, value: float) -> bool:
        above = value > self.min if self.min_exclusive else value >= self.min
        below = value < self.max if self.max_exclusive else value <= self.max
        return above and below


@dataclass(frozen=True, slots=True)
class LevelRange:
    """Normalized minutes in ``range`` give ``level``."""

    range: Range
    level: RiskLevel


DayQuantity = Literal[
    "score_sum",
    "weighted_duration_average",
    "scan_seconds",
    "typical_attenuation_max",
    "typical_attenuation_min",
]
_OPERATORS = {
    ">=": lambda a, b: a >= b,
    ">": lambda a, b: a > b,
    "<=": lambda a, b: a <= b,
    "<": lambda a, b: a < b,
    "=": lambda a, b: a == b,
}


@dataclass(frozen=True, slots=True)
class DayCondition:
    """One of COCOA's per-day thresholds (``V1ExposureRiskCalculationConfiguration``): the
    day's ``quantity`` compared with ``value``. The quantities are Google's daily score sum
    (weighted seconds × weights), its weighted duration ÷ the day's scan seconds, the scan
    seconds, and the largest and smallest typical attenuation of the day's scans."""

    quantity: DayQuantity
    op: str
    value: float

    def __post_init__(self) -> None:
        if self.op not in _OPERATORS:
            raise RiskConfigError(f"day condition {self.quantity}: op must be one of {', '.join(_OPERATORS)}")

    def holds(self, measured: float) -> bool:
        return bool(_OPERATORS[self.op](measured, self.value))


@dataclass(frozen=True, slots=True)
class MinutesAtAttenuationFilter:
    """Drop a window whose minutes at minimum attenuation within ``attenuation`` fall in
    ``drop_if_minutes`` (CWA drops windows with under 5 minutes below 79 dB)."""

    attenuation: Range
    drop_if_minutes: Range


def _frozen_ints(mapping: Mapping[int, int]) -> Mapping[int, int]:
    return MappingProxyType({int(k): int(v) for k, v in mapping.items()})


@dataclass(frozen=True, slots=True)
class TrlEncoding:
    """Corona-Warn-App's transmission risk level: report-type offset + infectiousness offset."""

    report_type_offsets: Mapping[int, int]
    infectiousness_offsets: Mapping[int, int]

    def __post_init__(self) -> None:
        object.__setattr__(self, "report_type_offsets", _frozen_ints(self.report_type_offsets))
        object.__setattr__(self, "infectiousness_offsets", _frozen_ints(self.infectiousness_offsets))

    def level(self, report_type: int, infectiousness: int) -> int:
        return self.report_type_offsets.get(report_type, 0) + self.infectiousness_offsets.get(
            infectiousness, 0
        )


CWA_TRL_ENCODING = TrlEncoding(
    report_type_offsets={
        ReportType.RECURSIVE: 0,
        ReportType.SELF_REPORT: 2,
        ReportType.CONFIRMED_CLINICAL_DIAGNOSIS: 4,
        ReportType.CONFIRMED_TEST: 6,
    },
    infectiousness_offsets={Infectiousness.STANDARD: 1, Infectiousness.HIGH: 2},
)
"""``trlEncoding`` of every CWA configuration since v2 (``shared/spec/gaen.md`` §6.3a)."""


def _frozen_floats(mapping: Mapping[int, float]) -> Mapping[int, float]:
    return MappingProxyType({int(k): float(v) for k, v in mapping.items()})


@dataclass(frozen=True, slots=True)
class RiskConfig:
    """Every knob of the shipped GAEN v2 risk configurations; the defaults are neutral.

    Per scan: ``max(seconds since last scan, 0)`` × the weight of the bucket its attenuation
    falls in — buckets ``≤ T0 < … ≤ Tn <`` over ``attenuation_bucket_thresholds_db`` (Google's
    are 3 on the typical attenuation; ``bucket_attenuation="min"`` uses each scan's minimum
    instead, as CWA does). Per window: the weighted seconds × a multiplier — report-type ×
    infectiousness weights (Google), or, with ``trl_encoding``, the value of the window's
    transmission risk level (CWA) — is its score; ÷ 60 its normalized minutes. Per UTC day,
    the normalized minutes of the windows kept are summed and mapped by ``day_levels``; without
    them a day is HIGH at ``threshold_weighted_minutes`` (Google's score sum ≥ threshold × 60).
    """

    attenuation_bucket_thresholds_db: tuple[int, ...]
    attenuation_bucket_weights: tuple[float, ...]
    report_type_weights: Mapping[int, float] = field(
        default_factory=lambda: _frozen_floats({1: 1.0, 2: 1.0, 3: 1.0, 4: 1.0})
    )
    infectiousness_weights: Mapping[int, float] = field(
        default_factory=lambda: _frozen_floats({1: 1.0, 2: 1.0})
    )
    mapping: DiagnosisKeysDataMapping = DEFAULT_MAPPING
    minimum_window_score: float = 0.0
    """Google's ``minimumWindowScore``: windows scoring less (in weighted seconds) are dropped."""
    threshold_weighted_minutes: float = 15.0
    bucket_attenuation: Literal["typical", "min"] = "typical"
    trl_encoding: TrlEncoding | None = None
    transmission_risk_values: Mapping[int, float] = field(default_factory=dict)
    """TRL → value (CWA's ``transmissionRiskValueMapping``); an unlisted level is worth 0."""
    minutes_at_attenuation_filters: tuple[MinutesAtAttenuationFilter, ...] = ()
    trl_filters: tuple[Range, ...] = ()
    """Drop windows whose transmission risk level falls in any of these."""
    window_levels: tuple[LevelRange, ...] = ()
    """Per window normalized minutes → level; when given, a window with no level is dropped."""
    day_levels: tuple[LevelRange, ...] = ()
    day_minutes_decimals: int | None = None
    """Round each day's sum half up to this many decimals before mapping it (CWA: 2, which its
    suites need; its code's 1 fails 16 of their cases). None keeps full precision."""
    day_conditions: tuple[DayCondition, ...] = ()
    """When given, a day is HIGH exactly when all hold (COCOA), and ``day_levels`` are unused."""
    days_since_exposure_threshold: int = 0
    """Only days at most this old count (Google's ``daysSinceExposureThreshold``; 0 = all)."""

    def __post_init__(self) -> None:
        t = tuple(self.attenuation_bucket_thresholds_db)
        if not t or any(not 0 <= x <= 255 for x in t) or any(a >= b for a, b in itertools.pairwise(t)):
            raise RiskConfigError(
                f"attenuation_bucket_thresholds_db: need strictly increasing values in 0..255 dB, got {t}"
            )
        w = tuple(float(x) for x in self.attenuation_bucket_weights)
        if len(w) != len(t) + 1:
            raise RiskConfigError(
                f"attenuation_bucket_weights: need {len(t) + 1} weights for {len(t)} thresholds, got {len(w)}"
            )
        if not all(0 <= x <= 2.5 for x in w):
            raise RiskConfigError("attenuation_bucket_weights: each weight must be 0..2.5")
        object.__setattr__(self, "attenuation_bucket_thresholds_db", t)
        object.__setattr__(self, "attenuation_bucket_weights", w)
        for name in ("report_type_weights", "infectiousness_weights"):
            weights = _frozen_floats(getattr(self, name))
            if not all(0 <= x <= 2.5 for x in weights.values()):
                raise RiskConfigError(f"{name}: each weight must be 0..2.5")
            object.__setattr__(self, name, weights)
        values = _frozen_floats(self.transmission_risk_values)
        if any(not math.isfinite(x) or x < 0 for x in values.values()):
            raise RiskConfigError("transmission_risk_values: each value must be finite and >= 0")
        object.__setattr__(self, "transmission_risk_values", values)
        if self.bucket_attenuation not in ("typical", "min"):
            raise RiskConfigError(
                f"bucket_attenuation: must be 'typical' or 'min', got {self.bucket_attenuation!r}"
            )
        if not self.minimum_window_score >= 0:
            raise RiskConfigError("minimum_window_score: must be >= 0")
        if not self.threshold_weighted_minutes > 0:
            raise RiskConfigError("threshold_weighted_minutes: must be > 0")
        if self.day_minutes_decimals is not None and not 0 <= self.day_minutes_decimals <= 6:
            raise RiskConfigError("day_minutes_decimals: must be None or 0..6")
        if self.days_since_exposure_threshold < 0:
            raise RiskConfigError("days_since_exposure_threshold: must be >= 0")
        names = (
            "minutes_at_attenuation_filters",
            "trl_filters",
            "window_levels",
            "day_levels",
            "day_conditions",
        )
        for name in names:
            object.__setattr__(self, name, tuple(getattr(self, name)))

    def bucket_weight(self, attenuation_db: int) -> float:
        for threshold, weight in zip(
            self.attenuation_bucket_thresholds_db, self.attenuation_bucket_weights[:-1], strict=True
        ):
            if attenuation_db <= threshold:
                return weight
        return self.attenuation_bucket_weights[-1]

    def reach_db(self) -> float:
        """The farthest attenuation that still weighs something (inf when the last bucket does, 0
        when none does): how far away a contact can count."""
        if self.attenuation_bucket_weights[-1] > 0:
            return math.inf
        weighed = zip(
            self.attenuation_bucket_thresholds_db, self.attenuation_bucket_weights[:-1], strict=True
        )
        return max((threshold for threshold, weight in weighed if weight > 0), default=0)

    def scan_attenuation(self, min_attenuation_db: int, typical_attenuation_db: int) -> int:
        return min_attenuation_db if self.bucket_attenuation == "min" else typical_attenuation_db

    def multiplier(self, report_type: int, infectiousness: int) -> float:
        """What a window's weighted seconds are multiplied by: the TRL's value, or the weights."""
        if self.trl_encoding is not None:
            level = self.trl_encoding.level(report_type, infectiousness)
            return self.transmission_risk_values.get(level, 0.0)
        return self.report_type_weights.get(report_type, 0.0) * self.infectiousness_weights.get(
            infectiousness, 0.0
        )

    def max_day_minutes(self) -> float:
        """More normalized minutes than any day can score: a range reaching it is unbounded
        (CWA writes 9999 or 99999 for infinity)."""
        if self.trl_encoding is not None:
            multiplier = max(self.transmission_risk_values.values(), default=0.0)
        else:
            multiplier = max(self.report_type_weights.values(), default=0.0) * max(
                self.infectiousness_weights.values(), default=0.0
            )
        return 1440 * max(self.attenuation_bucket_weights) * multiplier

    def high_day_minutes(self) -> float:
        """The normalized minutes from which a day is HIGH, when HIGH is exactly "at least x"."""
        if not self.day_levels:
            return self.threshold_weighted_minutes
        high = [lr.range for lr in self.day_levels if lr.level == RiskLevel.HIGH]
        if len(high) != 1 or high[0].max < self.max_day_minutes() or high[0].min_exclusive:
            raise RiskConfigError("day_levels: HIGH is not one range from a threshold to infinity")
        return high[0].min

    def round_day_minutes(self, minutes: Any) -> Any:
        """A day's normalized minutes (a float or an array of them) rounded half up to
        ``day_minutes_decimals``, as Kotlin's ``roundToLong``; unchanged without decimals."""
        if self.day_minutes_decimals is None:
            return minutes
        scale = 10**self.day_minutes_decimals
        return (minutes * scale + 0.5) // 1 / scale

    def day_level(self, normalized_minutes: float) -> RiskLevel | None:
        if not self.day_levels:
            return RiskLevel.HIGH if normalized_minutes >= self.threshold_weighted_minutes else None
        return next((lr.level for lr in self.day_levels if normalized_minutes in lr.range), None)


DEFAULT_RISK_CONFIG = RiskConfig(
    attenuation_bucket_thresholds_db=(48, 52, 54),
    attenuation_bucket_weights=(2.5, 1.5, 0.0, 0.0),
    threshold_weighted_minutes=15.0,
    bucket_attenuation="typical",
)
"""Chosen by ``sim.calibration.choose_default`` on the DP-3T EPFL measurements, on the GAEN scale,
for "about 2 m for 15 minutes a day"; its out-of-sample figures are in ``docs/risk.md``."""
