"""sim.calibration: the evaluation protocol behind the default risk configuration."""

from __future__ import annotations

import hashlib
import itertools
import re
from importlib import resources
from pathlib import Path

import pytest

from protocol.risk import DEFAULT_RISK_CONFIG
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


def test_scan_schedule_follows_googles_cadence() -> None:
    import random

    times = calibration._scan_times(0, 3600, random.Random(1))
    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert times[0] < 300 and all(210 <= g <= 300 for g in gaps)


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
def test_default_configuration_is_the_tuned_one() -> None:
    """What the tuning picks on exp05; no in-sample win is asserted (it is no evidence)."""
    samples = calibration.load_samples()
    tuned, _ = calibration.tune(samples)
    assert tuned == DEFAULT_RISK_CONFIG
