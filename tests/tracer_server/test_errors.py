"""Every client error has its own code and a 4xx status, and one JSON shape per API family; an
error no one expected is a 500 whose log line holds no value."""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import re
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from tracer_server import errors
from tracer_server.app import _job_loop
from tracer_server.clock import utcnow
from tracer_server.db import transaction
from tracer_server.errors import ServerError, error_body
from tracer_server.middleware import AccessLog
from tracer_server.services.officials import create_official

from .conftest import Server
from .test_proxies import post, running_server

PASSWORD = "a long enough password"


def subclasses(cls: type[ServerError]) -> list[type[ServerError]]:
    found = []
    for sub in cls.__subclasses__():
        found += [sub, *subclasses(sub)]
    return found


ALL_ERRORS = subclasses(ServerError)


def test_every_error_class_in_the_module_is_a_server_error_listed_in_all() -> None:
    defined = {
        name
        for name, value in vars(errors).items()
        if inspect.isclass(value) and issubclass(value, Exception) and value.__module__ == errors.__name__
    }
    assert defined <= set(errors.__all__)
    ours = {cls.__name__ for cls in ALL_ERRORS if cls.__module__ == errors.__name__}
    assert ours == defined - {"ServerError"}


def test_every_server_error_has_a_distinct_code() -> None:
    codes = [cls.code for cls in ALL_ERRORS]
    assert len(codes) == len(set(codes)), sorted(codes)


@pytest.mark.parametrize("cls", ALL_ERRORS, ids=lambda cls: cls.__name__)
def test_every_server_error_is_a_4xx_with_a_snake_case_code(cls: type[ServerError]) -> None:
    error = cls("something was wrong")
    assert 400 <= error.http_status < 500
    assert error.code and error.code.replace("_", "").isalpha() and error.code.islower()


def test_a_status_override_stays_the_one_given() -> None:
    assert errors.InvalidTestType("no", status=412).http_status == 412


def test_verification_routes_answer_error_and_error_code() -> None:
    body = error_body(errors.CodeExpired("the code has expired"), "/api/verify")
    assert body == {"error": "the code has expired", "errorCode": "code_expired"}


def test_key_server_routes_answer_error_and_code() -> None:
    body = error_body(errors.UnknownHealthAuthority("unknown healthAuthorityID"), "/v1/publish")
    assert body == {"error": "unknown healthAuthorityID", "code": "unknown_health_authority_id"}


def test_details_are_included_only_when_there_are_some() -> None:
    error = errors.KeysRejected("1 of 2 keys could not be read", details=["key 1: bad"])
    assert error_body(error, "/v1/publish")["details"] == ["key 1: bad"]
    assert "details" not in error_body(errors.NotFound("no such export file"), "/v1/exports/x")


def test_an_unknown_route_is_a_json_404_in_each_shape(server: Server) -> None:
    api = server.client.get("/api/nothing-here")
    assert api.status_code == 404 and api.json()["errorCode"] == "not_found"
    v1 = server.client.get("/v1/nothing-here")
    assert v1.status_code == 404 and v1.json()["code"] == "not_found"


def test_a_wrong_method_is_a_json_405(server: Server) -> None:
    response = server.client.get("/api/verify")
    assert response.status_code == 405 and response.json()["errorCode"] == "method_not_allowed"


def test_the_openapi_schema_loads_and_lists_every_route(server: Server) -> None:
    response = server.client.get("/openapi.json")
    assert response.status_code == 200
    schema = response.json()
    assert schema["openapi"].startswith("3.")
    paths = set(schema["paths"])
    assert {"/api/issue", "/api/verify", "/api/certificate", "/v1/publish", "/v1/exports/{name}"} <= paths


# ---- unexpected errors: a 500 with an error id, one log line that holds no value ------------

MARKER = "MARKER-7f3e"  # in the request only: the logs must not repeat it


SERVER_SIDE = ("tracer_server", "uvicorn", "fastapi", "starlette", "sqlalchemy", "alembic")


def _server_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    """What the server logged (not the test client's own request log)."""
    return [r.getMessage() for r in caplog.records if r.name.split(".")[0] in SERVER_SIDE]


