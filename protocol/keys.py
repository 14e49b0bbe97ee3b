"""GAEN key schedule: TEK → RPIK → RPI, and AEMK → AEM.

Exposure Notification Cryptography Specification v1.2 (Google/Apple), sections "External
Functions", "Key Schedule for Exposure Notification" and "Associated Encrypted Metadata"; the
byte layouts are in ``shared/spec/gaen.md`` §1. Everything here is pure: callers pass unix
seconds or interval numbers, and randomness is an argument.
"""

from __future__ import annotations

import hashlib
import hmac
import math
import secrets
import struct
from collections.abc import Callable
from functools import lru_cache

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from protocol.errors import KeyMaterialError

__all__ = [
    "EN_INTERVAL_SECONDS",
    "KEY_LENGTH",
    "MAX_INTERVAL_NUMBER",
    "TEK_ROLLING_PERIOD",
    "KeyMaterialError",
    "decrypt_aem",
    "derive_aemk",
    "derive_rpik",
    "en_interval_number",
    "encrypt_aem",
    "new_tek",
    "padded_data",
    "padded_run",
    "rolling_start",
    "rpi",
    "rpis",
]

# ---- constants --------------------------------------------------------------------------

EN_INTERVAL_SECONDS = 600
"""One ENIntervalNumber is 10 minutes."""

TEK_ROLLING_PERIOD = 144
"""A TEK is valid for 144 intervals (24 h) and rolls at UTC midnight."""

KEY_LENGTH = 16
"""TEK, RPIK, AEMK and RPI are all 16 bytes."""

MAX_INTERVAL_NUMBER = 0xFFFF_FFFF
"""ENIntervalNumber is a uint32 in PaddedData."""

_HKDF_SALT = bytes(32)  # NULL salt = HashLen zero bytes (RFC 5869 §2.2)
_RPIK_INFO = b"EN-RPIK"
_AEMK_INFO = b"EN-AEMK"
_RPI_PREFIX = b"EN-RPI" + bytes(6)
_METADATA_LENGTH = 4


# ---- time -------------------------------------------------------------------------------


def en_interval_number(unix_seconds: float) -> int:
    """ENIntervalNumber(Time) = floor(UnixEpochSeconds / 600). Crypto spec v1.2, "External Functions"."""
    if not math.isfinite(unix_seconds) or unix_seconds < 0:
        raise KeyMaterialError(f"time must be finite seconds since the Unix epoch, got {unix_seconds}")
    return int(unix_seconds // EN_INTERVAL_SECONDS)


def rolling_start(interval: int) -> int:
    """The interval a TEK valid at ``interval`` starts at: aligned to TEKRollingPeriod (UTC midnight)."""
    _check_interval(interval)
    return interval - interval % TEK_ROLLING_PERIOD


# ---- key generation and derivation -----------------------------------------------------


def new_tek(rng: Callable[[int], bytes] = secrets.token_bytes) -> bytes:
    """tek_i ← CRNG(16). ``rng(n)`` returns n random bytes; pass a seeded one for repeatable runs."""
    tek = rng(KEY_LENGTH)
    _check_key(tek, "TEK")
    return tek


def _hkdf16(ikm: bytes, info: bytes) -> bytes:
    # RFC 5869 with one expand block: PRK = HMAC(salt, IKM); OKM = HMAC(PRK, info || 0x01)[:16].
    prk = hmac.digest(_HKDF_SALT, ikm, hashlib.sha256)
    return hmac.digest(prk, info + b"\x01", hashlib.sha256)[:KEY_LENGTH]


def derive_rpik(tek: bytes) -> bytes:
    """RPIK ← HKDF(TEK, NULL, UTF8("EN-RPIK"), 16). Crypto spec v1.2, "Rolling Proximity Identifier Key"."""
    _check_key(tek, "TEK")
    return _hkdf16(tek, _RPIK_INFO)


def derive_aemk(tek: bytes) -> bytes:
    """AEMK ← HKDF(TEK, NULL, UTF8("EN-AEMK"), 16). Crypto spec v1.2, "Associated Encrypted Metadata Key"."""
    _check_key(tek, "TEK")
    return _hkdf16(tek, _AEMK_INFO)


# ---- rolling proximity identifiers -----------------------------------------------------


def padded_data(interval: int) -> bytes:
    """PaddedData_j = "EN-RPI" || 0x000000000000 || ENIN_j (uint32 little-endian)."""
    _check_interval(interval)
    return _RPI_PREFIX + struct.pack("<I", interval)


@lru_cache(maxsize=512)
def padded_run(start: int, count: int) -> bytes:
    """PaddedData of intervals ``start … start + count − 1``, concatenated; cached, since every
    key of a day (and every key matched against it) derives the same run."""
    return b"".join(padded_data(start + k) for k in range(count))


def rpi(rpik: bytes, interval: int) -> bytes:
    """RPI_{i,j} ← AES-128(RPIK_i, PaddedData_j)."""
    return rpis(rpik, interval, 1)[0]


def rpis(rpik: bytes, start: int, count: int = TEK_ROLLING_PERIOD) -> list[bytes]:
    """The RPIs of intervals ``start … start + count − 1``, derived with one AES-ECB call."""
    _check_key(rpik, "RPIK")
    if not 1 <= count <= TEK_ROLLING_PERIOD:
        raise KeyMaterialError(f"count must be 1..{TEK_ROLLING_PERIOD}, got {count}")
    _check_interval(start)
    _check_interval(start + count - 1)
    blocks = _ecb(rpik, padded_run(start, count))
    return [blocks[k : k + KEY_LENGTH] for k in range(0, len(blocks), KEY_LENGTH)]


def _ecb(key: bytes, data: bytes) -> bytes:
    encryptor = Cipher(algorithms.AES(key), modes.ECB()).encryptor()
    return encryptor.update(data) + encryptor.finalize()


# ---- associated encrypted metadata ------------------------------------------------------


def encrypt_aem(aemk: bytes, rpi: bytes, metadata: bytes) -> bytes:
    """AEM ← AES-128-CTR(AEMK, IV = RPI, Metadata). Crypto spec v1.2, "Associated Encrypted Metadata"."""
    _check_key(aemk, "AEMK")
    _check_key(rpi, "RPI")
    if len(metadata) != _METADATA_LENGTH:
        raise KeyMaterialError(f"metadata must be {_METADATA_LENGTH} bytes, got {len(metadata)}")
    encryptor = Cipher(algorithms.AES(aemk), modes.CTR(rpi)).encryptor()
    return encryptor.update(metadata) + encryptor.finalize()


def decrypt_aem(aemk: bytes, rpi: bytes, aem: bytes) -> bytes:
    """Metadata ← AES-128-CTR(AEMK, IV = RPI, AEM): CTR mode is its own inverse.

    The AEM is not authenticated: any 4 bytes decrypt. Validate what comes out
    (``protocol.advert.Metadata.from_bytes``) before trusting it.
    """
    return encrypt_aem(aemk, rpi, aem)


# ---- checks -----------------------------------------------------------------------------


def _check_key(value: bytes, name: str) -> None:
    if not isinstance(value, bytes | bytearray | memoryview) or len(value) != KEY_LENGTH:
        size = len(value) if isinstance(value, bytes | bytearray | memoryview) else type(value).__name__
        raise KeyMaterialError(f"{name} must be {KEY_LENGTH} bytes, got {size}")


def _check_interval(interval: int) -> None:
    if not 0 <= interval <= MAX_INTERVAL_NUMBER:
        raise KeyMaterialError(f"interval number must be 0..{MAX_INTERVAL_NUMBER}, got {interval}")
