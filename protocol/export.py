"""The GAEN Exposure Key Export file: a zip of ``export.bin`` and ``export.sig``.

``export.bin`` is the 16-byte header ``"EK Export v1    "`` followed by a
``TemporaryExposureKeyExport`` protobuf; ``export.sig`` is a ``TEKSignatureList`` whose
signatures are ECDSA P-256 / SHA-256 over the whole ``export.bin``, header included. Format:
Google's "Exposure Key Export File Format and Verification" and ``shared/spec/gaen.md`` §4;
the schema is ``protocol/_proto/export.proto``.

Reading is built for a Raspberry Pi holding a national file of 500k keys: the signature is
verified first, then :func:`iter_export_keys` walks the keys one at a time over the verified
bytes instead of building them all as objects. Hostile bytes raise only :class:`ExportError`,
whose message is one short line (at most 200 characters, attacker bytes escaped and clipped),
and every cost an unsigned file can impose is budgeted before it is paid: the central
directory (entries, name lengths) from the end record before ``zipfile`` reads it, the number
of signatures before one is verified, export.bin's size (:data:`MAX_EXPORT_BIN_BYTES`, from
:data:`MAX_EXPORT_KEYS`) before and while it is inflated, and export.bin hashed once, however
many signatures name a known key.
"""

from __future__ import annotations

import hashlib
import io
import itertools
import lzma
import re
import struct
import zipfile
import zlib
from array import array
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from enum import IntEnum
from typing import Any, BinaryIO, overload

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed

from protocol import _wire
from protocol.errors import (
    BadEntriesError,
    BadHeaderError,
    BadProtobufError,
    BadSignatureError,
    ExportError,
    NotAZipError,
    OversizeError,
    UnknownKeyError,
)
from protocol.keys import KEY_LENGTH, TEK_ROLLING_PERIOD

__all__ = [
    "ANALYSIS",
    "BIN_NAME",
    "ECDSA_SHA256_OID",
    "ECDSA_SHA512_OID",
    "HEADER",
    "MAX_EXPORT_BIN_BYTES",
    "MAX_EXPORT_BYTES",
    "MAX_EXPORT_KEYS",
    "SIG_NAME",
    "STRICT",
    "BadEntriesError",
    "BadHeaderError",
    "BadProtobufError",
    "BadSignatureError",
    "DiagnosisKey",
    "Export",
    "ExportError",
    "ExportReader",
    "ImportRejected",
    "ImportRules",
    "KeyColumns",
    "NotAZipError",
    "OversizeError",
    "ReadOptions",
    "ReportType",
    "SignatureInfo",
    "SigningKey",
    "UnknownKeyError",
    "VerificationKey",
    "iter_export_keys",
    "open_export",
    "read_export",
    "write_export",
    "write_export_to",
]

HEADER = b"EK Export v1    "
"""First 16 bytes of export.bin: "EK Export v1" right-padded with spaces."""

BIN_NAME, SIG_NAME = "export.bin", "export.sig"
ECDSA_SHA256_OID = "1.2.840.10045.4.3.2"
ECDSA_SHA512_OID = "1.2.840.10045.4.3.4"

MAX_EXPORT_BYTES = 64 * 1024 * 1024
"""Default cap on the archive a reader takes, and on export.bin as the writer builds it; the
reader caps export.bin at :data:`MAX_EXPORT_BIN_BYTES` (500k keys take about 17 MB)."""
_MAX_SIG_BYTES = 64 * 1024  # at most 10 signatures of ~100 bytes each
# GAEN files carry one signature per signing key version (two during a rotation); the writer
# makes at most this many and the reader looks at no more: each costs an ECDSA verification.
_MAX_SIGNATURES = 10

MAX_EXPORT_KEYS = 1_000_000
"""Most keys plus revised keys a reader accepts in one file: twice the server's
``export_max_keys_per_file`` (500,000), because file 1 of a batch also carries the window's
revised keys. A server configured past this writes files its beacons refuse."""
# The longest key write_export encodes: field 7's tag and length (2) around key_data (1+1+16),
# transmission risk 0..8 (2), rolling start < 2**31, a 5-byte varint (6), rolling period
# 1..144 (3), report type 0..5 (2), days since onset -14..14 zigzagged (2). Protobuf encoders
# write minimal varints, so a longer key is a value no GAEN exporter publishes.
_MAX_KEY_BYTES = 35
# Timestamps, region, batch fields and signature infos: about 100 bytes in our files.
_MAX_EXPORT_FIELDS_BYTES = 64 * 1024
MAX_EXPORT_BIN_BYTES = len(HEADER) + _MAX_EXPORT_FIELDS_BYTES + MAX_EXPORT_KEYS * _MAX_KEY_BYTES
"""Cap on export.bin, declared and inflated (35 MB): :data:`MAX_EXPORT_KEYS` of the longest keys."""

# The zip container, bounded before zipfile reads its central directory: zipfile builds an
# object per entry for as many entries as the directory's size holds, with no limit of its own.
_MAX_ENTRIES = 4  # export.bin and export.sig; the Netherlands add content.sig
_MAX_NAME_BYTES = 64
_MAX_DIRECTORY_BYTES = _MAX_ENTRIES * 1024  # per entry: 46-byte header, name, extra fields, comment
_END_RECORD = struct.Struct("<4s4H2LH")  # end of central directory, without its comment
_CENTRAL_HEADER_SIZE = 46
_READ_CHUNK = 1 << 20
_MAX_ERROR_TEXT = 60  # characters of a foreign value or message quoted in an ExportError
_ZIP_DATE = (1980, 1, 1, 0, 0, 0)  # fixed, so the same batch gives the same bytes
_KEY_NAME = re.compile(r"[A-Za-z0-9_]{1,64}")
_HASHES = {ECDSA_SHA256_OID: hashes.SHA256, ECDSA_SHA512_OID: hashes.SHA512}

