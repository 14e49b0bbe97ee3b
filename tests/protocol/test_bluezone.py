"""protocol.bluezone: the deployed Bluezone v2 ID scheme (shared/spec/peers.md §1.3)."""

from __future__ import annotations

import contextlib
import hashlib
import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from protocol import bluezone
from protocol.bluezone import (
    BLID_LENGTH,
    COMPANY_ID,
    SERVICE_UUID16,
    SLOTS_PER_DAY,
    BlidMatch,
    advertising_data,
    blid,
    blids,
    daily_key,
    manufacturer_data,
    match_daily_key,
    parse_advertising_data,
    parse_manufacturer_data,
    slot_of,
    subkeys,
)
from protocol.errors import BluezoneIdError

BASE = bytes(range(32))
DAY = 18354  # 2020-04-02, UTC day number
DAY_START = DAY * 86_400
SLOT_SECONDS = 86_400 // SLOTS_PER_DAY


def sha256(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


# ---- keys -------------------------------------------------------------------------------


def test_daily_key_of_day_zero_is_the_base_key() -> None:
    assert daily_key(BASE, 0) == BASE


def test_daily_key_of_day_two_is_sha256_twice() -> None:
    assert daily_key(BASE, 2) == sha256(sha256(BASE))


def test_daily_key_accepts_a_bytearray() -> None:
    assert daily_key(bytearray(BASE), 1) == sha256(BASE)


@pytest.mark.parametrize("size", [0, 16, 31, 33])
def test_daily_key_of_a_wrong_length_base_key_raises(size: int) -> None:
    with pytest.raises(BluezoneIdError):
        daily_key(bytes(size), 0)


def test_daily_key_before_the_base_day_raises() -> None:
    with pytest.raises(BluezoneIdError):
        daily_key(BASE, -1)


def test_subkeys_are_a_hash_chain_from_the_labelled_daily_key() -> None:
    """subkey_0 = SHA-256(daily || "bluzonesubkey") (sic), subkey_{i+1} = SHA-256(subkey_i)."""
    daily = daily_key(BASE, 3)
    keys = subkeys(daily)
    assert len(keys) == SLOTS_PER_DAY
    assert keys[0] == sha256(daily + b"bluzonesubkey")
    for previous, current in itertools.pairwise(keys):
        assert current == sha256(previous)


def test_subkeys_count_can_be_configured() -> None:
    assert subkeys(BASE, 4) == subkeys(BASE)[:4]


@pytest.mark.parametrize("count", [0, -1, 86_401])
def test_subkeys_count_out_of_range_raises(count: int) -> None:
    with pytest.raises(BluezoneIdError):
        subkeys(BASE, count)


def test_subkeys_of_a_wrong_length_daily_key_raise() -> None:
    with pytest.raises(BluezoneIdError):
        subkeys(bytes(16))


def test_blid_takes_bytes_0_4_8_12_then_every_second_from_16() -> None:
    subkey = bytes(range(100, 132))
    assert blid(subkey) == bytes(100 + i for i in (0, 4, 8, 12, 16, 18, 20, 22, 24, 26, 28, 30))
    assert len(blid(subkey)) == BLID_LENGTH


@pytest.mark.parametrize("size", [0, 12, 31, 33])
def test_blid_of_a_wrong_length_subkey_raises(size: int) -> None:
    with pytest.raises(BluezoneIdError):
        blid(bytes(size))


def test_a_day_has_96_distinct_blids_one_per_subkey() -> None:
    daily = daily_key(BASE, 1)
    values = blids(daily)
    assert len(values) == SLOTS_PER_DAY == 96
    assert len(set(values)) == 96
    assert values == [blid(key) for key in subkeys(daily)]


def test_forward_hash_chain_links_days() -> None:
    """Documented weakness: a published daily key for day d reveals day d + 1's BLIDs (and all later)."""
    published = daily_key(BASE, 5)
    assert blids(sha256(published)) == blids(daily_key(BASE, 6))
    assert blids(sha256(sha256(published))) == blids(daily_key(BASE, 7))


def test_slot_of_is_the_utc_day_and_the_quarter_hour() -> None:
    assert slot_of(DAY_START) == (DAY, 0)
    assert slot_of(DAY_START + 3 * SLOT_SECONDS + 899) == (DAY, 3)
    assert slot_of(DAY_START + 86_399.9) == (DAY, 95)
    assert slot_of(DAY_START + 86_400) == (DAY + 1, 0)


def test_slot_of_before_the_epoch_raises() -> None:
    with pytest.raises(BluezoneIdError):
        slot_of(-1)


@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_slot_of_a_non_finite_time_raises_bluezone_id_error(bad: float) -> None:
    with pytest.raises(BluezoneIdError):
        slot_of(bad)


# ---- radio ------------------------------------------------------------------------------

BLID = blids(daily_key(BASE, 1))[7]


def test_advertising_data_is_uuid_list_then_manufacturer_data() -> None:
    """UUID 0x4E56 little endian; manufacturer data (0xFF) with company id 0x22B5 little endian, then BLID."""
    data = advertising_data(BLID)
    assert data == bytes.fromhex("0303564e0fffb522") + BLID
    assert len(data) == 20
    assert (SERVICE_UUID16, COMPANY_ID) == (0x4E56, 0x22B5)


@given(st.binary(min_size=12, max_size=12))
def test_advertising_data_round_trips(value: bytes) -> None:
    assert parse_advertising_data(advertising_data(value)) == value


@given(st.binary(min_size=12, max_size=12))
def test_manufacturer_data_round_trips(value: bytes) -> None:
    assert parse_manufacturer_data(manufacturer_data(value)) == value


def test_parse_advertising_data_finds_the_blid_after_flags() -> None:
    assert parse_advertising_data(bytes.fromhex("020106") + advertising_data(BLID)) == BLID


def test_parse_advertising_data_ignores_another_company() -> None:
    with pytest.raises(BluezoneIdError):
        parse_advertising_data(bytes.fromhex("0fff4c00") + BLID)


@pytest.mark.parametrize("size", [0, 11, 13])
def test_blid_of_the_wrong_length_raises(size: int) -> None:
    for function in (manufacturer_data, parse_manufacturer_data, advertising_data):
        with pytest.raises(BluezoneIdError):
            function(bytes(size))


def test_truncated_or_oversize_advertising_data_raises() -> None:
    data = advertising_data(BLID)
    with pytest.raises(BluezoneIdError):
        parse_advertising_data(data[:-1])
    with pytest.raises(BluezoneIdError):
        parse_advertising_data(data + bytes(12))


ad_structures = st.lists(
    st.tuples(
        st.sampled_from([0x01, 0x03, 0xFF]),
        st.sampled_from([b"", b"\xb5\x22"]),
        st.binary(max_size=14),
    ).map(lambda s: bytes((1 + len(s[1]) + len(s[2]), s[0])) + s[1] + s[2]),
    max_size=4,
).map(lambda parts: b"".join(parts)[:31])


@given(st.binary(max_size=40) | ad_structures)
def test_hostile_bytes_into_parse_advertising_data_raise_only_bluezone_id_error(data: bytes) -> None:
    try:
        value = parse_advertising_data(data)
    except BluezoneIdError:
        return
    assert value in data


@given(st.binary(max_size=40))
def test_hostile_bytes_into_parse_manufacturer_data_raise_only_bluezone_id_error(data: bytes) -> None:
    with contextlib.suppress(BluezoneIdError):
        assert parse_manufacturer_data(data) == data


# ---- matching ---------------------------------------------------------------------------

DAILY = daily_key(BASE, 1)
DAY_BLIDS = blids(DAILY)


def heard(slot: int, seconds_into_slot: float = 10) -> float:
    return DAY_START + slot * SLOT_SECONDS + seconds_into_slot


@pytest.mark.parametrize("slot", [0, 40, 95])
def test_sighting_in_its_own_slot_matches(slot: int) -> None:
    assert match_daily_key(DAILY, DAY, [(DAY_BLIDS[slot], heard(slot))]) == [BlidMatch(0, slot)]


@pytest.mark.parametrize("drift", [-1, 1])
def test_sighting_one_slot_early_or_late_matches(drift: int) -> None:
    assert match_daily_key(DAILY, DAY, [(DAY_BLIDS[40], heard(40 + drift))]) == [BlidMatch(0, 40)]


def test_sighting_across_midnight_within_one_slot_matches() -> None:
    assert match_daily_key(DAILY, DAY, [(DAY_BLIDS[0], DAY_START - 60)]) == [BlidMatch(0, 0)]


@pytest.mark.parametrize("drift", [-3, -2, 2, 3, 40])
def test_sighting_replayed_slots_away_does_not_match(drift: int) -> None:
    assert match_daily_key(DAILY, DAY, [(DAY_BLIDS[40], heard(40 + drift))]) == []


def test_sighting_on_another_day_does_not_match() -> None:
    assert match_daily_key(DAILY, DAY, [(DAY_BLIDS[40], heard(40) + 86_400)]) == []
    assert match_daily_key(DAILY, DAY + 1, [(DAY_BLIDS[40], heard(40))]) == []


def test_unknown_blid_does_not_match() -> None:
    assert match_daily_key(DAILY, DAY, [(bytes(12), heard(0))]) == []


def test_matches_report_the_index_of_each_matching_sighting() -> None:
    sightings = [
        (bytes(12), heard(3)),
        (DAY_BLIDS[3], heard(3)),
        (DAY_BLIDS[9], heard(50)),
        (bytearray(DAY_BLIDS[50]), heard(51)),
    ]
    assert match_daily_key(DAILY, DAY, sightings) == [BlidMatch(1, 3), BlidMatch(3, 50)]


def test_tolerance_can_be_widened() -> None:
    assert match_daily_key(DAILY, DAY, [(DAY_BLIDS[40], heard(43))], tolerance_slots=3) == [BlidMatch(0, 40)]


def test_bluezone_reexports_its_error() -> None:
    assert bluezone.BluezoneIdError is BluezoneIdError
