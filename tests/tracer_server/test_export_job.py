"""The export job: windows, padding, splitting, signing, the index, the lease, crashes, retention.

Keys are put in the database directly (``add_keys``) where only the export job is under test,
and published through the API where the arrival time matters. The clock starts at
2025-11-22 10:30 UTC; with 4-hour windows, keys that arrive at 10:xx belong to 08:00-12:00.
"""

from __future__ import annotations

import hashlib
import io
import logging
import os
import random
import re
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from sqlalchemy import func, select, text, update

from protocol.errors import ExportError
from protocol.export import DiagnosisKey, SigningKey, read_export, write_export, write_export_to
from protocol.publish import UploadKey
from tracer_server.clock import utcnow
from tracer_server.db import transaction
from tracer_server.models import ExportBatch, ExportFile, Exposure, JobLock, PaddingKey, VerificationCode
from tracer_server.services.cleanup import run_cleanup
from tracer_server.services.export_job import LockBusy, export_lease
from tracer_server.storage import LocalDirectoryStorage, valid_export_name

from .conftest import (
    Server,
    certificate,
    export_now,
    exported_keys,
    index_names,
    issue,
    publish_body,
    read_exports,
    stored_exposures,
    today_start,
)


def at(hour: int, minute: int = 0, day: int = 22) -> datetime:
    return datetime(2025, 11, day, hour, minute, tzinfo=UTC)


def stamp(moment: datetime) -> int:
    return int(moment.timestamp())


class MemoryStorage:
    """Export storage in memory that records every call and can fail on demand."""

    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}
        self.puts: list[str] = []
        self.deletes: list[str] = []
        self.fail: Callable[[str], bool] = lambda _: False

    def put(self, name: str, data: bytes) -> None:
        assert valid_export_name(name), name
        self.puts.append(name)
        if self.fail(name):
            raise OSError(f"storage unavailable while writing {name}")
        self.files[name] = data

    def get(self, name: str) -> bytes | None:
        return self.files.get(name)

    def delete(self, name: str) -> None:
        self.deletes.append(name)
        self.files.pop(name, None)

    def names(self) -> list[str]:
        return sorted(name for name in self.files if valid_export_name(name))

    def remove_temporaries(self, older_than: float) -> int:
        return 0  # a put here is one assignment: nothing half-written to leave behind


@pytest.fixture
def storage() -> MemoryStorage:
    return MemoryStorage()


@pytest.fixture
def exporter(make_server: Callable[..., Server], storage: MemoryStorage) -> Server:
    """A server exporting into memory; padding to 20 + 0..5 keys."""
    return make_server(storage=storage)


@pytest.fixture
def splitter(make_server: Callable[..., Server], storage: MemoryStorage) -> Server:
    """A server whose export files hold at most 7 keys."""
    return make_server(storage=storage, export_max_keys_per_file=7)


def add_keys(
    server: Server,
    count: int,
    *,
    created_at: datetime,
    seed: int = 0,
    report_type: int = 1,
    transmission_risk: int = 2,
    days_since_onset: int | None = 0,
    days_ago: int = 1,
    rolling_period: int = 144,
) -> list[bytes]:
    rng = random.Random(seed)
    start = today_start(utcnow(server.clock)) - 144 * days_ago
    rows = [
        Exposure(
            key_data=rng.randbytes(16),
            rolling_start=start,
            rolling_period=rolling_period,
            transmission_risk=transmission_risk,
            report_type=report_type,
            days_since_onset=days_since_onset,
            health_authority="vn.bluezone",
            traveler=False,
            created_at=created_at,
        )
        for _ in range(count)
    ]
    with transaction(server.state.factory) as db:
        db.add_all(rows)
    return [row.key_data for row in rows]


def count_rows(server: Server, model: Any) -> int:
    with server.state.factory() as db:
        return int(db.scalar(select(func.count()).select_from(model)) or 0)


def publish_now(server: Server, keys: list[UploadKey]) -> None:
    cert = certificate(server, issue(server)["code"], keys)
    response = server.client.post("/v1/publish", json=publish_body(cert, keys))
    assert response.status_code == 200, response.text


# ---- names, index ----------------------------------------------------------------------------


