"""An official who lost a key or a password is helped in the console: a new API key, a reset
password, an account disabled and enabled again, each confirmed first; every sign-in and every
lifecycle action is audited, and the audit page reads as sentences, filtered and paged."""

from __future__ import annotations

import json
import re
import uuid
from datetime import timedelta
from html.parser import HTMLParser

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from tracer_server.clock import utcnow
from tracer_server.db import transaction
from tracer_server.errors import ServerError
from tracer_server.models import AuditEntry, Official, VerificationCode
from tracer_server.services import officials
from tracer_server.services.officials import create_official

from .conftest import Server

PASSWORD = "a long enough password"


def _create(server: Server, name: str, role: str, password: str | None = PASSWORD) -> tuple[int, str]:
    with transaction(server.state.factory) as db:
        official, api_key = create_official(
            db=db, keys=server.state.keys, name=name, role=role, now=utcnow(server.clock), password=password
        )
        return official.id, api_key


def _csrf(page: str) -> str:
    match = re.search(r'name="csrf" value="([^"]+)"', page)
    assert match is not None, page[:500]
    return match.group(1)


def _sign_in(server: Server, name: str, password: str = PASSWORD) -> TestClient:
    client = TestClient(server.app, base_url="https://testserver")
    csrf = _csrf(client.get("/console/login").text)
    client.post("/console/login", data={"name": name, "password": password, "csrf": csrf})
    return client


def _visible(page: str) -> str:
    """The text a person reads: tags (and their attributes, e.g. option values) dropped."""
    return re.sub(r"<[^>]*>", " ", page)


def _signed_in(client: TestClient) -> bool:
    return client.get("/console/", follow_redirects=False).status_code == 200


def _issue_status(server: Server, api_key: str) -> int:
    answer = server.client.post("/api/issue", json={"testType": "confirmed"}, headers={"X-API-Key": api_key})
    return answer.status_code


def _confirm(client: TestClient, path: str, **form: str) -> str:
    """GET the confirmation page, then POST its form with its CSRF token: what a person clicks."""
    page = client.get(path)
    assert page.status_code == 200 and 'id="confirm"' in page.text, page.text[:300]
    answer = client.post(path, data={"csrf": _csrf(page.text), **form})
    assert answer.status_code == 200, answer.text[:300]
    return answer.text


def _audit(server: Server) -> list[AuditEntry]:
    with server.state.factory() as db:
        return list(db.scalars(select(AuditEntry).order_by(AuditEntry.id)))


def test_a_new_api_key_is_shown_once_and_the_old_one_is_refused_at_once(server: Server) -> None:
    _create(server, "Admin", "admin")
    lan_id, old_key = _create(server, "Lan", "official")
    admin = _sign_in(server, "Admin")

    done = _confirm(admin, f"/console/officials/{lan_id}/rotate-api-key")

    secret = re.search(r'<code id="secret" translate="no">(bz_[^<]+)</code>', done)
    assert secret is not None
    assert _issue_status(server, old_key) == 401 and _issue_status(server, secret.group(1)) == 200
    assert secret.group(1) not in admin.get("/console/officials").text  # shown once
    (entry,) = [e for e in _audit(server) if e.action == "official.api_key_rotated"]
    assert entry.subject_id == lan_id and secret.group(1) not in entry.detail


def test_a_reset_password_ends_the_officials_sessions(server: Server) -> None:
    _create(server, "Admin", "admin")
    lan_id, _ = _create(server, "Lan", "official")
    admin, lan = _sign_in(server, "Admin"), _sign_in(server, "Lan")
    assert _signed_in(lan)

    done = _confirm(admin, f"/console/officials/{lan_id}/reset-password")  # empty: one is generated

    generated = re.search(r'<code id="secret" translate="no">([^<]+)</code>', done)
    assert generated is not None and len(generated.group(1)) >= 12
    assert not _signed_in(lan)
    assert not _signed_in(_sign_in(server, "Lan", PASSWORD))
    assert _signed_in(_sign_in(server, "Lan", generated.group(1)))

    given = _confirm(admin, f"/console/officials/{lan_id}/reset-password", password="chosen by the admin")
    assert 'id="secret"' not in given
    assert _signed_in(_sign_in(server, "Lan", "chosen by the admin"))
    short = admin.post(
        f"/console/officials/{lan_id}/reset-password",
        data={"csrf": _csrf(admin.get("/console/officials").text), "password": "short"},
    )
    assert short.status_code == 400 and 'class="error"' in short.text


