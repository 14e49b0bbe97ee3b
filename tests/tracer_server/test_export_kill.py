"""``kill -9`` the real export job at random points, on SQLite and PostgreSQL, then let it finish.

The job is ``bluezone server export --close-window`` as the CLI runs it, in processes forked
from one that imported the server once (a fresh interpreter takes about 2 s here to import it;
forked, a run starts in milliseconds, so dozens of kills fit in a test). The fork server reaps
each child before it forks the next, as systemd does: the next run must see that the lease's
holder is gone and take the lease at once. Small windows (15 minutes, files of at most 60 keys,
some windows padded) give hundreds of commit points for the kills to land between.

After the kills and one run to the end: every key published exactly once (real and padding),
the index listing exactly the zips present, each verifying, no ``.tmp-*`` file, and no run
refused because a killed one still held the lease.
"""

from __future__ import annotations

import contextlib
import os
import queue
import random
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import create_engine, insert, select

from protocol.export import read_export
from tracer_server.db import make_engine, make_sessionmaker
from tracer_server.models import ExportBatch, ExportFile, Exposure, PaddingKey
from tracer_server.secrets_store import load_or_create_keys
from tracer_server.settings import Settings
from tracer_server.storage import LocalDirectoryStorage

pytestmark = pytest.mark.slow

KILLS = 30
WINDOWS = 192  # two days of 15-minute windows

# Reads a line per run on stdin; forks a child that runs the CLI's export; prints the child's
# pid, reaps it, prints its wait status. The child's stdout joins its stderr (progress lines).
_FORK_SERVER = """
import os, sys
import psycopg, sqlalchemy.dialects.postgresql, sqlalchemy.dialects.sqlite
import tracer_server.app, tracer_server.db, tracer_server.migrate, tracer_server.secrets_store
import tracer_server.services.export_job, tracer_server.storage
from tracer_server.cli import main
for _ in sys.stdin:
    pid = os.fork()
    if pid == 0:
        os.dup2(2, 1)
        code = main(["export", "--close-window"])
        sys.stdout.flush(); sys.stderr.flush()
        os._exit(code)
    print(pid, flush=True)
    print(os.waitpid(pid, 0)[1], flush=True)
"""


def _populate(database_url: str, now: datetime) -> int:
    """Keys in most windows of the last two days: 150 (three files), 20 (padded), or none."""
    rng = random.Random(24)
    first = now.replace(minute=0, second=0, microsecond=0) - timedelta(hours=48)
    rows = []
    for window in range(WINDOWS):
        count = 0 if window % 7 == 0 else 20 if window % 5 == 0 else 150
        arrived = (first + timedelta(minutes=15 * window)).replace(tzinfo=None)
        rows += [
            dict(
                key_data=rng.randbytes(16), rolling_start=2_900_000 - 144 * rng.randrange(1, 15),
                rolling_period=144, transmission_risk=2, report_type=1, days_since_onset=rng.randrange(-2, 12),
                health_authority="vn.bluezone", traveler=False, created_at=arrived,
            )
            for _ in range(count)
        ]  # fmt: skip
    engine = create_engine(Settings(database_url=database_url).sqlalchemy_url)
    with engine.begin() as conn:
        conn.execute(insert(Exposure.__table__), rows)
    engine.dispose()
    return len(rows)


