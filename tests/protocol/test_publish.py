"""protocol.publish: upload keys and their HMAC, against the key server's own unit-test vectors.

Vectors: google/exposure-notifications-server ``pkg/verification/utils_test.go``, as verified in
``shared/spec/gaen.md`` §5.3 (secret = bytes 1..16).
"""

from __future__ import annotations

import base64
import contextlib
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from protocol import publish
from protocol.errors import KeyMaterialError
from protocol.publish import UploadKey, canonical_key_string, tek_hmac

# exposure-notifications-server pkg/verification/utils_test.go (gaen.md §5.3).
SERVER_TEST_SECRET = bytes(range(1, 17))
SERVER_TEST_KEY_1 = "z2Cx9hdz2SlxZ8GEgqTYpA=="  # rollingStartNumber 1, period 144, TR 3
SERVER_TEST_KEY_2 = "dPCphLzfG4uzXneNimkPRQ=="  # rollingStartNumber 144, period 144, TR 5
SERVER_TEST_CLEARTEXT = "dPCphLzfG4uzXneNimkPRQ==.144.144.5,z2Cx9hdz2SlxZ8GEgqTYpA==.1.144.3"
SERVER_TEST_HMAC_TR_3_5 = "2u1nHt5WWurJytFLF3xitNzM99oNrad2y4YGOL53AeY="
SERVER_TEST_HMAC_TR_0 = "mFNI9zhTA17n4ndd1Vu5tsn4XQX0gPrIKyjeh/9noUE="
SERVER_TEST_HMAC_NO_TR = "J9S7xVebH/66dm14wGsIcAnSUR3PHD4NtDQEOGZbDUo="


def server_keys(tr_1: int = 3, tr_2: int = 5) -> list[UploadKey]:
    return [
        UploadKey(base64.b64decode(SERVER_TEST_KEY_1), 1, 144, tr_1),
        UploadKey(base64.b64decode(SERVER_TEST_KEY_2), 144, 144, tr_2),
    ]


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


# ---- the server's vectors ---------------------------------------------------------------


def test_canonical_key_string_matches_server_cleartext() -> None:
    assert canonical_key_string(server_keys()) == SERVER_TEST_CLEARTEXT


def test_canonical_key_string_sorts_regardless_of_input_order() -> None:
    assert canonical_key_string(reversed(server_keys())) == SERVER_TEST_CLEARTEXT


def test_canonical_key_string_without_risk_drops_the_last_segment() -> None:
    expected = "dPCphLzfG4uzXneNimkPRQ==.144.144,z2Cx9hdz2SlxZ8GEgqTYpA==.1.144"
    assert canonical_key_string(server_keys(), include_risk=False) == expected


def test_tek_hmac_matches_server_vector_with_risks_3_and_5() -> None:
    assert b64(tek_hmac(SERVER_TEST_SECRET, server_keys())) == SERVER_TEST_HMAC_TR_3_5


def test_tek_hmac_matches_server_vector_with_risks_0() -> None:
    assert b64(tek_hmac(SERVER_TEST_SECRET, server_keys(0, 0))) == SERVER_TEST_HMAC_TR_0


def test_tek_hmac_matches_server_vector_without_risk_segment() -> None:
    for keys in (server_keys(), server_keys(0, 0)):
        assert b64(tek_hmac(SERVER_TEST_SECRET, keys, include_risk=False)) == SERVER_TEST_HMAC_NO_TR


def test_tek_hmac_is_32_bytes_and_depends_on_the_secret() -> None:
    mac = tek_hmac(SERVER_TEST_SECRET, server_keys())
    assert len(mac) == 32
    assert tek_hmac(bytes(16), server_keys()) != mac


@pytest.mark.parametrize("size", [0, 8, 15])
def test_tek_hmac_with_a_secret_under_128_bits_raises(size: int) -> None:
    with pytest.raises(KeyMaterialError):
        tek_hmac(bytes(size), server_keys())