def test_export_files_are_named_start_end_and_a_five_digit_number(exporter: Server) -> None:
    add_keys(exporter, 3, created_at=at(10))
    exporter.clock.at = at(14)
    report = export_now(exporter)
    assert report.files == [f"{stamp(at(8))}-{stamp(at(12))}-00001.zip"]
    assert re.fullmatch(r"\d+-\d+-\d{5}\.zip", report.files[0])


def test_index_lists_relative_names_oldest_first(exporter: Server, storage: MemoryStorage) -> None:
    add_keys(exporter, 2, created_at=at(13), seed=2)
    add_keys(exporter, 2, created_at=at(10), seed=1)
    add_keys(exporter, 2, created_at=at(17), seed=3)
    exporter.clock.at = at(22)
    export_now(exporter)
    names = index_names(exporter)
    assert names == [
        f"{stamp(at(8))}-{stamp(at(12))}-00001.zip",
        f"{stamp(at(12))}-{stamp(at(16))}-00001.zip",
        f"{stamp(at(16))}-{stamp(at(20))}-00001.zip",
    ]
    assert storage.files["index.txt"] == "".join(f"{name}\n" for name in names).encode("ascii")


def test_index_is_rewritten_after_the_zips_are_in_place(exporter: Server, storage: MemoryStorage) -> None:
    add_keys(exporter, 2, created_at=at(10), seed=1)
    exporter.clock.at = at(14)
    export_now(exporter)
    assert storage.puts[-1] == "index.txt" and storage.puts.count("index.txt") == 1
    first_run = len(storage.puts)

    add_keys(exporter, 2, created_at=at(13), seed=2)
    exporter.clock.at = at(18)
    export_now(exporter)
    second = storage.puts[first_run:]
    assert second == [f"{stamp(at(12))}-{stamp(at(16))}-00001.zip", "index.txt"]
    assert len(index_names(exporter)) == 2


def test_a_run_with_nothing_to_export_writes_an_empty_index(exporter: Server, storage: MemoryStorage) -> None:
    report = export_now(exporter)
    assert report.batches == 0 and report.files == []
    assert storage.files["index.txt"] == b""


def test_an_empty_window_gets_no_file(exporter: Server) -> None:
    add_keys(exporter, 2, created_at=at(2), seed=1)  # 00:00-04:00
    add_keys(exporter, 2, created_at=at(13), seed=2)  # 12:00-16:00; 04:00-12:00 is empty
    exporter.clock.at = at(18)
    report = export_now(exporter)
    assert report.batches == 4
    assert index_names(exporter) == [
        f"{stamp(at(0))}-{stamp(at(4))}-00001.zip",
        f"{stamp(at(12))}-{stamp(at(16))}-00001.zip",
    ]


# ---- padding ---------------------------------------------------------------------------------


def test_a_small_batch_is_padded_to_the_minimum_plus_up_to_the_range(exporter: Server) -> None:
    real = add_keys(exporter, 3, created_at=at(10))
    exporter.clock.at = at(14)
    report = export_now(exporter)
    (export,) = read_exports(exporter).values()
    assert 20 <= len(export.keys) <= 25
    assert report.keys == 3 and report.padding == len(export.keys) - 3
    assert set(real) <= {k.key_data for k in export.keys}
    assert count_rows(exporter, PaddingKey) == report.padding


def test_padding_size_varies_within_the_range(make_server: Callable[..., Server]) -> None:
    server = make_server(storage=MemoryStorage(), export_padding_range=1000)
    for hour, seed in ((1, 1), (5, 2), (9, 3), (13, 4)):
        add_keys(server, 1, created_at=at(hour), seed=seed)
    server.clock.at = at(22)
    export_now(server)
    sizes = [len(export.keys) for export in read_exports(server).values()]
    assert all(20 <= size <= 1020 for size in sizes) and len(set(sizes)) > 1


def test_a_batch_at_the_minimum_is_not_padded(make_server: Callable[..., Server]) -> None:
    server = make_server(storage=MemoryStorage(), export_min_keys=5)
    real = add_keys(server, 5, created_at=at(10))
    server.clock.at = at(14)
    report = export_now(server)
    assert report.padding == 0
    assert sorted(exported_keys(server)) == sorted(real)


