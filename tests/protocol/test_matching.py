"""protocol.matching: planted matches, the ±2 h replay rule, forged metadata, a reference loop."""

from __future__ import annotations

import random
import tracemalloc
from collections.abc import Iterator

import pytest
from hypothesis import given
from hypothesis import strategies as st

from protocol.advert import Metadata
from protocol.export import DiagnosisKey
from protocol.keys import decrypt_aem, derive_aemk, derive_rpik, encrypt_aem, rpis
from protocol.matching import Match, Sighting, _rpik, match

DAY = 2_900_016  # an aligned interval (multiple of 144)
TX = Metadata(-15)


def _key(rng: random.Random, day: int = DAY, period: int = 144) -> DiagnosisKey:
    return DiagnosisKey(rng.randbytes(16), day, rolling_period=period)


def _heard(key: DiagnosisKey, j: int, *, at: int | None = None, metadata: bytes | None = None) -> Sighting:
    """A sighting of RPI j of ``key``, heard during interval ``at`` (default: its own interval)."""
    interval = key.rolling_start_interval_number + j
    rpi = rpis(derive_rpik(key.key_data), key.rolling_start_interval_number, key.rolling_period)[j]
    aem = encrypt_aem(derive_aemk(key.key_data), rpi, metadata or TX.to_bytes())
    return Sighting(rpi, aem, -60, (interval if at is None else at) * 600 + 17)


def _noise(rng: random.Random, n: int) -> list[Sighting]:
    return [
        Sighting(rng.randbytes(16), rng.randbytes(4), -80, (DAY + rng.randrange(144)) * 600) for _ in range(n)
    ]


def test_planted_matches_are_found_with_their_interval_and_metadata() -> None:
    rng = random.Random(1)
    keys = [_key(rng, DAY + 144 * d) for d in range(5)]
    planted = {(0, 3), (2, 77), (4, 143)}
    sightings = [_heard(keys[k], j) for k, j in planted] + _noise(rng, 500)
    found = match(keys, sightings)
    assert {(keys.index(m.key), m.interval - m.key.rolling_start_interval_number) for m in found} == planted
    assert all(m.metadata == TX and len(m.sightings) == 1 for m in found)


def test_sighting_within_two_hours_of_its_rpi_interval_matches() -> None:
    key = _key(random.Random(2))
    assert len(match([key], [_heard(key, 50, at=DAY + 50 + 12)])) == 1
    assert len(match([key], [_heard(key, 50, at=DAY + 50 - 12)])) == 1


def test_replay_later_the_same_day_beyond_two_hours_does_not_match() -> None:
    """An RPI recorded at 08:20 and replayed at 15:00 the same day must not match (spec §1.6)."""
    key = _key(random.Random(3))
    assert match([key], [_heard(key, 50, at=DAY + 50 + 13)]) == []
    assert match([key], [_heard(key, 50, at=DAY + 90)]) == []


def test_replay_on_a_later_day_does_not_match() -> None:
    key = _key(random.Random(4))
    assert match([key], [_heard(key, 140, at=DAY + 144 + 140)]) == []


def test_rpis_beyond_a_short_key_period_are_not_derived() -> None:
    """A same-day key cut short (rolling period 60) covers intervals 0..59 only."""
    rng = random.Random(5)
    full, short = _key(rng), None
    short = DiagnosisKey(full.key_data, DAY, rolling_period=60)
    late = _heard(full, 100)  # RPI 100 of the same TEK: not part of the published short key
    assert match([short], [late]) == []
    assert len(match([short], [_heard(full, 59)])) == 1


def test_forged_aem_with_implausible_tx_power_is_dropped() -> None:
    key = _key(random.Random(6))
    for tx in (21, -51, 100):
        assert match([key], [_heard(key, 10, metadata=Metadata(tx).to_bytes())]) == []
    assert len(match([key], [_heard(key, 10, metadata=Metadata(20).to_bytes())])) == 1


