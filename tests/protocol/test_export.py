"""protocol.export: the Exposure Key Export file (gaen.md §4).

The generated protobuf module ``protocol._proto.export_pb2`` is the independent oracle: the
hand-written codec in ``protocol.export`` must agree with it both ways.
"""

from __future__ import annotations

import base64
import contextlib
import gzip
import hashlib
import io
import zipfile
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from hypothesis import given, settings
from hypothesis import strategies as st

from protocol import export
from protocol._proto import export_pb2
from protocol.errors import ProtocolError
from protocol.export import (
    ECDSA_SHA256_OID,
    ECDSA_SHA512_OID,
    HEADER,
    BadEntriesError,
    BadHeaderError,
    BadProtobufError,
    BadSignatureError,
    DiagnosisKey,
    Export,
    ExportError,
    KeyColumns,
    NotAZipError,
    OversizeError,
    ReportType,
    SignatureInfo,
    SigningKey,
    UnknownKeyError,
    VerificationKey,
    iter_export_keys,
    open_export,
    read_export,
    write_export,
)
from tests.protocol.gaen_vectors import EXAMPLE_SERVER_PUBLIC_KEY_B64, SAMPLE_EXPORT_PUBLIC_KEY_B64, TEK

# gaen.md §4.1: "EK Export v1" right-padded with 4 spaces.
HEADER_BYTES = bytes.fromhex("454b204578706f7274207631 20202020".replace(" ", ""))
# Window of Google's sample export (gaen.md §4.3).
START, END = 1593633600, 1593633900
ENIN = 2642976

# Fixed private scalars, so that every run signs with the same keys.
PRIVATE_A = ec.derive_private_key(0xA11CE, ec.SECP256R1())
PRIVATE_B = ec.derive_private_key(0xB0B, ec.SECP256R1())
SIGNER_A = SigningKey(PRIVATE_A, "452", "v1")
SIGNER_B = SigningKey(PRIVATE_B, "452", "v2")
VERIFIER_A = SIGNER_A.verification_key()
VERIFIER_B = SIGNER_B.verification_key()

KEY = DiagnosisKey(TEK, ENIN, 144, 0, ReportType.CONFIRMED_TEST, 0)


# ---- helpers --------------------------------------------------------------------------------


def write(keys: Sequence[DiagnosisKey] = (KEY,), **overrides: Any) -> bytes:
    kwargs: dict[str, Any] = {
        "start_timestamp": START,
        "end_timestamp": END,
        "region": "VN",
        "signing_keys": [SIGNER_A],
    }
    kwargs.update(overrides)
    return write_export(keys, **kwargs)


def entries(blob: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(blob)) as archive:
        return {info.filename: archive.read(info) for info in archive.infolist()}


def rezip(files: dict[str, bytes], compress_type: int = zipfile.ZIP_DEFLATED) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        for name, data in files.items():
            archive.writestr(zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0)), data, compress_type)
    return out.getvalue()


def signature_list(
    export_bin: bytes,
    signers: Sequence[SigningKey] = (SIGNER_A,),
    info: export_pb2.SignatureInfo | None = None,
) -> bytes:
    """export.sig built with the generated code, each signature made by ``SigningKey.sign``."""
    message = export_pb2.TEKSignatureList()
    for signer in signers:
        entry = message.signatures.add(batch_num=1, batch_size=1, signature=signer.sign(export_bin))
        if info is not None:
            entry.signature_info.CopyFrom(info)
        else:
            entry.signature_info.verification_key_id = signer.key_id
            entry.signature_info.verification_key_version = signer.key_version
            entry.signature_info.signature_algorithm = ECDSA_SHA256_OID
    return message.SerializeToString()


def signed_zip(export_bin: bytes, signers: Sequence[SigningKey] = (SIGNER_A,)) -> bytes:
    return rezip({"export.bin": export_bin, "export.sig": signature_list(export_bin, signers)})


def oracle_key(key: DiagnosisKey) -> export_pb2.TemporaryExposureKey:
    message = export_pb2.TemporaryExposureKey(
        key_data=key.key_data,
        transmission_risk_level=key.transmission_risk_level,
        rolling_start_interval_number=key.rolling_start_interval_number,
        rolling_period=key.rolling_period,
        report_type=int(key.report_type),
    )
    if key.days_since_onset_of_symptoms is not None:
        message.days_since_onset_of_symptoms = key.days_since_onset_of_symptoms
    return message


def from_oracle(message: export_pb2.TemporaryExposureKey) -> DiagnosisKey:
    onset = message.days_since_onset_of_symptoms if message.HasField("days_since_onset_of_symptoms") else None
    return DiagnosisKey(
        message.key_data,
        message.rolling_start_interval_number,
        message.rolling_period,
        message.transmission_risk_level,
        int(message.report_type),
        onset,
    )


def read_or_reject(blob: bytes) -> Export | None:
    """read_export, where any ExportError is an acceptable answer and anything else fails the test."""
    try:
        return read_export(blob, VERIFIER_A)
    except ExportError:
        return None


def flip(data: bytes, position: int, mask: int = 0xFF) -> bytes:
    out = bytearray(data)
    out[position] ^= mask
    return bytes(out)


# ---- strategies -----------------------------------------------------------------------------

diagnosis_keys = st.builds(
    DiagnosisKey,
    key_data=st.binary(min_size=16, max_size=16),
    rolling_start_interval_number=st.integers(0, 2**31 - 1),
    rolling_period=st.integers(1, 144),
    transmission_risk_level=st.integers(0, 8),
    report_type=st.integers(0, 5),
    days_since_onset_of_symptoms=st.none() | st.integers(-14, 14),
)
timestamps = st.tuples(st.integers(0, 2**64 - 1), st.integers(0, 2**64 - 1)).map(sorted)
regions = st.text(min_size=1, max_size=8)
batches = st.integers(1, 5).flatmap(lambda size: st.tuples(st.integers(1, size), st.just(size)))