def test_a_disabled_official_cannot_sign_in_nor_use_the_key_and_is_signed_out(server: Server) -> None:
    _create(server, "Admin", "admin")
    lan_id, api_key = _create(server, "Lan", "official")
    admin, lan = _sign_in(server, "Admin"), _sign_in(server, "Lan")

    _confirm(admin, f"/console/officials/{lan_id}/disable")

    assert not _signed_in(lan) and not _signed_in(_sign_in(server, "Lan"))
    assert _issue_status(server, api_key) == 401
    _confirm(admin, f"/console/officials/{lan_id}/enable")
    assert _signed_in(_sign_in(server, "Lan")) and _issue_status(server, api_key) == 200


def test_the_last_enabled_administrator_cannot_be_disabled(server: Server) -> None:
    first_id, _ = _create(server, "Admin", "admin")
    second_id, _ = _create(server, "Second", "admin")
    admin = _sign_in(server, "Admin")
    _confirm(admin, f"/console/officials/{second_id}/disable")

    page = admin.get(f"/console/officials/{first_id}/disable")
    refused = admin.post(f"/console/officials/{first_id}/disable", data={"csrf": _csrf(page.text)})

    assert refused.status_code == 400 and 'class="error"' in refused.text
    assert _signed_in(admin)
    with server.state.factory() as db:
        assert db.get(Official, first_id).disabled is False  # type: ignore[union-attr]
        with pytest.raises(ServerError) as error:
            officials.disable_official(
                db=db, official=db.get(Official, first_id), by=None, now=utcnow(server.clock)
            )  # type: ignore[arg-type]
    assert error.value.http_status == 409


def test_officials_pages_are_for_administrators_and_every_action_needs_the_csrf_token(server: Server) -> None:
    _create(server, "Admin", "admin")
    lan_id, api_key = _create(server, "Lan", "official")
    lan, admin = _sign_in(server, "Lan"), _sign_in(server, "Admin")
    assert lan.get("/console/officials").status_code == 403
    assert lan.get(f"/console/officials/{lan_id}/disable").status_code == 403
    csrf = _csrf(lan.get("/console/issue").text)
    assert lan.post(f"/console/officials/{lan_id}/rotate-api-key", data={"csrf": csrf}).status_code == 403
    for action in ("rotate-api-key", "reset-password", "disable", "enable"):
        assert admin.post(f"/console/officials/{lan_id}/{action}", data={"csrf": "forged"}).status_code == 403
    assert _issue_status(server, api_key) == 200 and _signed_in(lan)
    for unknown in ("99999", "not-a-number", "1" * 30):
        assert admin.get(f"/console/officials/{unknown}/disable").status_code == 404
    assert admin.get(f"/console/officials/{lan_id}/promote").status_code == 404


def test_every_sign_in_is_audited_naming_only_an_officials_name(server: Server) -> None:
    lan_id, _ = _create(server, "Lan", "official")
    _sign_in(server, "Lan")
    _sign_in(server, "Lan", "the wrong password, typed")
    _sign_in(server, "somebody's secret typed as a name", "whatever password")

    entries = [e for e in _audit(server) if e.action.startswith("console.")]

    assert [(e.action, e.official_id, e.subject_id) for e in entries] == [
        ("console.signed_in", lan_id, lan_id),
        ("console.sign_in_failed", None, lan_id),
        ("console.sign_in_failed", None, None),
    ]
    stored = " ".join(e.detail for e in _audit(server))
    assert "wrong password" not in stored and "secret typed" not in stored and "whatever" not in stored
    assert "testclient" not in stored and "127.0.0.1" not in stored
    assert all(set(json.loads(e.detail)) <= {"client", "reason"} for e in entries)


def test_the_audit_page_reads_as_sentences_with_filters_and_paging(server: Server) -> None:
    admin_id, _ = _create(server, "Admin", "admin")
    lan_id, _ = _create(server, "Lan", "official")
    admin = _sign_in(server, "Admin")
    _confirm(admin, f"/console/officials/{lan_id}/rotate-api-key")
    _sign_in(server, "Nobody at all", PASSWORD)
    with transaction(server.state.factory) as db:  # 320 more entries, a day ago: past the old 300 cap
        for n in range(320):
            officials.audit(
                db=db, now=utcnow(server.clock) - timedelta(days=1, seconds=n), official_id=admin_id,
                action="code.revoked", detail={"uuid": f"{n:08d}-0000-4000-8000-000000000000"},
            )  # fmt: skip

    page = admin.get("/console/audit").text
    text = _visible(page)
    assert not re.search(r"\b(console|official|code|keys|adoption)\.[a-z_]+", text)  # no raw action names
    assert "{&#34;" not in text and '{"' not in text  # no JSON
    assert "Đã cấp khoá API mới cho Lan" in text and "một tên không phải của cán bộ nào" in text
    assert "Nobody at all" not in text
    assert page.count('<td class="action">') == 50 and 'id="next-page"' in page

    admin.post("/console/language", data={"csrf": _csrf(page)})
    english = _visible(admin.get("/console/audit").text)
    assert "Gave Lan a new API key" in english and "a name that is not an official's" in english

    rotated = admin.get("/console/audit", params={"action": "official.api_key_rotated"}).text
    assert rotated.count('<td class="action">') == 1
    about_lan = admin.get("/console/audit", params={"official": str(lan_id)}).text
    assert about_lan.count('<td class="action">') == 2  # created, new key
    today = utcnow(server.clock).date().isoformat()
    yesterday = (utcnow(server.clock) - timedelta(days=1)).date().isoformat()
    assert 'id="audit-count"' in admin.get("/console/audit", params={"since": today}).text
    old = admin.get("/console/audit", params={"until": yesterday, "page": "7"}).text
    assert old.count('<td class="action">') == 320 - 6 * 50 and 'id="next-page"' not in old
    for junk in ({"since": "not a date", "official": "x"}, {"page": "0"}, {"page": "-1"}, {"action": "drop"}):
        assert admin.get("/console/audit", params=junk).status_code == 200


