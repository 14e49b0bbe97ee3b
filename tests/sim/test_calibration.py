"""sim.calibration: the evaluation protocol behind the default risk configuration."""

from __future__ import annotations

import hashlib
import itertools
import re
from importlib import resources
from pathlib import Path

import pytest

from protocol.advert import Metadata
from protocol.risk import DEFAULT_RISK_CONFIG
from protocol.scans import SCAN_DURATION_S
from sim import calibration

ROOT = Path(__file__).resolve().parents[2]

# sha256 of each vendored file, from its NOTICE: the data must stay unmodified (CC BY-ND 4.0).
VENDORED = {
    "scenario01-lunch.sqlite": "3e0672fb26fded86da27cd4beed30278c0004faa97b2f76ad341864f94aeb99f",
    "scenario02-train.sqlite": "11fa1266afb68fb16b855b614540bc3a7a0efb6e614561a080d7b1a3b76c2ebf",
    "scenario03-office.sqlite": "e768787d9f5d97995d3208ad975a4be6abb7a12ba5f57e2d1d1969415cadcb42",
    "scenario04-queue.sqlite": "c06f63aac90319ece61abc3d5e9fe8411a0e0077cd415d50083ed6901ff6faa5",
    "scenario05-party.sqlite": "fe6c9c32f099768133af2c446e0f6ca4fbc6ab3fdf8187fc86cac97cd299e4f6",
    "scenario06-walls.sqlite": "f69645b4d905f892a967a5c8c655084d6bab8c4e02475969230a314d35f055c1",
}


def test_vendored_measurements_are_unmodified_and_ship_with_their_notice() -> None:
    folder = resources.files("sim") / "data" / "dp3t-exp05"
    for name, digest in VENDORED.items():
        assert hashlib.sha256((folder / name).read_bytes()).hexdigest() == digest, name
    notice = (folder / "NOTICE.md").read_text()
    assert "CC BY-ND 4.0" in notice


def test_ground_truth_counts_minutes_by_median_distance() -> None:
    start = 1000.0
    rows = [(start + 5, 1.0), (start + 10, 3.0), (start + 20, 1.5)]  # minute 0: median 1.5 → close
    rows += [(start + 65, 2.5), (start + 70, 1.0), (start + 80, 2.2)]  # minute 1: median 2.2 → not
    rows += [(start + 130, None), (start + 140, -1.0)]  # minute 2: no distance → not counted
    assert calibration._close_minutes(rows, start) == 1


def test_a_scan_takes_the_reports_of_its_window_only() -> None:
    """The tuning's scans are protocol.scans' windows, the beacon's: [start, start + 10 s)."""
    key = calibration._fake_key("s", 1)
    reports = [(100.0, -60), (109.9, -70), (110.0, -90), (400.0, -80)]
    matches = calibration._matches(key, Metadata(-24), reports, [100.0, 300.0, 400.0])
    assert [(m.sightings[0].timestamp, m.sightings[0].rssi, m.sightings[0].count) for m in matches] == [
        (100.0, -65, 2),  # the report at 110.0 s is the next window's business, not this one's
        (400.0, -80, 1),
    ]
    assert SCAN_DURATION_S == 10.0


def test_samples_are_on_the_gaen_scale_with_both_calibrations() -> None:
    """-24 dBm calibrated TX power − (RSSI + 6 dB ULTRA_LOW→LOW + 5 dB correction)."""
    samples = calibration.load_samples(seeds=1)
    sample = next(s for s in samples if s.windows)
    scan = sample.windows[0].scan_instances[0]
    assert calibration._calibration("SM-G981B/DS").tx_power_dbm == -24.0
    with calibration._scenario_db(sample.scenario) as db:
        rssis = [
            r for (r,) in db.execute(
                "SELECT rssi FROM results WHERE receiver_id = ? AND transmitter_id = ?",
                (sample.receiver, sample.transmitter),
            )
        ]  # fmt: skip
    strongest = max(rssis)
    assert scan.min_attenuation_db >= -24 - (strongest + 6 + 5)
    assert all(
        s.min_attenuation_db <= 70 for sample in samples for w in sample.windows for s in w.scan_instances
    )  # the weakest report logged, −105 dBm, is 70 dB on this scale


