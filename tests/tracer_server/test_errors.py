"""Every client error has its own code and a 4xx status, and one JSON shape per API family."""

from __future__ import annotations

import inspect

import pytest

from tracer_server import errors
from tracer_server.errors import ServerError, error_body

from .conftest import Server


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