def _insert_codes(server: Server, official_id: int, count: int) -> list[str]:
    now = utcnow(server.clock)
    references = []
    with transaction(server.state.factory) as db:
        for n in range(count):
            reference = str(uuid.uuid4())
            references.append(reference)
            db.add(
                VerificationCode(
                    uuid=reference, code_hash=uuid.uuid4().bytes * 2, long_code_hash=uuid.uuid4().bytes * 2,
                    test_type="confirmed", tz_offset_minutes=420, issued_by=official_id,
                    issued_at=now - timedelta(minutes=n), expires_at=now + timedelta(hours=1),
                    long_expires_at=now + timedelta(hours=24),
                )
            )  # fmt: skip
    return references


def test_the_codes_page_shows_every_code_with_its_full_reference_searched_and_paged(server: Server) -> None:
    admin_id, _ = _create(server, "Admin", "admin")
    references = _insert_codes(server, admin_id, 230)  # past the old 200 cap
    admin = _sign_in(server, "Admin")

    first = admin.get("/console/codes").text
    assert first.count('<code class="reference" translate="no">') == 50 and references[0] in first
    last = admin.get("/console/codes", params={"page": "5"}).text
    assert last.count('<code class="reference" translate="no">') == 30 and references[-1] in last
    found = admin.get("/console/codes", params={"reference": references[123][:13].upper()}).text
    assert found.count('<code class="reference" translate="no">') == 1 and references[123] in found
    today = utcnow(server.clock).date().isoformat()
    assert (
        admin.get("/console/codes", params={"day": "2000-01-01"}).text.count(
            '<code class="reference" translate="no">'
        )
        == 0
    )
    assert (
        admin.get("/console/codes", params={"day": today, "reference": "%"}).text.count('class="reference"')
        == 50
    )


def test_revoking_takes_a_confirmation_and_the_case_is_told_on_verify(server: Server) -> None:
    _create(server, "Lan", "official")
    _create(server, "Minh", "official")
    lan, minh = _sign_in(server, "Lan"), _sign_in(server, "Minh")
    issue_page = lan.get("/console/issue").text
    issued = lan.post("/console/issue", data={"csrf": _csrf(issue_page), "test_type": "confirmed"}).text
    reference = re.search(r'<code id="reference" translate="no">([0-9a-f-]{36})</code>', issued)
    code = re.search(r'<div class="code" id="code" translate="no">(\d{4}) (\d{4})</div>', issued)
    assert reference is not None and code is not None
    path = f"/console/codes/{reference.group(1)}/revoke"

    assert lan.get("/console/codes").text.count(path) == 1  # a link to the confirmation, no form
    assert minh.get(path).status_code == 404  # another official's code is no code of his
    assert minh.post(path, data={"csrf": _csrf(minh.get("/console/issue").text)}).status_code == 404
    unknown = lan.get(f"/console/codes/{uuid.uuid4()}/revoke")
    assert unknown.status_code == 404 and "<html" in unknown.text
    forged = lan.post(path, data={"csrf": "forged"})
    assert forged.status_code == 403
    page = lan.get(path)
    assert reference.group(1) in page.text
    revoked = lan.post(path, data={"csrf": _csrf(page.text)})
    assert revoked.status_code == 200 and revoked.url.path == "/console/codes"

    answer = server.client.post("/api/verify", json={"code": code.group(1) + code.group(2)})
    assert answer.status_code == 400
    assert answer.json() == {
        "error": "this code was revoked: ask the health official for a new one",
        "errorCode": "code_revoked",
    }
    unknown_code = server.client.post(
        "/api/verify", json={"code": "0" * 8 if code.group(1) != "0000" else "1" * 8}
    )
    assert unknown_code.json()["errorCode"] == "code_not_found"


