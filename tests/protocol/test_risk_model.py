"""protocol.risk's one model: validation bounded by real data, CWA's steps, COCOA's rule,
``load_config`` errors, and properties every preset must hold."""

from __future__ import annotations

import copy
import itertools
import math
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from protocol.risk import (
    DEFAULT_RISK_CONFIG,
    PRESETS,
    ExposureWindow,
    RiskConfig,
    RiskConfigError,
    RiskLevel,
    ScanInstance,
    assess,
    daily_summaries,
    is_close_contact,
    load_config,
)

DAY = 20_000

# Corona-Warn-App's suite parameters (tests/protocol/data/cwa/, defaultRiskCalculationConfiguration).
CWA_SUITE: dict[str, Any] = {
    "minutesAtAttenuationFilters": [],
    "trlFilters": [],
    "minutesAtAttenuationWeights": [
        {"attenuationRange": {"min": 0, "max": 63, "maxExclusive": True}, "weight": 0.8},
        {"attenuationRange": {"min": 63, "max": 73, "maxExclusive": True}, "weight": 1},
        {"attenuationRange": {"min": 73, "max": 79, "maxExclusive": True}, "weight": 0.1},
    ],
    "normalizedTimePerEWToRiskLevelMapping": [
        {"normalizedTimeRange": {"min": 0, "max": 9, "maxExclusive": True}, "riskLevel": 1},
        {"normalizedTimeRange": {"min": 9, "max": 9999}, "riskLevel": 2},
    ],
    "normalizedTimePerDayToRiskLevelMapping": [
        {"normalizedTimeRange": {"min": 5, "max": 9, "maxExclusive": True}, "riskLevel": 1},
        {"normalizedTimeRange": {"min": 9, "max": 99999}, "riskLevel": 2},
    ],
    "trlEncoding": {
        "infectiousnessOffsetStandard": 1,
        "infectiousnessOffsetHigh": 2,
        "reportTypeOffsetRecursive": 0,
        "reportTypeOffsetSelfReport": 2,
        "reportTypeOffsetConfirmedClinicalDiagnosis": 4,
        "reportTypeOffsetConfirmedTest": 6,
    },
    "transmissionRiskValueMapping": [
        {"transmissionRiskLevel": level, "transmissionRiskValue": value}
        for level, value in zip(range(1, 9), (0, 0, 0.6, 0.8, 1, 1.2, 1.4, 1.6), strict=True)
    ],
}


def _window(
    *scans: tuple[int, int], report: int = 1, infectiousness: int = 1, day: int = DAY
) -> ExposureWindow:
    """Scans as (attenuation for both min and typical, seconds since last scan)."""
    return ExposureWindow(day, tuple(ScanInstance(a, a, s) for a, s in scans), report, infectiousness, 0)


# ---- validation bounded by what real devices and CWA's suites contain -------------------------


@pytest.mark.parametrize(
    "fields",
    [(1.5, 50, 300), (50, "50", 300), (50, 50, 300.0), (True, 50, 300), (256, 50, 300), (50, -1, 300)],
)
def test_scan_instance_refuses_non_integers_and_attenuations_outside_0_255(fields: tuple[Any, ...]) -> None:
    with pytest.raises(ValueError):
        ScanInstance(*fields)


@pytest.mark.parametrize("fields", [(70, 25, 300), (0, 0, 0), (50, 50, -30), (50, 50, 3000), (255, 255, 1)])
def test_scan_instance_accepts_what_real_windows_hold(fields: tuple[int, int, int]) -> None:
    assert ScanInstance(*fields).seconds_since_last_scan == fields[2]


def test_a_window_takes_any_sequence_of_scans_and_keeps_a_tuple() -> None:
    window = ExposureWindow(DAY, [ScanInstance(50, 50, 300)], 1, 1, 0)  # type: ignore[arg-type]
    assert window.scan_instances == (ScanInstance(50, 50, 300),)
    assert ExposureWindow(DAY, (), 1, 1, 0).seconds == 0


