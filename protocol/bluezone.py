"""The Bluezone v2 ID scheme, as deployed in Vietnam (2020–2021). Second scheme; never the default.

From the app's source (``ios/Scanner/BluezoneId/BluezoneIdGenerator.swift``, the Android twins
under ``com/scan/bluezoneid/``), as summarised in ``shared/spec/peers.md`` §1.3; same section
order as :mod:`protocol.keys`:

1. **Base key**: 32 random bytes made at first run, with the UTC day ``d0`` it was made on.
2. **Daily key** for day ``d``: SHA-256 applied ``d − d0`` times to the base key.
3. **Sub-keys**: ``subkey_0 = SHA-256(daily_key || "bluzonesubkey")`` (sic), ``subkey_{i+1} =
   SHA-256(subkey_i)``; 96 a day, slot ``i`` starting at UTC midnight + ``i`` × 15 min.
4. **BLID**: the 12 bytes of a sub-key at positions 0, 4, 8, 12, 16, 18, …, 30.
5. **Radio**: 16-bit service UUID 0x4E56 ("VN") and manufacturer data with company id 0x22B5
   carrying the BLID (Android). iOS served the BLID over GATT only.

Why it is not our default: the daily keys form a *forward* hash chain, so a published daily key
reveals every later day's IDs, and the deployed app uploaded the base key itself, linking every
ID since install. Unlike GAEN there is no metadata (no TX power, so no attenuation) and no time
binding beyond the slot. It is here for compatibility with the deployed system and for the
simulator's comparisons.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterable
from dataclasses import dataclass

from protocol.errors import BluezoneIdError

__all__ = [
    "BASE_KEY_LENGTH",
    "BLID_LENGTH",
    "COMPANY_ID",
    "SERVICE_UUID",
    "SERVICE_UUID16",
    "SLOTS_PER_DAY",
    "BlidMatch",
    "BluezoneIdError",
    "advertising_data",
    "blid",
    "blids",
    "daily_key",
    "manufacturer_data",
    "match_daily_key",
    "parse_advertising_data",
    "parse_manufacturer_data",
    "slot_of",
    "subkeys",
]

# ---- constants --------------------------------------------------------------------------

SERVICE_UUID16 = 0x4E56
SERVICE_UUID = "00004e56-0000-1000-8000-00805f9b34fb"
COMPANY_ID = 0x22B5
"""Manufacturer-data company id the Android app advertised under (8885)."""
BASE_KEY_LENGTH = 32
BLID_LENGTH = 12
SLOTS_PER_DAY = 96
"""``MaxNumberSubKeyPerDay``; remotely configurable in the app, 96 (15-minute slots) by default."""
_SUBKEY_LABEL = b"bluzonesubkey"  # spelled so in the app's source
_BLID_POSITIONS = (0, 4, 8, 12, 16, 18, 20, 22, 24, 26, 28, 30)
_DAY_SECONDS = 86_400
_AD_TYPE_COMPLETE_UUID16 = 0x03
_AD_TYPE_MANUFACTURER = 0xFF
_LEGACY_AD_MAX = 31


# ---- keys -------------------------------------------------------------------------------


def daily_key(base_key: bytes, days_since_base: int) -> bytes:
    """SHA-256 applied ``days_since_base`` times to the base key (day 0 is the base key)."""
    if len(base_key) != BASE_KEY_LENGTH:
        raise BluezoneIdError(f"base key must be {BASE_KEY_LENGTH} bytes, got {len(base_key)}")
    if days_since_base < 0:
        raise BluezoneIdError(f"days since base must be >= 0, got {days_since_base}")
    key = bytes(base_key)
    for _ in range(days_since_base):
        key = hashlib.sha256(key).digest()
    return key


def subkeys(daily: bytes, count: int = SLOTS_PER_DAY) -> list[bytes]:
    """The day's sub-keys, one per slot."""
    if len(daily) != BASE_KEY_LENGTH:
        raise BluezoneIdError(f"daily key must be {BASE_KEY_LENGTH} bytes, got {len(daily)}")
    if not 1 <= count <= _DAY_SECONDS:
        raise BluezoneIdError(f"slots per day must be 1..{_DAY_SECONDS}, got {count}")
    key = hashlib.sha256(bytes(daily) + _SUBKEY_LABEL).digest()
    out = [key]
    for _ in range(count - 1):
        key = hashlib.sha256(key).digest()
        out.append(key)
    return out


