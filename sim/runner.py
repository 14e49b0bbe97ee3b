"""One simulation run, start to finish; the only module that knows the order of the layers.

population → cases → per day: episodes (mobility) → ground truth, and for app users the radio
(scanning) → RPIs matched against the published keys (vectorized) → risk and warnings; the real
protocol (tracer server, export, ``protocol.matching``, ``protocol.risk``) for every app user up
to ``real_path_max_agents`` agents, for a sampled cohort above, checked against the vectorized
path; then the adoption curve, the threshold table, delays, bytes and keys per day.

Randomness: one generator in, split with ``spawn`` per layer, so the same seed gives the same
``metrics.json`` byte for byte, and a change in one layer does not reshuffle the others.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from cryptography.hazmat.primitives.asymmetric import ec

from beacon.radio.channel import Channel
from protocol.export import DiagnosisKey, SigningKey, write_export
from protocol.keys import TEK_ROLLING_PERIOD
from protocol.risk import RiskConfig
from sim.config import ScenarioConfig, risk_config
from sim.epidemic import DAY_S, Cases, run_window, sample_cases
from sim.metrics import TruthAccumulator, classification
from sim.mobility import day_episodes
from sim.population import Population, build_population
from sim.scanning import Observations, ScanClock, observe
from sim.teks import day_of, run_key, teks
from sim.vectorized import KeyIndex, KeyRelease, Warnings, match_observations, release_plan, score, warn

__all__ = ["RunResult", "alternative_risk_configs", "run"]

STORED_SIGHTING_BYTES = 48  # one row of the beacon's sightings table: RPI, AEM, RSSIs, count, time


@dataclass
class RunResult:
    metrics: dict[str, Any]
    timings: dict[str, float] = field(default_factory=dict)
    fast: Warnings | None = None
    real: Warnings | None = None


def alternative_risk_configs(config: ScenarioConfig) -> dict[str, RiskConfig]:
    """The run's configuration, the same with other minute thresholds, and deployed ones."""
    from protocol.risk.presets import CORONA_WARN_APP_2020, CORONAMELDER, SWISSCOVID

    base = risk_config(config)
    out = {"this run": base}
    for minutes in (5.0, 10.0, 20.0, 30.0):
        if minutes != base.threshold_weighted_minutes:
            out[f"{minutes:g} weighted minutes"] = RiskConfig(
                base.attenuation_bucket_thresholds_db,
                base.attenuation_bucket_weights,
                threshold_weighted_minutes=minutes,
                bucket_attenuation=base.bucket_attenuation,
            )
    out["Corona-Warn-App 2020"] = CORONA_WARN_APP_2020
    out["CoronaMelder"] = CORONAMELDER
    out["SwissCovid"] = SWISSCOVID
    return out


def _stopwatch() -> tuple[Callable[[str], AbstractContextManager[None]], dict[str, float]]:
    """``with lap("radio"): …`` adds the block's wall time to ``spent["radio"]``."""
    spent: dict[str, float] = {}

    @contextmanager
    def lap(name: str) -> Iterator[None]:
        started = time.perf_counter()
        try:
            yield
        finally:
            spent[name] = spent.get(name, 0.0) + time.perf_counter() - started

    return lap, spent


def _release_rows(release: KeyRelease, transmitter: np.ndarray, day: np.ndarray) -> np.ndarray:
    """The release row of each (transmitter, day), or −1."""
    if not len(release):
        return np.full(len(transmitter), -1)
    packed = release.agent.astype(np.int64) * 1_000_000 + release.day
    order = np.argsort(packed)
    wanted = transmitter.astype(np.int64) * 1_000_000 + day
    at = np.minimum(np.searchsorted(packed[order], wanted), len(packed) - 1)
    return np.where(packed[order][at] == wanted, order[at], -1)


def _stats(values: np.ndarray) -> dict[str, float | None]:
    if not len(values):
        return {"count": 0, "median": None, "p90": None, "mean": None}
    return {
        "count": len(values),
        "median": round(float(np.median(values)), 3),
        "p90": round(float(np.percentile(values, 90)), 3),
        "mean": round(float(values.mean()), 3),
    }


