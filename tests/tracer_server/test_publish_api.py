"""``POST /v1/publish``: the certificate, the HMAC and each of GAEN's key validation rules.

The rules are Google's key server's (issue B1; ``shared/spec/gaen.md`` §5.1-5.2). The clock
stands at 2025-11-22 10:30 UTC; "today" below is that UTC day.
"""

from __future__ import annotations

import base64
import json
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from sqlalchemy import event, text

from protocol.export import ReportType
from protocol.keys import en_interval_number
from protocol.publish import UploadKey, tek_hmac
from tracer_server.clock import utcnow
from tracer_server.settings import HealthAuthorityConfig

from .conftest import (
    NOW,
    SECRET,
    Server,
    certificate,
    export_now,
    exported_keys,
    issue,
    publish_body,
    stored_exposures,
    today_start,
)
from .test_publish_parity import certificate_over, google_hmac

CERT_INVALID = "health_authority_verification_certificate_invalid"


@pytest.fixture
def server(make_server: Callable[..., Server]) -> Server:
    """The conftest server, without the per-client verify limit (tests here mint many certificates)."""
    return make_server(verify_attempts_per_minute=10_000)


def key(days_ago: int, *, offset: int = 0, period: int = 144, risk: int = 0, seed: int = 0) -> UploadKey:
    """A key starting ``days_ago`` UTC days before today (plus ``offset`` intervals)."""
    data = bytes([days_ago % 256, offset % 256, period % 256, risk, seed]) + bytes(11)
    return UploadKey(data, today_start(NOW) - 144 * days_ago + offset, period, risk)


def cert_for(server: Server, keys: list[UploadKey], **issue_body: Any) -> str:
    return certificate(server, issue(server, **issue_body)["code"], keys)


def publish(server: Server, body: Any) -> Any:
    return server.client.post("/v1/publish", json=body)


def publish_keys(server: Server, keys: list[UploadKey], **issue_body: Any) -> Any:
    return publish(server, publish_body(cert_for(server, keys, **issue_body), keys))