def blid(subkey: bytes) -> bytes:
    """The 12 bytes of a sub-key that go on the air."""
    if len(subkey) != BASE_KEY_LENGTH:
        raise BluezoneIdError(f"sub-key must be {BASE_KEY_LENGTH} bytes, got {len(subkey)}")
    return bytes(subkey[i] for i in _BLID_POSITIONS)


def blids(daily: bytes, count: int = SLOTS_PER_DAY) -> list[bytes]:
    """The day's BLIDs; BLID ``i`` is broadcast in slot ``i``."""
    return [blid(key) for key in subkeys(daily, count)]


def slot_of(unix_seconds: float, count: int = SLOTS_PER_DAY) -> tuple[int, int]:
    """``(utc_day_number, slot)`` of a moment."""
    if not math.isfinite(unix_seconds) or unix_seconds < 0:
        raise BluezoneIdError(f"time must be finite seconds since the Unix epoch, got {unix_seconds}")
    day, into = divmod(int(unix_seconds), _DAY_SECONDS)
    return day, into * count // _DAY_SECONDS


# ---- radio ------------------------------------------------------------------------------


def manufacturer_data(blid_value: bytes) -> bytes:
    """Manufacturer-specific data payload as bleak reports it keyed by company id: the BLID."""
    if len(blid_value) != BLID_LENGTH:
        raise BluezoneIdError(f"BLID must be {BLID_LENGTH} bytes, got {len(blid_value)}")
    return bytes(blid_value)


def parse_manufacturer_data(data: bytes) -> bytes:
    if len(data) != BLID_LENGTH:
        raise BluezoneIdError(
            f"Bluezone manufacturer data must be a {BLID_LENGTH}-byte BLID, got {len(data)} bytes"
        )
    return bytes(data)


def advertising_data(blid_value: bytes) -> bytes:
    """Legacy advertising payload: UUID list 0x4E56, manufacturer data 0x22B5 || BLID."""
    payload = COMPANY_ID.to_bytes(2, "little") + manufacturer_data(blid_value)
    return (
        bytes((3, _AD_TYPE_COMPLETE_UUID16))
        + SERVICE_UUID16.to_bytes(2, "little")
        + bytes((1 + len(payload), _AD_TYPE_MANUFACTURER))
        + payload
    )


def parse_advertising_data(data: bytes) -> bytes:
    """Find the Bluezone BLID in a legacy advertising payload."""
    if len(data) > _LEGACY_AD_MAX:
        raise BluezoneIdError(f"legacy advertising data is at most 31 bytes, got {len(data)}")
    pos = 0
    while pos < len(data) and data[pos]:
        end = pos + 1 + data[pos]
        if end > len(data):
            raise BluezoneIdError(f"AD structure at byte {pos} runs past the end")
        ad_type, value = data[pos + 1], bytes(data[pos + 2 : end])
        if ad_type == _AD_TYPE_MANUFACTURER and value[:2] == COMPANY_ID.to_bytes(2, "little"):
            return parse_manufacturer_data(value[2:])
        pos = end
    raise BluezoneIdError("no Bluezone (0x22B5) manufacturer data in the advertising payload")


# ---- matching ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class BlidMatch:
    """Sighting ``index`` (in the order given) carried the BLID of ``slot`` of the key's day."""

    index: int
    slot: int


def match_daily_key(
    daily: bytes,
    utc_day: int,
    sightings: Iterable[tuple[bytes, float]],
    *,
    count: int = SLOTS_PER_DAY,
    tolerance_slots: int = 1,
) -> list[BlidMatch]:
    """Match a published daily key for ``utc_day`` against ``(blid, unix_seconds)`` sightings.

    Slot by slot: a sighting matches BLID ``i`` only when it was heard within
    ``tolerance_slots`` slots of slot ``i`` of that day (clock drift between phones), so a BLID
    replayed hours later does not match.
    """
    by_blid = {value: slot for slot, value in enumerate(blids(daily, count))}
    slot_seconds = _DAY_SECONDS / count
    day_start = utc_day * _DAY_SECONDS
    matches = []
    for index, (value, when) in enumerate(sightings):
        slot = by_blid.get(bytes(value))
        if slot is None:
            continue
        heard_slot = (when - day_start) // slot_seconds
        if abs(heard_slot - slot) <= tolerance_slots:
            matches.append(BlidMatch(index, slot))
    return matches
