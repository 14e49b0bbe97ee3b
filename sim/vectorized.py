"""The protocol for a whole population at once: the same keys, RPIs, schedule and arithmetic as
the real path (:mod:`sim.protocol_path`), in arrays.

* **Release**: which keys each uploading case publishes (onset − 2 days to the upload, today's
  cut short at the upload interval), when the server stamps them (``created_at``: the arrival
  hour, or the hour after a still-valid key ends — ``tracer_server/services/publish.py``) and
  when an export carries them (the end of that ``export_period`` window plus
  ``export_min_window_age``, the export job's rule).
* **Matching**: every observation's RPI is derived from the transmitter's real TEK (HKDF, then
  AES over the PaddedData of its interval) and looked up among the RPIs of the published keys:
  a sorted table of 64-bit prefixes, each hit confirmed on all 16 bytes.
* **Risk**: ``protocol.risk.assess`` in arrays: per scan instance, min and typical attenuation
  (``protocol.risk.attenuation``), the bucket weight × seconds since the previous scan; per
  window the minutes-at-attenuation and TRL filters and the multiplier (the TRL's value, or
  report-type × infectiousness weights), summed per device per UTC day as the key batches
  arrive; a device warns at its first sync after the batch that takes a day to HIGH.
  Per-window levels with gaps and day conditions that are not growing sums are refused (:func:`check_risk`).

A test runs this and the real path on the same observations and requires the same warnings at
the same times.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from beacon.report import MAX_KEYS
from protocol.export import ReportType
from protocol.keys import TEK_ROLLING_PERIOD, derive_rpik, rpis
from protocol.risk import MAX_WINDOW_SECONDS, Infectiousness, RiskConfig, RiskConfigError
from sim.config import ScenarioConfig
from sim.epidemic import Cases
from sim.scanning import Observations
from sim.teks import day_of, interval_of, teks

__all__ = [
    "KeyIndex",
    "KeyRelease",
    "Warnings",
    "check_risk",
    "match_observations",
    "release_plan",
    "score",
    "warn",
]

HOUR = 3600.0
_PREFIX = np.frombuffer(b"EN-RPI" + bytes(6), dtype=np.uint8)


@dataclass(frozen=True)
class KeyRelease:
    """One row per published key."""

    agent: np.ndarray  # int32
    day: np.ndarray  # int64 UTC day (rolling start = day · 144)
    rolling_period: np.ndarray  # int64
    days_since_onset: np.ndarray  # int64
    created: np.ndarray  # float64: the server's created_at
    published: np.ndarray  # float64: when the export carrying it appears
    upload: np.ndarray  # float64

    def __len__(self) -> int:
        return len(self.agent)


def publication_time(created: np.ndarray, config: ScenarioConfig) -> np.ndarray:
    period = config.export_period_minutes * 60.0
    window_end = (np.floor(created / period) + 1) * period
    out: np.ndarray = window_end + config.export_min_window_age_minutes * 60.0
    return out


def release_plan(cases: Cases, uploading: np.ndarray, config: ScenarioConfig, first_day: int) -> KeyRelease:
    """The keys of every uploading case: one per UTC day from onset − 2 days to the upload."""
    idx = np.flatnonzero(uploading)
    last = day_of(cases.upload[idx])
    # At most 14 keys with today's, as the beacon uploads (beacon/report.py).
    first = np.maximum(np.maximum(day_of(cases.infectious_from[idx]), first_day), last - (MAX_KEYS - 1))
    count = np.maximum(last - first + 1, 0)
    row = np.repeat(np.arange(len(idx)), count)
    day = first[row] + (np.arange(len(row)) - np.repeat(np.cumsum(count) - count, count))
    upload = cases.upload[idx][row]
    is_today = day == last[row]
    period = np.where(is_today, interval_of(upload) - day * TEK_ROLLING_PERIOD + 1, TEK_ROLLING_PERIOD)
    end = (day * TEK_ROLLING_PERIOD + period) * 600.0
    hour_of = np.floor(upload / HOUR) * HOUR
    created = np.where(end > upload, np.floor(end / HOUR) * HOUR + HOUR, hour_of)
    onset_day = day_of(cases.onset[idx])[row]
    return KeyRelease(
        cases.agent[idx][row],
        day,
        period,
        day - onset_day,
        created,
        publication_time(created, config),
        upload,
    )


class KeyIndex:
    """The RPIs of every published key, for lookups of observed RPIs."""

    def __init__(self, release: KeyRelease, run_key: bytes) -> None:
        keys = teks(run_key, release.agent, release.day)
        blobs, owners = [], []
        for i in range(len(release)):
            derived = rpis(
                derive_rpik(keys[i].tobytes()), int(release.day[i]) * 144, int(release.rolling_period[i])
            )
            blobs.append(b"".join(derived))
            owners.append(np.full(len(derived), i, dtype=np.int64))
        table = np.frombuffer(b"".join(blobs), dtype=np.uint8).reshape(-1, 16)
        owner = np.concatenate(owners) if owners else np.empty(0, dtype=np.int64)
        prefix = table[:, :8].copy().view(">u8").ravel()
        order = np.argsort(prefix, kind="stable")
        self.prefix, self.table, self.owner = prefix[order], table[order], owner[order]

    def lookup(self, observed: np.ndarray) -> np.ndarray:
        """Per observed RPI ((n, 16) uint8), the index of the published key it belongs to, or −1."""
        if not len(self.prefix) or not len(observed):
            return np.full(len(observed), -1, dtype=np.int64)
        prefix = observed[:, :8].copy().view(">u8").ravel()
        at = np.minimum(np.searchsorted(self.prefix, prefix), len(self.prefix) - 1)
        hit = (self.prefix[at] == prefix) & np.all(self.table[at] == observed, axis=1)
        return np.where(hit, self.owner[at], -1)


def observed_rpis(observations: Observations, run_key: bytes) -> np.ndarray:
    """The RPI each observation heard: its transmitter's key of that day, at that interval."""
    n = len(observations)
    interval = interval_of(observations.time)
    day = interval // TEK_ROLLING_PERIOD
    blocks = np.empty((n, 16), dtype=np.uint8)
    blocks[:, :12] = _PREFIX
    blocks[:, 12:] = interval.astype("<u4").view(np.uint8).reshape(-1, 4)
    order = np.lexsort((day, observations.transmitter))
    tx, dd = observations.transmitter[order], day[order]
    starts = np.flatnonzero(np.r_[True, (tx[1:] != tx[:-1]) | (dd[1:] != dd[:-1])]) if n else np.empty(0, int)
    bounds = np.r_[starts, n]
    keys = teks(run_key, tx[starts], dd[starts])
    ordered = blocks[order]
    out = np.empty_like(blocks)
    chunks = []
    for g in range(len(starts)):
        encryptor = Cipher(algorithms.AES(derive_rpik(keys[g].tobytes())), modes.ECB()).encryptor()
        chunks.append(encryptor.update(ordered[bounds[g] : bounds[g + 1]].tobytes()))
    if n:
        out[order] = np.frombuffer(b"".join(chunks), dtype=np.uint8).reshape(-1, 16)
    return out