# TemporaryExposureKeyExport / TemporaryExposureKey / TEKSignature field numbers (export.proto).
_F_START, _F_END, _F_REGION, _F_BATCH_NUM, _F_BATCH_SIZE = 1, 2, 3, 4, 5
_F_SIGNATURE_INFOS, _F_KEYS, _F_REVISED_KEYS = 6, 7, 8


class ReportType(IntEnum):
    """``TemporaryExposureKey.ReportType`` (GAEN v1.5+)."""

    UNKNOWN = 0
    CONFIRMED_TEST = 1
    CONFIRMED_CLINICAL_DIAGNOSIS = 2
    SELF_REPORT = 3
    RECURSIVE = 4
    REVOKED = 5


@dataclass(frozen=True, slots=True)
class DiagnosisKey:
    """A published TEK with its validity and the health authority's labels."""

    key_data: bytes
    rolling_start_interval_number: int
    rolling_period: int = TEK_ROLLING_PERIOD
    transmission_risk_level: int = 0
    report_type: int = ReportType.CONFIRMED_TEST
    days_since_onset_of_symptoms: int | None = None

    def to_bytes(self) -> bytes:
        """The ``TemporaryExposureKey`` protobuf; fields at their "missing" value are omitted."""
        _check_key(self)
        out = _wire.len_field(1, self.key_data)
        if self.transmission_risk_level:
            out += _wire.varint_field(2, self.transmission_risk_level)
        out += _wire.varint_field(3, self.rolling_start_interval_number)
        out += _wire.varint_field(4, self.rolling_period)
        if self.report_type:
            out += _wire.varint_field(5, int(self.report_type))
        if self.days_since_onset_of_symptoms is not None:
            out += _wire.varint_field(6, _wire.zigzag(self.days_since_onset_of_symptoms))
        return out


@dataclass(frozen=True, slots=True)
class SignatureInfo:
    """Which key signed a file: its id (an MCC, "452" for Vietnam), version and algorithm OID."""

    key_id: str
    key_version: str
    algorithm: str = ECDSA_SHA256_OID

    def to_bytes(self) -> bytes:
        return (
            _wire.len_field(3, self.key_version.encode())
            + _wire.len_field(4, self.key_id.encode())
            + _wire.len_field(5, self.algorithm.encode())
        )


# ---- keys ---------------------------------------------------------------------------------


class VerificationKey:
    """An export-signing public key (P-256) with the id and version files name it by."""

    __slots__ = ("_public", "key_id", "key_version")

    def __init__(self, public_key: ec.EllipticCurvePublicKey, key_id: str, key_version: str) -> None:
        _check_key_name(key_id, "key id")
        _check_key_name(key_version, "key version")
        if not isinstance(public_key.curve, ec.SECP256R1):
            raise ExportError(f"export keys are P-256; got {public_key.curve.name}")
        self._public, self.key_id, self.key_version = public_key, key_id, key_version

    @classmethod
    def from_pem(cls, pem: bytes | str, key_id: str, key_version: str) -> VerificationKey:
        data = pem.encode() if isinstance(pem, str) else pem
        try:
            public = serialization.load_pem_public_key(data)
        except (ValueError, TypeError) as exc:
            raise ExportError(f"not a PEM public key: {_clip(str(exc))}") from None
        if not isinstance(public, ec.EllipticCurvePublicKey):
            raise ExportError("export verification keys are ECDSA P-256 public keys")
        return cls(public, key_id, key_version)

    def to_pem(self) -> bytes:
        return self._public.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )

    def fingerprint(self) -> str:
        """SHA-256 of the DER SubjectPublicKeyInfo, hex: what an operator compares out of band."""
        der = self._public.public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        return hashlib.sha256(der).hexdigest()

    def verify(self, signature: bytes, data: bytes, algorithm: str = ECDSA_SHA256_OID) -> bool:
        hash_type = _HASHES.get(algorithm)
        if hash_type is None:
            return False
        try:
            self._public.verify(signature, data, ec.ECDSA(hash_type()))
        except (InvalidSignature, ValueError):
            return False
        return True

    def __repr__(self) -> str:
        return f"VerificationKey({self.key_id!r}, {self.key_version!r}, {self.fingerprint()[:16]}…)"


