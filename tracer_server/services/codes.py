"""Verification codes: issue (officials), redeem for a token (devices), and the token itself.

Google's verification server flow (``shared/spec/gaen.md`` §5.3): an official issues a short
code (8 digits, 1 h here: dictated over the phone) and a long code (16 characters, 24 h: sent as
a link); the device redeems either once for a verification token (ES256 JWT, 24 h) that mints
one certificate. Codes are stored only as HMACs under the server's pepper.
"""

from __future__ import annotations

import secrets
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, tzinfo
from typing import Any

import jwt
from sqlalchemy import func, select, true, update
from sqlalchemy.orm import Session

from tracer_server.db import affected, as_utc
from tracer_server.errors import (
    CodeExpired,
    CodeInvalid,
    CodeNotFound,
    CodeRevoked,
    InvalidDate,
    InvalidTestType,
    NotFound,
    QuotaExceeded,
    TokenExpired,
    TokenInvalid,
)
from tracer_server.models import Official, VerificationCode, VerificationToken
from tracer_server.secrets_store import ServerKeys
from tracer_server.services.officials import audit
from tracer_server.settings import Settings

__all__ = [
    "TEST_TYPES",
    "CodePage",
    "IssuedCode",
    "RedeemedCode",
    "code_status",
    "find_code",
    "issue_code",
    "list_codes",
    "normalize_code",
    "redeem_code",
    "redeem_token",
    "revoke_code",
]

TEST_TYPES = ("confirmed", "likely", "negative", "user-report")
_LONG_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"  # no 0/O, 1/I/L: read aloud and typed by hand
_TOKEN_AUDIENCE_SUFFIX = "/token"


@dataclass(frozen=True)
class IssuedCode:
    uuid: str
    code: str
    long_code: str
    expires_at: datetime
    long_expires_at: datetime


@dataclass(frozen=True)
class RedeemedCode:
    test_type: str
    symptom_date: date | None
    test_date: date | None
    token: str


def _local_today(now: datetime, tz_offset_minutes: int) -> date:
    return (now + timedelta(minutes=tz_offset_minutes)).date()


def check_dates(*, settings: Settings, now: datetime, tz_offset_minutes: int, **dates: date | None) -> None:
    """Dates are the user's local calendar days: not in the future there, not too old."""
    if not -720 <= tz_offset_minutes <= 840:
        raise InvalidDate("tzOffset must be between -720 and 840 minutes")
    today = _local_today(now, tz_offset_minutes)
    for name, value in dates.items():
        if value is None:
            continue
        if value > today:
            raise InvalidDate(f"{name} is in the future", field=name)
        if (today - value).days > settings.max_symptom_age_days:
            limit = settings.max_symptom_age_days
            raise InvalidDate(f"{name} is more than {limit} days ago", field=name, limit_days=limit)


def issue_code(
    *,
    db: Session,
    keys: ServerKeys,
    settings: Settings,
    official: Official,
    test_type: str,
    symptom_date: date | None,
    test_date: date | None,
    tz_offset_minutes: int,
    now: datetime,
) -> IssuedCode:
    if test_type not in TEST_TYPES:
        raise InvalidTestType(f"testType must be one of {', '.join(TEST_TYPES)}")
    check_dates(
        settings=settings,
        now=now,
        tz_offset_minutes=tz_offset_minutes,
        symptomDate=symptom_date,
        testDate=test_date,
    )
    day_start = now.replace(hour=0, minute=0, second=0, microsecond=0)
    issued_today = db.scalar(
        select(func.count())
        .select_from(VerificationCode)
        .where(VerificationCode.issued_by == official.id, VerificationCode.issued_at >= day_start)
    )
    if (issued_today or 0) >= settings.codes_per_official_per_day:
        raise QuotaExceeded(f"daily quota of {settings.codes_per_official_per_day} codes reached")
    for _ in range(10):  # a collision with a live code is possible with 8 digits: draw again
        code = f"{secrets.randbelow(10**settings.code_length):0{settings.code_length}d}"
        long_code = "".join(secrets.choice(_LONG_ALPHABET) for _ in range(settings.long_code_length))
        code_hash, long_hash = keys.digest(code), keys.digest(long_code)
        clash = db.scalar(
            select(VerificationCode.uuid).where(
                (VerificationCode.code_hash == code_hash) | (VerificationCode.long_code_hash == long_hash)
            )
        )
        if clash is None:
            break
    else:  # pragma: no cover - 10 collisions in a row means the code space is exhausted
        raise QuotaExceeded("no free code: try again later")
    row = VerificationCode(
        uuid=str(uuid.uuid4()),
        code_hash=code_hash,
        long_code_hash=long_hash,
        test_type=test_type,
        symptom_date=symptom_date,
        test_date=test_date,
        tz_offset_minutes=tz_offset_minutes,
        issued_by=official.id,
        issued_at=now,
        expires_at=now + timedelta(minutes=settings.code_ttl_minutes),
        long_expires_at=now + timedelta(hours=settings.long_code_ttl_hours),
    )
    db.add(row)
    audit(
        db=db,
        now=now,
        official_id=official.id,
        action="code.issued",
        detail={"uuid": row.uuid, "testType": test_type},
    )
    return IssuedCode(row.uuid, code, long_code, row.expires_at, row.long_expires_at)


