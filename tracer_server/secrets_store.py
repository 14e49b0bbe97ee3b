"""The server's keys, generated into ``<data_dir>/keys`` on first start and kept (0700 / 0600).

* ``export-signing.pem``  ECDSA P-256: signs export files (id/version from settings)
* ``export-signing-<version>.pem``  keys added by ``bluezone server rotate-signing-key``: every
  active key signs every export (``export.sig`` holds one signature each), so beacons that pin
  the old key and beacons that pin the new one all verify; ``retire-signing-key`` moves one to
  ``retired/`` once every beacon has the new one
* ``certificate.pem``     ECDSA P-256: signs verification tokens and certificates (ES256 JWTs)
* ``pepper.bin``          32 bytes: HMAC key for codes, API keys and client identifiers at rest
* ``revision.bin``        32 bytes: AES-GCM key of revision tokens

Each file is written all or nothing (:func:`_write_private`). A missing file is made; an empty
one (a kill between creating and writing it, before writes were atomic) is made anew only while
the database holds nothing made with the server's keys, otherwise the error names the file and
says what a new key would break. A file with other wrong contents is someone's file: explained,
never overwritten.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import hmac
import os
import re
import secrets
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from protocol.export import SigningKey, VerificationKey
from tracer_server.settings import Settings

__all__ = [
    "KeyFileError",
    "ServerKeys",
    "SigningKeyError",
    "load_or_create_keys",
    "retire_signing_key",
    "rotate_signing_key",
]

_VERSION = re.compile(r"[A-Za-z0-9_]{1,64}")
_SECRET_BYTES = 32
# Tables whose rows were made with a key file: codes, API keys, sessions and identifiers (the
# pepper), tokens and certificates (the certificate key), published keys and their revision
# tokens, signed export files, the audit of it all. All empty: a key may be made anew.
_KEYED_TABLES = (
    "officials",
    "console_sessions",
    "verification_codes",
    "verification_tokens",
    "used_certificates",
    "exposures",
    "export_files",
    "audit_log",
)


class SigningKeyError(ValueError):
    """A rotation or retirement that cannot be done; the message says why."""


class KeyFileError(ValueError):
    """A key file that cannot be used or made; the message names it and says what to do."""


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


def _write_private(path: Path, data: bytes, *, replace: bool = False) -> bool:
    """Write ``data`` to ``path`` (0600) all or nothing, so a kill at any moment leaves no file,
    the old one or the whole new one: a temp file in the same directory, fsynced, linked into
    place (``replace``: renamed over the old file), the directory fsynced. Without ``replace``,
    False when ``path`` already exists: a link, unlike a rename, never overwrites a key another
    process just made. (``beacon.store`` has its twin: the server may not import the beacon,
    and ``protocol`` does no I/O.)"""
    temp = path.with_name(f".{path.name}.tmp-{secrets.token_hex(8)}")
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        if replace:
            os.replace(temp, path)
        else:
            try:
                os.link(temp, path)
            except FileExistsError:
                return False
        _fsync_directory(path.parent)
        return True
    finally:
        temp.unlink(missing_ok=True)


def _fsync_directory(folder: Path) -> None:
    """Make a rename or link in ``folder`` survive a power cut."""
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextlib.contextmanager
def _folder_lock(folder: Path) -> Iterator[None]:
    """One process at a time makes key files (servers may start together on one data dir)."""
    fd = os.open(folder, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # releases the lock


def _read_if_exists(path: Path) -> bytes | None:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        return None


def _keyed_rows(settings: Settings) -> int:
    """Rows in the database made with the server's keys (0 before ``init`` migrated it)."""
    from sqlalchemy import func, inspect, select, table

    from tracer_server.db import make_engine

    engine = make_engine(settings)
    try:
        with engine.connect() as conn:
            present = [name for name in _KEYED_TABLES if inspect(conn).has_table(name)]
            return sum(conn.scalar(select(func.count()).select_from(table(name))) or 0 for name in present)
    finally:
        engine.dispose()


