"""protocol.advert: the 0xFD6F advertisement and its metadata (Bluetooth spec v1.2, gaen.md §2)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from protocol import advert
from protocol.advert import (
    Metadata,
    advertising_data,
    parse_advertising_data,
    parse_service_data,
    service_data,
)
from protocol.errors import PayloadError, ProtocolError
from tests.protocol.gaen_vectors import AEMS, METADATA, RPIS

# gaen.md §2.1: Flags, Complete 16-bit UUID list 0xFD6F, Service Data header (mh-/en_beacon.py).
AD_PREFIX = bytes.fromhex("02011a03036ffd17166ffd")
# gaen.md §2.2: "metadata 40 08 00 00 = v1.0, TX power +8 dBm" (also the GAEN vectors' BLE_METADATA).
METADATA_V10_PLUS_8_DBM = bytes.fromhex("40080000")

RPI = RPIS[0]
AEM = AEMS[0]


@st.composite
def metadata_values(draw: st.DrawFn) -> Metadata:
    minor = draw(st.integers(0, 3))
    confidence = draw(st.integers(0, 3)) if minor >= 1 else 0
    tx_power = draw(st.integers(-127, 127))
    return Metadata(tx_power, version_minor=minor, calibration_confidence=confidence)


# ---- Metadata -----------------------------------------------------------------------------


@given(metadata_values())
def test_metadata_round_trips_through_bytes(metadata: Metadata) -> None:
    data = metadata.to_bytes()
    assert len(data) == 4
    assert data[2:] == b"\x00\x00"
    assert Metadata.from_bytes(data) == metadata
    assert Metadata.from_bytes(data).to_bytes() == data


def test_metadata_example_is_version_1_0_at_plus_8_dbm() -> None:
    metadata = Metadata.from_bytes(METADATA_V10_PLUS_8_DBM)
    assert metadata == Metadata(8)
    assert (metadata.version_major, metadata.version_minor, metadata.calibration_confidence) == (1, 0, 0)
    assert Metadata(8).to_bytes() == METADATA_V10_PLUS_8_DBM == METADATA


def test_version_1_0_metadata_starts_with_0x40() -> None:
    assert Metadata(-15).to_bytes() == bytes.fromhex("40f10000")


@pytest.mark.parametrize("confidence", range(4))
def test_version_1_1_metadata_carries_calibration_confidence_in_bits_3_2(confidence: int) -> None:
    data = bytes((0x50 | confidence << 2, 0xF1, 0, 0))
    metadata = Metadata.from_bytes(data)
    assert metadata == Metadata(-15, version_minor=1, calibration_confidence=confidence)
    assert metadata.to_bytes() == data


@pytest.mark.parametrize("version_byte", range(0x50, 0x60))
def test_every_0x5x_version_byte_parses_as_version_1_1(version_byte: int) -> None:
    metadata = Metadata.from_bytes(bytes((version_byte, 8, 0, 0)))
    assert (metadata.version_major, metadata.version_minor) == (1, 1)
    assert metadata.calibration_confidence == (version_byte >> 2) & 0b11


@pytest.mark.parametrize("version_byte", range(0x40, 0x50))
def test_reserved_bits_of_a_0x4x_version_byte_are_ignored(version_byte: int) -> None:
    assert Metadata.from_bytes(bytes((version_byte, 8, 0, 0))) == Metadata(8)


def test_reserved_bits_1_0_of_a_version_1_1_byte_are_ignored() -> None:
    assert Metadata.from_bytes(bytes((0x53, 8, 0, 0))) == Metadata(8, version_minor=1)


@given(st.binary(min_size=2, max_size=2))
def test_reserved_bytes_2_and_3_are_ignored(reserved: bytes) -> None:
    assert Metadata.from_bytes(b"\x40\x08" + reserved) == Metadata(8)


def test_tx_power_is_a_signed_byte() -> None:
    assert Metadata.from_bytes(bytes((0x40, 0x81, 0, 0))).tx_power_dbm == -127
    assert Metadata.from_bytes(bytes((0x40, 0x7F, 0, 0))).tx_power_dbm == 127
    assert Metadata(-1).to_bytes()[1] == 0xFF


def test_tx_power_byte_0x80_reads_as_minus_128_and_is_rejected() -> None:
    with pytest.raises(PayloadError, match="-128"):
        Metadata.from_bytes(bytes((0x40, 0x80, 0, 0)))


@pytest.mark.parametrize("tx_power", [-128, 128, -1000, 1000])
def test_tx_power_outside_minus_127_to_127_raises(tx_power: int) -> None:
    with pytest.raises(PayloadError):
        Metadata(tx_power)


def test_calibration_confidence_with_minor_version_0_raises() -> None:
    with pytest.raises(PayloadError):
        Metadata(8, version_minor=0, calibration_confidence=1)


@pytest.mark.parametrize("major", [0, 2, 3])
def test_major_version_other_than_1_raises(major: int) -> None:
    with pytest.raises(PayloadError):
        Metadata(8, version_major=major)
    with pytest.raises(PayloadError):
        Metadata.from_bytes(bytes((major << 6, 8, 0, 0)))


@pytest.mark.parametrize(("minor", "confidence"), [(-1, 0), (4, 0), (1, -1), (1, 4)])
def test_minor_version_or_confidence_outside_two_bits_raises(minor: int, confidence: int) -> None:
    with pytest.raises(PayloadError):
        Metadata(8, version_minor=minor, calibration_confidence=confidence)


@pytest.mark.parametrize("size", [0, 3, 5, 16])
def test_metadata_of_the_wrong_length_raises(size: int) -> None:
    with pytest.raises(PayloadError, match=str(size)):
        Metadata.from_bytes(bytes(size))


def test_metadata_is_frozen() -> None:
    metadata = Metadata(8)
    with pytest.raises(AttributeError):
        metadata.tx_power_dbm = 0  # type: ignore[misc]


# ---- service data -----------------------------------------------------------------------------


@given(st.binary(min_size=16, max_size=16), st.binary(min_size=4, max_size=4))
def test_service_data_round_trips(rpi: bytes, aem: bytes) -> None:
    data = service_data(rpi, aem)
    assert data == rpi + aem
    assert parse_service_data(data) == (rpi, aem)


def test_parse_service_data_returns_bytes_for_a_bytearray() -> None:
    rpi, aem = parse_service_data(bytearray(RPI + AEM))
    assert (type(rpi), type(aem)) == (bytes, bytes)


@pytest.mark.parametrize(("rpi_size", "aem_size"), [(15, 4), (17, 4), (16, 3), (16, 5), (0, 0)])
def test_service_data_with_wrong_lengths_raises(rpi_size: int, aem_size: int) -> None:
    with pytest.raises(PayloadError):
        service_data(bytes(rpi_size), bytes(aem_size))


@pytest.mark.parametrize("size", [0, 16, 19, 21, 31])
def test_parse_service_data_of_the_wrong_length_raises(size: int) -> None:
    with pytest.raises(PayloadError):
        parse_service_data(bytes(size))


# ---- advertising data -------------------------------------------------------------------------


def test_advertising_data_is_the_31_byte_spec_layout() -> None:
    data = advertising_data(RPI, AEM)
    assert len(data) == 31
    assert data == AD_PREFIX + RPI + AEM


@given(st.binary(min_size=16, max_size=16), st.binary(min_size=4, max_size=4))
def test_advertising_data_round_trips(rpi: bytes, aem: bytes) -> None:
    assert parse_advertising_data(advertising_data(rpi, aem)) == (rpi, aem)


def test_parse_advertising_data_finds_service_data_after_other_structures() -> None:
    service = bytes.fromhex("17166ffd") + RPI + AEM
    assert parse_advertising_data(bytes.fromhex("020106") + service) == (RPI, AEM)


def test_parse_advertising_data_ignores_service_data_of_another_uuid() -> None:
    other = bytes.fromhex("1716aafe") + RPI + AEM
    with pytest.raises(PayloadError):
        parse_advertising_data(other)


def test_parse_advertising_data_stops_at_a_zero_length_structure() -> None:
    data = bytes.fromhex("020106") + b"\x00" + bytes.fromhex("17166ffd") + RPI + AEM
    with pytest.raises(PayloadError):
        parse_advertising_data(data)


def test_parse_advertising_data_with_truncated_structure_raises() -> None:
    with pytest.raises(PayloadError):
        parse_advertising_data(advertising_data(RPI, AEM)[:-1])


def test_parse_advertising_data_longer_than_31_bytes_raises() -> None:
    with pytest.raises(PayloadError):
        parse_advertising_data(advertising_data(RPI, AEM) + b"\x00")


def test_service_data_with_the_wrong_payload_length_raises() -> None:
    data = bytes.fromhex("02011a03036ffd16166ffd") + RPI + AEM[:3]
    with pytest.raises(PayloadError):
        parse_advertising_data(data)


# ---- hostile bytes ----------------------------------------------------------------------------


@given(st.binary(max_size=40))
def test_hostile_bytes_into_parse_service_data_raise_only_payload_error(data: bytes) -> None:
    try:
        rpi, aem = parse_service_data(data)
    except PayloadError:
        return
    assert rpi + aem == data


ad_structures = st.lists(
    st.tuples(
        st.sampled_from([0x01, 0x03, 0x16, 0xFF]),
        st.sampled_from([b"", b"\x6f\xfd"]),
        st.binary(max_size=24),
    ).map(lambda s: bytes((1 + len(s[1]) + len(s[2]), s[0])) + s[1] + s[2]),
    max_size=4,
).map(lambda parts: b"".join(parts)[:31])


@given(st.one_of(st.binary(max_size=40), ad_structures))
def test_hostile_bytes_into_parse_advertising_data_raise_only_payload_error(data: bytes) -> None:
    try:
        rpi, aem = parse_advertising_data(data)
    except PayloadError:
        return
    assert (rpi + aem) in data


@given(st.binary(max_size=8))
def test_hostile_bytes_into_metadata_from_bytes_raise_only_payload_error(data: bytes) -> None:
    try:
        metadata = Metadata.from_bytes(data)
    except PayloadError as exc:
        assert isinstance(exc, ProtocolError)
        return
    assert metadata.to_bytes()[1] == data[1]


def test_advert_reexports_its_error() -> None:
    assert advert.PayloadError is PayloadError