def match_observations(
    observations: Observations, index: KeyIndex, run_key: bytes
) -> tuple[Observations, np.ndarray]:
    """The observations that heard a published key, with that key's row in the release."""
    key = index.lookup(observed_rpis(observations, run_key))
    hit = key >= 0
    return observations.take(hit), key[hit]


@dataclass(frozen=True)
class Contributions:
    """One row per exposure window that counts: device, UTC day, its key's publication time, score."""

    device: np.ndarray
    day: np.ndarray
    published: np.ndarray
    seconds: np.ndarray  # float64, already multiplied by all weights
    scan_seconds: np.ndarray  # float64, the window's seconds of scans (COCOA's floor)


_DAY_QUANTITIES = ("score_sum", "scan_seconds")  # sums that only grow as batches arrive


def check_risk(risk: RiskConfig) -> None:
    """Refuse, with the reason, a configuration the arrays do not model the way ``assess`` does."""
    for condition in risk.day_conditions:
        if condition.quantity not in _DAY_QUANTITIES or condition.op not in (">=", ">"):
            raise RiskConfigError(
                f"the vectorized path models day conditions on score_sum and scan_seconds with >= or >,"
                f" not {condition.quantity} {condition.op}"
            )
    spans = sorted((lr.range for lr in risk.window_levels), key=lambda r: r.min)
    if spans and (
        spans[0].min > 0
        or spans[-1].max < risk.max_day_minutes()
        or any(a.max != b.min for a, b in itertools.pairwise(spans))
    ):
        raise RiskConfigError("the vectorized path needs window_levels that cover 0..infinity without gaps")
    risk.high_day_minutes()


