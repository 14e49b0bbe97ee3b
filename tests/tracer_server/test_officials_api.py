"""``POST /api/issue``: officials issue one-time codes (GAEN verification server's request/response)."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any

import pytest
from sqlalchemy import select, update

from tracer_server.clock import utcnow
from tracer_server.db import transaction
from tracer_server.models import AuditEntry, Official, VerificationCode

from .conftest import Server, issue


def post_issue(server: Server, body: Any, api_key: str | None = "default") -> Any:
    headers = {} if api_key is None else {"X-API-Key": server.api_key if api_key == "default" else api_key}
    return server.client.post("/api/issue", json=body, headers=headers)


def assert_error(response: Any, status: int, code: str) -> None:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["errorCode"] == code and isinstance(body["error"], str) and body["error"]


@pytest.fixture
def quota_server(make_server: Callable[..., Server]) -> Server:
    """A server whose officials may issue two codes a day."""
    return make_server(codes_per_official_per_day=2)


# ---- authentication --------------------------------------------------------------------------


def test_issue_without_an_api_key_is_unauthorized(server: Server) -> None:
    assert_error(post_issue(server, {"testType": "confirmed"}, api_key=None), 401, "unauthorized")


def test_issue_with_an_unknown_api_key_is_unauthorized(server: Server) -> None:
    response = post_issue(server, {"testType": "confirmed"}, api_key="bz_not-a-real-key")
    assert_error(response, 401, "unauthorized")


def test_a_disabled_officials_key_is_unauthorized(server: Server) -> None:
    with transaction(server.state.factory) as db:
        db.execute(update(Official).values(disabled=True))
    assert_error(post_issue(server, {"testType": "confirmed"}), 401, "unauthorized")


def test_authentication_is_checked_before_the_body_is_parsed(server: Server) -> None:
    assert_error(post_issue(server, {"testType": 5, "symptomDate": "x"}, api_key=None), 401, "unauthorized")


# ---- the response ----------------------------------------------------------------------------


def test_issued_code_is_eight_digits_and_the_long_code_sixteen_characters(server: Server) -> None:
    issued = issue(server)
    assert re.fullmatch(r"\d{8}", issued["code"])
    assert re.fullmatch(r"[0-9A-Z]{16}", issued["longCode"])
    assert issued["code"] != issued["longCode"]
    assert re.fullmatch(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", issued["uuid"])


def test_short_code_expires_in_an_hour_and_long_code_in_a_day(server: Server) -> None:
    now = utcnow(server.clock)
    issued = issue(server)
    assert issued["expiresAtTimestamp"] == int((now + timedelta(hours=1)).timestamp())
    assert issued["longExpiresAtTimestamp"] == int((now + timedelta(hours=24)).timestamp())


def test_expiry_times_are_rfc_1123_dates_in_gmt(server: Server) -> None:
    issued = issue(server)
    rfc1123 = r"[A-Z][a-z]{2}, \d{2} [A-Z][a-z]{2} \d{4} \d{2}:\d{2}:\d{2} GMT"
    for text, stamp in (
        (issued["expiresAt"], issued["expiresAtTimestamp"]),
        (issued["longExpiresAt"], issued["longExpiresAtTimestamp"]),
    ):
        assert re.fullmatch(rfc1123, text), text
        assert parsedate_to_datetime(text) == datetime.fromtimestamp(stamp, UTC)
    assert issued["expiresAt"] == "Sat, 22 Nov 2025 11:30:00 GMT"


def test_every_code_is_different(server: Server) -> None:
    first, second = issue(server), issue(server)
    assert first["uuid"] != second["uuid"]
    assert first["code"] != second["code"] and first["longCode"] != second["longCode"]


def test_every_gaen_test_type_can_be_issued(server: Server, subtests: pytest.Subtests) -> None:
    for test_type in ("confirmed", "likely", "negative", "user-report"):
        with subtests.test(test_type=test_type):
            assert issue(server, testType=test_type)["code"]


# ---- validation ------------------------------------------------------------------------------


def test_unknown_test_type_is_rejected(server: Server, subtests: pytest.Subtests) -> None:
    for test_type in ("positive", "CONFIRMED", "", "confirmed "):
        with subtests.test(test_type=test_type):
            assert_error(post_issue(server, {"testType": test_type}), 400, "invalid_test_type")


@pytest.mark.parametrize("field", ["symptomDate", "testDate"])
def test_a_date_in_the_future_is_rejected(server: Server, field: str) -> None:
    # 10:30 UTC is 17:30 in Vietnam: tomorrow has not started there either.
    response = post_issue(server, {"testType": "confirmed", field: "2025-11-23"})
    assert_error(response, 400, "invalid_date")


def test_today_in_vietnam_is_accepted_while_it_is_still_yesterday_in_utc(server: Server) -> None:
    server.clock.advance(hours=9, minutes=30)  # 20:00 UTC on the 22nd = 03:00 on the 23rd at UTC+7
    assert issue(server, symptomDate="2025-11-23", testDate="2025-11-23")["code"]


def test_the_timezone_offset_decides_which_day_is_today(server: Server) -> None:
    server.clock.advance(hours=9, minutes=30)
    response = post_issue(server, {"testType": "confirmed", "symptomDate": "2025-11-23", "tzOffset": 0})
    assert_error(response, 400, "invalid_date")
    assert issue(server, symptomDate="2025-11-22", tzOffset=0)["code"]


def test_a_date_28_days_ago_is_accepted_and_29_days_ago_rejected(server: Server) -> None:
    assert issue(server, symptomDate="2025-10-25")["code"]
    assert_error(
        post_issue(server, {"testType": "confirmed", "symptomDate": "2025-10-24"}), 400, "invalid_date"
    )
    assert_error(post_issue(server, {"testType": "confirmed", "testDate": "2025-10-24"}), 400, "invalid_date")


def test_an_impossible_timezone_offset_is_rejected(server: Server, subtests: pytest.Subtests) -> None:
    for offset in (-721, 841, 10**12):
        with subtests.test(offset=offset):
            body = {"testType": "confirmed", "symptomDate": "2025-11-20", "tzOffset": offset}
            assert_error(post_issue(server, body), 400, "invalid_date")


UNPARSABLE: dict[str, Any] = {
    "month-13": {"testType": "confirmed", "symptomDate": "2025-13-45"},
    "day-first": {"testType": "confirmed", "symptomDate": "20/11/2025"},
    "word": {"testType": "confirmed", "testDate": "yesterday"},
    "number": {"testType": "confirmed", "symptomDate": 12},
    "tz-string": {"testType": "confirmed", "tzOffset": "UTC+7"},
    "no-test-type": {"symptomDate": "2025-11-20"},
    "list-test-type": {"testType": ["confirmed"]},
    "array-body": [],
    "string-body": "confirmed",
    "null-body": None,
}


def test_an_unparsable_request_is_a_400_json_error(server: Server, subtests: pytest.Subtests) -> None:
    for name, body in UNPARSABLE.items():
        with subtests.test(name):
            assert_error(post_issue(server, body), 400, "unparsable_request")


def test_a_body_that_is_not_json_is_a_400_json_error(server: Server, subtests: pytest.Subtests) -> None:
    for raw in (b"{", b"not json", b'{"testType": "confirmed"} trailing', b"\xff\xfe"):
        with subtests.test(raw=raw):
            response = server.client.post(
                "/api/issue",
                content=raw,
                headers={"X-API-Key": server.api_key, "Content-Type": "application/json"},
            )
            assert response.status_code == 400, response.text
            assert response.json()["errorCode"] in {"unparsable_request", "bad_request"}


def test_a_rejected_request_issues_no_code(server: Server) -> None:
    post_issue(server, {"testType": "confirmed", "symptomDate": "2025-11-23"})
    post_issue(server, {"testType": "positive"})
    with server.state.factory() as db:
        assert db.scalars(select(VerificationCode)).all() == []


# ---- quota -----------------------------------------------------------------------------------


def test_the_daily_quota_per_official_is_enforced(quota_server: Server) -> None:
    issue(quota_server)
    issue(quota_server)
    assert_error(post_issue(quota_server, {"testType": "confirmed"}), 429, "quota_exceeded")


def test_the_quota_counts_each_official_separately(quota_server: Server, make_server: Any) -> None:
    issue(quota_server)
    issue(quota_server)
    colleague = make_server(codes_per_official_per_day=2)
    assert issue(colleague)["code"]


def test_the_quota_starts_again_on_the_next_utc_day(quota_server: Server) -> None:
    issue(quota_server)
    issue(quota_server)
    quota_server.clock.advance(hours=14)  # 00:30 UTC the next day
    assert issue(quota_server)["code"]


def test_rejected_requests_do_not_count_against_the_quota(quota_server: Server) -> None:
    for _ in range(3):
        post_issue(quota_server, {"testType": "positive"})
    issue(quota_server)
    issue(quota_server)


# ---- what is stored --------------------------------------------------------------------------


def test_issuing_writes_an_audit_entry_without_the_code(server: Server) -> None:
    issued = issue(server, testType="likely", symptomDate="2025-11-20")
    with server.state.factory() as db:
        entries = db.scalars(select(AuditEntry).where(AuditEntry.action == "code.issued")).all()
    assert len(entries) == 1
    entry = entries[0]
    assert entry.official_id is not None
    detail = json.loads(entry.detail)
    assert detail["uuid"] == issued["uuid"] and detail["testType"] == "likely"
    assert issued["code"] not in entry.detail and issued["longCode"] not in entry.detail
    assert "2025-11-20" not in entry.detail  # no patient data either


def test_codes_are_stored_only_as_hashes(server: Server) -> None:
    issued = issue(server, symptomDate="2025-11-20")
    with server.state.factory() as db:
        row = db.get(VerificationCode, issued["uuid"])
        assert row is not None
        values = [getattr(row, column.key) for column in VerificationCode.__table__.columns]
    for secret in (issued["code"], issued["longCode"]):
        for value in values:
            if isinstance(value, bytes):
                assert secret.encode() not in value
                assert value.hex() != secret
            else:
                assert secret not in str(value)
    assert len(row.code_hash) == 32 and len(row.long_code_hash) == 32
