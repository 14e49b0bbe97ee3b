"""beacon.sync against hostile files on a real loopback HTTP server: a rejected file is verified
once and remembered by its hash; a transient failure (a download cut short) is never remembered."""

from __future__ import annotations

import asyncio
import io
import threading
import zipfile
from collections.abc import Iterator, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from beacon.store import RETENTION_DAYS, BeaconStore
from beacon.sync import Syncer, SyncError
from beacon.warn import Notifier
from protocol.export import DiagnosisKey, ExportReader, SigningKey, VerificationKey, open_export

from .conftest import T0
from .test_cli import beacon, pem_file
from .test_sync import CASE_TEK, CLOSE, NOW, START, export, hear, scans


class ExportsServer:
    """A real HTTP server on loopback serving ``/v1/exports/``: an index and files by name.

    ``short_by[name]`` bytes are left out of a file's body; ``honest_length`` says whether its
    Content-Length announces the whole file (the client sees the cut) or only what is sent."""

    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}
        self.short_by: dict[str, int] = {}
        self.honest_length = True
        self.requests: list[str] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                server.requests.append(self.path)
                name = self.path.removeprefix("/v1/exports/")
                if name == "index.txt":
                    body = "".join(f"{n}\n" for n in server.files).encode()
                elif self.path.startswith("/v1/exports/") and name in server.files:
                    body = server.files[name]
                else:
                    self.send_error(404)
                    return
                cut = server.short_by.get(name, 0)
                self.send_response(200)
                self.send_header(
                    "Content-Length", str(len(body) if server.honest_length else len(body) - cut)
                )
                self.end_headers()
                self.wfile.write(body[: len(body) - cut])
                self.close_connection = True

            def log_message(self, format: str, *args: object) -> None:  # quiet test output
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(10)


@pytest.fixture
def exports_server() -> Iterator[ExportsServer]:
    server = ExportsServer()
    yield server
    server.close()


@pytest.fixture
def store(tmp_path: Path) -> Iterator[BeaconStore]:
    s = BeaconStore(tmp_path / "beacon")
    scans(s, T0 + 8 * 3600, T0 + 12 * 3600)
    yield s
    s.close()


@pytest.fixture
def signer() -> SigningKey:
    return SigningKey.generate("452", "v1")


class CountingOpen:
    """The real ``open_export``, counting the files it is asked to verify."""

    def __init__(self) -> None:
        self.opened = 0

    def __call__(self, blob: bytes, keys: Sequence[VerificationKey]) -> ExportReader:
        self.opened += 1
        return open_export(blob, keys)


def signature_bomb(signer: SigningKey, copies: int) -> bytes:
    """A file whose export.sig repeats, ``copies`` times, a signature that names the pinned key
    (same id and version) but was made by another key: each one is a verification to try."""
    intruder = SigningKey.generate(signer.key_id, signer.key_version)
    good = zipfile.ZipFile(io.BytesIO(export([DiagnosisKey(CASE_TEK, START)], intruder)))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("export.bin", good.read("export.bin"))
        archive.writestr("export.sig", good.read("export.sig") * copies)
    return out.getvalue()


def unknown_key_bomb(copies: int) -> bytes:
    """A file signed ``copies`` times by keys the beacon does not know: the reader's message
    once listed every one of them."""
    stranger = SigningKey.generate("999", "x" * 64)
    good = zipfile.ZipFile(io.BytesIO(export([], stranger)))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("export.bin", good.read("export.bin"))
        archive.writestr("export.sig", good.read("export.sig") * copies)
    return out.getvalue()


def syncer(store: BeaconStore, server: ExportsServer, signer: SigningKey, opener: CountingOpen) -> Syncer:
    return Syncer(
        store,
        server_url=server.url,
        pinned_keys=[signer.verification_key()],
        notifier=Notifier(desktop=False),
        open_file=opener,
    )


def test_a_hostile_file_is_verified_once_then_skipped_as_rejected_earlier(
    store: BeaconStore, signer: SigningKey, exports_server: ExportsServer
) -> None:
    hear(store, CASE_TEK, CLOSE, -60)
    exports_server.files["hostile.zip"] = signature_bomb(signer, 300)
    exports_server.files["good.zip"] = export([DiagnosisKey(CASE_TEK, START)], signer)
    opener = CountingOpen()
    sync = syncer(store, exports_server, signer, opener)

    first = asyncio.run(sync.sync(NOW))
    assert opener.opened == 2
    assert [line.split(":")[0] for line in first.rejected] == ["hostile.zip"]
    assert first.files == 1 and first.matches >= 1 and first.rejected_earlier == []

    second = asyncio.run(sync.sync(NOW + 3600))
    third = asyncio.run(sync.sync(NOW + 7200))

    assert opener.opened == 2  # neither file verified again
    for later in (second, third):
        assert (later.files, later.rejected, later.rejected_earlier) == (0, [], ["hostile.zip"])
    assert store.counts()["rejected"] == 1 and store.counts()["files"] == 1