def normalize_code(code: str) -> str:
    """What a person types: spaces and dashes dropped, the long code case-insensitive."""
    return "".join(ch for ch in code if ch not in " -\t").upper()


def redeem_code(
    *,
    db: Session,
    keys: ServerKeys,
    settings: Settings,
    code: str,
    accept: list[str],
    now: datetime,
) -> RedeemedCode:
    """Exchange a code for a verification token, once."""
    code = normalize_code(code)
    if not code.isalnum() or not 6 <= len(code) <= 32:
        raise CodeInvalid("the code is malformed")
    digest = keys.digest(code)
    row = db.scalar(
        select(VerificationCode).where(
            (VerificationCode.code_hash == digest) | (VerificationCode.long_code_hash == digest)
        )
    )
    if row is None:
        raise CodeNotFound("no such code")
    # Saying "revoked" (or "expired") tells only the holder of a real code what they hold: the
    # code is the case's secret, so a guesser learns nothing the 10^8 space did not already give.
    if row.revoked_at is not None:
        raise CodeRevoked("this code was revoked: ask the health official for a new one")
    if row.claimed_at is not None:
        raise CodeInvalid("this code has already been used")
    expires = row.expires_at if row.code_hash == digest else row.long_expires_at
    if as_utc(expires) <= now:
        raise CodeExpired("this code has expired: ask the health official for a new one")
    unknown = [t for t in accept if t not in TEST_TYPES]
    if unknown:
        raise InvalidTestType("accept may only list confirmed, likely, negative, user-report")
    if row.test_type not in accept:
        raise InvalidTestType("this app does not accept the code's test type", status=412)
    claimed = db.execute(
        update(VerificationCode)
        .where(VerificationCode.uuid == row.uuid, VerificationCode.claimed_at.is_(None))
        .values(claimed_at=now)
    )
    if affected(claimed) != 1:  # another request redeemed it between our read and this write
        raise CodeInvalid("this code has already been used")
    jti = str(uuid.uuid4())
    expires_at = now + timedelta(hours=settings.token_ttl_hours)
    db.add(VerificationToken(jti=jti, code_uuid=row.uuid, expires_at=expires_at))
    token = _sign(
        keys,
        settings,
        {
            "iss": settings.certificate_issuer,
            "aud": settings.certificate_issuer + _TOKEN_AUDIENCE_SUFFIX,
            "sub": row.uuid,
            "jti": jti,
            "iat": int(now.timestamp()),
            "exp": int(expires_at.timestamp()),
        },
    )
    return RedeemedCode(row.test_type, row.symptom_date, row.test_date, token)