def score(
    matched: Observations, key: np.ndarray, release: KeyRelease, risk: RiskConfig, tx_power_dbm: int
) -> Contributions:
    """What ``protocol.risk.exposure_windows`` and ``daily_summaries`` compute: scan instances,
    30-minute windows per key, window scores, ``minimum_window_score``; one row per window."""
    check_risk(risk)
    if not len(matched):
        empty = np.empty(0)
        return Contributions(empty.astype(np.int64), empty.astype(np.int64), empty, empty, empty)
    # One scan instance per (device, key, scan time): several observations of one key in one scan
    # (two overlapping episodes of the same pair) merge, as exposure_windows groups by timestamp.
    order = np.lexsort((matched.time, key, matched.receiver))
    rx, k, t = matched.receiver[order], key[order], matched.time[order]
    typical_att = np.maximum(tx_power_dbm - matched.rssi[order].astype(np.int64), 0)
    min_att = np.maximum(tx_power_dbm - matched.strongest[order].astype(np.int64), 0)
    secs = matched.seconds_since_last[order].astype(np.float64)
    new = np.r_[True, (rx[1:] != rx[:-1]) | (k[1:] != k[:-1]) | (t[1:] != t[:-1])]
    group = np.cumsum(new) - 1
    first = np.flatnonzero(new)
    size = np.bincount(group)
    instance_min = np.minimum.reduceat(min_att, first)
    typical = np.round(np.add.reduceat(typical_att, first) / size)
    attenuation = instance_min if risk.bucket_attenuation == "min" else typical
    bucket = np.searchsorted(np.asarray(risk.attenuation_bucket_thresholds_db), attenuation, side="left")
    weighted = secs[first] * np.asarray(risk.attenuation_bucket_weights)[bucket]
    rx, k, t = rx[first], k[first], t[first]
    # Exposure windows: per device and key, a new one at a new UTC day or 30 minutes after the start.
    starts = _window_starts(rx, k, t)
    key_rows = k[starts]
    report = risk.mapping.report_type(ReportType.CONFIRMED_TEST)
    per_key = [risk.mapping.infectiousness(int(d)) for d in release.days_since_onset]
    trl = [risk.trl_encoding.level(report, i) if risk.trl_encoding else 0 for i in per_key]
    dropped = np.array(  # what assess drops whatever the score: NONE, or a filtered TRL
        [
            i == Infectiousness.NONE or any(level in f for f in risk.trl_filters)
            for i, level in zip(per_key, trl, strict=True)
        ]
    )
    multiplier = np.array([risk.multiplier(report, i) for i in per_key])
    window_score = np.add.reduceat(weighted, starts) * multiplier[key_rows]
    keep = (window_score >= risk.minimum_window_score) & ~dropped[key_rows]
    for drop in risk.minutes_at_attenuation_filters:
        inside = np.array([a in drop.attenuation for a in instance_min.tolist()], dtype=bool)
        minutes = np.add.reduceat(np.where(inside, secs[first], 0.0), starts) / 60
        keep &= ~np.array([m in drop.drop_if_minutes for m in minutes.tolist()], dtype=bool)
    return Contributions(
        rx[starts][keep].astype(np.int64),
        day_of(t[starts])[keep],
        release.published[key_rows][keep],
        window_score[keep],
        np.add.reduceat(secs[first], starts)[keep],
    )