class _Reader(HTMLParser):
    """The text a person reads in the page's <main>, less what is marked translate="no" (names,
    references, keys). The header is every page's, read by test_console_browser.py."""

    def __init__(self) -> None:
        super().__init__()
        self.texts: list[str] = []
        self._skip: list[str] = []  # the open tags, each marked whether it hides its text

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag not in ("input", "meta", "br", "link", "img"):
            hidden = ("translate", "no") in attrs or tag in ("style", "script", "header", "title")
            self._skip.append("no" if hidden else "")

    def handle_endtag(self, tag: str) -> None:
        if tag not in ("input", "meta", "br", "link", "img") and self._skip:
            self._skip.pop()

    def handle_data(self, data: str) -> None:
        if data.strip() and "no" not in self._skip:
            self.texts.append(" ".join(data.split()))


_ENGLISH = re.compile(
    r"\b(the|and|is|of|to|no|not|key|sign|code|codes|reference|official|officials|admin|password|disabled|"
    r"enabled|revoke|revoked|active|expired|used|confirm|cancel|page|search|filter|none)\b",
    re.IGNORECASE,
)


def _read_vietnamese(client: TestClient, path: str, *, status: int = 200) -> str:
    answer = client.get(path)
    assert answer.status_code == status, (path, answer.status_code)
    reader = _Reader()
    reader.feed(answer.text)
    text = "\n".join(t for t in reader.texts if t not in ("Bluezone", "English"))
    for never in ("object at 0x", "built-in", "%(", "{{", "Undefined"):
        assert never not in text, (path, never)
    english = _ENGLISH.findall(text.replace("API", "").replace("Official Nguyen", ""))  # the fixture's name
    assert english == [], (path, english, text)
    return text


def test_the_officials_audit_and_codes_pages_read_in_vietnamese(server: Server) -> None:
    _create(server, "Quản trị", "admin")
    lan_id, _ = _create(server, "Lan", "official")
    admin = _sign_in(server, "Quản trị")
    _sign_in(server, "Không ai", PASSWORD)
    issued = admin.post(
        "/console/issue", data={"csrf": _csrf(admin.get("/console/issue").text), "test_type": "likely"}
    )
    reference = re.search(r'<code id="reference" translate="no">([0-9a-f-]{36})</code>', issued.text)
    assert reference is not None
    _read_vietnamese(admin, "/console/issue")
    assert "Số tham chiếu" in _read_vietnamese(admin, "/console/codes")
    assert "Thu hồi mã này?" in _read_vietnamese(admin, f"/console/codes/{reference.group(1)}/revoke")
    _read_vietnamese(admin, f"/console/codes/{uuid.uuid4()}/revoke", status=404)
    _read_vietnamese(admin, "/console/officials")
    for action in ("rotate-api-key", "reset-password", "disable", "enable"):
        _read_vietnamese(admin, f"/console/officials/{lan_id}/{action}")
    _confirm(admin, f"/console/officials/{lan_id}/disable")
    _confirm(admin, f"/console/officials/{lan_id}/rotate-api-key")
    audit = _read_vietnamese(admin, "/console/audit")
    for sentence in (
        "Đã khoá tài khoản của Lan.",
        "Đã cấp khoá API mới cho Lan",
        "Đã đăng nhập vào bảng điều khiển.",
    ):
        assert sentence in audit, audit


def test_two_administrators_disabling_each_other_at_once_leave_one_enabled(server: Server) -> None:
    """The check and the update race: the admins' rows are locked (PostgreSQL) or the write lock
    is taken at BEGIN (SQLite), so the second disable waits for the first and then refuses."""
    import threading

    first_id, _ = _create(server, "First", "admin")
    second_id, _ = _create(server, "Second", "admin")
    now = utcnow(server.clock)
    outcome: list[object] = []

    def disable_second() -> None:
        try:
            with transaction(server.state.factory) as db:
                officials.disable_official(db=db, official=db.get(Official, second_id), by=None, now=now)  # type: ignore[arg-type]
            outcome.append("disabled")
        except ServerError as exc:
            outcome.append(exc.http_status)

    with transaction(server.state.factory) as db:
        officials.disable_official(db=db, official=db.get(Official, first_id), by=None, now=now)  # type: ignore[arg-type]
        db.flush()
        racer = threading.Thread(target=disable_second)
        racer.start()
        racer.join(timeout=1.0)  # it waits on our lock while we are still open
        assert racer.is_alive() and outcome == []
    racer.join(timeout=30)

    assert outcome == [409]
    with server.state.factory() as db:
        enabled = db.scalars(
            select(Official.name).where(Official.role == "admin", Official.disabled.is_(False))
        )
        assert list(enabled) == ["Second"]
