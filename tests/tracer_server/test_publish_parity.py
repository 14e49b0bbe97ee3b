"""``POST /v1/publish`` held against Google's key server on 38 edge-case requests (issue S1).

Each case is a request and the answer Google's exposure-notifications-server gives it (status,
inserted count, ``code``), read from its source and tests (``internal/publish``,
``internal/publish/model``, ``internal/jsonutil``, ``pkg/base64util``). Two more checks read
the stored row. The HMAC is computed as Google's client and verifier do: over the keys as sent
(the base64 text, ``.start.period.risk``, sorted), the risk segment dropped when all risks are 0.
The clock stands at 2025-11-22 10:30 UTC.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest

from protocol.keys import en_interval_number

from .conftest import ALL_TEST_TYPES, NOW, SECRET, Server, issue, stored_exposures, today_start

NOW_INTERVAL = en_interval_number(NOW.timestamp())
Item = dict[str, Any]


@pytest.fixture
def server(make_server: Callable[..., Server]) -> Server:
    return make_server(verify_attempts_per_minute=10_000)


def k(
    days_ago: int, *, offset: int = 0, period: int | None = 144, risk: int | None = 0, seed: int = 0
) -> Item:
    """A key item starting ``days_ago`` UTC days before today (plus ``offset`` intervals)."""
    data = bytes([days_ago, offset % 256, (period or 0) % 256, (risk or 0) % 256, seed]) + bytes(11)
    item: Item = {
        "key": base64.b64encode(data).decode(),
        "rollingStartNumber": today_start(NOW) - 144 * days_ago + offset,
    }
    if period is not None:
        item["rollingPeriod"] = period
    if risk is not None:
        item["transmissionRisk"] = risk
    return item


def google_hmac(items: list[Item], *, with_risk: bool = True, period_default: int = 0) -> bytes:
    """Google's ``CalculateExposureKeyHMAC``: absent numbers are Go's zero value."""
    segments = sorted(
        f"{i['key']}.{i['rollingStartNumber']}.{i.get('rollingPeriod', period_default)}"
        + (f".{i.get('transmissionRisk', 0)}" if with_risk else "")
        for i in items
    )
    return hmac.digest(SECRET, ",".join(segments).encode(), hashlib.sha256)


def certificate_over(server: Server, mac: bytes, **issue_body: Any) -> str:
    code = issue(server, **issue_body)["code"]
    verified = server.client.post("/api/verify", json={"code": code, "accept": list(ALL_TEST_TYPES)})
    assert verified.status_code == 200, verified.text
    mac_text = base64.b64encode(mac).decode()
    cert = server.client.post(
        "/api/certificate", json={"token": verified.json()["token"], "ekeyhmac": mac_text}
    )
    assert cert.status_code == 200, cert.text
    return str(cert.json()["certificate"])


@dataclass(frozen=True)
class Case:
    name: str
    items: list[Item]
    status: int
    inserted: int | None = None
    code: str | None = None
    issue: dict[str, Any] = field(default_factory=dict)
    body: dict[str, Any] = field(default_factory=dict)
    """Top-level fields to add (or, with None, to remove)."""
    mac: Callable[[list[Item]], bytes] = google_hmac
    raw: Callable[[bytes], tuple[bytes, str]] | None = None
    """Turns the JSON body into (content, content type) for what JSON cannot say."""


def _url_safe() -> Item:
    item = k(1)
    item["key"] = base64.urlsafe_b64encode(bytes([0xFB, 0xFF] * 8)).decode()  # "-_" where std has "+/"
    return item


def _unpadded() -> Item:
    item = k(1)
    item["key"] = item["key"].rstrip("=")
    return item


def _short_key() -> Item:
    item = k(2)
    item["key"] = base64.b64encode(bytes(14)).decode()
    return item


def _with(item: Item, **changes: Any) -> Item:
    return {**item, **changes}


PARTIAL = "partial_failure"
BAD = "bad_request"
CASES = [
    Case("1 valid: one key of yesterday", [k(1)], 200, 1, ""),
    Case("2 no keys", [], 400, code=BAD),
    Case("3 30 keys", [k(d, seed=s) for d in range(1, 16) for s in range(2)], 200, 30, ""),
    Case("4 31 keys", [k(d, seed=s) for d in range(1, 16) for s in range(2)] + [k(1, seed=9)], 400, code=BAD),
    Case("5 three keys with one start", [k(1, period=p, seed=p) for p in (44, 88, 144)], 200, 3, ""),
    Case("6 four keys with one start", [k(1, period=p, seed=p) for p in (44, 88, 100, 144)], 400, code=BAD),
    Case("7 non-aligned overlap, in order", [k(2), k(2, offset=72, period=72)], 400, code=BAD),
    Case("8 non-aligned overlap, out of order", [k(2, offset=72, period=72), k(2)], 400, code=BAD),
    Case("9 TR 9 beside a valid key", [k(1), k(2, risk=9)], 200, 1, PARTIAL),
    Case("10 TR -1 beside a valid key", [k(1), k(2, risk=-1)], 200, 1, PARTIAL),
    Case("11 rollingPeriod 0 beside a valid key", [k(1), k(2, period=0)], 200, 1, PARTIAL),
    Case("12 rollingPeriod 145 beside a valid key", [k(1), k(2, period=145)], 200, 1, PARTIAL),
    Case("13 a 14-byte key beside a valid key", [k(1), _short_key()], 200, 1, PARTIAL),
    Case("14 a single key with TR 9", [k(1, risk=9)], 400, code=BAD),
    Case("15 rollingPeriod missing, HMAC over .0", [k(1, period=None)], 400, code=BAD),
    Case(
        "16 rollingPeriod missing, HMAC over .144",
        [k(1, period=None)],
        400,
        code=BAD,
        mac=lambda items: google_hmac(items, period_default=144),
    ),
    Case("17 URL-safe base64", [_url_safe()], 200, 1, ""),
    Case("18 unpadded base64", [_unpadded()], 200, 1, ""),
    Case("19 a single key that ended more than 15 days ago", [k(17)], 400, code=BAD),
    Case("20 begun before the oldest moment, valid at it", [k(15)], 200, 1, ""),
    Case(
        "21 a future start beside a valid key",
        [k(1), _with(k(0, seed=1), rollingStartNumber=NOW_INTERVAL + 1)],
        200,
        1,
        PARTIAL,
    ),
    Case("22 today's key, still valid (embargoed)", [k(0)], 200, 1, ""),
    Case(
        "23 the only key, 15 days from onset", [k(15)], 200, 0, issue={"symptomDate": NOW.date().isoformat()}
    ),
    Case("24 an unknown top-level field", [k(1)], 400, code=BAD, body={"appPackageName": "vn.bluezone"}),
    Case("25 an unknown field in a key", [_with(k(1), region="VN")], 400, code=BAD),
    Case(
        "26 rollingStartNumber as a string",
        [_with(k(1), rollingStartNumber=str(today_start(NOW) - 144))],
        400,
        code=BAD,
    ),
    Case("27 transmissionRisk as 1.0", [_with(k(1), transmissionRisk=1.0)], 400, code=BAD),
    Case("28 rollingPeriod as '144'", [_with(k(1), rollingPeriod="144")], 400, code=BAD),
    Case("29 Content-Type text/plain", [k(1)], 415, raw=lambda body: (body, "text/plain")),
    Case("30 two JSON objects", [k(1)], 400, raw=lambda body: (body + body, "application/json")),
    Case(
        "31 healthAuthorityID missing",
        [k(1)],
        401,
        code="unknown_health_authority_id",
        body={"healthAuthorityID": None},
    ),
    Case(
        "32 healthAuthorityID unknown",
        [k(1)],
        401,
        code="unknown_health_authority_id",
        body={"healthAuthorityID": "xx.nobody"},
    ),
    Case("33 a body over 64,000 bytes", [k(1)], 413, body={"padding": "A" * 64_000}),
    Case(
        "34 all TR 0, HMAC without the risk segment",
        [k(1), k(2)],
        200,
        2,
        "",
        mac=lambda items: google_hmac(items, with_risk=False),
    ),
    Case(
        "35 all TR omitted, HMAC without the risk segment",
        [k(1, risk=None), k(2, risk=None)],
        200,
        2,
        "",
        mac=lambda items: google_hmac(items, with_risk=False),
    ),
    Case("36 a self-report with TR 0", [k(1)], 200, 1, "", issue={"testType": "user-report"}),
    Case("37 a confirmed key with TR 0", [k(1)], 200, 1, ""),
    Case(
        "38 symptomOnsetInterval is the current interval",
        [k(1)],
        200,
        1,
        "",
        issue={"symptomDate": "2025-11-17"},
        body={"symptomOnsetInterval": NOW_INTERVAL},
    ),
]


def post(server: Server, case: Case) -> Any:
    cert = certificate_over(server, case.mac(case.items), **case.issue)
    body: dict[str, Any] = {
        "temporaryExposureKeys": case.items,
        "healthAuthorityID": "vn.bluezone",
        "verificationPayload": cert,
        "hmacKey": base64.b64encode(SECRET).decode(),
    }
    for name, value in case.body.items():
        if value is None:
            body.pop(name)
        else:
            body[name] = value
    content, content_type = json.dumps(body).encode(), "application/json"
    if case.raw is not None:
        content, content_type = case.raw(content)
    return server.client.post("/v1/publish", content=content, headers={"Content-Type": content_type})


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_the_answer_is_googles(server: Server, case: Case) -> None:
    response = post(server, case)
    assert response.status_code == case.status, response.text
    answer = response.json()
    if case.code is not None:
        assert answer.get("code", "") == case.code, answer
    if case.inserted is not None:
        assert answer["insertedExposures"] == case.inserted, answer
        assert len(stored_exposures(server)) == case.inserted
    if case.status != 200:
        assert isinstance(answer.get("error"), str) and answer["error"]


def _case(number: int) -> Case:
    (case,) = [c for c in CASES if c.name.startswith(f"{number} ")]
    return case


def test_a_confirmed_key_with_tr_0_is_stored_with_tr_2(server: Server) -> None:
    assert post(server, _case(37)).status_code == 200
    (row,) = stored_exposures(server).values()
    assert row.transmission_risk == 2


def test_an_onset_at_the_current_interval_gives_way_to_the_certificates(server: Server) -> None:
    """Google takes the request's onset only when it is earlier than now; the certificate's
    symptom date (2025-11-17, five days before) applies: yesterday's key is day +4."""
    assert post(server, _case(38)).status_code == 200
    (row,) = stored_exposures(server).values()
    assert row.days_since_onset == 4
