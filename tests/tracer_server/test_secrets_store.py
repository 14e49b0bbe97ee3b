"""tracer_server.secrets_store: key files written all or nothing; an empty one (a kill between
creating and writing it, before writes were atomic) is made anew while the database holds
nothing made with a key, and explained in one line, never replaced, once it does."""

from __future__ import annotations

import hashlib
import os
import random
import signal
import stat
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from tracer_server.secrets_store import KeyFileError, load_or_create_keys
from tracer_server.settings import Settings

from .conftest import Server
from .test_cli import ROOT, assert_one_line_error, bluezone

KEY_FILES = ["pepper.bin", "revision.bin", "certificate.pem", "export-signing.pem"]


def temp_files(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if ".tmp-" in p.name)


@pytest.mark.parametrize("name", KEY_FILES)
def test_an_empty_key_file_is_made_anew_while_the_database_holds_nothing(
    settings: Settings, name: str
) -> None:
    load_or_create_keys(settings)
    (settings.keys_dir / name).write_bytes(b"")  # what a kill right after creating it left

    keys = load_or_create_keys(settings)

    path = settings.keys_dir / name
    assert path.stat().st_size > 0 and stat.S_IMODE(path.stat().st_mode) == 0o600
    assert load_or_create_keys(settings).pepper == keys.pepper  # and it stays
    assert temp_files(settings.keys_dir) == []


@pytest.mark.parametrize("name", KEY_FILES)
def test_an_empty_key_file_is_explained_not_replaced_once_the_database_holds_data(
    server: Server, name: str
) -> None:
    path = server.settings.keys_dir / name  # the server fixture created an official: an API key
    path.write_bytes(b"")

    with pytest.raises(KeyFileError) as caught:
        load_or_create_keys(server.settings)

    message = str(caught.value)
    assert "\n" not in message and message.startswith(f"{path} is empty")
    assert "restore it from a backup" in message
    assert path.read_bytes() == b""  # never silently replaced


def test_the_cli_says_which_file_to_restore_in_one_line(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    assert bluezone(data_dir, "init").returncode == 0
    assert bluezone(data_dir, "create-official", "Dr Lan", "--role", "official").returncode == 0
    (data_dir / "keys" / "pepper.bin").write_bytes(b"")

    line = assert_one_line_error(
        bluezone(data_dir, "create-official", "Dr Minh", "--role", "official"), "create-official"
    )

    assert "pepper.bin is empty" in line and "restore it from a backup" in line and "API key" in line


def test_init_after_a_kill_that_left_an_empty_pepper_succeeds(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    (data_dir / "keys").mkdir(parents=True, mode=0o700)
    (data_dir / "keys" / "pepper.bin").touch(mode=0o600)

    run = bluezone(data_dir, "init")

    assert run.returncode == 0, run.stderr
    assert len((data_dir / "keys" / "pepper.bin").read_bytes()) == 32


@pytest.mark.parametrize(
    ("name", "content"), [("pepper.bin", b"\x01" * 16), ("certificate.pem", b"not a key")]
)
def test_a_key_file_with_wrong_contents_is_explained_and_kept(
    settings: Settings, name: str, content: bytes
) -> None:
    load_or_create_keys(settings)
    path = settings.keys_dir / name
    path.write_bytes(content)

    with pytest.raises(KeyFileError, match=f"^{path}.*restore it from a backup"):
        load_or_create_keys(settings)
    assert path.read_bytes() == content


def test_temp_files_a_kill_left_are_removed(settings: Settings) -> None:
    settings.keys_dir.mkdir(parents=True, mode=0o700)
    (settings.keys_dir / ".pepper.bin.tmp-0123456789abcdef").write_bytes(b"\x07" * 5)

    load_or_create_keys(settings)

    assert temp_files(settings.keys_dir) == []


LOADER = textwrap.dedent(
    """
    import hashlib, sys
    from pathlib import Path
    from tracer_server.secrets_store import load_or_create_keys
    from tracer_server.settings import Settings
    keys = load_or_create_keys(Settings(data_dir=Path(sys.argv[1]), database_url=sys.argv[2]))
    print(hashlib.sha256(keys.pepper + keys.revision_key + keys.certificate_public_pem.encode()).hexdigest())
    """
)


def test_servers_starting_together_on_one_data_dir_share_one_set_of_keys(settings: Settings) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BLUEZONE_")}
    loaders = [
        subprocess.Popen(
            [sys.executable, "-c", LOADER, str(settings.data_dir), settings.sqlalchemy_url],
            cwd=ROOT,
            env={**env, "PYTHONPATH": str(ROOT)},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(4)
    ]
    results = [loader.communicate(timeout=60) for loader in loaders]

    assert all(loader.returncode == 0 for loader in loaders), [err for _, err in results]
    assert len({out for out, _ in results}) == 1
    keys = load_or_create_keys(settings)
    assert {out.strip() for out, _ in results} == {
        hashlib.sha256(keys.pepper + keys.revision_key + keys.certificate_public_pem.encode()).hexdigest()
    }


@pytest.mark.slow
def test_init_killed_at_random_moments_always_restarts_and_leaves_nothing_behind(tmp_path: Path) -> None:
    """``bluezone server init`` SIGKILLed at random points of its run, 5 times over fresh data
    dirs: the next ``init`` succeeds, every key file is whole and owner-only, no temp file stays."""
    rng = random.Random(24)
    environment = {k: v for k, v in os.environ.items() if not k.startswith("BLUEZONE_")}
    started = time.monotonic()
    probe = bluezone(tmp_path / "probe", "init")
    assert probe.returncode == 0, probe.stderr
    duration = time.monotonic() - started
    for round_ in range(5):
        data_dir = tmp_path / f"data-{round_}"
        child = subprocess.Popen(
            [sys.executable, "-m", "bluezone", "server", "init"],
            cwd=ROOT,
            env={**environment, "BLUEZONE_DATA_DIR": str(data_dir)},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        time.sleep(rng.uniform(0.3, 1.0) * duration)
        child.send_signal(signal.SIGKILL)
        child.wait(10)

        again = bluezone(data_dir, "init")

        assert again.returncode == 0, (round_, again.stderr)
        keys = data_dir / "keys"
        assert temp_files(keys) == []
        for path in keys.iterdir():
            assert path.stat().st_size > 0 and stat.S_IMODE(path.stat().st_mode) == 0o600, path
        assert len((keys / "pepper.bin").read_bytes()) == 32
