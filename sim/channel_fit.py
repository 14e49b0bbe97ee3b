"""Fit the channel model (``beacon/radio/channel.py``) on the vendored DP-3T exp05 measurements.

``att = L(1 m) + 10·n·log10(d) + X_pair + X_scan`` in GAEN units (attenuation = TX power −
RSSI; the +6 dB from ULTRA_LOW to LOW applies to both and cancels). The fit, stated once:

1. Scenarios 01–05 (06 has no distance); rows with a distance between 0.3 and 10 m.
2. Bursts: rows of one ordered pair within one 10-second bin (the phones logged in bursts
   about every 10 s) are averaged: mean attenuation, mean distance.
3. Least squares of burst attenuation on ``10·log10(d)`` gives ``L(1 m)`` and ``n``.
4. Residuals: the SD of per-pair mean residuals is σ_pair (a persistent offset per encounter);
   the SD of residuals around their pair's mean is σ_scan (burst to burst).
5. Residual mean and SD are reported per scenario (the train and the party differ).

Only this data set is used for fitting (``bluezone sim calibrate``).
"""

from __future__ import annotations

import json
import math
import sys
from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np

from sim.calibration import SCENARIOS, _scenario_db

__all__ = ["ChannelFit", "fit_channel", "main"]

BIN_S = 10.0
MIN_D, MAX_D = 0.3, 10.0


@dataclass(frozen=True)
class ChannelFit:
    loss_1m_db: float
    exponent: float
    sigma_pair_db: float
    sigma_scan_db: float
    bursts: int
    pairs: int
    residuals: dict[str, tuple[float, float]]  # scenario → (mean, SD) of burst residuals


def _bursts() -> list[tuple[str, tuple[int, int], float, float]]:
    out = []
    for scenario in SCENARIOS:
        with _scenario_db(scenario) as db:
            rows = db.execute(
                "SELECT receiver_id, transmitter_id, CAST(timestamp / 1000.0 / ? AS INTEGER), "
                "AVG(tx_power - rssi), AVG(ground_truth_distance) FROM results "
                "WHERE ground_truth_distance BETWEEN ? AND ? "
                "GROUP BY receiver_id, transmitter_id, CAST(timestamp / 1000.0 / ? AS INTEGER)",
                (BIN_S, MIN_D, MAX_D, BIN_S),
            ).fetchall()
        out += [(scenario, (rx, tx), float(att), float(d)) for rx, tx, _, att, d in rows]
    return out


def fit_channel() -> ChannelFit:
    bursts = _bursts()
    att = np.array([b[2] for b in bursts])
    x = 10 * np.log10(np.array([b[3] for b in bursts]))
    slope, intercept = np.polyfit(x, att, 1)
    residual = att - (intercept + slope * x)
    pair_keys = [(b[0], b[1]) for b in bursts]
    by_pair: dict[tuple[str, tuple[int, int]], list[int]] = {}
    for index, key in enumerate(pair_keys):
        by_pair.setdefault(key, []).append(index)
    pair_means = {key: float(residual[idx].mean()) for key, idx in by_pair.items()}
    within = np.array([residual[i] - pair_means[pair_keys[i]] for i in range(len(bursts))])
    per_scenario = {}
    for scenario in SCENARIOS:
        mask = np.array([b[0] == scenario for b in bursts])
        per_scenario[scenario] = (
            round(float(residual[mask].mean()), 2),
            round(float(residual[mask].std()), 2),
        )
    return ChannelFit(
        loss_1m_db=round(float(intercept), 2),
        exponent=round(float(slope), 3),
        sigma_pair_db=round(float(np.std(list(pair_means.values()))), 2),
        sigma_scan_db=round(float(within.std()), 2),
        bursts=len(bursts),
        pairs=len(by_pair),
        residuals=per_scenario,
    )


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    fit = fit_channel()
    if "--json" in args:
        print(json.dumps(asdict(fit)))
        return 0
    print(f"fitted on {fit.bursts} bursts of {fit.pairs} ordered pairs (DP-3T exp05, scenarios 01-05)")
    print(f"  L(1 m) = {fit.loss_1m_db} dB, n = {fit.exponent}, sigma_pair = {fit.sigma_pair_db} dB, "
          f"sigma_scan = {fit.sigma_scan_db} dB")  # fmt: skip
    for scenario, (mean, sd) in fit.residuals.items():
        print(f"  {scenario:20} residual mean {mean:+.2f} dB, SD {sd:.2f} dB")
    if not math.isfinite(fit.exponent):
        return 1
    return 0
