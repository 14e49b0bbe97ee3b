"""protocol.keyfile: the key file a case hands to an official (JSON, compact bytes, QR text)."""

from __future__ import annotations

import contextlib
import hashlib
import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from protocol import keyfile
from protocol.errors import KeyFileError
from protocol.keyfile import MAX_KEYS, QR_PREFIX, dump, dump_compact, dump_qr, load, load_compact
from protocol.publish import UploadKey

# RFC 9285 §4.3 examples.
RFC_9285_EXAMPLES = [
    (b"AB", "BB8"),
    (b"Hello!!", "%69 VD92EX0"),
    (b"base-45", "UJCLQE7W581"),
    (b"ietf!", "QED8WEX0"),
]

upload_keys = st.builds(
    UploadKey,
    key_data=st.binary(min_size=16, max_size=16),
    rolling_start_number=st.integers(0, 2**31 - 1),
    rolling_period=st.integers(1, 144),
    transmission_risk=st.integers(0, 8),
)
key_lists = st.lists(upload_keys, min_size=1, max_size=MAX_KEYS, unique_by=lambda k: k.key_data)


def day_keys(count: int) -> list[UploadKey]:
    return [UploadKey(bytes([i]) * 16, 2642976 - 144 * i, 144, i % 9) for i in range(count)]


KEYS = day_keys(3)


# ---- round trips ------------------------------------------------------------------------


@given(key_lists)
def test_json_form_round_trips(keys: list[UploadKey]) -> None:
    text = dump(keys)
    assert json.loads(text)["format"] == "bluezone-keyfile"
    assert load(text) == keys


@given(key_lists)
def test_compact_form_round_trips(keys: list[UploadKey]) -> None:
    data = dump_compact(keys)
    assert data.startswith(b"BZK\x01")
    assert load_compact(data) == keys


@given(key_lists)
def test_qr_form_round_trips(keys: list[UploadKey]) -> None:
    text = dump_qr(keys)
    assert text.startswith(QR_PREFIX)
    assert set(text[len(QR_PREFIX) :]) <= set("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:")
    assert load(text) == keys


def test_load_detects_json_text() -> None:
    assert load(dump(KEYS)) == KEYS


def test_load_detects_json_bytes() -> None:
    assert load(dump(KEYS).encode()) == KEYS


def test_load_detects_compact_bytes() -> None:
    assert load(dump_compact(KEYS)) == KEYS
    assert load(bytearray(dump_compact(KEYS))) == KEYS


def test_load_detects_qr_text() -> None:
    assert load(dump_qr(KEYS)) == KEYS
    assert load(f"  {dump_qr(KEYS)}\n") == KEYS


def test_load_reads_qr_text_given_as_bytes() -> None:
    """QR text read from a file in binary mode; JSON bytes are accepted, so QR bytes should be too."""
    assert load(dump_qr(KEYS).encode()) == KEYS


def test_fifteen_keys_take_343_compact_bytes() -> None:
    """3 magic + version + count + 15 × 22 + 8 checksum: fits a version-15 QR code at level L."""
    assert len(dump_compact(day_keys(15))) == 343


def test_compact_layout_is_magic_version_count_records_checksum() -> None:
    key = UploadKey(bytes(range(16)), 0x01020304, 144, 7)
    data = dump_compact([key])
    assert data[:5] == b"BZK\x01\x01"
    assert data[5:27] == bytes(range(16)) + bytes.fromhex("04030201") + bytes((144, 7))
    assert len(data) == 35


# ---- checksum ---------------------------------------------------------------------------


def test_json_checksum_catches_a_changed_digit() -> None:
    text = dump(KEYS)
    changed = text.replace('"rollingStartNumber": 2642976', '"rollingStartNumber": 2642977', 1)
    assert changed != text
    with pytest.raises(KeyFileError, match="checksum"):
        load(changed)


def test_json_checksum_catches_a_changed_key_character() -> None:
    document = json.loads(dump(KEYS))
    key = document["temporaryExposureKeys"][1]["key"]
    document["temporaryExposureKeys"][1]["key"] = ("B" if key[0] == "A" else "A") + key[1:]
    with pytest.raises(KeyFileError, match="checksum"):
        load(json.dumps(document))


def test_json_without_checksum_raises() -> None:
    document = json.loads(dump(KEYS))
    del document["checksum"]
    with pytest.raises(KeyFileError):
        load(json.dumps(document))


def test_every_changed_byte_of_the_compact_form_is_caught() -> None:
    data = dump_compact(KEYS)
    for position in range(len(data)):
        for mask in (0x01, 0x80, 0xFF):
            changed = bytearray(data)
            changed[position] ^= mask
            with pytest.raises(KeyFileError):
                load_compact(bytes(changed))


