"""``bluezone beacon calibrate``: both values from two sessions at 1 m, on synthetic physics and
on the virtual air, and the CLI's one-line errors."""

from __future__ import annotations

import asyncio
import json
import random
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from beacon.calibrate import ATTENUATION_AT_1M_DB, CalibrationError, Session, propose, record
from beacon.clock import SimClock
from beacon.radio import Advertiser, Scanner
from beacon.radio.channel import Channel, ChannelParams
from beacon.radio.virtual import VirtualAir
from protocol.calibration import CalibrationConfidence, attenuation

from .conftest import T0

REF, US = b"R" * 16, b"U" * 16


def _sessions(heard_ref: list[int], heard_us: list[int]) -> tuple[Session, Session]:
    return Session(US, {REF: heard_ref}, 180), Session(REF, {US: heard_us}, 180)


def test_the_proposal_makes_both_directions_read_the_calibrated_1_m() -> None:
    """Physics: RSSI(rx ← tx) = P_tx + G_rx − L. A calibrated device advertises tx = P + K1 and
    corrects by c = K2 − G. Whatever our P and G, the proposal recovers our calibrated values."""
    rng = random.Random(5)
    k1, k2, path_loss = -9.0, 3.0, 52.5  # calibrated attenuation at 1 m: K1 − K2 + L = 40.5
    ref_p, ref_g = -12.0, -4.0
    our_p, our_g = -3.0, 2.0  # a louder transmitter and a more sensitive receiver than R
    ref = (ref_p + k1, k2 - ref_g)  # R's advertised TX power and correction
    heard_ref = [round(ref_p + our_g - path_loss + rng.gauss(0, 2)) for _ in range(400)]
    heard_us = [round(our_p + ref_g - path_loss + rng.gauss(0, 2)) for _ in range(400)]
    ours, reference = _sessions(heard_ref, heard_us)

    got = propose(
        ours, reference, reference_tx_power_dbm=ref[0], reference_rssi_correction_db=ref[1],
        attenuation_at_1m_db=k1 - k2 + path_loss,
    )  # fmt: skip

    assert got.tx_power_dbm == pytest.approx(our_p + k1, abs=1)
    assert got.rssi_correction_db == pytest.approx(k2 - our_g, abs=1)
    assert got.confidence == CalibrationConfidence.HIGH
    assert got.heard == got.heard_by_reference == 400
    assert "tx_power_dbm = " in got.render() and "confidence HIGH" in got.render()


def test_few_or_noisy_reports_lower_the_confidence_and_too_few_refuse() -> None:
    rng = random.Random(1)
    noisy = _sessions([round(-60 + rng.gauss(0, 9)) for _ in range(40)], [-61] * 40)
    assert propose(*noisy, reference_tx_power_dbm=-24, reference_rssi_correction_db=5).confidence == (
        CalibrationConfidence.LOW
    )
    with pytest.raises(CalibrationError, match="heard the reference 5 times"):
        propose(
            *_sessions([-60] * 5, [-61] * 100), reference_tx_power_dbm=-24, reference_rssi_correction_db=5
        )
    with pytest.raises(CalibrationError, match="reference heard us 0 times"):
        propose(*_sessions([-60] * 50, []), reference_tx_power_dbm=-24, reference_rssi_correction_db=5)


def test_two_beacons_on_the_virtual_air_calibrate_each_other_end_to_end(tmp_path: Path) -> None:
    """Both sessions at once, 1 m apart on one air; the reference's values are what the virtual
    air radiates (-15 dBm, no correction). With ours proposed, each hears the other at 1 m's
    calibrated attenuation (the pair's shadowing is part of the measurement, as in a room)."""
    air = VirtualAir(
        Channel(ChannelParams(sigma_scan_db=1.0)),
        np.random.default_rng(2),
        address_rng=random.Random(2).randbytes,
    )
    clock = SimClock(T0)
    radios = [air.attach("us", (0.0, 0.0)), air.attach("ref", (1.0, 0.0))]

    async def both() -> list[Session]:
        return list(
            await asyncio.gather(
                *(record(Scanner(r.scanner), Advertiser(r.advertiser), clock, 120.0) for r in radios)
            )
        )

    ours, reference = asyncio.run(both())
    ours.save(tmp_path / "ours.json")
    assert Session.load(tmp_path / "ours.json") == ours
    assert set(ours.heard) == {reference.advertised} and set(reference.heard) == {ours.advertised}

    got = propose(ours, reference, reference_tx_power_dbm=-15, reference_rssi_correction_db=0)
    heard_ref = float(np.median(ours.heard[reference.advertised]))
    heard_us = float(np.median(reference.heard[ours.advertised]))
    assert attenuation(-15, heard_ref, got.rssi_correction_db) == pytest.approx(ATTENUATION_AT_1M_DB, abs=1)
    assert attenuation(got.tx_power_dbm, heard_us, 0) == pytest.approx(ATTENUATION_AT_1M_DB, abs=1)
    assert got.heard >= 100 and got.confidence >= CalibrationConfidence.MEDIUM


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bluezone", "beacon", "calibrate", *args],
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_the_cli_proposes_from_two_files_and_fails_in_one_line(tmp_path: Path) -> None:
    ours, reference = _sessions([-60, -61, -62] * 30, [-64, -65, -66] * 30)
    ours.save(tmp_path / "ours.json")
    reference.save(tmp_path / "ref.json")
    (tmp_path / "bad.json").write_text(json.dumps({"advertised": "zz"}))
    common = ["--reference-tx-power", "-24", "--reference-rssi-correction", "5"]

    done = _cli(
        "propose", "--ours", str(tmp_path / "ours.json"), "--reference", str(tmp_path / "ref.json"), *common
    )
    assert done.returncode == 0, done.stderr
    # c = -24 - (-61) - 41.5 = -4.5; tx = -65 + 5 + 41.5 = -18.5 → -18 (round half to even)
    assert "tx_power_dbm = -18" in done.stdout and "rssi_correction_db = -4.5" in done.stdout

    bad = _cli(
        "propose", "--ours", str(tmp_path / "bad.json"), "--reference", str(tmp_path / "ref.json"), *common
    )
    assert bad.returncode == 1 and len(bad.stderr.strip().splitlines()) == 1
    assert "not a calibration session file" in bad.stderr