class SigningKey:
    """An export-signing private key (P-256). Signatures use RFC 6979 deterministic nonces."""

    __slots__ = ("_private", "key_id", "key_version")

    def __init__(self, private_key: ec.EllipticCurvePrivateKey, key_id: str, key_version: str) -> None:
        _check_key_name(key_id, "key id")
        _check_key_name(key_version, "key version")
        if not isinstance(private_key.curve, ec.SECP256R1):
            raise ExportError(f"export keys are P-256; got {private_key.curve.name}")
        self._private, self.key_id, self.key_version = private_key, key_id, key_version

    @classmethod
    def generate(cls, key_id: str, key_version: str) -> SigningKey:
        return cls(ec.generate_private_key(ec.SECP256R1()), key_id, key_version)

    @classmethod
    def from_pem(cls, pem: bytes | str, key_id: str, key_version: str) -> SigningKey:
        data = pem.encode() if isinstance(pem, str) else pem
        try:
            private = serialization.load_pem_private_key(data, password=None)
        except (ValueError, TypeError) as exc:
            raise ExportError(f"not an unencrypted PEM private key: {exc}") from None
        if not isinstance(private, ec.EllipticCurvePrivateKey):
            raise ExportError("export signing keys are ECDSA P-256 private keys")
        return cls(private, key_id, key_version)

    def to_pem(self) -> bytes:
        return self._private.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )

    def verification_key(self) -> VerificationKey:
        return VerificationKey(self._private.public_key(), self.key_id, self.key_version)

    def signature_info(self) -> SignatureInfo:
        return SignatureInfo(self.key_id, self.key_version, ECDSA_SHA256_OID)

    def sign(self, data: bytes) -> bytes:
        """DER ECDSA-SHA256 signature with a deterministic nonce (RFC 6979)."""
        return self._private.sign(data, ec.ECDSA(hashes.SHA256(), deterministic_signing=True))

    def sign_digest(self, digest: bytes) -> bytes:
        """The same signature as :meth:`sign`, from the SHA-256 ``digest`` of the data (RFC 6979
        derives the nonce from the digest), so a file streamed through a hash can be signed."""
        return self._private.sign(digest, ec.ECDSA(Prehashed(hashes.SHA256()), deterministic_signing=True))

    def __repr__(self) -> str:
        return f"SigningKey({self.key_id!r}, {self.key_version!r})"


# ---- writing --------------------------------------------------------------------------------


def write_export(
    keys: Iterable[DiagnosisKey],
    *,
    start_timestamp: int,
    end_timestamp: int,
    region: str,
    signing_keys: Sequence[SigningKey],
    batch_num: int = 1,
    batch_size: int = 1,
    revised_keys: Iterable[DiagnosisKey] = (),
) -> bytes:
    """Build a signed export zip. Keys are written in the order given (the server sorts them)."""
    out = io.BytesIO()
    write_export_to(
        out,
        keys,
        start_timestamp=start_timestamp,
        end_timestamp=end_timestamp,
        region=region,
        signing_keys=signing_keys,
        batch_num=batch_num,
        batch_size=batch_size,
        revised_keys=revised_keys,
    )
    return out.getvalue()


_KEYS_PER_CHUNK = 8192  # keys encoded at a time (about 260 KB) before zlib and the hash see them


def write_export_to(
    out: BinaryIO,
    keys: Iterable[DiagnosisKey],
    *,
    start_timestamp: int,
    end_timestamp: int,
    region: str,
    signing_keys: Sequence[SigningKey],
    batch_num: int = 1,
    batch_size: int = 1,
    revised_keys: Iterable[DiagnosisKey] = (),
) -> int:
    """:func:`write_export` into ``out`` (seekable: the zip headers are patched in place), the
    keys taken from the iterable a few thousand at a time, so ``export.bin`` is never whole in
    memory: it is deflated and hashed as it is encoded, and signed from its digest. The bytes
    are those of :func:`write_export`. Returns the number of keys written (revised not counted)."""
    if not 0 <= start_timestamp <= end_timestamp < 1 << 64:
        raise ExportError(f"need 0 <= start <= end timestamps, got {start_timestamp}, {end_timestamp}")
    if not 1 <= batch_num <= batch_size:
        raise ExportError(f"need 1 <= batch_num <= batch_size, got {batch_num}/{batch_size}")
    if not region:
        raise ExportError("region must not be empty")
    if not 1 <= len(signing_keys) <= _MAX_SIGNATURES:
        raise ExportError(f"need 1..{_MAX_SIGNATURES} signing keys, got {len(signing_keys)}")
    infos = [key.signature_info() for key in signing_keys]
    head = bytearray(HEADER)
    head += _wire.fixed64_field(_F_START, start_timestamp)
    head += _wire.fixed64_field(_F_END, end_timestamp)
    head += _wire.len_field(_F_REGION, region.encode())
    head += _wire.varint_field(_F_BATCH_NUM, batch_num)
    head += _wire.varint_field(_F_BATCH_SIZE, batch_size)
    for info in infos:
        head += _wire.len_field(_F_SIGNATURE_INFOS, info.to_bytes())
    digest, written, count = hashlib.sha256(), 0, 0
    with zipfile.ZipFile(out, "w") as archive:
        with archive.open(_zip_entry(BIN_NAME), "w") as export_bin:

            def flush(chunk: bytearray) -> None:
                nonlocal written
                written += len(chunk)
                if written > MAX_EXPORT_BYTES:
                    raise OversizeError(f"export.bin would be over {MAX_EXPORT_BYTES} bytes: split the batch")
                digest.update(chunk)
                export_bin.write(chunk)
                chunk.clear()

            chunk = head
            for field, items in ((_F_KEYS, iter(keys)), (_F_REVISED_KEYS, iter(revised_keys))):
                while batch := list(itertools.islice(items, _KEYS_PER_CHUNK)):
                    chunk += b"".join([_wire.len_field(field, key.to_bytes()) for key in batch])
                    count += len(batch) if field == _F_KEYS else 0
                    flush(chunk)
            flush(chunk)
        signatures = b"".join(
            _wire.len_field(
                1,
                _wire.len_field(1, info.to_bytes())
                + _wire.varint_field(2, batch_num)
                + _wire.varint_field(3, batch_size)
                + _wire.len_field(4, key.sign_digest(digest.digest())),
            )
            for key, info in zip(signing_keys, infos, strict=True)
        )
        archive.writestr(_zip_entry(SIG_NAME), signatures)
    return count


def _zip_entry(name: str) -> zipfile.ZipInfo:
    entry = zipfile.ZipInfo(name, date_time=_ZIP_DATE)
    entry.compress_type = zipfile.ZIP_DEFLATED
    # No level set: zipfile then asks zlib for Z_DEFAULT_COMPRESSION, which zlib defines as
    # level 6, the level our files have always had (the bytes must not change).
    entry.external_attr = 0o644 << 16
    return entry


