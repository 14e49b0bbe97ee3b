"""Fit the channel model (``beacon/radio/channel.py``) on the vendored DP-3T exp05 measurements.

``att = L(1 m) + 10·n·log10(d) + X_pair + X_scan`` on the GAEN scale, as ``sim.calibration``
maps the data onto it: attenuation = the transmitter's calibrated TX power − (RSSI + 6 dB from
ULTRA_LOW to LOW + the receiver's RSSI correction). The fit, stated once:

1. Scenarios 01–05 (06 has no distance); rows with a distance between 0.3 and 10 m. The
   farthest attenuation any row of 01–05 logged is the limit of what a scan hears.
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
from typing import Any

import numpy as np

from sim.calibration import SCENARIOS, _rows, gaen_attenuation

__all__ = ["ChannelFit", "fit_channel", "main"]

BIN_S = 10.0
MIN_D, MAX_D = 0.3, 10.0


@dataclass(frozen=True)
class ChannelFit:
    loss_1m_db: float
    exponent: float
    sigma_pair_db: float
    sigma_scan_db: float
    max_attenuation_db: float
    bursts: int
    pairs: int
    residuals: dict[str, tuple[float, float]]  # scenario → (mean, SD) of burst residuals


def _bursts() -> tuple[list[tuple[str, tuple[int, int], float, float]], float]:
    """Per (scenario, pair, 10-s bin): mean attenuation and distance; and the farthest row."""
    out, farthest = [], 0.0
    for scenario in SCENARIOS:
        rows: list[tuple[Any, ...]] = _rows(
            scenario,
            "SELECT receiver_id, receiver_model, transmitter_id, transmitter_model, "
            "CAST(timestamp / 1000.0 / ? AS INTEGER), rssi, ground_truth_distance FROM results",
            BIN_S,
        )
        bins: dict[tuple[int, int, int], list[tuple[float, float]]] = {}
        for rx, rx_model, tx, tx_model, bin_, rssi, distance in rows:
            att = gaen_attenuation(rx_model, tx_model, rssi)
            farthest = max(farthest, att)
            if distance is not None and MIN_D <= distance <= MAX_D:
                bins.setdefault((rx, tx, bin_), []).append((att, distance))
        for (rx, tx, _), values in sorted(bins.items()):
            att_mean = sum(a for a, _ in values) / len(values)
            d_mean = sum(d for _, d in values) / len(values)
            out.append((scenario, (rx, tx), att_mean, d_mean))
    return out, farthest


def fit_channel() -> ChannelFit:
    bursts, farthest = _bursts()
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
        max_attenuation_db=round(farthest, 1),
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
          f"sigma_scan = {fit.sigma_scan_db} dB, heard up to {fit.max_attenuation_db} dB")  # fmt: skip
    for scenario, (mean, sd) in fit.residuals.items():
        print(f"  {scenario:20} residual mean {mean:+.2f} dB, SD {sd:.2f} dB")
    if not math.isfinite(fit.exponent):
        return 1
    return 0
