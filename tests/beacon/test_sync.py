"""beacon.sync: follow index.txt, verify with pinned keys only, process each file once, match,
score over every file, withdraw revoked warnings; https or loopback http only."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable, Iterator
from pathlib import Path

import pytest

from beacon.schedule import DEFAULT_METADATA
from beacon.store import BeaconStore
from beacon.sync import Syncer, SyncError, check_server_url
from beacon.warn import Notice, Notifier
from protocol.export import DiagnosisKey, ReportType, SigningKey, write_export
from protocol.keys import derive_aemk, derive_rpik, en_interval_number, encrypt_aem, rpi
from protocol.matching import Sighting
from tracer_server.clock import utcnow
from tracer_server.services.export_job import run_export

from .conftest import T0, LiveServer, World, dead_url, syncer_for

SERVER = "https://tracer.example/"
EXPORTS = SERVER + "v1/exports/"
DAY = int(T0 // 86_400)
START = int(T0 // 600)  # rolling start of day DAY
HOUR = 3600.0


class FakeServer:
    """Serves ``index.txt`` and files by name; records every URL asked for."""

    def __init__(self) -> None:
        self.index: list[str] = []
        self.files: dict[str, bytes] = {}
        self.requested: list[str] = []

    def publish(self, name: str, blob: bytes) -> None:
        self.files[name] = blob
        self.index.append(name)

    async def fetch(self, url: str) -> bytes:
        self.requested.append(url)
        if url == EXPORTS + "index.txt":
            return "".join(f"{name}\n" for name in self.index).encode()
        name = url.removeprefix(EXPORTS)
        if url.startswith(EXPORTS) and name in self.files:
            return self.files[name]
        raise SyncError(f"server answered 404 for {url}")


def export(
    keys: Iterable[DiagnosisKey], signer: SigningKey, *, revised: Iterable[DiagnosisKey] = (), hour: int = 0
) -> bytes:
    start = int(T0 + 86_400 + hour * HOUR)
    return write_export(
        keys,
        start_timestamp=start,
        end_timestamp=start + 3600,
        region="452",
        signing_keys=[signer],
        revised_keys=revised,
    )


def scans(store: BeaconStore, start: float, end: float) -> None:
    """Empty scan windows every 300 s: the device was scanning."""
    t = start
    while t < end:
        store.record_window(t, [])
        t += 300


def hear(store: BeaconStore, tek: bytes, times: Iterable[float], rssi: int) -> None:
    """The store heard ``tek``'s RPI (with default metadata) in the scan windows at ``times``."""
    for t in times:
        value = rpi(derive_rpik(tek), en_interval_number(t))
        aem = encrypt_aem(derive_aemk(tek), value, DEFAULT_METADATA.to_bytes())
        store.record_window(t, [Sighting(value, aem, rssi, t, max_rssi=rssi, count=4)])


CASE_TEK = bytes.fromhex("00112233445566778899aabbccddeeff")
CLOSE = [T0 + 9 * HOUR + 300 * k for k in range(4)]  # 4 scans at −60 dBm: 50 weighted minutes


@pytest.fixture
def store(tmp_path: Path) -> Iterator[BeaconStore]:
    s = BeaconStore(tmp_path / "beacon")
    scans(s, T0 + 8 * HOUR, T0 + 12 * HOUR)
    yield s
    s.close()


@pytest.fixture
def signer() -> SigningKey:
    return SigningKey.generate("452", "v1")


@pytest.fixture
def server() -> FakeServer:
    return FakeServer()


def syncer(
    store: BeaconStore, server: FakeServer, *signers: SigningKey, notifier: Notifier | None = None
) -> Syncer:
    return Syncer(
        store,
        server_url=SERVER,
        pinned_keys=[s.verification_key() for s in signers],
        notifier=notifier or Notifier(desktop=False),
        fetch=server.fetch,
    )


NOW = T0 + 86_400 + 10 * HOUR


