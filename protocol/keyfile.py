"""The key file a case hands to a health official who uploads on their behalf.

Two forms of the same content, the case's own TEKs (never contacts):

* **JSON**: ``{"format": "bluezone-keyfile", "version": 1, "temporaryExposureKeys": [...],
  "checksum": "..."}`` where the items are the publish API's (:class:`protocol.publish.UploadKey`)
  and ``checksum`` is the hex of the first 8 bytes of SHA-256 over the canonical key string.
* **Compact**: ``b"BZK" || version (1) || count (1) || count × (TEK 16 || rollingStartNumber
  uint32 LE || rollingPeriod 1 || transmissionRisk 1) || SHA-256[:8] of the preceding bytes``,
  and its QR text ``"BZK1:" + base45(compact)`` (RFC 9285), alphanumeric so that QR codes stay
  small: 15 keys take 343 bytes, a version-15 QR code at level L.

The checksum catches corruption and mistyping; it is not a signature (the official's upload is
authorized by their session, and the case's consent is recorded there).
"""

from __future__ import annotations

import hashlib
import json
import struct
from collections.abc import Iterable, Sequence
from typing import Any

from protocol.errors import KeyFileError, KeyMaterialError
from protocol.publish import UploadKey, canonical_key_string

__all__ = [
    "MAX_KEYS",
    "QR_PREFIX",
    "KeyFileError",
    "dump",
    "dump_compact",
    "dump_qr",
    "load",
    "load_compact",
]

FORMAT = "bluezone-keyfile"
VERSION = 1
MAX_KEYS = 30
"""As many as one publish request may carry."""
QR_PREFIX = "BZK1:"
_MAGIC = b"BZK"
_RECORD = struct.Struct("<16sIBB")
_CHECKSUM_LENGTH = 8
_BASE45 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:"
_BASE45_INDEX = {c: i for i, c in enumerate(_BASE45)}


def dump(keys: Iterable[UploadKey]) -> str:
    """The JSON form, pretty-printed."""
    keys = _checked(keys)
    document = {
        "format": FORMAT,
        "version": VERSION,
        "temporaryExposureKeys": [key.to_json() for key in keys],
        "checksum": _json_checksum(keys),
    }
    return json.dumps(document, indent=2) + "\n"


def dump_compact(keys: Iterable[UploadKey]) -> bytes:
    keys = _checked(keys)
    body = _MAGIC + bytes((VERSION, len(keys)))
    body += b"".join(
        _RECORD.pack(k.key_data, k.rolling_start_number, k.rolling_period, k.transmission_risk) for k in keys
    )
    return body + hashlib.sha256(body).digest()[:_CHECKSUM_LENGTH]


def dump_qr(keys: Iterable[UploadKey]) -> str:
    """Text for a QR code: ``BZK1:`` + base45 of the compact form."""
    return QR_PREFIX + _b45encode(dump_compact(keys))


def load(data: str | bytes) -> list[UploadKey]:
    """Read any form: JSON text, compact bytes or QR text. Errors say what is wrong."""
    if isinstance(data, bytes | bytearray):
        if data.startswith(_MAGIC) and not data.startswith(QR_PREFIX.encode()):
            return load_compact(bytes(data))
        try:
            data = bytes(data).decode("utf-8")
        except UnicodeDecodeError:
            raise KeyFileError("not a key file: neither JSON text nor the compact BZK form") from None
    text = data.strip()
    if text.startswith(QR_PREFIX):
        return load_compact(_b45decode(text[len(QR_PREFIX) :]))
    return _load_json(text)


def load_compact(data: bytes) -> list[UploadKey]:
    header = len(_MAGIC) + 2
    if len(data) < header + _CHECKSUM_LENGTH or not data.startswith(_MAGIC):
        raise KeyFileError("not a compact key file (expected 'BZK' and a header)")
    version, count = data[3], data[4]
    if version != VERSION:
        raise KeyFileError(f"compact key file version {version} is not supported (only {VERSION})")
    expected = header + count * _RECORD.size + _CHECKSUM_LENGTH
    if len(data) != expected:
        raise KeyFileError(f"compact key file of {count} keys must be {expected} bytes, got {len(data)}")
    body, checksum = data[:-_CHECKSUM_LENGTH], data[-_CHECKSUM_LENGTH:]
    if hashlib.sha256(body).digest()[:_CHECKSUM_LENGTH] != checksum:
        raise KeyFileError("key file checksum does not match: the file is damaged or mistyped")
    try:
        keys = [UploadKey(*_RECORD.unpack_from(body, header + i * _RECORD.size)) for i in range(count)]
    except KeyMaterialError as exc:
        raise KeyFileError(f"key file holds an invalid key: {exc}") from None
    return _checked(keys)


# ---- internals ------------------------------------------------------------------------------


def _checked(keys: Iterable[UploadKey]) -> list[UploadKey]:
    keys = list(keys)
    if not 1 <= len(keys) <= MAX_KEYS:
        raise KeyFileError(f"a key file holds 1..{MAX_KEYS} keys, got {len(keys)}")
    if len({k.key_data for k in keys}) != len(keys):
        raise KeyFileError("a key file must not repeat a key")
    return keys


def _json_checksum(keys: Sequence[UploadKey]) -> str:
    return hashlib.sha256(canonical_key_string(keys).encode()).digest()[:_CHECKSUM_LENGTH].hex()


def _load_json(text: str) -> list[UploadKey]:
    try:
        document: Any = json.loads(text)
    except (ValueError, RecursionError) as exc:  # JSONDecodeError, and ints past the digit limit
        raise KeyFileError(f"key file is not valid JSON: {exc}") from None
    if not isinstance(document, dict) or document.get("format") != FORMAT:
        raise KeyFileError(f"not a key file: expected a JSON object with format {FORMAT!r}")
    if document.get("version") != VERSION:
        raise KeyFileError(f"key file version {document.get('version')!r} is not supported")
    items = document.get("temporaryExposureKeys")
    if not isinstance(items, list):
        raise KeyFileError("'temporaryExposureKeys' must be a list")
    try:
        keys = _checked(UploadKey.from_json(item) for item in items)
    except KeyMaterialError as exc:
        raise KeyFileError(f"key file holds an invalid key: {exc}") from None
    if document.get("checksum") != _json_checksum(keys):
        raise KeyFileError("key file checksum does not match: the file is damaged or was edited")
    return keys


def _b45encode(data: bytes) -> str:
    out = []
    for i in range(0, len(data) - 1, 2):
        n = data[i] * 256 + data[i + 1]
        c, n = n % 45, n // 45
        out += [_BASE45[c], _BASE45[n % 45], _BASE45[n // 45]]
    if len(data) % 2:
        out += [_BASE45[data[-1] % 45], _BASE45[data[-1] // 45]]
    return "".join(out)


def _b45decode(text: str) -> bytes:
    try:
        values = [_BASE45_INDEX[c] for c in text]
    except KeyError as exc:
        raise KeyFileError(f"QR text has a character outside base45: {exc.args[0]!r}") from None
    if len(values) % 3 == 1:
        raise KeyFileError("QR text has a dangling base45 character")
    out = bytearray()
    for i in range(0, len(values), 3):
        chunk = values[i : i + 3]
        n = sum(v * 45**k for k, v in enumerate(chunk))
        if len(chunk) == 3:
            if n > 0xFFFF:
                raise KeyFileError("QR text holds an invalid base45 triple")
            out += n.to_bytes(2, "big")
        else:
            if n > 0xFF:
                raise KeyFileError("QR text holds an invalid base45 pair")
            out.append(n)
    return bytes(out)