def test_a_negative_gap_weighs_nothing_and_keeps_the_window() -> None:
    """Before, a negative secondsSinceLastScan dropped the whole window; CWA clamps it and says HIGH."""
    config = load_config(CWA_SUITE, "cwa")
    window = _window((70, -300), (70, 300), (70, 300), report=2)  # TRL 5 → 1.0; 10 min at weight 1.0
    result = assess([window], config)
    assert result.total_level == RiskLevel.HIGH and result.days[0].normalized_minutes == pytest.approx(10.0)


# ---- Corona-Warn-App's steps -------------------------------------------------------------------


def test_cwa_self_report_high_infectiousness_844_s_at_50_db_is_high() -> None:
    """The old single product of weights said 8.10 min; CWA's TRL table gives 0.8 × 0.8 × 844/60,
    9.0027, and its day sum to two decimals, 9.00."""
    result = assess([_window((50, 844), report=3, infectiousness=2)], load_config(CWA_SUITE, "cwa"))
    assert result.days[0].normalized_minutes == 9.0
    assert result.total_level == RiskLevel.HIGH and result.most_recent_day_high == DAY


def test_cwa_trl_table_ratios_high_over_standard() -> None:
    config = load_config(CWA_SUITE, "cwa")
    for report, ratio in ((3, 4 / 3), (2, 6 / 5), (1, 8 / 7)):
        assert config.multiplier(report, 2) / config.multiplier(report, 1) == pytest.approx(ratio)


def test_cwa_low_days_are_counted_and_not_warned() -> None:
    result = assess([_window((65, 360), report=2)], load_config(CWA_SUITE, "cwa"))  # 6 normalized minutes
    assert result.total_level == RiskLevel.LOW and not result.close_contact
    assert (result.days_low, result.most_recent_day_low, result.minimum_distinct_encounters_low) == (
        1,
        DAY,
        1,
    )


def test_minutes_at_attenuation_and_trl_filters_drop_windows() -> None:
    data = copy.deepcopy(CWA_SUITE)
    data["minutesAtAttenuationFilters"] = [
        {
            "attenuationRange": {"min": 0, "max": 73, "maxExclusive": True},
            "dropIfMinutesInRange": {"min": 0, "max": 10, "maxExclusive": True},
        }
    ]
    data["trlFilters"] = [{"dropIfTrlInRange": {"min": 1, "max": 2}}]
    config = load_config(data, "cwa")
    assert assess([_window((50, 540))], config).days == ()  # 9 minutes below 73 dB: dropped
    assert assess([_window((50, 600))], config).close_contact
    assert assess([_window((50, 3000), report=4)], config).days == ()  # RECURSIVE + STANDARD: TRL 1


def test_cwa_2021_preset_is_high_at_13_normalized_minutes() -> None:
    cwa = PRESETS["Corona-Warn-App 2021"]
    # CONFIRMED_TEST + STANDARD: TRL 7 → 1.4; at 65 dB weight 1.0: 556 s is 12.97, 557 s 12.997 → 13.00.
    assert not assess([_window((65, 556))], cwa).close_contact
    assert assess([_window((65, 557))], cwa).close_contact


# ---- COCOA: a score sum and a floor on the day's scan seconds -----------------------------------


def test_cocoa_rule_is_low_at_10_minutes_and_high_at_15_at_50_db() -> None:
    cocoa = PRESETS["COCOA"]
    ten = [_window((50, 300), (50, 300))]
    fifteen = [_window((50, 300), (50, 300), (50, 300))]
    assert daily_summaries(ten, cocoa)[0].score_sum == 1500  # the score alone passes 1350 …
    assert assess(ten, cocoa).total_level == RiskLevel.LOW  # … but 600 s of scans is under 900
    assert assess(fifteen, cocoa).total_level == RiskLevel.HIGH


def test_the_default_still_answers_through_daily_summaries() -> None:
    window = _window((45, 300), (45, 300), (45, 300))  # 15 min at weight 2.5
    assert is_close_contact(daily_summaries([window])[0])
    assert assess([window], DEFAULT_RISK_CONFIG).close_contact