# ---- the server URL ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "http://example.com",
        "http://example.com:80/",
        "http://10.0.0.1/",
        "http://127.0.0.1.example.com/",
        "http://localhost.example.com/",
        "ftp://127.0.0.1/",
        "127.0.0.1:8000",
    ],
)
def test_plain_http_beyond_loopback_is_refused(url: str) -> None:
    with pytest.raises(SyncError):
        check_server_url(url)


@pytest.mark.parametrize(
    "url",
    [
        "https://example.com",
        "https://10.0.0.1:8443/tracer/",
        "http://127.0.0.1:8000",
        "http://127.9.9.9/",
        "http://localhost/",
        "http://[::1]:9000/",
    ],
)
def test_https_anywhere_and_http_on_loopback_are_accepted(url: str) -> None:
    assert check_server_url(url) == url.rstrip("/") + "/"


def test_a_syncer_for_a_plain_http_server_cannot_be_built(store: BeaconStore, signer: SigningKey) -> None:
    with pytest.raises(SyncError, match="plain http"):
        Syncer(
            store,
            server_url="http://example.com/",
            pinned_keys=[signer.verification_key()],
            notifier=Notifier(desktop=False),
        )


def test_a_syncer_without_pinned_keys_refuses_to_start(store: BeaconStore) -> None:
    with pytest.raises(SyncError, match="pinned"):
        Syncer(store, server_url=SERVER, pinned_keys=[], notifier=Notifier(desktop=False))


# ---- verification and bookkeeping ----------------------------------------------------------


def test_a_file_signed_by_an_unpinned_key_is_rejected_and_not_marked_processed(
    store: BeaconStore, signer: SigningKey, server: FakeServer
) -> None:
    hear(store, CASE_TEK, CLOSE, -60)
    intruder = SigningKey.generate("452", "v1")  # same id and version, another key
    server.publish("a.zip", export([DiagnosisKey(CASE_TEK, START)], intruder))
    notifier = Notifier(desktop=False)

    report = asyncio.run(syncer(store, server, signer, notifier=notifier).sync(NOW))

    assert len(report.rejected) == 1 and report.rejected[0].startswith("a.zip")
    assert (report.files, report.keys, report.matches) == (0, 0, 0)
    assert store.counts()["files"] == 0 and store.counts()["matches"] == 0
    assert not store.file_seen(name="a.zip")
    assert notifier.sent == []

    # Once the right key is pinned, the same file is processed: it was never marked done.
    report = asyncio.run(syncer(store, server, intruder).sync(NOW))
    assert report.files == 1 and report.matches >= 1


def test_a_file_seen_under_two_names_is_processed_once(
    store: BeaconStore, signer: SigningKey, server: FakeServer
) -> None:
    hear(store, CASE_TEK, CLOSE, -60)
    blob = export([DiagnosisKey(CASE_TEK, START), DiagnosisKey(b"\x07" * 16, START)], signer)
    server.publish("1-2-00001.zip", blob)
    server.publish("mirror-copy.zip", blob)
    notifier = Notifier(desktop=False)
    sync = syncer(store, server, signer, notifier=notifier)

    first = asyncio.run(sync.sync(NOW))
    second = asyncio.run(sync.sync(NOW + HOUR))

    assert (first.files, first.keys) == (1, 2) and first.matches >= 1 and not first.rejected
    assert (second.files, second.keys, second.matches) == (0, 0, 0)
    assert store.counts()["files"] == 1
    assert len(notifier.sent) == 1


@pytest.mark.parametrize(
    "name", ["../secret.zip", "sub/file.zip", "..", ".hidden.zip", "..\\file.zip", "/etc/passwd"]
)
def test_index_names_that_are_not_plain_file_names_are_rejected_unfetched(
    store: BeaconStore, signer: SigningKey, server: FakeServer, name: str
) -> None:
    server.publish(name, export([DiagnosisKey(CASE_TEK, START)], signer))

    report = asyncio.run(syncer(store, server, signer).sync(NOW))

    assert len(report.rejected) == 1 and "not a plain file name" in report.rejected[0]
    assert server.requested == [EXPORTS + "index.txt"]
    assert report.files == 0