def redeem_token(
    *, db: Session, keys: ServerKeys, settings: Settings, token: str, now: datetime
) -> VerificationCode:
    """Check a verification token and use it up; return the code it was redeemed from."""
    try:
        claims = jwt.decode(
            token,
            keys.certificate_private.public_key(),
            algorithms=["ES256"],
            audience=settings.certificate_issuer + _TOKEN_AUDIENCE_SUFFIX,
            issuer=settings.certificate_issuer,
            options={"verify_exp": False, "require": ["exp", "jti", "sub"]},
        )
    except jwt.PyJWTError:
        raise TokenInvalid("the verification token is invalid") from None
    if claims["exp"] <= now.timestamp():
        raise TokenExpired("the verification token has expired: redeem a new code")
    used = db.execute(
        update(VerificationToken)
        .where(VerificationToken.jti == str(claims["jti"]), VerificationToken.used_at.is_(None))
        .values(used_at=now)
    )
    if affected(used) != 1:
        raise TokenInvalid("the verification token was already used")
    row = db.get(VerificationCode, str(claims["sub"]))
    if row is None:
        raise TokenInvalid("the verification token is invalid")
    return row


@dataclass(frozen=True)
class CodePage:
    rows: list[VerificationCode]
    total: int
    page: int
    pages: int


def code_status(row: VerificationCode, now: datetime) -> str:
    """revoked, claimed (used), expired (both codes), or active."""
    if row.revoked_at is not None:
        return "revoked"
    if row.claimed_at is not None:
        return "claimed"
    if as_utc(row.long_expires_at) <= now:
        return "expired"
    return "active"


def _visible_to(official: Official) -> Any:
    # An administrator sees every code; an official, the codes they issued.
    return true() if official.role == "admin" else VerificationCode.issued_by == official.id


def list_codes(
    *,
    db: Session,
    official: Official,
    reference: str = "",
    day: date | None = None,
    zone: tzinfo = UTC,
    page: int = 1,
    per_page: int = 50,
) -> CodePage:
    """Newest first, ``per_page`` a page; ``reference`` a prefix of the UUID, ``day`` the calendar
    day in ``zone`` (the console's display zone) it was issued on."""
    where = [_visible_to(official)]
    reference = reference.strip().lower()
    if reference:
        # UUIDs are ASCII hex and dashes: drop anything else so LIKE's wildcards never reach it
        where.append(
            VerificationCode.uuid.startswith("".join(c for c in reference if c in "0123456789abcdef-"))
        )
    if day is not None:
        where += _issued_on(day, zone)
    total = db.scalar(select(func.count()).select_from(VerificationCode).where(*where)) or 0
    pages = max(1, -(-total // per_page))
    page = min(max(1, page), pages)
    rows = db.scalars(
        select(VerificationCode)
        .where(*where)
        .order_by(VerificationCode.issued_at.desc(), VerificationCode.uuid)
        .limit(per_page)
        .offset((page - 1) * per_page)
    ).all()
    return CodePage(list(rows), total, page, pages)


def _local_midnight(day: date, zone: tzinfo) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=zone).astimezone(UTC)


def _issued_on(day: date, zone: tzinfo) -> list[Any]:
    start, end = _local_midnight(day, zone), _local_midnight(day + timedelta(days=1), zone)
    return [VerificationCode.issued_at >= start, VerificationCode.issued_at < end]


def find_code(*, db: Session, official: Official, code_uuid: str) -> VerificationCode:
    """The code with this reference, if ``official`` may see it; else NotFound (the same answer
    for another official's code as for none, so references cannot be probed)."""
    row = db.scalar(select(VerificationCode).where(VerificationCode.uuid == code_uuid, _visible_to(official)))
    if row is None:
        raise NotFound("no code has that reference")
    return row


def revoke_code(*, db: Session, official: Official, code_uuid: str, now: datetime) -> bool:
    """Revoke an unused code; False when it was used, revoked or expired already (nothing done)."""
    row = find_code(db=db, official=official, code_uuid=code_uuid)
    revoked = db.execute(
        update(VerificationCode)
        .where(
            VerificationCode.uuid == row.uuid,
            VerificationCode.claimed_at.is_(None),
            VerificationCode.revoked_at.is_(None),
        )
        .values(revoked_at=now)
    )
    if affected(revoked) != 1:  # used (or revoked) between the confirm page and this POST
        return False
    audit(db=db, now=now, official_id=official.id, action="code.revoked", detail={"uuid": row.uuid})
    return True


def _sign(keys: ServerKeys, settings: Settings, claims: dict[str, Any]) -> str:
    return jwt.encode(
        claims, keys.certificate_private, algorithm="ES256", headers={"kid": settings.certificate_key_id}
    )
