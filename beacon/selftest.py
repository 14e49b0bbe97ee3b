"""``bluezone beacon selftest``: is this machine ready to be a beacon? Each check says the fix.

BlueZ version and flags, the adapter (present, powered, can advertise), whether each RPI gets a
fresh address (the adapter not connectable), which TX power the metadata claims, permissions,
the server (reachable, clock skew from its Date header) and the pinned export keys' fingerprints.
"""

from __future__ import annotations

import asyncio
import grp
import os
import re
import shutil
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import asdict, dataclass
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any

from beacon.schedule import DEFAULT_TX_POWER_DBM
from beacon.settings import BeaconSettings, SettingsError

__all__ = ["Check", "run_selftest"]

MAX_SKEW_S = 120


@dataclass(frozen=True)
class Check:
    name: str
    status: str  # ok | warn | fail
    detail: str
    fix: str = ""

    def as_dict(self) -> dict[str, str]:
        return asdict(self)


def _bluez_version() -> Check:
    binary = shutil.which("bluetoothd") or next(
        (
            p
            for p in ("/usr/libexec/bluetooth/bluetoothd", "/usr/lib/bluetooth/bluetoothd")
            if Path(p).exists()
        ),
        None,
    )
    if binary is None:
        return Check("BlueZ", "fail", "bluetoothd not found", "install BlueZ: sudo apt install bluez")
    try:
        version = subprocess.run(
            [binary, "--version"], capture_output=True, text=True, timeout=5
        ).stdout.strip()
    except (OSError, subprocess.TimeoutExpired) as exc:
        return Check("BlueZ", "warn", f"bluetoothd --version failed: {exc}")
    match = re.match(r"(\d+)\.(\d+)", version)
    if match and (int(match[1]), int(match[2])) < (5, 56):
        return Check("BlueZ", "warn", f"BlueZ {version}: passive scanning needs 5.56", "upgrade BlueZ")
    if match and (int(match[1]), int(match[2])) < (5, 77):
        return Check(
            "BlueZ", "warn", f"BlueZ {version}: advertising interval and TX power are ignored before 5.77",
            "run bluetoothd with --experimental, or upgrade to BlueZ 5.77+",
        )  # fmt: skip
    return Check("BlueZ", "ok", f"BlueZ {version}")


def _experimental() -> Check:
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            argv = cmdline.read_bytes().split(b"\0")
        except OSError:
            continue
        if argv and argv[0].endswith(b"bluetoothd"):
            if b"--experimental" in argv or b"-E" in argv:
                return Check(
                    "bluetoothd flags", "ok", "running with --experimental (passive scanning available)"
                )
            return Check(
                "bluetoothd flags", "warn", "running without --experimental: passive scanning unavailable",
                "add --experimental to ExecStart of bluetooth.service (systemctl edit bluetooth)",
            )  # fmt: skip
    return Check(
        "bluetoothd flags", "fail", "bluetoothd is not running", "sudo systemctl enable --now bluetooth"
    )


async def _adapter(settings: BeaconSettings) -> Check:
    try:
        from dbus_fast import BusType
        from dbus_fast.aio import MessageBus

        bus = await asyncio.wait_for(MessageBus(bus_type=BusType.SYSTEM).connect(), 5)
    except Exception as exc:
        return Check("adapter", "fail", f"no system D-Bus ({type(exc).__name__})", "install dbus and bluez")
    try:
        path = f"/org/bluez/{settings.adapter}"
        introspection = await bus.introspect("org.bluez", path)
        names = {i.name for i in introspection.interfaces}
        properties: Any = bus.get_proxy_object("org.bluez", path, introspection).get_interface(
            "org.freedesktop.DBus.Properties"
        )
        powered = (await properties.call_get("org.bluez.Adapter1", "Powered")).value
    except Exception as exc:
        error = getattr(exc, "type", type(exc).__name__)
        fix = (
            "sudo systemctl start bluetooth"
            if "ServiceUnknown" in str(error)
            else "check `bluetoothctl list`"
        )
        return Check("adapter", "fail", f"{settings.adapter}: {error}", fix)
    finally:
        bus.disconnect()
    if not powered:
        return Check(
            "adapter",
            "fail",
            f"{settings.adapter} is powered off",
            "bluetoothctl power on; rfkill unblock bluetooth",
        )
    if "org.bluez.LEAdvertisingManager1" not in names:
        return Check(
            "adapter",
            "warn",
            f"{settings.adapter} cannot advertise (no LEAdvertisingManager1)",
            "use another adapter",
        )
    return Check("adapter", "ok", f"{settings.adapter} powered, can advertise")


