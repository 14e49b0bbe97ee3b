"""Scoring exposure windows: Google's daily summaries and the full assessment apps made of them.

:func:`daily_summaries` is Google's ``DailySummaryUtils`` (``shared/spec/gaen.md`` §6.2): per
window ``score = weighted seconds × report-type weight × infectiousness weight``, windows under
``minimumWindowScore`` dropped, per UTC day the sum and maximum.

:func:`assess` is the decision apps took from the windows, Corona-Warn-App's steps in order
(``cwa-app-android`` ``risk/DefaultRiskLevels.kt``, checked against its golden suites in
``tests/protocol/data/cwa/``), with Google's weights and COCOA's floor as the same steps:

1. drop a window by minutes-at-attenuation filters, then by transmission-risk-level filters;
2. normalized minutes = multiplier × Σ max(seconds, 0) × weight(attenuation) ÷ 60, the
   multiplier being the TRL's value (CWA) or report-type × infectiousness weights (Google);
   a window scoring under ``minimum_window_score`` (in weighted seconds) is dropped;
3. a window's level from ``window_levels`` (a window no range covers is dropped);
4. per UTC day, the windows' normalized minutes summed (CWA rounds to 2 decimals) and mapped by ``day_levels`` (or HIGH
   at ``threshold_weighted_minutes``), or HIGH when all of COCOA's ``day_conditions`` hold (its
   score sum and at least 900 s of scans); a day no level covers counts for nothing;
5. per day, the minimum distinct encounters at each level: distinct (TRL, calibration
   confidence) among the day's windows of that level;
6. total HIGH when any day is HIGH, else LOW.

Only a HIGH day is a close-contact warning; LOW days are shown, not warned.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from protocol.export import ReportType
from protocol.risk.config import DEFAULT_RISK_CONFIG, Range, RiskConfig, RiskLevel
from protocol.risk.windows import ExposureWindow, Infectiousness

__all__ = [
    "Assessment",
    "DailySummary",
    "DayRisk",
    "WindowRisk",
    "assess",
    "daily_summaries",
    "is_close_contact",
    "score_window",
    "window_weighted_seconds",
]


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


def window_weighted_seconds(window: ExposureWindow, config: RiskConfig) -> float:
    """Σ max(seconds since last scan, 0) × the bucket weight of the scan's attenuation."""
    return sum(
        max(scan.seconds_since_last_scan, 0)
        * config.bucket_weight(config.scan_attenuation(scan.min_attenuation_db, scan.typical_attenuation_db))
        for scan in window.scan_instances
    )


def _scored(window: ExposureWindow) -> bool:
    return window.report_type != ReportType.REVOKED and window.infectiousness != Infectiousness.NONE


def daily_summaries(
    windows: Iterable[ExposureWindow], config: RiskConfig = DEFAULT_RISK_CONFIG
) -> list[DailySummary]:
    """Google's daily summaries: one per UTC day with at least one scoring window, oldest first."""
    days: dict[int, list[tuple[float, float]]] = {}
    for window in windows:
        if not _scored(window):
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
    """The day's weighted minutes reach the configured threshold (Google's summary alone)."""
    return summary.score_sum >= config.threshold_weighted_minutes * 60


@dataclass(frozen=True, slots=True)
class WindowRisk:
    """One window that passed the filters: its TRL (0 without an encoding), score and level."""

    window: ExposureWindow
    transmission_risk_level: int
    weighted_seconds: float
    normalized_minutes: float
    level: RiskLevel | None


@dataclass(frozen=True, slots=True)
class DayRisk:
    """One UTC day that reached a level, with what a UI shows of it."""

    day: int
    level: RiskLevel
    normalized_minutes: float
    scan_seconds: int
    windows: int
    minimum_distinct_encounters_low: int
    minimum_distinct_encounters_high: int


@dataclass(frozen=True, slots=True)
class Assessment:
    """The outcome over all windows (CWA's ``AggregatedRiskResult``); days are UTC day numbers."""

    total_level: RiskLevel
    days_low: int
    days_high: int
    most_recent_day_low: int | None
    most_recent_day_high: int | None
    minimum_distinct_encounters_low: int
    minimum_distinct_encounters_high: int
    days: tuple[DayRisk, ...]

    @property
    def close_contact(self) -> bool:
        return self.total_level == RiskLevel.HIGH


