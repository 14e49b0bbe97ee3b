"""beacon.schedule: one TEK per UTC day, RPI rotation every 10–20 minutes, same-day release."""

from __future__ import annotations

import random
from collections.abc import Iterator
from pathlib import Path

import pytest

from beacon.schedule import DEFAULT_TX_POWER_DBM, KeySchedule
from beacon.store import BeaconStore
from protocol.advert import Metadata, parse_service_data
from protocol.keys import (
    TEK_ROLLING_PERIOD,
    decrypt_aem,
    derive_aemk,
    derive_rpik,
    en_interval_number,
    rolling_start,
    rpi,
)

from .conftest import T0

DAY_S = 86_400


@pytest.fixture
def store(tmp_path: Path) -> Iterator[BeaconStore]:
    s = BeaconStore(tmp_path / "state")
    yield s
    s.close()


def seeded(store: BeaconStore, seed: int = 1) -> KeySchedule:
    rng = random.Random(seed)
    return KeySchedule(store, rng=rng, tek_rng=random.Random(f"tek/{seed}").randbytes)


def run_rotations(schedule: KeySchedule, start: float, end: float) -> list[tuple[float, float]]:
    """Rotate whenever due from ``start`` until ``end``: (rotation time, next rotation) pairs."""
    now, out = start, []
    while now < end:
        advert = schedule.rotate(now)
        out.append((now, advert.until))
        now = advert.until
    return out


