"""Sign-in throttling: per (name, client), so nobody locks an official out by knowing a name, and a
server-wide budget of wrong passwords, so many addresses guess no faster than one. With the
limiters in memory and in the real Redis (127.0.0.1:6379)."""

from __future__ import annotations

import os
import re
from typing import Any

import pytest
from fastapi.testclient import TestClient
from httpx2 import Response

from tracer_server.clock import utcnow
from tracer_server.db import transaction
from tracer_server.services.officials import create_official

from .conftest import Server

REDIS_URL = os.environ.get("BLUEZONE_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
PASSWORD = "a long enough password"
WRONG = "not the password at all"
LIMITERS = ["memory", pytest.param("redis", marks=pytest.mark.slow)]


@pytest.fixture(params=LIMITERS)
def throttled(request: pytest.FixtureRequest, make_server: Any) -> Server:
    """A server (SQLite) with officials Lan and Mai, and a server-wide budget of 6 wrong passwords
    a minute (30 by default)."""
    redis_url = REDIS_URL if request.param == "redis" else None
    server: Server = make_server(redis_url=redis_url, signin_failures_per_minute=6)
    with transaction(server.state.factory) as db:
        for name in ("Lan", "Mai"):
            create_official(
                db=db,
                keys=server.state.keys,
                name=name,
                role="official",
                now=utcnow(server.clock),
                password=PASSWORD,
            )
    return server


pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


def _from(server: Server, address: str) -> TestClient:
    return TestClient(server.app, base_url="https://testserver", client=(address, 50000))


def _sign_in(client: TestClient, name: str, password: str) -> Response:
    page = client.get("/console/login").text
    match = re.search(r'name="csrf" value="([^"]+)"', page)
    assert match is not None
    return client.post("/console/login", data={"name": name, "password": password, "csrf": match.group(1)})


def _outcome(response: Response) -> str:
    if response.status_code == 429:
        return "wait"
    if response.url.path == "/console/":
        return "in"
    return str(response.url.params.get("error"))


def test_wrong_passwords_from_one_client_do_not_lock_the_official_out_of_another(
    throttled: Server,
) -> None:
    attacker = _from(throttled, "192.0.2.66")
    outcomes = [_outcome(_sign_in(attacker, name, WRONG)) for name in ["Lan", "lan ", "LAN", "Lan", "Lan"]]
    assert outcomes == ["bad_sign_in"] * 5  # names fold case and space: one (name, client)
    assert _outcome(_sign_in(attacker, "Lan", WRONG)) == "too_many"  # 5 a minute per (name, client)
    assert _outcome(_sign_in(attacker, "Lan", PASSWORD)) == "too_many"  # not even checked
    assert _outcome(_sign_in(_from(throttled, "198.51.100.7"), "Lan", PASSWORD)) == "in"  # Lan, elsewhere
    assert _outcome(_sign_in(attacker, "Mai", PASSWORD)) == "in"  # a colleague at the same address


def test_past_the_server_wide_failure_budget_every_sign_in_waits(throttled: Server) -> None:
    guessers = [_from(throttled, f"203.0.113.{n}") for n in range(1, 7)]
    assert [_outcome(_sign_in(g, "Lan", WRONG)) for g in guessers] == ["bad_sign_in"] * 6
    official = _from(throttled, "198.51.100.7")
    refused = _sign_in(official, "Lan", PASSWORD)  # a seventh guess, right or wrong, is not checked
    assert refused.status_code == 429 and refused.headers["retry-after"] == "60"
    assert "60" in refused.text and 'name="csrf"' in refused.text  # the form, saying how long
    assert _outcome(_sign_in(_from(throttled, "203.0.113.99"), "Mai", WRONG)) == "wait"
    throttled.clock.advance(seconds=45)
    assert _sign_in(official, "Lan", PASSWORD).headers["retry-after"] == "15"
    throttled.clock.advance(seconds=16)
    assert _outcome(_sign_in(official, "Lan", PASSWORD)) == "in"


def test_a_right_password_does_not_spend_the_failure_budget(throttled: Server) -> None:
    for n in range(6):
        client = _from(throttled, f"198.51.100.{n + 1}")
        assert _outcome(_sign_in(client, "Mai", PASSWORD)) == "in"
    assert _outcome(_sign_in(_from(throttled, "198.51.100.50"), "Lan", PASSWORD)) == "in"