# ---- reading --------------------------------------------------------------------------------


class KeyColumns(Sequence[DiagnosisKey]):
    """Keys held as columns (37 bytes a key, against about 160 as objects): what
    :func:`read_export` returns, so that reading a whole file costs little more than streaming it.

    A sequence of :class:`DiagnosisKey`, each made when it is reached; equal to any sequence of
    the same keys (a tuple or list included).
    """

    __slots__ = ("_data", "_onset", "_period", "_report", "_risk", "_start")
    _NO_ONSET = 1 << 40  # outside sint32: days_since_onset_of_symptoms absent

    def __init__(self, keys: Iterable[DiagnosisKey] = ()) -> None:
        self._data = bytearray()
        self._start, self._period, self._risk = array("i"), array("i"), array("i")
        self._report, self._onset = array("b"), array("q")
        for key in keys:
            self._data += key.key_data
            self._start.append(key.rolling_start_interval_number)
            self._period.append(key.rolling_period)
            self._risk.append(key.transmission_risk_level)
            self._report.append(key.report_type)
            onset = key.days_since_onset_of_symptoms
            self._onset.append(self._NO_ONSET if onset is None else onset)

    def __len__(self) -> int:
        return len(self._start)

    @overload
    def __getitem__(self, index: int) -> DiagnosisKey: ...
    @overload
    def __getitem__(self, index: slice) -> KeyColumns: ...
    def __getitem__(self, index: int | slice) -> DiagnosisKey | KeyColumns:
        if isinstance(index, slice):
            return KeyColumns(self[i] for i in range(*index.indices(len(self))))
        i = range(len(self))[index]  # negative indices, and IndexError past the end
        onset = self._onset[i]
        return DiagnosisKey(
            bytes(self._data[i * KEY_LENGTH : (i + 1) * KEY_LENGTH]),
            self._start[i],
            self._period[i],
            self._risk[i],
            self._report[i],
            None if onset == self._NO_ONSET else onset,
        )

    def __iter__(self) -> Iterator[DiagnosisKey]:
        return (self[i] for i in range(len(self)))

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Sequence) or isinstance(other, (str, bytes, bytearray)):
            return NotImplemented
        return len(self) == len(other) and all(a == b for a, b in zip(self, other, strict=True))

    def __hash__(self) -> int:
        return hash(tuple(self))

    def __repr__(self) -> str:
        return f"KeyColumns({len(self)} keys)"


@dataclass(frozen=True, slots=True)
class Export:
    """A verified export, every key read and checked; held as :class:`KeyColumns`."""

    start_timestamp: int
    end_timestamp: int
    region: str
    batch_num: int
    batch_size: int
    keys: Sequence[DiagnosisKey]
    revised_keys: Sequence[DiagnosisKey]
    signature_infos: tuple[SignatureInfo, ...]


@dataclass(frozen=True)
class ReadOptions:
    """What a reader tolerates beyond GAEN's format. The default, :data:`STRICT`, is what a
    device does before it matches; each relaxation is named and never the default.

    * ``extra_entries``: archive entries beside ``export.bin`` and ``export.sig`` are ignored
      (the Netherlands' production files carry a third, ``content.sig``).
    * ``unsigned``: no signature is checked and ``export.sig`` may be missing (research files).
      Such a reader says ``verified = False``: for analysis, never for warning anyone.
    * ``missing_timestamps``: a file without ``start_timestamp``/``end_timestamp`` reads, with
      0 for each.
    * ``any_compression``: entries compressed with bzip2 or lzma read. Strictly, only stored
      and deflated ones do, as on Android (``java.util.zip``); zipfile inflates a bzip2 or lzma
      entry whole in one call, up to three times export.bin's cap in memory (about 100 MB).
    """

    extra_entries: bool = False
    unsigned: bool = False
    missing_timestamps: bool = False
    any_compression: bool = False


@dataclass(frozen=True)
class ImportRules:
    """Google's importer rules (``model.FromExportKey``) for keys from another server's file.

    A key is refused, and named, when its key data is not 16 bytes, its report type is one an
    importer cannot take (self-report, recursive; likely or revoked unless allowed), its
    transmission risk is outside 0..8, it has no rolling start, its rolling period is outside
    1..144, or its days since onset are beyond ``max_days_from_onset``. An absent report type
    takes ``default_report_type``; an absent rolling period is 144; transmission risk 0 is
    backfilled from the report type (2 confirmed, 4 likely, 6 revoked).
    """

    default_report_type: int = 0
    allow_clinical: bool = True
    allow_revoked: bool = False
    max_days_from_onset: int = 14
    backfill_days_since_onset: int | None = None


class ImportRejected(ExportError):
    """One key another server published that :class:`ImportRules` refuse."""


_IMPORT_BACKFILL = {1: 2, 2: 4, 4: 6}  # CONFIRMED_TEST, CONFIRMED_CLINICAL_DIAGNOSIS, REVOKED


STRICT = ReadOptions()
ANALYSIS = ReadOptions(extra_entries=True, unsigned=True, missing_timestamps=True, any_compression=True)
"""For reading other deployments' files to study them: everything tolerated, nothing verified."""


