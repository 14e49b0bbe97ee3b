"""The hostile export files of issue S2, built byte for byte (none is vendored).

Shared by ``tests/protocol/test_export_hostile.py`` and ``bench/reader.py``. Each builder
returns the zip a malicious mirror or proxy could serve a beacon instead of a real export;
sizes default to the issue's figures.
"""

from __future__ import annotations

import io
import struct
import zipfile
import zlib

from cryptography.hazmat.primitives.asymmetric import ec

from protocol import _wire
from protocol.export import HEADER, DiagnosisKey, SignatureInfo, SigningKey, write_export

# The key a beacon pins; the attacker knows its id and version (they are in every real file)
# but not its private half.
PINNED = SigningKey(ec.derive_private_key(0x5EC2E7, ec.SECP256R1()), "452", "v1")
VERIFIER = PINNED.verification_key()
ATTACKER = SigningKey(ec.derive_private_key(0xBAD, ec.SECP256R1()), "452", "v1")

_ZIP_DATE = (1980, 1, 1, 0, 0, 0)
_CHUNK = 1 << 20


def signature_list(count: int, signature: bytes, info: SignatureInfo | None = None) -> bytes:
    """export.sig: ``count`` TEKSignatures naming ``info`` (the pinned key by default)."""
    info = info or PINNED.signature_info()
    one = _wire.len_field(
        1,
        _wire.len_field(1, info.to_bytes())
        + _wire.varint_field(2, 1)
        + _wire.varint_field(3, 1)
        + _wire.len_field(4, signature),
    )
    return one * count


def zeros_export(
    bin_size: int = 64 * 1024 * 1024,
    signatures: int = 590,  # as many as export.sig's 64 KiB cap holds (the 606 were shorter)
    *,
    method: int = zipfile.ZIP_DEFLATED,
    declared_size: int | None = None,
) -> bytes:
    """The CPU attack: export.bin of ``bin_size`` bytes (the header, then zeros: it deflates
    about 1000 to 1) with ``signatures`` signatures that name the pinned key and fail to verify.

    ``declared_size`` rewrites export.bin's uncompressed size in both headers (a zip bomb lies).
    """
    # A well-formed signature by another key over a short text: the reader cannot tell it is
    # wrong until it has hashed export.bin and run ECDSA.
    forged = ATTACKER.sign(b"not this file")
    out = io.BytesIO()
    level = 9 if method == zipfile.ZIP_DEFLATED else None
    with zipfile.ZipFile(out, "w", method, compresslevel=level) as zf:
        info = zipfile.ZipInfo("export.bin", date_time=_ZIP_DATE)
        info.compress_type = method
        with zf.open(info, "w") as entry:
            entry.write(HEADER)
            left = bin_size - len(HEADER)
            chunk = bytes(_CHUNK)
            while left > 0:
                entry.write(chunk[: min(left, _CHUNK)])
                left -= _CHUNK
        zf.writestr(
            zipfile.ZipInfo("export.sig", date_time=_ZIP_DATE), signature_list(signatures, forged), method
        )
    blob = out.getvalue()
    if declared_size is not None:
        blob = _declare_size(blob, "export.bin", declared_size)
    return blob


def _declare_size(blob: bytes, name: str, size: int) -> bytes:
    out = bytearray(blob)
    encoded = name.encode()
    local = out.index(b"PK\x03\x04")  # the first local header is export.bin's
    assert out[local + 30 : local + 30 + len(encoded)] == encoded
    out[local + 22 : local + 26] = struct.pack("<I", size)
    central = out.index(b"PK\x01\x02")
    assert out[central + 46 : central + 46 + len(encoded)] == encoded
    out[central + 24 : central + 28] = struct.pack("<I", size)
    return bytes(out)


def many_entries(count: int = 1_400_000, name: bytes = b"x", *, claimed_entries: int | None = None) -> bytes:
    """The memory attack: a central directory of ``count`` entries (about 64 MB at the issue's
    1.4 M), nothing else. ``claimed_entries`` is what the end record says (default: as many as
    its 16-bit field holds)."""
    entry = (
        struct.pack("<4s6H3L5H2L", b"PK\x01\x02", 20, 20, 0, 0, 0, 0x21, 0, 0, 0, len(name), 0, 0, 0, 0, 0, 0)
        + name
    )
    directory = entry * count
    claimed = min(count, 0xFFFF) if claimed_entries is None else claimed_entries
    end = struct.pack("<4s4H2LH", b"PK\x05\x06", 0, 0, claimed, claimed, len(directory), 0, 0)
    return directory + end


def with_zip64_locator(blob: bytes) -> bytes:
    """``blob`` with a ZIP64 end record and locator spliced in before its end record, which now
    claims 2 entries in 94 bytes: zipfile believes the ZIP64 record (the real count and size)."""
    end = blob.rindex(b"PK\x05\x06")
    entries, size_cd = struct.unpack("<HL", blob[end + 10 : end + 16])
    entries = blob.count(b"PK\x01\x02", 0, end)
    record = struct.pack("<4sQ2H2L4Q", b"PK\x06\x06", 44, 45, 45, 0, 0, entries, entries, size_cd, 0)
    locator = struct.pack("<4sLQL", b"PK\x06\x07", 0, end, 1)
    classic = struct.pack("<4s4H2LH", b"PK\x05\x06", 0, 0, 2, 2, 94, 0, 0)
    return blob[:end] + record + locator + classic


def long_name(size: int = 60_000) -> bytes:
    """One entry whose name is ``size`` bytes of text and control characters (log injection)."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as zf:
        zf.writestr(zipfile.ZipInfo(("A\n" * size)[:size], date_time=_ZIP_DATE), b"")
    return out.getvalue()


def own_export(count: int, signer: SigningKey = PINNED) -> bytes:
    """A file as the server's exporter writes it: ``count`` keys over 14 days, sorted by bytes."""
    day0 = 2_900_000 - 2_900_000 % 144
    keys = sorted(
        (
            DiagnosisKey(
                zlib.crc32(struct.pack("<Q", i)).to_bytes(4, "little") * 4,
                day0 + 144 * (i % 14),
                144,
                i % 9,
                1,
                i % 29 - 14,
            )
            for i in range(count)
        ),
        key=lambda key: key.key_data,
    )
    return write_export(
        keys, start_timestamp=1_700_000_000, end_timestamp=1_700_003_600, region="VN", signing_keys=[signer]
    )


def minimal_keys_export(count: int, signer: SigningKey = PINNED) -> bytes:
    """A signed file of ``count`` keys that carry only their key data (20 bytes each, the
    densest encoding): the most keys a byte budget lets through."""
    body = b"".join(_wire.len_field(7, _wire.len_field(1, i.to_bytes(16, "big"))) for i in range(count))
    export_bin = HEADER + _wire.fixed64_field(1, 1) + _wire.fixed64_field(2, 2) + body
    signature = _wire.len_field(
        1,
        _wire.len_field(1, signer.signature_info().to_bytes())
        + _wire.varint_field(2, 1)
        + _wire.varint_field(3, 1)
        + _wire.len_field(4, signer.sign(export_bin)),
    )
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr(zipfile.ZipInfo("export.bin", date_time=_ZIP_DATE), export_bin)
        zf.writestr(zipfile.ZipInfo("export.sig", date_time=_ZIP_DATE), signature)
    return out.getvalue()


__all__ = [
    "ATTACKER",
    "PINNED",
    "VERIFIER",
    "long_name",
    "many_entries",
    "minimal_keys_export",
    "own_export",
    "signature_list",
    "with_zip64_locator",
    "zeros_export",
]
