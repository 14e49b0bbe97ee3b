"""The beacon's settings: one TOML file plus ``BLUEZONE_BEACON_*`` environment variables.

Plain dataclass and ``tomllib``: the daemon stays light (no pydantic, no numpy) on a Pi.

    # beacon.toml
    state_dir = "/var/lib/bluezone"
    server_url = "https://tracer.example.vn/"
    radio = "bluez"
    warning_hook = "/usr/local/bin/on-warning"
    tx_power_dbm = -15         # what the AEM advertises: this beacon's calibrated TX power
    rssi_correction_db = 0.0   # added to every RSSI it measures (GAEN's receiver correction)
    [[pinned_keys]]            # the export verification key, distributed out of band
    key_id = "452"
    key_version = "v1"
    pem_file = "/etc/bluezone/export-452-v1.pem"
"""

from __future__ import annotations

import os
import shutil
import sys
import tomllib
from collections.abc import Sequence
from dataclasses import MISSING, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from beacon.errors import BeaconError
from beacon.schedule import DEFAULT_TX_POWER_DBM
from protocol.errors import ProtocolError
from protocol.export import VerificationKey

__all__ = ["RADIOS", "BeaconSettings", "SettingsError", "resolve_radio", "settings_help"]

ENV_PREFIX = "BLUEZONE_BEACON_"
RADIOS = ("auto", "bluez", "bleak", "virtual")
_BLUETOOTHD = ("/usr/libexec/bluetooth/bluetoothd", "/usr/lib/bluetooth/bluetoothd", "/usr/sbin/bluetoothd")


class SettingsError(BeaconError, ValueError):
    """A setting is missing or wrong; the message names it."""


def _default_state_dir() -> Path:
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "bluezone"