# ---- round trip -----------------------------------------------------------------------------


@given(
    keys=st.lists(diagnosis_keys, max_size=12),
    revised=st.lists(diagnosis_keys, max_size=4),
    window=timestamps,
    region=regions,
    batch=batches,
)
def test_write_then_read_round_trips_every_field(
    keys: list[DiagnosisKey],
    revised: list[DiagnosisKey],
    window: list[int],
    region: str,
    batch: tuple[int, int],
) -> None:
    blob = write(
        keys,
        revised_keys=revised,
        start_timestamp=window[0],
        end_timestamp=window[1],
        region=region,
        batch_num=batch[0],
        batch_size=batch[1],
    )
    result = read_export(blob, VERIFIER_A)
    assert result == Export(
        start_timestamp=window[0],
        end_timestamp=window[1],
        region=region,
        batch_num=batch[0],
        batch_size=batch[1],
        keys=tuple(keys),
        revised_keys=tuple(revised),
        signature_infos=(SignatureInfo("452", "v1", ECDSA_SHA256_OID),),
    )


def test_revoked_revised_key_round_trips() -> None:
    revoked = DiagnosisKey(TEK, ENIN, 144, 0, ReportType.REVOKED, None)
    result = read_export(write([], revised_keys=[revoked]), VERIFIER_A)
    assert result.keys == ()
    assert result.revised_keys == (revoked,)


@given(st.lists(diagnosis_keys, max_size=12))
def test_iter_export_keys_yields_the_keys_of_read_export(keys: list[DiagnosisKey]) -> None:
    blob = write(keys)
    assert list(iter_export_keys(blob, VERIFIER_A)) == list(read_export(blob, VERIFIER_A).keys) == keys


def test_iter_export_keys_returns_an_iterator() -> None:
    keys = iter_export_keys(write([KEY, KEY]), VERIFIER_A)
    assert isinstance(keys, Iterator)
    assert next(keys) == KEY


def test_iter_export_keys_verifies_before_the_first_key_is_requested() -> None:
    """A bad signature raises when iter_export_keys is called, not at the first next()."""
    files = entries(write())
    tampered = rezip({**files, "export.bin": flip(files["export.bin"], len(files["export.bin"]) - 1)})
    with pytest.raises(BadSignatureError):
        iter_export_keys(tampered, VERIFIER_A)


def test_iter_export_keys_parses_each_key_only_when_reached() -> None:
    good = oracle_key(KEY)
    bad = export_pb2.TemporaryExposureKey(key_data=bytes(15), rolling_start_interval_number=ENIN)
    message = export_pb2.TemporaryExposureKeyExport(
        start_timestamp=START, end_timestamp=END, keys=[good, bad]
    )
    keys = iter_export_keys(signed_zip(HEADER + message.SerializeToString()), VERIFIER_A)
    assert next(keys) == KEY
    with pytest.raises(BadProtobufError, match="key 1"):
        next(keys)


def test_open_export_counts_keys_without_materializing_them() -> None:
    reader = open_export(write([KEY] * 3, revised_keys=[KEY]), [VERIFIER_A])
    assert (reader.key_count, reader.revised_key_count) == (3, 1)
    assert (reader.start_timestamp, reader.end_timestamp, reader.region) == (START, END, "VN")
    assert list(reader.revised_keys()) == [KEY]


def test_read_export_accepts_one_verification_key_or_several() -> None:
    blob = write()
    assert read_export(blob, VERIFIER_A) == read_export(blob, [VERIFIER_B, VERIFIER_A])


# ---- the generated protobuf code as oracle --------------------------------------------------


@given(
    keys=st.lists(diagnosis_keys, max_size=8),
    revised=st.lists(diagnosis_keys, max_size=3),
    window=timestamps,
    region=regions,
    batch=batches,
)
def test_written_export_bin_parses_with_the_generated_protobuf(
    keys: list[DiagnosisKey],
    revised: list[DiagnosisKey],
    window: list[int],
    region: str,
    batch: tuple[int, int],
) -> None:
    blob = write(
        keys,
        revised_keys=revised,
        start_timestamp=window[0],
        end_timestamp=window[1],
        region=region,
        batch_num=batch[0],
        batch_size=batch[1],
        signing_keys=[SIGNER_A, SIGNER_B],
    )
    files = entries(blob)
    assert sorted(files) == ["export.bin", "export.sig"]
    export_bin = files["export.bin"]
    assert export_bin[:16] == HEADER_BYTES

    message = export_pb2.TemporaryExposureKeyExport.FromString(export_bin[16:])
    assert message.SerializeToString() == export_bin[16:]  # nothing the oracle does not know
    assert (message.start_timestamp, message.end_timestamp) == tuple(window)
    assert message.region == region
    assert (message.batch_num, message.batch_size) == batch
    assert [from_oracle(k) for k in message.keys] == keys
    assert [from_oracle(k) for k in message.revised_keys] == revised
    for written, parsed in zip([*keys, *revised], [*message.keys, *message.revised_keys], strict=True):
        assert parsed.HasField("report_type") == (written.report_type != 0)
        assert parsed.HasField("days_since_onset_of_symptoms") == (
            written.days_since_onset_of_symptoms is not None
        )
    assert [
        (i.verification_key_id, i.verification_key_version, i.signature_algorithm)
        for i in message.signature_infos
    ] == [("452", "v1", ECDSA_SHA256_OID), ("452", "v2", ECDSA_SHA256_OID)]

    signatures = export_pb2.TEKSignatureList.FromString(files["export.sig"])
    assert signatures.SerializeToString() == files["export.sig"]
    assert len(signatures.signatures) == 2
    for signature, info, private in zip(
        signatures.signatures, message.signature_infos, (PRIVATE_A, PRIVATE_B), strict=True
    ):
        assert (signature.batch_num, signature.batch_size) == batch
        assert signature.signature_info == info
        private.public_key().verify(signature.signature, export_bin, ec.ECDSA(hashes.SHA256()))