def test_every_changed_character_of_the_qr_text_is_caught() -> None:
    text = dump_qr(KEYS)
    for position in range(len(QR_PREFIX), len(text)):
        replacement = "0" if text[position] != "0" else "1"
        with pytest.raises(KeyFileError):
            load(text[:position] + replacement + text[position + 1 :])


def test_truncated_or_extended_compact_form_is_rejected() -> None:
    data = dump_compact(KEYS)
    for changed in (data[:-1], data + b"\x00", data[:5]):
        with pytest.raises(KeyFileError):
            load_compact(changed)


# ---- invalid contents -------------------------------------------------------------------


@pytest.mark.parametrize("count", [0, MAX_KEYS + 1])
def test_dumping_zero_or_too_many_keys_raises(count: int) -> None:
    for form in (dump, dump_compact, dump_qr):
        with pytest.raises(KeyFileError):
            form(day_keys(count))


def test_dumping_a_repeated_key_raises() -> None:
    with pytest.raises(KeyFileError, match="repeat"):
        dump([KEYS[0], KEYS[0]])


@pytest.mark.parametrize(
    "document",
    [
        [],
        {"format": "something-else", "version": 1, "temporaryExposureKeys": []},
        {"format": "bluezone-keyfile", "version": 2, "temporaryExposureKeys": []},
        {"format": "bluezone-keyfile", "version": 1, "temporaryExposureKeys": {}},
        {"format": "bluezone-keyfile", "version": 1, "temporaryExposureKeys": [], "checksum": ""},
        {"format": "bluezone-keyfile", "version": 1, "temporaryExposureKeys": [{"key": "AAAA"}]},
        {"format": "bluezone-keyfile", "version": 1, "temporaryExposureKeys": [1, 2]},
    ],
    ids=repr,
)
def test_json_documents_that_are_not_valid_key_files_raise(document: object) -> None:
    with pytest.raises(KeyFileError):
        load(json.dumps(document))


def test_json_with_a_huge_integer_raises_key_file_error() -> None:
    """Python refuses to parse integers over 4300 digits with a plain ValueError."""
    with pytest.raises(KeyFileError):
        load('{"format": "bluezone-keyfile", "version": ' + "1" * 5000 + "}")


def test_deeply_nested_json_raises_key_file_error() -> None:
    with pytest.raises(KeyFileError):
        load("[" * 100_000 + "]" * 100_000)


def test_compact_form_of_another_version_raises() -> None:
    data = bytearray(dump_compact(KEYS))
    data[3] = 2
    with pytest.raises(KeyFileError, match="version"):
        load_compact(bytes(data))


def test_compact_form_holding_an_invalid_key_raises() -> None:
    """A rolling period of 0 inside a record with a correct checksum."""
    body = bytearray(dump_compact(KEYS)[:-8])
    body[5 + 20] = 0
    with pytest.raises(KeyFileError, match="invalid key"):
        load_compact(bytes(body) + hashlib.sha256(body).digest()[:8])


@given(st.text(max_size=300) | st.text(max_size=300).map(lambda t: QR_PREFIX + t))
def test_hostile_text_raises_only_key_file_error(text: str) -> None:
    with contextlib.suppress(KeyFileError):
        load(text)


@given(st.binary(max_size=300) | st.binary(max_size=300).map(lambda b: b"BZK\x01" + b))
def test_hostile_bytes_raise_only_key_file_error(data: bytes) -> None:
    with contextlib.suppress(KeyFileError):
        load(data)


@given(st.text(alphabet="0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:", max_size=60))
def test_hostile_base45_raises_only_key_file_error(text: str) -> None:
    with contextlib.suppress(KeyFileError):
        load(QR_PREFIX + text)


# ---- base45 (RFC 9285) ------------------------------------------------------------------


@pytest.mark.parametrize(("data", "text"), RFC_9285_EXAMPLES)
def test_base45_encodes_rfc_9285_examples(data: bytes, text: str) -> None:
    assert keyfile._b45encode(data) == text


@pytest.mark.parametrize(("data", "text"), RFC_9285_EXAMPLES)
def test_base45_decodes_rfc_9285_examples(data: bytes, text: str) -> None:
    assert keyfile._b45decode(text) == data


@given(st.binary(max_size=100))
def test_base45_round_trips(data: bytes) -> None:
    text = keyfile._b45encode(data)
    assert len(text) == 3 * (len(data) // 2) + 2 * (len(data) % 2)
    assert keyfile._b45decode(text) == data


@pytest.mark.parametrize("text", ["GGW", ":::", "A", "ABCD", "abc", "BB8?"])
def test_invalid_base45_raises_key_file_error(text: str) -> None:
    """ "GGW" is 65536, one past the largest triple; a lone character or a lower-case one is invalid."""
    with pytest.raises(KeyFileError):
        keyfile._b45decode(text)


def test_keyfile_reexports_its_error() -> None:
    assert keyfile.KeyFileError is KeyFileError