def _window_starts(device: np.ndarray, key: np.ndarray, when: np.ndarray) -> np.ndarray:
    """Indices (into scan instances sorted by device, key, time) where an exposure window starts."""
    out = []
    last_device = last_key = -1
    start = -1.0
    for i, (d, k, t) in enumerate(zip(device.tolist(), key.tolist(), when.tolist(), strict=True)):
        if (
            d != last_device
            or k != last_key
            or t // 86_400 != start // 86_400
            or t - start >= MAX_WINDOW_SECONDS
        ):
            out.append(i)
            last_device, last_key, start = d, k, t
    return np.array(out, dtype=np.int64)


@dataclass(frozen=True)
class Warnings:
    """Per warned device: when the warning shows and which batch publication caused it."""

    device: np.ndarray  # int64 agent
    crossed: np.ndarray  # float64 publication time that took a day over the threshold
    warned: np.ndarray  # float64 the device's first sync at or after it

    def as_dict(self) -> dict[int, tuple[float, float]]:
        return {
            int(d): (float(c), float(w))
            for d, c, w in zip(self.device, self.crossed, self.warned, strict=True)
        }


def sync_after(
    published: np.ndarray, device: np.ndarray, sync_phase: np.ndarray, config: ScenarioConfig
) -> np.ndarray:
    """The device's first sync at or after ``published`` (syncs at phase + m · interval)."""
    interval = config.sync_interval_minutes * 60.0
    phase = sync_phase[device]
    out: np.ndarray = phase + np.ceil((published - phase) / interval) * interval
    return out


def warn(
    contributions: Contributions, risk: RiskConfig, sync_phase: np.ndarray, config: ScenarioConfig
) -> Warnings:
    c = contributions
    if not len(c.device):
        empty = np.empty(0)
        return Warnings(empty.astype(np.int64), empty, empty)
    # Sum per (device, day, batch), then accumulate over batches in publication order.
    order = np.lexsort((c.published, c.day, c.device))
    device, day, published = c.device[order], c.day[order], c.published[order]
    new = np.r_[True, (device[1:] != device[:-1]) | (day[1:] != day[:-1]) | (published[1:] != published[:-1])]
    first = np.flatnonzero(new)
    device, day, published = device[first], day[first], published[first]
    day_start = np.r_[True, (device[1:] != device[:-1]) | (day[1:] != day[:-1])]

    def day_totals(values: np.ndarray) -> np.ndarray:
        """The day's running sum after each batch (sums only grow as batches arrive)."""
        per_batch = np.add.reduceat(values[order], first)
        cumulative = np.cumsum(per_batch)
        base = np.maximum.accumulate(np.where(day_start, cumulative - per_batch, 0.0))
        out: np.ndarray = cumulative - base
        return out

    score = day_totals(c.seconds)
    if risk.day_conditions:
        measured = {"score_sum": score, "scan_seconds": day_totals(c.scan_seconds)}
        over = np.ones(len(score), dtype=bool)
        for condition in risk.day_conditions:
            value = measured[condition.quantity]
            over &= value >= condition.value if condition.op == ">=" else value > condition.value
    else:
        if risk.day_minutes_decimals is None:
            over = score >= risk.high_day_minutes() * 60
        else:  # the day's minutes rounded as assess rounds them (CWA)
            over = risk.round_day_minutes(score / 60) >= risk.high_day_minutes()
    if not over.any():
        empty = np.empty(0)
        return Warnings(empty.astype(np.int64), empty, empty)
    # Earliest crossing per device, over all of its days.
    cand_device, cand_time = device[over], published[over]
    order = np.lexsort((cand_time, cand_device))
    cand_device, cand_time = cand_device[order], cand_time[order]
    keep = np.r_[True, cand_device[1:] != cand_device[:-1]]
    dev, crossed = cand_device[keep], cand_time[keep]
    return Warnings(dev, crossed, sync_after(crossed, dev, sync_phase, config))