def test_forged_aem_that_is_not_metadata_is_dropped() -> None:
    key = _key(random.Random(7))
    genuine = _heard(key, 10)
    aemk = derive_aemk(key.key_data)
    bad_version = encrypt_aem(aemk, genuine.rpi, bytes((0x80, 0xF1, 0, 0)))  # major version 2
    forged = Sighting(genuine.rpi, bad_version, -40, genuine.timestamp)
    assert match([key], [forged]) == []
    # Beside a genuine sighting, the forged one is left out of the match.
    (found,) = match([key], [genuine, forged])
    assert found.sightings == (genuine,)


def test_no_sightings_or_no_keys_give_no_matches() -> None:
    rng = random.Random(8)
    assert match([_key(rng)], []) == []
    assert match([], _noise(rng, 10)) == []


def test_derivation_shortcut_equals_hkdf() -> None:
    rng = random.Random(9)
    for _ in range(200):
        tek = rng.randbytes(16)
        assert _rpik(tek) == derive_rpik(tek)


def _reference(keys: list[DiagnosisKey], sightings: list[Sighting], tolerance: int) -> list[Match]:
    """The plain loop of the spec, no filter, no batching."""
    out = []
    for key in keys:
        aemk = derive_aemk(key.key_data)
        derived = rpis(derive_rpik(key.key_data), key.rolling_start_interval_number, key.rolling_period)
        for j, rpi in enumerate(derived):
            interval = key.rolling_start_interval_number + j
            groups: dict[Metadata, list[Sighting]] = {}
            for s in sightings:
                if s.rpi == rpi and abs(s.interval - interval) <= tolerance:
                    try:
                        meta = Metadata.from_bytes(decrypt_aem(aemk, rpi, s.aem))
                    except ValueError:
                        continue
                    if -50 <= meta.tx_power_dbm <= 20:
                        groups.setdefault(meta, []).append(s)
            if groups:
                meta, kept = max(groups.items(), key=lambda item: len(item[1]))
                out.append(Match(key, interval, tuple(kept), meta))
    return out


@given(
    seed=st.integers(0, 2**32),
    n_keys=st.integers(1, 12),
    plants=st.lists(
        st.tuples(st.integers(0, 11), st.integers(0, 143), st.integers(-20, 20), st.integers(-60, 30)),
        max_size=12,
    ),
    periods=st.lists(st.integers(1, 144), min_size=12, max_size=12),
    tolerance=st.integers(0, 14),
)
def test_match_equals_the_reference_loop(
    seed: int,
    n_keys: int,
    plants: list[tuple[int, int, int, int]],
    periods: list[int],
    tolerance: int,
) -> None:
    rng = random.Random(seed)
    keys = [_key(rng, DAY + 144 * rng.randrange(3), periods[i]) for i in range(n_keys)]
    sightings = _noise(rng, 30)
    for k, j, shift, tx in plants:
        key = keys[k % n_keys]
        j %= key.rolling_period
        sightings.append(
            _heard(key, j, at=key.rolling_start_interval_number + j + shift, metadata=Metadata(tx).to_bytes())
        )
    rng.shuffle(sightings)
    assert match(keys, sightings, tolerance_intervals=tolerance) == _reference(keys, sightings, tolerance)


def test_keys_stream_through_with_flat_memory() -> None:
    """Memory does not grow with the number of keys: they are consumed batch by batch."""
    rng = random.Random(10)
    sightings = _noise(rng, 2000)

    def stream(n: int) -> Iterator[DiagnosisKey]:
        r = random.Random(n)
        for _ in range(n):
            yield DiagnosisKey(r.randbytes(16), DAY)

    peaks = []
    for n in (4_000, 16_000):
        tracemalloc.start()
        match(stream(n), sightings)
        peaks.append(tracemalloc.get_traced_memory()[1])
        tracemalloc.stop()
    assert peaks[1] < peaks[0] * 1.5, peaks


def test_negative_tolerance_is_refused() -> None:
    with pytest.raises(ValueError, match="tolerance"):
        match([], [], tolerance_intervals=-1)


@pytest.mark.slow
def test_worker_processes_give_the_same_matches() -> None:
    rng = random.Random(11)
    keys = [_key(rng, DAY + 144 * d) for d in range(3) for _ in range(3000)]
    sightings = [_heard(keys[i], i % 144) for i in range(0, len(keys), 97)] + _noise(rng, 1000)
    assert match(keys, sightings, workers=2) == match(keys, sightings)
