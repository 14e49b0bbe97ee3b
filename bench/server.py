"""Tracer server throughput, each figure against a baseline run in the same process.

1. **Publish**: ``POST /v1/publish`` per second over loopback, against PostgreSQL, one request at
   a time on a kept-alive connection, certificates minted before the timed loop; baseline: the
   trivial ``GET /health`` served by the same process the same way. Goal: ratio ≥ 0.3.
2. **Export**: batch + sort + sign + zip + write N keys (default 1M) streamed from PostgreSQL,
   against building and serializing the same ``TemporaryExposureKey`` messages alone from
   memory. Goal: within 2×.
3. **Export memory**: peak RSS of the exporting process (``VmHWM``: its own image since exec,
   where ``ru_maxrss`` would count the parent's too), against the same process just before
   the export (interpreter, imports, engine, keys loaded); what the export adds is set beside
   the largest file it wrote, which it holds once, compressed. Goal: peak < 200 MB at 1M keys.

    python bench/server.py [--publishes 300] [--export-keys 1000000]

Needs the PostgreSQL of this machine (BLUEZONE_BENCH_POSTGRES_URL, default
postgresql://postgres@127.0.0.1:5432/test; a scratch database is created and dropped).
"""

from __future__ import annotations

import argparse
import base64
import http.client
import json
import multiprocessing
import os
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from protocol.export import DiagnosisKey
from protocol.keys import en_interval_number, rolling_start
from protocol.publish import UploadKey, tek_hmac
from tracer_server.clock import utcnow

ROUNDS = 5
ADMIN_URL = os.environ.get("BLUEZONE_BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")


def _admin() -> Any:
    return create_engine(
        make_url(ADMIN_URL).set(drivername="postgresql+psycopg"), isolation_level="AUTOCOMMIT"
    )


def scratch_database() -> str:
    name = f"bluezone_bench_{uuid.uuid4().hex[:8]}"
    with _admin().connect() as conn:
        conn.execute(text(f"CREATE DATABASE {name}"))
    return make_url(ADMIN_URL).set(database=name).render_as_string(hide_password=False)


def drop_database(url: str) -> None:
    name = make_url(url).database
    with _admin().connect() as conn:
        conn.execute(text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Client:
    def __init__(self, port: int) -> None:
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)

    def call(self, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None) -> Any:
        data = json.dumps(body).encode() if body is not None else None
        self.conn.request(
            method, path, body=data, headers={"Content-Type": "application/json", **(headers or {})}
        )
        response = self.conn.getresponse()
        payload = response.read()
        if response.status >= 400:
            raise RuntimeError(f"{method} {path}: {response.status} {payload[:200]!r}")
        return json.loads(payload)