def test_a_database_error_in_a_handler_is_logged_by_class_and_route_template_only(
    server: Server, caplog: pytest.LogCaptureFixture
) -> None:
    state = server.state
    with transaction(state.factory) as db:
        create_official(
            db=db, keys=state.keys, name="Lan", role="official", now=utcnow(server.clock), password=PASSWORD
        )
    client = TestClient(server.app, base_url="https://testserver")  # raises what escapes the app
    form = re.search(r'name="csrf" value="([^"]+)"', client.get("/console/login").text)
    assert form is not None
    client.post("/console/login", data={"name": "Lan", "password": PASSWORD, "csrf": form.group(1)})
    session = re.search(r'name="csrf" value="([^"]+)"', client.get("/console/codes").text)
    assert session is not None
    with transaction(state.factory) as db:  # the next statement on codes fails, parameters and all
        db.execute(text("ALTER TABLE verification_codes RENAME TO verification_codes_gone"))
    caplog.set_level(logging.DEBUG)
    caplog.clear()
    response = client.post(
        f"/console/codes/{MARKER}/revoke", data={"csrf": session.group(1)}, follow_redirects=False
    )
    assert response.status_code == 500 and response.json()["errorCode"] == "internal_error"
    error_id = response.json()["error"].removeprefix("internal error ")
    (logged,) = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert logged.exc_info is None and logged.exc_text is None  # no traceback, no exception text
    assert re.fullmatch(
        rf"error {error_id}: POST /console/codes/{{code_uuid}}/revoke: sqlalchemy\.exc\.\w+"
        r" ← (psycopg\.errors|sqlite3)\.\w+ at tracer_server/services/codes\.py:\d+ in find_code",
        logged.getMessage(),
    ), logged.getMessage()
    everything = "\n".join(_server_lines(caplog))
    for leak in (MARKER, "UPDATE", "verification_codes", "parameters"):
        assert leak not in everything, f"{leak!r} leaked into the logs"


def test_an_unexpected_error_logs_neither_its_text_nor_the_raw_path(caplog: pytest.LogCaptureFixture) -> None:
    async def broken(scope: Any, receive: Any, send: Any) -> None:
        raise ValueError(f"bad input {MARKER}\nforged: line")

    caplog.set_level(logging.DEBUG)
    response = TestClient(AccessLog(broken)).get(f"/v1/x%0aforged-line%0d/{MARKER}")
    assert response.status_code == 500 and response.json()["code"] == "internal_error"
    lines = _server_lines(caplog)
    assert lines[0].startswith("error ") and lines[0].endswith(": GET <no route>: ValueError")
    assert lines[1].startswith("GET <no route> 500 ")
    assert not any(MARKER in line or "forged" in line or "\n" in line or "\r" in line for line in lines)


@pytest.mark.slow
def test_a_real_server_on_postgresql_logs_no_traceback_and_no_parameters(
    tmp_path: Path, postgres_template: str, postgres_url: str
) -> None:
    """Starlette re-raised the error to uvicorn, which logged its traceback with the SQL's
    parameters (issue S2); now nothing leaves the app."""
    import psycopg

    log = tmp_path / "server.log"
    with running_server(tmp_path / "data", log, database_url=postgres_url) as url:
        with psycopg.connect(postgres_url.replace("+psycopg", ""), autocommit=True) as conn:
            conn.execute("ALTER TABLE districts RENAME TO districts_gone")
        status, body = post(url + "/api/user-activity", {"district": MARKER.lower()})
    written = log.read_text()
    assert status == 500 and body["errorCode"] == "internal_error"
    error_id = body["error"].removeprefix("internal error ")
    assert f"error {error_id}: POST /api/user-activity: sqlalchemy.exc.ProgrammingError" in written
    assert "psycopg.errors.UndefinedTable at tracer_server/services/adoption.py:" in written
    for leak in (MARKER.lower(), "Traceback", "parameters", "SELECT", "Exception in ASGI"):
        assert leak not in written, f"{leak!r} in the server's log:\n{written[-3000:]}"


def test_a_failed_export_round_in_the_server_logs_classes_not_its_statement(
    server: Server, caplog: pytest.LogCaptureFixture
) -> None:
    state = server.state
    with transaction(state.factory) as db:  # the export's first look at the keys fails
        db.execute(text("ALTER TABLE exposures RENAME TO exposures_gone"))
    caplog.set_level(logging.DEBUG)

    async def one_round() -> None:
        with contextlib.suppress(TimeoutError):  # the loop sleeps after its round: stop it there
            await asyncio.wait_for(_job_loop(state), timeout=2)

    asyncio.run(one_round())
    (logged,) = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert logged.exc_info is None and logged.exc_text is None
    assert re.fullmatch(
        r"export job failed: sqlalchemy\.exc\.\w+ ← .+ at tracer_server/.+", logged.getMessage()
    )
    everything = "\n".join(_server_lines(caplog))
    for leak in ("SELECT", "exposures", "[SQL"):
        assert leak not in everything, f"{leak!r} leaked into the logs"
