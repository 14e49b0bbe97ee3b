"""protocol.calibration: GAEN's attenuation with both sides' calibration, and the known table."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from protocol import risk
from protocol.calibration import KNOWN_CALIBRATIONS, CalibrationConfidence, attenuation, calibration_for


def test_the_epfl_samsungs_attenuation_is_minus_24_minus_rssi_plus_5() -> None:
    """DP-3T's GAEN processing: attenuation = −24 − (RSSI + 5) for the Samsung models of both experiments."""
    for model in ("SM-G973F", "SM-G970F", "SM-A405FN", "SM-A515F", "SM-A908B", "SM-G981B"):
        entry = calibration_for(model.lower())
        assert entry is not None and (entry.rssi_correction_db, entry.tx_power_dbm) == (5.0, -24.0)
        assert "2020-08-13" in entry.source
    sam = KNOWN_CALIBRATIONS["SM-G973F"]
    assert attenuation(sam.tx_power_dbm, -80, sam.rssi_correction_db) == 51
    assert calibration_for("Pixel 4") is None


def test_attenuation_is_clamped_at_zero_and_rounds_half_away_from_zero() -> None:
    assert attenuation(-24, -10, 5.0) == 0
    assert attenuation(-15, -75.5) == 61 and attenuation(-15, -74.4) == 59
    assert risk.attenuation is attenuation  # one definition, re-exported where windows are made


@given(tx=st.integers(-127, 20), rssi=st.integers(-127, 0), correction=st.floats(-20, 20, allow_nan=False))
def test_a_stronger_signal_never_means_more_attenuation(tx: int, rssi: int, correction: float) -> None:
    assert attenuation(tx, rssi + 1, correction) <= attenuation(tx, rssi, correction)


def test_calibration_confidence_is_gaens_enum() -> None:
    assert [c.value for c in CalibrationConfidence] == [0, 1, 2, 3]


@pytest.mark.parametrize("value", [5, 5.0])
def test_a_correction_shifts_every_scan_instance(value: float) -> None:
    from protocol.advert import Metadata
    from protocol.export import DiagnosisKey
    from protocol.matching import Match, Sighting

    key = DiagnosisKey(bytes(16), 20_000 * 144, days_since_onset_of_symptoms=0)
    heard = Sighting(bytes(16), bytes(4), -80, 20_000 * 86_400 + 60)
    match = Match(key, 20_000 * 144, (heard,), Metadata(-24))
    (plain,) = risk.exposure_windows([match])
    (corrected,) = risk.exposure_windows([match], rssi_correction_db=value)
    assert plain.scan_instances[0].typical_attenuation_db == 56
    assert corrected.scan_instances[0].typical_attenuation_db == 51
