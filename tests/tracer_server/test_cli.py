"""``bluezone server …`` run as a user runs it: a subprocess with BLUEZONE_DATA_DIR set.

The commands share one initialized data directory per module where they only read it, so the
suite starts a handful of interpreters rather than one per assertion.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from protocol.export import VerificationKey

ROOT = Path(__file__).resolve().parents[2]


@dataclass
class Run:
    returncode: int
    stdout: str
    stderr: str


def bluezone(data_dir: Path, *args: str, **env: str) -> Run:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("BLUEZONE_")}
    environment.update(BLUEZONE_DATA_DIR=str(data_dir), **env)
    done = subprocess.run(
        [sys.executable, "-m", "bluezone", "server", *args],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
    )
    return Run(done.returncode, done.stdout, done.stderr)


def assert_one_line_error(run: Run, command: str) -> str:
    assert run.returncode == 1, run
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1, run.stderr
    assert "Traceback" not in run.stderr and lines[0].startswith(f"bluezone server {command}: ")
    return lines[0]


@dataclass
class Initialized:
    data_dir: Path
    init: Run
    official: Run


@pytest.fixture(scope="module")
def initialized(tmp_path_factory: pytest.TempPathFactory) -> Initialized:
    """A data dir after ``init`` and ``create-official "Dr Lan" --role official --json``."""
    data_dir = tmp_path_factory.mktemp("cli") / "data"
    init = bluezone(data_dir, "init")
    official = bluezone(data_dir, "create-official", "Dr Lan", "--role", "official", "--json")
    return Initialized(data_dir, init, official)


def test_init_creates_the_database_and_the_keys(initialized: Initialized) -> None:
    assert initialized.init.returncode == 0, initialized.init.stderr
    assert (initialized.data_dir / "tracer.db").is_file()
    assert "database ready" in initialized.init.stdout
    names = {p.name for p in (initialized.data_dir / "keys").iterdir()}
    assert names == {"export-signing.pem", "certificate.pem", "pepper.bin", "revision.bin"}


def test_create_official_with_json_prints_only_the_api_key(initialized: Initialized) -> None:
    run = initialized.official
    assert run.returncode == 0, run.stderr
    printed = json.loads(run.stdout)
    assert list(printed) == ["apiKey"] and len(printed["apiKey"]) >= 32


def test_keys_dir_is_private_and_key_files_owner_only(initialized: Initialized) -> None:
    keys = initialized.data_dir / "keys"
    assert stat.S_IMODE(keys.stat().st_mode) == 0o700
    for path in keys.iterdir():
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path


def test_a_duplicate_official_is_a_one_line_error(initialized: Initialized) -> None:
    run = bluezone(initialized.data_dir, "create-official", "Dr Lan", "--role", "admin")
    line = assert_one_line_error(run, "create-official")
    assert "exists" in line and run.stdout == ""


def test_an_unknown_role_is_an_argparse_error(tmp_path: Path) -> None:
    run = bluezone(tmp_path / "data", "create-official", "Dr Lan", "--role", "superuser")
    assert run.returncode == 2
    assert "invalid choice" in run.stderr and "Traceback" not in run.stderr
    assert not (tmp_path / "data").exists()


def test_signing_key_is_printed_as_pem_with_its_id_and_version(initialized: Initialized) -> None:
    first = bluezone(initialized.data_dir, "signing-key")
    second = bluezone(initialized.data_dir, "signing-key")
    assert first.returncode == 0 and second.returncode == 0, first.stderr + second.stderr
    assert first.stdout == second.stdout
    comment, pem = first.stdout.split("\n", 1)
    assert comment.startswith("# key id 452, version v1, sha256 ")
    key = VerificationKey.from_pem(pem, "452", "v1")
    assert comment.endswith(key.fingerprint())
    assert pem.startswith("-----BEGIN PUBLIC KEY-----") and pem.rstrip().endswith("-----END PUBLIC KEY-----")


@pytest.mark.parametrize(
    "command",
    [
        ("run", "--port", "1"),
        ("signing-key",),
        ("export",),
        ("cleanup",),
        ("create-official", "X", "--role", "admin"),
    ],
)
def test_a_command_without_init_names_the_directory_and_creates_nothing(
    tmp_path: Path, command: tuple[str, ...]
) -> None:
    """Before, every command silently created the database and new signing keys: a second server
    identity whose export key no beacon pins."""
    run = bluezone(tmp_path / "data", *command)
    line = assert_one_line_error(run, command[0])
    assert f"no database in {(tmp_path / 'data').resolve()}: run `bluezone server init`" in line
    assert not (tmp_path / "data").exists()


def test_a_data_directory_without_keys_is_refused(tmp_path: Path) -> None:
    assert bluezone(tmp_path / "data", "init").returncode == 0
    for key in (tmp_path / "data" / "keys").iterdir():
        key.unlink()
    line = assert_one_line_error(bluezone(tmp_path / "data", "signing-key"), "signing-key")
    assert "no signing keys in" in line and "run `bluezone server init`" in line
    assert list((tmp_path / "data" / "keys").iterdir()) == []


def test_an_old_database_asks_for_init_and_init_upgrades_it(tmp_path: Path) -> None:
    from tracer_server import migrate
    from tracer_server.settings import Settings

    settings = Settings(data_dir=tmp_path / "data")
    migrate.upgrade(settings, revision="base")
    migrate.upgrade(settings, revision="+1")
    line = assert_one_line_error(bluezone(tmp_path / "data", "export"), "export")
    assert "the database is at revision" in line and "run `bluezone server init`" in line
    assert bluezone(tmp_path / "data", "init").returncode == 0
    assert bluezone(tmp_path / "data", "export").returncode == 0


def test_signing_key_matches_the_key_init_created(initialized: Initialized) -> None:
    from cryptography.hazmat.primitives import serialization

    run = bluezone(initialized.data_dir, "signing-key")
    pem = run.stdout.split("\n", 1)[1]
    private = serialization.load_pem_private_key(
        (initialized.data_dir / "keys" / "export-signing.pem").read_bytes(), password=None
    )
    expected = private.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    assert pem.encode() == expected


def test_export_close_window_warns_on_stderr(initialized: Initialized) -> None:
    run = bluezone(initialized.data_dir, "export", "--close-window")
    assert run.returncode == 0, run.stderr
    assert "warning: --close-window" in run.stderr
    assert "0 batches" in run.stdout and len(run.stderr.strip().splitlines()) == 1
    assert (initialized.data_dir / "exports" / "index.txt").read_bytes() == b""


def test_an_unreachable_database_is_a_one_line_error(tmp_path: Path) -> None:
    run = bluezone(tmp_path / "data", "init", BLUEZONE_DATABASE_URL="postgresql://nobody@127.0.0.1:1/nothing")
    assert "database error" in assert_one_line_error(run, "init")


def test_an_invalid_setting_is_a_one_line_error(tmp_path: Path) -> None:
    run = bluezone(tmp_path / "data", "init", BLUEZONE_EXPORT_PERIOD_MINUTES="7")
    line = assert_one_line_error(run, "init")
    assert "export_period_minutes" in line
    assert not (tmp_path / "data").exists()
