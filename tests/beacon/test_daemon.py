"""beacon.daemon on the virtual air: beacons hear each other in GAEN-paced scan windows and store
one aggregate per RPI per window; a far one hears nothing that counts; ``run`` stops cleanly."""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from beacon.clock import SimClock
from beacon.daemon import Daemon
from beacon.radio import Advertiser, AdvertiserBackend, RawAdvert, Scanner, ScannerBackend
from beacon.radio.channel import Channel
from beacon.radio.virtual import VirtualAir, VirtualScanner
from beacon.schedule import KeySchedule
from beacon.store import BeaconStore, StoredTek
from protocol.advert import SERVICE_UUID16, Metadata, parse_service_data
from protocol.export import DiagnosisKey
from protocol.keys import decrypt_aem, derive_aemk
from protocol.matching import Match, match
from protocol.risk import DEFAULT_RISK_CONFIG, attenuation, daily_summaries, exposure_windows

from .conftest import T0, Beacon, World

DAY_S = 86_400


def diagnosis_keys(teks: list[StoredTek]) -> list[DiagnosisKey]:
    return [DiagnosisKey(t.tek, t.rolling_start, t.rolling_period) for t in teks]


def heard_of(listener: Beacon, speaker: Beacon) -> list[Match]:
    """What ``listener`` stored that matches ``speaker``'s keys, as a health authority would publish them."""
    return match(diagnosis_keys(speaker.store.teks()), listener.store.sightings())


@dataclass
class Day:
    near: tuple[Beacon, Beacon]
    far: Beacon


@pytest.fixture(scope="module")
def day(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Day]:
    """Three beacons for one simulated day: two a metre apart, one 500 m down the road."""
    world = World(
        VirtualAir(Channel(), np.random.default_rng(11), address_rng=random.Random(11).randbytes),
        SimClock(T0),
        tmp_path_factory.mktemp("day"),
        [],
    )
    alice = world.add("alice", (0.0, 0.0))
    bob = world.add("bob", (1.0, 0.0))
    far = world.add("far", (500.0, 0.0))
    asyncio.run(world.run_until(T0 + DAY_S, step=60))
    yield Day((alice, bob), far)
    for beacon in world.beacons:
        beacon.store.close()


# ---- a day on the virtual air ---------------------------------------------------------------------


def test_beacons_a_metre_apart_store_each_others_rpis_in_every_window(day: Day) -> None:
    for listener, speaker in (day.near, day.near[::-1]):
        found = heard_of(listener, speaker)
        windows = {s.timestamp for m in found for s in m.sightings}
        assert windows == set(listener.store.scan_times())
        assert len(found) > 72  # a new RPI every 10-20 minutes, all day
        assert all(m.metadata.tx_power_dbm == -15 for m in found)


def test_scan_windows_follow_the_gaen_cadence(day: Day) -> None:
    for beacon in (*day.near, day.far):
        times = beacon.store.scan_times()
        assert T0 + 60 <= times[0] <= T0 + 60 + 210  # a random phase after the first tick at T0 + 60
        gaps = np.diff(times)
        assert gaps.min() >= 210 and gaps.max() <= 300
        assert 288 <= len(times) <= 412  # one every 3.5-5 minutes for a day
        assert gaps.std() > 10  # jittered, not a fixed period


def test_one_sighting_per_rpi_per_window(day: Day) -> None:
    alice, bob = day.near
    sightings = alice.store.sightings()
    assert max(Counter((s.rpi, s.timestamp) for s in sightings).values()) == 1
    assert all(1 <= s.count <= 4 for s in sightings)  # 4 adverts heard per window at most
    bobs = [s for m in heard_of(alice, bob) for s in m.sightings]
    assert max(Counter(s.timestamp for s in bobs).values()) == 1  # Bob has one RPI on the air at a time


def test_a_beacon_500_m_away_hears_nothing_that_counts(day: Day) -> None:
    # The channel's shadowing has a log-normal tail: at 500 m (79 dB on average) an advert
    # crosses the 70 dB limit of hearing now and then, but never strongly enough to weigh anything.
    far = day.far
    last_bucket = DEFAULT_RISK_CONFIG.attenuation_bucket_thresholds_db[-1]
    assert all(attenuation(-15, s.strongest_rssi) > last_bucket for s in far.store.sightings())
    for near in day.near:
        for listener, speaker in ((far, near), (near, far)):
            windows = exposure_windows(heard_of(listener, speaker), scan_times=listener.store.scan_times())
            assert all(summary.score_sum == 0 for summary in daily_summaries(windows))


# ---- malformed adverts --------------------------------------------------------------------------


