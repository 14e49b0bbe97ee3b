"""The OpenAPI document states what the server really sends: each operation's statuses with the
one Error body, no 422 (validation errors are 400s), export files as zip and text, a 405 with
Allow, testType an enum, no string longer than the body cap. (Schemathesis checks the same
against live answers in test_openapi_fuzz; this is the fast tier.)"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tracer_server.app import create_app
from tracer_server.middleware import MAX_BODY_BYTES
from tracer_server.settings import Settings

from .conftest import Server, issue

# What each operation answers, read from its handler, the services it calls, the body cap
# (413) and the validation handler (400). 500 is a bug, never a contract.
STATUSES = {
    ("post", "/api/issue"): {"200", "400", "401", "403", "413", "429"},
    ("post", "/api/verify"): {"200", "400", "412", "413", "429"},
    ("post", "/api/certificate"): {"200", "400", "413", "429"},
    ("post", "/api/user-activity"): {"200", "400", "413", "429"},
    ("post", "/v1/publish"): {"200", "400", "401", "413", "415"},
    ("get", "/v1/exports/{name}"): {"200", "304", "400", "404"},
    ("get", "/health"): {"200"},
}
ERROR_REF = {"$ref": "#/components/schemas/Error"}


@pytest.fixture
def document(tmp_path: Path) -> dict[str, Any]:
    """The document does not depend on the database: one app, never started, is enough."""
    return create_app(Settings(data_dir=tmp_path)).openapi()


def _operations(document: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    return {
        (method, path): operation
        for path, operations in document["paths"].items()
        for method, operation in operations.items()
    }


def test_each_operation_lists_the_statuses_it_sends_and_no_422(document: dict[str, Any]) -> None:
    listed = {key: set(op["responses"]) for key, op in _operations(document).items()}
    assert listed == STATUSES
    assert "HTTPValidationError" not in document["components"]["schemas"]


def test_every_error_status_carries_the_one_error_schema(document: dict[str, Any]) -> None:
    for key, operation in _operations(document).items():
        for status, response in operation["responses"].items():
            if status.startswith("4"):
                assert response["content"] == {"application/json": {"schema": ERROR_REF}}, (key, status)
    error = document["components"]["schemas"]["Error"]
    assert error["required"] == ["error"]
    assert {"error", "errorCode", "code", "details"} == set(error["properties"])


def test_the_officials_api_key_is_a_security_scheme_only_the_issue_route_needs(
    document: dict[str, Any],
) -> None:
    (name,) = [
        n for n, scheme in document["components"]["securitySchemes"].items() if scheme["in"] == "header"
    ]
    assert document["components"]["securitySchemes"][name]["name"] == "X-API-Key"
    secured = {key for key, op in _operations(document).items() if op.get("security")}
    assert secured == {("post", "/api/issue")}
    assert _operations(document)[("post", "/api/issue")]["security"] == [{name: []}]


def test_export_files_are_documented_as_zip_and_text(document: dict[str, Any]) -> None:
    ok = _operations(document)[("get", "/v1/exports/{name}")]["responses"]["200"]
    assert set(ok["content"]) == {"application/zip", "text/plain"}
    not_modified = _operations(document)[("get", "/v1/exports/{name}")]["responses"]["304"]
    assert "content" not in not_modified
    assert set(ok["headers"]) == set(not_modified["headers"]) == {"ETag", "Cache-Control"}


def test_test_type_is_an_enum_and_no_string_is_longer_than_the_body_cap(document: dict[str, Any]) -> None:
    schemas = document["components"]["schemas"]
    test_types = ["confirmed", "likely", "negative", "user-report"]
    assert schemas["IssueRequest"]["properties"]["testType"]["enum"] == test_types
    assert schemas["VerifyRequest"]["properties"]["accept"]["items"]["enum"] == test_types
    lengths = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if node.get("type") == "string" and "maxLength" in node:
                lengths.append(node["maxLength"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(schemas)
    assert lengths and max(lengths) <= MAX_BODY_BYTES
    assert schemas["PublishRequest"]["properties"]["padding"]["maxLength"] <= MAX_BODY_BYTES


@pytest.mark.parametrize(
    ("method", "path", "allow"),
    [
        ("get", "/api/verify", "POST"),
        ("put", "/v1/publish", "POST"),
        ("post", "/v1/exports/index.txt", "GET"),
    ],
)
def test_a_405_says_which_methods_are_allowed(server: Server, method: str, path: str, allow: str) -> None:
    response = server.client.request(method.upper(), path)
    assert response.status_code == 405
    assert allow in [m.strip() for m in response.headers["allow"].split(",")]
    assert response.json()["error"]


def test_answers_match_the_document(server: Server) -> None:
    """A few real answers against the statuses and media types the document gives them."""
    code = issue(server)["code"]
    answers = [
        (
            ("post", "/api/verify"),
            server.client.post("/api/verify", json={"code": code, "accept": ["negative"]}),
        ),
        (("post", "/api/verify"), server.client.post("/api/verify", json={"code": "x" * 65})),
        (("post", "/api/issue"), server.client.post("/api/issue", json={"testType": "confirmed"})),
        (("get", "/v1/exports/{name}"), server.client.get("/v1/exports/nothing.zip")),
        (("post", "/v1/publish"), server.client.post("/v1/publish", content=b"{}")),
    ]
    assert [response.status_code for _, response in answers] == [412, 400, 401, 404, 415]
    for key, response in answers:
        assert str(response.status_code) in STATUSES[key]
        assert response.headers["content-type"].startswith("application/json")
        assert response.json()["error"]


def test_export_answers_have_the_documented_media_types_and_headers(server: Server) -> None:
    server.state.storage.put("index.txt", b"")
    index = server.client.get("/v1/exports/index.txt")
    assert index.status_code == 200
    assert index.headers["content-type"].split(";")[0] == "text/plain"
    again = server.client.get("/v1/exports/index.txt", headers={"If-None-Match": index.headers["etag"]})
    assert again.status_code == 304
    for response in (index, again):
        assert {"etag", "cache-control"} <= set(response.headers)
