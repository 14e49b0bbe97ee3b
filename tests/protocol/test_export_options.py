"""Reading the rest of the ecosystem's export files: named relaxations, never silent ones.

The files are built here to the shapes the issue reports (no vendor file is vendored): the
Netherlands' production zips carry a third entry, ``content.sig``; research files come without
a signature; some files lack timestamps. Then Google's importer rules (``FromExportKey``) for
keys from another server.
"""

from __future__ import annotations

import io
import zipfile

import pytest

from protocol._proto import export_pb2
from protocol.export import (
    ANALYSIS,
    BIN_NAME,
    HEADER,
    SIG_NAME,
    STRICT,
    BadEntriesError,
    BadProtobufError,
    DiagnosisKey,
    ImportRules,
    ReadOptions,
    SigningKey,
    UnknownKeyError,
    open_export,
    read_export,
    write_export,
)

SIGNER = SigningKey.generate("204", "v1")  # the Netherlands' mobile country code
VERIFIER = SIGNER.verification_key()
KEYS = [DiagnosisKey(bytes([i]) * 16, 2_900_000 + 144 * i, 144, 2, 1, 0) for i in range(3)]


def _signed() -> bytes:
    return write_export(KEYS, start_timestamp=1, end_timestamp=2, region="NL", signing_keys=[SIGNER])


def _rezip(entries: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        for name, data in entries.items():
            archive.writestr(name, data)
    return out.getvalue()


def _entries(blob: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(blob)) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


def test_a_third_entry_needs_the_named_option() -> None:
    dutch = _rezip({**_entries(_signed()), "content.sig": b"\x30\x45 a CMS signature over the rest"})
    with pytest.raises(BadEntriesError, match="extra_entries=True"):
        open_export(dutch, VERIFIER)
    reader = open_export(dutch, VERIFIER, options=ReadOptions(extra_entries=True))
    keys = list(reader.keys())
    assert reader.verified and [k.key_data for k in keys] == [k.key_data for k in KEYS]


def test_extra_entries_never_excuse_a_missing_signature() -> None:
    entries = _entries(_signed())
    lacking = _rezip({BIN_NAME: entries[BIN_NAME], "content.sig": b""})
    with pytest.raises(BadEntriesError, match=r"export\.sig"):
        open_export(lacking, VERIFIER, options=ReadOptions(extra_entries=True))


def test_an_unsigned_research_file_reads_only_for_analysis() -> None:
    research = _rezip({BIN_NAME: _entries(_signed())[BIN_NAME]})
    with pytest.raises(BadEntriesError):
        open_export(research, VERIFIER)
    reader = open_export(research, [], options=ReadOptions(unsigned=True))
    assert reader.verified is False and reader.key_count == 3


def test_unsigned_reading_does_not_verify_and_says_so() -> None:
    other = SigningKey.generate("999", "v1").verification_key()
    with pytest.raises(UnknownKeyError):
        open_export(_signed(), other)
    assert open_export(_signed(), other, options=ReadOptions(unsigned=True)).verified is False
    assert open_export(_signed(), VERIFIER, options=STRICT).verified is True


def test_a_file_without_timestamps_needs_the_named_option() -> None:
    message = export_pb2.TemporaryExposureKeyExport(region="NL", batch_num=1, batch_size=1)
    key = message.keys.add()
    key.key_data, key.rolling_start_interval_number, key.rolling_period = bytes(16), 2_900_000, 144
    export_bin = HEADER + message.SerializeToString()
    blob = _rezip({BIN_NAME: export_bin, SIG_NAME: b""})
    with pytest.raises(BadProtobufError, match="missing_timestamps=True"):
        open_export(blob, [], options=ReadOptions(unsigned=True))
    export = read_export(blob, [], options=ANALYSIS)
    assert (export.start_timestamp, export.end_timestamp) == (0, 0) and len(export.keys) == 1


# ---- Google's importer rules ------------------------------------------------------------------


def _file_with(*keys: dict[str, object]) -> bytes:
    message = export_pb2.TemporaryExposureKeyExport(start_timestamp=1, end_timestamp=2, region="DE")
    for fields in keys:
        key = message.keys.add()
        for name, value in fields.items():
            setattr(key, name, value)
    return _rezip({BIN_NAME: HEADER + message.SerializeToString(), SIG_NAME: b""})


GOOD = {"key_data": bytes(16), "rolling_start_interval_number": 2_900_000}


@pytest.mark.parametrize(
    ("fields", "refusal"),
    [
        ({**GOOD, "key_data": bytes(15)}, "invalid key length"),
        ({**GOOD, "report_type": 3}, "unsupported report type: 3"),  # SELF_REPORT
        ({**GOOD, "report_type": 5}, "unsupported report type: 5"),  # RECURSIVE
        ({**GOOD, "report_type": 4}, "revoked key when not allowed"),
        ({**GOOD, "transmission_risk_level": 9}, "transmission risk out of range"),
        ({"key_data": bytes(16)}, "missing rolling_start_interval_number"),
        ({**GOOD, "rolling_period": 145}, "rolling period out of range"),
        ({**GOOD, "days_since_onset_of_symptoms": 15}, "days since onset of symptoms out of range"),
    ],
)
def test_the_importer_refuses_what_google_refuses(fields: dict[str, object], refusal: str) -> None:
    reader = open_export(_file_with(GOOD, fields), [], options=ReadOptions(unsigned=True))
    accepted, refused = reader.import_keys(ImportRules(default_report_type=1))
    assert len(accepted) == 1 and len(refused) == 1
    assert refused[0].startswith("key 1:") and refusal in refused[0]


def test_the_importer_backfills_as_google_does() -> None:
    reader = open_export(
        _file_with(GOOD, {**GOOD, "report_type": 2}, {**GOOD, "report_type": 4, "rolling_period": 72}),
        [],
        options=ReadOptions(unsigned=True),
    )
    accepted, refused = reader.import_keys(
        ImportRules(default_report_type=1, allow_revoked=True, backfill_days_since_onset=0)
    )
    assert refused == []
    assert [(k.report_type, k.transmission_risk_level) for k in accepted] == [(1, 2), (2, 4), (4, 6)]
    assert [k.rolling_period for k in accepted] == [144, 144, 72]  # absent is 144
    assert {k.days_since_onset_of_symptoms for k in accepted} == {0}
    likely = reader.import_keys(ImportRules(default_report_type=1, allow_clinical=False))[1]
    assert any("likely key when not allowed" in r for r in likely)