@dataclass(frozen=True)
class BeaconSettings:
    state_dir: Path = field(default_factory=_default_state_dir)
    key_file: Path | None = None
    """Where the key sealing the TEKs lives; default ``<state_dir>/tek.key``. Put it elsewhere
    (another disk, a tmpfs filled at boot) to keep it apart from the database."""
    server_url: str = ""
    exports_url: str = ""
    """Where the export files are fetched: the CDN or bucket URL the health authority publishes
    (``https://cdn.example.vn/v1/exports/``); default ``<server_url>v1/exports/``."""
    health_authority_id: str = "vn.bluezone"
    radio: str = "auto"
    """``auto`` (the real radio: ``bluez`` on Linux where BlueZ is installed, ``bleak`` on macOS
    and Windows; an error naming the fix where neither holds), ``bluez`` (bleak scanning + BlueZ
    advertising), ``bleak`` (scan only), or ``virtual`` (alone on a virtual air: tests, demos)."""
    adapter: str = "hci0"
    passive_scan: bool = False
    """Passive scanning through an AdvertisementMonitor (bluetoothd ``--experimental``)."""
    sync_interval_minutes: float = 240.0
    desktop_notifications: bool = True
    warning_hook: str = ""
    pinned_keys: tuple[dict[str, str], ...] = ()
    tx_power_dbm: int = DEFAULT_TX_POWER_DBM
    """What the metadata advertises: this beacon's calibrated TX power (``beacon calibrate``)."""
    rssi_correction_db: float = 0.0
    """Added to every RSSI this beacon measures before attenuation (GAEN's receiver correction)."""
    report_activity: bool = False
    """Opt in to one anonymous "active today" signal a day for ``district`` (off by default)."""
    district: str = ""

    @classmethod
    def load(cls, path: Path | None = None, env: dict[str, str] | None = None) -> BeaconSettings:
        env = dict(os.environ if env is None else env)
        values: dict[str, Any] = {}
        path = path or (Path(env[ENV_PREFIX + "CONFIG"]) if ENV_PREFIX + "CONFIG" in env else None)
        if path is not None:
            try:
                values.update(tomllib.loads(path.read_text()))
            except FileNotFoundError:
                raise SettingsError(f"config file {path} does not exist") from None
            except tomllib.TOMLDecodeError as exc:
                raise SettingsError(f"config file {path} is not valid TOML: {exc}") from None
        known = {f.name: f for f in fields(cls)}
        for name in known:
            if ENV_PREFIX + name.upper() in env:
                values[name] = env[ENV_PREFIX + name.upper()]
        unknown = set(values) - set(known)
        if unknown:
            raise SettingsError(f"unknown setting(s): {', '.join(sorted(unknown))}")
        return cls()._with(values)

    def _with(self, values: dict[str, Any]) -> BeaconSettings:
        converted: dict[str, Any] = {}
        for name, value in values.items():
            try:
                if name in ("state_dir", "key_file"):
                    converted[name] = Path(value).expanduser() if value else None
                elif name in ("sync_interval_minutes", "rssi_correction_db"):
                    converted[name] = float(value)
                elif name == "tx_power_dbm":
                    converted[name] = int(value)
                elif name in ("desktop_notifications", "passive_scan", "report_activity"):
                    converted[name] = (
                        value if isinstance(value, bool) else str(value).lower() in ("1", "true", "yes")
                    )
                elif name == "pinned_keys":
                    converted[name] = tuple(dict(item) for item in value)
                else:
                    converted[name] = str(value)
            except (TypeError, ValueError):
                raise SettingsError(f"setting {name} has an invalid value") from None
        settings = replace(self, **converted)
        if settings.state_dir is None:
            settings = replace(settings, state_dir=_default_state_dir())
        if settings.radio not in RADIOS:
            raise SettingsError(f"radio must be one of {', '.join(RADIOS)}")
        if len(settings.district) > 64:
            raise SettingsError("district must be a district code (64 characters at most)")
        if settings.report_activity and not settings.district.strip():
            raise SettingsError("report_activity needs district (the district code to count you in)")
        if not -127 <= settings.tx_power_dbm <= 20:
            raise SettingsError("tx_power_dbm must be a calibrated TX power within -127..20 dBm")
        if not -50 <= settings.rssi_correction_db <= 50:
            raise SettingsError("rssi_correction_db must be within -50..50 dB")
        if settings.sync_interval_minutes < 1:
            raise SettingsError("sync_interval_minutes must be at least 1")
        return settings

    def key_path(self) -> Path:
        return self.key_file or self.state_dir / "tek.key"

    def verification_keys(self) -> list[VerificationKey]:
        keys = []
        for item in self.pinned_keys:
            try:
                pem = item.get("pem") or Path(item["pem_file"]).read_text()
                keys.append(VerificationKey.from_pem(pem, item["key_id"], item["key_version"]))
            except KeyError as exc:
                raise SettingsError(
                    f"a pinned key needs key_id, key_version and pem or pem_file (missing {exc})"
                ) from None
            except OSError as exc:
                raise SettingsError(f"pinned key file cannot be read: {exc}") from None
            except ProtocolError as exc:
                raise SettingsError(
                    f"pinned key {item.get('key_id')}-{item.get('key_version')}: {exc}"
                ) from None
        return keys


def resolve_radio(radio: str, platform: str = sys.platform, bluetoothd: Sequence[str] = _BLUETOOTHD) -> str:
    """The backend ``auto`` stands for here; a one-line error where no real radio exists."""
    if radio != "auto":
        return radio
    if platform in ("darwin", "win32"):
        return "bleak"
    if platform.startswith("linux") and (
        any(Path(p).exists() for p in bluetoothd) or shutil.which("bluetoothd")
    ):
        return "bluez"
    raise SettingsError(
        "no Bluetooth stack found (BlueZ's bluetoothd is not installed): install bluez "
        '(apt install bluez), or set radio = "virtual" to try the daemon alone on a virtual air'
    )


def settings_help() -> str:
    """Every setting, its environment variable and its default, for ``--help``."""
    lines = ["settings (TOML file given by --config or BLUEZONE_BEACON_CONFIG, or environment):"]
    for f in fields(BeaconSettings):
        default = f.default_factory() if f.default_factory is not MISSING else f.default
        if f.name == "key_file":
            shown = "<state_dir>/tek.key"
        elif isinstance(default, bool):
            shown = str(default).lower()
        elif isinstance(default, Path | int | float):
            shown = str(default)
        else:
            shown = repr(default) if default != "" else '""'
        env = "(TOML only)" if f.name == "pinned_keys" else ENV_PREFIX + f.name.upper()
        lines.append(f"  {f.name:22} {env:40} default {shown}")
    return "\n".join(lines)
