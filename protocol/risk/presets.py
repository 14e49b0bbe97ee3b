"""The risk configurations health authorities shipped, and ours, as :class:`RiskConfig` values.

Each docstring names its source; ``docs/risk.md`` compares them on measured data.
"""

from __future__ import annotations

import math
from types import MappingProxyType

from protocol.export import ReportType
from protocol.risk.config import (
    CWA_TRL_ENCODING,
    DEFAULT_RISK_CONFIG,
    LevelRange,
    MinutesAtAttenuationFilter,
    Range,
    RiskConfig,
    RiskLevel,
)
from protocol.risk.formats import load_config
from protocol.risk.windows import DiagnosisKeysDataMapping, Infectiousness

__all__ = [
    "BLUEZONE_DEFAULT",
    "COCOA",
    "CORONAMELDER",
    "CORONA_WARN_APP_2020",
    "CORONA_WARN_APP_2021",
    "PRESETS",
    "SWISSCOVID",
]

BLUEZONE_DEFAULT = DEFAULT_RISK_CONFIG
"""Ours: 15 minutes a day weighted 2.5 at ≤ 48 dB and 1.5 at 49–52 dB of typical attenuation."""

_TRL_VALUES = {level: round(level * 0.2, 10) for level in range(1, 9)}  # transmissionRiskLevelMultiplier 0.2


def _two_levels(threshold: float) -> tuple[LevelRange, ...]:
    return (
        LevelRange(Range(0, threshold, max_exclusive=True), RiskLevel.LOW),
        LevelRange(Range(threshold, math.inf), RiskLevel.HIGH),
    )


def _corona_warn_app(
    thresholds: tuple[int, ...], weights: tuple[float, ...], *, below_db: int, minutes: int, high: float
) -> RiskConfig:
    """CWA's steps with its TRL encoding and values, dropping windows with under ``minutes``
    minutes below ``below_db`` and TRL 1–2, HIGH per window and per day from ``high``."""
    return RiskConfig(
        attenuation_bucket_thresholds_db=thresholds,
        attenuation_bucket_weights=weights,
        bucket_attenuation="min",
        trl_encoding=CWA_TRL_ENCODING,
        transmission_risk_values=_TRL_VALUES,
        minutes_at_attenuation_filters=(
            MinutesAtAttenuationFilter(
                Range(0, below_db, max_exclusive=True), Range(0, minutes, max_exclusive=True)
            ),
        ),
        trl_filters=(Range(1, 2),),
        window_levels=_two_levels(high),
        day_levels=_two_levels(high),
        day_minutes_decimals=2,
    )


# [0, 63) 0.8, [63, 73) 1.0, [73, 79) 0.1, else 0
CORONA_WARN_APP_2021 = _corona_warn_app((62, 72, 78), (0.8, 1.0, 0.1, 0.0), below_db=79, minutes=5, high=13)
"""Corona-Warn-App from 18 March 2021 (``cwa-server`` ``main-config/v2/risk-calculation-parameters.yaml``
at e88332397; ``shared/spec/gaen.md`` §6.3a): HIGH at 13 normalized minutes a day."""

# [0, 55) 1.0, [55, 63) 0.5, else 0
CORONA_WARN_APP_2020 = _corona_warn_app((54, 62), (1.0, 0.5, 0.0), below_db=73, minutes=10, high=15)
"""Corona-Warn-App from 3 December 2020 to 18 March 2021 (``cwa-server`` at 752f6d7c3): the
"15 minutes of close contact" rule, windows with under 10 minutes below 73 dB dropped."""

CORONAMELDER = RiskConfig(
    attenuation_bucket_thresholds_db=(56, 62, 73),
    attenuation_bucket_weights=(1.5, 1.0, 0.4, 0.0),
    report_type_weights=MappingProxyType({ReportType.CONFIRMED_TEST: 1.0}),
    infectiousness_weights=MappingProxyType({Infectiousness.STANDARD: 1.0, Infectiousness.HIGH: 1.0}),
    mapping=DiagnosisKeysDataMapping({day: Infectiousness.STANDARD for day in range(-2, 12)}),
    minimum_window_score=300,
    threshold_weighted_minutes=15,
    days_since_exposure_threshold=14,
)
"""CoronaMelder, the Netherlands (``minvws/nl-covid19-notification-app-backend``
``RiskCalculationParametersV3.json``; ``shared/spec/gaen.md`` §6.3b): 900 per day, windows ≥ 300."""

SWISSCOVID = RiskConfig(
    attenuation_bucket_thresholds_db=(54, 62),  # [0, 55) 1.0, [55, 63) 0.5, beyond nothing
    attenuation_bucket_weights=(1.0, 0.5, 0.0),
    threshold_weighted_minutes=15,
)
"""SwissCovid (``SwissCovid/swisscovid-config-backend`` ``GAENSDKConfig``: ``lowerThreshold`` 55,
``higherThreshold`` 63, ``factorLow`` 1.0, ``factorHigh`` 0.5, ``triggerThreshold`` 15 minutes a
day; the DP-3T SDK's "updated defaults … 55 and 63"): weighted minutes on typical attenuation."""

COCOA_CONFIGURATION = {
    "exposure_configuration": {
        "google_daily_summaries_config": {
            "attenuation_bucket_threshold_db": [50, 70, 90],
            "attenuation_bucket_weights": [2.5, 1.0, 1.0, 1.0],
            "days_since_exposure_threshold": 0,
            "infectiousness_weights": {"High": 1.0, "Standard": 1.0},
            "minimum_risk_score": 0.0,
            "report_type_weights": {"ConfirmedTest": 1.0, "ConfirmedClinicalDiagnosis": 1.0},
        },
    },
    "risk_calculation": {
        "format_version": 1,
        "DailySummary_DaySummary_ScoreSum": {"op": ">=", "value": 1350.0},
        "ExposureWindow_ScanInstance_SecondsSinceLastScanSum": {"op": ">=", "value": 900.0},
    },
}
"""COCOA's shape (``cocoa-mhlw/cocoa`` ``Chino.ExposureConfiguration`` and
``V1ExposureRiskCalculationConfiguration``). The day conditions are its shipped defaults
(``ExposureRiskCalculationConfigurationRepository.CreateDefaultConfiguration``: score sum ≥ 1350,
scan seconds ≥ 900); the bucket thresholds are Chino's defaults. The production weights file was
not available to us: the 2.5 at ≤ 50 dB is what a measured probe implies (10 minutes at 50 dB
score 1500), the other buckets keep Chino's default 1.0."""

COCOA = load_config(COCOA_CONFIGURATION, "cocoa")
"""COCOA, Japan: HIGH when the day's score sum reaches 1350 **and** its scans last 900 s."""

PRESETS: dict[str, RiskConfig] = {
    "bluezone default": BLUEZONE_DEFAULT,
    "Corona-Warn-App 2021": CORONA_WARN_APP_2021,
    "Corona-Warn-App 2020": CORONA_WARN_APP_2020,
    "CoronaMelder": CORONAMELDER,
    "SwissCovid": SWISSCOVID,
    "COCOA": COCOA,
}
