"""The Exposure Notification BLE advertisement: service 0xFD6F carrying RPI || AEM.

Exposure Notification Bluetooth Specification v1.2 (Google/Apple), sections "Exposure
Notification Service" and "Advertising Payload"; metadata v1.1 from Google's
``BluetoothMetadata.java``. Byte layouts are in ``shared/spec/gaen.md`` §2.
"""

from __future__ import annotations

from dataclasses import dataclass

from protocol.errors import PayloadError

__all__ = [
    "AD_FLAGS",
    "AEM_LENGTH",
    "METADATA_LENGTH",
    "RPI_LENGTH",
    "SERVICE_DATA_LENGTH",
    "SERVICE_UUID",
    "SERVICE_UUID16",
    "Metadata",
    "PayloadError",
    "advertising_data",
    "parse_advertising_data",
    "parse_service_data",
    "service_data",
]

SERVICE_UUID16 = 0xFD6F
"""16-bit service UUID registered with the Bluetooth SIG for Exposure Notification."""

SERVICE_UUID = "0000fd6f-0000-1000-8000-00805f9b34fb"
"""The same UUID in the 128-bit form bleak reports (lower case)."""

RPI_LENGTH = 16
AEM_LENGTH = 4
METADATA_LENGTH = 4
SERVICE_DATA_LENGTH = RPI_LENGTH + AEM_LENGTH

AD_FLAGS = 0x1A
"""Flags AD value used by GAEN beacons: LE General Discoverable (bit 1) and BR/EDR bits 3, 4."""

# AD types, Bluetooth Core Specification Supplement, Part A, §1.
_AD_TYPE_FLAGS = 0x01
_AD_TYPE_COMPLETE_UUID16 = 0x03
_AD_TYPE_SERVICE_DATA_UUID16 = 0x16
_UUID16_LE = SERVICE_UUID16.to_bytes(2, "little")
_LEGACY_AD_MAX = 31

_TX_POWER_MIN, _TX_POWER_MAX = -127, 127


@dataclass(frozen=True, slots=True)
class Metadata:
    """The 4 plaintext bytes encrypted into the AEM ("LSB first").

    Byte 0: version, major in bits 7:6, minor in bits 5:4; from minor 1 on, bits 3:2 carry the
    TX-power calibration confidence (0 LOWEST … 3 HIGH). Byte 1: TX power in dBm (signed).
    Bytes 2–3: reserved, zero. Version 1.0 is ``0x40``, 1.1 is ``0x5X``.
    """

    tx_power_dbm: int
    version_major: int = 1
    version_minor: int = 0
    calibration_confidence: int = 0

    def __init__(
        self,
        tx_power_dbm: int,
        *,
        version_major: int = 1,
        version_minor: int = 0,
        calibration_confidence: int = 0,
    ) -> None:
        if version_major != 1:
            raise PayloadError(f"metadata major version must be 1, got {version_major}")
        if not 0 <= version_minor <= 3:
            raise PayloadError(f"metadata minor version must be 0..3, got {version_minor}")
        if not 0 <= calibration_confidence <= 3:
            raise PayloadError(f"calibration confidence must be 0..3, got {calibration_confidence}")
        if calibration_confidence and version_minor < 1:
            raise PayloadError("calibration confidence needs metadata version 1.1 or later")
        if not _TX_POWER_MIN <= tx_power_dbm <= _TX_POWER_MAX:
            raise PayloadError(f"TX power must be {_TX_POWER_MIN}..{_TX_POWER_MAX} dBm, got {tx_power_dbm}")
        object.__setattr__(self, "tx_power_dbm", tx_power_dbm)
        object.__setattr__(self, "version_major", version_major)
        object.__setattr__(self, "version_minor", version_minor)
        object.__setattr__(self, "calibration_confidence", calibration_confidence)

    def to_bytes(self) -> bytes:
        version = (self.version_major << 6) | (self.version_minor << 4)
        version |= self.calibration_confidence << 2
        return bytes((version, self.tx_power_dbm & 0xFF, 0, 0))

    @classmethod
    def from_bytes(cls, data: bytes) -> Metadata:
        """Parse decrypted metadata; reserved bits and bytes are ignored, as receivers must."""
        if len(data) != METADATA_LENGTH:
            raise PayloadError(f"metadata must be {METADATA_LENGTH} bytes, got {len(data)}")
        major, minor = data[0] >> 6, (data[0] >> 4) & 0b11
        confidence = (data[0] >> 2) & 0b11 if minor >= 1 else 0
        tx_power = data[1] - 256 if data[1] > 127 else data[1]
        return cls(
            tx_power,
            version_major=major,
            version_minor=minor,
            calibration_confidence=confidence,
        )


def service_data(rpi: bytes, aem: bytes) -> bytes:
    """The Service Data payload for UUID 0xFD6F: RPI (16 bytes) || AEM (4 bytes)."""
    if len(rpi) != RPI_LENGTH:
        raise PayloadError(f"RPI must be {RPI_LENGTH} bytes, got {len(rpi)}")
    if len(aem) != AEM_LENGTH:
        raise PayloadError(f"AEM must be {AEM_LENGTH} bytes, got {len(aem)}")
    return bytes(rpi) + bytes(aem)


def parse_service_data(data: bytes) -> tuple[bytes, bytes]:
    """Split 0xFD6F service data into ``(rpi, aem)``."""
    if len(data) != SERVICE_DATA_LENGTH:
        raise PayloadError(
            f"0xFD6F service data must be {SERVICE_DATA_LENGTH} bytes (RPI 16 + AEM 4), got {len(data)}"
        )
    data = bytes(data)
    return data[:RPI_LENGTH], data[RPI_LENGTH:]


def advertising_data(rpi: bytes, aem: bytes) -> bytes:
    """The 31-byte legacy advertising payload: Flags, UUID list 0xFD6F, Service Data.

    ``02 01 1A | 03 03 6F FD | 17 16 6F FD <RPI> <AEM>`` (Bluetooth spec v1.2, "Advertising Payload").
    """
    payload = service_data(rpi, aem)
    return (
        bytes((2, _AD_TYPE_FLAGS, AD_FLAGS))
        + bytes((3, _AD_TYPE_COMPLETE_UUID16))
        + _UUID16_LE
        + bytes((1 + 2 + SERVICE_DATA_LENGTH, _AD_TYPE_SERVICE_DATA_UUID16))
        + _UUID16_LE
        + payload
    )


def parse_advertising_data(data: bytes) -> tuple[bytes, bytes]:
    """Find the 0xFD6F Service Data in a legacy advertising payload and return ``(rpi, aem)``.

    Walks the AD structures (length, type, value); zero-length structures end the significant
    part, as the Core Specification (Vol 3, Part C, §11) says.
    """
    if len(data) > _LEGACY_AD_MAX:
        raise PayloadError(f"legacy advertising data is at most {_LEGACY_AD_MAX} bytes, got {len(data)}")
    pos = 0
    while pos < len(data):
        length = data[pos]
        if length == 0:
            break
        end = pos + 1 + length
        if end > len(data):
            raise PayloadError(f"AD structure at byte {pos} claims {length} bytes, past the end")
        ad_type, value = data[pos + 1], bytes(data[pos + 2 : end])
        if ad_type == _AD_TYPE_SERVICE_DATA_UUID16 and value[:2] == _UUID16_LE:
            return parse_service_data(value[2:])
        pos = end
    raise PayloadError("no 0xFD6F service data in the advertising payload")
