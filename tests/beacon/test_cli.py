"""``bluezone beacon``: status, sync, run, report --to-file and purge as a user runs them, and the
settings they read (TOML file and BLUEZONE_BEACON_* variables)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import fields
from pathlib import Path

import pytest

from beacon.settings import BeaconSettings, SettingsError
from beacon.store import BeaconStore
from protocol import keyfile
from protocol.export import SigningKey
from protocol.keys import TEK_ROLLING_PERIOD, en_interval_number, rolling_start

from .conftest import dead_url


def beacon(
    *args: str, env: Mapping[str, str] | None = None, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("BLUEZONE_")}
    environment.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "bluezone", "beacon", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env=environment,
        cwd=cwd,
        stdin=subprocess.DEVNULL,
    )


def one_line_error(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 1, result
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


def pem_file(tmp_path: Path, signer: SigningKey) -> Path:
    path = tmp_path / "export-key.pem"
    path.write_bytes(signer.verification_key().to_pem())
    return path


# ---- commands ---------------------------------------------------------------------------------


def test_status_json_prints_the_stores_counts(tmp_path: Path) -> None:
    state = tmp_path / "state"
    store = BeaconStore(state)
    store.add_tek(b"\x01" * 16, 2_939_616)
    store.add_tek(b"\x02" * 16, 2_939_760)
    store.record_window(1_763_800_000.0, [])
    store.close()

    result = beacon("--state-dir", str(state), "status", "--json")

    assert result.returncode == 0, result.stderr
    info = json.loads(result.stdout)
    assert info["counts"] == {
        "teks": 2,
        "scans": 1,
        "sightings": 0,
        "files": 0,
        "rejected": 0,
        "matches": 0,
        "warnings": 0,
        "uploads": 0,
    }
    assert info["warnings"] == [] and info["uploads"] == []


def test_status_json_is_a_health_line_an_operator_can_alert_on(tmp_path: Path) -> None:
    state = tmp_path / "state"
    store = BeaconStore(state)
    store.record_window(1_763_800_000.0, [])
    store.record_sync(1_763_800_600.0)
    store.close()

    result = beacon(
        "--state-dir", str(state), "status", "--json",
        env={"BLUEZONE_BEACON_RADIO": "virtual", "BLUEZONE_BEACON_TX_POWER_DBM": "-18"},
    )  # fmt: skip

    assert result.returncode == 0, result.stderr
    info = json.loads(result.stdout)
    assert info["last_scan"] == "2025-11-22T08:26:40+00:00"
    assert info["last_sync"] == "2025-11-22T08:36:40+00:00"
    assert (info["radio"], info["adapter_state"], info["advertised_tx_power_dbm"]) == (
        "virtual",
        "virtual",
        -18,
    )
    human = beacon("--state-dir", str(state), "status", env={"BLUEZONE_BEACON_RADIO": "virtual"})
    assert "last scan: 2025-11-22T08:26:40+00:00; last sync: 2025-11-22T08:36:40+00:00" in human.stdout


def test_help_lists_every_setting_with_its_environment_variable() -> None:
    result = beacon("--help")
    assert result.returncode == 0
    for f in fields(BeaconSettings):
        assert f.name in result.stdout, f.name
    assert "BLUEZONE_BEACON_TX_POWER_DBM" in result.stdout and "default auto" not in result.stdout
    assert "default 'auto'" in result.stdout


def test_status_reads_the_state_directory_from_the_environment(tmp_path: Path) -> None:
    state = tmp_path / "from-env"
    result = beacon("status", "--json", env={"BLUEZONE_BEACON_STATE_DIR": str(state)})
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["counts"]["teks"] == 0
    assert (state / "beacon.db").exists()


def test_sync_without_a_server_url_fails_in_one_line(tmp_path: Path) -> None:
    line = one_line_error(beacon("--state-dir", str(tmp_path / "state"), "sync"))
    assert line.startswith("bluezone beacon sync:") and "server_url" in line


def test_sync_against_a_server_that_is_down_fails_in_one_line(tmp_path: Path) -> None:
    config = tmp_path / "beacon.toml"
    config.write_text(
        f'server_url = "{dead_url()}"\n'
        "[[pinned_keys]]\n"
        'key_id = "452"\nkey_version = "v1"\n'
        f'pem_file = "{pem_file(tmp_path, SigningKey.generate("452", "v1"))}"\n'
    )
    line = one_line_error(beacon("--config", str(config), "--state-dir", str(tmp_path / "state"), "sync"))
    assert "cannot reach the server" in line


@pytest.mark.parametrize("radio", ["bleak", "bluez"])
def test_run_on_a_real_radio_without_bluez_is_one_clear_line(tmp_path: Path, radio: str) -> None:
    result = beacon(
        "--state-dir",
        str(tmp_path / "state"),
        "run",
        "--radio",
        radio,
        env={"DBUS_SYSTEM_BUS_ADDRESS": f"unix:path={tmp_path / 'no-such-socket'}"},
    )
    line = one_line_error(result)
    assert "BlueZ" in line and "bluetoothd" in line


def test_report_to_file_writes_the_last_days_keys_as_a_key_file(tmp_path: Path) -> None:
    state, out = tmp_path / "state", tmp_path / "keys.json"
    today = rolling_start(en_interval_number(time.time()))
    store = BeaconStore(state)
    store.add_tek(b"\x0f" * 16, today - 20 * TEK_ROLLING_PERIOD)  # too old to matter
    past = [bytes([d]) * 16 for d in (3, 2, 1)]
    for d, tek in zip((3, 2, 1), past, strict=True):
        store.add_tek(tek, today - d * TEK_ROLLING_PERIOD)
    store.close()

    before = time.time()
    result = beacon("--state-dir", str(state), "report", "--to-file", str(out), "--yes")
    after = time.time()

    assert result.returncode == 0, result.stderr
    assert "wrote 4 keys" in result.stdout
    keys = keyfile.load(out.read_text())
    assert [k.key_data for k in keys[:3]] == past
    assert [k.rolling_start_number for k in keys[:3]] == [today - d * TEK_ROLLING_PERIOD for d in (3, 2, 1)]
    cut = keys[3]
    assert cut.rolling_start_number == today
    assert cut.key_data not in past
    periods = {en_interval_number(t) - today + 1 for t in (before, after)}
    assert cut.rolling_period in periods  # today's key, cut short at the current interval

    store = BeaconStore(state)
    try:
        released = [t for t in store.teks() if t.released is not None]
        assert [t.tek for t in released] == [cut.key_data]  # and taken off the air
    finally:
        store.close()


def test_report_without_a_terminal_or_yes_refuses_to_upload(tmp_path: Path) -> None:
    out = tmp_path / "keys.json"
    result = beacon("--state-dir", str(tmp_path / "state"), "report", "--to-file", str(out))
    assert "--yes" in one_line_error(result)
    assert not out.exists()


def test_purge_all_without_yes_deletes_nothing(tmp_path: Path) -> None:
    state = tmp_path / "state"
    BeaconStore(state).close()

    line = one_line_error(beacon("--state-dir", str(state), "purge", "--all"))

    assert "--yes" in line
    assert (state / "beacon.db").exists() and (state / "tek.key").exists()


def test_purge_all_with_yes_deletes_the_state(tmp_path: Path) -> None:
    state = tmp_path / "state"
    BeaconStore(state).close()
    result = beacon("--state-dir", str(state), "purge", "--all", "--yes")
    assert result.returncode == 0, result.stderr
    assert not state.exists()


def test_a_config_file_with_an_unknown_setting_fails_in_one_line(tmp_path: Path) -> None:
    config = tmp_path / "beacon.toml"
    config.write_text('server_ulr = "https://tracer.example/"\n')
    line = one_line_error(beacon("--config", str(config), "status"))
    assert "server_ulr" in line


# ---- settings -------------------------------------------------------------------------------------


def test_settings_come_from_a_toml_file_with_pinned_keys_from_pem_files(tmp_path: Path) -> None:
    old, new = SigningKey.generate("452", "v1"), SigningKey.generate("452", "v2")
    config = tmp_path / "beacon.toml"
    config.write_text(
        f'state_dir = "{tmp_path / "state"}"\n'
        'server_url = "https://tracer.example/"\n'
        'radio = "virtual"\n'
        "desktop_notifications = false\n"
        "sync_interval_minutes = 30\n"
        'warning_hook = "/usr/local/bin/on-warning --quiet"\n'
        "[[pinned_keys]]\n"
        f'key_id = "452"\nkey_version = "v1"\npem_file = "{pem_file(tmp_path, old)}"\n'
        "[[pinned_keys]]\n"
        f'key_id = "452"\nkey_version = "v2"\npem = """{new.verification_key().to_pem().decode()}"""\n'
    )

    settings = BeaconSettings.load(config, env={})

    assert settings.state_dir == tmp_path / "state"
    assert settings.server_url == "https://tracer.example/"
    assert settings.desktop_notifications is False
    assert settings.sync_interval_minutes == 30.0
    assert settings.warning_hook == "/usr/local/bin/on-warning --quiet"
    pinned = settings.verification_keys()
    assert [(k.key_id, k.key_version) for k in pinned] == [("452", "v1"), ("452", "v2")]
    assert [k.fingerprint() for k in pinned] == [
        old.verification_key().fingerprint(),
        new.verification_key().fingerprint(),
    ]


def test_environment_variables_override_the_file(tmp_path: Path) -> None:
    config = tmp_path / "beacon.toml"
    config.write_text('server_url = "https://file.example/"\nsync_interval_minutes = 30\n')
    env = {
        "BLUEZONE_BEACON_CONFIG": str(config),
        "BLUEZONE_BEACON_SERVER_URL": "https://env.example/",
        "BLUEZONE_BEACON_DESKTOP_NOTIFICATIONS": "false",
        "BLUEZONE_BEACON_STATE_DIR": str(tmp_path / "env-state"),
        "BLUEZONE_BEACON_KEY_FILE": str(tmp_path / "keys" / "tek.key"),
    }

    settings = BeaconSettings.load(env=env)

    assert settings.server_url == "https://env.example/"
    assert settings.sync_interval_minutes == 30.0  # from the file
    assert settings.desktop_notifications is False
    assert settings.state_dir == tmp_path / "env-state"
    assert settings.key_file == tmp_path / "keys" / "tek.key"


def test_an_unknown_setting_is_an_error_that_names_it(tmp_path: Path) -> None:
    config = tmp_path / "beacon.toml"
    config.write_text('radio = "virtual"\npinned_key = "oops"\n')
    with pytest.raises(SettingsError, match="pinned_key"):
        BeaconSettings.load(config, env={})


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ('radio = "wifi"\n', "radio"),
        ("sync_interval_minutes = 0\n", "sync_interval_minutes"),
        ("sync_interval_minutes = 'soon'\n", "sync_interval_minutes"),
        ("state_dir = \n", "not valid TOML"),
    ],
)
def test_a_wrong_setting_is_an_error_that_names_it(tmp_path: Path, text: str, problem: str) -> None:
    config = tmp_path / "beacon.toml"
    config.write_text(text)
    with pytest.raises(SettingsError, match=problem):
        BeaconSettings.load(config, env={})


def test_a_pinned_key_without_a_pem_is_an_error(tmp_path: Path) -> None:
    config = tmp_path / "beacon.toml"
    config.write_text('[[pinned_keys]]\nkey_id = "452"\nkey_version = "v1"\n')
    with pytest.raises(SettingsError, match="pem"):
        BeaconSettings.load(config, env={}).verification_keys()


def test_a_missing_config_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="does not exist"):
        BeaconSettings.load(tmp_path / "nope.toml", env={})


def test_run_with_report_activity_and_no_district_is_one_line_not_a_traceback(tmp_path: Path) -> None:
    """Before, `beacon run` ended in a ValueError traceback while `selftest` said ok."""
    env = {"BLUEZONE_BEACON_REPORT_ACTIVITY": "true", "BLUEZONE_BEACON_SERVER_URL": "http://127.0.0.1:9/"}
    for command in ("run", "selftest"):
        line = one_line_error(beacon("--state-dir", str(tmp_path / "state"), command, env=env))
        assert (
            line
            == f"bluezone beacon {command}: report_activity needs district (the district code to count you in)"
        )


def test_every_beacon_error_is_a_beacon_error() -> None:
    from beacon.errors import BeaconError
    from beacon.radio import AdvertisingRejected, RadioError, RadioUnavailable
    from beacon.report import ReportError
    from beacon.settings import SettingsError
    from beacon.store import StoreError
    from beacon.sync import SyncError

    for error in (
        SettingsError,
        StoreError,
        SyncError,
        ReportError,
        RadioError,
        RadioUnavailable,
        AdvertisingRejected,
    ):
        assert issubclass(error, BeaconError), error


def test_calibration_settings_are_validated_in_one_line(tmp_path: Path) -> None:
    from beacon.settings import BeaconSettings, SettingsError

    settings = BeaconSettings.load(
        env={"BLUEZONE_BEACON_TX_POWER_DBM": "-24", "BLUEZONE_BEACON_RSSI_CORRECTION_DB": "5"}
    )
    assert (settings.tx_power_dbm, settings.rssi_correction_db) == (-24, 5.0)
    for name, value in (("TX_POWER_DBM", "40"), ("RSSI_CORRECTION_DB", "90"), ("TX_POWER_DBM", "loud")):
        with pytest.raises(SettingsError):
            BeaconSettings.load(env={f"BLUEZONE_BEACON_{name}": value})


def test_the_daemons_metadata_advertises_the_configured_tx_power() -> None:
    from beacon.cli import _metadata
    from beacon.settings import BeaconSettings

    metadata = _metadata(BeaconSettings.load(env={"BLUEZONE_BEACON_TX_POWER_DBM": "-24"}))
    assert metadata.tx_power_dbm == -24 and metadata.calibration_confidence == 0