class ExportReader:
    """A verified export whose keys are walked on demand over the verified bytes.

    The header fields are read when it is opened; :meth:`keys` and :meth:`revised_keys` parse
    one key at a time. A malformed key raises :class:`BadProtobufError` when reached.
    """

    __slots__ = (
        "_bin",
        "batch_num",
        "batch_size",
        "end_timestamp",
        "key_count",
        "region",
        "revised_key_count",
        "signature_infos",
        "start_timestamp",
        "verified",
    )

    def __init__(
        self, export_bin: bytes | bytearray, *, verified: bool = True, missing_timestamps: bool = False
    ) -> None:
        self._bin = export_bin
        self.verified = verified
        start = end = batch_num = batch_size = None
        region = ""
        infos: list[SignatureInfo] = []
        counts = {_F_KEYS: 0, _F_REVISED_KEYS: 0}
        try:
            for field, wire_type, a, b in _wire.iter_fields(export_bin, len(HEADER), len(export_bin)):
                if field in counts:
                    _expect(wire_type, _wire.LEN, field)
                    counts[field] += 1
                elif field in (_F_START, _F_END):
                    _expect(wire_type, _wire.FIXED64, field)
                    if field == _F_START:
                        start = a
                    else:
                        end = a
                elif field == _F_REGION:
                    _expect(wire_type, _wire.LEN, field)
                    region = _utf8(export_bin[a:b], "region")
                elif field in (_F_BATCH_NUM, _F_BATCH_SIZE):
                    _expect(wire_type, _wire.VARINT, field)
                    if field == _F_BATCH_NUM:
                        batch_num = _wire.as_int32(a)
                    else:
                        batch_size = _wire.as_int32(a)
                elif field == _F_SIGNATURE_INFOS:
                    _expect(wire_type, _wire.LEN, field)
                    infos.append(_parse_signature_info(export_bin, a, b))
        except _wire.WireError as exc:
            raise BadProtobufError(f"export.bin: {exc}") from None
        if (start is None or end is None) and not missing_timestamps:
            raise BadProtobufError(
                "export.bin has no start_timestamp or end_timestamp (ReadOptions(missing_timestamps=True) reads it)"
            )
        start, end = start or 0, end or 0
        self.start_timestamp, self.end_timestamp, self.region = start, end, region
        self.batch_num = 1 if batch_num is None else batch_num
        self.batch_size = 1 if batch_size is None else batch_size
        self.signature_infos = tuple(infos)
        self.key_count, self.revised_key_count = counts[_F_KEYS], counts[_F_REVISED_KEYS]
        if self.key_count + self.revised_key_count > MAX_EXPORT_KEYS:
            raise OversizeError(
                f"export.bin holds {self.key_count} keys and {self.revised_key_count} revised keys, "
                f"over {MAX_EXPORT_KEYS} in all"
            )

    def keys(self) -> Iterator[DiagnosisKey]:
        """Keys released for the first time in this file."""
        return self._walk(_F_KEYS)

    def revised_keys(self) -> Iterator[DiagnosisKey]:
        """Keys whose status changed since an earlier file (report type REVOKED, for instance)."""
        return self._walk(_F_REVISED_KEYS)

    def import_keys(self, rules: ImportRules) -> tuple[list[DiagnosisKey], list[str]]:
        """The keys of ``keys`` an importer takes under ``rules``, and each refusal, named."""
        accepted: list[DiagnosisKey] = []
        refused: list[str] = []
        index = 0
        try:
            for field, _, a, b in _wire.iter_fields(self._bin, len(HEADER), len(self._bin)):
                if field == _F_KEYS:
                    try:
                        accepted.append(_import_key(_key_fields(self._bin, a, b), rules))
                    except ImportRejected as exc:
                        refused.append(f"key {index}: {exc}")
                    index += 1
        except _wire.WireError as exc:
            raise BadProtobufError(f"export.bin key {index}: {exc}") from None
        return accepted, refused

    def to_export(self) -> Export:
        return Export(
            start_timestamp=self.start_timestamp,
            end_timestamp=self.end_timestamp,
            region=self.region,
            batch_num=self.batch_num,
            batch_size=self.batch_size,
            keys=KeyColumns(self.keys()),
            revised_keys=KeyColumns(self.revised_keys()),
            signature_infos=self.signature_infos,
        )

    def _walk(self, wanted: int) -> Iterator[DiagnosisKey]:
        buf, index = self._bin, 0
        interned: dict[int, int] = {}
        try:
            for field, _, a, b in _wire.iter_fields(buf, len(HEADER), len(buf)):
                if field == wanted:
                    yield _parse_key(buf, a, b, index, interned)
                    index += 1
        except _wire.WireError as exc:
            raise BadProtobufError(f"export.bin key {index}: {exc}") from None


def open_export(
    blob: bytes,
    verification_keys: Iterable[VerificationKey] | VerificationKey,
    *,
    max_size: int = MAX_EXPORT_BYTES,
    options: ReadOptions = STRICT,
) -> ExportReader:
    """Unzip, check the header, verify a signature, read the header fields. Keys stay lazy.

    A file is accepted when one signature made by a known (key id, version) verifies over
    export.bin; signatures by keys we do not know are ignored, as devices do. ``options``
    relaxes named rules (:class:`ReadOptions`); the default relaxes none.
    """
    export_bin, signatures = _unzip(blob, max_size, options)
    if export_bin[: len(HEADER)] != HEADER:
        raise BadHeaderError(
            f"export.bin must start with {HEADER!r}, got {bytes(export_bin[: len(HEADER)])!r}"
        )
    if not options.unsigned:
        _verify(export_bin, signatures, verification_keys)
    return ExportReader(
        export_bin, verified=not options.unsigned, missing_timestamps=options.missing_timestamps
    )