# What a new key in place of an empty file would break, for the error that offers it.
_LOSS = {
    "pepper.bin": "every API key, code and console session made with it stops working",
    "revision.bin": "devices can no longer revise the keys they published",
    "certificate.pem": "tokens and certificates already issued stop verifying",
}
_EXPORT_LOSS = "beacons that pin the old key reject every new export"


def _read_or_make(path: Path, make: Callable[[], bytes], settings: Settings) -> bytes:
    """The file's bytes, made with ``make`` when missing, or when empty (a kill between creating
    and writing it, before writes were atomic) while the database holds nothing made with a key."""
    data = _read_if_exists(path)
    if data:
        return data
    with _folder_lock(path.parent):
        data = _read_if_exists(path)
        if data:
            return data  # another process made it meanwhile
        if data is not None and (rows := _keyed_rows(settings)):
            loss = _LOSS.get(path.name, _EXPORT_LOSS)
            raise KeyFileError(
                f"{path} is empty but the database holds {rows} rows made with the server's keys: "
                f"restore it from a backup (deleting it makes a new key, and {loss})"
            )
        made = make()
        if not _write_private(path, made, replace=data is not None):
            return path.read_bytes()
        return made


def _new_pem_key() -> bytes:
    return ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def _pem_key(path: Path, settings: Settings) -> ec.EllipticCurvePrivateKey:
    data = _read_or_make(path, _new_pem_key, settings)
    try:
        loaded = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError):  # not PEM, cut short, or encrypted
        loaded = None
    if not isinstance(loaded, ec.EllipticCurvePrivateKey) or not isinstance(loaded.curve, ec.SECP256R1):
        raise KeyFileError(f"{path} must hold an ECDSA P-256 private key (PEM): restore it from a backup")
    return loaded


def _random_file(path: Path, settings: Settings) -> bytes:
    data = _read_or_make(path, lambda: secrets.token_bytes(_SECRET_BYTES), settings)
    if len(data) != _SECRET_BYTES:
        raise KeyFileError(
            f"{path} must hold {_SECRET_BYTES} bytes; it holds {len(data)}: restore it from a backup"
        )
    return data


def _remove_temp_files(folder: Path) -> None:
    """Temp files a kill left; under the lock, once every key file is whole, so no writer is
    still running that could miss its own."""
    with _folder_lock(folder):
        for temp in folder.glob(".*.tmp-*"):
            temp.unlink(missing_ok=True)


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
        _pem_key(folder / "export-signing.pem", settings)  # the first start
    active = [
        SigningKey(_pem_key(path, settings), settings.export_key_id, version)
        for version, path in _export_key_paths(settings).items()
    ]
    if not active:
        raise SigningKeyError(f"no active export signing key in {folder}: rotate-signing-key adds one")
    keys = ServerKeys(
        export_signing_keys=tuple(active),
        certificate_private=_pem_key(folder / "certificate.pem", settings),
        pepper=_random_file(folder / "pepper.bin", settings),
        revision_key=_random_file(folder / "revision.bin", settings),
    )
    _remove_temp_files(folder)
    return keys


def rotate_signing_key(settings: Settings, version: str) -> SigningKey:
    """Add an export signing key of ``version``: from now on every export is signed by it too."""
    if not _VERSION.fullmatch(version):
        raise SigningKeyError("a key version is 1-64 characters of [A-Za-z0-9_]")
    if version in _export_key_paths(settings):
        raise SigningKeyError(f"an active export key already has version {version}")
    if (settings.keys_dir / "retired" / f"export-signing-{version}.pem").exists():
        raise SigningKeyError(f"version {version} was retired: choose a new version")
    path = settings.keys_dir / f"export-signing-{version}.pem"
    return SigningKey(_pem_key(path, settings), settings.export_key_id, version)


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