def test_padding_keys_copy_real_keys_metadata(exporter: Server) -> None:
    real = add_keys(exporter, 1, created_at=at(10), seed=1, report_type=1, transmission_risk=2, days_ago=3)
    real += add_keys(
        exporter, 1, created_at=at(10), seed=2, report_type=2, transmission_risk=4, days_since_onset=-3
    )
    real += add_keys(
        exporter, 1, created_at=at(10), seed=3, report_type=3, days_since_onset=None, rolling_period=70
    )
    exporter.clock.at = at(14)
    export_now(exporter)
    (export,) = read_exports(exporter).values()

    def meta(k: Any) -> tuple[Any, ...]:
        return (
            k.report_type,
            k.transmission_risk_level,
            k.rolling_start_interval_number,
            k.rolling_period,
            k.days_since_onset_of_symptoms,
        )

    real_meta = {meta(k) for k in export.keys if k.key_data in real}
    assert len(real_meta) == 3
    padding = [k for k in export.keys if k.key_data not in real]
    assert len(padding) >= 17
    assert {meta(k) for k in padding} == real_meta  # every real key is copied, nothing else


def test_a_rerun_of_a_batch_writes_byte_identical_files(splitter: Server, storage: MemoryStorage) -> None:
    add_keys(splitter, 3, created_at=at(10))
    splitter.clock.at = at(14)
    export_now(splitter)
    before = {name: storage.files[name] for name in index_names(splitter)}
    padding_before = count_rows(splitter, PaddingKey)
    assert len(before) >= 3

    with transaction(splitter.state.factory) as db:
        db.execute(text("UPDATE export_batches SET status = 'open'"))
    storage.files.clear()
    splitter.clock.at = at(15)
    export_now(splitter)
    after = {name: storage.files[name] for name in index_names(splitter)}
    assert after == before
    assert count_rows(splitter, PaddingKey) == padding_before


# ---- splitting, sorting, signatures ----------------------------------------------------------