class ForkServer:
    def __init__(self, env: dict[str, str]) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-c", _FORK_SERVER], env=env, text=True,
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        )  # fmt: skip
        self.lines: queue.Queue[str] = queue.Queue()
        self.log: list[str] = []
        self.reader = threading.Thread(target=self._read_stderr, daemon=True)
        self.reader.start()

    def _read_stderr(self) -> None:
        assert self.process.stderr is not None
        for line in self.process.stderr:
            self.log.append(line)
            self.lines.put(line)

    def start(self) -> int:
        assert self.process.stdin is not None and self.process.stdout is not None
        while not self.lines.empty():
            self.lines.get()
        self.process.stdin.write("run\n")
        self.process.stdin.flush()
        return int(self.process.stdout.readline())

    def wait_for_batches(self, count: int, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while count and time.monotonic() < deadline:
            try:
                if self.lines.get(timeout=max(0.0, deadline - time.monotonic())).startswith("batch "):
                    count -= 1
            except queue.Empty:
                return

    def status(self) -> int:
        assert self.process.stdout is not None
        return int(self.process.stdout.readline())

    def close(self) -> None:
        assert self.process.stdin is not None
        self.process.stdin.close()
        self.process.wait(30)
        self.reader.join(10)
        for pipe in (self.process.stdout, self.process.stderr):
            assert pipe is not None
            pipe.close()


def test_killed_exports_lose_nothing_duplicate_nothing_and_leave_nothing(
    tmp_path: Path, database_url: str
) -> None:
    env = {
        **os.environ,
        "BLUEZONE_DATA_DIR": str(tmp_path / "data"),
        "BLUEZONE_DATABASE_URL": database_url,
        "BLUEZONE_EXPORT_PERIOD_MINUTES": "15",
        "BLUEZONE_EXPORT_MAX_KEYS_PER_FILE": "60",
        "BLUEZONE_EXPORT_MIN_KEYS": "100",
        "BLUEZONE_EXPORT_PADDING_RANGE": "10",
    }
    subprocess.run(
        [sys.executable, "-m", "bluezone", "server", "init"], env=env, check=True, capture_output=True
    )
    real = _populate(database_url, datetime.now(UTC))
    rng = random.Random(os.environ.get("BLUEZONE_KILL_SEED", "24"))
    server = ForkServer(env)
    killed, finished, left_temporaries = 0, 0, 0
    try:
        while killed < KILLS:
            pid = server.start()
            if rng.random() < 0.3:  # anywhere: start-up, lease, clean-up, planning, a batch, the index
                time.sleep(rng.uniform(0, 0.5))
            else:  # inside the batches: after one to three of them, then a few ms more
                server.wait_for_batches(rng.randint(1, 3), timeout=10)
                time.sleep(rng.uniform(0, 0.03))
            with contextlib.suppress(ProcessLookupError):  # it finished first
                os.kill(pid, signal.SIGKILL)
            status = server.status()
            if os.WIFSIGNALED(status):
                killed += 1
                left_temporaries += bool(list((tmp_path / "data" / "exports").glob(".tmp-*")))
            else:
                finished += 1
                assert os.WEXITSTATUS(status) == 0, "".join(server.log[-20:])
        server.start()
        assert server.status() == 0, "".join(server.log[-20:])  # and now to the end
    finally:
        server.close()
    assert not [line for line in server.log if "another export is running" in line]  # none waited
    assert any("no longer runs, taken over by" in line for line in server.log)  # said, at WARNING

    settings = Settings(data_dir=tmp_path / "data", database_url=database_url)
    factory = make_sessionmaker(make_engine(settings))
    with factory() as db:
        assert set(db.scalars(select(ExportBatch.status))) == {"complete"}
        recorded = sorted(db.scalars(select(ExportFile.name)))
        stored_real = set(db.scalars(select(Exposure.key_data)))
        padding = set(db.scalars(select(PaddingKey.key_data)))
    factory.kw["bind"].dispose()
    exports = settings.exports_dir
    index = (exports / "index.txt").read_text().split()
    zips = sorted(path.name for path in exports.glob("*.zip"))
    assert sorted(index) == zips == recorded and len(zips) > 2 * WINDOWS
    assert LocalDirectoryStorage(exports).names() == [*zips, "index.txt"]
    assert not list(exports.glob(".tmp-*"))
    verification = load_or_create_keys(settings).export_verification
    published = Counter(
        key.key_data
        for name in index
        for key in read_export((exports / name).read_bytes(), verification).keys
    )
    assert len(stored_real) == real and padding
    assert set(published) == stored_real | padding  # nothing lost, nothing made up
    assert max(published.values()) == 1  # nothing twice, in one file or across files
    print(
        f"{killed} kills ({left_temporaries} leaving a .tmp-* file), {finished} runs that finished first, "
        f"{len(zips)} files, {real} keys"
    )