def bench_publish(count: int, workdir: Path) -> None:
    url = scratch_database()
    env = {
        **os.environ,
        "BLUEZONE_DATA_DIR": str(workdir / "server"),
        "BLUEZONE_DATABASE_URL": url,
        "BLUEZONE_VERIFY_ATTEMPTS_PER_MINUTE": "1000000",
        "BLUEZONE_CODES_PER_OFFICIAL_PER_DAY": "1000000",
        "BLUEZONE_ISSUE_REQUESTS_PER_MINUTE": "1000000",
        "BLUEZONE_EXPORT_JOB_INTERVAL_SECONDS": "3600",
    }
    cli = [sys.executable, "-m", "bluezone", "server"]
    subprocess.run([*cli, "init"], env=env, check=True, capture_output=True)
    made = subprocess.run(
        [*cli, "create-official", "Bench", "--role", "official", "--json"],
        env=env,
        check=True,
        capture_output=True,
        text=True,
    )
    api_key = json.loads(made.stdout)["apiKey"]
    port = _port()
    server = subprocess.Popen(
        [*cli, "run", "--port", str(port)], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        for _ in range(300):
            try:
                client = Client(port)
                client.call("GET", "/health")
                break
            except OSError:
                time.sleep(0.1)
        rng = random.Random(1)
        today = rolling_start(en_interval_number(time.time()))
        bodies = []
        for _ in range(count):  # minted outside the timed loop
            keys = [UploadKey(rng.randbytes(16), today - 144 * d) for d in range(14, 0, -1)]
            secret = rng.randbytes(32)
            code = client.call("POST", "/api/issue", {"testType": "confirmed"}, {"X-API-Key": api_key})[
                "code"
            ]
            token = client.call("POST", "/api/verify", {"code": code})["token"]
            mac = base64.b64encode(tek_hmac(secret, keys)).decode()
            cert = client.call("POST", "/api/certificate", {"token": token, "ekeyhmac": mac})["certificate"]
            bodies.append(
                {
                    "temporaryExposureKeys": [k.to_json() for k in keys],
                    "healthAuthorityID": "vn.bluezone",
                    "verificationPayload": cert,
                    "hmacKey": base64.b64encode(secret).decode(),
                    "padding": base64.b64encode(rng.randbytes(1024)).decode(),
                }
            )
        # Interleaved rounds, the ratio of each round taken, their median reported: the machines
        # here are shared, and a slow minute should hit both endpoints alike.
        ratios, publish_time, trivial_time = [], 0.0, 0.0
        step = max(1, count // ROUNDS)
        for chunk in (bodies[i : i + step] for i in range(0, count, step)):
            started = time.perf_counter()
            for _ in chunk:
                client.call("GET", "/health")
            trivial = time.perf_counter() - started
            started = time.perf_counter()
            for body in chunk:
                assert client.call("POST", "/v1/publish", body)["insertedExposures"] == 14
            published = time.perf_counter() - started
            ratios.append(trivial / published)
            publish_time, trivial_time = publish_time + published, trivial_time + trivial
        print(
            f"publish: {count / publish_time:8.1f}/s (14 keys each); GET /health {count / trivial_time:8.1f}/s; "
            f"ratio {statistics.median(ratios):.2f} (median of {len(ratios)} rounds, "
            f"{min(ratios):.2f}..{max(ratios):.2f})"
        )
    finally:
        server.terminate()
        server.wait(20)
        drop_database(url)


def _memory_kb(field: str) -> int:
    """``VmRSS`` or ``VmHWM`` of this process, in KiB (Linux)."""
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith(f"{field}:"))


def _export_child(url: str, workdir: str, queue: Any) -> None:
    from tracer_server.app import clock_for
    from tracer_server.db import make_engine, make_sessionmaker
    from tracer_server.secrets_store import load_or_create_keys
    from tracer_server.services.export_job import run_export
    from tracer_server.settings import Settings
    from tracer_server.storage import LocalDirectoryStorage

    settings = Settings(data_dir=Path(workdir), database_url=url)
    keys = load_or_create_keys(settings)
    factory = make_sessionmaker(make_engine(settings))
    with factory() as db:
        db.execute(text("SELECT 1"))  # the pool's connection open before the baseline
    before_kb = _memory_kb("VmRSS")
    started = time.perf_counter()
    report = run_export(
        factory=factory,
        settings=settings,
        storage=LocalDirectoryStorage(settings.exports_dir),
        signing_keys=[keys.export_signing],
        now=utcnow(clock_for(settings)),
        close_window=True,
    )
    elapsed = time.perf_counter() - started
    largest = max((settings.exports_dir / name).stat().st_size for name in report.files)
    queue.put((elapsed, report.keys, len(report.files), _memory_kb("VmHWM"), before_kb, largest))


def bench_export(count: int, workdir: Path) -> None:
    from tracer_server import migrate
    from tracer_server.settings import Settings

    url = scratch_database()
    try:
        migrate.upgrade(Settings(database_url=url, data_dir=workdir / "export"))
        rng = random.Random(2)
        today = rolling_start(en_interval_number(time.time()))
        created = (datetime.now(UTC) - timedelta(hours=1)).replace(minute=0, second=0, microsecond=0)
        rows = [
            (rng.randbytes(16), today - 144 * rng.randrange(1, 15), 144, 2, 1, rng.randrange(-2, 12))
            for _ in range(count)
        ]
        engine = create_engine(make_url(url).set(drivername="postgresql+psycopg"))
        with engine.begin() as conn:
            cursor = conn.connection.cursor()
            columns = (
                "key_data, rolling_start, rolling_period, transmission_risk, report_type, days_since_onset"
            )
            with cursor.copy(
                f"COPY exposures ({columns}, health_authority, traveler, created_at) FROM STDIN"
            ) as copy:
                for row in rows:
                    copy.write_row((*row, "vn.bluezone", False, created))
        engine.dispose()

        # Baseline: the same messages built and serialized from memory, nothing else.
        keys = [DiagnosisKey(*row) for row in rows]
        started = time.perf_counter()
        serialized = b"".join(key.to_bytes() for key in sorted(keys, key=lambda k: k.key_data))
        baseline = time.perf_counter() - started
        del keys, serialized, rows

        queue: Any = multiprocessing.get_context("spawn").Queue()
        child = multiprocessing.get_context("spawn").Process(
            target=_export_child, args=(url, str(workdir / "export"), queue)
        )
        child.start()
        elapsed, exported, files, peak_kb, before_kb, largest = queue.get(timeout=3600)
        child.join()
        rate, ratio = exported / elapsed, elapsed / baseline
        print(
            f"export: {exported:,} keys in {files} files, {elapsed:.1f} s ({rate:,.0f} keys/s); "
            f"serialize alone {baseline:.1f} s; ratio {ratio:.2f}"
        )
        peak, before, added = peak_kb / 1024, before_kb / 1024, (peak_kb - before_kb) / 1024
        print(
            f"export memory: peak RSS {peak:.0f} MB; the same process before exporting {before:.0f} MB; "
            f"the export adds {added:.0f} MB, largest file {largest / 2**20:.1f} MB "
            f"(raw key bytes {16 * exported / 2**20:.0f} MB); goal peak < 200 MB"
        )
    finally:
        drop_database(url)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--publishes", type=int, default=300)
    parser.add_argument("--export-keys", type=int, default=1_000_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        if args.publishes:
            bench_publish(args.publishes, Path(tmp))
        if args.export_keys:
            bench_export(args.export_keys, Path(tmp))


if __name__ == "__main__":
    main()