def test_each_utc_day_gets_its_own_key_starting_at_midnight(store: BeaconStore) -> None:
    schedule = seeded(store)
    run_rotations(schedule, T0 + 3600, T0 + 3 * DAY_S + 3600)

    teks = store.teks()
    assert [t.rolling_start for t in teks] == [(T0 // 600) + day * TEK_ROLLING_PERIOD for day in range(4)]
    assert all(t.rolling_start % TEK_ROLLING_PERIOD == 0 for t in teks)
    assert all(t.rolling_period == TEK_ROLLING_PERIOD for t in teks)
    assert len({t.tek for t in teks}) == 4


def test_rotation_waits_strictly_between_ten_and_twenty_minutes(store: BeaconStore) -> None:
    schedule = seeded(store)
    rotations = run_rotations(schedule, T0 + 60, T0 + 2 * DAY_S)

    gaps = [until - now for now, until in rotations if until % DAY_S != 0]
    assert len(gaps) > 150
    assert all(600 < gap < 1200 for gap in gaps)
    assert max(gaps) - min(gaps) > 300  # randomized, not a fixed period


def test_rotation_is_forced_at_utc_midnight_onto_the_new_days_key(store: BeaconStore) -> None:
    schedule = seeded(store)
    before_midnight = T0 + DAY_S - 300  # five minutes left: the next random rotation would be tomorrow
    old = schedule.rotate(before_midnight)
    midnight = T0 + DAY_S
    assert old.until == midnight
    assert schedule.rotation_due(midnight) and not schedule.rotation_due(midnight - 1)

    new = schedule.rotate(midnight)

    tomorrow = store.current_tek(rolling_start(en_interval_number(midnight)))
    assert tomorrow is not None and new.tek_id == tomorrow.id != old.tek_id
    assert new.rpi == rpi(derive_rpik(tomorrow.tek), en_interval_number(midnight))
    assert parse_service_data(new.service_data)[0] == new.rpi


def test_no_advertisement_spans_midnight(store: BeaconStore) -> None:
    schedule = seeded(store, seed=5)
    for now, until in run_rotations(schedule, T0 + 60, T0 + 5 * DAY_S):
        assert now // DAY_S == (until - 1) // DAY_S


def test_service_data_is_rpi_then_aem_that_decrypts_to_default_metadata(store: BeaconStore) -> None:
    schedule = seeded(store)
    now = T0 + 9 * 3600 + 17
    advert = schedule.rotate(now)
    tek = store.current_tek(rolling_start(en_interval_number(now)))
    assert tek is not None

    assert len(advert.service_data) == 20
    rpi_part, aem = advert.service_data[:16], advert.service_data[16:]
    assert rpi_part == advert.rpi == rpi(derive_rpik(tek.tek), en_interval_number(now))
    metadata = decrypt_aem(derive_aemk(tek.tek), rpi_part, aem)
    assert metadata == bytes((0x50, DEFAULT_TX_POWER_DBM & 0xFF, 0, 0))
    parsed = Metadata.from_bytes(metadata)
    assert (parsed.version_major, parsed.version_minor) == (1, 1)
    assert parsed.tx_power_dbm == -15
    assert parsed.calibration_confidence == 0  # LOWEST: no per-model calibration


def test_release_today_cuts_the_key_at_the_current_interval(store: BeaconStore) -> None:
    schedule = seeded(store)
    now = T0 + 10 * 3600 + 5 * 60  # 10:05 UTC: interval 60 of the day
    on_air = schedule.rotate(now - 1800)
    start = int(T0 // 600)

    released = schedule.release_today(now)

    assert released.rolling_start_number == start
    assert released.rolling_period == en_interval_number(now) - start + 1 == 61
    old, new = store.teks()
    assert old.id == on_air.tek_id and old.tek == released.key_data
    assert (old.rolling_period, old.released) == (61, now)
    assert new.rolling_start == start and new.rolling_period == TEK_ROLLING_PERIOD
    assert new.released is None and new.tek != old.tek


def test_released_key_leaves_the_air_and_the_next_rotation_uses_the_new_key(store: BeaconStore) -> None:
    schedule = seeded(store)
    now = T0 + 10 * 3600 + 5 * 60
    before = schedule.rotate(now - 60)

    released = schedule.release_today(now)

    assert schedule.current is None and schedule.rotation_due(now)
    after = schedule.rotate(now)
    new = store.current_tek(int(T0 // 600))
    assert new is not None and new.tek != released.key_data
    assert after.tek_id == new.id != before.tek_id
    assert after.rpi == rpi(derive_rpik(new.tek), en_interval_number(now))
    assert after.rpi != rpi(derive_rpik(released.key_data), en_interval_number(now))


def test_keys_since_returns_past_days_only(store: BeaconStore) -> None:
    schedule = seeded(store)
    run_rotations(schedule, T0 - 4 * DAY_S + 60, T0 + 8 * 3600)
    today = int(T0 // 600)
    first = today - 3 * TEK_ROLLING_PERIOD

    keys = schedule.keys_since(first, T0 + 8 * 3600)

    assert [k.rolling_start_number for k in keys] == [first, first + 144, first + 288]
    assert all(k.rolling_period == TEK_ROLLING_PERIOD for k in keys)
    by_start = {t.rolling_start: t.tek for t in store.teks()}
    assert [k.key_data for k in keys] == [by_start[k.rolling_start_number] for k in keys]
    assert today in by_start  # today's key exists, but is released apart


def test_a_seeded_rng_gives_repeatable_keys_and_adverts(tmp_path: Path) -> None:
    adverts = []
    for name, seed in (("one", 3), ("two", 3), ("three", 4)):
        store = BeaconStore(tmp_path / name)
        try:
            schedule = seeded(store, seed)
            rotations = run_rotations(schedule, T0 + 60, T0 + DAY_S + 3600)
            adverts.append(([t.tek for t in store.teks()], rotations, schedule.rotate(T0 + DAY_S + 7200)))
        finally:
            store.close()

    assert adverts[0] == adverts[1]
    assert adverts[0][0] != adverts[2][0]


def test_a_release_by_another_process_takes_the_key_off_the_air_at_the_next_tick(tmp_path: Path) -> None:
    """`beacon report` runs in its own process: before, the daemon kept advertising the released
    key's RPIs until its next rotation, up to 20 minutes later."""
    daemon_store, report_store = BeaconStore(tmp_path / "state"), BeaconStore(tmp_path / "state")
    try:
        daemon = seeded(daemon_store)
        now = T0 + 9 * 3600
        on_air = daemon.rotate(now)
        assert not daemon.rotation_due(now + 1)
        released = seeded(report_store, seed=2).release_today(now + 2)
        assert released.key_data == daemon_store.teks()[0].tek  # the key that was on the air
        assert daemon.rotation_due(now + 3)  # one tick later, not at on_air.until
        fresh = daemon.rotate(now + 3)
        assert fresh.tek_id != on_air.tek_id and fresh.rpi != on_air.rpi
        assert not daemon.rotation_due(now + 4)
    finally:
        daemon_store.close()
        report_store.close()