def _address(settings: BeaconSettings) -> Check:
    """One fresh address per RPI holds for a non-connectable advertisement with privacy off: the
    kernel gives each registration a new non-resolvable address (the qemu tier shows it through
    the real bluetoothd). A connectable or discoverable adapter advertises from its fixed address."""
    btmgmt = shutil.which("btmgmt")
    if btmgmt is None:
        return Check(
            "address rotation",
            "warn",
            "btmgmt not found: cannot tell",
            "install bluez (btmgmt) and run selftest again",
        )
    index = settings.adapter.removeprefix("hci")
    try:
        output = subprocess.run(
            [btmgmt, "--index", index, "info"], capture_output=True, text=True, timeout=5
        ).stdout
    except (OSError, subprocess.TimeoutExpired):
        output = ""
    current = next((line for line in output.splitlines() if "current settings" in line), "")
    if not current:
        return Check(
            "address rotation",
            "warn",
            "btmgmt info failed",
            "run selftest as root to read the controller settings",
        )
    flags = set(current.split(":", 1)[1].split())
    exposed = sorted(flags & {"connectable", "discoverable"})
    if exposed:
        return Check(
            "address rotation", "fail",
            f"{settings.adapter} is {' and '.join(exposed)}: BlueZ then advertises from the adapter's "
            "fixed address, so every RPI is linkable to the others",
            "; ".join(f"sudo btmgmt --index {index} {flag} off" for flag in exposed),
        )  # fmt: skip
    if "privacy" in flags:
        return Check(
            "address rotation", "warn",
            "controller privacy on: not needed (each registration already gets a fresh non-resolvable "
            "address) and not the set-up this beacon is tested with",
            f"sudo btmgmt --index {index} power off; sudo btmgmt --index {index} privacy off; "
            f"sudo btmgmt --index {index} power on",
        )  # fmt: skip
    return Check(
        "address rotation",
        "ok",
        "non-connectable, privacy off: each RPI goes out from a fresh non-resolvable address "
        "(the beacon re-registers at every RPI change)",
    )


async def _tx_power(settings: BeaconSettings) -> Check:
    """Which case holds: the controller sets the power and reports it, or the metadata claims
    the calibrated value (``beacon calibrate``)."""
    from beacon.radio.bluez_adv import BlueZAdvertiser, BlueZOptions

    advertiser = BlueZAdvertiser(BlueZOptions(adapter=settings.adapter))
    try:
        await asyncio.wait_for(advertiser.probe(), 5)
    except Exception as exc:
        return Check("TX power", "fail", f"cannot ask {settings.adapter}: {exc}", "see the adapter check")
    finally:
        await advertiser.stop()
    if advertiser.can_set_tx_power:
        low, high = advertiser.tx_power_range_dbm or ("?", "?")
        return Check(
            "TX power",
            "ok",
            f"{settings.adapter} sets TX power ({low}..{high} dBm): the beacon asks for "
            f"{settings.tx_power_dbm} dBm and advertises the power the controller applies",
        )
    detail = (
        f"{settings.adapter} cannot set TX power (that needs LE extended advertising and bluetoothd "
        f"--experimental): the metadata claims tx_power_dbm = {settings.tx_power_dbm} dBm"
    )
    if settings.tx_power_dbm == DEFAULT_TX_POWER_DBM:
        return Check(
            "TX power", "warn", detail + ", the uncalibrated default",
            "measure it: bluezone beacon calibrate (docs/raspberry-pi.md, section 5)",
        )  # fmt: skip
    return Check("TX power", "ok", detail + ", this beacon's calibrated value")


def _permissions() -> Check:
    if os.geteuid() == 0:
        return Check("permissions", "ok", "running as root")
    try:
        members = grp.getgrnam("bluetooth")
    except KeyError:
        return Check("permissions", "warn", "no 'bluetooth' group", "install bluez, which creates it")
    if members.gr_gid in os.getgroups():
        return Check("permissions", "ok", "in the 'bluetooth' group")
    return Check(
        "permissions", "fail", "not in the 'bluetooth' group", "sudo adduser $USER bluetooth; log in again"
    )


def _server(settings: BeaconSettings) -> Check:
    if not settings.server_url:
        return Check(
            "server",
            "fail",
            "server_url is not set",
            "set server_url in the config or BLUEZONE_BEACON_SERVER_URL",
        )
    url = settings.server_url.rstrip("/") + "/health"
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            date = response.headers.get("Date")
    except (urllib.error.URLError, OSError) as exc:
        return Check(
            "server", "fail", f"{url}: {getattr(exc, 'reason', exc)}", "check the URL and the network"
        )
    if not date:
        return Check("server", "warn", "reachable, but no Date header to check the clock against")
    skew = time.time() - parsedate_to_datetime(date).timestamp()
    if abs(skew) > MAX_SKEW_S:
        return Check(
            "server", "warn", f"clock off by {skew:+.0f} s", "enable NTP: sudo timedatectl set-ntp true"
        )
    return Check("server", "ok", f"reachable; clock within {abs(skew):.0f} s")


def _pinned(settings: BeaconSettings) -> Check:
    try:
        keys = settings.verification_keys()
    except SettingsError as exc:
        return Check("export keys", "fail", str(exc), "fix pinned_keys in the config")
    if not keys:
        return Check(
            "export keys",
            "fail",
            "no export key pinned",
            "add [[pinned_keys]] from `bluezone server signing-key`",
        )
    return Check(
        "export keys", "ok", "; ".join(f"{k.key_id}-{k.key_version} sha256 {k.fingerprint()[:16]}…" for k in keys),
        "compare the fingerprints with the health authority's published ones",
    )  # fmt: skip


async def run_selftest(settings: BeaconSettings) -> list[Check]:
    checks = [_bluez_version(), _experimental(), await _adapter(settings)]
    checks += [_address(settings), await _tx_power(settings), _permissions()]
    return [*checks, await asyncio.to_thread(_server, settings), _pinned(settings)]


def render(checks: list[Check]) -> str:
    marks = {"ok": "ok  ", "warn": "WARN", "fail": "FAIL"}
    lines = []
    for check in checks:
        lines.append(f"[{marks[check.status]}] {check.name}: {check.detail}")
        if check.fix and check.status != "ok":
            lines.append(f"       fix: {check.fix}")
    return "\n".join(lines)


def summary(checks: list[Check]) -> dict[str, Any]:
    return {"ok": all(c.status != "fail" for c in checks), "checks": [c.as_dict() for c in checks]}
