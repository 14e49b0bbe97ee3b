"""Evaluate risk configurations on real BLE measurements (DP-3T exp05, EPFL, 17 April 2020).

The data (vendored unmodified in ``sim/data/dp3t-exp05``, CC BY-ND 4.0, see its NOTICE) logs
every advertisement each of 20 people's phones received, with RSSI, the transmitter's TX power
and the camera-measured distance. The evaluation protocol, stated once here and in
``docs/risk.md``:

1. **Pairs**: every ordered (receiver, transmitter) pair of scenarios 01–05 (scenario 06 has no
   distance ground truth).
2. **Ground truth**: the scenario is cut into 1-minute bins; a bin is close when the median of
   the distances logged in it (either direction) is under 2 m; a pair is a close contact when
   it has 15 or more close minutes (the officials' "2 m for 15 minutes").
3. **Scans** are ``protocol.scans``' logical scans, the beacon's and the simulator's: per
   receiver, windows of ``SCAN_DURATION_S`` (10 s, the shortest window the phones' bursty log
   fills) opening every 300 s minus a random 0–90 s; each window that heard the transmitter is
   one sighting (mean and strongest RSSI). ``SEEDS`` independent schedules are drawn per pair.
4. **The GAEN scale** (``protocol.calibration``): attenuation = the transmitter's calibrated TX
   power − (RSSI + the receiver's RSSI correction), both from Google's calibration table of
   2020-08-13 (every EPFL Samsung: −24.0 dBm and +5.0 dB). The phones ran DP-3T's pre-GAEN app
   at ``TX_POWER_ULTRA_LOW``; the GAEN framework advertises at ``TX_POWER_LOW``. We assume the
   two differ by a constant 6 dB (Android's nominal −21 vs −15 dBm, DP-3T's
   ``measurements.py``) and add it to every RSSI; the anechoic experiments check where that
   puts 1 m (``sim.anechoic``, ``docs/risk.md``). The old mapping (TX power and RSSI both
   shifted, so attenuation = −21 − RSSI) sat 14 dB above the GAEN scale.
5. **Scoring**: the sightings become real ``protocol.matching.Match`` objects of a CONFIRMED_TEST
   key with STANDARD infectiousness, go through ``protocol.risk.exposure_windows`` with the
   receiver's scan times and RSSI correction, and each configuration decides close or not per
   pair and schedule. Precision, recall and F1 are over all (pair, schedule) decisions.

Our default (``protocol.risk.DEFAULT_RISK_CONFIG``) is what :func:`choose_default` picks on
this data. Its in-sample score is no evidence; the headline is :func:`nested_cross_validate`,
the whole procedure (hyper-parameter included) run on four scenarios and scored on the fifth.
``python -m sim.calibration`` prints the table of ``docs/risk.md``.
"""

from __future__ import annotations

import hashlib
import itertools
import random
import sqlite3
import statistics
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from protocol.advert import Metadata
from protocol.calibration import DeviceCalibration, calibration_for
from protocol.export import DiagnosisKey, ReportType
from protocol.matching import Match, Sighting
from protocol.risk import (
    DEFAULT_RISK_CONFIG,
    PRESETS,
    DiagnosisKeysDataMapping,
    ExposureWindow,
    Infectiousness,
    RiskConfig,
    assess,
    exposure_windows,
)
from protocol.scans import SCAN_DURATION_S, ScanSchedule

__all__ = [
    "CONFIGS",
    "SCENARIOS",
    "Decision",
    "Metrics",
    "PairSample",
    "attenuation_near_1m",
    "choose_default",
    "evaluate",
    "gaen_attenuation",
    "load_samples",
    "nested_cross_validate",
    "render_presets",
    "render_scale_check",
    "render_table",
]

SCENARIOS = (
    "scenario01-lunch",
    "scenario02-train",
    "scenario03-office",
    "scenario04-queue",
    "scenario05-party",
)
SEEDS = 10
ULTRA_LOW_TO_LOW_DB = 6
CLOSE_DISTANCE_M = 2.0
CLOSE_MINUTES = 15
_DATA = "data/dp3t-exp05"


@dataclass(frozen=True, slots=True)
class PairSample:
    """One (receiver, transmitter, scan schedule): its ground truth and its exposure windows."""

    scenario: str
    receiver: int
    transmitter: int
    seed: int
    close_minutes: int
    windows: tuple[ExposureWindow, ...]

    @property
    def close(self) -> bool:
        return self.close_minutes >= CLOSE_MINUTES


@dataclass(frozen=True, slots=True)
class Metrics:
    precision: float
    recall: float
    f1: float
    positives: int
    samples: int


