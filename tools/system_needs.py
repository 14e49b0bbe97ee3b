"""What the tests need from the system, in one table; ``make test`` runs this before pytest.

As root with apt it installs the missing Debian packages quietly and starts the services that are
installed but stopped; anywhere else it prints one line per missing need, with the command that
supplies it, and exits 1 so that pytest never starts with a tier that would fail (no tier passes
by skipping). Only the standard library: it runs before any virtual environment exists.

    python3 tools/system_needs.py           # install or report
    python3 tools/system_needs.py --check   # report only, never install
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import subprocess
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

__all__ = ["NEEDS", "SERVICES", "Need", "Service", "main", "missing_needs", "stopped_services"]


@dataclass(frozen=True)
class Need:
    """A Debian package a test tier needs, found by a file it installs."""

    package: str
    path: str
    why: str

    def present(self) -> bool:
        return Path(self.path).exists()


@dataclass(frozen=True)
class Service:
    """A service the server tests need on this machine kind, and the command that starts it."""

    name: str
    port: int
    start: str
    """a shell command"""

    def reachable(self) -> bool:
        try:
            socket.create_connection(("127.0.0.1", self.port), 3).close()
        except OSError:
            return False
        return True


NEEDS: tuple[Need, ...] = (
    Need("dbus-daemon", "/usr/bin/dbus-daemon", "the BLE tests run BlueZoo on a private bus"),
    Need("dbus-bin", "/usr/bin/dbus-send", "the BLE tests wait for BlueZoo with dbus-send"),
    Need("chromium", "/usr/bin/chromium", "the console's browser tests, Playwright drives it"),
    Need(
        "fonts-dejavu-core",
        "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
        "Vietnamese text in the console's screenshots (chromium recommends no font)",
    ),
    Need("curl", "/usr/bin/curl", "the README's flow, run as a test"),
    Need("jq", "/usr/bin/jq", "the README's flow, run as a test"),
    Need("systemd", "/usr/bin/systemd-analyze", "the beacon's unit is checked with systemd-analyze verify"),
    Need("qemu-system-x86", "/usr/bin/qemu-system-x86_64", "the beacon runs on the real BlueZ in a VM"),
    Need("debootstrap", "/usr/sbin/debootstrap", "the BlueZ VM's image is made once by debootstrap"),
)

SERVICES: tuple[Service, ...] = (
    Service("PostgreSQL", 5432, "pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start"),
    Service(
        "Redis",
        6379,
        "redis-server --daemonize yes --bind '127.0.0.1 -::1' --port 6379 --save '' --appendonly no",
    ),
)


def missing_needs(needs: Sequence[Need] = NEEDS) -> list[Need]:
    return [need for need in needs if not need.present()]


def stopped_services(services: Sequence[Service] = SERVICES) -> list[Service]:
    return [service for service in services if not service.reachable()]


Runner = Callable[..., "subprocess.CompletedProcess[str]"]


def _can_install() -> bool:
    return os.geteuid() == 0 and shutil.which("apt-get") is not None


def _apt_install(packages: Sequence[str], run: Runner) -> str:
    """Install quietly; return apt's last error line, or '' on success."""
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for command in (
        ["apt-get", "update", "-qq"],
        ["apt-get", "install", "-y", "-qq", "--no-install-recommends", *packages],
    ):
        done = run(command, env=env, capture_output=True, text=True)
        if done.returncode != 0:
            lines = [line for line in done.stderr.splitlines() if line.strip()]
            return lines[-1] if lines else f"{' '.join(command[:2])} exited {done.returncode}"
    return ""


def main(argv: Sequence[str] | None = None, run: Runner = subprocess.run) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="report what is missing, install nothing")
    args = parser.parse_args(argv)
    install = _can_install() and not args.check

    missing = missing_needs()
    if missing and install:
        names = [need.package for need in missing]
        print(f"installing Debian packages the tests need: {' '.join(names)}", file=sys.stderr)
        error = _apt_install(names, run)
        if error:
            print(f"apt-get install {' '.join(names)} failed: {error}", file=sys.stderr)
        missing = missing_needs()
    for need in missing:
        print(f"missing {need.path}, for {need.why}: sudo apt-get install {need.package}", file=sys.stderr)

    stopped = stopped_services()
    if stopped and install:
        for service in stopped:
            print(
                f"{service.name} is not reachable on 127.0.0.1:{service.port}; starting it", file=sys.stderr
            )
            run(service.start, shell=True, capture_output=True, text=True)
        stopped = [s for s in stopped if not _wait_reachable(s)]
    for service in stopped:
        print(
            f"{service.name} is not reachable on 127.0.0.1:{service.port}: start it with `{service.start}`",
            file=sys.stderr,
        )
    return 1 if missing or stopped else 0


def _wait_reachable(service: Service, seconds: float = 15.0) -> bool:
    import time

    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if service.reachable():
            return True
        time.sleep(0.3)
    return False


if __name__ == "__main__":
    sys.exit(main())
