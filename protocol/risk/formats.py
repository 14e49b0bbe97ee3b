"""``load_config``: a :class:`RiskConfig` from the JSON health authorities published.

* ``"gaen"``: Google's ``DailySummariesConfig`` and ``DiagnosisKeysDataMapping`` in camelCase, as
  CoronaMelder's ``RiskCalculationParameters`` and ENX publish them, with the app's per-day
  threshold (``minimumRiskScore`` or ``thresholdWeightedMinutes``);
* ``"cwa"``: Corona-Warn-App's ``riskCalculationParameters`` (the shape of its test suites'
  ``defaultRiskCalculationConfiguration``);
* ``"cocoa"``: ``{"exposure_configuration": <COCOA configuration.json>,
  "risk_calculation": <COCOA risk_calculation_configuration.json>}``.

Anything malformed or unsupported raises one :class:`RiskConfigError` naming the field.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from protocol.risk.config import (
    DayCondition,
    LevelRange,
    MinutesAtAttenuationFilter,
    Range,
    RiskConfig,
    RiskConfigError,
    RiskLevel,
    TrlEncoding,
)
from protocol.risk.windows import DEFAULT_MAPPING, DiagnosisKeysDataMapping

__all__ = ["FORMATS", "load_config"]

_REPORT_TYPES = {
    "UNKNOWN": 0,
    "CONFIRMED_TEST": 1,
    "CONFIRMED_CLINICAL_DIAGNOSIS": 2,
    "SELF_REPORT": 3,
    "RECURSIVE": 4,
    "REVOKED": 5,
}
_INFECTIOUSNESS = {"NONE": 0, "STANDARD": 1, "HIGH": 2}


def load_config(data: Mapping[str, Any], format: str) -> RiskConfig:
    """Parse one published configuration; ``format`` is ``"gaen"``, ``"cwa"`` or ``"cocoa"``."""
    loader = FORMATS.get(format)
    if loader is None:
        raise RiskConfigError(f"format: {format!r} is not one of {', '.join(sorted(FORMATS))}")
    if not isinstance(data, Mapping):
        raise RiskConfigError(f"{format}: the configuration must be a JSON object")
    try:
        return loader(data)
    except RiskConfigError:
        raise
    except ValueError as exc:  # DiagnosisKeysDataMapping's own checks
        raise RiskConfigError(f"{format}: {exc}") from None


# ---- typed access that names the field ---------------------------------------------------------


def _get(data: Mapping[str, Any], key: str, where: str, default: Any = ...) -> Any:
    if key not in data:
        if default is ...:
            raise RiskConfigError(f"{where}{key}: missing")
        return default
    return data[key]


def _number(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise RiskConfigError(f"{where}: must be a number, got {value!r}")
    return float(value)


def _integer(value: Any, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int | float) or value != int(value):
        raise RiskConfigError(f"{where}: must be an integer, got {value!r}")
    return int(value)


def _list(value: Any, where: str) -> Sequence[Any]:
    if not isinstance(value, list):
        raise RiskConfigError(f"{where}: must be a list, got {type(value).__name__}")
    return value


def _object(value: Any, where: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise RiskConfigError(f"{where}: must be an object, got {type(value).__name__}")
    return value


def _enum_key(key: str, names: Mapping[str, int], where: str) -> int:
    if key.upper() in names:
        return names[key.upper()]
    try:
        return int(key)
    except ValueError:
        raise RiskConfigError(f"{where}: unknown key {key!r}") from None


# ---- Corona-Warn-App -------------------------------------------------------------------------


def _range(value: Any, where: str) -> Range:
    r = _object(value, where)
    unknown = set(r) - {"min", "max", "minExclusive", "maxExclusive"}
    if unknown:
        raise RiskConfigError(f"{where}: unknown field {sorted(unknown)[0]!r}")
    return Range(
        _number(r.get("min", 0), f"{where}.min"),
        _number(r.get("max", 0), f"{where}.max"),
        bool(r.get("minExclusive", False)),
        bool(r.get("maxExclusive", False)),
    )


def _levels(value: Any, where: str) -> tuple[LevelRange, ...]:
    out = []
    for i, item in enumerate(_list(value, where)):
        entry = _object(item, f"{where}[{i}]")
        level = _integer(_get(entry, "riskLevel", f"{where}[{i}]."), f"{where}[{i}].riskLevel")
        if level not in (1, 2):
            raise RiskConfigError(f"{where}[{i}].riskLevel: must be 1 (LOW) or 2 (HIGH), got {level}")
        out.append(
            LevelRange(
                _range(
                    _get(entry, "normalizedTimeRange", f"{where}[{i}]."), f"{where}[{i}].normalizedTimeRange"
                ),
                RiskLevel(level),
            )
        )
    return tuple(out)


def _weights_to_buckets(ranges: Sequence[tuple[Range, float]]) -> tuple[tuple[int, ...], tuple[float, ...]]:
    """CWA's weights on attenuation ranges as ≤-threshold buckets over the integers 0..255."""
    per_db = [next((w for r, w in ranges if db in r), 0.0) for db in range(256)]
    thresholds = [db for db in range(255) if per_db[db] != per_db[db + 1]]
    if not thresholds:
        return (255,), (per_db[0], per_db[0])
    weights = [per_db[t] for t in thresholds] + [per_db[255]]
    return tuple(thresholds), tuple(weights)


