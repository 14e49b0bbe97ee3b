"""Officials, their API keys (stored as HMACs) and the audit log; an administrator's lifecycle
actions: rotate an API key, reset a password, disable and re-enable an account.

Every lifecycle action ends the official's console sessions where it changes what they may do
(a new password, a disabled account), and each is audited with the official it was about
(``subject_id``). The last enabled administrator cannot be disabled: nobody could undo it
without a database edit.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, tzinfo
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from tracer_server.errors import Forbidden, NotFound, ServerError, Unauthorized
from tracer_server.models import AuditEntry, ConsoleSession, Official
from tracer_server.secrets_store import ServerKeys

__all__ = [
    "AUDIT_ACTIONS",
    "LAST_ADMIN",
    "ROLES",
    "AuditPage",
    "audit",
    "authenticate",
    "create_official",
    "disable_official",
    "enable_official",
    "find_official",
    "list_audit",
    "record_sign_in",
    "reset_password",
    "rotate_api_key",
]

ROLES = ("admin", "official")
LAST_ADMIN = "this is the last enabled administrator: enable or create another first"


def create_official(
    *, db: Session, keys: ServerKeys, name: str, role: str, now: datetime, password: str | None = None
) -> tuple[Official, str]:
    """A new official and their API key, shown once and stored only as an HMAC; with a password
    (argon2id) they can also sign in to the console."""
    if role not in ROLES:
        raise ServerError(f"role must be one of {', '.join(ROLES)}")
    name = name.strip()
    if not 1 <= len(name) <= 100:
        raise ServerError("name must be 1-100 characters")
    if db.scalar(select(Official).where(Official.name == name)) is not None:
        raise ServerError("an official with that name exists already", status=409)
    api_key = _new_api_key()
    password_hash = None if password is None else _hash(password)
    official = Official(
        name=name, role=role, api_key_hash=keys.digest(api_key), password_hash=password_hash, created_at=now
    )
    db.add(official)
    db.flush()
    audit(
        db=db,
        now=now,
        official_id=official.id,
        subject_id=official.id,
        action="official.created",
        detail={"role": role},
    )
    return official, api_key


def _new_api_key() -> str:
    return "bz_" + secrets.token_urlsafe(32)


def _hash(password: str) -> str:
    from tracer_server.console.auth import hash_password

    try:
        return hash_password(password)
    except ValueError as exc:
        raise ServerError(str(exc)) from None


def find_official(db: Session, name: str) -> Official:
    official = db.scalar(select(Official).where(Official.name == name.strip()))
    if official is None:
        raise NotFound("no official has that name")
    return official


def _end_sessions(db: Session, official: Official) -> None:
    db.execute(delete(ConsoleSession).where(ConsoleSession.official_id == official.id))


def rotate_api_key(
    *, db: Session, keys: ServerKeys, official: Official, by: Official | None, now: datetime
) -> str:
    """A new API key for ``official``, shown once; the old one is refused from this commit on."""
    api_key = _new_api_key()
    official.api_key_hash = keys.digest(api_key)
    audit(db=db, now=now, official_id=by.id if by else None, subject_id=official.id,
          action="official.api_key_rotated", detail={})  # fmt: skip
    return api_key


def reset_password(
    *, db: Session, official: Official, by: Official | None, now: datetime, password: str | None = None
) -> str | None:
    """Set ``password`` (or a generated one, returned to be shown once); the official's console
    sessions end, so whoever held the old password is signed out too."""
    generated = None
    if password is None:
        generated = password = secrets.token_urlsafe(15)  # 20 characters, ~120 bits
    official.password_hash = _hash(password)
    _end_sessions(db, official)
    audit(db=db, now=now, official_id=by.id if by else None, subject_id=official.id,
          action="official.password_reset", detail={"generated": generated is not None})  # fmt: skip
    return generated


def disable_official(*, db: Session, official: Official, by: Official | None, now: datetime) -> None:
    """Refuse sign-in and the API key from now on, and end the official's sessions."""
    if official.disabled:
        return
    if official.role == "admin":
        # Lock every enabled admin's row (PostgreSQL), so two admins disabling each other at
        # once cannot both see the other still enabled; SQLite serialises writers anyway.
        admins = db.scalars(
            select(Official.id)
            .where(Official.role == "admin", Official.disabled.is_(False))
            .with_for_update()
        ).all()
        if [a for a in admins if a != official.id] == []:
            raise ServerError(LAST_ADMIN, status=409)
    official.disabled = True
    _end_sessions(db, official)
    audit(db=db, now=now, official_id=by.id if by else None, subject_id=official.id,
          action="official.disabled", detail={})  # fmt: skip


