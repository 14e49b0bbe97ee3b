"""Console sign-in: argon2id passwords, server-side sessions, CSRF tokens, sign-in throttling.

The session cookie is ``__Host-``-less on purpose (tests run on http://127.0.0.1, which browsers
treat as secure), but always ``Secure; HttpOnly; SameSite=Strict; Path=/console``. The cookie
holds a random token; the database keeps its HMAC. Every form carries the session's CSRF
token; the sign-in form carries one bound to a pre-session cookie.

Throttling (:class:`SignInThrottle`) is per (name, client) and per client, so wrong passwords
from one address never lock an official out of another (a lockout by name alone let anyone who
knew a name keep that official out); and a budget of wrong passwords per minute across every
client, past which every sign-in waits, so an attacker with many addresses guesses no faster.
Identifiers are HMACs (the client's is already one, under a daily key), never names or addresses.
"""

from __future__ import annotations

import contextlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from tracer_server.db import as_utc
from tracer_server.errors import RateLimited
from tracer_server.models import ConsoleSession, Official
from tracer_server.secrets_store import ServerKeys
from tracer_server.services.ratelimit import Limiter

__all__ = [
    "COOKIE",
    "LOGIN_COOKIE",
    "SESSION_HOURS",
    "SignInThrottle",
    "SignInThrottled",
    "SignedIn",
    "check_password",
    "end_session",
    "hash_password",
    "login_csrf",
    "open_session",
    "start_session",
]

COOKIE = "bz_console"
LOGIN_COOKIE = "bz_login"
SESSION_HOURS = 8
_hasher = PasswordHasher()  # argon2id, the library's memory-hard defaults (64 MiB, 3 passes)
# Verifying against this when the name is unknown takes the same time as a real check.
_DUMMY_HASH = _hasher.hash(secrets.token_urlsafe(16))


@dataclass(frozen=True)
class SignedIn:
    official: Official
    csrf: str
    lang: str


class SignInThrottled(Exception):
    """Too many sign-ins: ``everyone`` when the server-wide failure budget is spent (then
    ``retry_after`` seconds is when it frees), else for this name from this client."""

    def __init__(self, *, everyone: bool, retry_after: float) -> None:
        super().__init__("too many sign-in attempts")
        self.everyone, self.retry_after = everyone, retry_after


@dataclass(frozen=True)
class SignInThrottle:
    per_name_and_client: Limiter
    per_client: Limiter
    failures: Limiter
    """Wrong passwords across every client, counted under one identifier."""

    def admit(self, *, keys: ServerKeys, name: str, client: bytes) -> None:
        """Count a sign-in attempt, or raise :class:`SignInThrottled` before any password is checked."""
        wait = self.failures.wait(_everyone(keys))
        if wait > 0:
            raise SignInThrottled(everyone=True, retry_after=wait)
        pair = keys.digest(f"signin:{name.strip().lower()}:{client.hex()}")
        try:
            self.per_name_and_client.check(pair)
            self.per_client.check(client)
        except RateLimited:
            wait = max(self.per_name_and_client.wait(pair), self.per_client.wait(client))
            raise SignInThrottled(everyone=False, retry_after=wait) from None

    def failed(self, *, keys: ServerKeys) -> None:
        """Count a wrong password against the server-wide budget."""
        # RateLimited: spent already by attempts admitted at the same moment; it stays spent.
        with contextlib.suppress(RateLimited):
            self.failures.check(_everyone(keys))


def _everyone(keys: ServerKeys) -> bytes:
    # Under the pepper, so processes of one server share it and no two servers (or tests) do.
    return keys.digest("signin:failures")


def hash_password(password: str) -> str:
    if len(password) < 12:
        raise ValueError("a console password needs at least 12 characters")
    return _hasher.hash(password)


def check_password(*, db: Session, name: str, password: str) -> Official | None:
    official = db.scalar(select(Official).where(Official.name == name))
    stored = official.password_hash if official is not None and not official.disabled else None
    try:
        _hasher.verify(stored or _DUMMY_HASH, password)
    except (VerificationError, InvalidHashError):
        return None
    return official if stored else None


def login_csrf(keys: ServerKeys, pre_session: str) -> str:
    return keys.digest(f"login:{pre_session}").hex()[:32]


def start_session(*, db: Session, keys: ServerKeys, official: Official, lang: str, now: datetime) -> str:
    token = secrets.token_urlsafe(32)
    db.execute(delete(ConsoleSession).where(ConsoleSession.expires_at < now))
    db.add(
        ConsoleSession(
            token_hash=keys.digest(token),
            official_id=official.id,
            csrf=secrets.token_urlsafe(24),
            lang=lang,
            expires_at=now + timedelta(hours=SESSION_HOURS),
        )
    )
    return token


def open_session(*, db: Session, keys: ServerKeys, token: str | None, now: datetime) -> SignedIn | None:
    if not token:
        return None
    row = db.get(ConsoleSession, keys.digest(token))
    if row is None or as_utc(row.expires_at) <= now:
        return None
    official = db.get(Official, row.official_id)
    if official is None or official.disabled:
        return None
    return SignedIn(official, row.csrf, row.lang)


def end_session(*, db: Session, keys: ServerKeys, token: str | None) -> None:
    if token:
        db.execute(delete(ConsoleSession).where(ConsoleSession.token_hash == keys.digest(token)))


def same(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode(), b.encode())