def _cwa(data: Mapping[str, Any]) -> RiskConfig:
    w = "cwa."
    known = {
        "minutesAtAttenuationFilters",
        "trlFilters",
        "minutesAtAttenuationWeights",
        "normalizedTimePerEWToRiskLevelMapping",
        "normalizedTimePerDayToRiskLevelMapping",
        "trlEncoding",
        "transmissionRiskLevelMultiplier",
        "transmissionRiskValueMapping",
        "maxEncounterAgeInDays",
    }
    unknown = set(data) - known
    if unknown:
        raise RiskConfigError(f"{w}{sorted(unknown)[0]}: not a Corona-Warn-App risk parameter")
    filters = []
    for i, item in enumerate(
        _list(data.get("minutesAtAttenuationFilters", []), f"{w}minutesAtAttenuationFilters")
    ):
        where = f"{w}minutesAtAttenuationFilters[{i}]"
        entry = _object(item, where)
        filters.append(
            MinutesAtAttenuationFilter(
                _range(_get(entry, "attenuationRange", f"{where}."), f"{where}.attenuationRange"),
                _range(_get(entry, "dropIfMinutesInRange", f"{where}."), f"{where}.dropIfMinutesInRange"),
            )
        )
    trl_filters = []
    for i, item in enumerate(_list(data.get("trlFilters", []), f"{w}trlFilters")):
        where = f"{w}trlFilters[{i}]"
        entry = _object(item, where)
        trl_filters.append(_range(_get(entry, "dropIfTrlInRange", f"{where}."), f"{where}.dropIfTrlInRange"))
    weighted = []
    for i, item in enumerate(
        _list(_get(data, "minutesAtAttenuationWeights", w), f"{w}minutesAtAttenuationWeights")
    ):
        where = f"{w}minutesAtAttenuationWeights[{i}]"
        entry = _object(item, where)
        weight = _number(_get(entry, "weight", f"{where}."), f"{where}.weight")
        weighted.append(
            (_range(_get(entry, "attenuationRange", f"{where}."), f"{where}.attenuationRange"), weight)
        )
    thresholds, weights = _weights_to_buckets(weighted)
    encoding = _object(_get(data, "trlEncoding", w), f"{w}trlEncoding")

    def offset(name: str) -> int:
        return _integer(encoding.get(name, 0), f"{w}trlEncoding.{name}")

    trl = TrlEncoding(
        report_type_offsets={
            1: offset("reportTypeOffsetConfirmedTest"),
            2: offset("reportTypeOffsetConfirmedClinicalDiagnosis"),
            3: offset("reportTypeOffsetSelfReport"),
            4: offset("reportTypeOffsetRecursive"),
        },
        infectiousness_offsets={
            1: offset("infectiousnessOffsetStandard"),
            2: offset("infectiousnessOffsetHigh"),
        },
    )
    if "transmissionRiskValueMapping" in data:
        values = {}
        for i, item in enumerate(
            _list(data["transmissionRiskValueMapping"], f"{w}transmissionRiskValueMapping")
        ):
            where = f"{w}transmissionRiskValueMapping[{i}]"
            entry = _object(item, where)
            level = _integer(
                _get(entry, "transmissionRiskLevel", f"{where}."), f"{where}.transmissionRiskLevel"
            )
            values[level] = _number(
                _get(entry, "transmissionRiskValue", f"{where}."), f"{where}.transmissionRiskValue"
            )
    elif "transmissionRiskLevelMultiplier" in data:
        multiplier = _number(data["transmissionRiskLevelMultiplier"], f"{w}transmissionRiskLevelMultiplier")
        values = {level: level * multiplier for level in range(0, 11)}
    else:
        raise RiskConfigError(
            f"{w}transmissionRiskValueMapping: missing (or transmissionRiskLevelMultiplier)"
        )
    return RiskConfig(
        attenuation_bucket_thresholds_db=thresholds,
        attenuation_bucket_weights=weights,
        bucket_attenuation="min",
        trl_encoding=trl,
        transmission_risk_values=values,
        minutes_at_attenuation_filters=tuple(filters),
        trl_filters=tuple(trl_filters),
        window_levels=_levels(
            _get(data, "normalizedTimePerEWToRiskLevelMapping", w),
            f"{w}normalizedTimePerEWToRiskLevelMapping",
        ),
        day_levels=_levels(
            _get(data, "normalizedTimePerDayToRiskLevelMapping", w),
            f"{w}normalizedTimePerDayToRiskLevelMapping",
        ),
        mapping=DEFAULT_MAPPING,
        day_minutes_decimals=2,
    )


