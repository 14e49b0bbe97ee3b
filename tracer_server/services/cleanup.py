"""Retention: nothing older than ``retention_days`` (14) stays, in the database or in storage."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.orm import Session, sessionmaker

from tracer_server.db import affected, transaction
from tracer_server.models import (
    AuditEntry,
    ExportBatch,
    ExportFile,
    Exposure,
    UsedCertificate,
    VerificationCode,
    VerificationToken,
)
from tracer_server.services.export_job import write_index
from tracer_server.settings import Settings
from tracer_server.storage import ExportStorage

__all__ = ["CleanupReport", "run_cleanup"]


@dataclass
class CleanupReport:
    exposures: int = 0
    files: int = 0
    codes: int = 0


def run_cleanup(
    *, factory: sessionmaker[Session], settings: Settings, storage: ExportStorage, now: datetime
) -> CleanupReport:
    cutoff = now - timedelta(days=settings.retention_days)
    report = CleanupReport()
    with transaction(factory) as db:
        report.exposures = affected(db.execute(delete(Exposure).where(Exposure.created_at < cutoff)))
        report.codes = affected(
            db.execute(delete(VerificationCode).where(VerificationCode.long_expires_at < cutoff))
        )
        db.execute(delete(VerificationToken).where(VerificationToken.expires_at < now))
        db.execute(delete(UsedCertificate).where(UsedCertificate.expires_at < now))
        db.execute(delete(AuditEntry).where(AuditEntry.at < cutoff))
        old = db.scalars(select(ExportBatch.id).where(ExportBatch.end < cutoff)).all()
        names = db.scalars(select(ExportFile.name).where(ExportFile.batch_id.in_(old))).all() if old else []
    # The index first, so no listed file is ever missing; then the files; then their rows.
    if names:
        with transaction(factory) as db:
            db.execute(delete(ExportFile).where(ExportFile.name.in_(names)))
        write_index(factory, settings, storage, now)
        for name in names:
            storage.delete(name)
        report.files = len(names)
    if old:
        with transaction(factory) as db:
            db.execute(delete(ExportBatch).where(ExportBatch.id.in_(old)))
    return report