@pytest.mark.parametrize("name", ["file:export.zip", "file:etc%2Fhostname", "data:,PK", "http:export.zip"])
def test_every_url_fetched_lies_under_the_exports_directory(
    store: BeaconStore, signer: SigningKey, server: FakeServer, name: str
) -> None:
    # A name with a URL scheme is not a relative name: urljoin would leave the server with it
    # (file: reads a local file, http: drops https).
    server.publish(name, export([DiagnosisKey(CASE_TEK, START)], signer))
    server.publish("1-2-00001.zip", export([], signer))

    try:
        report = asyncio.run(syncer(store, server, signer).sync(NOW))
    except SyncError:  # the fake server answers 404 outside the exports directory
        report = None

    assert all(url.startswith(EXPORTS) for url in server.requested), server.requested
    assert report is not None and report.files == 1 and len(report.rejected) == 1


def test_any_pinned_key_verifies_so_export_keys_can_rotate(
    store: BeaconStore, signer: SigningKey, server: FakeServer
) -> None:
    hear(store, CASE_TEK, CLOSE, -60)
    successor = SigningKey.generate("452", "v2")
    server.publish("old.zip", export([DiagnosisKey(b"\x01" * 16, START)], signer))
    server.publish("new.zip", export([DiagnosisKey(CASE_TEK, START)], successor, hour=1))

    report = asyncio.run(syncer(store, server, signer, successor).sync(NOW))

    assert report.rejected == [] and report.files == 2 and report.matches >= 1
    assert store.file_seen(name="new.zip")


# ---- matching and warning ---------------------------------------------------------------------


def test_a_revoked_key_withdraws_the_warning_and_tells_the_user(
    store: BeaconStore, signer: SigningKey, server: FakeServer
) -> None:
    hear(store, CASE_TEK, CLOSE, -60)
    notifier = Notifier(desktop=False)
    sync = syncer(store, server, signer, notifier=notifier)
    server.publish("1.zip", export([DiagnosisKey(CASE_TEK, START, days_since_onset_of_symptoms=1)], signer))

    warned = asyncio.run(sync.sync(NOW))
    assert [n.withdrawn for n in warned.warnings] == [False] and warned.warnings[0].day == DAY
    assert store.warnings()[0]["withdrawn"] is None

    revoked = DiagnosisKey(CASE_TEK, START, report_type=ReportType.REVOKED)
    server.publish("2.zip", export([DiagnosisKey(b"\x09" * 16, START)], signer, revised=[revoked], hour=1))
    later = asyncio.run(sync.sync(NOW + HOUR))

    assert later.warnings == [Notice(DAY, warned.warnings[0].weighted_minutes, withdrawn=True)]
    assert notifier.sent == [*warned.warnings, *later.warnings]
    assert "withdrawn" in notifier.sent[-1].text
    assert store.warnings()[0]["withdrawn"] == NOW + HOUR
    assert store.counts()["matches"] == 0


def test_keys_of_one_case_spread_over_two_files_add_up(
    store: BeaconStore, signer: SigningKey, server: FakeServer
) -> None:
    # Same-day release: the case's day D has a key cut short at 10:10 and its successor.
    first_key, second_key = b"\xa1" * 16, b"\xb2" * 16
    hear(store, first_key, [T0 + 9 * HOUR], -60)  # 300 s at 45 dB, weighted 2.5: 12.5 min
    hear(store, second_key, [T0 + 10.5 * HOUR], -60)  # another 12.5 min
    notifier = Notifier(desktop=False)
    sync = syncer(store, server, signer, notifier=notifier)

    server.publish("1.zip", export([DiagnosisKey(first_key, START, 61)], signer))
    alone = asyncio.run(sync.sync(NOW))
    assert alone.matches >= 1 and alone.warnings == [] and store.warnings() == []

    server.publish("2.zip", export([DiagnosisKey(second_key, START)], signer, hour=1))
    together = asyncio.run(sync.sync(NOW + HOUR))

    assert [(n.day, n.withdrawn) for n in together.warnings] == [(DAY, False)]
    assert together.warnings[0].weighted_minutes == pytest.approx(25.0)
    assert store.last_sync() == NOW + HOUR  # the status health line's last sync
    assert notifier.sent == together.warnings


