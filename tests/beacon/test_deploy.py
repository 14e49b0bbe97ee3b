"""The systemd unit and the Raspberry Pi guide, held against each other and the settings.

The guide once put ``key_file`` under ``/etc`` while the unit's ``ProtectSystem=strict`` allows
writes under ``/var/lib/bluezone`` only: the documented set-up crash-looped. These tests read
the guide's own TOML and the unit as a reader would follow them."""

from __future__ import annotations

import configparser
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

from beacon.settings import BeaconSettings, resolve_radio

ROOT = Path(__file__).resolve().parents[2]
UNIT = ROOT / "deploy" / "bluezone-beacon.service"
GUIDE = ROOT / "docs" / "raspberry-pi.md"


def _unit() -> configparser.ConfigParser:
    unit = configparser.ConfigParser(interpolation=None, strict=True)
    unit.optionxform = str  # type: ignore[assignment,method-assign]
    unit.read_string(UNIT.read_text())
    return unit


def _guide_toml() -> str:
    block = re.search(r"`/etc/bluezone/beacon.toml`:\n\n```toml\n(.*?)```", GUIDE.read_text(), re.S)
    assert block is not None, "the guide's beacon.toml block"
    return block.group(1)


def _guide_settings() -> BeaconSettings:
    return BeaconSettings()._with(tomllib.loads(_guide_toml()))


def test_everything_the_guides_settings_write_is_writable_under_the_unit() -> None:
    unit = _unit()
    service = unit["Service"]
    writable = [Path(p) for p in service["ReadWritePaths"].split()]
    settings = _guide_settings()
    for path in (settings.state_dir, settings.key_path()):
        assert any(path.is_relative_to(w) for w in writable), f"{path} is read-only under the unit"
    assert service["ProtectSystem"] == "strict"
    assert Path("/var/lib") / service["StateDirectory"] == settings.state_dir
    assert service["Environment"] == "BLUEZONE_BEACON_CONFIG=/etc/bluezone/beacon.toml"


def test_the_unit_waits_for_the_clock_and_stays_off_raw_bluetooth() -> None:
    unit = _unit()
    for key in ("Wants", "After"):
        assert "time-sync.target" in unit["Unit"][key].split()
    service = unit["Service"]
    assert "AF_BLUETOOTH" not in service["RestrictAddressFamilies"]  # no mgmt socket: D-Bus only
    assert service["CapabilityBoundingSet"] == ""
    assert service["ExecStart"].endswith("bluezone beacon run")


def test_systemd_analyze_verifies_the_unit(tmp_path: Path) -> None:
    """The unit as shipped, with ExecStart pointed at this checkout's command."""
    here = Path(sys.executable).with_name("bluezone")
    text = UNIT.read_text().replace("/opt/bluezone/venv/bin/bluezone", str(here))
    (tmp_path / "bluezone-beacon.service").write_text(text)
    analyze = shutil.which("systemd-analyze") or "/usr/bin/systemd-analyze"
    done = subprocess.run(
        [analyze, "verify", str(tmp_path / "bluezone-beacon.service")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0 and done.stderr.strip() == "", done.stderr


def test_auto_is_the_real_radio_where_one_exists_and_an_error_naming_the_fix_elsewhere(
    tmp_path: Path,
) -> None:
    fake = tmp_path / "bluetoothd"
    fake.write_text("")
    assert BeaconSettings().radio == "auto"
    assert resolve_radio("auto", "linux", [str(fake)]) == "bluez"
    assert resolve_radio("auto", "darwin", []) == "bleak"
    assert resolve_radio("virtual", "linux", []) == "virtual"
    try:
        resolve_radio("auto", "linux", [str(tmp_path / "absent")])
    except ValueError as exc:
        assert "install bluez" in str(exc) and 'radio = "virtual"' in str(exc)
    else:
        assert shutil.which("bluetoothd"), "without bluetoothd, auto must refuse"