# ---- load_config errors name the field -------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "fmt", "field"),
    [
        ({}, "nonsense", "format"),
        ({**CWA_SUITE, "trlEncoding": "x"}, "cwa", "cwa.trlEncoding"),
        (
            {k: v for k, v in CWA_SUITE.items() if k != "minutesAtAttenuationWeights"},
            "cwa",
            "minutesAtAttenuationWeights",
        ),
        ({**CWA_SUITE, "surprise": 1}, "cwa", "cwa.surprise"),
        (
            {
                **CWA_SUITE,
                "normalizedTimePerDayToRiskLevelMapping": [{"normalizedTimeRange": {}, "riskLevel": 3}],
            },
            "cwa",
            "riskLevel",
        ),
        ({"attenuationBucketThresholdDb": [1, 2]}, "gaen", "attenuationBucketThresholdDb"),
        (
            {
                "attenuationBucketThresholdDb": [56, 62, 73],
                "attenuationBucketWeights": [1.5, 1, 0.4, "0"],
                "reportTypeWeights": {},
                "infectiousnessWeights": {},
            },
            "gaen",
            "attenuationBucketWeights[3]",
        ),
    ],
)
def test_bad_configurations_raise_one_error_naming_the_field(
    data: dict[str, Any], fmt: str, field: str
) -> None:
    with pytest.raises(RiskConfigError, match=field.replace("[", r"\[").replace("]", r"\]")):
        load_config(data, fmt)


def test_config_errors_are_value_errors_and_name_the_field() -> None:
    with pytest.raises(ValueError, match="attenuation_bucket_weights"):
        RiskConfig((50, 60, 70), (1.0, 1.0, 1.0))


# ---- properties every preset holds -----------------------------------------------------------

_attenuations = st.integers(0, 120)
_seconds = st.integers(0, 300)
_NON_INCREASING = [
    name
    for name, config in PRESETS.items()
    if all(a >= b for a, b in itertools.pairwise(config.attenuation_bucket_weights))
]


def _minutes(config: RiskConfig, windows: list[ExposureWindow]) -> tuple[int, float]:
    result = assess(windows, config)
    return int(result.total_level), sum(d.normalized_minutes for d in result.days)


@pytest.mark.parametrize("name", sorted(PRESETS))
@given(attenuation=_attenuations, scans=st.lists(_seconds, max_size=12), more=_seconds)
def test_longer_exposure_never_lowers_the_risk(
    name: str, attenuation: int, scans: list[int], more: int
) -> None:
    config = PRESETS[name]
    shorter = [_window(*((attenuation, s) for s in scans))]
    longer = [_window(*((attenuation, s) for s in [*scans, more]))]
    assert assess(longer, config).total_level >= assess(shorter, config).total_level


@pytest.mark.parametrize("name", _NON_INCREASING)
@given(
    attenuation=_attenuations, closer=st.integers(0, 40), scans=st.lists(_seconds, min_size=1, max_size=12)
)
def test_closer_never_lowers_the_risk_where_weights_do_not_rise_with_attenuation(
    name: str, attenuation: int, closer: int, scans: list[int]
) -> None:
    config = PRESETS[name]
    far = [_window(*((attenuation, s) for s in scans))]
    near = [_window(*((max(attenuation - closer, 0), s) for s in scans))]
    assert assess(near, config).total_level >= assess(far, config).total_level


def test_cwa_2021_weights_rise_then_fall_so_it_is_left_out_of_the_attenuation_property() -> None:
    assert "Corona-Warn-App 2021" not in _NON_INCREASING
    assert set(PRESETS) >= {
        "bluezone default",
        "Corona-Warn-App 2020",
        "Corona-Warn-App 2021",
        "CoronaMelder",
        "SwissCovid",
        "COCOA",
    }