def test_a_second_file_alone_would_not_have_warned(
    store: BeaconStore, signer: SigningKey, server: FakeServer
) -> None:
    second_key = b"\xb2" * 16
    hear(store, second_key, [T0 + 10.5 * HOUR, T0 + 10.5 * HOUR + 300], -81)
    server.publish("2.zip", export([DiagnosisKey(second_key, START)], signer))
    report = asyncio.run(syncer(store, server, signer).sync(NOW))
    assert report.matches >= 1 and report.warnings == []


# ---- the server down ----------------------------------------------------------------------------


def test_a_server_that_is_down_raises_sync_error(store: BeaconStore, signer: SigningKey) -> None:
    sync = Syncer(
        store,
        server_url=dead_url(),
        pinned_keys=[signer.verification_key()],
        notifier=Notifier(desktop=False),
    )
    with pytest.raises(SyncError, match="cannot reach the server"):
        asyncio.run(sync.sync(NOW))
    assert store.counts()["files"] == 0


def test_the_daemon_logs_a_failed_sync_and_retries_sooner(
    world: World, signer: SigningKey, caplog: pytest.LogCaptureFixture
) -> None:
    async def scenario() -> None:
        alice = world.add("alice", (0.0, 0.0))
        alice.daemon.syncer = Syncer(
            alice.store,
            server_url=dead_url(),
            pinned_keys=[signer.verification_key()],
            notifier=alice.notifier,
        )
        now = world.clock.now()
        with caplog.at_level(logging.WARNING, logger="beacon"):
            assert await alice.daemon.sync_now(now) is None
        assert alice.daemon.next_sync == now + 900  # 15 minutes, not the 4-hour interval
        assert any("sync failed" in r.getMessage() for r in caplog.records)

    asyncio.run(scenario())


def test_a_live_server_with_nothing_published_syncs_to_nothing(world: World, live_server: LiveServer) -> None:
    state = live_server.app.state.bluezone
    run_export(
        factory=state.factory,
        settings=live_server.settings,
        storage=state.storage,
        signing_keys=[state.keys.export_signing],
        now=utcnow(live_server.clock),
        close_window=True,
    )

    async def scenario() -> None:
        alice = world.add("alice", (0.0, 0.0))
        report = await syncer_for(alice.store, live_server, alice.notifier).sync(world.clock.now())
        assert (report.files, report.keys, report.rejected) == (0, 0, [])

    asyncio.run(scenario())


def test_the_receivers_rssi_correction_reaches_the_risk(
    store: BeaconStore, signer: SigningKey, server: FakeServer
) -> None:
    """-15 dBm advertised, heard at -69 dBm: 54 dB, past the default's weighted range (≤ 52);
    with this receiver's +5 dB correction, 49 dB, weighted 1.5: a warning."""
    hear(store, CASE_TEK, CLOSE, -69)
    server.publish("1.zip", export([DiagnosisKey(CASE_TEK, START, days_since_onset_of_symptoms=1)], signer))
    plain = Syncer(
        store, server_url=SERVER, pinned_keys=[signer.verification_key()],
        notifier=Notifier(desktop=False), fetch=server.fetch,
    )  # fmt: skip
    assert asyncio.run(plain.sync(NOW)).warnings == []
    corrected = Syncer(
        store, server_url=SERVER, pinned_keys=[signer.verification_key()],
        notifier=Notifier(desktop=False), fetch=server.fetch, rssi_correction_db=5.0,
    )  # fmt: skip
    assert [n.day for n in asyncio.run(corrected.reassess(NOW))] == [DAY]
