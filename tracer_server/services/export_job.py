"""The export job: batch keys by arrival window, pad, sort, sign, write, then rewrite the index.

As Google's export worker does (``shared/spec/server.md`` §1.1):

* windows of ``export_period_minutes`` by ``created_at`` (arrival truncated to the hour, or the
  embargo), released only ``export_min_window_age_minutes`` after they close;
* a batch with fewer than ``export_min_keys`` real keys is padded with random keys copying real
  keys' metadata up to min + random(0..range); padding keys are persisted, so a re-run writes
  the same bytes; revised keys are never padded;
* keys sorted by their bytes; more than ``export_max_keys_per_file`` become several files, each
  batch 1 of 1 with its own end timestamp;
* ``<start>-<end>-<n:05d>.zip`` files first, then ``index.txt`` (relative names, oldest first).

One writer at a time through a lease in the database; every step is idempotent, so a crash
anywhere publishes nothing twice and loses no key: a batch is marked complete only after its
files are in storage, and a re-run of an incomplete batch rewrites identical files. A run
killed on this host does not hold the next one up (its lease is taken over at once, with a
warning), and the next run removes the temporary files its interrupted puts left. Keys stream
from the database cursor into each zip, so memory stays flat however big the window.
``close_window`` (tests and demos) exports the open window now, which weakens the batching
that hides who uploaded together.
"""

from __future__ import annotations

import hashlib
import io
import itertools
import logging
import os
import random
import secrets
import socket
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session, sessionmaker

from protocol.export import DiagnosisKey, SigningKey, write_export_to
from tracer_server.db import affected, as_utc, transaction
from tracer_server.models import ExportBatch, ExportFile, Exposure, JobLock, PaddingKey
from tracer_server.settings import Settings
from tracer_server.storage import ExportStorage

__all__ = ["ExportReport", "LockBusy", "export_lease", "run_export", "write_index"]

log = logging.getLogger("tracer_server.export")

LOCK_NAME = "export"
LEASE = timedelta(minutes=15)


class LockBusy(RuntimeError):
    """Another export writer holds the lease."""


@dataclass
class ExportReport:
    batches: int = 0
    files: list[str] = field(default_factory=list)
    keys: int = 0
    padding: int = 0


