"""SQLAlchemy 2 ORM tables. Rows never leave the server: routes return schemas.

Nothing here identifies a person: codes, API keys and tokens are stored as HMACs; keys are
random numbers; times are truncated to the hour where they would otherwise date an upload.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, ClassVar

from sqlalchemy import (
    BigInteger,
    Boolean,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    SmallInteger,
    String,
    Text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

__all__ = [
    "ActivityCount",
    "AuditEntry",
    "Base",
    "ConsoleSession",
    "District",
    "ExportBatch",
    "ExportFile",
    "Exposure",
    "JobLock",
    "Official",
    "PaddingKey",
    "UsedCertificate",
    "VerificationCode",
    "VerificationToken",
]

# Stable constraint names, so Alembic migrations are the same on SQLite and PostgreSQL.
NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map: ClassVar[dict[Any, Any]] = {datetime: DateTime(timezone=True)}


class Official(Base):
    __tablename__ = "officials"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    role: Mapped[str] = mapped_column(String(16))  # admin | official
    api_key_hash: Mapped[bytes] = mapped_column(LargeBinary(32), unique=True)
    password_hash: Mapped[str | None] = mapped_column(String(200))  # argon2id, for the console
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime]


class ConsoleSession(Base):
    """A signed-in console session: the cookie holds a random token, we keep its HMAC."""

    __tablename__ = "console_sessions"

    token_hash: Mapped[bytes] = mapped_column(LargeBinary(32), primary_key=True)
    official_id: Mapped[int] = mapped_column(ForeignKey("officials.id", ondelete="CASCADE"))
    csrf: Mapped[str] = mapped_column(String(64))
    lang: Mapped[str] = mapped_column(String(2), default="vi")
    expires_at: Mapped[datetime]


class VerificationCode(Base):
    """A one-time code: a short one (dictated) and a long one (sent as a link), one redemption."""

    __tablename__ = "verification_codes"

    uuid: Mapped[str] = mapped_column(String(36), primary_key=True)
    code_hash: Mapped[bytes] = mapped_column(LargeBinary(32), unique=True)
    long_code_hash: Mapped[bytes] = mapped_column(LargeBinary(32), unique=True)
    test_type: Mapped[str] = mapped_column(String(16))
    symptom_date: Mapped[date | None] = mapped_column(Date)
    test_date: Mapped[date | None] = mapped_column(Date)
    tz_offset_minutes: Mapped[int] = mapped_column(Integer)
    issued_by: Mapped[int | None] = mapped_column(ForeignKey("officials.id", ondelete="SET NULL"))
    issued_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    long_expires_at: Mapped[datetime]
    claimed_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]


class VerificationToken(Base):
    """The token a redeemed code became; it mints one certificate."""

    __tablename__ = "verification_tokens"

    jti: Mapped[str] = mapped_column(String(36), primary_key=True)
    code_uuid: Mapped[str] = mapped_column(String(36))
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None]


class UsedCertificate(Base):
    """Certificates already published with: a certificate publishes once."""

    __tablename__ = "used_certificates"

    jti: Mapped[str] = mapped_column(String(36), primary_key=True)
    expires_at: Mapped[datetime]


class Exposure(Base):
    """A published TEK. ``created_at`` (truncated to the hour, or moved past a still-valid key's
    end: the embargo) decides which export window releases it."""

    __tablename__ = "exposures"

    key_data: Mapped[bytes] = mapped_column(LargeBinary(16), primary_key=True)
    rolling_start: Mapped[int] = mapped_column(Integer)
    rolling_period: Mapped[int] = mapped_column(SmallInteger)
    transmission_risk: Mapped[int] = mapped_column(SmallInteger)
    report_type: Mapped[int] = mapped_column(SmallInteger)
    days_since_onset: Mapped[int | None] = mapped_column(SmallInteger)
    health_authority: Mapped[str] = mapped_column(String(64))
    traveler: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(index=True)
    # A revision (likely → confirmed, likely or self-report → revoked), at most one per key;
    # ``revised_at`` (hour) decides which export lists the key again in ``revised_keys``.
    revised_report_type: Mapped[int | None] = mapped_column(SmallInteger)
    revised_days_since_onset: Mapped[int | None] = mapped_column(SmallInteger)
    revised_at: Mapped[datetime | None] = mapped_column(index=True)

    __table_args__ = (Index("ix_exposures_rolling_start", "rolling_start"),)


class ExportBatch(Base):
    """One export window, ``[start, end)`` by arrival; exported once, files listed in the index."""

    __tablename__ = "export_batches"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    start: Mapped[datetime] = mapped_column(unique=True)
    end: Mapped[datetime]
    status: Mapped[str] = mapped_column(String(16), default="open")  # open | complete
    completed_at: Mapped[datetime | None]


class PaddingKey(Base):
    """Random keys that pad a small batch, copying real keys' metadata; kept so re-runs repeat."""

    __tablename__ = "padding_keys"

    key_data: Mapped[bytes] = mapped_column(LargeBinary(16), primary_key=True)
    batch_id: Mapped[int] = mapped_column(ForeignKey("export_batches.id", ondelete="CASCADE"), index=True)
    rolling_start: Mapped[int] = mapped_column(Integer)
    rolling_period: Mapped[int] = mapped_column(SmallInteger)
    transmission_risk: Mapped[int] = mapped_column(SmallInteger)
    report_type: Mapped[int] = mapped_column(SmallInteger)
    days_since_onset: Mapped[int | None] = mapped_column(SmallInteger)


class ExportFile(Base):
    __tablename__ = "export_files"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    batch_id: Mapped[int] = mapped_column(ForeignKey("export_batches.id", ondelete="CASCADE"), index=True)
    sha256: Mapped[str] = mapped_column(String(64))
    key_count: Mapped[int] = mapped_column(Integer)
    real_key_count: Mapped[int] = mapped_column(Integer)
    end_timestamp: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[datetime]


class JobLock(Base):
    """A lease: one export writer at a time, across processes and hosts."""

    __tablename__ = "job_locks"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    holder: Mapped[str | None] = mapped_column(String(64))
    expires_at: Mapped[datetime | None]


class AuditEntry(Base):
    """Who did what: never patient data, never codes, never keys."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(index=True)
    official_id: Mapped[int | None] = mapped_column(ForeignKey("officials.id", ondelete="SET NULL"))
    """Who acted (None: nobody signed in, e.g. a failed sign-in)."""
    action: Mapped[str] = mapped_column(String(64), index=True)
    detail: Mapped[str] = mapped_column(Text, default="")
    subject_id: Mapped[int | None] = mapped_column(
        ForeignKey("officials.id", ondelete="SET NULL"), index=True
    )
    """The official the action was about: the one disabled, or the name a sign-in tried (when it is
    an official's; an unknown name is kept as None, never as the text typed)."""


class District(Base):
    """A district with its population and smartphones (from a CSV), and the admin's target."""

    __tablename__ = "districts"

    code: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    population: Mapped[int] = mapped_column(Integer)
    smartphones: Mapped[int] = mapped_column(Integer)
    target_share: Mapped[float | None] = mapped_column()
    """Target share of smartphone owners running the app, 0..1."""
    deadline: Mapped[date | None] = mapped_column(Date)


class ActivityCount(Base):
    """How many "active today" signals a district got on a UTC day. Nothing per device."""

    __tablename__ = "activity_counts"

    district: Mapped[str] = mapped_column(ForeignKey("districts.code", ondelete="CASCADE"), primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    count: Mapped[int] = mapped_column(Integer, default=0)