@pytest.mark.slow
def test_the_gaen_scale_puts_1_m_where_the_anechoic_chamber_does() -> None:
    """The chamber (no bodies) through either reference phone and exp05 among people at 1 m
    agree within the few dB that bodies add; the old scale was 14 dB off."""
    from sim.anechoic import REFERENCES, load_anechoic, samsung_to_samsung_at_1m

    pairs = load_anechoic()
    gaen, old = calibration.attenuation_near_1m()
    for reference in REFERENCES:
        chamber = -24 - (samsung_to_samsung_at_1m(pairs, reference) + 5)
        assert 0 <= gaen - chamber <= 8, reference
        assert old - chamber > 12, reference


@pytest.mark.slow
def test_documented_table_is_what_the_protocol_computes() -> None:
    """docs/risk.md's table is reproduced exactly by make test's data and code."""
    samples = calibration.load_samples()
    doc = (ROOT / "docs" / "risk.md").read_text()
    table = re.search(r"<!-- table:begin -->\n(.*?)\n<!-- table:end -->", doc, re.S)
    assert table is not None
    assert calibration.render_table(samples) == table.group(1)


def test_documented_presets_are_the_code() -> None:
    doc = (ROOT / "docs" / "risk.md").read_text()
    table = re.search(r"<!-- presets:begin -->\n(.*?)\n<!-- presets:end -->", doc, re.S)
    assert table is not None
    assert calibration.render_presets() == table.group(1)


@pytest.mark.slow
def test_default_configuration_is_what_the_procedure_picks() -> None:
    """The procedure, not an in-sample win: DEFAULT_RISK_CONFIG is choose_default's pick, its
    weights never grow with attenuation, and nothing beyond the chosen reach bound counts."""
    samples = calibration.load_samples()
    chosen, bound = calibration.choose_default(samples)
    assert chosen == DEFAULT_RISK_CONFIG
    assert chosen.bucket_attenuation == "typical"
    weights = [chosen.bucket_weight(a) for a in range(0, 120)]
    assert all(a >= b for a, b in itertools.pairwise(weights))
    assert max(a for a in range(120) if chosen.bucket_weight(a) > 0) <= bound


@pytest.mark.slow
def test_out_of_sample_the_procedure_keeps_recall_and_precision_at_half() -> None:
    """Nested leave-one-scenario-out: each scenario is decided by a procedure that never saw it."""
    nested = calibration.nested_cross_validate(calibration.load_samples())
    assert nested.precision >= 0.5 and nested.recall >= 0.5


def test_nested_cross_validation_never_lets_a_fold_see_its_scenario(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[set[int]] = []
    real = calibration._pick

    def spy(grid, train, max_reach):  # type: ignore[no-untyped-def]
        seen.append(set(grid.scenario[train].tolist()))
        return real(grid, train, max_reach)

    monkeypatch.setattr(calibration, "_pick", spy)
    samples = calibration.load_samples(seeds=1)
    calibration.nested_cross_validate(samples)
    outer = len(calibration.SCENARIOS)
    per_fold = len(seen) // outer
    for fold in range(outer):
        for trained in seen[fold * per_fold : (fold + 1) * per_fold]:
            assert fold not in trained


def test_documented_scale_check_is_the_code() -> None:
    doc = (ROOT / "docs" / "risk.md").read_text()
    table = re.search(r"<!-- scale:begin -->\n(.*?)\n<!-- scale:end -->", doc, re.S)
    assert table is not None
    assert calibration.render_scale_check() == table.group(1)
