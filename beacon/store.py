"""The beacon's state: one SQLite database (WAL) in a private state directory.

* own TEKs, sealed with AES-GCM under a key kept in a separate file (not in the database);
* the logical scan windows performed, and sightings aggregated per RPI per window (AEM, count,
  RSSI sum, max and min): never a raw packet log;
* export files processed (by SHA-256), files rejected (by SHA-256, with the reason: a hostile
  file costs its verification once), matches found, warnings, uploads in progress.

Every write is one transaction with ``synchronous=FULL``: a ``kill -9`` at any moment loses
nothing committed. :meth:`BeaconStore.purge` applies the 14-day retention.
"""

from __future__ import annotations

import json
import os
import secrets
import sqlite3
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from beacon.errors import BeaconError
from protocol.advert import Metadata
from protocol.export import DiagnosisKey, ReportType
from protocol.keys import TEK_ROLLING_PERIOD, en_interval_number
from protocol.matching import Match, Sighting

__all__ = ["RETENTION_DAYS", "BeaconStore", "StoreError", "StoredTek"]

RETENTION_DAYS = 14
KEY_BYTES = 32  # AES-256-GCM: the key sealing TEKs and uploads
REJECTED_REASON_CHARS = 200  # a hostile file's error message can be megabytes
_DAY = 86_400

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta(k TEXT PRIMARY KEY, v TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS teks(
    id INTEGER PRIMARY KEY, rolling_start INTEGER NOT NULL, rolling_period INTEGER NOT NULL,
    sealed BLOB NOT NULL, released REAL);
CREATE TABLE IF NOT EXISTS scans(start REAL PRIMARY KEY);
CREATE TABLE IF NOT EXISTS sightings(
    rpi BLOB NOT NULL, window REAL NOT NULL, aem BLOB NOT NULL, count INTEGER NOT NULL,
    rssi_sum INTEGER NOT NULL, max_rssi INTEGER NOT NULL, min_rssi INTEGER NOT NULL,
    PRIMARY KEY (rpi, window, aem)) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS sightings_window ON sightings(window);
CREATE TABLE IF NOT EXISTS files(sha256 TEXT PRIMARY KEY, name TEXT NOT NULL, processed REAL NOT NULL);
CREATE TABLE IF NOT EXISTS rejected(
    sha256 TEXT PRIMARY KEY, name TEXT NOT NULL, reason TEXT NOT NULL, rejected REAL NOT NULL,
    pinned TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS matches(
    key_data BLOB NOT NULL, rolling_start INTEGER NOT NULL, rolling_period INTEGER NOT NULL,
    report_type INTEGER NOT NULL, days_since_onset INTEGER, interval INTEGER NOT NULL,
    window REAL NOT NULL, rssi INTEGER NOT NULL, max_rssi INTEGER NOT NULL, count INTEGER NOT NULL,
    metadata BLOB NOT NULL, PRIMARY KEY (key_data, interval, window));
CREATE TABLE IF NOT EXISTS warnings(
    day INTEGER PRIMARY KEY, weighted_minutes REAL NOT NULL, warned REAL NOT NULL,
    withdrawn REAL, notified INTEGER NOT NULL DEFAULT 0);
CREATE TABLE IF NOT EXISTS uploads(
    id INTEGER PRIMARY KEY, created REAL NOT NULL, state TEXT NOT NULL, sealed BLOB NOT NULL);
"""


SCHEMA_VERSION = 2
"""1: one AEM per RPI per window (the first heard). 2: each AEM heard, with its own counts, so
that matching chooses the most frequent plausible metadata and a relay's garbage AEM sent first
cannot suppress a match."""


def _migrate_1_to_2(db: sqlite3.Connection) -> None:
    db.execute("ALTER TABLE sightings RENAME TO sightings_v1")
    db.execute("DROP INDEX IF EXISTS sightings_window")
    for statement in SCHEMA.split(";"):  # executescript would commit the migration's transaction
        if "sightings" in statement:
            db.execute(statement)
    db.execute(
        "INSERT INTO sightings SELECT rpi, window, aem, count, rssi_sum, max_rssi, min_rssi FROM sightings_v1"
    )
    db.execute("DROP TABLE sightings_v1")


MIGRATIONS = {1: _migrate_1_to_2}


class StoreError(BeaconError):
    """The state directory or its key cannot be used; the message says what to fix."""


@dataclass(frozen=True, slots=True)
class StoredTek:
    id: int
    tek: bytes
    rolling_start: int
    rolling_period: int
    released: float | None


class BeaconStore:
    def __init__(self, state_dir: Path, key_file: Path | None = None) -> None:
        self.state_dir = state_dir
        state_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        os.chmod(state_dir, 0o700)
        path = state_dir / "beacon.db"
        fresh = not path.exists()
        if fresh:
            path.touch(mode=0o600)
        self.path = path
        self.db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        try:
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute("PRAGMA synchronous=FULL")
            self._upgrade()
            for suffix in ("-wal", "-shm"):
                extra = Path(str(path) + suffix)
                if extra.exists():
                    os.chmod(extra, 0o600)
            # After the database: whether a key may be made depends on what is sealed in it.
            self._aead = AESGCM(self._load_or_create_key(key_file or state_dir / "tek.key"))
            self._check_key()
        except BaseException:
            self.db.close()
            raise

    def _upgrade(self) -> None:
        """Create the schema, or migrate a store written by older code, keeping its data."""
        existed = self.db.execute("SELECT 1 FROM sqlite_master WHERE name = 'teks'").fetchone() is not None
        self.db.executescript(SCHEMA)
        row = self.db.execute("SELECT v FROM meta WHERE k = 'schema_version'").fetchone()
        version = int(row[0]) if row else (1 if existed else SCHEMA_VERSION)
        if version > SCHEMA_VERSION:
            raise StoreError(
                f"{self.path} was written by a newer beacon (schema {version}, this one knows "
                f"{SCHEMA_VERSION}): upgrade bluezone"
            )
        with self.transaction() as db:
            while version < SCHEMA_VERSION:
                MIGRATIONS[version](db)
                version += 1
            db.execute("INSERT OR REPLACE INTO meta VALUES ('schema_version', ?)", (str(version),))

    def close(self) -> None:
        self.db.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        self.db.execute("BEGIN IMMEDIATE")
        try:
            yield self.db
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        self.db.execute("COMMIT")

    # ---- sealing ----------------------------------------------------------------------------

    def _seal(self, data: bytes, label: bytes) -> bytes:
        nonce = secrets.token_bytes(12)
        return nonce + self._aead.encrypt(nonce, data, label)

    def _open(self, sealed: bytes, label: bytes) -> bytes:
        try:
            return self._aead.decrypt(sealed[:12], sealed[12:], label)
        except InvalidTag:
            raise StoreError(
                "stored keys do not open with this key file: wrong or replaced key file"
            ) from None

    def _check_key(self) -> None:
        row = self.db.execute("SELECT v FROM meta WHERE k = 'key_check'").fetchone()
        if row is None:
            with self.transaction() as db:  # two processes starting together: one writes, both check
                db.execute(
                    "INSERT OR IGNORE INTO meta VALUES ('key_check', ?)", (self._seal(b"ok", b"check").hex(),)
                )
                row = db.execute("SELECT v FROM meta WHERE k = 'key_check'").fetchone()
        self._open(bytes.fromhex(row[0]), b"check")

    def _load_or_create_key(self, path: Path) -> bytes:
        key = _read_if_exists(path)
        if not key:  # missing, or empty after a kill
            key = self._create_key(path)
        if len(key) != KEY_BYTES:  # not what a kill leaves: someone's file, never overwritten
            todo = "restore the key file from a backup" if self._sealed_rows() else "delete it for a new key"
            raise StoreError(f"{path} must hold a {KEY_BYTES}-byte key; it holds {len(key)} bytes: {todo}")
        _remove_temp_files(path)
        return key

    def _sealed_rows(self) -> int:
        """TEKs and uploads: what only the key file opens."""
        sealed = self.db.execute("SELECT (SELECT count(*) FROM teks) + (SELECT count(*) FROM uploads)")
        return int(sealed.fetchone()[0])

    def _create_key(self, path: Path) -> bytes:
        """A first key, or a new one in place of an empty file (a kill between creating and
        writing it, before key files were written atomically): only while nothing is sealed in
        the store, since a new key opens nothing sealed with the old one."""
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        with self.transaction() as db:  # one process at a time from the check to the write
            existing = _read_if_exists(path)
            if existing:
                return existing  # another process made it meanwhile
            rows = self._sealed_rows()
            if rows:
                state = "is missing" if existing is None else "is empty"
                raise StoreError(
                    f"{path} {state} but {self.path} holds {rows} keys and uploads sealed with it: "
                    f"restore the key file from a backup, or move {self.state_dir} aside to start afresh"
                )
            db.execute("DELETE FROM meta WHERE k = 'key_check'")  # made with a key that is gone
            key = secrets.token_bytes(KEY_BYTES)
            if not _write_private(path, key, replace=existing is not None):
                return path.read_bytes()  # a store sharing this key file made it first
            return key

    # ---- TEKs ---------------------------------------------------------------------------------

    def add_tek(self, tek: bytes, rolling_start: int, rolling_period: int = TEK_ROLLING_PERIOD) -> StoredTek:
        with self.transaction() as db:
            cursor = db.execute(
                "INSERT INTO teks(rolling_start, rolling_period, sealed) VALUES (?, ?, ?)",
                (rolling_start, rolling_period, self._seal(tek, b"tek")),
            )
        assert cursor.lastrowid is not None
        return StoredTek(cursor.lastrowid, tek, rolling_start, rolling_period, None)

    def teks(self, since_interval: int = 0) -> list[StoredTek]:
        rows = self.db.execute(
            "SELECT id, sealed, rolling_start, rolling_period, released FROM teks "
            "WHERE rolling_start + rolling_period > ? ORDER BY rolling_start, id",
            (since_interval,),
        ).fetchall()
        return [
            StoredTek(i, self._open(sealed, b"tek"), start, period, released)
            for i, sealed, start, period, released in rows
        ]

    def current_tek(self, rolling_start: int) -> StoredTek | None:
        """The newest unreleased key of that day: the one on the air."""
        live = [
            t for t in self.teks(rolling_start) if t.rolling_start == rolling_start and t.released is None
        ]
        return live[-1] if live else None

    def tek_released(self, tek_id: int) -> bool:
        """Whether a key was released, by this process or another (``beacon report``)."""
        row = self.db.execute("SELECT released FROM teks WHERE id = ?", (tek_id,)).fetchone()
        return row is None or row[0] is not None

    def release_tek(self, tek_id: int, rolling_period: int, when: float) -> None:
        """Cut a key short (same-day release): it stops at ``rolling_period`` and leaves the air."""
        with self.transaction() as db:
            db.execute(
                "UPDATE teks SET rolling_period = ?, released = ? WHERE id = ?",
                (rolling_period, when, tek_id),
            )

    # ---- scans and sightings -----------------------------------------------------------------

    def record_window(self, start: float, sightings: Iterable[Sighting]) -> None:
        """One scan window and what it heard, aggregated per RPI and AEM, in one transaction."""
        with self.transaction() as db:
            db.execute("INSERT OR IGNORE INTO scans VALUES (?)", (start,))
            for s in sightings:
                db.execute(
                    "INSERT INTO sightings VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT(rpi, window, aem) "
                    "DO UPDATE SET count = count + excluded.count, rssi_sum = rssi_sum + excluded.rssi_sum, "
                    "max_rssi = max(max_rssi, excluded.max_rssi), "
                    "min_rssi = min(min_rssi, excluded.min_rssi)",
                    (
                        s.rpi,
                        start,
                        s.aem,
                        s.count,
                        s.rssi * s.count,
                        s.strongest_rssi,
                        s.weakest_rssi,
                    ),
                )

    def scan_times(self, since: float = 0.0) -> list[float]:
        return [
            row[0]
            for row in self.db.execute("SELECT start FROM scans WHERE start >= ? ORDER BY start", (since,))
        ]

    def sightings(self, since: float = 0.0) -> list[Sighting]:
        rows = self.db.execute(
            "SELECT rpi, aem, rssi_sum, count, window, max_rssi, min_rssi FROM sightings WHERE window >= ?",
            (since,),
        )
        return [
            Sighting(rpi, aem, round(total / count), window, max_rssi=top, count=count, min_rssi=low)
            for rpi, aem, total, count, window, top, low in rows
        ]

    def _set_meta(self, key: str, value: str) -> None:
        with self.db:
            self.db.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (key, value))

    def _meta(self, key: str) -> str | None:
        row = self.db.execute("SELECT v FROM meta WHERE k = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def record_sync(self, when: float) -> None:
        """When the last sync completed (the status health line reads it)."""
        self._set_meta("last_sync", repr(when))

    def last_sync(self) -> float | None:
        value = self._meta("last_sync")
        return None if value is None else float(value)

    def record_advertised_tx_power(self, dbm: int) -> None:
        """The TX power the metadata on the air claims (the status health line reads it)."""
        self._set_meta("advertised_tx_power", str(dbm))

    def advertised_tx_power(self) -> int | None:
        value = self._meta("advertised_tx_power")
        return None if value is None else int(value)

    def counts(self) -> dict[str, int]:
        tables = ("teks", "scans", "sightings", "files", "rejected", "matches", "warnings", "uploads")
        return {t: self.db.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in tables}

    # ---- exports, matches, warnings ------------------------------------------------------------

    def file_seen(self, *, sha256: str | None = None, name: str | None = None) -> bool:
        column, value = ("sha256", sha256) if sha256 is not None else ("name", name)
        return self.db.execute(f"SELECT 1 FROM files WHERE {column} = ?", (value,)).fetchone() is not None

    def record_file(
        self, sha256: str, name: str, when: float, matches: Iterable[Match], revised: Iterable[DiagnosisKey]
    ) -> None:
        """A processed file, its matches and its revised keys, all or nothing.

        A revised key that is REVOKED takes its matches away; another revision (likely →
        confirmed) relabels them.
        """
        with self.transaction() as db:
            for m in matches:
                k = m.key
                for s in _per_window(m.sightings):
                    db.execute(
                        "INSERT OR IGNORE INTO matches VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                        (
                            k.key_data, k.rolling_start_interval_number, k.rolling_period, k.report_type,
                            k.days_since_onset_of_symptoms, m.interval, s.timestamp, s.rssi, s.strongest_rssi,
                            s.count, m.metadata.to_bytes(),
                        ),
                    )  # fmt: skip
            for key in revised:
                if key.report_type == ReportType.REVOKED:
                    db.execute("DELETE FROM matches WHERE key_data = ?", (key.key_data,))
                else:
                    db.execute(
                        "UPDATE matches SET report_type = ?, days_since_onset = ? WHERE key_data = ?",
                        (key.report_type, key.days_since_onset_of_symptoms, key.key_data),
                    )
            db.execute("INSERT OR IGNORE INTO files VALUES (?, ?, ?)", (sha256, name, when))

    def record_rejected(self, sha256: str, name: str, reason: str, when: float, pinned: str) -> None:
        """A file that failed verification or parsing under the ``pinned`` keys (a digest of
        them): by its bytes' hash, never by name (a truncated download has another hash, so the
        whole file is still fetched and checked)."""
        with self.transaction() as db:
            db.execute(
                "INSERT OR REPLACE INTO rejected VALUES (?, ?, ?, ?, ?)",
                (sha256, name, reason[:REJECTED_REASON_CHARS], when, pinned),
            )

    def rejected_reason(self, sha256: str, pinned: str) -> str | None:
        """Why the file with this hash was rejected under the same pinned keys; None if it never
        was (pinning another key is a reason to look again)."""
        row = self.db.execute(
            "SELECT reason FROM rejected WHERE sha256 = ? AND pinned = ?", (sha256, pinned)
        ).fetchone()
        return None if row is None else str(row[0])

    def matches(self) -> list[Match]:
        grouped: dict[tuple[bytes, int], tuple[DiagnosisKey, Metadata, list[Sighting]]] = {}
        for row in self.db.execute("SELECT * FROM matches ORDER BY key_data, interval, window"):
            key_data, start, period, rtype, dsos, interval, window, rssi, top, count, meta = row
            entry = grouped.get((key_data, interval))
            if entry is None:
                key = DiagnosisKey(key_data, start, period, 0, rtype, dsos)
                entry = grouped[(key_data, interval)] = (key, Metadata.from_bytes(meta), [])
            entry[2].append(Sighting(b"", b"", rssi, window, max_rssi=top, count=count))
        return [Match(key, interval, tuple(s), meta) for (_, interval), (key, meta, s) in grouped.items()]

    def warnings(self) -> list[dict[str, Any]]:
        cols = ("day", "weighted_minutes", "warned", "withdrawn", "notified")
        return [
            dict(zip(cols, row, strict=True))
            for row in self.db.execute("SELECT * FROM warnings ORDER BY day")
        ]

    def set_warning(self, day: int, weighted_minutes: float, when: float) -> bool:
        """Record a close-contact day; True when it is new (or back after a withdrawal)."""
        with self.transaction() as db:
            row = db.execute("SELECT withdrawn FROM warnings WHERE day = ?", (day,)).fetchone()
            if row is None:
                db.execute("INSERT INTO warnings VALUES (?, ?, ?, NULL, 0)", (day, weighted_minutes, when))
                return True
            db.execute(
                "UPDATE warnings SET weighted_minutes = ?, withdrawn = NULL WHERE day = ?",
                (weighted_minutes, day),
            )
            return row[0] is not None

    def withdraw_warning(self, day: int, when: float) -> bool:
        with self.transaction() as db:
            done = db.execute(
                "UPDATE warnings SET withdrawn = ? WHERE day = ? AND withdrawn IS NULL", (when, day)
            )
            return done.rowcount == 1

    # ---- uploads -----------------------------------------------------------------------------

    def save_upload(self, upload_id: int | None, state: str, data: dict[str, Any], when: float) -> int:
        sealed = self._seal(json.dumps(data).encode(), b"upload")
        with self.transaction() as db:
            if upload_id is None:
                cursor = db.execute(
                    "INSERT INTO uploads(created, state, sealed) VALUES (?, ?, ?)", (when, state, sealed)
                )
                assert cursor.lastrowid is not None
                return cursor.lastrowid
            db.execute("UPDATE uploads SET state = ?, sealed = ? WHERE id = ?", (state, sealed, upload_id))
            return upload_id

    def uploads(self) -> list[tuple[int, float, str, dict[str, Any]]]:
        rows = self.db.execute("SELECT id, created, state, sealed FROM uploads ORDER BY id").fetchall()
        return [(i, created, state, json.loads(self._open(s, b"upload"))) for i, created, state, s in rows]

    # ---- retention ---------------------------------------------------------------------------

    def purge(self, now: float, days: int = RETENTION_DAYS) -> dict[str, int]:
        """Keep today and the ``days`` − 1 UTC days before it, whole; delete everything older:
        sightings, scans, keys, matches, files (processed and rejected), warnings, uploads.

        Whole days, so a day's warning and the matches behind it go together: a cut mid-day
        once left the warning with part of its matches, and re-assessment withdrew it."""
        cutoff = (int(now // _DAY) - days + 1) * _DAY
        oldest_interval = en_interval_number(cutoff)
        with self.transaction() as db:
            removed = {
                "sightings": db.execute("DELETE FROM sightings WHERE window < ?", (cutoff,)).rowcount,
                "scans": db.execute("DELETE FROM scans WHERE start < ?", (cutoff,)).rowcount,
                "teks": db.execute(
                    "DELETE FROM teks WHERE rolling_start + rolling_period <= ?", (oldest_interval,)
                ).rowcount,
                "matches": db.execute("DELETE FROM matches WHERE window < ?", (cutoff,)).rowcount,
                "files": db.execute("DELETE FROM files WHERE processed < ?", (cutoff,)).rowcount,
                "rejected": db.execute("DELETE FROM rejected WHERE rejected < ?", (cutoff,)).rowcount,
                "warnings": db.execute("DELETE FROM warnings WHERE day < ?", (int(cutoff // _DAY),)).rowcount,
                "uploads": db.execute("DELETE FROM uploads WHERE created < ?", (cutoff,)).rowcount,
            }
        return removed


def _per_window(sightings: Iterable[Sighting]) -> list[Sighting]:
    """A match's sightings merged per scan window: the AEMs heard there are one scan's reports."""
    merged: dict[float, Sighting] = {}
    for s in sightings:
        seen = merged.get(s.timestamp)
        if seen is None:
            merged[s.timestamp] = s
            continue
        count = seen.count + s.count
        merged[s.timestamp] = Sighting(
            seen.rpi,
            seen.aem,
            round((seen.rssi * seen.count + s.rssi * s.count) / count),
            s.timestamp,
            max_rssi=max(seen.strongest_rssi, s.strongest_rssi),
            count=count,
            min_rssi=min(seen.weakest_rssi, s.weakest_rssi),
        )
    return list(merged.values())


def _read_if_exists(path: Path) -> bytes | None:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        return None


def _write_private(path: Path, data: bytes, *, replace: bool = False) -> bool:
    """Write ``data`` to ``path`` (0600) all or nothing, so a kill at any moment leaves no file,
    the old one or the whole new one: a temp file in the same directory, fsynced, linked into
    place (``replace``: renamed over the old file), the directory fsynced. Without ``replace``,
    False when ``path`` already exists: a link, unlike a rename, never overwrites a key another
    process just made. (``tracer_server.secrets_store`` has its twin: the server may not import
    the beacon, and ``protocol`` does no I/O.)"""
    temp = path.with_name(f".{path.name}.tmp-{secrets.token_hex(8)}")
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        if replace:
            os.replace(temp, path)
        else:
            try:
                os.link(temp, path)
            except (FileExistsError, FileNotFoundError):  # made first; our temp file cleaned up by it
                return False
        _fsync_directory(path.parent)
        return True
    finally:
        temp.unlink(missing_ok=True)


def _fsync_directory(folder: Path) -> None:
    """Make a rename or link in ``folder`` survive a power cut."""
    if os.name != "posix":  # Windows opens no directory; NTFS journals the link itself
        return
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _remove_temp_files(path: Path) -> None:
    """Temp files a kill left beside ``path``; called once ``path`` holds its key, so any writer
    still running can only find the key already made."""
    for temp in path.parent.glob(f".{path.name}.tmp-*"):
        temp.unlink(missing_ok=True)