def _minutes_at(window: ExposureWindow, attenuation: Range) -> float:
    seconds = sum(
        max(scan.seconds_since_last_scan, 0)
        for scan in window.scan_instances
        if scan.min_attenuation_db in attenuation
    )
    return seconds / 60


def score_window(window: ExposureWindow, config: RiskConfig) -> WindowRisk | None:
    """Steps 1–3 for one window; None when it is dropped."""
    if not _scored(window):
        return None
    for drop in config.minutes_at_attenuation_filters:
        if _minutes_at(window, drop.attenuation) in drop.drop_if_minutes:
            return None
    trl = (
        config.trl_encoding.level(window.report_type, window.infectiousness)
        if config.trl_encoding is not None
        else 0
    )
    if any(trl in dropped for dropped in config.trl_filters):
        return None
    weighted = window_weighted_seconds(window, config)
    score = config.multiplier(window.report_type, window.infectiousness) * weighted
    if score < config.minimum_window_score:
        return None
    minutes = score / 60
    level: RiskLevel | None = None
    if config.window_levels:
        level = next((lr.level for lr in config.window_levels if minutes in lr.range), None)
        if level is None:
            return None
    return WindowRisk(window, trl, weighted, minutes, level)


def _conditions_hold(config: RiskConfig, scored: list[WindowRisk], minutes: float, seconds: int) -> bool:
    """COCOA's AND of thresholds over the day (``ExposureRiskCalculationService.CalcRiskLevel``)."""
    scans = [scan for w in scored for scan in w.window.scan_instances]
    weighted = sum(w.weighted_seconds for w in scored)
    measured = {
        "score_sum": minutes * 60,
        "weighted_duration_average": weighted / seconds if seconds > 0 else 0.0,
        "scan_seconds": float(seconds),
        "typical_attenuation_max": float(max((s.typical_attenuation_db for s in scans), default=0)),
        "typical_attenuation_min": float(min((s.typical_attenuation_db for s in scans), default=0)),
    }
    return all(condition.holds(measured[condition.quantity]) for condition in config.day_conditions)


def _distinct(windows: list[WindowRisk], at: RiskLevel, day_level: RiskLevel) -> int:
    """Distinct (TRL, calibration confidence) among a day's windows of level ``at``; without
    per-window levels (Google's configurations) each window takes its day's."""
    return len(
        {
            (w.transmission_risk_level, w.window.calibration_confidence)
            for w in windows
            if (w.level if w.level is not None else day_level) == at
        }
    )


def assess(windows: Iterable[ExposureWindow], config: RiskConfig, *, today: int | None = None) -> Assessment:
    """Steps 1–6 over all windows. ``today`` (a UTC day number) applies
    ``days_since_exposure_threshold``; without it every day counts."""
    per_day: dict[int, list[WindowRisk]] = {}
    for window in windows:
        if (
            today is not None
            and config.days_since_exposure_threshold
            and today - window.day > config.days_since_exposure_threshold
        ):
            continue
        scored = score_window(window, config)
        if scored is not None:
            per_day.setdefault(window.day, []).append(scored)
    days = []
    for day, scored_windows in sorted(per_day.items()):
        minutes = config.round_day_minutes(sum(w.normalized_minutes for w in scored_windows))
        scan_seconds = sum(w.window.seconds for w in scored_windows)
        if config.day_conditions:
            holds = _conditions_hold(config, scored_windows, minutes, scan_seconds)
            level = RiskLevel.HIGH if holds else None
        else:
            level = config.day_level(minutes)
        if level is None:
            continue
        days.append(
            DayRisk(
                day=day,
                level=level,
                normalized_minutes=minutes,
                scan_seconds=scan_seconds,
                windows=len(scored_windows),
                minimum_distinct_encounters_low=_distinct(scored_windows, RiskLevel.LOW, level),
                minimum_distinct_encounters_high=_distinct(scored_windows, RiskLevel.HIGH, level),
            )
        )
    low = [d.day for d in days if d.level == RiskLevel.LOW]
    high = [d.day for d in days if d.level == RiskLevel.HIGH]
    return Assessment(
        total_level=RiskLevel.HIGH if high else RiskLevel.LOW,
        days_low=len(low),
        days_high=len(high),
        most_recent_day_low=max(low, default=None),
        most_recent_day_high=max(high, default=None),
        minimum_distinct_encounters_low=sum(d.minimum_distinct_encounters_low for d in days),
        minimum_distinct_encounters_high=sum(d.minimum_distinct_encounters_high for d in days),
        days=tuple(days),
    )