def enable_official(*, db: Session, official: Official, by: Official | None, now: datetime) -> None:
    if not official.disabled:
        return
    official.disabled = False
    audit(db=db, now=now, official_id=by.id if by else None, subject_id=official.id,
          action="official.enabled", detail={})  # fmt: skip


def record_sign_in(
    *, db: Session, now: datetime, name: str, official: Official | None, reason: str | None, client: bytes
) -> None:
    """Audit a console sign-in: ``reason`` None for a success, else why it failed.

    A failure names the official only when ``name`` is one's (as ``subject_id``); any other text
    typed is not kept, since it may be a password typed into the wrong field. ``client`` is
    already an HMAC of the address under a daily key; a short prefix links attempts of one day.
    """
    if official is None:
        official = db.scalar(select(Official).where(Official.name == name.strip()))
    detail: dict[str, object] = {"client": client.hex()[:12]}
    if reason is not None:
        detail["reason"] = reason
    audit(
        db=db,
        now=now,
        official_id=official.id if official is not None and reason is None else None,
        subject_id=official.id if official is not None else None,
        action="console.signed_in" if reason is None else "console.sign_in_failed",
        detail=detail,
    )


def authenticate(
    *, db: Session, keys: ServerKeys, api_key: str | None, roles: tuple[str, ...] = ROLES
) -> Official:
    """The official holding ``api_key``; one indexed lookup of its HMAC, so timing says nothing."""
    if not api_key:
        raise Unauthorized("an X-API-Key header is required")
    official = db.scalar(select(Official).where(Official.api_key_hash == keys.digest(api_key)))
    if official is None or official.disabled:
        raise Unauthorized("API key not recognised")
    if official.role not in roles:
        raise Forbidden("this API key's role may not do that")
    return official


def audit(
    *,
    db: Session,
    now: datetime,
    official_id: int | None,
    action: str,
    detail: dict[str, object],
    subject_id: int | None = None,
) -> None:
    db.add(
        AuditEntry(
            at=now,
            official_id=official_id,
            subject_id=subject_id,
            action=action,
            detail=json.dumps(detail, sort_keys=True),
        )
    )


AUDIT_ACTIONS = (
    "console.signed_in",
    "console.sign_in_failed",
    "official.created",
    "official.api_key_rotated",
    "official.password_reset",
    "official.disabled",
    "official.enabled",
    "code.issued",
    "code.revoked",
    "keys.uploaded_for_case",
    "adoption.target_set",
)


@dataclass(frozen=True)
class AuditPage:
    entries: list[AuditEntry]
    details: list[dict[str, object]]
    total: int
    page: int
    pages: int


def list_audit(
    *,
    db: Session,
    action: str = "",
    official_id: int | None = None,
    since: date | None = None,
    until: date | None = None,
    zone: tzinfo = UTC,
    page: int = 1,
    per_page: int = 50,
) -> AuditPage:
    """Newest first; ``official_id`` matches who acted or whom it was about; ``since`` and
    ``until`` are calendar days in ``zone``, both included."""
    where: list[Any] = []
    if action:
        where.append(AuditEntry.action == action)
    if official_id is not None:
        where.append((AuditEntry.official_id == official_id) | (AuditEntry.subject_id == official_id))
    if since is not None:
        where.append(AuditEntry.at >= _midnight(since, zone))
    if until is not None:
        where.append(AuditEntry.at < _midnight(until + timedelta(days=1), zone))
    total = db.scalar(select(func.count()).select_from(AuditEntry).where(*where)) or 0
    pages = max(1, -(-total // per_page))
    page = min(max(1, page), pages)
    entries = list(
        db.scalars(
            select(AuditEntry)
            .where(*where)
            .order_by(AuditEntry.at.desc(), AuditEntry.id.desc())
            .limit(per_page)
            .offset((page - 1) * per_page)
        )
    )
    return AuditPage(entries, [_detail(e.detail) for e in entries], total, page, pages)


def _midnight(day: date, zone: tzinfo) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=zone).astimezone(UTC)


def _detail(text: str) -> dict[str, object]:
    try:
        value = json.loads(text) if text else {}
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}
