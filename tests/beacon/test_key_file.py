"""beacon.store's key file: written all or nothing; an empty one (a kill between creating and
writing it, before writes were atomic) is replaced while nothing is sealed, explained otherwise."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from beacon.store import BeaconStore, StoreError

REPO = Path(__file__).resolve().parents[2]


def temp_files(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if ".tmp-" in p.name)


def test_an_empty_key_file_in_a_new_state_directory_is_replaced(tmp_path: Path) -> None:
    state = tmp_path / "state"
    state.mkdir(mode=0o700)
    (state / "tek.key").touch(mode=0o600)  # what a kill right after creating it left

    store = BeaconStore(state)
    store.add_tek(b"\x01" * 16, 2_939_616)
    store.close()

    assert len((state / "tek.key").read_bytes()) == 32
    assert stat.S_IMODE((state / "tek.key").stat().st_mode) == 0o600
    assert [t.tek for t in BeaconStore(state).teks()] == [b"\x01" * 16]


def test_an_empty_key_file_is_replaced_when_the_store_seals_nothing_yet(tmp_path: Path) -> None:
    state = tmp_path / "state"
    BeaconStore(state).close()  # a store with its key check, no TEK, no upload
    (state / "tek.key").write_bytes(b"")

    store = BeaconStore(state)
    try:
        store.add_tek(b"\x02" * 16, 2_939_616)
        assert [t.tek for t in store.teks()] == [b"\x02" * 16]
    finally:
        store.close()


def test_an_empty_key_file_is_explained_not_replaced_when_keys_are_sealed(tmp_path: Path) -> None:
    state = tmp_path / "state"
    store = BeaconStore(state)
    store.add_tek(b"\x03" * 16, 2_939_616)
    store.close()
    (state / "tek.key").write_bytes(b"")

    with pytest.raises(StoreError) as caught:
        BeaconStore(state)

    message = str(caught.value)
    assert "\n" not in message and str(state / "tek.key") in message
    assert "restore the key file from a backup" in message
    assert (state / "tek.key").read_bytes() == b""  # never silently replaced


def test_a_missing_key_file_is_explained_and_not_made_when_keys_are_sealed(tmp_path: Path) -> None:
    state = tmp_path / "state"
    store = BeaconStore(state)
    store.add_tek(b"\x04" * 16, 2_939_616)
    store.close()
    (state / "tek.key").unlink()

    with pytest.raises(StoreError, match=r"is missing.*restore the key file from a backup"):
        BeaconStore(state)
    assert not (state / "tek.key").exists()  # a new key would have opened nothing


def test_a_key_file_of_the_wrong_size_says_what_to_do(tmp_path: Path) -> None:
    state = tmp_path / "state"
    store = BeaconStore(state)
    store.add_tek(b"\x05" * 16, 2_939_616)
    store.close()
    (state / "tek.key").write_bytes(b"x" * 16)

    with pytest.raises(
        StoreError, match=r"32-byte key; it holds 16 bytes: restore the key file from a backup"
    ):
        BeaconStore(state)
    assert (state / "tek.key").read_bytes() == b"x" * 16  # someone's file: never overwritten


def test_a_temp_file_left_by_a_kill_is_removed_and_the_key_made_whole(tmp_path: Path) -> None:
    state = tmp_path / "state"
    state.mkdir(mode=0o700)
    (state / ".tek.key.tmp-0123456789abcdef").write_bytes(b"\x09" * 7)  # killed mid-write

    BeaconStore(state).close()

    assert temp_files(state) == []
    assert len((state / "tek.key").read_bytes()) == 32


RACER = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from beacon.store import BeaconStore
    store = BeaconStore(Path(sys.argv[1]))
    store.add_tek(bytes([int(sys.argv[2])]) * 16, 2_939_616)
    store.close()
    """
)


def test_processes_starting_together_on_a_new_state_directory_share_one_key(tmp_path: Path) -> None:
    state = tmp_path / "state"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    racers = [
        subprocess.Popen(
            [sys.executable, "-c", RACER, str(state), str(n)],
            cwd=REPO,
            env=env,
            stderr=subprocess.PIPE,
            text=True,
        )
        for n in range(1, 5)
    ]
    errors = [(r.wait(60), r.communicate()[1]) for r in racers]

    assert all(code == 0 for code, _ in errors), errors
    store = BeaconStore(state)  # every TEK opens with the one key on disk
    try:
        assert sorted(t.tek[0] for t in store.teks()) == [1, 2, 3, 4]
    finally:
        store.close()
    assert temp_files(state) == []