def test_a_batch_over_the_file_limit_is_split_into_1_of_1_files_with_distinct_ends(splitter: Server) -> None:
    real = add_keys(splitter, 3, created_at=at(10))
    splitter.clock.at = at(14)
    report = export_now(splitter)
    exports = read_exports(splitter)
    total = 3 + report.padding
    assert len(exports) == -(-total // 7) >= 3
    start, end = stamp(at(8)), stamp(at(12))
    assert list(exports) == [f"{start}-{end + n}-{n + 1:05d}.zip" for n in range(len(exports))]
    for n, export in enumerate(exports.values()):
        assert (export.batch_num, export.batch_size) == (1, 1)
        assert export.start_timestamp == start and export.end_timestamp == end + n
        assert 1 <= len(export.keys) <= 7
    assert len({e.end_timestamp for e in exports.values()}) == len(exports)
    everything = [k.key_data for e in exports.values() for k in e.keys]
    assert len(everything) == len(set(everything)) == total
    assert set(real) <= set(everything)
    assert everything == sorted(everything)  # sorted across the whole batch


def test_keys_in_a_file_are_sorted_by_their_bytes(exporter: Server) -> None:
    add_keys(exporter, 12, created_at=at(10))
    exporter.clock.at = at(14)
    export_now(exporter)
    (export,) = read_exports(exporter).values()
    data = [k.key_data for k in export.keys]
    assert data == sorted(data)


def test_export_files_verify_with_the_servers_export_key(exporter: Server, storage: MemoryStorage) -> None:
    add_keys(exporter, 3, created_at=at(10))
    exporter.clock.at = at(14)
    (name,) = export_now(exporter).files
    verification = exporter.state.keys.export_verification
    export = read_export(storage.files[name], verification)
    assert export.region == "VN"
    assert [(i.key_id, i.key_version, i.algorithm) for i in export.signature_infos] == [
        ("452", "v1", "1.2.840.10045.4.3.2")
    ]
    assert (verification.key_id, verification.key_version) == ("452", "v1")


def test_export_files_do_not_verify_with_another_key(exporter: Server, storage: MemoryStorage) -> None:
    add_keys(exporter, 3, created_at=at(10))
    exporter.clock.at = at(14)
    (name,) = export_now(exporter).files
    stranger = SigningKey.generate("452", "v1").verification_key()
    with pytest.raises(ExportError):
        read_export(storage.files[name], stranger)


# ---- streaming: the same bytes, bounded memory -----------------------------------------------

# The bytes ``write_export`` gave for this input before it streamed (sha256, commit 8ea06ae):
# export.bin spans many write chunks, two signers, revised keys.
_GOLDEN_SHA256 = "8ceda95f3728812fcc17f25279af44d5682841534334a57ab34cdfd389240fcf"


def test_streamed_export_bytes_are_those_of_the_whole_file_writer() -> None:
    rng = random.Random(24)
    keys = sorted(
        (
            DiagnosisKey(rng.randbytes(16), 2_900_000 - 144 * rng.randrange(1, 15), 144, rng.randrange(0, 8), 1,
                         rng.randrange(-2, 12))
            for _ in range(30_000)
        ),
        key=lambda k: k.key_data,
    )  # fmt: skip
    revised = [DiagnosisKey(rng.randbytes(16), 2_900_000, 144, 2, 5, None) for _ in range(3)]
    signers = [SigningKey(ec.derive_private_key(24 + i, ec.SECP256R1()), "452", f"v{i}") for i in (1, 2)]
    options: dict[str, Any] = dict(
        start_timestamp=1_763_800_000, end_timestamp=1_763_814_400, region="452", signing_keys=signers
    )
    blob = write_export(keys, revised_keys=revised, **options)
    assert hashlib.sha256(blob).hexdigest() == _GOLDEN_SHA256
    streamed = io.BytesIO()
    assert write_export_to(streamed, iter(keys), revised_keys=iter(revised), **options) == len(keys)
    assert streamed.getvalue() == blob


def test_the_job_writes_what_write_export_writes_for_the_same_keys(
    splitter: Server, storage: MemoryStorage
) -> None:
    add_keys(splitter, 30, created_at=at(10), seed=7)
    splitter.clock.at = at(14)
    names = export_now(splitter).files
    assert len(names) == 5  # 30 keys, at least the 20 of the minimum so not padded: 7+7+7+7+2
    for name, export in read_exports(splitter).items():
        start, end, _ = (int(part) for part in name.removesuffix(".zip").split("-"))
        rewritten = write_export(
            export.keys, start_timestamp=start, end_timestamp=end, region="VN",
            signing_keys=splitter.state.keys.signing_keys,
        )  # fmt: skip
        assert storage.files[name] == rewritten


def _insert_sorted_keys(database: Path, count: int, created_at: datetime) -> None:
    """``count`` keys straight into SQLite: inserted in key order (the primary key's B-tree then
    only appends) without fsync, 1 M in about 13 s here; the ORM would take minutes."""
    rng = random.Random(count)
    keys = sorted(rng.randbytes(16) for _ in range(count))
    arrived = created_at.strftime("%Y-%m-%d %H:%M:%S.%f")  # SQLAlchemy's SQLite DATETIME text
    start = today_start(created_at)
    with sqlite3.connect(database) as conn:
        conn.execute("PRAGMA synchronous = OFF")
        conn.executemany(
            "INSERT INTO exposures (key_data, rolling_start, rolling_period, transmission_risk, report_type,"
            " days_since_onset, health_authority, traveler, created_at) VALUES (?, ?, 144, 2, 1, ?, ?, 0, ?)",
            (
                (key, start - 144 * (i % 14 + 1), i % 14 - 2, "vn.bluezone", arrived)
                for i, key in enumerate(keys)
            ),
        )
    conn.close()


# The CLI's export, then its own peak RSS: VmHWM is the high-water mark of the process image
# since exec (wait4's ru_maxrss would also count the forked copy of this test process).
_EXPORT_THEN_PEAK = """
import sys
from tracer_server.cli import main
code = main(sys.argv[1:])
print([line for line in open("/proc/self/status") if line.startswith("VmHWM:")][0], file=sys.stderr)
sys.exit(code)
"""


def export_peak_rss_mb(env: dict[str, str]) -> tuple[float, str]:
    """Run ``bluezone server export --close-window`` in a fresh process: its peak RSS, its stdout."""
    done = subprocess.run(
        [sys.executable, "-c", _EXPORT_THEN_PEAK, "export", "--close-window"],
        env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    peak = re.search(r"VmHWM:\s+(\d+) kB", done.stderr)
    assert peak, done.stderr[-2000:]
    return int(peak[1]) / 1024, done.stdout


@pytest.mark.slow
def test_a_million_key_export_peaks_under_200_mb(tmp_path: Path) -> None:
    """1 M keys, two files of 500k (it peaked at 302 MB on SQLite and 560 MB on PostgreSQL while
    each file's keys and export.bin sat in memory)."""
    env = {**os.environ, "BLUEZONE_DATA_DIR": str(tmp_path)}
    subprocess.run(
        [sys.executable, "-m", "bluezone", "server", "init"], env=env, check=True, capture_output=True
    )
    an_hour_ago = (datetime.now(UTC) - timedelta(hours=1)).replace(minute=0, second=0, microsecond=0)
    _insert_sorted_keys(tmp_path / "tracer.db", 1_000_000, an_hour_ago.replace(tzinfo=None))
    peak_mb, out = export_peak_rss_mb(env)
    assert "1000000 keys (+0 padding)" in out
    print(f"1M-key export on SQLite: peak RSS {peak_mb:.0f} MB")
    assert peak_mb < 200, f"peak RSS {peak_mb:.0f} MB"
    assert len(list((tmp_path / "exports").glob("*.zip"))) == 2
    assert not list((tmp_path / "exports").glob(".tmp-*"))


# ---- windows ---------------------------------------------------------------------------------


def test_keys_are_released_only_two_hours_after_their_window_closes(exporter: Server) -> None:
    real = add_keys(exporter, 2, created_at=at(10))
    exporter.clock.at = at(13, 59)
    assert export_now(exporter).batches == 0
    assert exported_keys(exporter) == []
    exporter.clock.at = at(14)
    assert export_now(exporter).keys == 2
    assert set(real) <= set(exported_keys(exporter))


def test_a_window_is_exported_once(exporter: Server, storage: MemoryStorage) -> None:
    real = add_keys(exporter, 2, created_at=at(10))
    exporter.clock.at = at(14)
    export_now(exporter)
    exporter.clock.at = at(15)
    report = export_now(exporter)
    assert report.batches == 0 and report.files == []
    assert sorted(k for k in exported_keys(exporter) if k in real) == sorted(real)


def test_close_window_exports_the_open_window_at_once(exporter: Server) -> None:
    published = [UploadKey(bytes([7]) * 16, today_start(utcnow(exporter.clock)) - 144)]
    publish_now(exporter, published)
    report = export_now(exporter, close_window=True)
    assert report.keys == 1 and report.files and report.files[0].startswith(f"{stamp(at(8))}-")
    assert published[0].key_data in exported_keys(exporter)


def test_a_key_published_after_close_window_in_the_same_hour_is_still_exported(exporter: Server) -> None:
    first = [UploadKey(bytes([1]) * 16, today_start(utcnow(exporter.clock)) - 144)]
    publish_now(exporter, first)
    export_now(exporter, close_window=True)  # 10:30: exports 08:00-10:30

    exporter.clock.at = at(10, 40)
    second = [UploadKey(bytes([2]) * 16, today_start(utcnow(exporter.clock)) - 288)]
    publish_now(exporter, second)  # arrives at 10:40, stored as 10:00

    exporter.clock.at = at(10, 0, day=23)
    export_now(exporter)
    export_now(exporter, close_window=True)
    published = exported_keys(exporter)
    assert published.count(first[0].key_data) == 1
    assert published.count(second[0].key_data) == 1, "a key published after close_window was never exported"


# ---- the lease and crashes -------------------------------------------------------------------


def test_export_refuses_to_run_while_another_holds_the_lease(exporter: Server) -> None:
    add_keys(exporter, 2, created_at=at(10))
    exporter.clock.at = at(14)
    with export_lease(exporter.state.factory, utcnow(exporter.clock)), pytest.raises(LockBusy):
        export_now(exporter)
    assert export_now(exporter).batches == 1  # released at the end of the block


def test_a_lease_left_by_a_crashed_writer_expires_after_15_minutes(exporter: Server) -> None:
    add_keys(exporter, 2, created_at=at(10))
    exporter.clock.at = at(14)
    lease = export_lease(exporter.state.factory, utcnow(exporter.clock))
    lease.__enter__()  # never released: the process died
    exporter.clock.at = at(14, 14)
    with pytest.raises(LockBusy):
        export_now(exporter)
    exporter.clock.at = at(14, 16)
    assert export_now(exporter).batches == 1


def _hold_lease(server: Server, holder: str, expires_at: datetime) -> None:
    """The lease as a run that never released it left it (``holder`` as ``host:pid:run``)."""
    with transaction(server.state.factory) as db:
        if db.get(JobLock, "export") is None:
            db.add(JobLock(name="export"))
    with transaction(server.state.factory) as db:
        db.execute(update(JobLock).values(holder=holder, expires_at=expires_at))


def _exited_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()  # reaped: no such process any more
    return child.pid


def test_a_lease_of_a_killed_run_on_this_host_is_taken_over_at_once_with_a_warning(
    make_server: Callable[..., Server], caplog: pytest.LogCaptureFixture
) -> None:
    server = make_server()  # exports into its directory
    add_keys(server, 2, created_at=at(10))
    server.clock.at = at(14)
    holder = f"{socket.gethostname()[:32]}:{_exited_pid()}:0123456789abcdef"
    _hold_lease(server, holder, at(14, 10))  # 10 minutes left: before, a LockBusy until 14:10
    leftover = server.settings.exports_dir / ".tmp-abc123"
    leftover.write_bytes(b"PK half a zip")  # a second old: the killed run's, whatever its age
    with caplog.at_level(logging.INFO, logger="tracer_server.export"):
        assert export_now(server).batches == 1
    (warning,) = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert holder in warning.getMessage() and "no longer runs" in warning.getMessage()
    assert not leftover.exists()
    assert any("removed 1 temporary" in r.getMessage() for r in caplog.records)


def test_an_expired_lease_is_taken_over_with_a_warning_naming_when_and_whom(
    exporter: Server, caplog: pytest.LogCaptureFixture
) -> None:
    add_keys(exporter, 2, created_at=at(10))
    _hold_lease(exporter, "export-host-2:4242:feedfacecafebeef", at(14, 1))
    exporter.clock.at = at(14, 16)
    with caplog.at_level(logging.INFO, logger="tracer_server.export"):
        assert export_now(exporter).batches == 1
    (warning,) = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert "export-host-2:4242:feedfacecafebeef" in warning and "expired at 2025-11-22T14:01:00Z" in warning


def test_a_live_lease_of_another_writer_is_said_at_info_not_kept_silent(
    exporter: Server, caplog: pytest.LogCaptureFixture
) -> None:
    add_keys(exporter, 2, created_at=at(10))
    _hold_lease(exporter, "export-host-2:4242:feedfacecafebeef", at(14, 10))
    exporter.clock.at = at(14)
    with caplog.at_level(logging.INFO, logger="tracer_server.export"), pytest.raises(LockBusy):
        export_now(exporter)
    (line,) = [r for r in caplog.records if r.name == "tracer_server.export"]
    assert line.levelno == logging.INFO
    assert "export-host-2:4242:feedfacecafebeef until 2025-11-22T14:10:00Z" in line.getMessage()


def test_a_run_removes_temporary_files_older_than_the_lease_and_keeps_younger_ones(
    make_server: Callable[..., Server],
) -> None:
    server = make_server()
    add_keys(server, 2, created_at=at(10))
    server.clock.at = at(14)
    old, young = server.settings.exports_dir / ".tmp-old", server.settings.exports_dir / ".tmp-young"
    for temp in (old, young):
        temp.write_bytes(b"PK")
    an_hour_ago = time.time() - 3600  # mtimes are the filesystem's clock, not the job's
    os.utime(old, (an_hour_ago, an_hour_ago))
    export_now(server)  # the lease was free: the previous run ended, no telling whose young is
    assert not old.exists() and young.exists()
    assert LocalDirectoryStorage(server.settings.exports_dir).names()[-1] == "index.txt"


class _StallingStorage(MemoryStorage):
    """Each zip takes ``stall`` minutes to write, on a clock the test holds."""

    def __init__(self, stall: float) -> None:
        super().__init__()
        self.stall, self.elapsed = stall, 0.0

    def put(self, name: str, data: bytes) -> None:
        if name != "index.txt":
            self.elapsed += self.stall * 60
        super().put(name, data)


def _run_stalling(server: Server, storage: _StallingStorage, rival: Callable[[float], None]) -> Any:
    """Export three batches; ``rival`` runs whenever the job reads its clock (before it renews
    the lease, outside any database session), with the seconds elapsed."""
    from tracer_server.services.export_job import run_export

    def monotonic() -> float:
        rival(storage.elapsed)
        return storage.elapsed

    return run_export(
        factory=server.state.factory, settings=server.settings, storage=storage,
        signing_keys=[server.state.keys.export_signing], now=utcnow(server.clock), monotonic=monotonic,
    )  # fmt: skip


def _three_batches(make_server: Callable[..., Server], storage: _StallingStorage) -> Server:
    server = make_server(storage=storage)
    for hour in (9, 13, 17):
        add_keys(server, 3, created_at=at(hour), seed=hour)
    server.clock.at = at(22)
    return server


def test_a_slow_export_renews_its_lease_so_no_second_writer_overlaps(
    make_server: Callable[..., Server],
) -> None:
    storage = _StallingStorage(stall=10)  # 3 batches × 10 min: longer than the 15-minute lease
    server = _three_batches(make_server, storage)
    refused: list[bool] = []

    def rival(elapsed: float) -> None:
        if elapsed < 30 * 60 or refused:
            return
        try:  # 30 minutes in: the first lease ran out long ago
            with export_lease(server.state.factory, utcnow(server.clock) + timedelta(seconds=elapsed)):
                refused.append(False)
        except LockBusy:
            refused.append(True)

    report = _run_stalling(server, storage, rival)
    assert refused == [True] and len(report.files) == 3 and "index.txt" in storage.files


def test_an_export_that_stalled_past_its_lease_stops_before_writing_beside_the_new_writer(
    make_server: Callable[..., Server],
) -> None:
    storage = _StallingStorage(stall=20)  # one write outlasts the lease: a rival takes it
    server = _three_batches(make_server, storage)
    taken: list[export_lease] = []

    def rival(elapsed: float) -> None:
        if elapsed >= 20 * 60 and not taken:
            lease = export_lease(server.state.factory, utcnow(server.clock) + timedelta(seconds=elapsed))
            taken.append(lease.__enter__())  # holds it from now on

    with pytest.raises(LockBusy, match="lost"):
        _run_stalling(server, storage, rival)
    assert len(taken) == 1 and "index.txt" not in storage.files  # nothing written after the loss
    assert len([name for name in storage.puts if name.endswith(".zip")]) == 1


def test_a_crash_mid_export_then_a_rerun_publishes_every_key_exactly_once(
    splitter: Server, storage: MemoryStorage
) -> None:
    real = add_keys(splitter, 3, created_at=at(10), seed=1)
    real += add_keys(splitter, 2, created_at=at(13), seed=2)
    splitter.clock.at = at(18)
    zips: list[str] = []

    def second_file_fails(name: str) -> bool:
        if name.endswith(".zip"):
            zips.append(name)
        return len(zips) == 2 and name == zips[1]

    storage.fail = second_file_fails
    with pytest.raises(OSError, match="storage unavailable"):
        export_now(splitter)
    assert "index.txt" not in storage.files
    written_before_crash = dict(storage.files)

    storage.fail = lambda _: False
    export_now(splitter)
    names = index_names(splitter)
    assert len(names) == len(set(names)) >= 4
    assert set(names) == set(storage.names()) - {"index.txt"}
    published = exported_keys(splitter)
    assert len(published) == len(set(published))  # padding and real: nothing twice
    assert all(published.count(k) == 1 for k in real)
    for name, data in written_before_crash.items():
        assert storage.files[name] == data  # the re-run rewrote the same bytes

    with splitter.state.factory() as db:
        assert set(db.scalars(select(ExportBatch.status))) == {"complete"}
        assert sorted(db.scalars(select(ExportFile.name))) == sorted(names)


def test_a_crash_writing_the_index_is_repaired_by_the_next_run(
    exporter: Server, storage: MemoryStorage
) -> None:
    add_keys(exporter, 2, created_at=at(10))
    exporter.clock.at = at(14)
    storage.fail = lambda name: name == "index.txt"
    with pytest.raises(OSError):
        export_now(exporter)
    storage.fail = lambda _: False
    exporter.clock.at = at(14, 10)
    export_now(exporter)
    assert index_names(exporter) == [f"{stamp(at(8))}-{stamp(at(12))}-00001.zip"]


# ---- retention -------------------------------------------------------------------------------


def test_cleanup_after_15_days_removes_keys_files_index_entries_and_codes(
    exporter: Server, storage: MemoryStorage
) -> None:
    issue(exporter)
    add_keys(exporter, 3, created_at=at(10))
    exporter.clock.at = at(14)
    (name,) = export_now(exporter).files

    exporter.clock.at = at(14) + timedelta(days=15)
    recent = add_keys(exporter, 2, created_at=utcnow(exporter.clock) - timedelta(hours=1), seed=9)
    state = exporter.state
    report = run_cleanup(
        factory=state.factory, settings=exporter.settings, storage=state.storage, now=utcnow(exporter.clock)
    )
    assert report.exposures == 3 and report.files == 1 and report.codes == 1
    assert set(stored_exposures(exporter)) == set(recent)
    assert name not in storage.files and name in storage.deletes
    assert index_names(exporter) == []
    assert count_rows(exporter, VerificationCode) == 0
    assert count_rows(exporter, PaddingKey) == 0
    assert count_rows(exporter, ExportFile) == 0 and count_rows(exporter, ExportBatch) == 0


def test_cleanup_keeps_what_is_younger_than_14_days(exporter: Server, storage: MemoryStorage) -> None:
    issue(exporter)
    add_keys(exporter, 3, created_at=at(10))
    exporter.clock.at = at(14)
    (name,) = export_now(exporter).files
    exporter.clock.at = at(7) + timedelta(days=14)  # 13 days after the batch ended at 12:00
    state = exporter.state
    report = run_cleanup(
        factory=state.factory, settings=exporter.settings, storage=state.storage, now=utcnow(exporter.clock)
    )
    assert (report.exposures, report.files, report.codes) == (0, 0, 0)
    assert name in storage.files and index_names(exporter) == [name]
    assert len(stored_exposures(exporter)) == 3 and count_rows(exporter, VerificationCode) == 1


# ---- serving ---------------------------------------------------------------------------------


@pytest.fixture
def served(server: Server) -> tuple[Server, str]:
    add_keys(server, 3, created_at=at(10))
    server.clock.at = at(14)
    (name,) = export_now(server).files
    return server, name


def test_an_export_file_is_served_with_an_etag_and_immutable_caching(served: tuple[Server, str]) -> None:
    server, name = served
    response = server.client.get(f"/v1/exports/{name}")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/zip"
    assert response.headers["etag"].startswith('"') and "immutable" in response.headers["cache-control"]
    assert read_export(response.content, server.state.keys.export_verification).keys


def test_a_matching_if_none_match_gets_304(served: tuple[Server, str]) -> None:
    server, name = served
    for path in (f"/v1/exports/{name}", "/v1/exports/index.txt"):
        etag = server.client.get(path).headers["etag"]
        response = server.client.get(path, headers={"If-None-Match": etag})
        assert response.status_code == 304 and response.content == b""
        assert response.headers["etag"] == etag
        assert server.client.get(path, headers={"If-None-Match": '"other"'}).status_code == 200


def test_the_index_is_served_as_short_lived_text(served: tuple[Server, str]) -> None:
    server, name = served
    response = server.client.get("/v1/exports/index.txt")
    assert response.status_code == 200 and response.text == f"{name}\n"
    assert response.headers["content-type"].startswith("text/plain")
    assert "max-age=60" in response.headers["cache-control"]


@pytest.mark.parametrize(
    "path",
    [
        "/v1/exports/foo.zip",
        "/v1/exports/1-2-00001.zip",
        "/v1/exports/..%2Fx",
        "/v1/exports/../x",
        "/v1/exports/%2E%2E%2Fkeys%2Fpepper.bin",
        "/v1/exports/index.txt.bak",
        "/v1/exports/",
    ],
)
def test_unknown_or_invalid_export_names_are_a_404_json_error(served: tuple[Server, str], path: str) -> None:
    server, _ = served
    response = server.client.get(path)
    assert response.status_code == 404, response.text
    assert response.json()["code"] == "not_found" and response.json()["error"]
