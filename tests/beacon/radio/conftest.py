"""Fixtures: a private dbus-daemon and BlueZoo (a BlueZ D-Bus mock) on it."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest


@pytest.fixture
def private_bus(tmp_path: Path) -> Iterator[str]:
    daemon = shutil.which("dbus-daemon")
    if daemon is None:
        raise RuntimeError("dbus-daemon is missing: apt install dbus (.ci/run does)")
    started = subprocess.run(
        [daemon, "--session", "--print-address", "--fork", "--print-pid"],
        capture_output=True,
        text=True,
        check=True,
    )
    address, pid = started.stdout.split()[:2]
    try:
        yield address
    finally:
        os.kill(int(pid), signal.SIGTERM)


@pytest.fixture
def bluezoo(private_bus: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    monkeypatch.setenv("DBUS_SYSTEM_BUS_ADDRESS", private_bus)
    # The console script of the bluezoo package, beside this interpreter.
    command = [str(Path(sys.executable).with_name("bluezoo")), "--auto-enable", "--scan-interval", "1"]
    process = subprocess.Popen(
        [*command, "-a", "00:11:22:33:44:55", "-a", "00:AA:BB:CC:DD:EE"],
        env={**os.environ, "DBUS_SYSTEM_BUS_ADDRESS": private_bus},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 20
        while subprocess.run(
            ["dbus-send", f"--bus={private_bus}", "--print-reply", "--dest=org.bluez", "/org/bluez/hci1",
             "org.freedesktop.DBus.Introspectable.Introspect"],
            capture_output=True,
        ).returncode:  # fmt: skip
            if time.monotonic() > deadline or process.poll() is not None:
                raise RuntimeError("BlueZoo did not come up")
            time.sleep(0.2)
        yield private_bus
    finally:
        process.terminate()
        process.wait(10)
