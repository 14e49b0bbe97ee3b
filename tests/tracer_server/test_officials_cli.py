"""``bluezone server rotate-api-key | reset-password | disable-official | enable-official``: an
official who lost a key or a password is helped from the shell, with no database edit."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from tracer_server.app import create_app
from tracer_server.settings import Settings

from .test_cli import ROOT, Run, assert_one_line_error

PASSWORD = "a long enough password"


def bluezone(data_dir: Path, *args: str, stdin: str = "") -> Run:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("BLUEZONE_")}
    environment.update(BLUEZONE_DATA_DIR=str(data_dir))
    done = subprocess.run(
        [sys.executable, "-m", "bluezone", "server", *args],
        cwd=ROOT,
        env=environment,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
    )
    return Run(done.returncode, done.stdout, done.stderr)


def _issue_status(client: TestClient, api_key: str) -> int:
    return client.post(
        "/api/issue", json={"testType": "confirmed"}, headers={"X-API-Key": api_key}
    ).status_code


def _signs_in(data_dir: Path, name: str, password: str) -> bool:
    import re

    with TestClient(create_app(Settings(data_dir=data_dir)), base_url="https://testserver") as client:
        page = client.get("/console/login").text
        csrf = re.search(r'name="csrf" value="([^"]+)"', page)
        assert csrf is not None
        answer = client.post(
            "/console/login", data={"name": name, "password": password, "csrf": csrf.group(1)}
        )
        return answer.url.path == "/console/"


@pytest.mark.slow  # a dozen server processes, each loading the app
def test_an_official_is_helped_after_losing_a_key_or_a_password(tmp_path: Path) -> None:
    data = tmp_path / "data"
    assert bluezone(data, "init").returncode == 0
    created = bluezone(
        data, "create-official", "Dr Lan", "--role", "admin", "--json", "--password-stdin", stdin=PASSWORD
    )
    old_key = json.loads(created.stdout)["apiKey"]

    rotated = bluezone(data, "rotate-api-key", "Dr Lan", "--json")
    assert rotated.returncode == 0, rotated.stderr
    new_key = json.loads(rotated.stdout)["apiKey"]
    with TestClient(create_app(Settings(data_dir=data))) as client:
        assert _issue_status(client, old_key) == 401
        assert _issue_status(client, new_key) == 200

    generated = bluezone(data, "reset-password", "Dr Lan")
    assert generated.returncode == 0, generated.stderr
    password = generated.stdout.strip().splitlines()[-1]
    assert "shown once" in generated.stdout and len(password) >= 12
    assert not _signs_in(data, "Dr Lan", PASSWORD) and _signs_in(data, "Dr Lan", password)

    given = bluezone(data, "reset-password", "Dr Lan", "--password-stdin", stdin="another long password\n")
    assert given.returncode == 0 and "shown once" not in given.stdout
    assert _signs_in(data, "Dr Lan", "another long password")


@pytest.mark.slow
def test_disable_refuses_the_key_and_the_sign_in_and_keeps_the_last_admin(tmp_path: Path) -> None:
    data = tmp_path / "data"
    bluezone(data, "init")
    bluezone(data, "create-official", "Admin", "--role", "admin", "--password-stdin", stdin=PASSWORD)
    lan = bluezone(
        data, "create-official", "Lan", "--role", "official", "--json", "--password-stdin", stdin=PASSWORD
    )
    api_key = json.loads(lan.stdout)["apiKey"]

    assert (
        bluezone(data, "disable-official", "Lan").stdout.strip()
        == "official 'Lan' disabled; their sessions ended"
    )
    with TestClient(create_app(Settings(data_dir=data))) as client:
        assert _issue_status(client, api_key) == 401
    assert not _signs_in(data, "Lan", PASSWORD)

    assert bluezone(data, "enable-official", "Lan").stdout.strip() == "official 'Lan' enabled"
    assert _signs_in(data, "Lan", PASSWORD)

    line = assert_one_line_error(bluezone(data, "disable-official", "Admin"), "disable-official")
    assert "last enabled administrator" in line
    assert _signs_in(data, "Admin", PASSWORD)
    assert "no official has that name" in assert_one_line_error(
        bluezone(data, "rotate-api-key", "Nobody"), "rotate-api-key"
    )
