"""GAEN v2 risk scoring: matches → exposure windows → an assessment (close contact or not).

* ``windows``: the framework's objects, and exposure windows built from matches;
* ``config``: one :class:`RiskConfig` for every shipped configuration (Google's
  ``DailySummariesConfig``, Corona-Warn-App's parameters, COCOA's extra rule);
* ``assessment``: Google's daily summaries, and :func:`assess` (CWA's steps, which hold the rest);
* ``formats``: :func:`load_config` from the JSON the health authorities published;
* ``presets``: those configurations, with their sources, and our default (``docs/risk.md``).
"""

from __future__ import annotations

from protocol.export import ReportType
from protocol.risk.assessment import (
    Assessment,
    DailySummary,
    DayRisk,
    WindowRisk,
    assess,
    daily_summaries,
    is_close_contact,
    score_window,
    window_weighted_seconds,
)
from protocol.risk.config import (
    CWA_TRL_ENCODING,
    DEFAULT_RISK_CONFIG,
    DayCondition,
    LevelRange,
    MinutesAtAttenuationFilter,
    Range,
    RiskConfig,
    RiskConfigError,
    RiskLevel,
    TrlEncoding,
)
from protocol.risk.formats import load_config
from protocol.risk.presets import PRESETS
from protocol.risk.windows import (
    DEFAULT_MAPPING,
    DEFAULT_SECONDS_SINCE_LAST_SCAN,
    MAX_SECONDS_SINCE_LAST_SCAN,
    MAX_WINDOW_SECONDS,
    DiagnosisKeysDataMapping,
    ExposureWindow,
    Infectiousness,
    ScanInstance,
    attenuation,
    exposure_windows,
)

__all__ = [
    "CWA_TRL_ENCODING",
    "DEFAULT_MAPPING",
    "DEFAULT_RISK_CONFIG",
    "DEFAULT_SECONDS_SINCE_LAST_SCAN",
    "MAX_SECONDS_SINCE_LAST_SCAN",
    "MAX_WINDOW_SECONDS",
    "PRESETS",
    "Assessment",
    "DailySummary",
    "DayCondition",
    "DayRisk",
    "DiagnosisKeysDataMapping",
    "ExposureWindow",
    "Infectiousness",
    "LevelRange",
    "MinutesAtAttenuationFilter",
    "Range",
    "ReportType",
    "RiskConfig",
    "RiskConfigError",
    "RiskLevel",
    "ScanInstance",
    "TrlEncoding",
    "WindowRisk",
    "assess",
    "attenuation",
    "daily_summaries",
    "exposure_windows",
    "is_close_contact",
    "load_config",
    "score_window",
    "window_weighted_seconds",
]