# ---- Google's DailySummariesConfig -----------------------------------------------------------


def _weights_by_enum(value: Any, names: Mapping[str, int], where: str) -> dict[int, float]:
    if isinstance(value, list):  # indexed by the enum value, as some apps publish it
        return {i: _number(x, f"{where}[{i}]") for i, x in enumerate(value)}
    table = _object(value, where)
    return {_enum_key(str(k), names, where): _number(v, f"{where}.{k}") for k, v in table.items()}


def _mapping(data: Mapping[str, Any], where: str) -> DiagnosisKeysDataMapping:
    table = data.get("daysSinceOnsetToInfectiousness")
    if table is None:
        return DEFAULT_MAPPING
    if isinstance(table, list):
        items = []
        for i, entry in enumerate(table):
            entry = _object(entry, f"{where}daysSinceOnsetToInfectiousness[{i}]")
            items.append((entry.get("daysSinceOnsetOfSymptoms"), entry.get("infectiousness")))
    else:
        items = list(_object(table, f"{where}daysSinceOnsetToInfectiousness").items())
    days = {}
    for day, value in items:
        name = f"{where}daysSinceOnsetToInfectiousness.{day}"
        infectiousness = (
            _INFECTIOUSNESS[value.upper()]
            if isinstance(value, str) and value.upper() in _INFECTIOUSNESS
            else _integer(value, name)
        )
        days[_integer(int(day) if isinstance(day, str) and day.lstrip("-").isdigit() else day, name)] = (
            infectiousness
        )
    if any(not -14 <= day <= 14 for day in days):
        raise RiskConfigError(
            f"{where}daysSinceOnsetToInfectiousness: days since onset must be within -14..14"
        )
    return DiagnosisKeysDataMapping(
        days,
        report_type_when_missing=_integer(
            data.get("reportTypeWhenMissing", 1), f"{where}reportTypeWhenMissing"
        ),
        infectiousness_when_days_since_onset_missing=_integer(
            data.get("infectiousnessWhenDaysSinceOnsetMissing", 1),
            f"{where}infectiousnessWhenDaysSinceOnsetMissing",
        ),
    )


def _gaen(data: Mapping[str, Any]) -> RiskConfig:
    w = "gaen."
    # CoronaMelder's early files say attenuationBucketThresholds.
    key = (
        "attenuationBucketThresholds"
        if "attenuationBucketThresholds" in data
        else "attenuationBucketThresholdDb"
    )
    thresholds = tuple(
        _integer(x, f"{w}{key}[{i}]") for i, x in enumerate(_list(_get(data, key, w), f"{w}{key}"))
    )
    if len(thresholds) != 3:
        raise RiskConfigError(f"{w}{key}: Google's has exactly 3 thresholds, got {len(thresholds)}")
    weights = tuple(
        _number(x, f"{w}attenuationBucketWeights[{i}]")
        for i, x in enumerate(
            _list(_get(data, "attenuationBucketWeights", w), f"{w}attenuationBucketWeights")
        )
    )
    if "minimumRiskScore" in data:
        threshold = _number(data["minimumRiskScore"], f"{w}minimumRiskScore") / 60
    else:
        threshold = _number(data.get("thresholdWeightedMinutes", 15), f"{w}thresholdWeightedMinutes")
    return RiskConfig(
        attenuation_bucket_thresholds_db=thresholds,
        attenuation_bucket_weights=weights,
        report_type_weights=_weights_by_enum(
            _get(data, "reportTypeWeights", w), _REPORT_TYPES, f"{w}reportTypeWeights"
        ),
        infectiousness_weights=_weights_by_enum(
            _get(data, "infectiousnessWeights", w), _INFECTIOUSNESS, f"{w}infectiousnessWeights"
        ),
        mapping=_mapping(data, w),
        minimum_window_score=_number(data.get("minimumWindowScore", 0), f"{w}minimumWindowScore"),
        threshold_weighted_minutes=threshold,
        days_since_exposure_threshold=_integer(
            data.get("daysSinceExposureThreshold", 0), f"{w}daysSinceExposureThreshold"
        ),
    )