def _rounded(value: Any) -> Any:
    if isinstance(value, float):
        return None if value != value else round(value, 6)
    if isinstance(value, dict):
        return {k: _rounded(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_rounded(v) for v in value]
    return value


def fast_exports(
    release: KeyRelease, config: ScenarioConfig, rng: np.random.Generator
) -> list[dict[str, Any]]:
    """What the server would export, built with ``protocol.export``: per batch its real keys and,
    when fewer than ``export_min_keys``, padding up to that plus 0..``export_padding_range``
    (``tracer_server/services/export_job.py``); the file's size."""
    # A fixed key: signatures are deterministic (RFC 6979), so the sizes repeat with the seed.
    signing = SigningKey(ec.derive_private_key(2021, ec.SECP256R1()), "sim", "v1")
    batches = []
    for when in np.unique(release.published):
        rows = np.flatnonzero(release.published == when)
        jitter = int(rng.integers(0, config.export_padding_range + 1))
        padding = config.export_min_keys + jitter - len(rows) if len(rows) < config.export_min_keys else 0
        keys = [
            DiagnosisKey(
                rng.bytes(16),
                int(release.day[row]) * TEK_ROLLING_PERIOD,
                int(release.rolling_period[row]),
                2,
                report_type=1,
                days_since_onset_of_symptoms=int(release.days_since_onset[row]),
            )
            for row in (rows[i % len(rows)] for i in range(len(rows) + padding))
        ]
        window_end = int(when) - config.export_min_window_age_minutes * 60
        blob = write_export(
            keys,
            start_timestamp=window_end - config.export_period_minutes * 60,
            end_timestamp=window_end,
            region="VN",
            signing_keys=[signing],
        )
        batches.append({"time": float(when), "real": len(rows), "padding": padding, "bytes": len(blob)})
    return batches


def run(
    config: ScenarioConfig,
    *,
    rng: np.random.Generator,
    progress: Callable[[str, int, int], None] = lambda *_: None,
    real_path: bool = True,
    risk: RiskConfig | None = None,
) -> RunResult:
    """``risk`` replaces the configuration the scenario's settings describe (a preset, say)."""
    watch, spent = _stopwatch()
    rngs = rng.spawn(7)
    pop_rng, case_rng, mob_rng, radio_rng, curve_rng, sched_rng, export_rng = rngs
    key = run_key(config.seed)
    channel = Channel()
    risk = risk or risk_config(config)
    start, end = run_window(config)
    first_day = int(start // DAY_S)

    with watch("population"):
        population = build_population(config, pop_rng)
        pairs = population.household_pairs()
        cases = sample_cases(config, population.size, case_rng)
        isolated = cases.isolated_from(population.size)
        n = population.size
        clock = ScanClock(
            phase=sched_rng.random(n) * config.scan_interval_s,
            interval_s=config.scan_interval_s,
            jitter_s=config.scan_jitter_s,
            seed=int(sched_rng.integers(0, 2**63)),
        )
        sync_phase = sched_rng.random(n) * config.sync_interval_minutes * 60
        device_offset = sched_rng.normal(0.0, 1.0, n) * config.device_offset_sd_db  # drawn even at 0
        app = population.app
        uploading = cases.uploads(app, end)
        release = release_plan(cases, uploading, config, first_day)
    with watch("keys"):
        index = KeyIndex(release, key)

    if real_path:
        app_users = np.flatnonzero(app)
        if n <= config.real_path_max_agents:
            cohort = app_users
        else:
            cohort = np.sort(
                sched_rng.choice(app_users, size=min(config.real_path_cohort, len(app_users)), replace=False)
            )
        in_cohort = np.zeros(n, dtype=bool)
        in_cohort[cohort] = True

    top = max(config.adoption_curve)
    curve_app = population.app_at(top)
    curve_case = np.zeros(n, dtype=bool)
    curve_case[cases.agent[cases.consents & (cases.upload < end)]] = True
    curve_case &= curve_app

    truth = TruthAccumulator(cases, n, config)
    matched_parts: list[Observations] = []
    key_parts: list[np.ndarray] = []
    cohort_parts: list[Observations] = []
    curve_parts: list[Observations] = []
    sightings_per_device = np.zeros(n, dtype=np.int64)
    episodes_total = app_app_total = observations_total = 0
    for day in range(config.days):
        progress("simulating days", day, config.days)
        with watch("mobility"):
            episodes = day_episodes(
                population, config, day, mob_rng, household_pairs=pairs, isolated_from=isolated
            )
            episodes_total += len(episodes)
        with watch("ground truth"):
            truth.add(episodes)
        with watch("radio"):
            both = episodes.take(app[episodes.a] & app[episodes.b])
            app_app_total += len(both)
            observations = observe(both, clock, config, channel, radio_rng, device_offset_db=device_offset)
            observations_total += len(observations)
            sightings_per_device += np.bincount(observations.receiver, minlength=n)
        with watch("matching"):
            matched, rows = match_observations(observations, index, key)
            matched_parts.append(matched)
            key_parts.append(rows)
        if real_path:
            cohort_parts.append(observations.take(in_cohort[observations.receiver]))
        with watch("adoption curve"):
            near_case = episodes.take(
                curve_app[episodes.a]
                & curve_app[episodes.b]
                & (curve_case[episodes.a] | curve_case[episodes.b])
            )
            heard = observe(near_case, clock, config, channel, curve_rng, device_offset_db=device_offset)
            curve_parts.append(heard.take(curve_case[heard.transmitter]))
    progress("simulating days", config.days, config.days)

    with watch("risk"):
        matched = Observations.concat(matched_parts) if matched_parts else Observations.empty()
        keys_hit = np.concatenate(key_parts) if key_parts else np.empty(0, np.int64)
        fast = warn(score(matched, keys_hit, release, risk, config.tx_power_dbm), risk, sync_phase, config)

    metrics: dict[str, Any] = {"config": config.to_json()}
    real: Warnings | None = None
    if real_path:
        from sim.protocol_path import publish_through_server, real_warnings

        with watch("real protocol: server"):
            server = publish_through_server(release, cases, config, key, until=end + 2 * DAY_S)
        with watch("real protocol: match and risk"):
            cohort_obs = Observations.concat(cohort_parts)
            real = real_warnings(cohort_obs, server, risk, clock, sync_phase, config, key)
        fast_cohort = {d: v for d, v in fast.as_dict().items() if in_cohort[d]}
        real_dict = real.as_dict()
        disagreements = sorted(set(fast_cohort.items()) ^ set(real_dict.items()))
        metrics["real_path_check"] = {
            "devices": len(cohort),
            "whole_population": bool(n <= config.real_path_max_agents),
            "warned_real": len(real_dict),
            "warned_vectorized": len(fast_cohort),
            "disagreements": len(disagreements),
            "agree": not disagreements,
        }
        real_keys = {row.tobytes() for row in teks(key, release.agent, release.day)}
        batches = []
        for b in server.batches:
            count = sum(1 for k in b.keys if k.key_data in real_keys)
            batches.append(
                {"time": b.time, "real": count, "padding": len(b.keys) - count, "bytes": b.size_bytes}
            )
        upload_bytes = server.upload_bytes / max(server.uploads, 1)
    else:
        batches = fast_exports(release, config, export_rng)
        upload_bytes = None

    with watch("metrics"):
        close = truth.close_contacts()
        people = close.people()
        reachable = close.reachable(app, uploading)
        metrics["population"] = {
            "agents": n,
            "households": int(population.household.max()) + 1,
            "smartphone_owners": int(population.owner.sum()),
            "app_users": int(app.sum()),
            "adoption": round(float(app.mean()), 6),
            "districts": [
                {
                    "name": d.name,
                    "agents": int((population.district == i).sum()),
                    "app_users": int((app & (population.district == i)).sum()),
                }
                for i, d in enumerate(population.districts)
            ],
        }
        metrics["activity"] = {
            "episodes_per_day": round(episodes_total / config.days, 1),
            "app_app_episodes_per_day": round(app_app_total / config.days, 1),
            "observations_per_day": round(observations_total / config.days, 1),
        }
        metrics["cases"] = {
            "cases": len(cases),
            "with_app": int(app[cases.agent].sum()),
            "uploaded": int(uploading.sum()),
            "keys_published": len(release),
        }
        explained = close.explained(cases.agent, matched.receiver, matched.transmitter, fast.device)
        metrics["warnings"] = classification(fast.device, people, reachable, explained)
        metrics["warnings"]["p_squared"] = float(app.mean()) ** 2
        metrics["warnings"]["close_pairs_both_app"] = close.both_run_the_app(cases.agent, app)
        metrics["delay_hours"] = _delays(fast, matched, keys_hit, release, cases)
        sightings = sightings_per_device[app] / config.days
        download = sum(b["bytes"] for b in batches) / config.days
        metrics["bytes_per_device_per_day"] = {
            "download": round(download, 1),
            "stored_sightings": round(float(sightings.mean()) * STORED_SIGHTING_BYTES, 1)
            if len(sightings)
            else 0.0,
            "sightings": _stats(sightings),
            "upload_per_uploading_device": None if upload_bytes is None else round(upload_bytes, 1),
        }
        per_day: dict[int, dict[str, int]] = {}
        for b in batches:
            slot = per_day.setdefault(
                int(b["time"] // DAY_S), {"real": 0, "padding": 0, "bytes": 0, "files": 0}
            )
            slot["real"] += b["real"]
            slot["padding"] += b["padding"]
            slot["bytes"] += b["bytes"]
            slot["files"] += 1
        metrics["keys_per_day"] = [{"day": _iso(d), **v} for d, v in sorted(per_day.items())]
    with watch("adoption curve"):
        metrics["adoption_curve"] = _curve(
            config, population, cases, close, curve_parts, risk, sync_phase, end, first_day
        )
    with watch("thresholds"):
        metrics["thresholds"] = []
        for name, alternative in alternative_risk_configs(config).items():
            found = warn(
                score(matched, keys_hit, release, alternative, config.tx_power_dbm),
                alternative,
                sync_phase,
                config,
            )
            explained = close.explained(cases.agent, matched.receiver, matched.transmitter, found.device)
            metrics["thresholds"].append(
                {"name": name, **classification(found.device, people, reachable, explained)}
            )
    return RunResult(_rounded(metrics), spent, fast, real)


def _iso(day: int) -> str:
    import datetime as dt

    return (dt.date(1970, 1, 1) + dt.timedelta(days=day)).isoformat()


def _delays(
    fast: Warnings, matched: Observations, keys_hit: np.ndarray, release: KeyRelease, cases: Cases
) -> dict[str, Any]:
    """Hours from a positive test to the warning it caused: per warned device, the latest test among
    the cases whose keys it matched in the batch that took it over the threshold. And, per upload,
    hours from the upload to the export that first carries its keys."""
    first_published: dict[tuple[int, float], float] = {}
    for agent, upload, published in zip(
        release.agent.tolist(), release.upload.tolist(), release.published.tolist(), strict=True
    ):
        first_published[(agent, upload)] = min(first_published.get((agent, upload), published), published)
    waits = np.array([(p - u) / 3600 for (_, u), p in first_published.items()])
    if not len(fast.device):
        return {"test_to_warning": _stats(np.empty(0)), "upload_to_published": _stats(waits), "histogram": []}
    test_of = np.full(int(max(cases.agent.max(initial=0), release.agent.max(initial=0))) + 1, np.nan)
    test_of[cases.agent] = cases.test
    at = np.minimum(np.searchsorted(fast.device, matched.receiver), len(fast.device) - 1)
    in_batch = (fast.device[at] == matched.receiver) & (release.published[keys_hit] == fast.crossed[at])
    latest = np.full(len(fast.device), -np.inf)
    np.maximum.at(latest, at[in_batch], test_of[release.agent[keys_hit[in_batch]]])
    hours = (fast.warned - latest) / 3600
    edges = np.arange(0, max(48, int(np.ceil(hours.max() / 6)) * 6) + 6, 6)
    counts, _ = np.histogram(hours, bins=edges)
    return {
        "test_to_warning": _stats(hours),
        "upload_to_published": _stats(waits),
        "histogram": [
            {"from_hours": int(a), "count": int(c)} for a, c in zip(edges[:-1], counts, strict=True)
        ],
    }


def _curve(
    config: ScenarioConfig,
    population: Population,
    cases: Cases,
    close: Any,
    parts: list[Observations],
    risk: RiskConfig,
    sync_phase: np.ndarray,
    end: float,
    first_day: int,
) -> list[dict[str, Any]]:
    """Each adoption level on the same people (nested adopters), the radio sampled once for the
    highest level: observations by a case, kept at a level when both ends run the app there."""
    heard = Observations.concat(parts) if parts else Observations.empty()
    people = close.people()
    rows = []
    for level in config.adoption_curve:
        app = population.app_at(level)
        uploading = cases.uploads(app, end)
        release = release_plan(cases, uploading, config, first_day)
        at_level = heard.take(app[heard.receiver] & app[heard.transmitter])
        key_rows = _release_rows(release, at_level.transmitter, day_of(at_level.time))
        ok = key_rows >= 0
        at_level = at_level.take(ok)
        found = warn(
            score(at_level, key_rows[ok], release, risk, config.tx_power_dbm), risk, sync_phase, config
        )
        reachable = close.reachable(app, uploading)
        share = float(app.mean())
        rows.append(
            {
                "adoption": level,
                "realised": share,
                "p_squared": share**2,
                "close_pairs_both_app": close.both_run_the_app(cases.agent, app),
                **classification(
                    found.device,
                    people,
                    reachable,
                    close.explained(cases.agent, at_level.receiver, at_level.transmitter, found.device),
                ),
            }
        )
    return rows
