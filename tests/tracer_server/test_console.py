"""The console's security: session cookies, CSRF on every form, roles, sign-in limits, argon2."""

from __future__ import annotations

import re
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import select

from tracer_server.clock import utcnow
from tracer_server.db import transaction
from tracer_server.models import Official
from tracer_server.services.officials import create_official

from .conftest import Server

PASSWORD = "a long enough password"


def _client(server: Server, name: str, role: str) -> TestClient:
    state = server.state
    with transaction(state.factory) as db:
        create_official(
            db=db, keys=state.keys, name=name, role=role, now=utcnow(server.clock), password=PASSWORD
        )
    client = TestClient(server.app, base_url="https://testserver")
    csrf = _csrf(client.get("/console/login").text)
    response = client.post("/console/login", data={"name": name, "password": PASSWORD, "csrf": csrf})
    assert response.url.path == "/console/", response.text[:200]
    return client


def _csrf(page: str) -> str:
    match = re.search(r'name="csrf" value="([^"]+)"', page)
    assert match is not None
    return match.group(1)


def test_session_cookie_is_secure_httponly_samesite_strict(server: Server) -> None:
    state = server.state
    with transaction(state.factory) as db:
        create_official(
            db=db, keys=state.keys, name="Lan", role="official", now=utcnow(server.clock), password=PASSWORD
        )
    client = TestClient(server.app, base_url="https://testserver")
    csrf = _csrf(client.get("/console/login").text)
    response = client.post(
        "/console/login", data={"name": "Lan", "password": PASSWORD, "csrf": csrf}, follow_redirects=False
    )
    cookie = response.headers["set-cookie"]
    assert "bz_console=" in cookie and "HttpOnly" in cookie and "Secure" in cookie
    assert "samesite=strict" in cookie.lower() and "Path=/console" in cookie


def test_passwords_are_stored_with_argon2id(server: Server) -> None:
    _client(server, "Minh", "official")
    with server.state.factory() as db:
        stored = db.scalar(select(Official.password_hash).where(Official.name == "Minh"))
    assert stored is not None and stored.startswith("$argon2id$") and PASSWORD not in stored


def test_every_form_needs_the_sessions_csrf_token(server: Server) -> None:
    client = _client(server, "Lan", "official")
    for path, data in (
        ("/console/issue", {"test_type": "confirmed"}),
        ("/console/logout", {}),
        ("/console/language", {}),
        ("/console/upload", {"report_type": "confirmed", "consent": "yes", "key_text": "x"}),
    ):
        response = client.post(path, data={**data, "csrf": "forged"}, follow_redirects=False)
        assert response.status_code == 403, path


def test_sign_in_without_the_login_forms_token_fails(server: Server) -> None:
    _client(server, "Lan", "official")
    fresh = TestClient(server.app, base_url="https://testserver")
    response = fresh.post("/console/login", data={"name": "Lan", "password": PASSWORD, "csrf": "x"})
    assert response.url.path == "/console/login" and "error" in str(response.url)


def test_sign_in_attempts_are_limited(server: Server) -> None:
    _client(server, "Lan", "official")
    client = TestClient(server.app, base_url="https://testserver")
    outcomes: list[Any] = []
    for _ in range(7):
        csrf = _csrf(client.get("/console/login").text)
        response = client.post(
            "/console/login", data={"name": "Lan", "password": "wrong wrong wrong", "csrf": csrf}
        )
        outcomes.append(
            response.url.query.decode() if isinstance(response.url.query, bytes) else response.url.query
        )
    assert outcomes[-1] == "error=too_many"
    csrf = _csrf(client.get("/console/login").text)
    blocked = client.post("/console/login", data={"name": "Lan", "password": PASSWORD, "csrf": csrf})
    assert blocked.url.path == "/console/login"  # even the right password waits out the minute
    server.clock.advance(seconds=61)
    csrf = _csrf(client.get("/console/login").text)
    assert (
        client.post("/console/login", data={"name": "Lan", "password": PASSWORD, "csrf": csrf}).url.path
        == "/console/"
    )


