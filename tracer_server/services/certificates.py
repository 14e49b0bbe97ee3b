"""Verification certificates: minted from a token and the device's TEK HMAC, checked at publish.

The certificate is an ES256 JWT (``kid`` in the header) whose ``tekmac`` claim binds it to
exactly the keys the device will upload (``shared/spec/gaen.md`` §5.3). The key server side
checks it against an allow-list of health authorities (issuer, audience, keys by ``kid``).
"""

from __future__ import annotations

import base64
import binascii
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from protocol.keys import en_interval_number
from tracer_server.errors import CertificateInvalid, HmacInvalid, UnknownHealthAuthority
from tracer_server.secrets_store import ServerKeys
from tracer_server.services.codes import redeem_token
from tracer_server.settings import HealthAuthorityConfig, Settings

__all__ = [
    "Authority",
    "CertificateClaims",
    "authorities",
    "date_interval",
    "issue_certificate",
    "verify_certificate",
]


@dataclass(frozen=True)
class CertificateClaims:
    jti: str
    expires_at: datetime
    tekmac: bytes
    report_type: str
    symptom_onset_interval: int | None
    test_date_interval: int | None


@dataclass(frozen=True)
class Authority:
    id: str
    issuer: str
    audience: str
    keys: dict[str, ec.EllipticCurvePublicKey]


def date_interval(day: date | None) -> int | None:
    """ENIntervalNumber of the day's UTC midnight: how certificates carry dates."""
    if day is None:
        return None
    return en_interval_number(datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp())


def issue_certificate(
    *, db: Any, keys: ServerKeys, settings: Settings, token: str, ekeyhmac: str, now: datetime
) -> str:
    try:
        tekmac = base64.b64decode(ekeyhmac, validate=True)
    except (binascii.Error, ValueError):
        raise HmacInvalid("ekeyhmac is not valid base64") from None
    if len(tekmac) != 32:
        raise HmacInvalid("ekeyhmac must be a 32-byte HMAC-SHA256")
    code = redeem_token(db=db, keys=keys, settings=settings, token=token, now=now)
    claims: dict[str, Any] = {
        "iss": settings.certificate_issuer,
        "aud": settings.certificate_audience,
        "iat": int(now.timestamp()),
        "nbf": int(now.timestamp()) - 1,
        "exp": int((now + timedelta(minutes=settings.certificate_ttl_minutes)).timestamp()),
        "jti": str(uuid.uuid4()),
        "tekmac": base64.b64encode(tekmac).decode(),
        "reportType": code.test_type,
    }
    if code.symptom_date is not None:
        claims["symptomOnsetInterval"] = date_interval(code.symptom_date)
    if code.test_date is not None:
        claims["testDateInterval"] = date_interval(code.test_date)
    return jwt.encode(
        claims, keys.certificate_private, algorithm="ES256", headers={"kid": settings.certificate_key_id}
    )


def authorities(settings: Settings, keys: ServerKeys) -> dict[str, Authority]:
    """Our own authority (always) and the configured others."""
    configs = [
        HealthAuthorityConfig(
            id=settings.health_authority_id,
            issuer=settings.certificate_issuer,
            audience=settings.certificate_audience,
            certificate_keys={settings.certificate_key_id: keys.certificate_public_pem},
        ),
        *settings.health_authorities,
    ]
    out = {}
    for config in configs:
        loaded = {}
        for kid, pem in config.certificate_keys.items():
            public = serialization.load_pem_public_key(pem.encode())
            if not isinstance(public, ec.EllipticCurvePublicKey):
                raise ValueError(f"health authority {config.id}: key {kid} is not an ECDSA public key")
            loaded[kid] = public
        out[config.id] = Authority(config.id, config.issuer, config.audience, loaded)
    return out


def verify_certificate(
    *, known: dict[str, Authority], health_authority_id: str, certificate: str, now: datetime
) -> CertificateClaims:
    authority = known.get(health_authority_id)
    if authority is None:
        raise UnknownHealthAuthority("unknown healthAuthorityID")
    try:
        header = jwt.get_unverified_header(certificate)
    except jwt.PyJWTError:
        raise CertificateInvalid("verificationPayload is not a JWT") from None
    public = authority.keys.get(str(header.get("kid", "")))
    if public is None or header.get("alg") != "ES256":
        raise CertificateInvalid("the certificate is not signed by a key of this health authority")
    try:
        claims = jwt.decode(
            certificate,
            public,
            algorithms=["ES256"],
            audience=authority.audience,
            issuer=authority.issuer,
            options={
                "verify_exp": False,
                "verify_nbf": False,
                "verify_iat": False,
                "require": ["exp", "tekmac"],
            },
        )
    except jwt.PyJWTError:
        raise CertificateInvalid("the certificate's signature, issuer or audience is wrong") from None
    stamp = now.timestamp()
    if claims["exp"] <= stamp:
        raise CertificateInvalid("the certificate has expired")
    if "nbf" in claims and claims["nbf"] > stamp + 60:
        raise CertificateInvalid("the certificate is not valid yet")
    report_type = claims.get("reportType")
    if report_type not in ("confirmed", "likely", "negative", "user-report"):
        raise CertificateInvalid("the certificate has no valid reportType")
    try:
        tekmac = base64.b64decode(str(claims["tekmac"]), validate=True)
    except (binascii.Error, ValueError):
        raise CertificateInvalid("the certificate's tekmac is not base64") from None

    def interval(name: str) -> int | None:
        value = claims.get(name)
        return value if isinstance(value, int) and value > 0 else None

    return CertificateClaims(
        jti=str(
            claims.get("jti") or certificate[-43:]
        ),  # a certificate without jti is keyed by its signature
        expires_at=datetime.fromtimestamp(claims["exp"], UTC),
        tekmac=tekmac,
        report_type=report_type,
        symptom_onset_interval=interval("symptomOnsetInterval"),
        test_date_interval=interval("testDateInterval"),
    )