# Old SignatureInfo fields 1 (app_bundle_id) and 2 (android_package), removed from the format.
OLD_SIGNATURE_INFO_FIELDS = b"\x0a\x03abc\x12\x03def"


def signature_info_with_old_fields(key_id: str, key_version: str) -> export_pb2.SignatureInfo:
    info = export_pb2.SignatureInfo()
    info.ParseFromString(
        OLD_SIGNATURE_INFO_FIELDS
        + export_pb2.SignatureInfo(
            verification_key_id=key_id,
            verification_key_version=key_version,
            signature_algorithm=ECDSA_SHA256_OID,
        ).SerializeToString()
    )
    return info


def test_export_built_with_the_generated_protobuf_is_read() -> None:
    info = signature_info_with_old_fields("452", "v1")
    message = export_pb2.TemporaryExposureKeyExport(
        start_timestamp=START,
        end_timestamp=END,
        region="VN",
        batch_num=1,
        batch_size=1,
        signature_infos=[info],
        keys=[
            export_pb2.TemporaryExposureKey(
                key_data=TEK,
                transmission_risk_level=3,
                rolling_start_interval_number=ENIN,
                rolling_period=72,
                report_type=export_pb2.TemporaryExposureKey.CONFIRMED_CLINICAL_DIAGNOSIS,
                days_since_onset_of_symptoms=-3,
            )
        ],
        revised_keys=[
            export_pb2.TemporaryExposureKey(
                key_data=bytes(16),
                rolling_start_interval_number=ENIN - 144,
                report_type=export_pb2.TemporaryExposureKey.REVOKED,
            )
        ],
    )
    export_bin = HEADER + message.SerializeToString()
    assert OLD_SIGNATURE_INFO_FIELDS in export_bin
    blob = rezip({"export.bin": export_bin, "export.sig": signature_list(export_bin, info=info)})

    result = read_export(blob, VERIFIER_A)

    assert (result.start_timestamp, result.end_timestamp, result.region) == (START, END, "VN")
    assert (result.batch_num, result.batch_size) == (1, 1)
    assert result.signature_infos == (SignatureInfo("452", "v1", ECDSA_SHA256_OID),)
    assert result.keys == (DiagnosisKey(TEK, ENIN, 72, 3, ReportType.CONFIRMED_CLINICAL_DIAGNOSIS, -3),)
    assert result.revised_keys == (DiagnosisKey(bytes(16), ENIN - 144, 144, 0, ReportType.REVOKED, None),)


def test_missing_optional_key_fields_read_as_their_defaults() -> None:
    """rolling_period missing → 144, report_type missing → 0 (UNKNOWN), onset missing → None."""
    bare = export_pb2.TemporaryExposureKey(key_data=TEK, rolling_start_interval_number=ENIN)
    message = export_pb2.TemporaryExposureKeyExport(start_timestamp=START, end_timestamp=END, keys=[bare])
    (key,) = read_export(signed_zip(HEADER + message.SerializeToString()), VERIFIER_A).keys
    assert key == DiagnosisKey(TEK, ENIN, rolling_period=144, transmission_risk_level=0, report_type=0)
    assert key.days_since_onset_of_symptoms is None


def test_missing_batch_fields_and_region_read_as_defaults() -> None:
    message = export_pb2.TemporaryExposureKeyExport(start_timestamp=START, end_timestamp=END)
    result = read_export(signed_zip(HEADER + message.SerializeToString()), VERIFIER_A)
    assert (result.batch_num, result.batch_size, result.region) == (1, 1, "")
    assert result.keys == result.revised_keys == result.signature_infos == ()


def test_fields_in_any_order_and_unknown_fields_are_read() -> None:
    """Protobuf readers accept fields in any order and skip unknown ones (e.g. variant_of_concern, 8)."""
    keys_first = export_pb2.TemporaryExposureKeyExport(keys=[oracle_key(KEY)]).SerializeToString()
    header_fields = export_pb2.TemporaryExposureKeyExport(
        start_timestamp=START, end_timestamp=END, region="VN"
    ).SerializeToString()
    # A key carrying variant_of_concern = 1 (field 8, varint) from the server's newer schema.
    key_with_variant = oracle_key(KEY).SerializeToString() + b"\x40\x01"
    revised = b"\x42" + bytes((len(key_with_variant),)) + key_with_variant
    # Unknown top-level fields: 9 varint, 10 fixed32, 15 length-delimited.
    unknown = b"\x48\x01" + b"\x55\x01\x02\x03\x04" + b"\x7a\x02hi"
    export_bin = HEADER + keys_first + unknown + header_fields + revised

    result = read_export(signed_zip(export_bin), VERIFIER_A)

    assert (result.start_timestamp, result.end_timestamp, result.region) == (START, END, "VN")
    assert result.keys == result.revised_keys == (KEY,)


