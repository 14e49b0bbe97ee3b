"""beacon.store: a private state directory, TEKs sealed at rest, aggregated sightings, retention,
and nothing committed lost to a ``kill -9``."""

from __future__ import annotations

import os
import select
import signal
import sqlite3
import stat
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path

import pytest

from beacon.schedule import DEFAULT_METADATA
from beacon.store import BeaconStore, StoreError
from protocol.export import DiagnosisKey
from protocol.matching import Match, Sighting

from .conftest import T0

DAY_S = 86_400
REPO = Path(__file__).resolve().parents[2]


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[BeaconStore]:
    s = BeaconStore(tmp_path / "state")
    yield s
    s.close()


# ---- the state directory and its files ---------------------------------------------------------


def test_state_directory_is_private_and_its_files_are_owner_only(tmp_path: Path) -> None:
    state = tmp_path / "state"
    store = BeaconStore(state)
    try:
        store.add_tek(bytes(range(16)), 2_939_616)
        store.record_window(T0, [Sighting(b"r" * 16, b"aemx", -60, T0)])
        assert mode(state) == 0o700
        files = sorted(p.name for p in state.iterdir())
        assert {"beacon.db", "tek.key"} <= set(files)
        for path in state.iterdir():
            assert mode(path) == 0o600, f"{path.name} is {oct(mode(path))}"
    finally:
        store.close()


def test_an_existing_state_directory_is_made_private(tmp_path: Path) -> None:
    state = tmp_path / "state"
    state.mkdir(mode=0o755)
    os.chmod(state, 0o755)
    BeaconStore(state).close()
    assert mode(state) == 0o700


def test_a_key_file_kept_apart_is_owner_only_and_not_in_the_state_directory(tmp_path: Path) -> None:
    key_file = tmp_path / "keys" / "tek.key"
    BeaconStore(tmp_path / "state", key_file).close()
    assert mode(key_file) == 0o600
    assert len(key_file.read_bytes()) == 32
    assert not (tmp_path / "state" / "tek.key").exists()


def test_teks_are_not_stored_in_clear(tmp_path: Path) -> None:
    state = tmp_path / "state"
    teks = [bytes([i]) * 3 + os.urandom(13) for i in range(5)]
    store = BeaconStore(state)
    try:
        for day, tek in enumerate(teks):
            store.add_tek(tek, 2_939_616 + 144 * day)
        store.release_tek(1, 60, T0)
        on_disk = b"".join(p.read_bytes() for p in state.iterdir() if p.name != "tek.key")
        assert not any(tek in on_disk for tek in teks)
        assert [t.tek for t in store.teks()] == teks  # and they do open with the key
    finally:
        store.close()
    on_disk = b"".join(p.read_bytes() for p in state.iterdir() if p.name != "tek.key")
    assert not any(tek in on_disk for tek in teks)


def test_a_wrong_key_file_is_refused_with_a_clear_message(tmp_path: Path) -> None:
    state = tmp_path / "state"
    store = BeaconStore(state)
    store.add_tek(os.urandom(16), 2_939_616)
    store.close()
    (state / "tek.key").write_bytes(os.urandom(32))

    with pytest.raises(StoreError, match="key file"):
        BeaconStore(state)


def test_a_key_file_of_the_wrong_size_is_refused_with_its_size(tmp_path: Path) -> None:
    key_file = tmp_path / "short.key"
    key_file.write_bytes(os.urandom(16))
    with pytest.raises(StoreError, match=r"32-byte key.*16 bytes"):
        BeaconStore(tmp_path / "state", key_file)


# ---- sightings ------------------------------------------------------------------------------


def test_record_window_aggregates_per_rpi_per_window(store: BeaconStore) -> None:
    a, b = b"A" * 16, b"B" * 16
    store.record_window(T0, [Sighting(a, b"aem1", -60, T0, max_rssi=-55, count=2)])
    store.record_window(T0, [Sighting(a, b"aem1", -70, T0, max_rssi=-66, count=2)])  # same window: upsert
    store.record_window(T0 + 250, [Sighting(a, b"aem1", -80, T0 + 250, count=1)])
    store.record_window(T0 + 250, [Sighting(b, b"aem2", -90, T0 + 250, max_rssi=-85, count=3)])

    got = sorted(store.sightings(), key=lambda s: (s.timestamp, s.rpi))
    assert got == [
        Sighting(a, b"aem1", -65, T0, max_rssi=-55, count=4, min_rssi=-70),  # mean of 2 × −60 and 2 × −70
        Sighting(a, b"aem1", -80, T0 + 250, max_rssi=-80, count=1, min_rssi=-80),
        Sighting(b, b"aem2", -90, T0 + 250, max_rssi=-85, count=3, min_rssi=-90),
    ]
    assert store.scan_times() == [T0, T0 + 250]
    assert store.counts()["sightings"] == 3