_COCOA_QUANTITIES = {
    "DailySummary_DaySummary_ScoreSum": "score_sum",
    "DailySummary_DaySummary_WeightedDurationAverage": "weighted_duration_average",
    "ExposureWindow_ScanInstance_SecondsSinceLastScanSum": "scan_seconds",
    "ExposureWindow_ScanInstance_TypicalAttenuationDb_Max": "typical_attenuation_max",
    "ExposureWindow_ScanInstance_TypicalAttenuationDb_Min": "typical_attenuation_min",
}


def _name_key(key: str, names: Mapping[str, int], where: str) -> int:
    """COCOA (Newtonsoft) writes enum keys as ``ConfirmedTest`` or as numbers."""
    flat = {name.replace("_", ""): value for name, value in names.items()}
    if key.upper().replace("_", "") in flat:
        return flat[key.upper().replace("_", "")]
    return _enum_key(key, names, where)


def _cocoa(data: Mapping[str, Any]) -> RiskConfig:
    w = "cocoa."
    exposure = _object(_get(data, "exposure_configuration", w), f"{w}exposure_configuration")
    risk = _object(_get(data, "risk_calculation", w), f"{w}risk_calculation")
    e = f"{w}exposure_configuration.google_daily_summaries_config"
    daily = _object(_get(exposure, "google_daily_summaries_config", f"{w}exposure_configuration."), e)
    t, b = "attenuation_bucket_threshold_db", "attenuation_bucket_weights"
    thresholds = tuple(
        _integer(x, f"{e}.{t}[{i}]") for i, x in enumerate(_list(_get(daily, t, f"{e}."), f"{e}.{t}"))
    )
    weights = tuple(
        _number(x, f"{e}.{b}[{i}]") for i, x in enumerate(_list(_get(daily, b, f"{e}."), f"{e}.{b}"))
    )

    def by_name(key: str, names: Mapping[str, int]) -> dict[int, float]:
        table = _object(_get(daily, key, f"{e}."), f"{e}.{key}")
        return {
            _name_key(str(k), names, f"{e}.{key}"): _number(v, f"{e}.{key}.{k}") for k, v in table.items()
        }

    m = f"{w}exposure_configuration.google_diagnosis_keys_data_mapping_config"
    mapping_data = _object(exposure.get("google_diagnosis_keys_data_mapping_config", {}), m)
    mapping = DEFAULT_MAPPING
    if "infectiousness_for_days_since_onset_of_symptoms" in mapping_data:
        table = _object(mapping_data["infectiousness_for_days_since_onset_of_symptoms"], m)
        days = {
            _integer(int(str(day)), f"{m}.{day}"): _name_key(str(value), _INFECTIOUSNESS, f"{m}.{day}")
            for day, value in table.items()
        }
        mapping = DiagnosisKeysDataMapping(
            days,
            report_type_when_missing=_name_key(
                str(mapping_data.get("report_type_when_missing", 1)),
                _REPORT_TYPES,
                f"{m}.report_type_when_missing",
            ),
            infectiousness_when_days_since_onset_missing=_name_key(
                str(mapping_data.get("infectiousness_when_days_since_onset_missing", 1)),
                _INFECTIOUSNESS,
                f"{m}.infectiousness_when_days_since_onset_missing",
            ),
        )
    conditions = []
    for key, value in risk.items():
        if key == "format_version":
            continue
        where = f"{w}risk_calculation.{key}"
        if key not in _COCOA_QUANTITIES:
            raise RiskConfigError(f"{where}: not a COCOA risk condition")
        threshold = _object(value, where)
        op = str(threshold.get("op", threshold.get("Op", "NOP")))
        if op == "NOP":
            continue
        conditions.append(
            DayCondition(
                _COCOA_QUANTITIES[key],  # type: ignore[arg-type]
                op,
                _number(threshold.get("value", threshold.get("Value", 0.0)), f"{where}.value"),
            )
        )
    if not conditions:
        raise RiskConfigError(f"{w}risk_calculation: every condition is NOP, so COCOA never warns")
    return RiskConfig(
        attenuation_bucket_thresholds_db=thresholds,
        attenuation_bucket_weights=weights,
        report_type_weights=by_name("report_type_weights", _REPORT_TYPES),
        infectiousness_weights=by_name("infectiousness_weights", _INFECTIOUSNESS),
        mapping=mapping,
        # Chino names the window score "minimum_risk_score" (DailySummariesConfig.MinimumWindowScore).
        minimum_window_score=_number(daily.get("minimum_risk_score", 0.0), f"{e}.minimum_risk_score"),
        days_since_exposure_threshold=_integer(
            daily.get("days_since_exposure_threshold", 0), f"{e}.days_since_exposure_threshold"
        ),
        day_conditions=tuple(conditions),
    )


FORMATS: dict[str, Callable[[Mapping[str, Any]], RiskConfig]] = {"gaen": _gaen, "cwa": _cwa, "cocoa": _cocoa}
