"""protocol.keys against Google's published GAEN crypto test vectors (crypto spec v1.2, gaen.md §1)."""

from __future__ import annotations

import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from protocol import keys
from protocol.errors import KeyMaterialError, ProtocolError
from protocol.keys import (
    KEY_LENGTH,
    MAX_INTERVAL_NUMBER,
    TEK_ROLLING_PERIOD,
    decrypt_aem,
    derive_aemk,
    derive_rpik,
    en_interval_number,
    encrypt_aem,
    new_tek,
    padded_data,
    rolling_start,
    rpi,
    rpis,
)
from tests.protocol.gaen_vectors import (
    AEMK,
    AEMS,
    ENIN,
    KEY_GENERATION_SECONDS,
    METADATA,
    RPIK,
    RPIS,
    TEK,
)

# gaen.md §1.4: PaddedData for ENIN 2642976 ("EN-RPI", six zero bytes, uint32 LE 20 54 28 00).
PADDED_DATA_2642976 = bytes.fromhex("454e2d52504900000000000020542800")

SOME_J = (0, 1, 71, 142, 143)


# ---- conformance on the published vectors ------------------------------------------------


def test_rpik_derived_from_tek_matches_vector() -> None:
    assert derive_rpik(TEK) == RPIK


def test_aemk_derived_from_tek_matches_vector() -> None:
    assert derive_aemk(TEK) == AEMK


def test_all_144_rpis_of_the_vector_key_match() -> None:
    assert rpis(RPIK, ENIN) == list(RPIS)
    assert len(RPIS) == TEK_ROLLING_PERIOD


@pytest.mark.parametrize("j", SOME_J)
def test_single_rpi_matches_vector(j: int) -> None:
    assert rpi(RPIK, ENIN + j) == RPIS[j]


@pytest.mark.parametrize("j", SOME_J)
def test_rpis_from_an_offset_start_match_the_tail_of_the_vectors(j: int) -> None:
    assert rpis(RPIK, ENIN + j, TEK_ROLLING_PERIOD - j) == list(RPIS[j:])


def test_encrypted_metadata_of_every_interval_matches_vector() -> None:
    assert [encrypt_aem(AEMK, RPIS[j], METADATA) for j in range(TEK_ROLLING_PERIOD)] == list(AEMS)


@pytest.mark.parametrize("j", SOME_J)
def test_decrypting_a_vector_aem_gives_back_the_metadata(j: int) -> None:
    assert decrypt_aem(AEMK, RPIS[j], AEMS[j]) == METADATA


@given(
    aemk=st.binary(min_size=16, max_size=16),
    iv=st.binary(min_size=16, max_size=16),
    md=st.binary(min_size=4, max_size=4),
)
def test_decrypt_aem_inverts_encrypt_aem(aemk: bytes, iv: bytes, md: bytes) -> None:
    assert decrypt_aem(aemk, iv, encrypt_aem(aemk, iv, md)) == md


def test_derivations_accept_bytearray_and_memoryview() -> None:
    assert derive_rpik(bytearray(TEK)) == RPIK
    assert derive_aemk(memoryview(TEK)) == AEMK


# ---- time -------------------------------------------------------------------------------


def test_en_interval_number_of_vector_time_is_vector_enin() -> None:
    """1585785600 = 2020-04-02T00:00:00Z → 2642976 (gaen.md §1.2)."""
    assert en_interval_number(KEY_GENERATION_SECONDS) == ENIN == 2642976


@pytest.mark.parametrize(
    ("offset", "expected"), [(0, 0), (1, 0), (599, 0), (599.999, 0), (600, 1), (1199, 1)]
)
def test_en_interval_number_floors_to_ten_minutes(offset: float, expected: int) -> None:
    assert en_interval_number(KEY_GENERATION_SECONDS + offset) == ENIN + expected


def test_en_interval_number_of_the_epoch_is_zero() -> None:
    assert en_interval_number(0) == 0


def test_en_interval_number_before_the_epoch_raises() -> None:
    with pytest.raises(KeyMaterialError):
        en_interval_number(-1)


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), float("-inf")])
def test_en_interval_number_of_a_non_finite_time_raises_key_material_error(bad: float) -> None:
    with pytest.raises(KeyMaterialError):
        en_interval_number(bad)


def test_vector_enin_is_aligned_to_the_rolling_period() -> None:
    assert ENIN % TEK_ROLLING_PERIOD == 0
    assert rolling_start(ENIN) == ENIN


@pytest.mark.parametrize("into_day", [0, 1, 71, 143])
def test_rolling_start_is_utc_midnight_of_the_interval(into_day: int) -> None:
    assert rolling_start(ENIN + into_day) == ENIN


@given(st.integers(0, MAX_INTERVAL_NUMBER))
def test_rolling_start_is_aligned_and_at_most_a_day_earlier(interval: int) -> None:
    start = rolling_start(interval)
    assert start % TEK_ROLLING_PERIOD == 0
    assert 0 <= interval - start < TEK_ROLLING_PERIOD


