"""B2: revisions, chaff, the body cap, response padding and logs that record no one; S2: the
console's CSV and QR link, whatever a district's name or a request's Host header says."""

from __future__ import annotations

import base64
import csv
import io
import logging
import re
import time
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pydantic import ValidationError
from sqlalchemy import func, select

from protocol.export import MAX_EXPORT_KEYS, ReportType, read_export
from tracer_server.clock import utcnow
from tracer_server.db import transaction
from tracer_server.models import Exposure
from tracer_server.services import adoption
from tracer_server.services.export_job import run_export
from tracer_server.services.officials import create_official
from tracer_server.settings import Settings

from .conftest import Server, certificate_for, device_keys, issue, publish_body


def _publish(server: Server, test_type: str, keys: list[Any], token: str = "") -> Any:
    code = issue(server, testType=test_type, symptomDate="2025-11-20")["code"]
    verified = server.client.post(
        "/api/verify", json={"code": code, "accept": ["confirmed", "likely", "negative"]}
    )
    assert verified.status_code == 200, verified.text
    from protocol.publish import tek_hmac

    secret = bytes(range(32))
    mac = base64.b64encode(tek_hmac(secret, keys)).decode()
    cert = server.client.post("/api/certificate", json={"token": verified.json()["token"], "ekeyhmac": mac})
    return server.client.post(
        "/v1/publish", json=publish_body(cert.json()["certificate"], keys, revisionToken=token)
    )


def _export(server: Server) -> list[Any]:
    state = server.state
    report = run_export(
        factory=state.factory,
        settings=server.settings,
        storage=state.storage,
        signing_keys=[state.keys.export_signing],
        now=utcnow(server.clock),
        close_window=True,
    )
    return [read_export(state.storage.get(name), state.keys.export_verification) for name in report.files]


def test_likely_keys_revised_to_confirmed_reappear_in_revised_keys_unpadded(server: Server) -> None:
    keys = device_keys(utcnow(server.clock))
    first = _publish(server, "likely", keys)
    assert first.status_code == 200 and first.json()["insertedExposures"] == 3
    token = first.json()["revisionToken"]
    (initial,) = _export(server)
    assert {k.report_type for k in initial.keys if k.key_data in {u.key_data for u in keys}} == {2}

    server.clock.advance(hours=2)
    second = _publish(server, "confirmed", keys, token)
    assert second.status_code == 200, second.text
    assert second.json()["insertedExposures"] == 0 and second.json()["warnings"] == []
    (revision,) = _export(server)
    assert len(revision.revised_keys) == 3  # exactly the revised keys: revisions are never padded
    assert {k.report_type for k in revision.revised_keys} == {ReportType.CONFIRMED_TEST}
    assert {k.key_data for k in revision.revised_keys} == {k.key_data for k in keys}


def test_a_key_is_revised_once(server: Server) -> None:
    keys = device_keys(utcnow(server.clock))
    token = _publish(server, "likely", keys).json()["revisionToken"]
    assert _publish(server, "confirmed", keys, token).status_code == 200
    again = _publish(server, "negative", keys, token)
    assert again.status_code == 200
    assert all("key_already_revised" in w for w in again.json()["warnings"])


def test_confirmed_keys_cannot_be_revoked(server: Server) -> None:
    keys = device_keys(utcnow(server.clock))
    token = _publish(server, "confirmed", keys).json()["revisionToken"]
    revoked = _publish(server, "negative", keys, token)
    assert all("invalid_report_type_transition" in w for w in revoked.json()["warnings"])
    with server.state.factory() as db:
        assert db.scalar(select(func.count()).where(Exposure.revised_at.is_not(None))) == 0


def test_revision_without_or_with_a_foreign_token_is_refused(server: Server) -> None:
    keys = device_keys(utcnow(server.clock))
    _publish(server, "likely", keys)
    without = _publish(server, "confirmed", keys)
    assert without.status_code == 400 and "revisionToken" in str(without.json())
    forged = _publish(server, "confirmed", keys, base64.b64encode(b"x" * 80).decode())
    assert forged.status_code == 400 and forged.json()["code"] == "invalid_revision_token"


def test_revision_tokens_do_not_reveal_how_many_keys_they_cover(server: Server) -> None:
    one = _publish(server, "likely", device_keys(utcnow(server.clock), days=1, rng_seed=1)).json()[
        "revisionToken"
    ]
    many = _publish(server, "likely", device_keys(utcnow(server.clock), days=10, rng_seed=2)).json()[
        "revisionToken"
    ]
    assert len(one) == len(many)


