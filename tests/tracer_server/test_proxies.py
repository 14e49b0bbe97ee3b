"""Forwarded headers through a real uvicorn (``bluezone server run`` in a subprocess, real sockets):
``X-Forwarded-For`` names the client only when the connection comes from a configured proxy.

Before ``forwarded_allow_ips``, uvicorn believed the header from 127.0.0.1, the default bind, so
every request could claim a fresh address and get a fresh rate limit.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from .test_scale_out import _port
from .test_scale_out import _post as post

pytestmark = pytest.mark.slow
CLI = [sys.executable, "-m", "bluezone", "server"]


@contextlib.contextmanager
def running_server(data_dir: Path, log: Path, **settings: str) -> Iterator[str]:
    """``bluezone server run`` on a free loopback port with ``BLUEZONE_*`` settings; its
    standard error goes to ``log``. Yields the base URL once /health answers."""
    env = {**os.environ, "BLUEZONE_DATA_DIR": str(data_dir)}
    env.update({f"BLUEZONE_{name.upper()}": value for name, value in settings.items()})
    if not (data_dir / "keys").exists():
        subprocess.run([*CLI, "init"], env=env, check=True, capture_output=True, timeout=120)
    port = _port()
    with log.open("wb") as stderr:
        process = subprocess.Popen([*CLI, "run", "--port", str(port)], env=env, stdout=stderr, stderr=stderr)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                urllib.request.urlopen(url + "/health", timeout=2).close()
                break
            except OSError:
                if time.monotonic() > deadline or process.poll() is not None:
                    raise RuntimeError(f"the server did not start: {log.read_text()[-2000:]}") from None
                time.sleep(0.2)
        yield url
    finally:
        process.terminate()
        process.wait(20)


def _wrong_codes(url: str, forwarded_for: list[str]) -> list[int]:
    """The status of one wrong verification code per ``X-Forwarded-For`` value."""
    return [
        post(url + "/api/verify", {"code": "00000000"}, {"X-Forwarded-For": address})[0]
        for address in forwarded_for
    ]


FORGED = [f"198.51.100.{n}" for n in range(1, 7)]  # a fresh address claimed by every request


def test_by_default_a_forged_forwarded_for_from_loopback_does_not_change_the_client(tmp_path: Path) -> None:
    with running_server(tmp_path / "data", tmp_path / "server.log", verify_attempts_per_minute="3") as url:
        statuses = _wrong_codes(url, FORGED)
    assert statuses[:3].count(429) == 0 and statuses[3:] == [429] * 3  # one client: the TCP peer


def test_a_forwarded_for_from_a_proxy_not_configured_is_ignored(tmp_path: Path) -> None:
    with running_server(
        tmp_path / "data",
        tmp_path / "server.log",
        verify_attempts_per_minute="3",
        forwarded_allow_ips="10.9.9.9",
    ) as url:
        statuses = _wrong_codes(url, FORGED)
    assert statuses[3:] == [429] * 3


def test_a_configured_proxy_names_the_client(tmp_path: Path) -> None:
    with running_server(
        tmp_path / "data",
        tmp_path / "server.log",
        verify_attempts_per_minute="3",
        forwarded_allow_ips="127.0.0.1",
    ) as url:
        per_address = _wrong_codes(url, FORGED)  # six clients behind the proxy, one attempt each
        one_client = _wrong_codes(url, ["203.0.113.9"] * 4)
        # nginx's $proxy_add_x_forwarded_for appends the real peer to what the client sent: the
        # rightmost address not a proxy's is the client, so a forged prefix changes nothing.
        prefixed = _wrong_codes(url, [f"{forged}, 203.0.113.9" for forged in FORGED[:2]])
    assert 429 not in per_address
    assert one_client[:3].count(429) == 0 and one_client[3] == 429
    assert prefixed == [429, 429]
