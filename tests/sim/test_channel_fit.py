"""``bluezone sim calibrate``: the channel fit on the vendored data, and the defaults it sets."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from beacon.radio.channel import ChannelParams
from sim.channel_fit import fit_channel


@pytest.mark.slow
def test_channel_defaults_are_the_fit_on_the_vendored_measurements() -> None:
    fit = fit_channel()
    defaults = ChannelParams()
    assert fit.bursts > 50_000 and fit.pairs > 1_000
    assert defaults.loss_1m_db == pytest.approx(fit.loss_1m_db, abs=0.05)
    assert defaults.exponent == pytest.approx(fit.exponent, abs=0.005)
    assert defaults.sigma_pair_db == pytest.approx(fit.sigma_pair_db, abs=0.05)
    assert defaults.sigma_scan_db == pytest.approx(fit.sigma_scan_db, abs=0.05)
    assert defaults.max_attenuation_db == fit.max_attenuation_db
    # Bodies flatten the curve: well below free space's 2, as every on-body study finds.
    assert 0.8 < fit.exponent < 1.6
    assert set(fit.residuals) == {
        f"scenario0{i}-{n}" for i, n in enumerate(["lunch", "train", "office", "queue", "party"], 1)
    }


@pytest.mark.slow
def test_bluezone_sim_calibrate_prints_the_fit_as_json() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "bluezone", "sim", "calibrate", "--json"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["exponent"] == pytest.approx(ChannelParams().exponent, abs=0.005)
