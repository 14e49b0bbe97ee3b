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
3. **GAEN scans**: per receiver, scans start at a random phase in the first 5 minutes and then
   every 300 s minus a random 0–90 s (Google's ``scanIntervalSeconds``,
   ``scanIntervalRandomRangeSeconds``). The phones of the experiment logged in bursts about
   every 10 s, so a scan takes the transmitter's reports from the 10 s after its start, the
   shortest window the log fills; each scan that heard the transmitter is one sighting (mean and
   max RSSI). ``SEEDS`` independent scan schedules are drawn per pair.
4. **Power**: the phones advertised at ULTRA_LOW; GAEN uses LOW, 6 dB more (DP-3T's
   ``measurements.py``: −21 vs −15 dBm), so 6 dB is added to every RSSI and to the advertised
   TX power that the metadata carries.
5. **Scoring**: the sightings become real ``protocol.matching.Match`` objects of a CONFIRMED_TEST
   key with STANDARD infectiousness, go through ``protocol.risk.exposure_windows`` with the
   receiver's scan times, and each configuration decides close or not per pair and schedule.
   Precision, recall and F1 are over all (pair, schedule) decisions.

Our default (``protocol.risk.DEFAULT_RISK_CONFIG``) was chosen by :func:`tune` on this data
alone; :func:`cross_validate` reports what that tuning procedure scores on a scenario it did
not see. ``python -m sim.calibration`` prints the table of ``docs/risk.md``.
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

import numpy as np

from protocol.advert import Metadata
from protocol.export import DiagnosisKey, ReportType
from protocol.matching import Match, Sighting
from protocol.risk import (
    PRESETS,
    DiagnosisKeysDataMapping,
    ExposureWindow,
    Infectiousness,
    RiskConfig,
    assess,
    exposure_windows,
)

