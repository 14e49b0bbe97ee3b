"""Rotating the export signing key: every active key signs every export, so a beacon that pins
the old key and one that pins the new key both verify; retiring the old key ends its signatures."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from protocol.errors import UnknownKeyError
from protocol.export import VerificationKey, open_export
from tracer_server.clock import utcnow
from tracer_server.secrets_store import (
    SigningKeyError,
    load_or_create_keys,
    retire_signing_key,
    rotate_signing_key,
)

from .conftest import Server, certificate, device_keys, export_now, issue, publish_body
from .test_cli import assert_one_line_error, bluezone


def _exported(server: Server, days: int) -> bytes:
    keys = device_keys(utcnow(server.clock), days=days, rng_seed=days)
    cert = certificate(server, issue(server)["code"], keys)
    assert server.client.post("/v1/publish", json=publish_body(cert, keys)).status_code == 200
    server.clock.advance(hours=8)
    server.state.keys = load_or_create_keys(server.settings)  # what a restarted server loads
    (name,) = export_now(server).files[-1:]
    data = server.state.storage.get(name)
    assert data is not None
    return data


def test_a_rotated_key_keeps_every_beacon_verifying(make_server: Callable[..., Server]) -> None:
    server = make_server(export_min_keys=3, export_padding_range=0)
    old: VerificationKey = server.state.keys.export_verification
    new = rotate_signing_key(server.settings, "v2").verification_key()
    both = _exported(server, 1)
    assert {(i.key_id, i.key_version) for i in open_export(both, old).signature_infos} == {
        ("452", "v1"),
        ("452", "v2"),
    }
    assert open_export(both, old).verified and open_export(both, new).verified  # old and new beacons
    retire_signing_key(server.settings, "v1")
    only_new = _exported(server, 2)
    assert open_export(only_new, new).key_count == 3
    with pytest.raises(UnknownKeyError):
        open_export(only_new, old)


def test_rotation_refuses_what_would_lose_a_key(make_server: Callable[..., Server]) -> None:
    settings = make_server().settings
    with pytest.raises(SigningKeyError, match="last active"):
        retire_signing_key(settings, "v1")
    rotate_signing_key(settings, "v2")
    with pytest.raises(SigningKeyError, match="already"):
        rotate_signing_key(settings, "v2")
    retire_signing_key(settings, "v1")
    with pytest.raises(SigningKeyError, match="retired"):
        rotate_signing_key(settings, "v1")
    with pytest.raises(SigningKeyError, match="1-64"):
        rotate_signing_key(settings, "v 3")
    assert [k.key_version for k in load_or_create_keys(settings).signing_keys] == ["v2"]


def test_the_cli_rotates_lists_and_retires(tmp_path: Path) -> None:
    data = tmp_path / "data"
    assert bluezone(data, "init").returncode == 0
    rotated = bluezone(data, "rotate-signing-key", "v2")
    assert rotated.returncode == 0, rotated.stderr
    assert rotated.stdout.count("BEGIN PUBLIC KEY") == 2 and "version v2" in rotated.stdout
    assert_one_line_error(bluezone(data, "retire-signing-key", "v9"), "retire-signing-key")
    retired = bluezone(data, "retire-signing-key", "v1")
    assert retired.returncode == 0 and retired.stdout.count("BEGIN PUBLIC KEY") == 1
    assert "version v2" in bluezone(data, "signing-key").stdout
