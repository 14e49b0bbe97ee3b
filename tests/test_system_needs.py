"""tools/system_needs.py: what `make test` installs or reports before pytest starts."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _load() -> ModuleType:
    spec = importlib.util.spec_from_file_location("system_needs", ROOT / "tools" / "system_needs.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["system_needs"] = module
    spec.loader.exec_module(module)
    return module


needs = _load()


def _fake(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, *, root: bool) -> list[list[str] | str]:
    """Two needs, one present; one service, reachable; record what would run."""
    (tmp_path / "present").touch()
    monkeypatch.setattr(
        needs,
        "NEEDS",
        (
            needs.Need("here-pkg", str(tmp_path / "present"), "a test"),
            needs.Need("gone-pkg", str(tmp_path / "gone"), "the gone tier"),
        ),
    )
    monkeypatch.setattr(needs.missing_needs, "__defaults__", (needs.NEEDS,))
    monkeypatch.setattr(needs.stopped_services, "__defaults__", ((),))
    monkeypatch.setattr(needs.os, "geteuid", lambda: 0 if root else 1000)
    monkeypatch.setattr(needs.shutil, "which", lambda name: "/usr/bin/" + name)
    return []


def test_without_root_one_line_per_missing_package_and_exit_1(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    ran = _fake(tmp_path, monkeypatch, root=False)
    assert needs.main([], run=lambda *a, **k: ran.append(a[0])) == 1
    assert ran == []  # nothing installed
    lines = capsys.readouterr().err.splitlines()
    assert lines == [f"missing {tmp_path / 'gone'}, for the gone tier: sudo apt-get install gone-pkg"]


def test_as_root_installs_only_the_missing_packages_quietly(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    ran = _fake(tmp_path, monkeypatch, root=True)

    def run(command: list[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
        ran.append(command)
        if command[:2] == ["apt-get", "install"]:
            (tmp_path / "gone").touch()  # what apt would do
        assert kwargs["env"]["DEBIAN_FRONTEND"] == "noninteractive"
        return subprocess.CompletedProcess(command, 0, "", "")

    assert needs.main([], run=run) == 0
    assert ran == [
        ["apt-get", "update", "-qq"],
        ["apt-get", "install", "-y", "-qq", "--no-install-recommends", "gone-pkg"],
    ]
    assert capsys.readouterr().err.splitlines() == ["installing Debian packages the tests need: gone-pkg"]


def test_a_failed_install_is_reported_and_stops(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _fake(tmp_path, monkeypatch, root=True)

    def run(command: list[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
        return subprocess.CompletedProcess(command, 100, "", "E: Unable to locate package gone-pkg\n")

    assert needs.main([], run=run) == 1
    err = capsys.readouterr().err
    assert "failed: E: Unable to locate package gone-pkg" in err
    assert "sudo apt-get install gone-pkg" in err


def test_check_never_installs_even_as_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    ran = _fake(tmp_path, monkeypatch, root=True)
    assert needs.main(["--check"], run=lambda *a, **k: ran.append(a[0])) == 1
    assert ran == []


def test_a_stopped_service_is_named_with_its_start_command(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(needs.missing_needs, "__defaults__", ((),))
    closed = needs.Service("Thing", 9, "thing-server --daemonize")  # port 9 (discard): nothing listens
    monkeypatch.setattr(needs.stopped_services, "__defaults__", ((closed,),))
    assert needs.main(["--check"]) == 1
    assert capsys.readouterr().err.splitlines() == [
        "Thing is not reachable on 127.0.0.1:9: start it with `thing-server --daemonize`"
    ]


def test_this_machine_has_what_the_tests_need() -> None:
    """`make test` ran the tool before pytest; were anything missing, a tier would fail here."""
    assert needs.missing_needs() == [] and needs.stopped_services() == []
