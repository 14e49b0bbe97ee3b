"""sim.anechoic: DP-3T's anechoic calibration experiments, vendored unmodified, read at run time."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

from sim.anechoic import AnechoicPair, gaen_attenuation_at_1m, load_anechoic

DATA = Path(__file__).resolve().parents[2] / "sim" / "data" / "dp3t-anechoic"
EPFL_SAMSUNGS = {"SM-G973F", "SM-G970F", "SM-A405FN", "SM-A515F", "SM-A908B", "SM-G981B"}


def test_every_vendored_file_is_byte_identical_to_the_one_notice_lists() -> None:
    listed = dict(
        re.findall(
            r"^\| `([^`]+)` \| \d+ \| `[0-9a-f]{40}` \| `([0-9a-f]{64})` \|$",
            (DATA / "NOTICE.md").read_text(),
            re.M,
        )
    )
    files = {str(p.relative_to(DATA)) for p in DATA.rglob("*") if p.is_file() and p.name != "NOTICE.md"}
    assert files == set(listed) and len(files) == 28
    for name, digest in listed.items():
        assert hashlib.sha256((DATA / name).read_bytes()).hexdigest() == digest, name


def test_every_epfl_samsung_is_measured_both_ways_against_a_reference_at_1_m() -> None:
    """What `beacon calibrate` needs: both directions against a phone of known calibration."""
    pairs = load_anechoic()
    assert len(pairs) == 46 and all(p.reports > 0 for p in pairs)
    both: dict[str, set[str]] = {}
    for p in pairs:
        for other, reference in (
            (p.receiver_model, p.transmitter_model),
            (p.transmitter_model, p.receiver_model),
        ):
            if other.split("/")[0] in EPFL_SAMSUNGS and reference in ("iPhone11", "GA01187-DE"):
                both.setdefault(other.split("/")[0], set()).add(f"{p.receiver_model}<-{p.transmitter_model}")
    assert set(both) == EPFL_SAMSUNGS
    assert all(len(directions) >= 2 for directions in both.values())


def test_gaen_attenuation_needs_both_calibrations_and_uses_them() -> None:
    reference = AnechoicPair("x", "s", "iPhone11", "SM-G973F", 10, -72.0)
    assert gaen_attenuation_at_1m(reference) is None  # the iPhone 11's entry is not in our table
    samsungs = AnechoicPair("x", "s", "SM-G970F", "SM-G981B/DS", 10, -60.0)
    assert gaen_attenuation_at_1m(samsungs) == 31  # -24 - (-60 + 5)


def test_the_calibrate_commands_1_m_attenuation_is_the_chambers() -> None:
    """beacon.calibrate's default: the mean of the chamber's two estimates (40 and 43 dB)."""
    from beacon.calibrate import ATTENUATION_AT_1M_DB
    from sim.anechoic import REFERENCES, samsung_attenuation_at_1m

    pairs = load_anechoic()
    estimates = [samsung_attenuation_at_1m(pairs, reference) for reference in REFERENCES]
    assert estimates == [40.0, 43.0]
    assert sum(estimates) / len(estimates) == ATTENUATION_AT_1M_DB
