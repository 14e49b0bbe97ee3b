"""protocol.risk: GAEN v2 arithmetic on hand-worked examples, windows, mapping edge cases."""

from __future__ import annotations

import pytest

from protocol.advert import Metadata
from protocol.export import DiagnosisKey, ReportType
from protocol.matching import Match, Sighting
from protocol.risk import (
    DEFAULT_RISK_CONFIG,
    DiagnosisKeysDataMapping,
    ExposureWindow,
    Infectiousness,
    RiskConfig,
    ScanInstance,
    attenuation,
    daily_summaries,
    exposure_windows,
    is_close_contact,
)

DAY = 20_000  # UTC day number
T0 = DAY * 86_400
NEUTRAL = RiskConfig((30, 50, 70), (1.0, 1.0, 1.0, 1.0))  # all weights 1.0, as CWA requests summaries
CORONAMELDER = RiskConfig(
    attenuation_bucket_thresholds_db=(56, 62, 73),
    attenuation_bucket_weights=(1.5, 1.0, 0.4, 0.0),
    minimum_window_score=300,
    threshold_weighted_minutes=15,
)


def _window(*scans: tuple[int, int], day: int = DAY, report: int = 1, inf: int = 1) -> ExposureWindow:
    """Scans as (typical attenuation, seconds since last scan); min attenuation = typical − 3."""
    instances = tuple(ScanInstance(t - 3, t, s) for t, s in scans)
    return ExposureWindow(day, instances, report, inf, 0)


def _key(onset: int | None = 0, report_type: int = ReportType.CONFIRMED_TEST) -> DiagnosisKey:
    return DiagnosisKey(
        bytes(range(16)), DAY * 144, report_type=report_type, days_since_onset_of_symptoms=onset
    )


