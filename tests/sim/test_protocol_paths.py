"""The vectorized protocol (sim.vectorized) against the real one (sim.protocol_path: a real tracer
server, export files, ``protocol.matching`` and ``protocol.risk``): the same warnings at the same times."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from protocol.advert import Metadata
from protocol.export import DiagnosisKey
from protocol.keys import TEK_ROLLING_PERIOD, derive_aemk, derive_rpik, encrypt_aem, rpi, rpis
from protocol.matching import Sighting, match
from protocol.risk import daily_summaries, exposure_windows
from sim.config import ScenarioConfig, risk_config
from sim.epidemic import DAY_S, Cases
from sim.protocol_path import ServerRun, publish_through_server, real_warnings
from sim.runner import RunResult, run
from sim.scanning import Observations, ScanClock
from sim.teks import day_of, interval_of, run_key, tek
from sim.vectorized import (
    KeyIndex,
    KeyRelease,
    match_observations,
    observed_rpis,
    publication_time,
    release_plan,
    score,
    warn,
)

# Half of everyone runs the app (72 % own a smartphone) and cases are frequent, so a small run
# has dozens of warned devices; a test 1–2 days after onset keeps the cases inside a 5-day run.
BUSY = {
    "agents": 1200,
    "days": 5,
    "adoption": 0.5,
    "smartphone_ownership": 0.72,
    "cases_per_100k_per_day": 3000.0,
    "onset_to_test_days": (1.0, 2.0),
}
CWA_2020 = {"attenuation_thresholds_db": (55, 63, 73), "attenuation_weights": (1.0, 0.5, 0.0, 0.0)}


def _run(seed: int, **settings: Any) -> RunResult:
    return run(ScenarioConfig(**{**BUSY, **settings}), rng=np.random.default_rng(seed), real_path=True)


def _assert_same_warnings(result: RunResult) -> None:
    check = result.metrics["real_path_check"]
    assert result.fast is not None and result.real is not None
    assert check["whole_population"] is True  # every app user is in the cohort
    assert check["warned_real"] >= 10, check  # the comparison is about something
    assert check["disagreements"] == 0 and check["agree"] is True, check
    fast, real = result.fast.as_dict(), result.real.as_dict()
    assert fast == real  # same devices, same crossing batch, same warning time
    sync = result.metrics["config"]["sync_interval_minutes"] * 60
    for crossed, warned in real.values():
        assert crossed <= warned < crossed + sync


@pytest.fixture(scope="module")
def busy_run() -> RunResult:
    return _run(2)


def test_vectorized_and_real_paths_give_the_same_warnings_at_the_same_times(busy_run: RunResult) -> None:
    _assert_same_warnings(busy_run)
    check = busy_run.metrics["real_path_check"]
    assert check["devices"] == busy_run.metrics["population"]["app_users"]
    assert busy_run.metrics["warnings"]["warned"] == check["warned_vectorized"]


def test_the_real_path_published_every_key_it_was_given(busy_run: RunResult) -> None:
    keys = busy_run.metrics["cases"]["keys_published"]
    assert keys > 0
    assert sum(day["real"] for day in busy_run.metrics["keys_per_day"]) == keys
    assert busy_run.metrics["bytes_per_device_per_day"]["upload_per_uploading_device"] > 0


def test_the_paths_also_agree_with_other_thresholds_on_the_typical_attenuation(busy_run: RunResult) -> None:
    other = _run(2, **CWA_2020, bucket_attenuation="typical")
    _assert_same_warnings(other)
    assert other.fast is not None and busy_run.fast is not None
    assert other.fast.as_dict() != busy_run.fast.as_dict()  # the thresholds did change the outcome


def test_the_paths_agree_when_short_windows_do_not_count(busy_run: RunResult) -> None:
    """CoronaMelder drops exposure windows scoring under 300 weighted seconds; with 1,500 here the
    vectorized path must cut the same 30-minute windows as protocol.risk, and some must drop."""
    melder = _run(
        2,
        attenuation_thresholds_db=(56, 62, 73),
        attenuation_weights=(1.5, 1.0, 0.4, 0.0),
        minimum_window_score=1500.0,
        bucket_attenuation="typical",
    )
    _assert_same_warnings(melder)
    without = _run(
        2,
        attenuation_thresholds_db=(56, 62, 73),
        attenuation_weights=(1.5, 1.0, 0.4, 0.0),
        bucket_attenuation="typical",
    )
    assert melder.fast is not None and without.fast is not None
    assert len(melder.fast.device) < len(without.fast.device)  # the minimum did drop some windows


def test_a_sampled_cohort_gets_the_same_warnings_as_the_vectorized_path_gives_it() -> None:
    result = _run(2, real_path_max_agents=500, real_path_cohort=200)
    check = result.metrics["real_path_check"]
    assert check["whole_population"] is False and check["devices"] == 200
    assert check["agree"] is True and check["warned_real"] >= 3, check
    assert result.fast is not None and result.real is not None
    fast, real = result.fast.as_dict(), result.real.as_dict()
    assert len(fast) > len(real)  # the vectorized path warns the whole population
    assert {device: fast[device] for device in real} == real


@pytest.mark.slow
def test_the_paths_agree_on_a_larger_population_with_fewer_cases() -> None:
    result = run(
        ScenarioConfig(
            agents=4000, days=8, adoption=0.5, smartphone_ownership=0.72, cases_per_100k_per_day=400
        ),
        rng=np.random.default_rng(1),
        real_path=True,
    )
    _assert_same_warnings(result)


# ---- KeyIndex and the RPIs ------------------------------------------------------------------

KEY = run_key(11)
DAY = ScenarioConfig().start_day + 3


def _release(agents: list[int], days: list[int], periods: list[int]) -> KeyRelease:
    n = len(agents)
    published = np.full(n, (DAY + 2) * DAY_S)
    return KeyRelease(
        np.array(agents, dtype=np.int32),
        np.array(days, dtype=np.int64),
        np.array(periods, dtype=np.int64),
        np.zeros(n, dtype=np.int64),
        published - 3600,
        published,
        published - 7200,
    )


def test_key_index_finds_every_rpi_of_a_published_key_with_its_row() -> None:
    release = _release([5, 9, 5], [DAY, DAY, DAY + 1], [144, 37, 144])
    index = KeyIndex(release, KEY)
    for row in range(len(release)):
        agent, day, period = int(release.agent[row]), int(release.day[row]), int(release.rolling_period[row])
        derived = rpis(derive_rpik(tek(KEY, agent, day)), day * TEK_ROLLING_PERIOD, period)
        observed = np.frombuffer(b"".join(derived), dtype=np.uint8).reshape(-1, 16)
        assert np.all(index.lookup(observed) == row)
    # the key cut short at interval 37 does not match its later RPIs
    later = rpi(derive_rpik(tek(KEY, 9, DAY)), DAY * TEK_ROLLING_PERIOD + 37)
    assert index.lookup(np.frombuffer(later, dtype=np.uint8).reshape(1, 16))[0] == -1


def test_key_index_rejects_unknown_rpis_and_prefix_only_matches() -> None:
    release = _release([5, 9], [DAY, DAY], [144, 144])
    index = KeyIndex(release, KEY)
    known = np.frombuffer(rpi(derive_rpik(tek(KEY, 9, DAY)), DAY * TEK_ROLLING_PERIOD + 70), dtype=np.uint8)
    random = np.random.default_rng(0).integers(0, 256, size=(50, 16), dtype=np.uint8)
    prefix_only = known.copy()
    prefix_only[8:] ^= 0xFF  # same first 8 bytes, different last 8
    last_byte = known.copy()
    last_byte[15] ^= 1
    other_agent = np.frombuffer(
        rpi(derive_rpik(tek(KEY, 6, DAY)), DAY * TEK_ROLLING_PERIOD + 70), dtype=np.uint8
    )
    observed = np.vstack([known, random, prefix_only, last_byte, other_agent])
    found = index.lookup(observed)
    assert found[0] == 1
    assert np.all(found[1:] == -1)


def test_an_empty_key_index_finds_nothing() -> None:
    index = KeyIndex(_release([], [], []), KEY)
    assert list(index.lookup(np.zeros((3, 16), dtype=np.uint8))) == [-1, -1, -1]
    assert len(index.lookup(np.zeros((0, 16), dtype=np.uint8))) == 0


def _observations(rows: list[tuple[int, int, float, int, int, int]]) -> Observations:
    """(receiver, transmitter, time, seconds_since_last, rssi, strongest) per row."""
    rx, tx, t, since, level, strongest = (np.array(c) for c in zip(*rows, strict=True))
    return Observations(
        rx.astype(np.int32),
        tx.astype(np.int32),
        t.astype(np.float64),
        since.astype(np.int16),
        level.astype(np.int16),
        strongest.astype(np.int16),
        np.zeros(len(rows), dtype=np.uint8),
    )


def test_observed_rpis_are_the_transmitters_rpis_from_protocol_keys() -> None:
    rng = np.random.default_rng(3)
    times = DAY * DAY_S + rng.uniform(-DAY_S, 2 * DAY_S, 60)
    transmitters = rng.integers(0, 4, 60)
    observations = _observations(
        [(9, int(a), float(t), 255, -70, -65) for a, t in zip(transmitters, times, strict=True)]
    )
    got = observed_rpis(observations, KEY)
    for row, (a, t) in enumerate(zip(transmitters, times, strict=True)):
        expected = rpi(derive_rpik(tek(KEY, int(a), int(t // DAY_S))), int(t // 600))
        assert got[row].tobytes() == expected


# ---- risk arithmetic against protocol.risk ---------------------------------------------------

CLOCK = ScanClock(np.array([40.0, 100.0, 200.0]), 255.0, 45.0, seed=2021)


def _scan_k(agent: int, when: float) -> int:
    return int((when - CLOCK.phase[agent]) // CLOCK.interval_s)


def _hand_made() -> tuple[Observations, KeyRelease, list[DiagnosisKey]]:
    """Device 0 hears agents 1 and 2 over an hour on DAY (and agent 1 once on DAY + 1); agent 2's
    key is 13 days past onset, which the default mapping scores as NONE. One scan hears agent 1
    twice (two overlapping episodes), at different levels."""
    k0 = _scan_k(0, DAY * DAY_S + 10 * 3600)
    ks = np.arange(k0, k0 + 14)
    t = CLOCK.time(np.zeros(len(ks), dtype=np.int64), ks)
    since = CLOCK.seconds_since_last(np.zeros(len(ks), dtype=np.int64), ks)
    levels = [-62, -70, -78, -81, -83, -90, -66, -72, -80, -74, -95, -60, -77, -79]
    rows = []
    for i in range(len(ks)):
        rows.append((0, 1, float(t[i]), int(since[i]), levels[i], levels[i] + 4))
        if i % 3 == 0:
            rows.append((0, 2, float(t[i]), int(since[i]), levels[i] - 2, levels[i] + 1))
    rows.append((0, 1, float(t[4]), int(since[4]), -60, -57))  # the same scan, the same key, again
    k1 = _scan_k(0, (DAY + 1) * DAY_S + 2 * 3600)
    t1 = float(CLOCK.time(np.array([0]), np.array([k1]))[0])
    since1 = int(CLOCK.seconds_since_last(np.array([0]), np.array([k1]))[0])
    rows.append((0, 1, t1, since1, -65, -61))
    release = KeyRelease(
        np.array([1, 2, 1], dtype=np.int32),
        np.array([DAY, DAY, DAY + 1], dtype=np.int64),
        np.array([144, 144, 144], dtype=np.int64),
        np.array([0, 13, 1], dtype=np.int64),
        np.zeros(3),
        np.array([(DAY + 3) * DAY_S, (DAY + 3) * DAY_S, (DAY + 4) * DAY_S]),
        np.zeros(3),
    )
    keys = [
        DiagnosisKey(tek(KEY, int(a), int(d)), int(d) * 144, 144, 0, 1, int(s))
        for a, d, s in zip(release.agent, release.day, release.days_since_onset, strict=True)
    ]
    return _observations(rows), release, keys


def _sightings(observations: Observations, tx_power: int) -> list[Sighting]:
    metadata = Metadata(tx_power_dbm=tx_power).to_bytes()
    out = []
    for a, t, level, strongest in zip(
        observations.transmitter, observations.time, observations.rssi, observations.strongest, strict=True
    ):
        key = tek(KEY, int(a), int(t // DAY_S))
        identifier = rpi(derive_rpik(key), int(t // 600))
        aem = encrypt_aem(derive_aemk(key), identifier, metadata)
        out.append(Sighting(identifier, aem, int(level), float(t), max_rssi=int(strongest), count=8))
    return out


@pytest.mark.parametrize(
    "settings",
    [
        {},
        {"bucket_attenuation": "typical"},
        {**CWA_2020, "bucket_attenuation": "typical"},
        {**CWA_2020, "bucket_attenuation": "min"},
        {"attenuation_thresholds_db": (50, 70, 90), "attenuation_weights": (2.5, 1.5, 0.5, 0.25)},
    ],
)
def test_vectorized_scores_are_protocol_risks_daily_scores(settings: dict[str, Any]) -> None:
    config = ScenarioConfig(**settings)
    risk = risk_config(config)
    observations, release, keys = _hand_made()
    index = KeyIndex(release, KEY)
    matched, rows = match_observations(observations, index, KEY)
    assert len(matched) == len(observations)
    contributions = score(matched, rows, release, risk, config.tx_power_dbm)
    vectorized: dict[int, float] = {}
    for day, seconds in zip(contributions.day, contributions.seconds, strict=True):
        vectorized[int(day)] = vectorized.get(int(day), 0.0) + float(seconds)

    matches = match(keys, _sightings(observations, config.tx_power_dbm))
    scan_times = CLOCK.scans_between(0, DAY * DAY_S, (DAY + 2) * DAY_S).tolist()
    windows = exposure_windows(matches, risk.mapping, scan_times=scan_times)
    real = {s.day: s.score_sum for s in daily_summaries(windows, risk)}

    assert set(real) == {DAY, DAY + 1}
    assert vectorized == pytest.approx(real, abs=1e-9)
    assert real[DAY] > 0  # something was weighted
    # agent 2's key (13 days past onset) scores nothing
    only_two = score(
        matched.take(matched.transmitter == 2), rows[matched.transmitter == 2], release, risk, -15
    )
    assert only_two.seconds.sum() == 0


def test_a_device_warns_at_its_first_sync_after_the_batch_that_crosses_the_threshold() -> None:
    observations, release, _ = _hand_made()
    risk = risk_config(ScenarioConfig())
    index = KeyIndex(release, KEY)
    matched, rows = match_observations(observations, index, KEY)
    contributions = score(matched, rows, release, risk, -15)
    per_day = {int(d): 0.0 for d in contributions.day}
    for d, s in zip(contributions.day, contributions.seconds, strict=True):
        per_day[int(d)] += float(s)
    assert per_day[DAY] >= 15 * 60 > per_day[DAY + 1]  # DAY crosses, DAY + 1 alone would not
    sync_phase = np.array([1234.0, 0.0, 0.0])
    config = ScenarioConfig()
    warned = warn(contributions, risk, sync_phase, config)
    crossed = (DAY + 3) * DAY_S
    interval = config.sync_interval_minutes * 60
    expected = 1234.0 + np.ceil((crossed - 1234.0) / interval) * interval
    assert warned.as_dict() == {0: (crossed, expected)}
    # with a threshold only the two days together would reach, nobody warns (days do not add up)
    high = risk_config(ScenarioConfig(threshold_weighted_minutes=(per_day[DAY] + 1) / 60))
    assert len(warn(score(matched, rows, release, high, -15), high, sync_phase, config).device) == 0


def test_a_later_batch_can_take_a_day_over_the_threshold() -> None:
    observations, release, _ = _hand_made()
    config = ScenarioConfig()
    risk = risk_config(config)
    index = KeyIndex(release, KEY)
    matched, rows = match_observations(observations, index, KEY)
    early = score(matched, rows, release, risk, -15)
    total = early.seconds[early.day == DAY].sum()
    # Split DAY's contributions over two publications: the day crosses only with the second one.
    published = np.where(np.arange(len(early.device)) % 2 == 0, (DAY + 3) * DAY_S, (DAY + 5) * DAY_S)
    split = type(early)(early.device, early.day, published.astype(float), early.seconds, early.scan_seconds)
    threshold = total / 60 - 0.01
    high = risk_config(ScenarioConfig(threshold_weighted_minutes=threshold))
    got = warn(split, high, np.zeros(3), config)
    assert got.as_dict()[0][0] == (DAY + 5) * DAY_S


# ---- release_plan ----------------------------------------------------------------------------


@st.composite
def uploading_cases(draw: st.DrawFn) -> tuple[Cases, np.ndarray, ScenarioConfig]:
    config = ScenarioConfig(
        export_period_minutes=draw(st.sampled_from([60, 240, 1440])),
        export_min_window_age_minutes=draw(st.sampled_from([0, 120])),
    )
    n = draw(st.integers(0, 8))
    start = config.start_day * DAY_S
    onset = np.array([draw(st.floats(start - 3 * DAY_S, start + 10 * DAY_S)) for _ in range(n)])
    test = onset + np.array([draw(st.floats(0, 10 * DAY_S)) for _ in range(n)])
    upload = test + np.array([draw(st.floats(0, 2 * DAY_S)) for _ in range(n)])
    uploading = np.array([draw(st.booleans()) for _ in range(n)], dtype=bool)
    cases = Cases(np.arange(n, dtype=np.int32) * 3, onset, test, np.ones(n, dtype=bool), upload)
    return cases, uploading, config


@given(uploading_cases())
def test_release_plan_publishes_one_key_a_day_from_two_days_before_onset_to_the_upload_at_most_14(
    drawn: tuple[Cases, np.ndarray, ScenarioConfig],
) -> None:
    cases, uploading, config = drawn
    first_day = config.start_day
    release = release_plan(cases, uploading, config, first_day)
    assert np.all((release.rolling_period >= 1) & (release.rolling_period <= 144))
    assert set(release.agent.tolist()) <= set(cases.agent[uploading].tolist())
    for i in np.flatnonzero(uploading):
        rows = np.flatnonzero(release.agent == cases.agent[i])
        onset_day = int(cases.onset[i] // DAY_S)
        upload_day = int(cases.upload[i] // DAY_S)
        first = max(onset_day - 2, first_day, upload_day - 13)  # at most 14 keys, as the beacon
        assert release.day[rows].tolist() == list(range(first, upload_day + 1))
        assert release.days_since_onset[rows].tolist() == [
            d - onset_day for d in range(first, upload_day + 1)
        ]
        periods = release.rolling_period[rows]
        if len(rows):
            assert np.all(periods[:-1] == 144)
            # today's key, cut short: valid up to and including the upload's interval
            assert periods[-1] == interval_of(np.array([cases.upload[i]]))[0] - upload_day * 144 + 1
    assert np.all(release.published >= release.created + config.export_min_window_age_minutes * 60)
    assert np.all(release.published > release.upload)
    assert np.all(release.created >= np.floor(release.upload / 3600) * 3600)
    assert np.array_equal(release.published, publication_time(release.created, config))
    assert np.all(day_of(release.upload) == day_of(cases.upload[np.searchsorted(cases.agent, release.agent)]))


# ---- real_warnings on hand-made sightings ----------------------------------------------------

TARGET_DAY = ScenarioConfig().start_day + 3


@pytest.fixture(scope="module")
def one_upload() -> tuple[ScenarioConfig, KeyRelease, ServerRun]:
    """Agent 1 falls ill on TARGET_DAY and uploads, through a real server, the next day."""
    config = ScenarioConfig(agents=10, export_min_keys=10)
    onset = TARGET_DAY * DAY_S + 6 * 3600
    test = onset + DAY_S
    cases = Cases(
        np.array([1], np.int32),
        np.array([onset]),
        np.array([test]),
        np.array([True]),
        np.array([test + 3600]),
    )
    release = release_plan(cases, np.array([True]), config, config.start_day)
    server = publish_through_server(release, cases, config, KEY, until=test + 2 * DAY_S)
    return config, release, server


def test_the_server_exports_each_key_when_the_vectorized_path_says(
    one_upload: tuple[ScenarioConfig, KeyRelease, ServerRun],
) -> None:
    _, release, server = one_upload
    published = server.published_at()
    assert len(release) == 4  # TARGET_DAY − 2 … TARGET_DAY + 1
    for row in range(len(release)):
        key = tek(KEY, int(release.agent[row]), int(release.day[row]))
        assert published[key] == release.published[row]
    exported = {k.key_data: k for batch in server.batches for k in batch.keys}
    today = exported[tek(KEY, 1, int(release.day[-1]))]
    assert today.rolling_period == release.rolling_period[-1] < 144
    for day, since in zip(release.day, release.days_since_onset, strict=True):
        assert exported[tek(KEY, 1, int(day))].days_since_onset_of_symptoms == since


def _scans_in_one_interval(count: int) -> tuple[ScanClock, np.ndarray]:
    """Device 0's clock and ``count`` consecutive scan indices that fall in one 10-minute interval."""
    clock = ScanClock(np.array([10.0, 20.0]), 255.0, 45.0, seed=12345)
    k = int((TARGET_DAY * DAY_S + 3 * 3600) // 255)
    while True:
        t = clock.time(np.zeros(3, dtype=np.int64), np.arange(k, k + 3))
        if t[0] // 600 == t[2] // 600:  # three scans in one interval: possible with 210–300 s gaps
            return clock, np.arange(k, k + count)
        k += 1


@pytest.mark.parametrize("scans", [2, 3])
def test_real_and_vectorized_paths_agree_at_every_threshold_when_an_interval_has_several_scans(
    one_upload: tuple[ScenarioConfig, KeyRelease, ServerRun], scans: int
) -> None:
    """With three scans in one RPI's interval, the third one's seconds since the previous scan come
    from the second scan, in both paths (real_warnings once gave protocol.risk the scan times only up
    to the first sighting of each match, so the third scan counted 300 s instead of ~240 s)."""
    _, release, server = one_upload
    clock, ks = _scans_in_one_interval(scans)
    t = clock.time(np.zeros(scans, dtype=np.int64), ks)
    since = clock.seconds_since_last(np.zeros(scans, dtype=np.int64), ks)
    observations = _observations([(0, 1, float(t[i]), int(since[i]), -70, -68) for i in range(scans)])
    sync_phase = np.array([500.0, 0.0])
    index = KeyIndex(release, KEY)
    matched, rows = match_observations(observations, index, KEY)
    assert len(matched) == scans
    disagree = []
    for minutes in np.arange(0.5, 30.0, 0.25):
        config = ScenarioConfig(agents=10, threshold_weighted_minutes=float(minutes))
        risk = risk_config(config)
        fast = warn(score(matched, rows, release, risk, config.tx_power_dbm), risk, sync_phase, config)
        real = real_warnings(observations, server, risk, clock, sync_phase, config, KEY)
        if fast.as_dict() != real.as_dict():
            disagree.append(float(minutes))
    assert disagree == []


@pytest.mark.parametrize("preset", ["Corona-Warn-App 2021", "COCOA"])
def test_the_paths_agree_on_presets_with_trl_values_filters_rounding_and_day_conditions(preset: str) -> None:
    """protocol.risk.assess on the real path, its array form on the vectorized one: CWA's TRL
    value, filters and two-decimal day sums, COCOA's score-and-scan-seconds conditions."""
    from protocol.risk import PRESETS

    result = run(ScenarioConfig(**BUSY), rng=np.random.default_rng(3), real_path=True, risk=PRESETS[preset])
    _assert_same_warnings(result)