def test_unknown_report_type_reads_as_unknown() -> None:
    """proto2 semantics: an enum value the schema does not know reads as unset (0)."""
    key = export_pb2.TemporaryExposureKey(
        key_data=TEK, rolling_start_interval_number=ENIN
    ).SerializeToString()
    key += b"\x28\x09"  # report_type = 9
    message = export_pb2.TemporaryExposureKeyExport(start_timestamp=START, end_timestamp=END)
    export_bin = HEADER + message.SerializeToString() + b"\x3a" + bytes((len(key),)) + key
    assert export_pb2.TemporaryExposureKeyExport.FromString(export_bin[16:]).keys[0].report_type == 0
    (read,) = read_export(signed_zip(export_bin), VERIFIER_A).keys
    assert read.report_type == 0


# ---- format details -------------------------------------------------------------------------


def test_export_bin_starts_with_the_16_byte_header() -> None:
    assert HEADER == HEADER_BYTES == b"EK Export v1    "
    assert entries(write())["export.bin"][:16] == b"EK Export v1    "


def test_same_inputs_give_identical_zip_bytes() -> None:
    """Fixed zip dates and RFC 6979 nonces: a batch always makes the same file, signature included."""
    keys = [KEY, DiagnosisKey(bytes(16), ENIN + 144, 12, 2, ReportType.SELF_REPORT, -14)]
    assert write(keys) == write(list(keys))
    assert write(keys, signing_keys=[SigningKey.from_pem(SIGNER_A.to_pem(), "452", "v1")]) == write(keys)


def test_signature_covers_the_whole_export_bin_header_included() -> None:
    files = entries(write())
    (signature,) = export_pb2.TEKSignatureList.FromString(files["export.sig"]).signatures
    public = PRIVATE_A.public_key()
    public.verify(signature.signature, files["export.bin"], ec.ECDSA(hashes.SHA256()))
    with pytest.raises(InvalidSignature):
        public.verify(signature.signature, files["export.bin"][16:], ec.ECDSA(hashes.SHA256()))


def test_flipped_byte_anywhere_in_export_bin_is_rejected() -> None:
    files = entries(write([KEY, KEY], revised_keys=[KEY]))
    export_bin = files["export.bin"]
    for position in range(len(export_bin)):
        tampered = rezip({**files, "export.bin": flip(export_bin, position)})
        expected = (BadHeaderError, BadSignatureError) if position < 16 else BadSignatureError
        with pytest.raises(expected):
            read_export(tampered, VERIFIER_A)


def test_flipped_byte_in_the_signature_is_rejected() -> None:
    files = entries(write())
    message = export_pb2.TEKSignatureList.FromString(files["export.sig"])
    original = message.signatures[0].signature
    for position in range(len(original)):
        message.signatures[0].signature = flip(original, position)
        tampered = rezip({**files, "export.sig": message.SerializeToString()})
        with pytest.raises(BadSignatureError):
            read_export(tampered, VERIFIER_A)


def test_wrong_header_with_a_valid_signature_is_rejected() -> None:
    message = export_pb2.TemporaryExposureKeyExport(start_timestamp=START, end_timestamp=END)
    with pytest.raises(BadHeaderError):
        read_export(signed_zip(b"EK Export v2    " + message.SerializeToString()), VERIFIER_A)


def test_signature_with_the_ecdsa_sha512_oid_verifies() -> None:
    info = export_pb2.SignatureInfo(
        verification_key_id="452", verification_key_version="v1", signature_algorithm=ECDSA_SHA512_OID
    )
    message = export_pb2.TemporaryExposureKeyExport(
        start_timestamp=START, end_timestamp=END, signature_infos=[info]
    )
    export_bin = HEADER + message.SerializeToString()
    sig = export_pb2.TEKSignatureList()
    sig.signatures.add(signature_info=info, signature=PRIVATE_A.sign(export_bin, ec.ECDSA(hashes.SHA512())))
    blob = rezip({"export.bin": export_bin, "export.sig": sig.SerializeToString()})
    assert read_export(blob, VERIFIER_A).signature_infos == (SignatureInfo("452", "v1", ECDSA_SHA512_OID),)


def test_signature_with_an_unknown_algorithm_oid_is_rejected() -> None:
    export_bin = entries(write())["export.bin"]
    info = export_pb2.SignatureInfo(
        verification_key_id="452", verification_key_version="v1", signature_algorithm="1.2.3.4"
    )
    blob = rezip({"export.bin": export_bin, "export.sig": signature_list(export_bin, info=info)})
    with pytest.raises(BadSignatureError):
        read_export(blob, VERIFIER_A)


# ---- which keys verify ----------------------------------------------------------------------


def test_file_signed_by_an_unknown_key_id_raises_unknown_key_error() -> None:
    other = SigningKey(PRIVATE_A, "310", "v1")
    with pytest.raises(UnknownKeyError, match="310-v1"):
        read_export(write(signing_keys=[other]), VERIFIER_A)


def test_file_signed_by_an_unknown_key_version_raises_unknown_key_error() -> None:
    with pytest.raises(UnknownKeyError):
        read_export(write(signing_keys=[SIGNER_B]), VERIFIER_A)


def test_file_with_no_signatures_raises_unknown_key_error() -> None:
    files = entries(write())
    with pytest.raises(UnknownKeyError):
        read_export(rezip({**files, "export.sig": b""}), VERIFIER_A)


def test_reader_with_no_verification_keys_accepts_nothing() -> None:
    with pytest.raises(UnknownKeyError):
        read_export(write(), [])


def test_file_signed_by_two_keys_verifies_with_either() -> None:
    blob = write(signing_keys=[SIGNER_A, SIGNER_B])
    assert read_export(blob, VERIFIER_A) == read_export(blob, VERIFIER_B) == read_export(blob, [VERIFIER_B])
    assert read_export(blob, VERIFIER_A).signature_infos == (
        SignatureInfo("452", "v1"),
        SignatureInfo("452", "v2"),
    )