def test_roles_the_audit_log_is_for_admins_and_officials_see_their_own_codes(server: Server) -> None:
    admin = _client(server, "Admin", "admin")
    lan = _client(server, "Lan", "official")
    minh = _client(server, "Minh", "official")
    assert lan.get("/console/audit").status_code == 403
    assert admin.get("/console/audit").status_code == 200
    page = lan.get("/console/issue").text
    lan.post("/console/issue", data={"csrf": _csrf(page), "test_type": "confirmed"})
    assert lan.get("/console/codes").text.count("/revoke") == 1
    assert minh.get("/console/codes").text.count("/revoke") == 0
    assert admin.get("/console/codes").text.count("/revoke") == 1
    # Minh cannot revoke Lan's code even with a valid form of his own.
    code_uuid = re.search(r"/console/codes/([0-9a-f-]+)/revoke", lan.get("/console/codes").text)
    assert code_uuid is not None
    minh_csrf = _csrf(minh.get("/console/issue").text)
    minh.post(f"/console/codes/{code_uuid.group(1)}/revoke", data={"csrf": minh_csrf})
    assert lan.get("/console/codes").text.count("/revoke") == 1


def test_pages_redirect_to_sign_in_without_a_session_and_carry_security_headers(server: Server) -> None:
    client = TestClient(server.app, base_url="https://testserver")
    for path in ("/console/", "/console/issue", "/console/codes", "/console/upload", "/console/audit"):
        response = client.get(path, follow_redirects=False)
        assert response.status_code == 303 and response.headers["location"] == "/console/login"
    login = client.get("/console/login")
    assert (
        login.headers["x-frame-options"] == "DENY"
        and "default-src 'self'" in login.headers["content-security-policy"]
    )


def test_an_upload_waiting_on_the_database_does_not_freeze_the_server(server: Server) -> None:
    """The console's upload (and every request's commit) waits on the database in the thread
    pool, never on the event loop: while another writer holds the lock, /health still answers."""
    import threading
    import time

    from sqlalchemy import create_engine

    from protocol import keyfile

    from .conftest import device_keys

    state = server.state
    with transaction(state.factory) as db:
        create_official(
            db=db, keys=state.keys, name="Lan", role="official", now=utcnow(server.clock), password=PASSWORD
        )
    locker = create_engine(server.settings.sqlalchemy_url)
    with TestClient(server.app, base_url="https://testserver") as client:  # one event loop for all
        csrf = _csrf(client.get("/console/login").text)
        client.post("/console/login", data={"name": "Lan", "password": PASSWORD, "csrf": csrf})
        csrf = _csrf(client.get("/console/upload").text)
        form = {
            "csrf": csrf, "report_type": "confirmed", "consent": "yes",
            "key_text": keyfile.dump(device_keys(utcnow(server.clock))),
        }  # fmt: skip
        outcome: list[int] = []
        locked = threading.Event()

        def hold_the_lock(seconds: float) -> None:  # another writer, released on its own
            with locker.connect() as conn:
                if locker.dialect.name == "sqlite":
                    conn.exec_driver_sql("BEGIN IMMEDIATE")
                else:
                    conn.begin()
                    conn.exec_driver_sql("LOCK TABLE exposures IN EXCLUSIVE MODE")
                locked.set()
                time.sleep(seconds)
                conn.rollback()

        holder = threading.Thread(target=hold_the_lock, args=(2.0,))
        holder.start()
        assert locked.wait(10)
        upload = threading.Thread(
            target=lambda: outcome.append(client.post("/console/upload", data=form).status_code)
        )
        upload.start()
        time.sleep(0.5)  # the upload is waiting for the lock now
        started = time.monotonic()
        assert client.get("/health").status_code == 200
        waited = time.monotonic() - started
        holder.join(30)
        upload.join(30)
    locker.dispose()
    assert waited < 0.5, f"/health waited {waited:.1f} s behind the upload"
    assert outcome == [200]