# ---- JSON items -------------------------------------------------------------------------

upload_keys = st.builds(
    UploadKey,
    key_data=st.binary(min_size=16, max_size=16),
    rolling_start_number=st.integers(0, 2**31 - 1),
    rolling_period=st.integers(1, 144),
    transmission_risk=st.integers(0, 8),
)


@given(upload_keys)
def test_upload_key_json_round_trips(key: UploadKey) -> None:
    item = key.to_json()
    assert item["key"] == b64(key.key_data)
    assert UploadKey.from_json(item) == key


def test_from_json_applies_publish_api_defaults() -> None:
    key = UploadKey.from_json({"key": SERVER_TEST_KEY_1, "rollingStartNumber": 1})
    assert key == UploadKey(base64.b64decode(SERVER_TEST_KEY_1), 1, 144, 0)


VALID_ITEM = {"key": SERVER_TEST_KEY_1, "rollingStartNumber": 1, "rollingPeriod": 144, "transmissionRisk": 3}


@pytest.mark.parametrize(
    "changes",
    [
        {"key": "not base64!"},
        {"key": "z2Cx9hdz2SlxZ8GEgqTYpA="},  # bad padding
        {"key": "z2Cx9hdz2SlxZ8GEgqTYp"},
        {"key": "z2Cx9hdz2SlxZ8GEgqTY"},  # 15 bytes
        {"key": b64(bytes(17))},
        {"key": ""},
        {"key": "ž2Cx9hdz2SlxZ8GEgqTYpA=="},
        {"key": None},
        {"key": 12},
        {"key": base64.b64decode(SERVER_TEST_KEY_1)},
        {"rollingStartNumber": None},
        {"rollingStartNumber": "1"},
        {"rollingStartNumber": 1.0},
        {"rollingStartNumber": True},
        {"rollingStartNumber": -1},
        {"rollingStartNumber": 2**31},
        {"rollingPeriod": 0},
        {"rollingPeriod": 145},
        {"rollingPeriod": False},
        {"rollingPeriod": "144"},
        {"transmissionRisk": -1},
        {"transmissionRisk": 9},
        {"transmissionRisk": True},
        {"transmissionRisk": [3]},
    ],
    ids=repr,
)
def test_from_json_with_a_bad_field_raises_key_material_error(changes: dict[str, Any]) -> None:
    with pytest.raises(KeyMaterialError):
        UploadKey.from_json({**VALID_ITEM, **changes})


def test_from_json_without_a_key_raises_key_material_error() -> None:
    with pytest.raises(KeyMaterialError, match="key"):
        UploadKey.from_json({"rollingStartNumber": 1})


@pytest.mark.parametrize("item", [None, [], "key", 5])
def test_from_json_of_a_non_object_raises_key_material_error(item: Any) -> None:
    with pytest.raises(KeyMaterialError):
        UploadKey.from_json(item)


@pytest.mark.parametrize(
    "fields",
    [
        {"key_data": bytes(15)},
        {"rolling_start_number": -1},
        {"rolling_period": 0},
        {"rolling_period": 145},
        {"transmission_risk": 9},
    ],
    ids=repr,
)
def test_constructing_an_invalid_upload_key_raises(fields: dict[str, Any]) -> None:
    with pytest.raises(KeyMaterialError):
        UploadKey(**{"key_data": bytes(16), "rolling_start_number": 1, **fields})


@given(
    st.dictionaries(st.sampled_from(list(VALID_ITEM)), st.none() | st.booleans() | st.integers() | st.text())
)
def test_hostile_json_items_raise_only_key_material_error(item: dict[str, Any]) -> None:
    with contextlib.suppress(KeyMaterialError):
        UploadKey.from_json(item)


def test_publish_reexports_its_error() -> None:
    assert publish.KeyMaterialError is KeyMaterialError
