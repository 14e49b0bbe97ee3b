"""The server's keys, generated into ``<data_dir>/keys`` on first start and kept (0700 / 0600).

* ``export-signing.pem``  ECDSA P-256: signs export files (id/version from settings)
* ``export-signing-<version>.pem``  keys added by ``bluezone server rotate-signing-key``: every
  active key signs every export (``export.sig`` holds one signature each), so beacons that pin
  the old key and beacons that pin the new one all verify; ``retire-signing-key`` moves one to
  ``retired/`` once every beacon has the new one
* ``certificate.pem``     ECDSA P-256: signs verification tokens and certificates (ES256 JWTs)
* ``pepper.bin``          32 bytes: HMAC key for codes, API keys and client identifiers at rest
* ``revision.bin``        32 bytes: AES-GCM key of revision tokens
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
import secrets
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from protocol.export import SigningKey, VerificationKey
from tracer_server.settings import Settings

__all__ = ["ServerKeys", "SigningKeyError", "load_or_create_keys", "retire_signing_key", "rotate_signing_key"]

_VERSION = re.compile(r"[A-Za-z0-9_]{1,64}")


class SigningKeyError(ValueError):
    """A rotation or retirement that cannot be done; the message says why."""


@dataclass(frozen=True)
class ServerKeys:
    export_signing_keys: tuple[SigningKey, ...]
    """Every active export key, the settings' version first while it is active: each export is
    signed by all of them."""
    certificate_private: ec.EllipticCurvePrivateKey
    pepper: bytes
    revision_key: bytes

    @property
    def export_signing(self) -> SigningKey:
        """The first active export key: the one a single-key caller pins or signs with."""
        return self.export_signing_keys[0]

    @property
    def signing_keys(self) -> list[SigningKey]:
        return list(self.export_signing_keys)

    def digest(self, value: str | bytes) -> bytes:
        """HMAC-SHA256 under the pepper: what we store instead of codes, API keys, identifiers."""
        data = value.encode() if isinstance(value, str) else value
        return hmac.digest(self.pepper, data, hashlib.sha256)

    @property
    def certificate_public_pem(self) -> str:
        return (
            self.certificate_private.public_key()
            .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
            .decode()
        )

    @property
    def export_verification(self) -> VerificationKey:
        return self.export_signing.verification_key()


def _write_private(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(data)


def _pem_key(path: Path) -> ec.EllipticCurvePrivateKey:
    if not path.exists():
        key = ec.generate_private_key(ec.SECP256R1())
        _write_private(
            path,
            key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            ),
        )
        return key
    loaded = serialization.load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(loaded, ec.EllipticCurvePrivateKey) or not isinstance(loaded.curve, ec.SECP256R1):
        raise ValueError(f"{path} must hold an ECDSA P-256 private key")
    return loaded


def _random_file(path: Path) -> bytes:
    if not path.exists():
        _write_private(path, secrets.token_bytes(32))
    data = path.read_bytes()
    if len(data) != 32:
        raise ValueError(f"{path} must hold 32 bytes")
    return data


def _export_key_paths(settings: Settings) -> dict[str, Path]:
    """Active export keys by version: the settings' own file, then the rotated ones, by name."""
    folder = settings.keys_dir
    paths = {settings.export_key_version: folder / "export-signing.pem"}
    for path in sorted(folder.glob("export-signing-*.pem")):
        paths[path.stem.removeprefix("export-signing-")] = path
    return {version: path for version, path in paths.items() if path.exists()}


def load_or_create_keys(settings: Settings) -> ServerKeys:
    folder = settings.keys_dir
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.chmod(folder, 0o700)
    if not _export_key_paths(settings) and not (folder / "retired").exists():
        _pem_key(folder / "export-signing.pem")  # the first start
    active = [
        SigningKey(_pem_key(path), settings.export_key_id, version)
        for version, path in _export_key_paths(settings).items()
    ]
    if not active:
        raise SigningKeyError(f"no active export signing key in {folder}: rotate-signing-key adds one")
    return ServerKeys(
        export_signing_keys=tuple(active),
        certificate_private=_pem_key(folder / "certificate.pem"),
        pepper=_random_file(folder / "pepper.bin"),
        revision_key=_random_file(folder / "revision.bin"),
    )


def rotate_signing_key(settings: Settings, version: str) -> SigningKey:
    """Add an export signing key of ``version``: from now on every export is signed by it too."""
    if not _VERSION.fullmatch(version):
        raise SigningKeyError("a key version is 1-64 characters of [A-Za-z0-9_]")
    if version in _export_key_paths(settings):
        raise SigningKeyError(f"an active export key already has version {version}")
    if (settings.keys_dir / "retired" / f"export-signing-{version}.pem").exists():
        raise SigningKeyError(f"version {version} was retired: choose a new version")
    path = settings.keys_dir / f"export-signing-{version}.pem"
    return SigningKey(_pem_key(path), settings.export_key_id, version)


def retire_signing_key(settings: Settings, version: str) -> None:
    """Stop signing with ``version`` (kept in ``retired/``, never used again); one must remain."""
    active = _export_key_paths(settings)
    if version not in active:
        raise SigningKeyError(f"no active export key has version {version} (active: {', '.join(active)})")
    if len(active) == 1:
        raise SigningKeyError("the last active export key cannot be retired: rotate-signing-key first")
    retired = settings.keys_dir / "retired"
    retired.mkdir(mode=0o700, exist_ok=True)
    os.replace(active[version], retired / f"export-signing-{version}.pem")