def _match(key: DiagnosisKey, when: float, rssi: int, tx: int = -15, max_rssi: int | None = None) -> Match:
    s = Sighting(bytes(16), bytes(4), rssi, when, max_rssi=max_rssi)
    return Match(key, int(when // 600), (s,), Metadata(tx))


# ---- attenuation ---------------------------------------------------------------------------


def test_attenuation_is_tx_power_minus_corrected_rssi() -> None:
    assert attenuation(-15, -75) == 60
    assert attenuation(-15, -75, rssi_correction_db=5) == 55


def test_attenuation_is_clamped_at_zero() -> None:
    assert attenuation(-15, -10) == 0


# ---- daily summaries: the spec's worked numbers ---------------------------------------------


def test_fifteen_minutes_with_all_weights_one_is_900() -> None:
    """gaen.md §6.2: with all weights 1.0, 15 minutes of exposure = 900."""
    (summary,) = daily_summaries([_window((40, 300), (45, 300), (60, 300))], NEUTRAL)
    assert summary.weighted_duration_sum == 900
    assert summary.score_sum == 900 and summary.weighted_minutes == 15


def test_buckets_are_inclusive_at_their_upper_threshold() -> None:
    config = RiskConfig((56, 62, 73), (1.5, 1.0, 0.4, 0.0))
    weights = [config.bucket_weight(a) for a in (56, 57, 62, 63, 73, 74)]
    assert weights == [1.5, 1.0, 1.0, 0.4, 0.4, 0.0]


def test_coronamelder_hand_worked_day() -> None:
    """5 scans × 180 s at 50 dB (immediate, 1.5) = 1350 s; 2 × 120 s at 70 dB (medium, 0.4) = 96 s."""
    close = _window(*[(50, 180)] * 5)
    far = _window((70, 120), (70, 120))
    summaries = daily_summaries([close, far], CORONAMELDER)
    # The far window scores 96 < minimumWindowScore 300 and is dropped.
    assert summaries[0].score_sum == pytest.approx(1350)
    assert summaries[0].maximum_score == pytest.approx(1350)
    assert is_close_contact(summaries[0], CORONAMELDER)  # 22.5 weighted minutes >= 15


def test_report_type_and_infectiousness_weights_multiply_the_score() -> None:
    config = RiskConfig(
        (56, 62, 73),
        (1.0, 1.0, 1.0, 0.0),
        report_type_weights={1: 1.0, 3: 0.5},
        infectiousness_weights={1: 1.0, 2: 2.0},
    )
    (summary,) = daily_summaries([_window((50, 600), report=3, inf=2)], config)
    assert summary.score_sum == pytest.approx(600 * 0.5 * 2.0)
    assert summary.weighted_duration_sum == 600


def test_unweighted_report_type_contributes_nothing() -> None:
    config = RiskConfig((56, 62, 73), (1.0, 1.0, 1.0, 0.0), report_type_weights={1: 1.0})
    (summary,) = daily_summaries([_window((50, 600), report=3)], config)
    assert summary.score_sum == 0
    assert not is_close_contact(summary, config)


def test_revoked_and_non_infectious_windows_contribute_nothing() -> None:
    windows = [_window((50, 900), report=ReportType.REVOKED), _window((50, 900), inf=Infectiousness.NONE)]
    assert daily_summaries(windows, NEUTRAL) == []


def test_summaries_are_per_utc_day_oldest_first() -> None:
    summaries = daily_summaries([_window((50, 300), day=DAY + 1), _window((50, 600), day=DAY)], NEUTRAL)
    assert [(s.day, s.score_sum) for s in summaries] == [(DAY, 600), (DAY + 1, 300)]


def test_threshold_is_reached_at_exactly_the_configured_minutes() -> None:
    config = RiskConfig((56, 62, 73), (1.0, 1.0, 1.0, 0.0), threshold_weighted_minutes=15)
    (at,) = daily_summaries([_window((50, 900))], config)
    (below,) = daily_summaries([_window((50, 899))], config)
    assert is_close_contact(at, config) and not is_close_contact(below, config)


def test_min_attenuation_buckets_use_the_strongest_report() -> None:
    typical = RiskConfig((56, 62, 73), (1.0, 0.0, 0.0, 0.0))
    strongest = RiskConfig((56, 62, 73), (1.0, 0.0, 0.0, 0.0), bucket_attenuation="min")
    window = _window((58, 300))  # typical 58 (near, weight 0), min 55 (immediate, weight 1)
    assert daily_summaries([window], typical)[0].score_sum == 0
    assert daily_summaries([window], strongest)[0].score_sum == 300


@pytest.mark.parametrize(
    "kwargs",
    [
        {"attenuation_bucket_thresholds_db": (60, 60, 70)},
        {"attenuation_bucket_thresholds_db": (60, 70, 256)},
        {"attenuation_bucket_weights": (1.0, 1.0, 2.6, 0.0)},
        {"report_type_weights": {1: -1.0}},
        {"threshold_weighted_minutes": 0},
        {"bucket_attenuation": "mean"},
    ],
)
def test_invalid_configurations_are_refused(kwargs: dict[str, object]) -> None:
    base: dict[str, object] = {
        "attenuation_bucket_thresholds_db": (56, 62, 73),
        "attenuation_bucket_weights": (1.0, 1.0, 0.5, 0.0),
    }
    with pytest.raises(ValueError):
        RiskConfig(**{**base, **kwargs})  # type: ignore[arg-type]


# ---- mapping ---------------------------------------------------------------------------------


def test_mapping_covers_minus_14_to_14_and_unlisted_days_are_none() -> None:
    mapping = DiagnosisKeysDataMapping({-14: 2, 0: 1, 14: 1})
    assert [mapping.infectiousness(d) for d in (-14, -13, 0, 14)] == [2, 0, 1, 1]


def test_mapping_refuses_days_beyond_14() -> None:
    with pytest.raises(ValueError):
        DiagnosisKeysDataMapping({15: 1})
    with pytest.raises(ValueError):
        DiagnosisKeysDataMapping({0: 3})


def test_missing_onset_and_report_type_take_the_mapping_defaults() -> None:
    mapping = DiagnosisKeysDataMapping(
        {}, report_type_when_missing=2, infectiousness_when_days_since_onset_missing=2
    )
    assert mapping.infectiousness(None) == 2
    assert mapping.report_type(ReportType.UNKNOWN) == 2
    assert mapping.report_type(ReportType.SELF_REPORT) == 3


def test_default_mapping_is_standard_from_two_days_before_onset_to_eleven_after() -> None:
    mapping = DEFAULT_RISK_CONFIG.mapping
    assert [mapping.infectiousness(d) for d in (-3, -2, 11, 12)] == [0, 1, 1, 0]


# ---- exposure windows ------------------------------------------------------------------------


def test_scans_become_instances_with_min_and_typical_attenuation() -> None:
    key = _key()
    s1 = Sighting(bytes(16), bytes(4), -70, T0 + 1000, max_rssi=-64, count=3)
    s2 = Sighting(bytes(16), bytes(4), -80, T0 + 1000, max_rssi=-78, count=1)
    (window,) = exposure_windows([Match(key, 0, (s1, s2), Metadata(-15))], scan_times=[T0 + 760, T0 + 1000])
    (scan,) = window.scan_instances
    assert scan.min_attenuation_db == 49  # -15 - (-64)
    assert scan.typical_attenuation_db == round((55 * 3 + 65) / 4)  # count-weighted mean, dB domain
    assert scan.seconds_since_last_scan == 240
    assert (window.day, window.report_type, window.infectiousness) == (DAY, 1, 1)


def test_seconds_since_last_scan_is_capped_at_300_and_defaults_to_120() -> None:
    key = _key()
    matches = [_match(key, T0 + 100, -70), _match(key, T0 + 1000, -70)]
    (window,) = exposure_windows(matches, scan_times=[T0 + 100, T0 + 1000])
    assert [s.seconds_since_last_scan for s in window.scan_instances] == [120, 300]
    (window,) = exposure_windows(matches)
    assert [s.seconds_since_last_scan for s in window.scan_instances] == [120, 120]


def test_windows_split_at_thirty_minutes() -> None:
    key = _key()
    times = [T0 + 3600 + k * 240 for k in range(16)]  # 64 minutes of scans every 4 minutes
    windows = exposure_windows([_match(key, t, -70) for t in times], scan_times=times)
    # 0, 240, …, 1680 s fit in the first window; the scan at 1920 s starts the second.
    assert [len(w.scan_instances) for w in windows] == [8, 8]


def test_windows_split_at_utc_midnight() -> None:
    key = _key()
    times = [T0 + 86_400 - 480, T0 + 86_400 - 240, T0 + 86_400, T0 + 86_400 + 240]
    windows = exposure_windows([_match(key, t, -70) for t in times], scan_times=times)
    assert [(w.day, len(w.scan_instances)) for w in windows] == [(DAY, 2), (DAY + 1, 2)]


def test_windows_are_per_key() -> None:
    a, b = _key(), DiagnosisKey(bytes(16), DAY * 144, days_since_onset_of_symptoms=0)
    windows = exposure_windows([_match(a, T0 + 60, -70), _match(b, T0 + 60, -70)])
    assert len(windows) == 2


def test_revoked_keys_and_keys_outside_the_infectious_period_make_no_windows() -> None:
    revoked = _key(report_type=ReportType.REVOKED)
    early = _key(onset=-5)
    assert exposure_windows([_match(revoked, T0 + 60, -60), _match(early, T0 + 60, -60)]) == []


def test_default_configuration_warns_the_sitting_pair_and_not_the_walk_by() -> None:
    """25 min at about 1 m (typical ~45 dB) warns; 2 min passing at the same distance does not."""
    key = _key()
    sitting = [T0 + 36_000 + k * 270 for k in range(6)]
    walk_by = [T0 + 50_000]
    for times, expected in ((sitting, True), (walk_by, False)):
        windows = exposure_windows([_match(key, t, -60) for t in times], scan_times=times)
        summaries = daily_summaries(windows)
        assert any(is_close_contact(s) for s in summaries) is expected