__all__ = [
    "CONFIGS",
    "SCENARIOS",
    "Decision",
    "Metrics",
    "PairSample",
    "cross_validate",
    "evaluate",
    "load_samples",
    "render_presets",
    "render_table",
    "tune",
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
SCAN_WINDOW_S = 10.0
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


def _scan_times(start: float, end: float, rng: random.Random) -> list[float]:
    times, when = [], start + rng.uniform(0, 300)
    while when < end:
        times.append(when)
        when += 300 - rng.uniform(0, 90)
    return times


def _fake_key(scenario: str, transmitter: int) -> DiagnosisKey:
    digest = hashlib.sha256(f"{scenario}/{transmitter}".encode()).digest()
    return DiagnosisKey(digest[:16], 0, report_type=ReportType.CONFIRMED_TEST, days_since_onset_of_symptoms=0)


@cache
def load_samples(seeds: int = SEEDS) -> tuple[PairSample, ...]:
    """Every (pair, schedule) of scenarios 01–05 with its ground truth and exposure windows."""
    mapping = DiagnosisKeysDataMapping({0: Infectiousness.STANDARD})
    samples = []
    for scenario in SCENARIOS:
        with _scenario_db(scenario) as db:
            rows = db.execute(
                "SELECT receiver_id, transmitter_id, timestamp / 1000.0, rssi, tx_power, "
                "ground_truth_distance FROM results ORDER BY timestamp"
            ).fetchall()
        start, end = rows[0][2], rows[-1][2]
        by_pair: dict[tuple[int, int], list[tuple[float, int, int]]] = {}
        distances: dict[frozenset[int], list[tuple[float, float | None]]] = {}
        for receiver, transmitter, when, rssi, tx_power, distance in rows:
            by_pair.setdefault((receiver, transmitter), []).append((when, rssi, tx_power))
            distances.setdefault(frozenset((receiver, transmitter)), []).append((when, distance))
        close = {pair: _close_minutes(sorted(rows_), start) for pair, rows_ in distances.items()}
        for seed in range(seeds):
            rng = random.Random(f"{scenario}/{seed}")
            receivers = sorted({receiver for receiver, _ in by_pair})
            schedules = {receiver: _scan_times(start, end, rng) for receiver in receivers}
            for (receiver, transmitter), reports in sorted(by_pair.items()):
                scans = schedules[receiver]
                matches = _matches(_fake_key(scenario, transmitter), reports, scans)
                windows = exposure_windows(matches, mapping, scan_times=scans)
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


def _matches(key: DiagnosisKey, reports: list[tuple[float, int, int]], scans: list[float]) -> list[Match]:
    times = np.array([when for when, _, _ in reports])
    out = []
    for scan in scans:
        lo, hi = np.searchsorted(times, [scan, scan + SCAN_WINDOW_S])
        if lo == hi:
            continue
        heard = reports[lo:hi]
        rssis = [rssi + ULTRA_LOW_TO_LOW_DB for _, rssi, _ in heard]
        tx = heard[0][2] + ULTRA_LOW_TO_LOW_DB
        sighting = Sighting(
            rpi=bytes(16), aem=bytes(4), rssi=round(sum(rssis) / len(rssis)), timestamp=scan,
            max_rssi=max(rssis), count=len(rssis),
        )  # fmt: skip
        out.append(Match(key, int(scan // 600), (sighting,), Metadata(tx)))
    return out


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

_ATT_LO, _ATT_HI = 30, 110  # attenuations outside fall in the first / last bin (weights are flat there)
_GRID_T0 = range(50, 70, 2)
_GRID_GAPS = (2, 4, 6, 8)
_GRID_W = ((1.0, 1.0, 0.5), (1.5, 1.0, 0.5), (1.5, 1.0, 0.25), (1.5, 0.5, 0.5), (2.0, 1.0, 0.5),
           (2.0, 1.0, 0.0), (2.5, 1.0, 0.5), (1.0, 0.5, 0.0), (1.0, 0.5, 0.25), (1.0, 1.0, 0.0),
           (1.5, 1.0, 0.0), (2.0, 1.5, 0.5))  # fmt: skip
_GRID_MINUTES = (15.0,)  # the officials' rule fixes the minutes; the grid tunes how they are weighted
_KINDS = ("typical", "min")


def _histograms(samples: Sequence[PairSample], kind: str) -> np.ndarray:
    """Seconds per attenuation (dB), per sample: with one day per sample and no minimum window
    score, a configuration's score is linear in them."""
    hist = np.zeros((len(samples), _ATT_HI - _ATT_LO + 1), dtype=np.float32)
    for i, sample in enumerate(samples):
        for window in sample.windows:
            for scan in window.scan_instances:
                value = scan.min_attenuation_db if kind == "min" else scan.typical_attenuation_db
                hist[i, min(max(value, _ATT_LO), _ATT_HI) - _ATT_LO] += scan.seconds_since_last_scan
    return hist


def _weightings() -> list[tuple[tuple[int, int, int], tuple[float, float, float, float]]]:
    return [
        ((t0, t0 + g1, t0 + g1 + g2), (*w, 0.0))
        for t0, g1, g2, w in itertools.product(_GRID_T0, _GRID_GAPS, _GRID_GAPS, _GRID_W)
    ]


F1_TOLERANCE = 0.01


def tune(samples: Sequence[PairSample]) -> tuple[RiskConfig, Metrics]:
    """The grid configuration chosen on ``samples``.

    The grid: bucket on typical or min attenuation; T0 50–68 dB, gaps of 2–8 dB; twelve weight
    shapes, never heavier when farther; 15 weighted minutes a day, the officials' rule.
    Report-type and infectiousness weights stay 1 and the minimum window score 0.

    The choice: among the configurations within ``F1_TOLERANCE`` of the best F1, the one whose
    farthest weighted attenuation is lowest, then the best F1, then the earliest. The scenarios
    last 30 minutes, so they cannot show what hours at a distance add up to; a bucket that
    weighs 76 dB would make a working day ten metres away a close contact.
    """
    truth = np.array([s.close for s in samples])[:, None]
    weightings = _weightings()
    att = np.arange(_ATT_LO, _ATT_HI + 1)
    configs = [RiskConfig(t, w) for t, w in weightings]
    weights = np.array([[c.bucket_weight(int(a)) for a in att] for c in configs], dtype=np.float32).T
    reach = np.array([max((int(a) for a in att if c.bucket_weight(int(a)) > 0), default=0) for c in configs])
    candidates: list[tuple[float, int, int, str, float]] = []  # (f1, reach, index, kind, minutes)
    for kind in _KINDS:
        scores = _histograms(samples, kind) @ weights  # weighted seconds, (samples, weightings)
        for minutes in _GRID_MINUTES:
            predicted = scores >= minutes * 60
            tp = (predicted & truth).sum(axis=0)
            wrong = (predicted != truth).sum(axis=0)  # fp + fn
            f1 = 2 * tp / np.maximum(2 * tp + wrong, 1)
            candidates += [(float(f1[i]), int(reach[i]), i, kind, minutes) for i in range(len(configs))]
    best_f1 = max(c[0] for c in candidates)
    near_best = [c for c in candidates if c[0] >= best_f1 - F1_TOLERANCE]
    _, _, index, kind, minutes = min(near_best, key=lambda c: (c[1], -c[0], c[2]))
    thresholds, bucket_weights = weightings[index]
    chosen = RiskConfig(
        thresholds,
        bucket_weights,
        threshold_weighted_minutes=minutes,
        bucket_attenuation=kind,  # type: ignore[arg-type]
    )
    return chosen, evaluate(decision(chosen), samples)


def cross_validate(samples: Sequence[PairSample]) -> Metrics:
    """Leave one scenario out: tune on four, decide on the fifth; metrics pooled over the five."""
    decisions = []
    for held_out in SCENARIOS:
        config, _ = tune([s for s in samples if s.scenario != held_out])
        decide = decision(config)
        decisions += [(decide(s.windows), s.close) for s in samples if s.scenario == held_out]
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
    """The Markdown table of ``docs/risk.md``: every configuration on the same decisions."""
    lines = [
        "| configuration | precision | recall | F1 |",
        "|---|---:|---:|---:|",
    ]
    for name, decide in CONFIGS.items():
        m = evaluate(decide, samples)
        lines.append(f"| {name} | {m.precision:.3f} | {m.recall:.3f} | {m.f1:.3f} |")
    cv = cross_validate(samples)
    lines.append(
        f"| bluezone tuning, leave-one-scenario-out | {cv.precision:.3f} | {cv.recall:.3f} | {cv.f1:.3f} |"
    )
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
        config, metrics = tune(samples)
        print(config)
        print(metrics)
    print(render_table(samples))
    return 0


if __name__ == "__main__":
    sys.exit(main())