def test_known_key_id_with_a_different_public_key_raises_bad_signature() -> None:
    impostor = SigningKey(PRIVATE_B, "452", "v1")
    with pytest.raises(BadSignatureError):
        read_export(write(signing_keys=[impostor]), VERIFIER_A)


def test_unknown_extra_signature_is_ignored() -> None:
    stranger = SigningKey(ec.derive_private_key(7, ec.SECP256R1()), "999", "v9")
    assert read_export(write(signing_keys=[stranger, SIGNER_A]), VERIFIER_A).keys == (KEY,)


# ---- the container --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "blob",
    [b"", b"hello", gzip.compress(b"EK Export v1    "), b"PK\x03\x04" + bytes(40), b"PK" + b"\xff" * 100],
    ids=["empty", "text", "gzip", "pk-zeros", "pk-garbage"],
)
def test_bytes_that_are_not_a_zip_raise_not_a_zip_error(blob: bytes) -> None:
    with pytest.raises(NotAZipError):
        read_export(blob, VERIFIER_A)


@pytest.mark.parametrize(
    "names",
    [
        [],
        ["export.bin"],
        ["export.sig"],
        ["export.bin", "export.sig", "extra.txt"],
        ["export.bin", "signature.sig"],
        ["dir/export.bin", "dir/export.sig"],
    ],
)
def test_missing_or_extra_entries_raise_bad_entries_error(names: list[str]) -> None:
    files = entries(write())
    blob = rezip({name: files.get(name.split("/")[-1], b"x") for name in names})
    with pytest.raises(BadEntriesError):
        read_export(blob, VERIFIER_A)


def test_duplicate_export_bin_entry_raises_bad_entries_error() -> None:
    files = entries(write())
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive, pytest.warns(UserWarning, match="Duplicate name"):
        archive.writestr("export.bin", files["export.bin"])
        archive.writestr("export.sig", files["export.sig"])
        archive.writestr("export.bin", HEADER)
    with pytest.raises(BadEntriesError):
        read_export(out.getvalue(), VERIFIER_A)


@pytest.mark.parametrize(
    "method", [zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED, zipfile.ZIP_BZIP2, zipfile.ZIP_LZMA]
)
def test_entries_stored_with_any_standard_compression_are_read(method: int) -> None:
    options = export.ReadOptions(any_compression=method in (zipfile.ZIP_BZIP2, zipfile.ZIP_LZMA))
    assert read_export(rezip(entries(write()), method), VERIFIER_A, options=options).keys == (KEY,)


@pytest.mark.parametrize("method", [zipfile.ZIP_BZIP2, zipfile.ZIP_LZMA], ids=["bzip2", "lzma"])
def test_bzip2_and_lzma_entries_need_the_named_option(method: int) -> None:
    """Android's java.util.zip reads stored and deflated entries only; zipfile inflates the
    others whole, in one call (issue S2: 99 MB for an lzma export.bin at its 35 MB cap)."""
    with pytest.raises(BadEntriesError, match="any_compression=True"):
        read_export(rezip(entries(write()), method), VERIFIER_A)


@pytest.mark.parametrize(
    "method",
    [zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED, zipfile.ZIP_BZIP2, zipfile.ZIP_LZMA],
    ids=["stored", "deflated", "bzip2", "lzma"],
)
def test_corrupt_compressed_data_raises_only_export_error(method: int) -> None:
    """Damage the first bytes of export.bin's compressed data, whatever the compression method."""
    blob = rezip(entries(write()), method)
    options = export.ReadOptions(any_compression=True)  # bzip2 and lzma too
    original = read_export(blob, VERIFIER_A, options=options)
    data_start = 30 + len("export.bin")  # local file header, then the name, no extra field
    for position in range(data_start, data_start + 12):
        with contextlib.suppress(ExportError):
            assert read_export(flip(blob, position), VERIFIER_A, options=options) == original


def test_unsupported_compression_method_raises_export_error() -> None:
    blob = bytearray(rezip(entries(write()), zipfile.ZIP_STORED))
    for offset in (8, blob.index(b"PK\x01\x02") + 10):  # method, in the local and central headers
        blob[offset : offset + 2] = (99).to_bytes(2, "little")
    with pytest.raises(ExportError):
        read_export(bytes(blob), VERIFIER_A)


def test_archive_over_max_size_raises_oversize_error() -> None:
    blob = write()
    with pytest.raises(OversizeError):
        read_export(blob, VERIFIER_A, max_size=len(blob) - 1)
    assert read_export(blob, VERIFIER_A, max_size=len(blob) * 4).keys == (KEY,)


def test_export_bin_inflating_past_max_size_raises_oversize_error() -> None:
    blob = write([DiagnosisKey(bytes(16), ENIN)] * 2000)  # ~40 kB of export.bin, compresses well
    assert len(blob) < 4_000 < len(entries(blob)["export.bin"])
    with pytest.raises(OversizeError):
        read_export(blob, VERIFIER_A, max_size=4_000)


def test_oversize_export_sig_raises_oversize_error() -> None:
    files = entries(write())
    with pytest.raises(OversizeError):
        read_export(rezip({**files, "export.sig": bytes(1 << 20)}), VERIFIER_A)