def test_one_window_holding_the_same_rpi_twice_stores_one_aggregate(store: BeaconStore) -> None:
    a = b"A" * 16
    store.record_window(T0, [Sighting(a, b"aem1", -50, T0), Sighting(a, b"aem1", -60, T0, max_rssi=-58)])
    assert store.sightings() == [Sighting(a, b"aem1", -55, T0, max_rssi=-50, count=2, min_rssi=-60)]


def test_an_empty_window_is_still_a_scan(store: BeaconStore) -> None:
    store.record_window(T0, [])
    assert store.scan_times() == [T0] and store.sightings() == []


# ---- retention ------------------------------------------------------------------------------


def _fill(store: BeaconStore, when: float, tag: int) -> None:
    """One of everything the store keeps, dated ``when``."""
    day_start = int(when // DAY_S) * 144
    sighting = Sighting(bytes([tag]) * 16, b"aem0", -60, when)
    store.add_tek(bytes([tag]) * 16, day_start)
    store.record_window(when, [sighting])
    key = DiagnosisKey(bytes([tag + 100]) * 16, day_start)
    store.record_file(
        f"{tag:064x}", f"file-{tag}.zip", when, [Match(key, day_start + 1, (sighting,), DEFAULT_METADATA)], []
    )
    store.record_rejected(f"{tag + 100:064x}", f"hostile-{tag}.zip", "no signature by a known key", when, "k")
    store.set_warning(int(when // DAY_S), 20.0, when)
    store.save_upload(None, "verified", {"token": f"t{tag}"}, when)


def test_purge_removes_what_is_older_than_14_days_and_keeps_the_rest(store: BeaconStore) -> None:
    now = T0 + 12 * 3600
    _fill(store, now - 15 * DAY_S, 1)  # too old
    _fill(store, now - 13 * DAY_S, 2)  # within retention
    _fill(store, now - 3600, 3)

    removed = store.purge(now)

    assert removed == {
        "sightings": 1,
        "scans": 1,
        "teks": 1,
        "matches": 1,
        "files": 1,
        "rejected": 1,
        "warnings": 1,
        "uploads": 1,
    }
    assert store.counts() == {
        "teks": 2,
        "scans": 2,
        "sightings": 2,
        "files": 2,
        "rejected": 2,
        "matches": 2,
        "warnings": 2,
        "uploads": 2,
    }
    assert store.scan_times() == [now - 13 * DAY_S, now - 3600]
    assert [t.tek[0] for t in store.teks()] == [2, 3]
    assert [u[3]["token"] for u in store.uploads()] == ["t2", "t3"]
    assert store.purge(now) == dict.fromkeys(removed, 0)


def test_purge_keeps_fourteen_whole_utc_days_of_keys(store: BeaconStore) -> None:
    now = T0 + 12 * 3600
    store.add_tek(b"o" * 16, int(T0 // 600) - 14 * 144)  # the day before the 14 kept ones
    store.add_tek(b"k" * 16, int(T0 // 600) - 13 * 144)  # the oldest kept day
    store.purge(now)
    assert [t.tek for t in store.teks()] == [b"k" * 16]


def test_purge_takes_a_warning_and_its_matches_together_never_half_a_day(store: BeaconStore) -> None:
    """An exposure 00:00–00:25 and a purge at 00:20 fourteen days later: before, the cut at
    now − 14 days removed the matches before 00:20 and kept the day's warning, and the next
    re-assessment withdrew it "because the case's keys were revoked"."""
    day = int(T0 // DAY_S)
    for minute in (5, 15, 25):
        _fill(store, day * DAY_S + minute * 60, minute)
    purge_at = (day + 14) * DAY_S + 20 * 60
    store.purge(purge_at)
    assert store.counts()["matches"] == 0 and store.warnings() == []
    store.set_warning(day + 1, 20.0, purge_at)
    assert store.purge(purge_at)["warnings"] == 0  # the next day is within the 14 and stays whole


# ---- crash safety -------------------------------------------------------------------------------

CHILD = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from beacon.store import BeaconStore
    from protocol.matching import Sighting

    store = BeaconStore(Path(sys.argv[1]))
    n = len(store.scan_times())
    print(n, flush=True)
    while True:
        start = 1_000_000.0 + n
        heard = [Sighting(n.to_bytes(4, "big") + bytes([k]) * 12, b"aemx", -60 - k, start) for k in range(20)]
        store.record_window(start, heard)
        n += 1
        print(n, flush=True)
    """
)


def _run_and_kill(state: Path, at_least: int) -> int:
    """Start a writer, SIGKILL it once it has reported ``at_least`` more commits; the last count seen."""
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(state)],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert child.stdout is not None
    try:
        first = int(child.stdout.readline())
        reported = first
        deadline = time.monotonic() + 30
        while reported < first + at_least:
            assert time.monotonic() < deadline, "the writer did not commit in time"
            ready, _, _ = select.select([child.stdout], [], [], 1.0)
            if ready:
                line = child.stdout.readline()
                assert line, f"the writer died: {child.stderr.read() if child.stderr else ''}"
                reported = int(line)
        child.send_signal(signal.SIGKILL)
        child.wait(10)
        for line in child.stdout:  # anything printed before the kill was committed before it
            reported = int(line)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait(10)
        child.stdout.close()
        if child.stderr:
            child.stderr.close()
    assert child.returncode == -signal.SIGKILL
    return reported


def test_kill_9_mid_write_loses_nothing_committed(tmp_path: Path) -> None:
    state = tmp_path / "state"
    for round_ in range(3):  # killed three times, at different points of the loop
        committed = _run_and_kill(state, at_least=15 + 7 * round_)

        store = BeaconStore(state)
        try:
            assert store.db.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
            times = store.scan_times()
            assert times[:committed] == [1_000_000.0 + i for i in range(committed)]
            assert len(times) in (committed, committed + 1)  # one more may have committed unreported
            per_window: dict[float, int] = {}
            for s in store.sightings():
                per_window[s.timestamp] = per_window.get(s.timestamp, 0) + 1
            assert all(per_window.get(t) == 20 for t in times)  # each window whole, never half
        finally:
            store.close()
    with closing(sqlite3.connect(state / "beacon.db")) as db:
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)


def test_a_window_keeps_the_mean_strongest_and_weakest_report(tmp_path: Path) -> None:
    """Regression: the weakest report was stored as min(mean, strongest), not the weakest."""
    from protocol.matching import Sighting

    store = BeaconStore(tmp_path / "state")
    store.record_window(
        1000.0, [Sighting(b"\x01" * 16, b"\x02" * 4, -70, 1000.0, max_rssi=-60, count=3, min_rssi=-81)]
    )
    (got,) = store.sightings()
    assert (got.rssi, got.max_rssi, got.min_rssi, got.count) == (-70, -60, -81, 3)
    store.close()


# ---- several AEMs per RPI, and the schema upgrade ---------------------------------------------------


def test_a_garbage_aem_heard_first_does_not_suppress_the_match(store: BeaconStore) -> None:
    """Before, the store (and the daemon's window) kept the first AEM heard per RPI per window,
    so a relay that replayed the RPI with a garbage AEM first hid the real advert."""
    from protocol.keys import derive_aemk, derive_rpik, encrypt_aem, rpi
    from protocol.matching import match

    tek = bytes(range(16))
    interval = int(T0 // 600) + 6
    value = rpi(derive_rpik(tek), interval)
    real = encrypt_aem(derive_aemk(tek), value, DEFAULT_METADATA.to_bytes())
    window = interval * 600 + 30
    store.record_window(window, [Sighting(value, b"\xff\xff\xff\xff", -40, window)])  # the relay, first
    store.record_window(window, [Sighting(value, real, -62, window, count=3)])
    assert len(store.sightings()) == 2
    found = match([DiagnosisKey(tek, int(T0 // 600))], store.sightings())
    assert len(found) == 1 and found[0].metadata == DEFAULT_METADATA
    assert [s.rssi for s in found[0].sightings] == [-62]


def test_a_store_written_by_the_previous_schema_upgrades_with_nothing_lost(tmp_path: Path) -> None:
    """tests/beacon/data/store-v1 was written by the code before the several-AEMs change."""
    import shutil
    import sqlite3

    from beacon.store import SCHEMA_VERSION

    state = tmp_path / "state"
    shutil.copytree(Path(__file__).parent / "data" / "store-v1", state)
    for f in state.iterdir():
        f.chmod(0o600)
    before = sqlite3.connect(state / "beacon.db")
    assert before.execute("SELECT v FROM meta WHERE k = 'schema_version'").fetchone() is None  # schema 1
    before.close()
    upgraded = BeaconStore(state)
    try:
        assert upgraded.counts()["sightings"] == 2 and upgraded.counts()["teks"] == 1
        assert upgraded.counts()["warnings"] == 1
        first = sorted(upgraded.sightings(), key=lambda s: s.timestamp)[0]
        assert (first.rpi, first.aem, first.rssi, first.count, first.strongest_rssi) == (
            b"\x02" * 16, b"aem1", -60, 3, -55,
        )  # fmt: skip
        assert upgraded.teks()[0].tek == b"\x01" * 16  # still opens with its key file
        version = upgraded.db.execute("SELECT v FROM meta WHERE k = 'schema_version'").fetchone()
        assert version == (str(SCHEMA_VERSION),)
    finally:
        upgraded.close()
    assert BeaconStore(state).counts()["sightings"] == 2  # opening again migrates nothing twice


def test_a_store_from_a_newer_beacon_is_refused_with_the_reason(tmp_path: Path) -> None:
    store = BeaconStore(tmp_path / "state")
    store.db.execute("UPDATE meta SET v = '99' WHERE k = 'schema_version'")
    store.close()
    with pytest.raises(StoreError, match="newer beacon"):
        BeaconStore(tmp_path / "state")