class export_lease:
    """Hold the export lease for the duration of a ``with`` block (or raise :class:`LockBusy`).

    The lease lasts ``LEASE`` from the last :meth:`renew`; the job renews before each batch and
    before the index (outside any database session: SQLite would see a writer beside a reader),
    so a job slower than ``LEASE`` keeps it, and one that stalled past it finds out before its
    next write (:class:`LockBusy`) instead of writing beside the writer that took over. Elapsed time comes
    from ``monotonic``, added to the ``now`` the job was started with.

    The holder is named ``host:pid:run``, so a lease is taken over, with a warning, when it has
    expired or when its holder was a process of this host that no longer runs (killed: the
    next run need not wait out the 15 minutes). ``previous_holder_dead`` then says that whatever
    that run left behind is garbage. A live holder is reported at INFO, then :class:`LockBusy`.
    Hosts are told apart by hostname: exporters that share one must share a PID namespace.
    """

    def __init__(
        self, factory: sessionmaker[Session], now: datetime, monotonic: Callable[[], float] = time.monotonic
    ) -> None:
        self.factory, self.now, self.holder = factory, now, _holder_name()
        self.monotonic, self.started = monotonic, monotonic()
        self.previous_holder_dead = False

    def __enter__(self) -> export_lease:
        with transaction(self.factory) as db:
            if db.get(JobLock, LOCK_NAME) is None:
                db.add(JobLock(name=LOCK_NAME))
        with transaction(self.factory) as db:
            lock = db.get(JobLock, LOCK_NAME)
            assert lock is not None
            previous, until = lock.holder, as_utc(lock.expires_at) if lock.expires_at else None
            dead = previous is not None and _ran_here_and_exited(previous)
            if until is not None and until >= self.now and not dead:
                log.info(
                    "export lease held by %s until %s: another export is running", previous, f"{until:%FT%TZ}"
                )
                raise LockBusy("another export is running")
            # Compare and set on what was read: of two runs taking over, one wins.
            taken = db.execute(
                update(JobLock)
                .where(JobLock.name == LOCK_NAME)
                .where(JobLock.holder.is_(None) if previous is None else JobLock.holder == previous)
                .where(
                    JobLock.expires_at.is_(None) if until is None else JobLock.expires_at == lock.expires_at
                )
                .values(holder=self.holder, expires_at=self.now + LEASE)
                .execution_options(synchronize_session=False)
            )
            if affected(taken) != 1:
                log.info("export lease taken by another run first: another export is running")
                raise LockBusy("another export is running")
        if until is not None:
            why = "whose process no longer runs" if dead else f"which expired at {until:%FT%TZ}"
            log.warning("export lease of %s, %s, taken over by %s", previous, why, self.holder)
        self.previous_holder_dead = dead
        return self

    def renew(self) -> None:
        """Extend the lease from the present moment, or raise :class:`LockBusy` if it was lost."""
        at = self.now + timedelta(seconds=self.monotonic() - self.started)
        with transaction(self.factory) as db:
            kept = db.execute(
                update(JobLock)
                .where(JobLock.name == LOCK_NAME, JobLock.holder == self.holder)
                .values(expires_at=at + LEASE)
            )
            if affected(kept) != 1:
                raise LockBusy("the export lease was lost to another writer: this run stops")

    def __exit__(self, *exc: object) -> None:
        with transaction(self.factory) as db:
            db.execute(
                update(JobLock)
                .where(JobLock.name == LOCK_NAME, JobLock.holder == self.holder)
                .values(holder=None, expires_at=None)
            )


def _holder_name() -> str:
    """``host:pid:run``: whom the log names, and whom a run on the same host can check on."""
    return f"{socket.gethostname()[:32]}:{os.getpid()}:{uuid.uuid4().hex[:16]}"


def _ran_here_and_exited(holder: str) -> bool:
    """True only when ``holder`` names a process of this host that no longer exists (a pid
    reused since reads as alive: the lease is then waited out, never taken from a live run)."""
    host, _, rest = holder.partition(":")
    pid = rest.partition(":")[0]
    if host != socket.gethostname()[:32] or not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:  # someone else's process: alive
        return False
    return False


def run_export(
    *,
    factory: sessionmaker[Session],
    settings: Settings,
    storage: ExportStorage,
    signing_keys: Sequence[SigningKey],
    now: datetime,
    close_window: bool = False,
    rng: Callable[[int], bytes] = secrets.token_bytes,
    progress: Callable[[str], None] = lambda _: None,
    monotonic: Callable[[], float] = time.monotonic,
) -> ExportReport:
    report = ExportReport()
    with export_lease(factory, now, monotonic) as lease:
        # What an interrupted put left: every temporary file when its run is known dead, else
        # those older than a lease (a writer that stalled that long has lost the lease anyway).
        removed = storage.remove_temporaries(0 if lease.previous_holder_dead else LEASE.total_seconds())
        if removed:
            log.info("removed %d temporary export files left by an interrupted run", removed)
        _plan_batches(factory, settings, now, close_window)
        with factory() as db:
            pending = db.scalars(
                select(ExportBatch).where(ExportBatch.status == "open").order_by(ExportBatch.start)
            ).all()
        for batch in pending:
            lease.renew()  # still ours, for LEASE more: or LockBusy before this batch writes anything
            names, real, padding = _export_batch(factory, settings, storage, signing_keys, batch, now, rng)
            report.batches += 1
            report.keys += real
            report.padding += padding
            report.files += names
            progress(
                f"batch {as_utc(batch.start):%Y-%m-%d %H:%M}: {real} keys + {padding} padding, "
                f"{len(names)} files"
            )
        lease.renew()
        write_index(factory, settings, storage, now)
    return report