def read_export(
    blob: bytes,
    verification_keys: Iterable[VerificationKey] | VerificationKey,
    *,
    max_size: int = MAX_EXPORT_BYTES,
    options: ReadOptions = STRICT,
) -> Export:
    """Verify and read a whole export into memory."""
    return open_export(blob, verification_keys, max_size=max_size, options=options).to_export()


def iter_export_keys(
    blob: bytes,
    verification_keys: Iterable[VerificationKey] | VerificationKey,
    *,
    max_size: int = MAX_EXPORT_BYTES,
    options: ReadOptions = STRICT,
) -> Iterator[DiagnosisKey]:
    """Verify the file now, then yield its keys one at a time."""
    return open_export(blob, verification_keys, max_size=max_size, options=options).keys()


# ---- internals ------------------------------------------------------------------------------


def _unzip(
    blob: bytes, max_size: int, options: ReadOptions = STRICT
) -> tuple[bytearray, list[tuple[SignatureInfo, bytes]]]:
    """export.bin and export.sig's signatures (none when unsigned), each within its budget.

    export.sig is read and its signatures counted before export.bin is inflated: a file with
    too many is refused before it costs anything.
    """
    if len(blob) > max_size:
        raise OversizeError(f"export archive is {len(blob)} bytes, over the {max_size} limit")
    if not blob.startswith(b"PK"):
        raise NotAZipError("not a zip archive (no 'PK' signature at the start)")
    _check_central_directory(blob)
    try:
        with zipfile.ZipFile(io.BytesIO(blob)) as archive:
            infos = archive.infolist()
            names = sorted(info.filename for info in infos)
            required = {BIN_NAME} if options.unsigned else {BIN_NAME, SIG_NAME}
            if len(names) != len(set(names)) or not required <= set(names):
                raise BadEntriesError(
                    f"archive must hold {' and '.join(sorted(required))} once each, has {_quote_all(names)}"
                )
            if not options.extra_entries and set(names) - {BIN_NAME, SIG_NAME}:
                raise BadEntriesError(
                    f"archive must hold exactly {BIN_NAME} and {SIG_NAME}, has {_quote_all(names)} "
                    "(ReadOptions(extra_entries=True) ignores the others)"
                )
            by_name = {info.filename: info for info in infos}
            if not options.any_compression:
                _check_compression(info for info in infos if info.filename in (BIN_NAME, SIG_NAME))
            signatures = (
                []
                if options.unsigned
                else _signatures(_read_entry(archive, by_name[SIG_NAME], _MAX_SIG_BYTES))
            )
            export_bin = _read_entry(archive, by_name[BIN_NAME], min(max_size, MAX_EXPORT_BIN_BYTES))
    except ExportError:
        raise
    except zipfile.BadZipFile as exc:
        raise NotAZipError(f"not a readable zip archive: {_clip(str(exc))}") from None
    except (
        zlib.error,
        lzma.LZMAError,
        EOFError,
        NotImplementedError,
        RuntimeError,
        OSError,
        ValueError,
        OverflowError,
        struct.error,
        KeyError,
        IndexError,
        UnicodeDecodeError,
    ) as exc:
        raise BadEntriesError(
            f"cannot read the archive's entries: {type(exc).__name__}: {_clip(str(exc))}"
        ) from None
    return export_bin, signatures


def _check_compression(infos: Iterable[zipfile.ZipInfo]) -> None:
    for info in infos:
        if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
            raise BadEntriesError(
                f"{info.filename} is compressed with method {info.compress_type}: devices read stored "
                "and deflated entries (ReadOptions(any_compression=True) reads the others)"
            )


def _check_central_directory(blob: bytes) -> None:
    """Bound the central directory before zipfile parses it, from the end record zipfile uses.

    zipfile finds the end record as :func:`_end_record` does, prefers a ZIP64 record when a
    locator precedes it, then reads entries for as long as the directory's declared size lasts.
    """
    end = _end_record(blob)
    if end < 0:
        raise NotAZipError("not a readable zip archive: no end of central directory record")
    if end >= 20 and blob[end - 20 : end - 16] == b"PK\x06\x07":
        raise BadEntriesError("archive is ZIP64: an export (two small entries) never needs it")
    _, _, _, _, entries, directory_size, _, _ = _END_RECORD.unpack_from(blob, end)
    if entries > _MAX_ENTRIES or directory_size > _MAX_DIRECTORY_BYTES:
        raise BadEntriesError(
            f"archive claims {entries} entries in a {directory_size}-byte directory, "
            f"over {_MAX_ENTRIES} entries in {_MAX_DIRECTORY_BYTES} bytes"
        )
    # zipfile reads the directory right before the end record, whatever its offset field says.
    pos, count = end - directory_size, 0
    if pos < 0:
        raise NotAZipError("not a readable zip archive: its central directory starts before the file")
    while pos < end:
        if end - pos < _CENTRAL_HEADER_SIZE or blob[pos : pos + 4] != b"PK\x01\x02":
            raise NotAZipError("not a readable zip archive: bad central directory entry")
        name_size, extra_size, comment_size = struct.unpack_from("<3H", blob, pos + 28)
        count += 1
        if count > _MAX_ENTRIES:
            raise BadEntriesError(f"archive has over {_MAX_ENTRIES} entries")
        if name_size > _MAX_NAME_BYTES:
            raise BadEntriesError(f"an entry's name is {name_size} bytes, over {_MAX_NAME_BYTES}")
        pos += _CENTRAL_HEADER_SIZE + name_size + extra_size + comment_size