@pytest.fixture(scope="module")
def zip_bomb() -> bytes:
    """export.bin of 100 MB of zeros, deflated to about 100 kB, its size declared honestly."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as archive:
        with archive.open("export.bin", "w") as entry:
            entry.write(HEADER)
            chunk = bytes(1 << 20)
            for _ in range(100):
                entry.write(chunk)
        archive.writestr("export.sig", b"")
    return out.getvalue()


@pytest.fixture
def inflated_bytes(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Counts the bytes zipfile hands out while a test runs."""
    counted: list[int] = []
    for name in ("read", "read1"):
        original: Callable[..., bytes] = getattr(zipfile.ZipExtFile, name)

        def counting(
            self: zipfile.ZipExtFile, n: int = -1, _original: Callable[..., bytes] = original
        ) -> bytes:
            data = _original(self, n)
            counted.append(len(data))
            return data

        monkeypatch.setattr(zipfile.ZipExtFile, name, counting)
    return counted


def test_zip_bomb_raises_oversize_error_without_inflating_it(
    zip_bomb: bytes, inflated_bytes: list[int]
) -> None:
    assert len(zip_bomb) < 1 << 20
    with pytest.raises(OversizeError):
        read_export(zip_bomb, VERIFIER_A)
    assert sum(inflated_bytes) < 1 << 20


def test_zip_bomb_that_understates_its_size_raises_export_error(
    zip_bomb: bytes, inflated_bytes: list[int]
) -> None:
    """The entry claims 1000 bytes (local and central headers); no more than that is handed out."""
    blob = bytearray(zip_bomb)
    central = blob.index(b"PK\x01\x02")
    blob[22:26] = (1000).to_bytes(4, "little")  # local header: uncompressed size
    blob[central + 24 : central + 28] = (1000).to_bytes(4, "little")  # central directory entry
    with pytest.raises(ExportError):
        read_export(bytes(blob), VERIFIER_A)
    assert sum(inflated_bytes) < 1 << 20


# ---- malformed content under a valid signature ----------------------------------------------


def export_with_key(key: bytes) -> bytes:
    message = export_pb2.TemporaryExposureKeyExport(start_timestamp=START, end_timestamp=END)
    return HEADER + message.SerializeToString() + b"\x3a" + bytes((len(key),)) + key


VALID_KEY = oracle_key(KEY).SerializeToString()


@pytest.mark.parametrize(
    "export_bin",
    [
        pytest.param(HEADER, id="no-timestamps"),
        pytest.param(HEADER + b"\xff", id="truncated-varint"),
        pytest.param(HEADER + b"\x09\x01\x02", id="truncated-fixed64"),
        pytest.param(HEADER + b"\x08\x01", id="start-as-varint"),
        pytest.param(HEADER + b"\x1b\x1c", id="group"),
        pytest.param(HEADER + b"\x00\x00", id="field-zero"),
        pytest.param(HEADER + b"\x1a\x05VN", id="length-past-end"),
        pytest.param(
            HEADER
            + export_pb2.TemporaryExposureKeyExport(start_timestamp=1, end_timestamp=2).SerializeToString()
            + b"\x1a\x02\xff\xfe",
            id="region-not-utf8",
        ),
        pytest.param(export_with_key(b"\x0a\x0f" + bytes(15) + VALID_KEY[18:]), id="key-15-bytes"),
        pytest.param(export_with_key(VALID_KEY[18:]), id="key-data-missing"),
        pytest.param(export_with_key(VALID_KEY + b"\x20\x00"), id="rolling-period-0"),
        pytest.param(export_with_key(VALID_KEY + b"\x20\x91\x01"), id="rolling-period-145"),
        pytest.param(export_with_key(VALID_KEY + b"\x18" + b"\xff" * 9 + b"\x01"), id="negative-start"),
        pytest.param(export_with_key(VALID_KEY + b"\x22\x00"), id="rolling-period-as-bytes"),
        pytest.param(export_with_key(b"\x0a\x10" + TEK + b"\x18"), id="key-truncated"),
    ],
)
def test_signed_but_malformed_export_bin_raises_bad_protobuf_error(export_bin: bytes) -> None:
    with pytest.raises(BadProtobufError):
        read_export(signed_zip(export_bin), VERIFIER_A)


@pytest.mark.parametrize(
    "export_sig",
    [
        pytest.param(b"\xff", id="truncated-varint"),
        pytest.param(b"\x0a\x05\x20\x01", id="length-past-end"),
        pytest.param(b"\x08\x01", id="signature-as-varint"),
        pytest.param(b"\x0a\x02\x10\x01", id="no-signature-info"),
        pytest.param(b"\x0a\x06\x0a\x04\x22\x02\xff\xfe", id="key-id-not-utf8"),
    ],
)
def test_malformed_export_sig_raises_bad_protobuf_error(export_sig: bytes) -> None:
    files = entries(write())
    with pytest.raises(BadProtobufError):
        read_export(rezip({**files, "export.sig": export_sig}), VERIFIER_A)


# ---- hostile bytes ----------------------------------------------------------------------------


VALID_BLOB = write(
    [KEY, DiagnosisKey(bytes(range(16)), ENIN + 144, 72, 5, ReportType.SELF_REPORT, -14)],
    revised_keys=[DiagnosisKey(TEK, ENIN, 144, 0, ReportType.REVOKED, None)],
)
VALID_EXPORT = read_export(VALID_BLOB, VERIFIER_A)
STORED_BLOB = rezip(entries(VALID_BLOB), zipfile.ZIP_STORED)

mutations = st.lists(
    st.tuples(
        st.sampled_from(["flip", "insert", "delete", "truncate"]),
        st.integers(0, 1 << 20),
        st.integers(1, 255),
    ),
    min_size=1,
    max_size=6,
)


def mutate(blob: bytes, steps: list[tuple[str, int, int]]) -> bytes:
    out = bytearray(blob)
    for op, where, value in steps:
        position = where % (len(out) + 1)
        if op == "insert":
            out[position:position] = bytes((value,))
        elif op == "truncate":
            del out[position:]
        elif position < len(out):
            if op == "flip":
                out[position] ^= value
            else:
                del out[position]
    return bytes(out)