def _window_start(moment: datetime, period: timedelta) -> datetime:
    day = moment.replace(hour=0, minute=0, second=0, microsecond=0)
    return day + ((moment - day) // period) * period


def _plan_batches(
    factory: sessionmaker[Session], settings: Settings, now: datetime, close_window: bool
) -> None:
    """Open a batch for every closed window since the last one (or the oldest key)."""
    period = timedelta(minutes=settings.export_period_minutes)
    with transaction(factory) as db:
        last = db.scalar(select(ExportBatch.end).order_by(ExportBatch.end.desc()).limit(1))
        if last is not None:
            start = as_utc(last)
        else:
            oldest = db.scalar(select(Exposure.created_at).order_by(Exposure.created_at).limit(1))
            if oldest is None:
                return
            start = _window_start(as_utc(oldest), period)
        if close_window:
            # The open window closes at the end of the current hour: arrival times are truncated
            # to the hour, so this takes every key that has arrived (embargoed ones stay behind).
            # Weaker batching: for tests and demos.
            horizon = now.replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
        else:
            horizon = _window_start(now - timedelta(minutes=settings.export_min_window_age_minutes), period)
        while start < horizon:
            end = min(_window_start(start, period) + period, horizon)
            db.add(ExportBatch(start=start, end=end, status="open"))
            start = end


def _export_batch(
    factory: sessionmaker[Session],
    settings: Settings,
    storage: ExportStorage,
    signing_keys: Sequence[SigningKey],
    batch: ExportBatch,
    now: datetime,
    rng: Callable[[int], bytes],
) -> tuple[list[str], int, int]:
    start, end = as_utc(batch.start), as_utc(batch.end)
    in_window = (Exposure.created_at >= start) & (Exposure.created_at < end)
    with transaction(factory) as db:
        real_count = db.scalar(select(func.count()).select_from(Exposure).where(in_window)) or 0
        revised = [
            _diagnosis_key(row, revised=True)
            for row in db.scalars(
                select(Exposure)
                .where(Exposure.revised_at >= start, Exposure.revised_at < end)
                .order_by(Exposure.key_data)
            )
        ]
        padding = db.scalars(select(PaddingKey).where(PaddingKey.batch_id == batch.id)).all()
        if real_count and not padding and real_count < settings.export_min_keys:
            padding = _make_padding(
                batch.id, db.scalars(select(Exposure).where(in_window)).all(), settings, rng
            )
            db.add_all(padding)
    start_ts, end_ts = int(start.timestamp()), int(end.timestamp())
    chunk = settings.export_max_keys_per_file
    total = real_count + len(padding)
    count = max(1, -(-total // chunk)) if total or revised else 0
    names: list[str] = []
    files: list[ExportFile] = []
    padded = {p.key_data for p in padding}
    with factory() as db:
        keys = _sorted_keys(db, in_window, padding)
        for number in range(1, count + 1):
            part: Iterable[DiagnosisKey] = itertools.islice(keys, chunk)
            if padded:  # a padded batch is small (under export_min_keys + export_padding_range)
                part = list(part)
            # Each file of a split window is batch 1 of 1 with its own end timestamp (GENS: clients
            # choke on multi-file batches), so (start, end, batch) stays unique in the index.
            # Revised keys go in the first file only, and are never padded. The keys stream from
            # the cursor into the zip: only the compressed file is ever whole in memory.
            file_end = end_ts + number - 1
            out = io.BytesIO()
            key_count = write_export_to(
                out,
                part,
                start_timestamp=start_ts,
                end_timestamp=file_end,
                region=settings.region,
                signing_keys=signing_keys,
                revised_keys=revised if number == 1 else (),
            )
            blob = out.getvalue()
            del out
            real_in_file = sum(1 for key in part if key.key_data not in padded) if padded else key_count
            name = f"{start_ts}-{file_end}-{number:05d}.zip"
            storage.put(name, blob)
            files.append(
                ExportFile(
                    name=name,
                    batch_id=batch.id,
                    sha256=hashlib.sha256(blob).hexdigest(),
                    key_count=key_count,
                    real_key_count=real_in_file,
                    end_timestamp=file_end,
                    created_at=now,
                )
            )
            names.append(name)
            del blob
    with transaction(factory) as db:
        db.execute(delete(ExportFile).where(ExportFile.batch_id == batch.id))  # a re-run replaces its rows
        db.add_all(files)
        db.execute(
            update(ExportBatch).where(ExportBatch.id == batch.id).values(status="complete", completed_at=now)
        )
    return names, real_count, len(padding)


def _sorted_keys(db: Session, in_window: Any, padding: Sequence[PaddingKey]) -> Iterator[DiagnosisKey]:
    """The window's keys sorted by their bytes, streamed from the database (a million keys never
    sit in memory as rows); a padded batch is small and is merged in memory."""
    columns = (
        Exposure.key_data,
        Exposure.rolling_start,
        Exposure.rolling_period,
        Exposure.transmission_risk,
        Exposure.report_type,
        Exposure.days_since_onset,
    )
    rows = db.execute(
        select(*columns).where(in_window).order_by(Exposure.key_data).execution_options(yield_per=20_000)
    )
    real = (DiagnosisKey(bytes(r[0]), r[1], r[2], r[3], r[4], r[5]) for r in rows)
    if not padding:
        yield from real
        return
    yield from sorted([*real, *(_diagnosis_key(p) for p in padding)], key=lambda k: k.key_data)


def _make_padding(
    batch_id: int, real: Sequence[Exposure], settings: Settings, rng: Callable[[int], bytes]
) -> list[PaddingKey]:
    jitter = random.Random(rng(16)).randint(0, settings.export_padding_range)
    count = settings.export_min_keys + jitter - len(real)
    return [
        PaddingKey(
            key_data=rng(16),
            batch_id=batch_id,
            rolling_start=model.rolling_start,
            rolling_period=model.rolling_period,
            transmission_risk=model.transmission_risk,
            report_type=model.report_type,
            days_since_onset=model.days_since_onset,
        )
        for model in (real[i % len(real)] for i in range(count))
    ]


def _diagnosis_key(row: Exposure | PaddingKey, *, revised: bool = False) -> DiagnosisKey:
    if revised:
        assert isinstance(row, Exposure) and row.revised_report_type is not None
        return DiagnosisKey(
            row.key_data,
            row.rolling_start,
            row.rolling_period,
            row.transmission_risk,
            row.revised_report_type,
            row.revised_days_since_onset,
        )
    return DiagnosisKey(
        key_data=row.key_data,
        rolling_start_interval_number=row.rolling_start,
        rolling_period=row.rolling_period,
        transmission_risk_level=row.transmission_risk,
        report_type=row.report_type,
        days_since_onset_of_symptoms=row.days_since_onset,
    )


def write_index(
    factory: sessionmaker[Session], settings: Settings, storage: ExportStorage, now: datetime
) -> list[str]:
    """Rewrite ``index.txt``: every file of a complete batch within retention, oldest first."""
    cutoff = now - timedelta(days=settings.retention_days)
    with factory() as db:
        names = db.scalars(
            select(ExportFile.name)
            .join(ExportBatch, ExportFile.batch_id == ExportBatch.id)
            .where(ExportBatch.status == "complete", ExportBatch.end >= cutoff)
            .order_by(ExportBatch.start, ExportFile.end_timestamp)
        ).all()
    storage.put("index.txt", "".join(f"{name}\n" for name in names).encode("ascii"))
    return list(names)