def test_malformed_service_data_is_counted_and_not_stored(world: World) -> None:
    async def scenario() -> None:
        alice = world.add("alice", (0.0, 0.0))
        bob = world.add("bob", (0.0, 1.0))
        rogue = world.air.attach("rogue", (1.0, 0.0))
        await rogue.advertiser.advertise(SERVICE_UUID16, b"\x01" * 10)  # not RPI 16 + AEM 4
        await world.run_until(T0 + 3600, step=60)

        windows = len(alice.store.scan_times())
        assert windows >= 12
        assert alice.daemon.scanner.malformed >= windows  # the rogue at 1 m is heard every window
        stored = alice.store.sightings()
        assert len(stored) == windows  # Bob's, one per window
        assert {s.timestamp for m in heard_of(alice, bob) for s in m.sightings} == {
            s.timestamp for s in stored
        }

    asyncio.run(scenario())


# ---- run() and stop ---------------------------------------------------------------------------------


class ContinuousScanner(VirtualScanner):
    """The virtual radio behaving like a continuous scanner: a window stays open until the next."""

    windowed = False


async def wait_until(condition: Callable[[], bool], what: str, passes: int = 20_000) -> None:
    for _ in range(passes):
        if condition():
            return
        await asyncio.sleep(0)
    raise AssertionError(f"timed out waiting until {what}")


def alice_with(world: World, scanner: VirtualScanner | None = None) -> tuple[Daemon, BeaconStore]:
    """Alice at the origin, a daemon with no syncer (no server configured)."""
    radio = world.air.attach("alice", (0.0, 0.0))
    store = BeaconStore(world.tmp / "alice")
    rng = random.Random(3)
    daemon = Daemon(
        schedule=KeySchedule(store, rng=rng, tek_rng=rng.randbytes),
        store=store,
        scanner=Scanner(scanner(radio) if scanner else radio.scanner),
        advertiser=Advertiser(radio.advertiser),
        syncer=None,
        clock=world.clock,
        rng=rng,
    )
    return daemon, store


def test_a_daemon_without_a_syncer_never_wakes_up_for_a_sync(world: World) -> None:
    async def scenario() -> None:
        daemon, store = alice_with(world)
        try:
            for _ in range(4):
                await daemon.tick()
                assert daemon.next_due() > world.clock.now(), "next_due() lies in the past: run() would spin"
                world.clock.set(daemon.next_due())
        finally:
            store.close()

    asyncio.run(scenario())


def test_run_stops_cleanly_when_stop_is_set_and_flushes_the_open_window(world: World) -> None:
    async def scenario() -> None:
        bob = world.add("bob", (1.0, 0.0))
        await bob.daemon.tick()  # Bob starts advertising
        daemon, store = alice_with(world, ContinuousScanner)
        radio = daemon.scanner.backend.radio
        stop = asyncio.Event()
        task = asyncio.create_task(daemon.run(stop))
        try:
            await wait_until(
                lambda: (
                    len(store.scan_times()) >= 3 and daemon.window is not None and bool(daemon.window.heard)
                ),
                "three windows are stored and a fourth is open",
            )
            assert radio.advert is not None and radio.callback is not None
            assert daemon.window is not None
            open_window = daemon.window.start
            assert open_window not in store.scan_times()

            stop.set()
            await asyncio.wait_for(task, 5)

            assert task.exception() is None
            assert store.scan_times()[-1] == open_window
            assert [s.timestamp for s in store.sightings()].count(open_window) == 1
            assert radio.advert is None and radio.callback is None  # off the air, not scanning
            assert daemon.window is None
        finally:
            stop.set()
            await asyncio.wait([task], timeout=5)
            store.close()

    asyncio.run(scenario())


def test_a_window_keeps_every_aem_heard_for_an_rpi_not_the_first() -> None:
    """Before, the scan window kept the first AEM per RPI, so a relay's garbage AEM hid the real one."""
    from types import SimpleNamespace

    from beacon.daemon import _Window
    from beacon.radio import AdvertReport

    daemon = SimpleNamespace(window=_Window(1000.0))
    rpi = bytes(16)
    for aem, rssi in ((b"junk", -40), (b"real", -60), (b"real", -62)):
        Daemon._heard(daemon, AdvertReport(rpi, aem, rssi, 1001.0, "11:22:33:44:55:66"))  # type: ignore[arg-type]
    by_aem = {s.aem: s for s in daemon.window.sightings()}
    assert set(by_aem) == {b"junk", b"real"}
    assert by_aem[b"real"].count == 2 and by_aem[b"real"].rssi == -61


def test_a_continuous_scanner_keeps_only_the_reports_of_the_scan_window() -> None:
    """One scan definition (protocol.scans): a scanner that hears all the time contributes the
    reports of [start, start + SCAN_DURATION_S) to a window, as the tuning and the simulator do.
    Before, the window stayed open until the next one (210–300 s) and its strongest report was
    the strongest of hundreds."""
    from types import SimpleNamespace

    from beacon.daemon import _Window
    from beacon.radio import AdvertReport
    from protocol.scans import SCAN_DURATION_S

    start = 1000.0
    daemon = SimpleNamespace(window=_Window(start))
    rpi = bytes(16)
    for offset, rssi in (
        (-0.5, -30),
        (0.0, -60),
        (SCAN_DURATION_S - 0.1, -62),
        (SCAN_DURATION_S, -30),
        (200, -20),
    ):
        Daemon._heard(daemon, AdvertReport(rpi, b"aem!", rssi, start + offset, "11:22:33:44:55:66"))  # type: ignore[arg-type]
    (sighting,) = daemon.window.sightings()
    assert (sighting.count, sighting.rssi, sighting.strongest_rssi) == (2, -61, -60)