Decision = Callable[[Sequence[ExposureWindow]], bool]


# ---- data ---------------------------------------------------------------------------------


@contextmanager
def _scenario_db(name: str) -> Iterator[sqlite3.Connection]:
    with resources.as_file(resources.files("sim") / _DATA / f"{name}.sqlite") as path:
        connection = sqlite3.connect(f"file:{Path(path)}?mode=ro&immutable=1", uri=True)
        try:
            yield connection
        finally:
            connection.close()


def _close_minutes(rows: list[tuple[float, float | None]], start: float) -> int:
    bins: dict[int, list[float]] = {}
    for when, distance in rows:
        if distance is not None and distance >= 0:
            bins.setdefault(int((when - start) // 60), []).append(distance)
    return sum(1 for distances in bins.values() if statistics.median(distances) < CLOSE_DISTANCE_M)


def _fake_key(scenario: str, transmitter: int) -> DiagnosisKey:
    digest = hashlib.sha256(f"{scenario}/{transmitter}".encode()).digest()
    return DiagnosisKey(digest[:16], 0, report_type=ReportType.CONFIRMED_TEST, days_since_onset_of_symptoms=0)


def _calibration(model: str) -> DeviceCalibration:
    known = calibration_for(model)
    if known is None:  # every EPFL phone is a Samsung in the table; a new file would say so here
        raise ValueError(f"no known GAEN calibration for {model!r} (protocol.calibration)")
    return known


def _rows(scenario: str, sql: str, *params: object) -> list[tuple[object, ...]]:
    with _scenario_db(scenario) as db:
        return db.execute(sql, params).fetchall()


def gaen_attenuation(rx_model: str, tx_model: str, rssi: float) -> float:
    """A logged report on the GAEN scale: the transmitter's calibrated TX power − (RSSI + 6 dB
    from ULTRA_LOW to LOW + the receiver's RSSI correction)."""
    receiver, transmitter = _calibration(rx_model), _calibration(tx_model)
    return transmitter.tx_power_dbm - (rssi + ULTRA_LOW_TO_LOW_DB + receiver.rssi_correction_db)


@cache
def load_samples(seeds: int = SEEDS) -> tuple[PairSample, ...]:
    """Every (pair, schedule) of scenarios 01–05 with its ground truth and exposure windows."""
    mapping = DiagnosisKeysDataMapping({0: Infectiousness.STANDARD})
    samples = []
    for scenario in SCENARIOS:
        rows: list[tuple[Any, ...]] = _rows(
            scenario,
            "SELECT receiver_id, receiver_model, transmitter_id, transmitter_model, "
            "timestamp / 1000.0, rssi, ground_truth_distance FROM results ORDER BY timestamp",
        )
        start, end = rows[0][4], rows[-1][4]
        by_pair: dict[tuple[int, int], list[tuple[float, int]]] = {}
        distances: dict[frozenset[int], list[tuple[float, float | None]]] = {}
        models: dict[int, DeviceCalibration] = {}
        for receiver, rx_model, transmitter, tx_model, when, rssi, distance in rows:
            models.setdefault(receiver, _calibration(rx_model))
            models.setdefault(transmitter, _calibration(tx_model))
            by_pair.setdefault((receiver, transmitter), []).append((when, rssi + ULTRA_LOW_TO_LOW_DB))
            distances.setdefault(frozenset((receiver, transmitter)), []).append((when, distance))
        close = {pair: _close_minutes(sorted(rows_), start) for pair, rows_ in distances.items()}
        for seed in range(seeds):
            rng = random.Random(f"{scenario}/{seed}")
            receivers = sorted({receiver for receiver, _ in by_pair})
            schedules = {receiver: ScanSchedule(rng).between(start, end) for receiver in receivers}
            for (receiver, transmitter), reports in sorted(by_pair.items()):
                scans = schedules[receiver]
                key = _fake_key(scenario, transmitter)
                metadata = Metadata(round(models[transmitter].tx_power_dbm))
                windows = exposure_windows(
                    _matches(key, metadata, reports, scans),
                    mapping,
                    scan_times=scans,
                    rssi_correction_db=models[receiver].rssi_correction_db,
                )
                samples.append(
                    PairSample(
                        scenario,
                        receiver,
                        transmitter,
                        seed,
                        close[frozenset((receiver, transmitter))],
                        tuple(windows),
                    )
                )
    return tuple(samples)


def _matches(
    key: DiagnosisKey, metadata: Metadata, reports: list[tuple[float, int]], scans: list[float]
) -> list[Match]:
    """One sighting per scan window that heard the transmitter (``protocol.scans``)."""
    times = np.array([when for when, _ in reports])
    out = []
    for scan in scans:
        lo, hi = np.searchsorted(times, [scan, scan + SCAN_DURATION_S])
        if lo == hi:
            continue
        rssis = [rssi for _, rssi in reports[lo:hi]]
        sighting = Sighting(
            rpi=bytes(16), aem=bytes(4), rssi=round(sum(rssis) / len(rssis)), timestamp=scan,
            max_rssi=max(rssis), count=len(rssis),
        )  # fmt: skip
        out.append(Match(key, int(scan // 600), (sighting,), metadata))
    return out


def attenuation_near_1m() -> tuple[float, float]:
    """Median attenuation of every report logged at 0.8–1.2 m (scenarios 01–05): on the GAEN
    scale, and on the scale this module used before (TX power − RSSI, both +6 dB)."""
    gaen, old = [], []
    for scenario in SCENARIOS:
        rows: list[tuple[Any, ...]] = _rows(
            scenario,
            "SELECT receiver_model, transmitter_model, rssi, tx_power FROM results "
            "WHERE ground_truth_distance BETWEEN 0.8 AND 1.2",
        )
        for rx_model, tx_model, rssi, tx_power in rows:
            gaen.append(gaen_attenuation(rx_model, tx_model, rssi))
            old.append(tx_power - rssi)
    return statistics.median(gaen), statistics.median(old)


def render_scale_check() -> str:
    """The Markdown table of ``docs/risk.md`` that checks where the GAEN scale puts 1 m."""
    from sim.anechoic import REFERENCES, load_anechoic, samsung_attenuation_at_1m, samsung_to_samsung_at_1m

    pairs = load_anechoic()
    gaen, old = attenuation_near_1m()
    lines = [
        "| at 1 m, EPFL Samsung to EPFL Samsung | GAEN attenuation (dB) |",
        "|---|---:|",
    ]
    for reference, name in REFERENCES.items():
        rssi = samsung_to_samsung_at_1m(pairs, reference)
        value = samsung_attenuation_at_1m(pairs, reference)
        lines.append(f"| anechoic chamber, through the {name} (RSSI {rssi:.0f} dBm) | {value:.0f} |")
    lines.append(f"| exp05, among people, 0.8–1.2 m, GAEN scale (this module) | {gaen:.0f} |")
    lines.append(f"| exp05, among people, 0.8–1.2 m, the old scale (TX power − RSSI) | {old:.0f} |")
    return "\n".join(lines)


# ---- the configurations compared ------------------------------------------------------------


def decision(config: RiskConfig) -> Decision:
    """Warn when ``protocol.risk.assess`` finds a HIGH day: the configuration's own steps."""

    def decide(windows: Sequence[ExposureWindow]) -> bool:
        return assess(windows, config).close_contact

    return decide


CONFIGS: dict[str, Decision] = {name: decision(config) for name, config in PRESETS.items()}


# ---- evaluation -----------------------------------------------------------------------------


def evaluate(decide: Decision, samples: Sequence[PairSample]) -> Metrics:
    return _metrics([(decide(sample.windows), sample.close) for sample in samples])


def _metrics(decisions: Sequence[tuple[bool, bool]]) -> Metrics:
    """Precision, recall and F1 of (predicted, truly close) decisions."""
    tp = sum(1 for predicted, close in decisions if predicted and close)
    fp = sum(1 for predicted, close in decisions if predicted and not close)
    fn = sum(1 for predicted, close in decisions if close and not predicted)
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return Metrics(precision, recall, f1, tp + fn, len(decisions))


# ---- tuning ---------------------------------------------------------------------------------

_ATT_LO, _ATT_HI = 20, 100  # attenuations outside fall in the first / last bin (weights are flat there)
_GRID_T0 = range(36, 62, 2)
_GRID_GAPS = (2, 4, 6, 8)
_GRID_W = ((1.0, 1.0, 0.5), (1.5, 1.0, 0.5), (1.5, 1.0, 0.25), (1.5, 0.5, 0.5), (2.0, 1.0, 0.5),
           (2.0, 1.0, 0.0), (2.5, 1.0, 0.5), (1.0, 0.5, 0.0), (1.0, 0.5, 0.25), (1.0, 1.0, 0.0),
           (1.5, 1.0, 0.0), (2.0, 1.5, 0.5), (2.5, 1.5, 0.5), (2.5, 1.0, 0.0), (2.5, 2.0, 1.0),
           (2.0, 2.0, 1.0), (2.5, 1.5, 0.0), (2.5, 2.5, 1.0), (2.5, 2.0, 0.5))  # fmt: skip
MINUTES = 15.0  # the officials' rule fixes the minutes; the grid tunes how they are weighted
REACH_BOUNDS_DB = (48, 52, 56, 60, 64, 68)
"""Candidates for the farthest attenuation a weight may still count, chosen by inner cross-validation."""
F1_TOLERANCE = 0.01


@dataclass(frozen=True)
class _Grid:
    """Every grid configuration's decision on every sample, computed once.

    The grid buckets on the *typical* (mean) attenuation only: a scan's strongest report is the
    strongest of however many it holds, and that count differs between the phones' bursty log
    (one or two a window), the simulator and a BlueZ scanner (dozens); the mean does not. With
    one day per sample and no minimum window score, a configuration's score is linear in the
    seconds per attenuation, so all decisions are one matrix product.
    """

    configs: tuple[RiskConfig, ...]
    reach: np.ndarray  # farthest attenuation with a positive weight, per configuration
    predicted: np.ndarray  # (samples, configurations) bool
    truth: np.ndarray  # (samples,) bool
    scenario: np.ndarray  # (samples,) scenario index


@cache
def _grid(samples: tuple[PairSample, ...]) -> _Grid:
    att = np.arange(_ATT_LO, _ATT_HI + 1)
    configs = tuple(
        RiskConfig((t0, t0 + g1, t0 + g1 + g2), (*w, 0.0), threshold_weighted_minutes=MINUTES)
        for t0, g1, g2, w in itertools.product(_GRID_T0, _GRID_GAPS, _GRID_GAPS, _GRID_W)
    )
    weights = np.array([[c.bucket_weight(int(a)) for a in att] for c in configs], dtype=np.float32).T
    reach = np.array([c.reach_db() for c in configs])
    hist = np.zeros((len(samples), len(att)), dtype=np.float32)
    for i, sample in enumerate(samples):
        for window in sample.windows:
            for scan in window.scan_instances:
                bin_ = min(max(scan.typical_attenuation_db, _ATT_LO), _ATT_HI) - _ATT_LO
                hist[i, bin_] += scan.seconds_since_last_scan
    return _Grid(
        configs,
        reach,
        (hist @ weights) >= MINUTES * 60,
        np.array([s.close for s in samples]),
        np.array([SCENARIOS.index(s.scenario) for s in samples]),
    )


def _pick(grid: _Grid, train: np.ndarray, max_reach: int) -> int:
    """The configuration chosen on the ``train`` rows: among those weighing nothing beyond
    ``max_reach`` dB and within ``F1_TOLERANCE`` of the best F1, the one whose farthest weighted
    attenuation is lowest, then the best F1, then the earliest."""
    predicted, truth = grid.predicted[train], grid.truth[train][:, None]
    tp = (predicted & truth).sum(axis=0)
    wrong = (predicted != truth).sum(axis=0)  # fp + fn
    f1 = np.where(grid.reach <= max_reach, 2 * tp / np.maximum(2 * tp + wrong, 1), -1.0)
    near_best = np.flatnonzero(f1 >= f1.max() - F1_TOLERANCE)
    return int(min(near_best, key=lambda i: (grid.reach[i], -f1[i], i)))


def _pooled_f1(grid: _Grid, rows: np.ndarray, max_reach: int) -> float:
    """Leave one scenario out within ``rows``: tune on the others, decide on it, pooled F1."""
    tp = wrong = 0
    for held_out in np.unique(grid.scenario[rows]):
        test = rows & (grid.scenario == held_out)
        chosen = _pick(grid, rows & ~test, max_reach)
        predicted, truth = grid.predicted[test, chosen], grid.truth[test]
        tp += int((predicted & truth).sum())
        wrong += int((predicted != truth).sum())
    return 2 * tp / max(2 * tp + wrong, 1)


def _choose(grid: _Grid, rows: np.ndarray) -> tuple[int, int]:
    """The procedure on ``rows``: the reach bound with the best leave-one-scenario-out F1 (the
    nearest bound on a tie: the scenarios last 30 minutes, so they cannot show what hours at a
    distance add up to), then the configuration tuned on all of ``rows`` under it."""
    scores = [(_pooled_f1(grid, rows, bound), -bound) for bound in REACH_BOUNDS_DB]
    _, negative_bound = max(scores)
    return _pick(grid, rows, -negative_bound), -negative_bound


def choose_default(samples: Sequence[PairSample]) -> tuple[RiskConfig, int]:
    """The default risk configuration the procedure picks on ``samples``, and its reach bound.

    The grid: typical attenuation; T0 36–60 dB, gaps of 2–8 dB; nineteen weight shapes up to
    GAEN's cap of 2.5, never heavier when farther (weights are physically monotone); 15
    weighted minutes a day, the officials' rule. Report-type and infectiousness weights stay 1,
    the minimum window score 0.
    """
    grid = _grid(tuple(samples))
    index, bound = _choose(grid, np.ones(len(samples), dtype=bool))
    return grid.configs[index], bound


def nested_cross_validate(samples: Sequence[PairSample]) -> Metrics:
    """The out-of-sample figure: for each scenario, the whole procedure (the reach bound by an
    inner leave-one-scenario-out, then the grid) runs on the other four and decides on it;
    metrics pooled over the five."""
    grid = _grid(tuple(samples))
    decisions: list[tuple[bool, bool]] = []
    for held_out in range(len(SCENARIOS)):
        test = grid.scenario == held_out
        index, _ = _choose(grid, ~test)
        decisions += zip(grid.predicted[test, index].tolist(), grid.truth[test].tolist(), strict=True)
    return _metrics(decisions)


def _describe(config: RiskConfig) -> list[str]:
    buckets = ", ".join(
        f"{w:g} ≤ {hi}"
        for hi, w in zip(
            config.attenuation_bucket_thresholds_db, config.attenuation_bucket_weights, strict=False
        )
    )
    buckets += f", {config.attenuation_bucket_weights[-1]:g} beyond"
    if config.trl_encoding is not None:
        multiplier = "TRL value (report type + infectiousness offsets)"
    else:
        reports = sorted(k for k, v in config.report_type_weights.items() if v > 0)
        multiplier = f"report types {', '.join(map(str, reports))} × infectiousness weights"
    drops = [
        f"< {f.drop_if_minutes.max:g} min below {f.attenuation.max:g} dB"
        for f in config.minutes_at_attenuation_filters
    ]
    drops += [f"TRL {r.min:g}–{r.max:g}" for r in config.trl_filters]
    if config.minimum_window_score:
        drops.append(f"score < {config.minimum_window_score:g}")
    if config.day_conditions:
        day = " and ".join(
            f"{c.quantity.replace('_', ' ')} {c.op} {c.value:g}" for c in config.day_conditions
        )
    else:
        day = f"HIGH ≥ {config.high_day_minutes():g} min"
        low = [lr.range for lr in config.day_levels if lr.level.name == "LOW"]
        if low:
            day += f", LOW from {low[0].min:g}"
    return [f"{buckets} ({config.bucket_attenuation})", multiplier, "; ".join(drops) or "—", day]


def render_presets() -> str:
    """The Markdown table of ``docs/risk.md`` that sets the presets' parameters side by side."""
    lines = [
        "| preset | weight by attenuation (dB) | window multiplier | windows dropped | day |",
        "|---|---|---|---|---|",
    ]
    for name, config in PRESETS.items():
        lines.append("| " + " | ".join([name, *_describe(config)]) + " |")
    return "\n".join(lines)


def render_table(samples: Sequence[PairSample]) -> str:
    """The Markdown table of ``docs/risk.md``: every configuration on the same decisions, the
    out-of-sample figure of our procedure first."""
    nested = nested_cross_validate(samples)
    lines = [
        "| configuration | seen this data | precision | recall | F1 |",
        "|---|---|---:|---:|---:|",
        f"| **bluezone procedure, nested leave-one-scenario-out** | no (out of sample) | "
        f"**{nested.precision:.3f}** | **{nested.recall:.3f}** | **{nested.f1:.3f}** |",
    ]
    for name, decide in CONFIGS.items():
        m = evaluate(decide, samples)
        seen = "tuned on it (in sample)" if PRESETS[name] == DEFAULT_RISK_CONFIG else "no"
        lines.append(f"| {name} | {seen} | {m.precision:.3f} | {m.recall:.3f} | {m.f1:.3f} |")
    positives = sum(s.close for s in samples)
    lines.append("")
    lines.append(
        f"{len(samples)} decisions ({len(samples) // SEEDS} ordered pairs × {SEEDS} scan schedules), "
        f"{positives} close."
    )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    samples = load_samples()
    if "--tune" in args:
        config, bound = choose_default(samples)
        print(f"reach bound {bound} dB: {config}")
        print(evaluate(decision(config), samples))
    print(render_table(samples))
    print()
    print(render_scale_check())
    return 0


if __name__ == "__main__":
    sys.exit(main())