def test_chaff_is_answered_without_touching_the_database(server: Server) -> None:
    keys = device_keys(utcnow(server.clock))
    real = _publish(server, "confirmed", keys)
    with server.state.factory() as db:
        before = db.scalar(select(func.count()).select_from(Exposure))
    chaff = server.client.post("/v1/publish", json={"anything": "at all"}, headers={"X-Chaff": "1"})
    assert chaff.status_code == 200
    assert abs(len(chaff.content) - len(real.content)) < 1500  # sizes drawn from real answers
    for path in ("/api/verify", "/api/certificate"):
        assert server.client.post(path, json={}, headers={"X-Chaff": "1"}).status_code == 200
    with server.state.factory() as db:
        assert db.scalar(select(func.count()).select_from(Exposure)) == before


def test_chaff_takes_about_as_long_as_real_requests(server: Server) -> None:
    for _ in range(3):
        started = time.monotonic()
        server.client.post("/api/verify", json={"code": "00000000"})
        real = time.monotonic() - started
    started = time.monotonic()
    server.client.post("/api/verify", json={"code": "x"}, headers={"X-Chaff": "1"})
    fake = time.monotonic() - started
    assert fake >= 0.5 * real


def test_bodies_over_64_kb_are_refused_before_parsing(server: Server) -> None:
    huge = b'{"code": "' + b"1" * 70_000 + b'"}'
    response = server.client.post("/api/verify", content=huge, headers={"Content-Type": "application/json"})
    assert response.status_code == 413 and response.json()["errorCode"] == "payload_too_large"
    streamed = server.client.post("/v1/publish", content=iter([b"{", b" " * 70_000, b"}"]))
    assert streamed.status_code == 413 and response.headers["content-type"] == "application/json"


@pytest.mark.parametrize("path", ["/api/verify", "/v1/publish"])
def test_malformed_json_gets_a_4xx_json_error(server: Server, path: str) -> None:
    response = server.client.post(path, content=b"{not json", headers={"Content-Type": "application/json"})
    assert 400 <= response.status_code < 500
    assert "error" in response.json()


def test_device_responses_carry_padding(server: Server) -> None:
    issued = issue(server)
    assert len(issued["padding"]) > 1000
    verified = server.client.post("/api/verify", json={"code": issued["code"]})
    assert len(verified.json()["padding"]) > 1000