def test_the_daemon_closes_a_continuous_window_when_its_duration_is_over(world: World) -> None:
    from protocol.scans import SCAN_DURATION_S

    async def scenario() -> None:
        daemon, store = alice_with(world, ContinuousScanner)
        try:
            await daemon.tick()
            world.clock.set(daemon.next_scan)
            await daemon.tick()
            assert daemon.window is not None
            opened = daemon.window.start
            assert daemon.next_due() == opened + SCAN_DURATION_S  # it wakes to close the window
            world.clock.set(opened + SCAN_DURATION_S)
            await daemon.tick()
            assert daemon.window is None and store.scan_times()[-1] == opened
        finally:
            store.close()

    asyncio.run(scenario())


class _Recorder:
    """A backend pair that writes down, in order, what the daemon asked of the radio."""

    def __init__(self, applied_tx_power_dbm: int | None) -> None:
        self.calls: list[str] = []
        self.payloads: list[bytes] = []
        self.applied = applied_tx_power_dbm


class _RecordingScanner(ScannerBackend):
    def __init__(self, recorder: _Recorder) -> None:
        self.recorder = recorder

    async def start(self, callback: Callable[[RawAdvert], None]) -> None:
        self.recorder.calls.append("scan")

    async def stop(self) -> None:
        self.recorder.calls.append("stop scan")

    async def pause(self) -> None:
        self.recorder.calls.append("pause")

    async def resume(self) -> None:
        self.recorder.calls.append("resume")


class _RecordingAdvertiser(AdvertiserBackend):
    def __init__(self, recorder: _Recorder) -> None:
        self.recorder = recorder

    async def advertise(self, service_uuid16: int, service_data: bytes) -> None:
        self.recorder.calls.append("advertise")
        self.recorder.payloads.append(service_data)
        self.applied_tx_power_dbm = self.recorder.applied

    async def stop(self) -> None:
        self.recorder.calls.append("stop advertising")


def _recorded_daemon(tmp_path: Path, applied: int | None) -> tuple[Daemon, _Recorder, KeySchedule, SimClock]:
    recorder = _Recorder(applied)
    store = BeaconStore(tmp_path)
    clock = SimClock(T0)
    metadata = Metadata(-12, version_minor=1)
    schedule = KeySchedule(store, rng=random.Random(3), metadata=metadata)
    daemon = Daemon(
        schedule=schedule, store=store, scanner=Scanner(_RecordingScanner(recorder)),
        advertiser=Advertiser(_RecordingAdvertiser(recorder)), syncer=None, clock=clock, rng=random.Random(4),
    )  # fmt: skip
    return daemon, recorder, schedule, clock


def _claimed_tx_power(schedule: KeySchedule, clock: SimClock, payload: bytes) -> int:
    rpi, aem = parse_service_data(payload)
    tek = schedule.tek_for(clock.now())
    return Metadata.from_bytes(decrypt_aem(derive_aemk(tek.tek), rpi, aem)).tx_power_dbm


def test_the_scanner_is_paused_while_the_advertiser_takes_each_new_address(tmp_path: Path) -> None:
    """On a controller without extended advertising, a new random address while scanning is
    refused (the qemu tier's Pi-like scenario): every registration sits inside a pause."""
    daemon, recorder, _, clock = _recorded_daemon(tmp_path, None)
    for _ in range(3):
        asyncio.run(daemon.tick())
        clock.advance(1201)
    advertising = [i for i, call in enumerate(recorder.calls) if call == "advertise"]
    assert len(advertising) == 3
    for i in advertising:
        assert recorder.calls[i - 1 : i + 2] == ["pause", "advertise", "resume"]


def test_the_metadata_claims_the_applied_tx_power_from_the_next_rpi(tmp_path: Path) -> None:
    daemon, recorder, schedule, clock = _recorded_daemon(tmp_path, 0)
    claimed = []
    for _ in range(3):
        asyncio.run(daemon.tick())
        claimed.append(_claimed_tx_power(schedule, clock, recorder.payloads[-1]))
        clock.advance(1201)
    assert claimed == [-12, 0, 0]
    assert daemon.store.advertised_tx_power() == 0  # what `status` shows


def test_without_an_applied_value_the_metadata_keeps_the_calibrated_tx_power(tmp_path: Path) -> None:
    daemon, recorder, schedule, clock = _recorded_daemon(tmp_path, None)
    claimed = []
    for _ in range(2):
        asyncio.run(daemon.tick())
        claimed.append(_claimed_tx_power(schedule, clock, recorder.payloads[-1]))
        clock.advance(1201)
    assert claimed == [-12, -12]
    assert daemon.store.advertised_tx_power() == -12
