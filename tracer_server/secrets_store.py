"""The server's keys, generated into ``<data_dir>/keys`` on first start and kept (0700 / 0600).

* ``export-signing.pem``  ECDSA P-256: signs export files (id/version from settings)
* ``certificate.pem``     ECDSA P-256: signs verification tokens and certificates (ES256 JWTs)
* ``pepper.bin``          32 bytes: HMAC key for codes, API keys and client identifiers at rest
* ``revision.bin``        32 bytes: AES-GCM key of revision tokens
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from protocol.export import SigningKey, VerificationKey
from tracer_server.settings import Settings

__all__ = ["ServerKeys", "load_or_create_keys"]


@dataclass(frozen=True)
class ServerKeys:
    export_signing: SigningKey
    certificate_private: ec.EllipticCurvePrivateKey
    pepper: bytes
    revision_key: bytes

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


def load_or_create_keys(settings: Settings) -> ServerKeys:
    folder = settings.keys_dir
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.chmod(folder, 0o700)
    export_key = _pem_key(folder / "export-signing.pem")
    return ServerKeys(
        export_signing=SigningKey(export_key, settings.export_key_id, settings.export_key_version),
        certificate_private=_pem_key(folder / "certificate.pem"),
        pepper=_random_file(folder / "pepper.bin"),
        revision_key=_random_file(folder / "revision.bin"),
    )