@given(st.binary(max_size=600) | st.binary(max_size=600).map(lambda tail: b"PK\x03\x04" + tail))
def test_hostile_bytes_raise_only_export_error(blob: bytes) -> None:
    assert read_or_reject(blob) is None


@given(st.sampled_from([VALID_BLOB, STORED_BLOB]), mutations)
def test_mutated_export_raises_only_export_error_or_reads_the_original(base: bytes, steps: Any) -> None:
    """A mutation either is rejected or left export.bin intact (a zip timestamp, say)."""
    assert read_or_reject(mutate(base, steps)) in (None, VALID_EXPORT)


def test_every_flipped_byte_of_the_archive_raises_only_export_error_or_is_harmless() -> None:
    for base in (VALID_BLOB, STORED_BLOB):
        for position in range(len(base)):
            assert read_or_reject(flip(base, position)) in (None, VALID_EXPORT), position


@pytest.mark.slow
@settings(max_examples=max(settings.default.max_examples, 3000))
@given(st.sampled_from([VALID_BLOB, STORED_BLOB]), mutations)
def test_fuzz_mutated_exports_raise_only_export_error(base: bytes, steps: Any) -> None:
    assert read_or_reject(mutate(base, steps)) in (None, VALID_EXPORT)


@pytest.mark.slow
@settings(max_examples=max(settings.default.max_examples, 3000))
@given(st.binary(max_size=4000).map(lambda tail: b"PK\x03\x04" + tail) | st.binary(max_size=4000))
def test_fuzz_hostile_bytes_raise_only_export_error(blob: bytes) -> None:
    assert read_or_reject(blob) is None


# ---- keys -----------------------------------------------------------------------------------


def test_signing_key_pem_round_trip_signs_identically() -> None:
    loaded = SigningKey.from_pem(SIGNER_A.to_pem(), "452", "v1")
    assert loaded.sign(b"data") == SIGNER_A.sign(b"data")
    assert SigningKey.from_pem(SIGNER_A.to_pem().decode(), "452", "v1").sign(b"x") == SIGNER_A.sign(b"x")
    assert (loaded.key_id, loaded.key_version) == ("452", "v1")


def test_verification_key_pem_round_trip_keeps_the_key() -> None:
    loaded = VerificationKey.from_pem(VERIFIER_A.to_pem(), "452", "v1")
    assert loaded.fingerprint() == VERIFIER_A.fingerprint()
    assert loaded.to_pem() == VERIFIER_A.to_pem()
    assert read_export(write(), loaded).keys == (KEY,)
    assert (
        VerificationKey.from_pem(VERIFIER_A.to_pem().decode(), "452", "v1").fingerprint()
        == loaded.fingerprint()
    )


def test_fingerprint_is_sha256_of_the_der_public_key() -> None:
    der = PRIVATE_A.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    assert VERIFIER_A.fingerprint() == hashlib.sha256(der).hexdigest()


def test_generated_signing_keys_are_p256_and_distinct() -> None:
    first, second = SigningKey.generate("452", "v1"), SigningKey.generate("452", "v1")
    assert first.verification_key().fingerprint() != second.verification_key().fingerprint()
    assert read_export(write(signing_keys=[first]), first.verification_key()).keys == (KEY,)


def spki_pem(b64: str) -> str:
    lines = [b64[i : i + 64] for i in range(0, len(b64), 64)]
    return "-----BEGIN PUBLIC KEY-----\n" + "\n".join(lines) + "\n-----END PUBLIC KEY-----\n"


@pytest.mark.parametrize(
    ("b64", "key_id", "key_version"),
    [(SAMPLE_EXPORT_PUBLIC_KEY_B64, "310", "v1"), (EXAMPLE_SERVER_PUBLIC_KEY_B64, "ExampleServer", "v1")],
)
def test_real_gaen_verification_keys_load(b64: str, key_id: str, key_version: str) -> None:
    """Google's keys for its sample export (ContactTracingFeature.TEST_PARTNER_PUBLIC_KEYS)."""
    key = VerificationKey.from_pem(spki_pem(b64), key_id, key_version)
    assert key.fingerprint() == hashlib.sha256(base64.b64decode(b64)).hexdigest()
    assert (key.key_id, key.key_version) == (key_id, key_version)


P384_PRIVATE = ec.derive_private_key(5, ec.SECP384R1())
ED25519_PRIVATE = ed25519.Ed25519PrivateKey.from_private_bytes(bytes(32))


def pem_public(private: Any) -> bytes:
    return private.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def pem_private(private: Any, encryption: Any = None) -> bytes:
    return private.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        encryption or serialization.NoEncryption(),
    )


@pytest.mark.parametrize(
    "pem",
    [
        pytest.param(b"not a pem", id="garbage"),
        pytest.param("", id="empty"),
        pytest.param(lambda: pem_private(PRIVATE_A), id="private-key"),
        pytest.param(lambda: pem_public(P384_PRIVATE), id="p384"),
        pytest.param(lambda: pem_public(ED25519_PRIVATE), id="ed25519"),
    ],
)
def test_verification_key_from_bad_pem_raises_export_error(pem: Any) -> None:
    with pytest.raises(ExportError):
        VerificationKey.from_pem(pem() if callable(pem) else pem, "452", "v1")


