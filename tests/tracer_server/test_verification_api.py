"""``POST /api/verify`` and ``POST /api/certificate``: a code becomes a token, a token a certificate."""

from __future__ import annotations

import base64
from datetime import UTC, datetime
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from protocol.keys import en_interval_number
from protocol.publish import tek_hmac
from tracer_server.clock import utcnow

from .conftest import SECRET, Server, device_keys, issue, verify

MAC = base64.b64encode(bytes(range(32))).decode()


def assert_error(response: Any, status: int, code: str) -> None:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["errorCode"] == code and isinstance(body["error"], str) and body["error"]


def token_for(server: Server, **issue_body: Any) -> str:
    issued = issue(server, **issue_body)
    response = verify(server, issued["code"])
    assert response.status_code == 200, response.text
    return str(response.json()["token"])


def post_certificate(server: Server, token: str, ekeyhmac: str = MAC) -> Any:
    return server.client.post("/api/certificate", json={"token": token, "ekeyhmac": ekeyhmac})


def decode_certificate(server: Server, certificate: str) -> dict[str, Any]:
    """Verify the certificate with the server's public key, as a key server would."""
    public = server.state.keys.certificate_private.public_key()
    claims: dict[str, Any] = jwt.decode(
        certificate,
        public,
        algorithms=["ES256"],
        audience=server.settings.certificate_audience,
        issuer=server.settings.certificate_issuer,
        options={"verify_exp": False, "verify_iat": False, "verify_nbf": False},  # the clock is in 2025
    )
    return claims


# ---- verify ----------------------------------------------------------------------------------


def test_short_code_verifies_to_a_token(server: Server) -> None:
    issued = issue(server, testType="likely", symptomDate="2025-11-20", testDate="2025-11-21")
    response = verify(server, issued["code"])
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["testtype"] == "likely"
    assert body["symptomDate"] == "2025-11-20" and body["testDate"] == "2025-11-21"
    assert body["token"].count(".") == 2


def test_verify_leaves_out_dates_the_code_did_not_have(server: Server) -> None:
    body = verify(server, issue(server)["code"]).json()
    assert body["testtype"] == "confirmed" and "symptomDate" not in body and "testDate" not in body


def test_long_code_verifies_to_a_token(server: Server) -> None:
    response = verify(server, issue(server)["longCode"])
    assert response.status_code == 200, response.text
    assert response.json()["token"]


TYPED = {
    "lower-case": lambda code: code.lower(),
    "dashes": lambda code: "-".join(code[i : i + 4] for i in range(0, 16, 4)),
    "spaces-lower-case": lambda code: " ".join(code[i : i + 4] for i in range(0, 16, 4)).lower(),
    "padded": lambda code: f" {code[:8]} - {code[8:]} ",
}


def test_long_code_is_case_insensitive_and_ignores_dashes_and_spaces(
    server: Server, subtests: pytest.Subtests
) -> None:
    for name, typed in TYPED.items():
        with subtests.test(name):
            code = issue(server)["longCode"]
            response = verify(server, typed(code))
            assert response.status_code == 200, response.text


def test_short_code_with_a_dash_in_the_middle_is_accepted(server: Server) -> None:
    code = issue(server)["code"]
    assert verify(server, f"{code[:4]}-{code[4:]}").status_code == 200


def test_a_code_redeems_once(server: Server) -> None:
    code = issue(server)["code"]
    assert verify(server, code).status_code == 200
    assert_error(verify(server, code), 400, "code_invalid")


def test_redeeming_the_short_code_uses_up_the_long_code(server: Server) -> None:
    issued = issue(server)
    assert verify(server, issued["code"]).status_code == 200
    assert_error(verify(server, issued["longCode"]), 400, "code_invalid")


def test_short_code_expires_after_an_hour_but_the_long_code_still_works(server: Server) -> None:
    issued = issue(server)
    server.clock.advance(minutes=61)
    assert_error(verify(server, issued["code"]), 400, "code_expired")
    assert verify(server, issued["longCode"]).status_code == 200


def test_long_code_works_until_24_hours_and_then_expires(server: Server) -> None:
    first, second = issue(server), issue(server)
    server.clock.advance(hours=23, minutes=59)
    assert verify(server, first["longCode"]).status_code == 200
    server.clock.advance(minutes=2)
    assert_error(verify(server, second["longCode"]), 400, "code_expired")