@pytest.mark.parametrize("bad", [-1, MAX_INTERVAL_NUMBER + 1])
def test_rolling_start_of_out_of_range_interval_raises(bad: int) -> None:
    with pytest.raises(KeyMaterialError):
        rolling_start(bad)


# ---- TEK generation ---------------------------------------------------------------------


def test_new_tek_uses_the_injected_rng() -> None:
    assert new_tek(random.Random(7).randbytes) == new_tek(random.Random(7).randbytes)
    assert new_tek(random.Random(7).randbytes) != new_tek(random.Random(8).randbytes)


def test_new_tek_asks_the_rng_for_16_bytes() -> None:
    asked: list[int] = []

    def rng(n: int) -> bytes:
        asked.append(n)
        return bytes(n)

    assert new_tek(rng) == bytes(16)
    assert asked == [KEY_LENGTH]


def test_new_tek_by_default_returns_16_fresh_bytes() -> None:
    first, second = new_tek(), new_tek()
    assert len(first) == len(second) == KEY_LENGTH
    assert first != second


@pytest.mark.parametrize("size", [0, 15, 17, 32])
def test_new_tek_with_an_rng_of_the_wrong_length_raises(size: int) -> None:
    with pytest.raises(KeyMaterialError):
        new_tek(lambda n: bytes(size))


# ---- PaddedData -------------------------------------------------------------------------


def test_padded_data_matches_spec_example() -> None:
    assert padded_data(ENIN) == PADDED_DATA_2642976


@given(st.integers(0, MAX_INTERVAL_NUMBER))
def test_padded_data_is_prefix_zeros_and_little_endian_interval(interval: int) -> None:
    data = padded_data(interval)
    assert len(data) == 16
    assert data[:6] == b"EN-RPI"
    assert data[6:12] == bytes(6)
    assert int.from_bytes(data[12:], "little") == interval


def test_rpi_is_aes_of_padded_data_under_rpik() -> None:
    """Checks the composition with an independent AES call from ``cryptography``."""
    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

    encryptor = Cipher(algorithms.AES(RPIK), modes.ECB()).encryptor()
    assert encryptor.update(PADDED_DATA_2642976) + encryptor.finalize() == rpi(RPIK, ENIN) == RPIS[0]


def test_rpi_of_the_largest_interval_number_is_derivable() -> None:
    assert len(rpi(RPIK, MAX_INTERVAL_NUMBER)) == KEY_LENGTH


# ---- wrong inputs -----------------------------------------------------------------------


WRONG_LENGTHS = [b"", bytes(15), bytes(17), bytes(32)]


@pytest.mark.parametrize("function", [derive_rpik, derive_aemk])
@pytest.mark.parametrize("tek", [*WRONG_LENGTHS, "0" * 16, None])
def test_derivation_from_a_malformed_tek_raises(function: object, tek: object) -> None:
    with pytest.raises(KeyMaterialError):
        function(tek)  # type: ignore[operator]


@pytest.mark.parametrize("rpik", WRONG_LENGTHS)
def test_rpi_with_wrong_length_rpik_raises(rpik: bytes) -> None:
    with pytest.raises(KeyMaterialError):
        rpi(rpik, ENIN)
    with pytest.raises(KeyMaterialError):
        rpis(rpik, ENIN)


@pytest.mark.parametrize("bad", [-1, MAX_INTERVAL_NUMBER + 1, 1 << 40])
def test_out_of_range_interval_raises(bad: int) -> None:
    with pytest.raises(KeyMaterialError):
        padded_data(bad)
    with pytest.raises(KeyMaterialError):
        rpi(RPIK, bad)


def test_rpis_running_past_the_largest_interval_raises() -> None:
    with pytest.raises(KeyMaterialError):
        rpis(RPIK, MAX_INTERVAL_NUMBER - 1, 3)


@pytest.mark.parametrize("count", [0, -1, TEK_ROLLING_PERIOD + 1])
def test_rpis_count_outside_one_to_144_raises(count: int) -> None:
    with pytest.raises(KeyMaterialError):
        rpis(RPIK, ENIN, count)


@pytest.mark.parametrize(
    ("aemk", "iv", "metadata"),
    [
        (bytes(15), RPIS[0], METADATA),
        (AEMK, bytes(17), METADATA),
        (AEMK, RPIS[0], bytes(3)),
        (AEMK, RPIS[0], bytes(5)),
    ],
)
def test_aem_with_wrong_length_input_raises(aemk: bytes, iv: bytes, metadata: bytes) -> None:
    with pytest.raises(KeyMaterialError):
        encrypt_aem(aemk, iv, metadata)
    with pytest.raises(KeyMaterialError):
        decrypt_aem(aemk, iv, metadata)


def test_key_material_error_is_a_value_error_and_a_protocol_error() -> None:
    with pytest.raises(KeyMaterialError) as caught:
        derive_rpik(bytes(3))
    assert isinstance(caught.value, ValueError)
    assert isinstance(caught.value, ProtocolError)
    assert "16" in str(caught.value)


def test_keys_reexports_its_error() -> None:
    assert keys.KeyMaterialError is KeyMaterialError
