"""The server's systemd units and production settings example, held against each other,
``systemd-analyze verify`` and the settings class."""

from __future__ import annotations

import configparser
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tracer_server.settings import Settings

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
UNITS = ("bluezone-server@.service", "bluezone-export.service", "bluezone-export.timer")


def _unit(name: str) -> configparser.ConfigParser:
    unit = configparser.ConfigParser(interpolation=None, strict=True)
    unit.optionxform = str  # type: ignore[assignment,method-assign]
    unit.read_string((DEPLOY / name).read_text())
    return unit


def _example() -> dict[str, str]:
    lines = (DEPLOY / "server.env.example").read_text().splitlines()
    return dict(line.split("=", 1) for line in lines if line and not line.startswith("#"))


def test_systemd_analyze_verifies_the_units(tmp_path: Path) -> None:
    here = str(Path(sys.executable).with_name("bluezone"))
    env = tmp_path / "server.env"
    env.write_text((DEPLOY / "server.env.example").read_text())
    for name in UNITS:
        text = (DEPLOY / name).read_text().replace("/opt/bluezone/venv/bin/bluezone", here)
        text = text.replace("/etc/bluezone/server.env", str(env))
        (tmp_path / name.replace("@.", "@8001.")).write_text(text)
    analyze = shutil.which("systemd-analyze") or "/usr/bin/systemd-analyze"
    files = [str(tmp_path / n.replace("@.", "@8001.")) for n in UNITS]
    done = subprocess.run([analyze, "verify", *files], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and done.stderr.strip() == "", done.stderr


def test_the_production_example_is_valid_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    values = _example()
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    settings = Settings()
    assert settings.database_url is not None and settings.database_url.startswith("postgresql")
    assert settings.redis_url and settings.export_bucket_url and not settings.export_in_server
    assert {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"} <= set(values)  # the bucket's, via boto3
    # behind nginx on the host: its forwarded headers believed; links from the public address
    assert settings.forwarded_allow_ips == "127.0.0.1" and settings.public_base_url


def test_units_write_where_the_settings_put_the_data_and_the_timer_starts_the_export() -> None:
    data_dir = _example()["BLUEZONE_DATA_DIR"]
    for name in ("bluezone-server@.service", "bluezone-export.service"):
        service = _unit(name)["Service"]
        assert service["ReadWritePaths"] == data_dir == "/var/lib/" + service["StateDirectory"]
        assert service["EnvironmentFile"] == "/etc/bluezone/server.env"
    assert "--port %i" in _unit("bluezone-server@.service")["Service"]["ExecStart"]
    assert _unit("bluezone-export.service")["Service"]["ExecStart"].endswith("bluezone server export")
    assert "OnUnitActiveSec" in _unit("bluezone-export.timer")["Timer"]  # the timer's unit: same name
