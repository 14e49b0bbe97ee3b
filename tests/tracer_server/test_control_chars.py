"""NUL and other control characters are a 400 before any database sees them, on SQLite and on
PostgreSQL: JSON bodies, form fields, query strings and path parameters.

PostgreSQL refuses NUL in text, so before this guard it answered 500 (with the SQL parameters in
the logged traceback) where SQLite answered 400 or carried on.
"""

from __future__ import annotations

import logging
import re
from typing import Any

import pytest
from fastapi.testclient import TestClient

from protocol import keyfile
from tracer_server.clock import utcnow
from tracer_server.db import transaction
from tracer_server.schemas import has_control_characters
from tracer_server.services.officials import create_official

from .conftest import Server, device_keys

PASSWORD = "a long enough password"
# NUL (PostgreSQL's 500), ESC (terminal injection), DEL, NEL (a C1 line break), LF (log lines).
CONTROLS = ["\x00", "\x1b", "\x7f", "\x85", "\n"]
FORM_CONTROLS = CONTROLS[:-1]  # a form's text may break lines: a key file pasted in a text area


@pytest.fixture
def errors(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    caplog.set_level(logging.ERROR)
    return caplog


def _nothing_logged(errors: pytest.LogCaptureFixture) -> None:
    """A refusal is not a server error: no traceback, no parameters in the log."""
    assert [r.getMessage() for r in errors.records] == []


def _signed_in(server: Server) -> tuple[TestClient, str]:
    """A console client signed in as an official, and a CSRF token of its session."""
    with transaction(server.state.factory) as db:
        create_official(
            db=db,
            keys=server.state.keys,
            name="Lan",
            role="official",
            now=utcnow(server.clock),
            password=PASSWORD,
        )
    client = TestClient(server.app, base_url="https://testserver")
    login = _csrf(client.get("/console/login").text)
    signed = client.post("/console/login", data={"name": "Lan", "password": PASSWORD, "csrf": login})
    assert signed.url.path == "/console/", signed.text[:200]
    return client, _csrf(client.get("/console/codes").text)


def _csrf(page: str) -> str:
    match = re.search(r'name="csrf" value="([^"]+)"', page)
    assert match is not None
    return match.group(1)


@pytest.mark.parametrize(
    ("path", "body", "code"),
    [
        ("/api/user-activity", {"district": "{}"}, {"errorCode": "unparsable_request"}),
        ("/api/verify", {"code": "12{}345"}, {"errorCode": "unparsable_request"}),
        ("/api/certificate", {"token": "a{}b", "ekeyhmac": "AAAA"}, {"errorCode": "unparsable_request"}),
        ("/api/verify", {"code": "123456", "padding": "QUJD{}"}, {"errorCode": "unparsable_request"}),
        (
            "/v1/publish",
            {
                "temporaryExposureKeys": [],
                "healthAuthorityID": "vn{}",
                "verificationPayload": "",
                "hmacKey": "",
            },
            {"code": "bad_request"},  # as Google's key server says it
        ),
    ],
)
def test_json_text_with_a_control_character_is_a_400(
    server: Server,
    errors: pytest.LogCaptureFixture,
    path: str,
    body: dict[str, Any],
    code: dict[str, str],
) -> None:
    for control in CONTROLS:
        sent = {
            name: value.replace("{}", control) if isinstance(value, str) else value
            for name, value in body.items()
        }
        response = server.client.post(path, json=sent)
        assert response.status_code == 400, (repr(control), response.text)
        assert code.items() <= response.json().items()
    _nothing_logged(errors)


def test_an_issue_request_with_a_nul_test_type_is_a_400(
    server: Server, errors: pytest.LogCaptureFixture
) -> None:
    response = server.client.post(
        "/api/issue", json={"testType": "confirmed\x00"}, headers={"X-API-Key": server.api_key}
    )
    assert response.status_code == 400 and response.json()["errorCode"] == "unparsable_request"
    _nothing_logged(errors)


def test_a_sign_in_form_field_with_a_control_character_is_a_400(
    server: Server, errors: pytest.LogCaptureFixture
) -> None:
    client = TestClient(server.app, base_url="https://testserver")
    csrf = _csrf(client.get("/console/login").text)
    for field in ("name", "password", "lang"):
        for control in FORM_CONTROLS:
            form = {"name": "Lan", "password": PASSWORD, "csrf": csrf, "lang": "vi"}
            form[field] = form[field][:1] + control
            response = client.post("/console/login", data=form, follow_redirects=False)
            assert response.status_code == 400, (field, repr(control), response.text[:300])
    _nothing_logged(errors)


def test_a_console_path_parameter_with_nul_is_a_400(server: Server, errors: pytest.LogCaptureFixture) -> None:
    client, csrf = _signed_in(server)
    for path in ("/console/codes/ab%00cd/revoke", "/console/adoption/A%00/target"):
        response = client.post(path, data={"csrf": csrf}, follow_redirects=False)
        assert response.status_code == 400, (path, response.text[:300])
    _nothing_logged(errors)


def test_a_console_form_field_with_nul_is_a_400_but_a_pasted_key_file_keeps_its_line_breaks(
    server: Server, errors: pytest.LogCaptureFixture
) -> None:
    client, csrf = _signed_in(server)
    upload_csrf = _csrf(client.get("/console/upload").text)
    pasted = keyfile.dump(device_keys(utcnow(server.clock)))
    assert "\n" in pasted
    form = {"csrf": upload_csrf, "report_type": "confirmed", "consent": "yes", "key_text": pasted}
    assert client.post("/console/upload", data=form).status_code == 200
    refused = client.post("/console/issue", data={"csrf": csrf, "test_type": "confirmed\x00"})
    assert refused.status_code == 400, refused.text[:300]
    _nothing_logged(errors)


@pytest.mark.parametrize(
    "path",
    [
        "/console/login?lang=%00",
        "/console/login?error=%1b%5b2J",
        "/v1/exports/index.txt?x=%0a",
        "/v1/exports/%00.zip",
        "/health?%7f=1",
    ],
)
def test_a_query_or_path_with_a_control_character_is_a_400(
    server: Server, errors: pytest.LogCaptureFixture, path: str
) -> None:
    response = server.client.get(path)
    assert response.status_code == 400, response.text[:300]
    assert path.startswith("/console/") or "error" in response.json()  # console pages speak HTML
    _nothing_logged(errors)


def test_only_form_text_may_hold_line_breaks() -> None:
    assert not has_control_characters("Nguyễn Văn A, quận 1")
    for control in ("\x00", "\x1b", "\x7f", "\x85", "\x9f", "\n", "\r", "\t"):
        assert has_control_characters(f"a{control}b"), repr(control)
    assert not has_control_characters("line one\r\nline\ttwo\n", multiline=True)
    assert has_control_characters("a\x00b", multiline=True)