def assert_rejected(response: Any, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    assert body["code"] == code and isinstance(body["error"], str) and body["error"]
    return body


def interval(day: str) -> int:
    return en_interval_number(datetime.fromisoformat(day).replace(tzinfo=UTC).timestamp())


# ---- the whole request -----------------------------------------------------------------------


def test_publishing_no_keys_fails_the_whole_request(server: Server) -> None:
    cert = cert_for(server, [])
    assert_rejected(publish(server, publish_body(cert, [])), 400, "bad_request")
    assert stored_exposures(server) == {}


def test_publishing_31_keys_fails_the_whole_request(server: Server) -> None:
    keys = [key(d, seed=s) for d in range(1, 16) for s in range(2)] + [key(1, seed=9)]
    assert len(keys) == 31
    cert = cert_for(server, keys)
    assert_rejected(publish(server, publish_body(cert, keys)), 400, "bad_request")
    assert stored_exposures(server) == {}


def test_publishing_30_keys_over_15_days_is_accepted(server: Server) -> None:
    keys = [key(d, seed=s) for d in range(1, 16) for s in range(2)]
    response = publish_keys(server, keys)
    assert response.status_code == 200, response.text
    assert response.json()["insertedExposures"] == 30 and response.json()["code"] == ""
    assert len(stored_exposures(server)) == 30


def test_a_successful_publish_answers_gaens_shape(server: Server) -> None:
    response = publish_keys(server, [key(2), key(1)])
    body = response.json()
    assert {"revisionToken", "insertedExposures", "error", "code", "warnings", "padding"} <= set(body)
    assert body["insertedExposures"] == 2 and body["warnings"] == [] and body["revisionToken"]


# ---- a bad key is dropped and named; the others are stored (Google's partial failure) --------


INVALID_KEYS: dict[str, tuple[str, Any]] = {
    "15-bytes": ("key", base64.b64encode(bytes(15)).decode()),
    "17-bytes": ("key", base64.b64encode(bytes(17)).decode()),
    "bad-base64": ("key", "not base64!"),
    "mixed-alphabets": ("key", "AAAAAAAAAAAAAAAAAAA+-A=="),
    "period-0": ("rollingPeriod", 0),
    "period-145": ("rollingPeriod", 145),
    "risk-9": ("transmissionRisk", 9),
    "risk-negative": ("transmissionRisk", -1),
    "start-negative": ("rollingStartNumber", -1),
    "start-too-big": ("rollingStartNumber", 1 << 31),
}


def _publish_items(server: Server, items: list[dict[str, Any]]) -> Any:
    """Publish key items as given, under a certificate over them as Google computes it."""
    cert = certificate_over(server, google_hmac(items))
    body = {**publish_body(cert, []), "temporaryExposureKeys": items}
    return publish(server, body)


def test_an_invalid_key_is_dropped_and_named_and_the_others_stored(
    server: Server, subtests: pytest.Subtests
) -> None:
    for seed, (name, (field, value)) in enumerate(INVALID_KEYS.items(), start=1):
        with subtests.test(name):
            items = [k.to_json() for k in (key(3, seed=seed), key(2, seed=seed), key(1, seed=seed))]
            items[1][field] = value
            response = _publish_items(server, items)
            assert response.status_code == 200, response.text
            body = response.json()
            assert body["code"] == "partial_failure" and body["insertedExposures"] == 2
            assert len(body["warnings"]) == 1 and body["warnings"][0].startswith("key 1:")


def test_every_invalid_key_is_named(server: Server) -> None:
    items = [k.to_json() for k in (key(3), key(2), key(1))]
    items[0]["rollingPeriod"] = 0
    items[2]["transmissionRisk"] = 9
    body = _publish_items(server, items).json()
    assert body["insertedExposures"] == 1
    assert [w.split(":")[0] for w in body["warnings"]] == ["key 0", "key 2"]
    assert "rollingPeriod" in body["warnings"][0] and "transmissionRisk" in body["warnings"][1]


def test_a_request_with_no_valid_key_fails_naming_each(server: Server) -> None:
    items = [k.to_json() for k in (key(2), key(1))]
    items[0]["transmissionRisk"] = 9
    items[1]["rollingPeriod"] = 145
    rejected = assert_rejected(_publish_items(server, items), 400, "bad_request")
    assert [d.split(":")[0] for d in rejected["details"]] == ["key 0", "key 1"]
    assert stored_exposures(server) == {}


def test_more_than_three_keys_with_the_same_start_fail_the_request(server: Server) -> None:
    keys = [key(1, seed=s) for s in range(4)]
    assert_rejected(publish_keys(server, keys), 400, "bad_request")
    assert stored_exposures(server) == {}


def test_three_keys_with_the_same_start_are_accepted(server: Server) -> None:
    keys = [key(1, seed=s) for s in range(3)]
    response = publish_keys(server, keys)
    assert response.status_code == 200, response.text
    assert response.json()["insertedExposures"] == 3


def test_overlapping_keys_with_different_starts_fail_the_request(server: Server) -> None:
    keys = [key(1, period=144), key(1, offset=72, period=72, seed=1)]
    assert_rejected(publish_keys(server, keys), 400, "bad_request")
    assert stored_exposures(server) == {}


def test_adjacent_keys_cut_short_are_accepted(server: Server) -> None:
    keys = [key(1, period=72), key(1, offset=72, period=72, seed=1)]
    response = publish_keys(server, keys)
    assert response.status_code == 200, response.text
    assert response.json()["insertedExposures"] == 2


# ---- rules that drop a key with a warning ----------------------------------------------------


def test_a_key_starting_in_the_future_is_dropped_with_a_warning(server: Server) -> None:
    keys = [key(2), key(1), key(-1)]
    response = publish_keys(server, keys)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["code"] == "partial_failure" and body["insertedExposures"] == 2
    assert len(body["warnings"]) == 1 and body["warnings"][0].startswith("key 2:")
    assert "future" in body["warnings"][0]
    assert set(stored_exposures(server)) == {keys[0].key_data, keys[1].key_data}


def test_a_key_starting_later_today_is_in_the_future(server: Server) -> None:
    now_interval = en_interval_number(utcnow(server.clock).timestamp())
    later = UploadKey(bytes(range(16)), now_interval + 1, 144 - (now_interval + 1) % 144)
    keys = [key(1), later]
    body = publish_keys(server, keys).json()
    assert body["code"] == "partial_failure" and body["warnings"][0].startswith("key 1:")


def test_a_key_that_ended_more_than_15_days_ago_is_dropped_with_a_warning(server: Server) -> None:
    keys = [key(16), key(2), key(1)]
    response = publish_keys(server, keys)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["code"] == "partial_failure" and body["insertedExposures"] == 2
    assert len(body["warnings"]) == 1 and body["warnings"][0].startswith("key 0:")
    assert "15 days" in body["warnings"][0]
    assert keys[0].key_data not in stored_exposures(server)


def test_a_request_whose_every_key_is_dropped_stores_nothing(server: Server) -> None:
    keys = [key(-1)]
    response = publish_keys(server, keys)
    assert 400 <= response.status_code < 500, response.text
    assert stored_exposures(server) == {}


def test_a_key_more_than_14_days_from_onset_is_dropped_with_a_warning(server: Server) -> None:
    # Onset today; the key of 15 days ago is young enough to publish but 15 days from onset.
    keys = [key(15), key(14, seed=1), key(1)]
    response = publish_keys(server, keys, symptomDate="2025-11-22")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["code"] == "partial_failure" and body["insertedExposures"] == 2
    assert len(body["warnings"]) == 1 and body["warnings"][0].startswith("key 0:")
    assert "onset" in body["warnings"][0]
    assert {row.days_since_onset for row in stored_exposures(server).values()} == {-14, -1}


# ---- embargo ---------------------------------------------------------------------------------


def test_a_still_valid_key_is_embargoed_until_the_window_after_it_ends(server: Server) -> None:
    today = key(0)  # valid until midnight
    keys = [key(2), key(1), today]
    response = publish_keys(server, keys)
    assert response.status_code == 200, response.text
    assert response.json()["insertedExposures"] == 3

    # The keys arrived in the 08:00-12:00 window, exported from 14:00.
    server.clock.advance(hours=3, minutes=31)
    export_now(server)
    published = exported_keys(server)
    assert keys[0].key_data in published and keys[1].key_data in published
    assert today.key_data not in published

    # Today's key ends at midnight: the 00:00-04:00 window releases it, from 06:00.
    server.clock.at = datetime(2025, 11, 23, 5, 59, tzinfo=UTC)
    export_now(server)
    assert today.key_data not in exported_keys(server)
    server.clock.at = datetime(2025, 11, 23, 6, 0, tzinfo=UTC)
    export_now(server)
    assert exported_keys(server).count(today.key_data) == 1


def test_todays_key_that_already_ended_is_not_embargoed(server: Server) -> None:
    ended = key(0, period=60)  # 00:00-10:00, before 10:30
    response = publish_keys(server, [key(1), ended])
    assert response.status_code == 200, response.text
    server.clock.advance(hours=3, minutes=31)
    export_now(server)
    assert ended.key_data in exported_keys(server)


# ---- the certificate and the HMAC ------------------------------------------------------------


def test_keys_other_than_those_the_hmac_covered_are_rejected_and_the_certificate_kept(server: Server) -> None:
    keys = [key(2), key(1)]
    cert = cert_for(server, keys)
    others = [key(2, seed=7), key(1, seed=7)]
    assert_rejected(publish(server, publish_body(cert, others)), 401, CERT_INVALID)
    assert stored_exposures(server) == {}
    retry = publish(server, publish_body(cert, keys))
    assert retry.status_code == 200, retry.text
    assert set(stored_exposures(server)) == {k.key_data for k in keys}


def changed_keys(keys: list[UploadKey]) -> dict[str, list[UploadKey]]:
    first = keys[0]
    return {
        "risk": [UploadKey(first.key_data, first.rolling_start_number, 144, 3), *keys[1:]],
        "period": [UploadKey(first.key_data, first.rolling_start_number, 143, 0), *keys[1:]],
        "start": [UploadKey(first.key_data, first.rolling_start_number - 144, 144, 0), *keys[1:]],
        "drop-a-key": keys[1:],
        "add-a-key": [*keys, key(4)],
    }


def test_any_change_to_the_covered_keys_breaks_the_hmac(server: Server, subtests: pytest.Subtests) -> None:
    keys = [key(3), key(2), key(1)]
    cert = cert_for(server, keys)
    for name, changed in changed_keys(keys).items():
        with subtests.test(name):
            assert_rejected(publish(server, publish_body(cert, changed)), 401, CERT_INVALID)
    assert stored_exposures(server) == {}


def test_a_wrong_hmac_key_is_rejected(server: Server, subtests: pytest.Subtests) -> None:
    keys = [key(1)]
    cert = cert_for(server, keys)
    wrong = {
        "other-secret": base64.b64encode(bytes(32)).decode(),
        "bad-base64": "not base64!",
        "too-short": base64.b64encode(bytes(8)).decode(),
        "empty": "",
    }
    for name, hmac_key in wrong.items():
        with subtests.test(name):
            body = publish_body(cert, keys)
            body["hmacKey"] = hmac_key
            assert_rejected(publish(server, body), 401, CERT_INVALID)
    assert publish(server, publish_body(cert, keys)).status_code == 200  # still unused


def test_an_hmac_without_the_risk_segment_is_accepted_when_every_risk_is_zero(server: Server) -> None:
    keys = [key(2), key(1)]
    cert = certificate(server, issue(server)["code"], keys, include_risk=False)
    response = publish(server, publish_body(cert, keys))
    assert response.status_code == 200, response.text
    assert response.json()["insertedExposures"] == 2


def test_an_hmac_without_the_risk_segment_is_refused_when_a_risk_is_set(server: Server) -> None:
    keys = [key(2, risk=4), key(1)]
    cert = certificate(server, issue(server)["code"], keys, include_risk=False)
    assert_rejected(publish(server, publish_body(cert, keys)), 401, CERT_INVALID)


def test_a_certificate_publishes_once(server: Server) -> None:
    keys = [key(2), key(1)]
    cert = cert_for(server, keys)
    assert publish(server, publish_body(cert, keys)).status_code == 200
    again = publish(server, publish_body(cert, keys))
    assert again.status_code in (400, 401), again.text
    assert again.json()["code"] and again.json()["error"]


def test_a_certificate_expires_after_15_minutes(server: Server) -> None:
    keys = [key(1)]
    cert = cert_for(server, keys)
    server.clock.advance(minutes=16)
    assert_rejected(publish(server, publish_body(cert, keys)), 401, CERT_INVALID)
    assert stored_exposures(server) == {}


def test_a_certificate_is_valid_for_14_minutes(server: Server) -> None:
    keys = [key(1)]
    cert = cert_for(server, keys)
    server.clock.advance(minutes=14)
    assert publish(server, publish_body(cert, keys)).status_code == 200


def test_a_verification_payload_that_is_not_our_certificate_is_rejected(
    server: Server, subtests: pytest.Subtests
) -> None:
    unsigned = "eyJhbGciOiJub25lIn0.eyJ0ZWttYWMiOiJ4In0."  # alg "none"
    for payload in ("", "not a jwt", "a.b.c", unsigned):
        with subtests.test(payload=payload):
            assert_rejected(publish(server, publish_body(payload, [key(1)])), 401, CERT_INVALID)


def test_a_verification_token_is_not_a_certificate(server: Server) -> None:
    keys = [key(1)]
    token = server.client.post(
        "/api/verify", json={"code": issue(server)["code"], "accept": ["confirmed"]}
    ).json()["token"]
    assert_rejected(publish(server, publish_body(token, keys)), 401, CERT_INVALID)


def test_an_unknown_health_authority_is_rejected(server: Server) -> None:
    keys = [key(1)]
    body = publish_body(cert_for(server, keys), keys, healthAuthorityID="com.example.other")
    assert_rejected(publish(server, body), 401, "unknown_health_authority_id")


def other_authority(make_server: Callable[..., Server]) -> tuple[Server, ec.EllipticCurvePrivateKey]:
    """A server that also accepts certificates of "vn.hanoi", signed with its key "k1"."""
    private = ec.generate_private_key(ec.SECP256R1())
    pem = private.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    hanoi = HealthAuthorityConfig(
        id="vn.hanoi",
        issuer="hanoi.verify",
        audience="vn.bluezone.keyserver",
        certificate_keys={"k1": pem.decode()},
    )
    return make_server(verify_attempts_per_minute=10_000, health_authorities=[hanoi]), private


def hanoi_certificate(private: ec.EllipticCurvePrivateKey, keys: list[UploadKey], **claims: Any) -> str:
    now = int(NOW.timestamp())
    payload = {
        "iss": "hanoi.verify",
        "aud": "vn.bluezone.keyserver",
        "iat": now,
        "exp": now + 900,
        "jti": "hanoi-1",
        "tekmac": base64.b64encode(tek_hmac(SECRET, keys)).decode(),
        "reportType": "confirmed",
        **claims,
    }
    return jwt.encode(payload, private, algorithm="ES256", headers={"kid": "k1"})


def test_a_certificate_of_another_allowed_authority_is_accepted(make_server: Callable[..., Server]) -> None:
    server, private = other_authority(make_server)
    keys = [key(1)]
    body = publish_body(hanoi_certificate(private, keys), keys, healthAuthorityID="vn.hanoi")
    response = publish(server, body)
    assert response.status_code == 200, response.text
    assert stored_exposures(server)[keys[0].key_data].health_authority == "vn.hanoi"


def test_a_certificate_presented_under_the_wrong_authority_is_rejected(
    make_server: Callable[..., Server], subtests: pytest.Subtests
) -> None:
    server, private = other_authority(make_server)
    keys = [key(1)]
    ours = cert_for(server, keys)
    cases = {
        "ours-as-hanoi": publish_body(ours, keys, healthAuthorityID="vn.hanoi"),
        "hanoi-as-ours": publish_body(hanoi_certificate(private, keys), keys),
        "wrong-issuer": publish_body(
            hanoi_certificate(private, keys, iss="vn.bluezone.verification"),
            keys,
            healthAuthorityID="vn.hanoi",
        ),
        "wrong-audience": publish_body(
            hanoi_certificate(private, keys, aud="somewhere.else"), keys, healthAuthorityID="vn.hanoi"
        ),
        "unknown-report-type": publish_body(
            hanoi_certificate(private, keys, reportType="positive"), keys, healthAuthorityID="vn.hanoi"
        ),
    }
    for name, body in cases.items():
        with subtests.test(name):
            assert_rejected(publish(server, body), 401, CERT_INVALID)
    assert stored_exposures(server) == {}


def test_a_missing_health_authority_is_refused_as_google_does(server: Server) -> None:
    keys = [key(1)]
    body = publish_body(cert_for(server, keys), keys)
    del body["healthAuthorityID"]
    assert_rejected(publish(server, body), 401, "unknown_health_authority_id")
    assert stored_exposures(server) == {}


# ---- report type, transmission risk and days since onset -------------------------------------


def test_report_type_and_risk_backfill_come_from_the_certificate(
    server: Server, subtests: pytest.Subtests
) -> None:
    cases = [
        ("confirmed", ReportType.CONFIRMED_TEST, 2),
        ("likely", ReportType.CONFIRMED_CLINICAL_DIAGNOSIS, 4),
        ("user-report", ReportType.SELF_REPORT, 5),
    ]
    for seed, (test_type, report_type, risk) in enumerate(cases, start=1):
        with subtests.test(test_type):
            keys = [key(2, seed=seed), key(1, seed=seed)]
            body = publish_body(cert_for(server, keys, testType=test_type), keys)
            response = publish(server, body)
            assert response.status_code == 200, response.text
            rows = stored_exposures(server)
            assert {(rows[k.key_data].report_type, rows[k.key_data].transmission_risk) for k in keys} == {
                (report_type, risk)
            }


def test_a_transmission_risk_the_device_sent_is_kept(server: Server) -> None:
    keys = [key(2, risk=7), key(1)]
    assert publish_keys(server, keys, testType="likely").status_code == 200
    rows = stored_exposures(server)
    assert rows[keys[0].key_data].transmission_risk == 7 and rows[keys[1].key_data].transmission_risk == 4


def test_a_negative_test_stores_nothing(server: Server) -> None:
    keys = [key(2), key(1)]
    response = publish_keys(server, keys, testType="negative")
    assert response.status_code == 200, response.text
    assert response.json()["insertedExposures"] == 0
    assert stored_exposures(server) == {}


def days_since_onset(server: Server) -> dict[int, int | None]:
    """Days since onset by the key's days ago."""
    start = today_start(utcnow(server.clock))
    return {
        (start - row.rolling_start) // 144: row.days_since_onset for row in stored_exposures(server).values()
    }


def test_days_since_onset_count_from_the_symptom_date(server: Server) -> None:
    assert publish_keys(server, [key(3), key(2), key(1)], symptomDate="2025-11-20").status_code == 200
    assert days_since_onset(server) == {3: -1, 2: 0, 1: 1}


def test_the_symptom_date_wins_over_the_test_date(server: Server) -> None:
    keys = [key(3), key(2), key(1)]
    assert publish_keys(server, keys, symptomDate="2025-11-20", testDate="2025-11-15").status_code == 200
    assert days_since_onset(server) == {3: -1, 2: 0, 1: 1}


def test_days_since_onset_count_from_the_test_date_without_a_symptom_date(server: Server) -> None:
    assert publish_keys(server, [key(3), key(2), key(1)], testDate="2025-11-19").status_code == 200
    assert days_since_onset(server) == {3: 0, 2: 1, 1: 2}


def test_days_since_onset_default_to_an_onset_four_days_ago(server: Server) -> None:
    assert publish_keys(server, [key(3), key(2), key(1)]).status_code == 200
    assert days_since_onset(server) == {3: 1, 2: 2, 1: 3}


def test_a_plausible_onset_in_the_request_is_used(server: Server) -> None:
    keys = [key(3), key(2), key(1)]
    onset = interval("2025-11-21") + 77  # rounded down to the UTC day
    response = publish(server, publish_body(cert_for(server, keys), keys, symptomOnsetInterval=onset))
    assert response.status_code == 200, response.text
    assert days_since_onset(server) == {3: -2, 2: -1, 1: 0}


def test_an_implausible_onset_in_the_request_falls_back_to_the_certificate(
    server: Server, subtests: pytest.Subtests
) -> None:
    onsets = {
        "future": interval("2025-11-24"),
        "older-than-28-days": interval("2025-10-01"),
        "zero": 0,
        "negative": -5,
        "huge": 2**40,
    }
    for seed, (name, onset) in enumerate(onsets.items(), start=1):
        with subtests.test(name):
            keys = [key(3, seed=seed), key(2, seed=seed), key(1, seed=seed)]
            cert = cert_for(server, keys, symptomDate="2025-11-20")
            response = publish(server, publish_body(cert, keys, symptomOnsetInterval=onset))
            assert response.status_code == 200, response.text
            rows = stored_exposures(server)
            assert [rows[k.key_data].days_since_onset for k in keys] == [-1, 0, 1]


# ---- hostile and malformed requests: 4xx JSON, never 500 -------------------------------------


def assert_client_error(response: Any) -> None:
    assert 400 <= response.status_code < 500, response.text
    body = response.json()
    assert isinstance(body["error"], str) and body["error"] and isinstance(body["code"], str) and body["code"]


MALFORMED = {
    "empty": b"",
    "open-brace": b"{",
    "text": b"not json",
    "truncated-array": b"[1, 2",
    "binary": b"\xff\xfe\x00",
    "deep-nesting": b"[" * 100_000 + b"]" * 100_000,
    "null": b"null",
    "number": b"42",
}


def test_a_malformed_body_is_a_4xx_json_error(server: Server, subtests: pytest.Subtests) -> None:
    for name, raw in MALFORMED.items():
        with subtests.test(name):
            response = server.client.post(
                "/v1/publish", content=raw, headers={"Content-Type": "application/json"}
            )
            assert_client_error(response)


WRONG_TYPES: list[tuple[tuple[Any, ...], Any]] = [
    (("temporaryExposureKeys",), "keys"),
    (("temporaryExposureKeys",), {"key": "x"}),
    (("temporaryExposureKeys", 0), "key"),
    (("temporaryExposureKeys", 0, "rollingStartNumber"), "abc"),
    (("temporaryExposureKeys", 0, "rollingStartNumber"), [2939328]),
    (("temporaryExposureKeys", 0, "rollingStartNumber"), 1.5),
    (("temporaryExposureKeys", 0, "rollingStartNumber"), None),
    (("temporaryExposureKeys", 0, "rollingPeriod"), "all day"),
    (("temporaryExposureKeys", 0, "key"), 12345),
    (("temporaryExposureKeys", 0, "key"), None),
    (("verificationPayload",), 5),
    (("verificationPayload",), None),
    (("hmacKey",), ["a"]),
    (("healthAuthorityID",), {"id": 1}),
    (("symptomOnsetInterval",), "yesterday"),
    (("traveler",), "maybe"),
    (("padding",), "x" * 70_000),
]


def test_a_field_of_the_wrong_type_is_a_4xx_json_error(server: Server, subtests: pytest.Subtests) -> None:
    for path, value in WRONG_TYPES:
        with subtests.test(".".join(map(str, path)), value=repr(value)[:20]):
            body = publish_body("x.y.z", [key(1)])
            target: Any = body
            for part in path[:-1]:
                target = target[part]
            target[path[-1]] = value
            assert_client_error(publish(server, body))


def test_a_missing_required_field_is_a_4xx_json_error(server: Server, subtests: pytest.Subtests) -> None:
    for field in ("temporaryExposureKeys", "verificationPayload", "hmacKey"):
        with subtests.test(field):
            body = publish_body("x.y.z", [key(1)])
            del body[field]
            assert_client_error(publish(server, body))


def test_a_huge_key_array_is_a_4xx_json_error(server: Server, subtests: pytest.Subtests) -> None:
    for count in (1001, 100_000):
        with subtests.test(count=count):
            body = publish_body("x.y.z", [])
            body["temporaryExposureKeys"] = [key(1).to_json()] * count
            response = server.client.post(
                "/v1/publish", content=json.dumps(body), headers={"Content-Type": "application/json"}
            )
            assert_client_error(response)


def test_a_key_listed_twice_in_one_request_is_not_a_server_error(server: Server) -> None:
    keys = [key(2), key(1), key(1)]
    response = publish_keys(server, keys)
    assert response.status_code < 500, response.text
    if response.status_code == 200:
        assert response.json()["insertedExposures"] == 2
    assert len(stored_exposures(server)) in (0, 2)


def test_a_key_published_again_with_a_new_certificate_is_not_stored_twice(server: Server) -> None:
    first = [key(2), key(1)]
    assert publish_keys(server, first).status_code == 200
    second = [key(3), key(1)]
    response = publish_keys(server, second)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["insertedExposures"] == 1 and body["code"] == "partial_failure"
    assert len(body["warnings"]) == 1 and body["warnings"][0].startswith("key 1: already published")
    assert len(stored_exposures(server)) == 3


def test_a_request_whose_keys_were_all_published_before_stores_nothing(server: Server) -> None:
    keys = [key(2), key(1)]
    assert publish_keys(server, keys).status_code == 200
    before = stored_exposures(server)
    assert_rejected(publish_keys(server, keys, testType="likely"), 400, "bad_request")
    after = stored_exposures(server)
    assert set(after) == set(before)
    assert {row.report_type for row in after.values()} == {ReportType.CONFIRMED_TEST}


def test_simultaneous_uploads_of_one_key_store_it_once(server: Server) -> None:
    keys = [key(3), key(2), key(1)]
    bodies = [publish_body(cert_for(server, keys), keys) for _ in range(6)]
    start = threading.Barrier(len(bodies))

    def race(body: dict[str, Any]) -> Any:
        start.wait()
        return publish(server, body)

    with ThreadPoolExecutor(len(bodies)) as pool:
        responses = list(pool.map(race, bodies))
    assert sorted(r.status_code for r in responses) == [200] + [400] * 5, [r.text for r in responses]
    (stored,) = [r.json() for r in responses if r.status_code == 200]
    assert stored["insertedExposures"] == 3 and stored["warnings"] == []
    for refused in (r for r in responses if r.status_code == 400):
        assert refused.json()["code"] == "bad_request" and "already published" in refused.text
    assert set(stored_exposures(server)) == {k.key_data for k in keys}


def test_first_uploads_never_read_the_published_keys(server: Server) -> None:
    """Looking the keys up before inserting them scanned every published key on a fresh
    PostgreSQL (the cached plan of a table that was empty when first planned): a publish cost
    grew with the table. The insert itself finds the keys already there."""
    engine = server.state.factory.kw["bind"]
    statements: list[str] = []

    def record(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        statements.append(" ".join(statement.split()))

    bodies = []
    for n in range(3):
        keys = [key(2, seed=n), key(1, seed=n)]
        bodies.append(publish_body(cert_for(server, keys), keys))
    event.listen(engine, "before_cursor_execute", record)
    try:
        assert all(publish(server, body).json()["insertedExposures"] == 2 for body in bodies)
    finally:
        event.remove(engine, "before_cursor_execute", record)
    assert not [s for s in statements if s.startswith("SELECT") and "FROM exposures" in s]
    if engine.dialect.name == "postgresql":  # where psycopg pipelines the insert past these events
        assert _exposure_scans_counted_by_postgresql(engine, inserted=6) == 0


def _exposure_scans_counted_by_postgresql(engine: Any, inserted: int) -> int:
    """Sequential scans of ``exposures`` since the test's database was made, once its statistics
    show the inserts (a backend reports them within a second of going idle). Index scans are
    not counted: ``ON CONFLICT`` probes the primary key's index for every row it inserts."""
    deadline = time.monotonic() + 10
    while True:
        with engine.connect() as conn:
            conn.execute(text("SELECT pg_stat_clear_snapshot()"))
            scans, inserts = conn.execute(
                text("SELECT seq_scan, n_tup_ins FROM pg_stat_user_tables WHERE relname = 'exposures'")
            ).one()
        if inserts >= inserted or time.monotonic() > deadline:
            assert inserts >= inserted, "PostgreSQL never reported the inserts"
            return int(scans)
        time.sleep(0.2)


def test_an_arrival_time_is_truncated_to_the_hour(server: Server) -> None:
    keys = [key(1)]
    assert publish_keys(server, keys).status_code == 200
    created = stored_exposures(server)[keys[0].key_data].created_at
    created = created.replace(tzinfo=UTC) if created.tzinfo is None else created
    assert created == datetime(2025, 11, 22, 10, tzinfo=UTC) == utcnow(server.clock) - timedelta(minutes=30)
