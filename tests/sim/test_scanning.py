"""sim.scanning: every phone's scan schedule and what its scans hear of an episode."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from beacon.radio.channel import Carriage, Channel
from sim.config import ScenarioConfig
from sim.mobility import CARRIAGE_CODES, Episodes, Venue
from sim.scanning import MAX_SECONDS_SINCE_LAST_SCAN, Observations, ScanClock, observe

CONFIG = ScenarioConfig(agents=10)
T0 = CONFIG.start_day * 86_400.0 + 3 * 3600  # 10:00 local on the first day


@st.composite
def clocks(draw: st.DrawFn) -> tuple[ScanClock, int]:
    interval = draw(st.floats(60, 900))
    jitter = draw(st.floats(0, interval / 2, exclude_max=True))
    agents = draw(st.integers(1, 5))
    phase = np.array([draw(st.floats(0, interval, exclude_max=True)) for _ in range(agents)])
    seed = draw(st.integers(0, 2**63 - 1))
    return ScanClock(phase, interval, jitter, seed), agents


@given(clocks(), st.integers(0, 5_000_000_000 // 60), st.integers(2, 50))
def test_scan_times_increase_with_k_and_intervals_stay_within_the_jitter(
    made: tuple[ScanClock, int], k0: int, count: int
) -> None:
    clock, agents = made
    for agent in range(agents):
        k = np.arange(k0, k0 + count)
        t = clock.time(np.full(count, agent), k)
        gaps = np.diff(t)
        assert np.all(gaps > 0)
        slack = 8 * np.spacing(float(t[-1]))  # rounding of times near 10^10 s
        assert np.all(gaps >= clock.interval_s - clock.jitter_s - slack)
        assert np.all(gaps <= clock.interval_s + clock.jitter_s + slack)
        jitter = clock.jitter(np.full(count, agent), k)
        assert np.all(jitter >= 0) and np.all(jitter <= clock.jitter_s)


@given(clocks(), st.floats(1.6e9, 1.7e9), st.floats(0, 4 * 3600))
def test_scans_between_are_exactly_the_schedules_times_in_the_span(
    made: tuple[ScanClock, int], start: float, span: float
) -> None:
    clock, _ = made
    got = clock.scans_between(0, start, start + span)
    k = np.arange(
        int((start - clock.phase[0]) // clock.interval_s) - 3, int((start + span) // clock.interval_s) + 3
    )
    every = clock.time(np.zeros(len(k), dtype=np.int64), k)
    assert np.array_equal(got, every[(every >= start) & (every < start + span)])
    assert np.all(np.diff(got) > 0)


def test_google_cadence_intervals_spread_over_210_to_300_seconds() -> None:
    clock = ScanClock(np.array([17.0]), CONFIG.scan_interval_s, CONFIG.scan_jitter_s, seed=99)
    k = np.arange(6_000_000, 6_020_000)
    gaps = np.diff(clock.time(np.zeros(len(k), dtype=np.int64), k))
    assert gaps.min() >= 210 and gaps.max() <= 300
    assert gaps.mean() == pytest.approx(255, abs=1)
    assert gaps.min() < 215 and gaps.max() > 295  # the whole range is used
    since = clock.seconds_since_last(np.zeros(len(k), dtype=np.int64), k)
    assert since.min() >= 210 and since.max() <= MAX_SECONDS_SINCE_LAST_SCAN


def test_seconds_since_last_is_capped_at_300() -> None:
    clock = ScanClock(np.array([0.0]), 900.0, 100.0, seed=1)
    since = clock.seconds_since_last(np.zeros(100, dtype=np.int64), np.arange(1000, 1100))
    assert np.all(since == MAX_SECONDS_SINCE_LAST_SCAN)


def test_different_agents_and_seeds_have_different_jitter() -> None:
    clock = ScanClock(np.zeros(2), 255.0, 45.0, seed=1)
    other = ScanClock(np.zeros(2), 255.0, 45.0, seed=2)
    k = np.arange(100)
    assert not np.array_equal(
        clock.jitter(np.zeros(100, np.int64), k), clock.jitter(np.ones(100, np.int64), k)
    )
    assert not np.array_equal(
        clock.jitter(np.zeros(100, np.int64), k), other.jitter(np.zeros(100, np.int64), k)
    )


def _episodes(
    n: int,
    *,
    distance: float,
    venue: Venue = Venue.HOUSEHOLD,
    minutes: float = 30.0,
    rng: np.random.Generator | None = None,
) -> Episodes:
    """``n`` episodes between agents 2i and 2i + 1, phones in hand (carriage 0), starting within an hour."""
    rng = rng or np.random.default_rng(0)
    a = np.arange(0, 2 * n, 2)
    return Episodes(
        a.astype(np.int32),
        (a + 1).astype(np.int32),
        T0 + rng.uniform(0, 3600, n),
        np.full(n, minutes * 60.0),
        np.full(n, distance, dtype=np.float32),
        np.full(n, venue, dtype=np.uint8),
        np.zeros(n, dtype=np.uint8),
        np.zeros(n, dtype=np.uint8),
    )


def _clock(agents: int, seed: int = 0) -> ScanClock:
    rng = np.random.default_rng(seed)
    return ScanClock(
        rng.random(agents) * CONFIG.scan_interval_s, CONFIG.scan_interval_s, CONFIG.scan_jitter_s, 77
    )


def _observe(episodes: Episodes, clock: ScanClock, seed: int = 1) -> Observations:
    agents = len(clock.phase)
    return observe(
        episodes, clock, CONFIG, Channel(), np.random.default_rng(seed), device_offset_db=np.zeros(agents)
    )


def test_observations_fall_on_the_receivers_scans_inside_the_episode_both_ways() -> None:
    episodes = _episodes(200, distance=0.5)
    clock = _clock(400)
    seen = _observe(episodes, clock)
    assert len(seen) > 0
    for i in range(len(episodes)):
        a, b = int(episodes.a[i]), int(episodes.b[i])
        start, end = float(episodes.start[i]), float(episodes.end[i])
        for rx, tx in ((a, b), (b, a)):
            mine = seen.time[(seen.receiver == rx) & (seen.transmitter == tx)]
            scans = clock.scans_between(rx, start, end)
            # at half a metre, phones in hand, every scan hears the other phone
            assert np.array_equal(np.sort(mine), scans), (rx, tx)
            assert 6 <= len(mine) <= 9  # 30 minutes of scans 210–300 s apart
    # nothing outside the pairs given
    assert np.array_equal(seen.receiver // 2, seen.transmitter // 2)
    assert np.all(seen.receiver != seen.transmitter)


def test_observations_carry_the_receivers_seconds_since_last_scan() -> None:
    episodes = _episodes(100, distance=1.0)
    clock = _clock(200)
    seen = _observe(episodes, clock)
    assert np.all((seen.seconds_since_last >= 1) & (seen.seconds_since_last <= 300))
    for rx, t, since in list(zip(seen.receiver, seen.time, seen.seconds_since_last, strict=True))[:300]:
        before = clock.scans_between(int(rx), t - 400, t)
        assert int(since) == int(min(t - before[-1], 300))
    assert np.all(seen.venue == Venue.HOUSEHOLD)


def test_no_episodes_give_no_observations() -> None:
    empty = _episodes(0, distance=1.0)
    seen = _observe(empty, _clock(2))
    assert len(seen) == 0
    assert seen.rssi.dtype == np.int16 and seen.receiver.dtype == np.int32


def test_an_episode_shorter_than_a_scan_gap_is_heard_at_most_once_per_direction() -> None:
    episodes = _episodes(300, distance=0.5, minutes=2.0)
    seen = _observe(episodes, _clock(600))
    pairs = seen.receiver.astype(np.int64) * 1000 + seen.transmitter
    assert np.bincount(pairs).max() <= 1
    assert 0 < len(seen) < 2 * 300


def _mean_rssi(venue: Venue, distance: float, n: int = 3000) -> float:
    seen = _observe(
        _episodes(n, distance=distance, venue=venue, rng=np.random.default_rng(3)), _clock(2 * n, 4), 5
    )
    assert len(seen) > 5 * n
    return float(seen.rssi.mean())


def test_closer_episodes_are_heard_stronger() -> None:
    near, far = _mean_rssi(Venue.HOUSEHOLD, 0.5), _mean_rssi(Venue.HOUSEHOLD, 5.0)
    # 10 · 1.17 · log10(10) = 11.7 dB apart with the fitted exponent
    assert near - far == pytest.approx(11.7, abs=2.0)
    assert near > -66  # −15 dBm TX, 47.0 dB at 1 m, +3.5 dB at half a metre


def test_in_a_vehicle_distance_matters_much_less_than_at_home() -> None:
    home = _mean_rssi(Venue.HOUSEHOLD, 0.5) - _mean_rssi(Venue.HOUSEHOLD, 5.0)
    vehicle = _mean_rssi(Venue.TRANSPORT, 0.5) - _mean_rssi(Venue.TRANSPORT, 5.0)
    assert vehicle == pytest.approx(3.0, abs=1.5)  # exponent 0.3: 3 dB per decade
    assert vehicle < home / 2


def test_pockets_and_bags_weaken_the_signal() -> None:
    in_hand = _episodes(2000, distance=1.0, rng=np.random.default_rng(8))
    pocket = np.full(2000, CARRIAGE_CODES.index(Carriage.TROUSER_POCKET), dtype=np.uint8)  # −12 dB a phone
    in_pocket = dataclasses.replace(in_hand, carriage_a=pocket, carriage_b=pocket)
    clock = _clock(4000)
    assert _observe(in_hand, clock).rssi.mean() - _observe(in_pocket, clock).rssi.mean() > 18


def test_the_strongest_advert_is_never_weaker_than_the_scans_mean() -> None:
    episodes = Episodes.concat(
        [
            _episodes(500, distance=d, venue=v, rng=np.random.default_rng(i))
            for i, (d, v) in enumerate([(0.3, Venue.HOUSEHOLD), (4.0, Venue.MARKET), (2.0, Venue.TRANSPORT)])
        ]
    )
    seen = _observe(episodes, _clock(1000))
    assert len(seen) > 1000
    assert np.all(seen.strongest >= seen.rssi)
    assert np.all(-15 - seen.strongest <= 70)  # attenuated beyond 70 dB a scan hears nothing
    assert (seen.strongest > seen.rssi).mean() > 0.9


def test_far_apart_phones_in_bags_are_mostly_not_heard() -> None:
    n = 500
    far = _episodes(n, distance=30.0, venue=Venue.MARKET)
    bag = np.full(n, CARRIAGE_CODES.index(Carriage.BAG), dtype=np.uint8)  # −10 dB per phone
    bags = dataclasses.replace(far, carriage_a=bag, carriage_b=bag)
    clock = _clock(2 * n)
    possible = sum(
        len(clock.scans_between(int(r), float(s), float(s) + 1800))
        for a, b, s in zip(far.a, far.b, far.start, strict=True)
        for r in (a, b)
    )
    heard = len(_observe(bags, clock))
    # about 84 dB of attenuation on average (80 dB for the strongest advert) against 70 dB heard
    assert 0 < heard < 0.3 * possible


def test_the_simulator_scans_on_the_same_range_and_mean() -> None:
    """The simulator's lattice (mean interval + jitter on each time) spans the same 210–300 s."""
    from protocol.scans import SCAN_INTERVAL_S, SCAN_JITTER_S
    from sim.config import ScenarioConfig

    config = ScenarioConfig()
    lo = config.scan_interval_s - config.scan_jitter_s
    hi = config.scan_interval_s + config.scan_jitter_s
    assert (lo, hi) == (SCAN_INTERVAL_S - SCAN_JITTER_S, SCAN_INTERVAL_S)
    assert config.scan_interval_s == SCAN_INTERVAL_S - SCAN_JITTER_S / 2