def test_cocoa_loader_reads_its_json_with_enum_names_and_numbers_and_skips_nop() -> None:
    data = {
        "exposure_configuration": {
            "google_daily_summaries_config": {
                "attenuation_bucket_threshold_db": [50, 70, 90],
                "attenuation_bucket_weights": [2.5, 1.0, 1.0, 1.0],
                "days_since_exposure_threshold": 0,
                "infectiousness_weights": {"High": 1.0, "1": 1.0},
                "minimum_risk_score": 0.0,
                "report_type_weights": {"ConfirmedTest": 1.0},
            },
            "google_diagnosis_keys_data_mapping_config": {
                "infectiousness_for_days_since_onset_of_symptoms": {str(d): 1 for d in range(-14, 15)},
                "infectiousness_when_days_since_onset_missing": "Standard",
                "report_type_when_missing": 1,
            },
        },
        "risk_calculation": {
            "format_version": 1,
            "DailySummary_DaySummary_ScoreSum": {"op": ">=", "value": 1350.0},
            "DailySummary_DaySummary_WeightedDurationAverage": {"op": "NOP", "value": 0.0},
            "ExposureWindow_ScanInstance_SecondsSinceLastScanSum": {"op": ">=", "value": 900.0},
        },
    }
    config = load_config(data, "cocoa")
    assert [c.quantity for c in config.day_conditions] == ["score_sum", "scan_seconds"]
    assert config.infectiousness_weights == {2: 1.0, 1: 1.0} and config.mapping.infectiousness(-14) == 1
    assert assess([_window((50, 300), (50, 300), (50, 300))], config).close_contact
    nop = {**data, "risk_calculation": {"DailySummary_DaySummary_ScoreSum": {"op": "NOP", "value": 0}}}
    with pytest.raises(RiskConfigError, match="every condition is NOP"):
        load_config(nop, "cocoa")


def test_gaen_loader_reads_coronamelders_published_shape() -> None:
    data = {
        "minimumRiskScore": 900,
        "reportTypeWeights": [0, 1.0, 0, 0, 0, 0],
        "infectiousnessWeights": [0, 1.0, 1.0],
        "attenuationBucketThresholds": [56, 62, 73],
        "attenuationBucketWeights": [1.5, 1.0, 0.4, 0.0],
        "daysSinceExposureThreshold": 14,
        "minimumWindowScore": 300,
        "daysSinceOnsetToInfectiousness": [
            {"daysSinceOnsetOfSymptoms": d, "infectiousness": 1 if -2 <= d <= 11 else 0}
            for d in range(-14, 15)
        ],
        "infectiousnessWhenDaysSinceOnsetMissing": 1,
    }
    config = load_config(data, "gaen")
    melder = PRESETS["CoronaMelder"]
    assert config.threshold_weighted_minutes == 15 and config.minimum_window_score == 300
    assert config.report_type_weights[1] == 1.0 and config.report_type_weights[3] == 0.0
    assert dict(config.mapping.days_since_onset_to_infectiousness) == {
        d: 1 if -2 <= d <= 11 else 0 for d in range(-14, 15)
    }
    for scans in ([(55, 300)] * 2, [(55, 300)] * 3, [(70, 300)] * 6):
        window = _window(*scans)
        assert assess([window], config) == assess([window], melder)
    with pytest.raises(RiskConfigError, match=r"gaen\.daysSinceOnsetToInfectiousness"):
        load_config(
            {
                **data,
                "daysSinceOnsetToInfectiousness": [{"daysSinceOnsetOfSymptoms": 20, "infectiousness": 1}],
            },
            "gaen",
        )


def test_reach_is_the_farthest_attenuation_that_still_weighs() -> None:
    assert DEFAULT_RISK_CONFIG.reach_db() == 52
    assert all(DEFAULT_RISK_CONFIG.bucket_weight(a) == 0 for a in range(53, 120))
    assert DEFAULT_RISK_CONFIG.bucket_weight(52) > 0
    assert RiskConfig((50, 60), (1.0, 0.0, 0.5)).reach_db() == math.inf
    assert RiskConfig((50, 60), (0.0, 0.0, 0.0)).reach_db() == 0
