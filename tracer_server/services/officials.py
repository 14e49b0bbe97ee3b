"""Officials, their API keys (stored as HMACs) and the audit log."""

from __future__ import annotations

import json
import secrets
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from tracer_server.errors import Forbidden, ServerError, Unauthorized
from tracer_server.models import AuditEntry, Official
from tracer_server.secrets_store import ServerKeys

__all__ = ["ROLES", "audit", "authenticate", "create_official"]

ROLES = ("admin", "official")


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
    api_key = "bz_" + secrets.token_urlsafe(32)
    password_hash = None
    if password is not None:
        from tracer_server.console.auth import hash_password

        try:
            password_hash = hash_password(password)
        except ValueError as exc:
            raise ServerError(str(exc)) from None
    official = Official(
        name=name, role=role, api_key_hash=keys.digest(api_key), password_hash=password_hash, created_at=now
    )
    db.add(official)
    db.flush()
    audit(db=db, now=now, official_id=official.id, action="official.created", detail={"role": role})
    return official, api_key


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
    *, db: Session, now: datetime, official_id: int | None, action: str, detail: dict[str, object]
) -> None:
    db.add(
        AuditEntry(at=now, official_id=official_id, action=action, detail=json.dumps(detail, sort_keys=True))
    )