def test_logs_of_a_full_flow_hold_no_address_agent_key_or_code(
    server: Server, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    keys = device_keys(utcnow(server.clock))
    issued = issue(server)
    cert = certificate_for(server, issued["code"], keys)
    server.client.post(
        "/v1/publish", json=publish_body(cert, keys), headers={"User-Agent": "Secret-Agent/1.0"}
    )
    server.client.get("/v1/exports/../../etc/passwd%0Aforged-line")
    server_side = ("tracer_server", "uvicorn", "fastapi", "starlette", "sqlalchemy", "alembic")
    text = "\n".join(r.getMessage() for r in caplog.records if r.name.split(".")[0] in server_side)
    assert "POST /v1/publish 200" in text  # the access log is there…
    forbidden = [
        "testclient",
        "127.0.0.1",
        "Secret-Agent",
        issued["code"],
        issued["longCode"],
        cert,
        server.api_key,
    ]
    forbidden += [k.key_b64 for k in keys] + [k.key_data.hex() for k in keys]
    for secret in forbidden:
        assert secret not in text, f"{secret[:20]!r} leaked into the logs"
    assert "forged-line" not in text  # …and it never echoes the raw path


def test_a_request_commits_before_its_response_is_sent(server: Server) -> None:
    """Regression: with FastAPI's default dependency scope the commit ran after the response,
    so a code could be unknown to the very next request (seen as 1 in 100 in bench/server.py)."""
    from sqlalchemy import event
    from sqlalchemy.orm import Session

    order: list[str] = []

    def committed(_: Session) -> None:
        order.append("commit")

    inner = server.app

    async def watched(scope: Any, receive: Any, send: Any) -> None:
        async def record(message: Any) -> None:
            if message["type"] == "http.response.start":
                order.append("response")
            await send(message)

        await inner(scope, receive, record)

    from fastapi.testclient import TestClient

    event.listen(Session, "after_commit", committed)
    try:
        with TestClient(watched) as client:
            response = client.post(
                "/api/issue", json={"testType": "confirmed"}, headers={"X-API-Key": server.api_key}
            )
    finally:
        event.remove(Session, "after_commit", committed)
    assert response.status_code == 200
    assert order == ["commit", "response"]


def test_an_official_issuing_too_fast_is_rate_limited(make_server: Any) -> None:
    fast = make_server(issue_requests_per_minute=2)
    statuses = [
        fast.client.post(
            "/api/issue", json={"testType": "confirmed"}, headers={"X-API-Key": fast.api_key}
        ).status_code
        for _ in range(3)
    ]
    assert statuses == [200, 200, 429]
    fast.clock.advance(seconds=61)
    again = fast.client.post(
        "/api/issue", json={"testType": "confirmed"}, headers={"X-API-Key": fast.api_key}
    )
    assert again.status_code == 200


# ---- the console's CSV and QR link, and the settings behind them ------------------------------

PASSWORD = "a long enough password"


def _console(server: Server, role: str = "admin", name: str = "Lan") -> TestClient:
    with transaction(server.state.factory) as db:
        create_official(
            db=db, keys=server.state.keys, name=name, role=role, now=utcnow(server.clock), password=PASSWORD
        )
    client = TestClient(server.app, base_url="https://testserver")
    signed_in = client.post(
        "/console/login",
        data={"name": name, "password": PASSWORD, "csrf": _csrf(client.get("/console/login"))},
    )
    assert signed_in.url.path == "/console/"
    return client


def _csrf(page: Any) -> str:
    match = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert match is not None
    return match.group(1)


HOSTILE_NAMES = ['=HYPERLINK("http://evil.example","x")', "+1+1", "-2+3", "@SUM(A1)", "\tTab", "\rCR"]


def test_adoption_csv_cells_that_a_spreadsheet_would_run_as_formulas_are_text(server: Server) -> None:
    table = io.StringIO()
    writer = csv.writer(table)
    writer.writerow(["district", "population", "smartphones"])
    for name in [*HOSTILE_NAMES, "Huyện Yên Sơn"]:
        writer.writerow([name, 1000, 500])
    with transaction(server.state.factory) as db:
        adoption.load_districts(db, table.getvalue())
    response = _console(server).get("/console/adoption.csv")
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/csv")
    rows = {row["district"]: row for row in csv.DictReader(io.StringIO(response.text))}
    assert set(rows) == {f"'{name}" for name in HOSTILE_NAMES} | {"Huyện Yên Sơn"}  # OWASP: a leading '
    assert rows["Huyện Yên Sơn"]["population"] == "1000" and rows["'+1+1"]["code"] == "1-1"


def test_the_qr_link_never_comes_from_the_host_header(make_server: Any) -> None:
    def issue_page(server: Server) -> str:
        client = _console(server, role="official", name=f"Lan {server.api_key[:6]}")
        form = {"csrf": _csrf(client.get("/console/issue")), "test_type": "confirmed"}
        response = client.post("/console/issue", data=form, headers={"Host": "evil.example"})
        assert response.status_code == 200
        return response.text

    unset = issue_page(make_server())
    assert "evil.example" not in unset and "<svg" not in unset
    assert 'id="no-link"' in unset and "BLUEZONE_PUBLIC_BASE_URL" in unset  # it says why
    configured = issue_page(make_server(public_base_url="https://tracer.example/bluezone/"))
    code = re.search(r'id="code" translate="no">(\d{4}) (\d{4})<', configured)
    assert code is not None and "evil.example" not in configured
    assert f"https://tracer.example/bluezone/v?c={code[1]}{code[2]}&amp;r=VN" in configured
    assert "<svg" in configured


@pytest.mark.parametrize(
    "value",
    ["http://tracer.example", "https://tracer.example/?x=1", "https://evil.example#", "tracer.example"],
)
def test_public_base_url_is_an_https_address_without_query(value: str) -> None:
    assert Settings(public_base_url="https://tracer.example:8443/bz/").public_base_url == (
        "https://tracer.example:8443/bz"
    )
    with pytest.raises(ValidationError, match="public_base_url"):
        Settings(public_base_url=value)


def test_forwarded_allow_ips_names_proxies_and_refuses_a_wildcard() -> None:
    assert Settings().forwarded_allow_ips == ""  # the default believes no forwarded header
    assert (
        Settings(forwarded_allow_ips=" 127.0.0.1, 10.0.0.0/8 ").forwarded_allow_ips == "127.0.0.1,10.0.0.0/8"
    )
    for value in ("*", "nginx.internal", "127.0.0.1,*"):
        with pytest.raises(ValidationError, match="forwarded_allow_ips"):
            Settings(forwarded_allow_ips=value)


def test_files_the_server_may_write_are_files_every_beacon_reads() -> None:
    # File 1 of a batch carries the window's revised keys too: twice the setting at most.
    assert Settings().export_max_keys_per_file * 2 <= MAX_EXPORT_KEYS
    assert Settings(export_max_keys_per_file=MAX_EXPORT_KEYS // 2).export_max_keys_per_file
    for value in (0, MAX_EXPORT_KEYS // 2 + 1):
        with pytest.raises(ValidationError, match="export_max_keys_per_file"):
            Settings(export_max_keys_per_file=value)