def _end_record(blob: bytes) -> int:
    """Offset of the end of central directory record, found as ``zipfile._EndRecData`` does
    (at the very end, else the last signature in the final 64 KiB), or -1."""
    size = _END_RECORD.size
    if len(blob) >= size and blob[-size : -size + 4] == b"PK\x05\x06" and blob[-2:] == b"\0\0":
        return len(blob) - size
    found = blob.rfind(b"PK\x05\x06", max(len(blob) - (1 << 16) - size, 0))
    return found if found >= 0 and len(blob) - found >= size else -1


def _read_entry(archive: zipfile.ZipFile, info: zipfile.ZipInfo, limit: int) -> bytearray:
    if info.file_size > limit:
        raise OversizeError(f"{_clip(info.filename)} inflates to {info.file_size} bytes, over {limit}")
    # Inflated a chunk at a time into one buffer: ZipExtFile.read(limit) would inflate it all
    # into zlib's blocks and then join them, twice its size in memory; and the declared size
    # may lie, so the limit holds on what is inflated, a chunk past it at most.
    data = bytearray()
    with archive.open(info) as entry:
        while chunk := entry.read(_READ_CHUNK):
            data += chunk
            if len(data) > limit:
                raise OversizeError(f"{_clip(info.filename)} inflates past {limit} bytes")
    return data


def _signatures(export_sig: bytes | bytearray) -> list[tuple[SignatureInfo, bytes]]:
    """The TEKSignatures of export.sig, counted before any is parsed or verified."""
    try:
        fields = [
            (wire_type, a, b)
            for field, wire_type, a, b in _wire.iter_fields(export_sig, 0, len(export_sig))
            if field == 1
        ]
        if len(fields) > _MAX_SIGNATURES:
            raise BadProtobufError(f"export.sig has {len(fields)} signatures, over {_MAX_SIGNATURES}")
        out = []
        for wire_type, a, b in fields:
            _expect(wire_type, _wire.LEN, 1)
            out.append(_parse_tek_signature(export_sig, a, b))
    except _wire.WireError as exc:
        raise BadProtobufError(f"export.sig: {exc}") from None
    return out


def _verify(
    export_bin: bytes | bytearray,
    signatures: Sequence[tuple[SignatureInfo, bytes]],
    verification_keys: Iterable[VerificationKey] | VerificationKey,
) -> None:
    if isinstance(verification_keys, VerificationKey):
        verification_keys = (verification_keys,)
    known = {(key.key_id, key.key_version): key for key in verification_keys}
    tried: list[str] = []
    seen: list[str] = []
    digests: dict[str, bytes] = {}  # export.bin is hashed once per algorithm, not per signature
    for info, signature in signatures:
        name = f"{info.key_id}-{info.key_version}"
        key = known.get((info.key_id, info.key_version))
        if key is None:
            seen.append(name)
            continue
        hash_type = _HASHES.get(info.algorithm)
        if hash_type is not None:
            if info.algorithm not in digests:
                digest = hashes.Hash(hash_type())
                digest.update(export_bin)
                digests[info.algorithm] = digest.finalize()
            if _verify_digest(key, signature, digests[info.algorithm], hash_type()):
                return
        tried.append(f"{name} ({info.algorithm})")
    if tried:
        raise BadSignatureError(f"signature by {_quote_all(tried)} does not verify over export.bin")
    wanted = _quote_all([f"{k}-{v}" for k, v in known]) if known else "none"
    raise UnknownKeyError(
        f"no signature by a known key: file has {_quote_all(seen) if seen else 'none'}, we know {wanted}"
    )


def _verify_digest(
    key: VerificationKey, signature: bytes, digest: bytes, hash_type: hashes.HashAlgorithm
) -> bool:
    try:
        key._public.verify(signature, digest, ec.ECDSA(Prehashed(hash_type)))
    except (InvalidSignature, ValueError):
        return False
    return True


def _clip(text: str, limit: int = _MAX_ERROR_TEXT) -> str:
    """``text`` safe to quote in an error: escaped to printable ASCII, at most ``limit`` chars."""
    escaped = ascii(text)[1:-1]
    return escaped if len(escaped) <= limit else escaped[: limit - 3] + "..."


def _quote_all(values: Sequence[str], most: int = 2, limit: int = 40) -> str:
    """A few of ``values``, each clipped, and how many more: never the whole list. Repeats are
    said once (a file repeating one forged signature names one key)."""
    values = list(dict.fromkeys(values))
    shown = ", ".join(f"'{_clip(value, limit)}'" for value in values[:most])
    more = f" and {len(values) - most} more" if len(values) > most else ""
    return f"[{shown}{more}]"


def _parse_tek_signature(buf: bytes | bytearray, pos: int, end: int) -> tuple[SignatureInfo, bytes]:
    info, signature = None, b""
    for field, wire_type, a, b in _wire.iter_fields(buf, pos, end):
        if field == 1:
            _expect(wire_type, _wire.LEN, field)
            info = _parse_signature_info(buf, a, b)
        elif field == 4:
            _expect(wire_type, _wire.LEN, field)
            signature = bytes(buf[a:b])
    if info is None:
        raise BadProtobufError("export.sig: a TEKSignature has no signature_info")
    return info, signature


def _parse_signature_info(buf: bytes | bytearray, pos: int, end: int) -> SignatureInfo:
    values = {3: "", 4: "", 5: ""}
    for field, wire_type, a, b in _wire.iter_fields(buf, pos, end):
        if field in values:  # fields 1-2 (app_bundle_id, android_package) of old files: skipped
            _expect(wire_type, _wire.LEN, field)
            values[field] = _utf8(buf[a:b], "SignatureInfo")
    return SignatureInfo(key_id=values[4], key_version=values[3], algorithm=values[5])