@pytest.mark.parametrize(
    "pem",
    [
        pytest.param(b"not a pem", id="garbage"),
        pytest.param(lambda: pem_public(PRIVATE_A), id="public-key"),
        pytest.param(lambda: pem_private(P384_PRIVATE), id="p384"),
        pytest.param(lambda: pem_private(ED25519_PRIVATE), id="ed25519"),
        pytest.param(
            lambda: pem_private(PRIVATE_A, serialization.BestAvailableEncryption(b"secret")), id="encrypted"
        ),
    ],
)
def test_signing_key_from_bad_pem_raises_export_error(pem: Any) -> None:
    with pytest.raises(ExportError):
        SigningKey.from_pem(pem() if callable(pem) else pem, "452", "v1")


def test_keys_on_other_curves_are_refused() -> None:
    with pytest.raises(ExportError):
        SigningKey(P384_PRIVATE, "452", "v1")
    with pytest.raises(ExportError):
        VerificationKey(P384_PRIVATE.public_key(), "452", "v1")


@pytest.mark.parametrize("name", ["310", "452", "v1", "ExampleServer", "a_b_9", "x" * 64])
def test_valid_key_ids_and_versions_are_accepted(name: str) -> None:
    assert SigningKey(PRIVATE_A, name, name).signature_info() == SignatureInfo(name, name, ECDSA_SHA256_OID)
    assert VerificationKey(PRIVATE_A.public_key(), name, name).key_id == name


@pytest.mark.parametrize("name", ["", "x" * 65, "31 0", "v1-2", "v1.0", "é", "v1\n", None, 310])
def test_invalid_key_ids_and_versions_raise_export_error(name: Any) -> None:
    for make in (
        lambda: SigningKey(PRIVATE_A, name, "v1"),
        lambda: SigningKey(PRIVATE_A, "452", name),
        lambda: VerificationKey(PRIVATE_A.public_key(), name, "v1"),
        lambda: VerificationKey(PRIVATE_A.public_key(), "452", name),
        lambda: SigningKey.from_pem(SIGNER_A.to_pem(), name, "v1"),
    ):
        with pytest.raises(ExportError):
            make()


def test_key_reprs_do_not_leak_the_private_key() -> None:
    assert "452" in repr(SIGNER_A)
    assert "PRIVATE" not in repr(SIGNER_A)
    assert VERIFIER_A.fingerprint()[:16] in repr(VERIFIER_A)


# ---- write_export arguments -------------------------------------------------------------------


@pytest.mark.parametrize(
    "overrides",
    [
        {"start_timestamp": END + 1},
        {"start_timestamp": -1, "end_timestamp": 0},
        {"end_timestamp": 1 << 64},
        {"batch_num": 0},
        {"batch_num": 2, "batch_size": 1},
        {"region": ""},
        {"signing_keys": []},
        {"signing_keys": [SIGNER_A] * 11},
    ],
    ids=lambda o: ",".join(f"{k}={v!r:.20}" for k, v in o.items()),
)
def test_write_export_argument_validation_raises_export_error(overrides: dict[str, Any]) -> None:
    with pytest.raises(ExportError):
        write(**overrides)


def test_write_export_accepts_ten_signing_keys() -> None:
    assert read_export(write(signing_keys=[SIGNER_A] * 10), VERIFIER_A).keys == (KEY,)


@pytest.mark.parametrize(
    "key",
    [
        DiagnosisKey(bytes(15), ENIN),
        DiagnosisKey(bytes(17), ENIN),
        DiagnosisKey(TEK, -1),
        DiagnosisKey(TEK, 1 << 31),
        DiagnosisKey(TEK, ENIN, rolling_period=0),
        DiagnosisKey(TEK, ENIN, rolling_period=145),
        DiagnosisKey(TEK, ENIN, transmission_risk_level=-1),
        DiagnosisKey(TEK, ENIN, transmission_risk_level=9),
        DiagnosisKey(TEK, ENIN, report_type=6),
        DiagnosisKey(TEK, ENIN, report_type=-1),
        DiagnosisKey(TEK, ENIN, days_since_onset_of_symptoms=-15),
        DiagnosisKey(TEK, ENIN, days_since_onset_of_symptoms=15),
    ],
    ids=repr,
)
def test_writing_an_invalid_key_raises_export_error(key: DiagnosisKey) -> None:
    with pytest.raises(ExportError):
        write([key])
    with pytest.raises(ExportError):
        write([], revised_keys=[key])


def test_export_errors_are_value_errors_and_protocol_errors() -> None:
    for error in (BadEntriesError, BadHeaderError, BadProtobufError, BadSignatureError):
        assert issubclass(error, ExportError)
    for error in (NotAZipError, OversizeError, UnknownKeyError):
        assert issubclass(error, ExportError)
    assert issubclass(ExportError, ValueError)
    assert issubclass(ExportError, ProtocolError)
    assert export.ExportError is ExportError


key_strategy = st.builds(
    DiagnosisKey,
    st.binary(min_size=16, max_size=16),
    st.integers(0, 2**31 - 1),
    st.integers(1, 144),
    st.integers(-(2**31), 2**31 - 1),
    st.integers(0, 5),
    st.none() | st.integers(-(2**31), 2**31 - 1),
)


@given(st.lists(key_strategy, max_size=20), st.integers(-25, 25), st.integers(-25, 25))
def test_key_columns_hold_the_keys_they_were_given(keys: list[DiagnosisKey], i: int, j: int) -> None:
    columns = KeyColumns(keys)
    assert columns == keys and columns == tuple(keys) and list(columns) == keys and len(columns) == len(keys)
    assert columns[i:j] == keys[i:j]
    if -len(keys) <= i < len(keys):
        assert columns[i] == keys[i]
    else:
        with pytest.raises(IndexError):
            columns[i]
    assert columns != [*keys, DiagnosisKey(bytes(16), 0)]
    assert hash(columns) == hash(tuple(keys))