def test_a_file_rejected_under_one_name_is_skipped_under_another(
    store: BeaconStore, signer: SigningKey, exports_server: ExportsServer
) -> None:
    exports_server.files["a.zip"] = signature_bomb(signer, 5)
    opener = CountingOpen()
    sync = syncer(store, exports_server, signer, opener)
    asyncio.run(sync.sync(NOW))

    exports_server.files["mirror-of-a.zip"] = exports_server.files["a.zip"]
    report = asyncio.run(sync.sync(NOW + 3600))

    assert opener.opened == 1
    assert report.rejected_earlier == ["a.zip", "mirror-of-a.zip"]


def test_a_rejection_is_reported_in_one_short_line(
    store: BeaconStore, signer: SigningKey, exports_server: ExportsServer
) -> None:
    exports_server.files["many-signers.zip"] = unknown_key_bomb(3000)

    report = asyncio.run(syncer(store, exports_server, signer, CountingOpen()).sync(NOW))

    (line,) = report.rejected
    assert line.startswith("many-signers.zip: ") and len(line) <= 250 and "\n" not in line
    (reason,) = store.db.execute("SELECT reason FROM rejected").fetchone()
    assert len(reason) <= 200


def test_a_download_cut_short_fails_the_sync_and_is_not_remembered(
    store: BeaconStore, signer: SigningKey, exports_server: ExportsServer
) -> None:
    hear(store, CASE_TEK, CLOSE, -60)
    exports_server.files["1.zip"] = export([DiagnosisKey(CASE_TEK, START)], signer)
    exports_server.short_by["1.zip"] = 100  # Content-Length says more than comes: the client sees it
    opener = CountingOpen()
    sync = syncer(store, exports_server, signer, opener)

    with pytest.raises(SyncError):
        asyncio.run(sync.sync(NOW))
    assert opener.opened == 0 and store.counts()["rejected"] == 0

    exports_server.short_by.clear()
    report = asyncio.run(sync.sync(NOW + 3600))
    assert report.files == 1 and report.matches >= 1 and report.rejected_earlier == []


def test_a_cut_the_client_cannot_see_is_remembered_by_its_hash_so_the_whole_file_still_counts(
    store: BeaconStore, signer: SigningKey, exports_server: ExportsServer
) -> None:
    """The body stops early and Content-Length agrees (a broken mirror): the bytes are not an
    export and are rejected, but by their hash, never by the name the whole file has too."""
    hear(store, CASE_TEK, CLOSE, -60)
    exports_server.files["1.zip"] = export([DiagnosisKey(CASE_TEK, START)], signer)
    exports_server.short_by["1.zip"] = 100
    exports_server.honest_length = False
    sync = syncer(store, exports_server, signer, CountingOpen())

    cut = asyncio.run(sync.sync(NOW))
    assert len(cut.rejected) == 1 and store.counts()["rejected"] == 1

    exports_server.short_by.clear()
    whole = asyncio.run(sync.sync(NOW + 3600))
    assert whole.files == 1 and whole.matches >= 1 and whole.rejected_earlier == []


def test_rejected_files_are_forgotten_with_the_retention(
    store: BeaconStore, signer: SigningKey, exports_server: ExportsServer
) -> None:
    exports_server.files["a.zip"] = signature_bomb(signer, 5)
    asyncio.run(syncer(store, exports_server, signer, CountingOpen()).sync(NOW))

    assert store.purge(NOW + (RETENTION_DAYS - 1) * 86_400)["rejected"] == 0
    assert store.purge(NOW + RETENTION_DAYS * 86_400)["rejected"] == 1
    assert store.counts()["rejected"] == 0


def test_beacon_sync_reports_a_rejected_file_once_then_one_line_rejected_earlier(
    tmp_path: Path, signer: SigningKey, exports_server: ExportsServer
) -> None:
    exports_server.files["hostile.zip"] = signature_bomb(signer, 5)
    config = tmp_path / "beacon.toml"
    config.write_text(
        f'server_url = "{exports_server.url}"\n'
        "[[pinned_keys]]\n"
        f'key_id = "452"\nkey_version = "v1"\npem_file = "{pem_file(tmp_path, signer)}"\n'
    )

    def sync() -> list[str]:
        result = beacon("--config", str(config), "--state-dir", str(tmp_path / "state"), "sync")
        assert result.returncode == 0, result.stderr
        return result.stderr.strip().splitlines()

    first, second = sync(), sync()

    said = (
        "rejected hostile.zip: signature by ['452-v1 (1.2.840.10045.4.3.2)'] does not verify over export.bin"
    )
    assert said in first
    assert [line for line in second if "rejected" in line or " ERROR " in line] == [
        "rejected earlier, not checked again: hostile.zip"
    ]