def _parse_key(
    buf: bytes | bytearray, pos: int, end: int, index: int, interned: dict[int, int] | None = None
) -> DiagnosisKey:
    """One TemporaryExposureKey; ``interned`` shares equal start intervals among the keys of a
    file (a 14-day file has 14 of them), 32 bytes less per key held."""
    key_data = None
    trl = start = report_type = 0
    period = TEK_ROLLING_PERIOD
    onset = None
    for field, wire_type, a, b in _wire.iter_fields(buf, pos, end):
        if field == 1:
            _expect(wire_type, _wire.LEN, field)
            key_data = bytes(buf[a:b])
        elif 2 <= field <= 6:
            _expect(wire_type, _wire.VARINT, field)
            if field == 2:
                trl = _wire.as_int32(a)
            elif field == 3:
                start = _wire.as_int32(a)
            elif field == 4:
                period = _wire.as_int32(a)
            elif field == 5:
                # proto2: an enum value the schema does not know reads as unset.
                report_type = a if a <= ReportType.REVOKED else 0
            else:
                onset = _wire.as_sint32(a)
    if key_data is None or len(key_data) != KEY_LENGTH:
        size = "none" if key_data is None else f"{len(key_data)} bytes"
        raise BadProtobufError(f"key {index}: key_data must be {KEY_LENGTH} bytes, got {size}")
    if not 1 <= period <= TEK_ROLLING_PERIOD:
        raise BadProtobufError(f"key {index}: rolling_period must be 1..144, got {period}")
    if start < 0:
        raise BadProtobufError(f"key {index}: rolling_start_interval_number is negative ({start})")
    if interned is not None:
        start = interned.setdefault(start, start)
    return DiagnosisKey(key_data, start, period, trl, report_type, onset)


def _key_fields(buf: bytes | bytearray, pos: int, end: int) -> dict[int, Any]:
    """A TemporaryExposureKey's fields as present (absent ones missing, not defaulted)."""
    fields: dict[int, Any] = {}
    for field, wire_type, a, b in _wire.iter_fields(buf, pos, end):
        if field == 1:
            _expect(wire_type, _wire.LEN, field)
            fields[1] = bytes(buf[a:b])
        elif 2 <= field <= 6:
            _expect(wire_type, _wire.VARINT, field)
            fields[field] = _wire.as_sint32(a) if field == 6 else _wire.as_int32(a)
    return fields


def _import_key(fields: dict[int, Any], rules: ImportRules) -> DiagnosisKey:
    key_data = fields.get(1, b"")
    if len(key_data) != KEY_LENGTH:
        raise ImportRejected("invalid key length")
    report_type = fields.get(5, 0)
    if report_type not in (0, 1, 2, 4):
        raise ImportRejected(f"unsupported report type: {report_type}")
    report_type = report_type or rules.default_report_type
    if report_type == 4 and not rules.allow_revoked:
        raise ImportRejected("saw revoked key when not allowed")
    if report_type == 2 and not rules.allow_clinical:
        raise ImportRejected("saw likely key when not allowed")
    risk = fields.get(2, 0)
    if not 0 <= risk <= 8:
        raise ImportRejected(f"transmission risk out of range: {risk}, must be 0..8")
    risk = risk or _IMPORT_BACKFILL.get(report_type, 0)
    if 3 not in fields:
        raise ImportRejected("missing rolling_start_interval_number")
    period = fields.get(4, TEK_ROLLING_PERIOD)
    if not 1 <= period <= TEK_ROLLING_PERIOD:
        raise ImportRejected(f"rolling period out of range: {period}, must be 1..144")
    onset = fields.get(6)
    if onset is not None and abs(onset) > rules.max_days_from_onset:
        raise ImportRejected(
            f"days since onset of symptoms out of range: {onset}, must be within {rules.max_days_from_onset}"
        )
    if onset is None:
        onset = rules.backfill_days_since_onset
    return DiagnosisKey(key_data, fields[3], period, risk, report_type, onset)


def _expect(wire_type: int, wanted: int, field: int) -> None:
    if wire_type != wanted:
        raise _wire.WireError(f"field {field} has wire type {wire_type}, expected {wanted}")


def _utf8(data: bytes | bytearray, what: str) -> str:
    try:
        return bytes(data).decode("utf-8")
    except UnicodeDecodeError:
        raise _wire.WireError(f"{what} is not UTF-8") from None


def _check_key_name(value: str, what: str) -> None:
    if not isinstance(value, str) or not _KEY_NAME.fullmatch(value):
        raise ExportError(f"{what} must be 1-64 characters of [A-Za-z0-9_], got {_clip(repr(value))}")


def _check_key(key: DiagnosisKey) -> None:
    problem = None
    if len(key.key_data) != KEY_LENGTH:
        problem = f"key_data must be {KEY_LENGTH} bytes, got {len(key.key_data)}"
    elif not 0 <= key.rolling_start_interval_number < 1 << 31:
        problem = f"rolling_start_interval_number out of range: {key.rolling_start_interval_number}"
    elif not 1 <= key.rolling_period <= TEK_ROLLING_PERIOD:
        problem = f"rolling_period must be 1..144, got {key.rolling_period}"
    elif not 0 <= key.transmission_risk_level <= 8:
        problem = f"transmission_risk_level must be 0..8, got {key.transmission_risk_level}"
    elif key.report_type not in ReportType._value2member_map_:
        problem = f"report_type must be 0..5, got {key.report_type}"
    elif key.days_since_onset_of_symptoms is not None and not -14 <= key.days_since_onset_of_symptoms <= 14:
        problem = f"days_since_onset_of_symptoms must be -14..14, got {key.days_since_onset_of_symptoms}"
    if problem:
        raise ExportError(f"cannot write a key: {problem}")