def test_an_expired_code_is_not_used_up(server: Server) -> None:
    issued = issue(server)
    server.clock.advance(minutes=61)
    assert_error(verify(server, issued["code"]), 400, "code_expired")
    assert verify(server, issued["longCode"]).status_code == 200


def test_an_unknown_code_is_not_found(server: Server) -> None:
    issue(server)
    assert_error(verify(server, "00000000"), 400, "code_not_found")
    assert_error(verify(server, "ABCDEFGHJKMNPQRS"), 400, "code_not_found")


def test_a_malformed_code_is_invalid(server: Server, subtests: pytest.Subtests) -> None:
    for code in ("", "12", "1234567!", "x" * 40):
        with subtests.test(code=code):
            assert_error(verify(server, code), 400, "code_invalid")


def test_a_code_the_app_does_not_accept_is_a_412(server: Server) -> None:
    code = issue(server, testType="likely")["code"]
    assert_error(verify(server, code, accept=["confirmed"]), 412, "invalid_test_type")


def test_a_code_refused_for_its_test_type_can_still_be_redeemed(server: Server) -> None:
    code = issue(server, testType="negative")["code"]
    assert_error(verify(server, code, accept=["confirmed", "likely"]), 412, "invalid_test_type")
    assert verify(server, code, accept=["confirmed", "likely", "negative"]).status_code == 200


def test_accept_defaults_to_confirmed(server: Server) -> None:
    confirmed, likely = issue(server)["code"], issue(server, testType="likely")["code"]
    assert server.client.post("/api/verify", json={"code": confirmed}).status_code == 200
    assert_error(server.client.post("/api/verify", json={"code": likely}), 412, "invalid_test_type")


def test_an_unknown_accepted_test_type_is_rejected(server: Server) -> None:
    code = issue(server)["code"]
    assert_error(verify(server, code, accept=["confirmed", "positive"]), 400, "invalid_test_type")


def test_an_unparsable_verify_request_is_a_400_json_error(server: Server, subtests: pytest.Subtests) -> None:
    bodies = [{}, {"code": 12345678}, {"code": "12345678", "accept": "confirmed"}, [], None]
    for body in bodies:
        with subtests.test(body=body):
            assert_error(server.client.post("/api/verify", json=body), 400, "unparsable_request")


def test_verify_attempts_are_rate_limited_per_client(server: Server) -> None:
    for _ in range(10):
        assert_error(verify(server, "00000000"), 400, "code_not_found")
    code = issue(server)["code"]
    assert_error(verify(server, code), 429, "rate_limited")
    server.clock.advance(seconds=61)
    assert verify(server, code).status_code == 200


def test_a_rate_limited_attempt_does_not_use_up_the_code(server: Server) -> None:
    code = issue(server)["code"]
    for _ in range(10):
        verify(server, "00000000")
    assert_error(verify(server, code), 429, "rate_limited")
    server.clock.advance(seconds=61)
    assert verify(server, code).status_code == 200


# ---- certificate -----------------------------------------------------------------------------


BAD_HMACS = {
    "garbage": "not base64!",
    "bad-char": "AAAA*",
    "31-bytes": base64.b64encode(bytes(31)).decode(),
    "33-bytes": base64.b64encode(bytes(33)).decode(),
    "url-safe-alphabet": base64.urlsafe_b64encode(b"\xff" * 32).decode(),
    "empty": "",
}


def test_a_bad_ekeyhmac_is_hmac_invalid(server: Server, subtests: pytest.Subtests) -> None:
    token = token_for(server)
    for name, ekeyhmac in BAD_HMACS.items():
        with subtests.test(name):
            assert_error(post_certificate(server, token, ekeyhmac), 400, "hmac_invalid")


def test_a_bad_ekeyhmac_does_not_use_up_the_token(server: Server) -> None:
    token = token_for(server)
    assert_error(post_certificate(server, token, "bad"), 400, "hmac_invalid")
    assert post_certificate(server, token).status_code == 200


