"""Scale-out: two server processes on one PostgreSQL and one Redis keep codes single-use and
rate limits shared."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import redis

REDIS_URL = os.environ.get("BLUEZONE_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
pytestmark = pytest.mark.slow
_ENV: list[dict[str, str]] = []  # the fixture's environment, for tests that run the CLI too


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _post(
    url: str, body: dict[str, Any], headers: dict[str, str] | None = None
) -> tuple[int, dict[str, Any]]:
    request = urllib.request.Request(
        url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json", **(headers or {})}
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        with exc:
            return exc.code, json.loads(exc.read())


@pytest.fixture
def two_servers(tmp_path: Path, postgres_template: str, postgres_url: str) -> Iterator[tuple[list[str], str]]:
    with redis.Redis.from_url(REDIS_URL) as client:
        for key in client.scan_iter("bluezone:rl:*"):
            client.delete(key)
    env = {
        **os.environ,
        "BLUEZONE_DATA_DIR": str(tmp_path / "data"),
        "BLUEZONE_DATABASE_URL": postgres_url,
        "BLUEZONE_REDIS_URL": REDIS_URL,
        "BLUEZONE_VERIFY_ATTEMPTS_PER_MINUTE": "20",
        "BLUEZONE_ACTIVITY_SIGNALS_PER_MINUTE": "100",
    }
    _ENV[:] = [env]
    cli = [sys.executable, "-m", "bluezone", "server"]
    subprocess.run([*cli, "init"], env=env, check=True, capture_output=True)
    made = subprocess.run(
        [*cli, "create-official", "Lab", "--role", "official", "--json"],
        env=env,
        check=True,
        capture_output=True,
        text=True,
    )
    api_key = json.loads(made.stdout)["apiKey"]
    ports = [_port(), _port()]
    processes = [
        subprocess.Popen(
            [*cli, "run", "--port", str(port)], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        for port in ports
    ]
    urls = [f"http://127.0.0.1:{port}" for port in ports]
    try:
        deadline = time.monotonic() + 60
        for url in urls:
            while True:
                try:
                    urllib.request.urlopen(url + "/health", timeout=2).close()
                    break
                except OSError:
                    if time.monotonic() > deadline:
                        raise RuntimeError("a server process did not start") from None
                    time.sleep(0.2)
        yield urls, api_key
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            process.wait(20)


def test_one_code_redeemed_at_once_through_two_processes_succeeds_exactly_once(
    two_servers: tuple[list[str], str],
) -> None:
    urls, api_key = two_servers
    status, issued = _post(urls[0] + "/api/issue", {"testType": "confirmed"}, {"X-API-Key": api_key})
    assert status == 200
    with ThreadPoolExecutor(16) as pool:
        results = list(
            pool.map(lambda i: _post(urls[i % 2] + "/api/verify", {"code": issued["code"]}), range(16))
        )
    statuses = sorted(status for status, _ in results)
    assert statuses.count(200) == 1, statuses
    assert all(body.get("errorCode") == "code_invalid" for status, body in results if status != 200)


def test_rate_limits_hold_across_processes(two_servers: tuple[list[str], str]) -> None:
    urls, _ = two_servers
    statuses = [_post(urls[i % 2] + "/api/verify", {"code": "00000000"})[0] for i in range(24)]
    assert statuses[:20].count(429) == 0
    assert statuses[20:] == [429] * 4  # 20 a minute shared by both processes, not 20 each


def test_activity_counts_add_up_across_processes(two_servers: tuple[list[str], str]) -> None:
    urls, _ = two_servers
    import psycopg  # the count lives in the shared database

    loaded = subprocess.run(
        [sys.executable, "-m", "bluezone", "server", "load-districts"],
        env=_ENV[0],
        capture_output=True,
        text=True,
    )
    assert loaded.returncode == 0, loaded.stderr
    with ThreadPoolExecutor(8) as pool:
        statuses = list(
            pool.map(
                lambda i: _post(urls[i % 2] + "/api/user-activity", {"district": "na-hang"})[0], range(16)
            )
        )
    assert statuses.count(200) == 16
    with psycopg.connect(_ENV[0]["BLUEZONE_DATABASE_URL"]) as conn:
        (count,) = conn.execute("SELECT count FROM activity_counts WHERE district = 'na-hang'").fetchone()
    assert count == 16