def test_a_tampered_token_is_invalid(server: Server, subtests: pytest.Subtests) -> None:
    token = token_for(server)
    for index, where in enumerate(("header", "payload", "signature")):
        with subtests.test(where):
            parts = token.split(".")
            part = parts[index]
            parts[index] = part[:5] + ("A" if part[5] != "A" else "B") + part[6:]
            assert_error(post_certificate(server, ".".join(parts)), 400, "token_invalid")
    assert post_certificate(server, token).status_code == 200  # the genuine token was not used up


def test_a_token_signed_by_another_key_is_invalid(server: Server) -> None:
    token = token_for(server)
    claims = jwt.decode(token, options={"verify_signature": False})
    forged = jwt.encode(
        claims, ec.generate_private_key(ec.SECP256R1()), algorithm="ES256", headers={"kid": "v1"}
    )
    assert_error(post_certificate(server, forged), 400, "token_invalid")


def test_a_token_that_is_not_a_jwt_is_invalid(server: Server, subtests: pytest.Subtests) -> None:
    for token in ("", "abc", "a.b.c", "x" * 4096):
        with subtests.test(token=token[:10]):
            assert_error(post_certificate(server, token), 400, "token_invalid")


def test_a_certificate_is_not_accepted_as_a_token(server: Server) -> None:
    cert = post_certificate(server, token_for(server)).json()["certificate"]
    assert_error(post_certificate(server, cert), 400, "token_invalid")


def test_a_token_expires_after_24_hours(server: Server) -> None:
    token = token_for(server)
    server.clock.advance(hours=25)
    assert_error(post_certificate(server, token), 400, "token_expired")


def test_a_token_mints_one_certificate(server: Server) -> None:
    token = token_for(server)
    assert post_certificate(server, token).status_code == 200
    assert_error(post_certificate(server, token), 400, "token_invalid")


def test_certificate_header_is_es256_with_the_key_id(server: Server) -> None:
    cert = post_certificate(server, token_for(server)).json()["certificate"]
    header = jwt.get_unverified_header(cert)
    assert header["alg"] == "ES256" and header["kid"] == "v1"


def test_certificate_claims_bind_the_hmac_and_the_diagnosis(server: Server) -> None:
    keys = device_keys(utcnow(server.clock))
    mac = base64.b64encode(tek_hmac(SECRET, keys)).decode()
    token = token_for(server, testType="likely", symptomDate="2025-11-20", testDate="2025-11-21")
    cert = post_certificate(server, token, mac).json()["certificate"]
    claims = decode_certificate(server, cert)
    now = int(utcnow(server.clock).timestamp())
    assert claims["iss"] == "vn.bluezone.verification" and claims["aud"] == "vn.bluezone.keyserver"
    assert claims["iat"] == now and claims["nbf"] <= now
    assert claims["exp"] == claims["iat"] + 15 * 60
    assert claims["tekmac"] == mac
    assert claims["reportType"] == "likely"
    midnight = datetime(2025, 11, 20, tzinfo=UTC).timestamp()
    assert claims["symptomOnsetInterval"] == en_interval_number(midnight) == 2939328  # 1763596800 / 600
    assert claims["testDateInterval"] == en_interval_number(datetime(2025, 11, 21, tzinfo=UTC).timestamp())


def test_certificate_without_dates_has_no_date_claims(server: Server) -> None:
    claims = decode_certificate(server, post_certificate(server, token_for(server)).json()["certificate"])
    assert claims["reportType"] == "confirmed"
    assert "symptomOnsetInterval" not in claims and "testDateInterval" not in claims


def test_symptom_onset_is_the_users_local_day_at_utc_midnight(server: Server) -> None:
    server.clock.advance(hours=9, minutes=30)  # 03:00 on the 23rd in Vietnam
    claims = decode_certificate(
        server, post_certificate(server, token_for(server, symptomDate="2025-11-23")).json()["certificate"]
    )
    assert claims["symptomOnsetInterval"] == en_interval_number(
        datetime(2025, 11, 23, tzinfo=UTC).timestamp()
    )


def test_certificate_does_not_verify_with_another_key(server: Server) -> None:
    cert = post_certificate(server, token_for(server)).json()["certificate"]
    with pytest.raises(jwt.InvalidSignatureError):
        jwt.decode(
            cert,
            ec.generate_private_key(ec.SECP256R1()).public_key(),
            algorithms=["ES256"],
            audience=server.settings.certificate_audience,
            options={"verify_exp": False},
        )
