"""Sync: follow the server's ``index.txt``, verify each new file with pinned keys, match, score, warn.

* File names come from the index only: never parsed, never guessed; each new one is fetched,
  hashed (a file seen under any name is processed once) and verified with the export keys
  pinned in the beacon's settings (distributed out of band, never fetched from the server
  being verified; any pinned key may verify, so keys can rotate).
* A file that fails verification or parsing is remembered by its hash with a short reason:
  the next syncs skip it unverified and report it as rejected earlier, so a hostile file costs
  its verification once (once per set of pinned keys: a newly pinned key may verify it). A
  transient failure (network, truncated body) is a ``SyncError`` and is not remembered; a name
  is never remembered as rejected, so junk served once under a real name cannot hide the real
  file (the price: a rejected file is downloaded again, up to ``MAX_FILE_BYTES``, not verified).
* Keys stream into :func:`protocol.matching.match`; matches are stored; the risk is recomputed
  over every stored match, so keys of one case spread over several files add up.
* A revised key that is revoked removes its matches; a warning whose day no longer qualifies
  is withdrawn and the user told.
* Plain HTTP is refused except on loopback.
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from urllib.parse import urljoin

from beacon import http
from beacon.errors import BeaconError
from beacon.store import REJECTED_REASON_CHARS, BeaconStore
from beacon.warn import Notice, Notifier
from protocol.errors import ExportError
from protocol.export import ExportReader, VerificationKey, open_export
from protocol.matching import match
from protocol.risk import DEFAULT_RISK_CONFIG, Assessment, RiskConfig, RiskLevel, assess, exposure_windows

__all__ = ["Fetch", "OpenExport", "SyncError", "SyncReport", "Syncer", "check_server_url", "http_get"]

log = logging.getLogger("beacon.sync")

Fetch = Callable[[str], Awaitable[bytes]]
OpenExport = Callable[[bytes, Sequence[VerificationKey]], ExportReader]
MAX_INDEX_BYTES = 1 << 20
# Names are never parsed for meaning, but they must stay file names inside the exports folder:
# no scheme (``file:``, ``data:``), no escapes, no path.
_PLAIN_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}")
MAX_FILE_BYTES = 64 << 20


class SyncError(BeaconError):
    """The server could not be reached or answered something unusable; nothing was changed."""


def check_server_url(url: str) -> str:
    """``https://`` anywhere, ``http://`` only on loopback (``beacon.http``); with a trailing slash."""
    try:
        return http.check_server_url(url)
    except http.HttpError as exc:
        raise SyncError(str(exc)) from None


async def http_get(url: str, limit: int = MAX_FILE_BYTES) -> bytes:
    try:
        return await http.get(url, limit)
    except http.HttpError as exc:
        raise SyncError(str(exc)) from None


@dataclass
class SyncReport:
    files: int = 0
    keys: int = 0
    matches: int = 0
    rejected: list[str] = field(default_factory=list)
    """``name: reason`` for each file rejected by this sync."""
    rejected_earlier: list[str] = field(default_factory=list)
    """Names of files skipped unverified: their bytes were rejected by an earlier sync."""
    warnings: list[Notice] = field(default_factory=list)


class Syncer:
    def __init__(
        self,
        store: BeaconStore,
        *,
        server_url: str,
        pinned_keys: Sequence[VerificationKey],
        notifier: Notifier,
        risk: RiskConfig = DEFAULT_RISK_CONFIG,
        rssi_correction_db: float = 0.0,
        fetch: Fetch = http_get,
        exports_url: str = "",
        open_file: OpenExport = open_export,
    ) -> None:
        """``exports_url`` is where the export files are (a CDN or the bucket the server writes);
        default ``<server_url>v1/exports/``, the server itself. ``open_file`` verifies a file."""
        if not pinned_keys:
            raise SyncError("no export verification key is pinned: add one to the beacon's settings")
        self.store, self.notifier, self.risk, self.fetch = store, notifier, risk, fetch
        self.open_file = open_file
        self.rssi_correction_db = rssi_correction_db
        base = exports_url or urljoin(check_server_url(server_url), "v1/exports/")
        self.exports_url = check_server_url(base if base.endswith("/") else base + "/")
        self.pinned = list(pinned_keys)
        self.pinned_digest = _pinned_digest(self.pinned)

    async def sync(self, now: float) -> SyncReport:
        report = SyncReport()
        index_blob = await self.fetch(urljoin(self.exports_url, "index.txt"))
        if len(index_blob) > MAX_INDEX_BYTES:
            raise SyncError(f"index.txt is over {MAX_INDEX_BYTES} bytes: not a real index")
        index = index_blob.decode("ascii", "replace")
        names = [line.strip() for line in index.splitlines() if line.strip()]
        sightings = None
        for name in names:
            url = urljoin(self.exports_url, name)
            if not _PLAIN_NAME.fullmatch(name) or not url.startswith(self.exports_url):
                report.rejected.append(f"{name[:40]!r}: not a plain file name")
                continue
            if self.store.file_seen(name=name):
                continue
            blob = await self.fetch(url)
            digest = hashlib.sha256(blob).hexdigest()
            if self.store.file_seen(sha256=digest):
                continue
            if self.store.rejected_reason(digest, self.pinned_digest) is not None:
                report.rejected_earlier.append(name)
                continue
            try:
                reader = self.open_file(blob, self.pinned)
                if sightings is None:
                    sightings = self.store.sightings()
                found = match(reader.keys(), sightings)
                revised = list(reader.revised_keys())
            except ExportError as exc:
                reason = _short_reason(exc)
                self.store.record_rejected(digest, name, reason, now, self.pinned_digest)
                report.rejected.append(f"{name}: {reason}")
                log.error("export file %s rejected: %s", name, reason)
                continue
            self.store.record_file(digest, name, now, found, revised)
            report.files += 1
            report.keys += reader.key_count
            report.matches += len(found)
        report.warnings = await self.reassess(now)
        self.store.record_sync(now)
        return report

    async def reassess(self, now: float) -> list[Notice]:
        """Recompute the risk over every stored match; warn on new days, withdraw lost ones."""
        assessment = assess_store(self.store, self.risk, now, self.rssi_correction_db)
        close = {
            d.day: d for d in assessment.days if d.level == RiskLevel.HIGH
        }  # LOW days: shown, not warned
        notices = []
        for day, risk in sorted(close.items()):
            if self.store.set_warning(day, risk.normalized_minutes, now):
                notices.append(Notice(day, risk.normalized_minutes))
        for warning in self.store.warnings():
            lost = warning["withdrawn"] is None and warning["day"] not in close
            if lost and self.store.withdraw_warning(warning["day"], now):
                notices.append(Notice(warning["day"], warning["weighted_minutes"], withdrawn=True))
        for notice in notices:
            await self.notifier.notify(notice)
        return notices


def _pinned_digest(keys: Sequence[VerificationKey]) -> str:
    """Which keys a rejection was judged under: a file rejected before a key was pinned is
    checked again after (an export key rotation reaching the beacon late)."""
    names = sorted(f"{k.key_id}\0{k.key_version}\0{k.fingerprint()}" for k in keys)
    return hashlib.sha256("\n".join(names).encode()).hexdigest()


def _short_reason(exc: ExportError) -> str:
    """One line, at most ``REJECTED_REASON_CHARS``: a hostile file's message can be megabytes."""
    text = " ".join(str(exc).split())
    return text if len(text) <= REJECTED_REASON_CHARS else text[: REJECTED_REASON_CHARS - 1] + "…"


def assess_store(
    store: BeaconStore, risk: RiskConfig, now: float, rssi_correction_db: float = 0.0
) -> Assessment:
    """The risk over every match the beacon holds (``protocol.risk.assess``), with this
    receiver's RSSI correction (``protocol.calibration``)."""
    windows = exposure_windows(
        store.matches(), risk.mapping, scan_times=store.scan_times(), rssi_correction_db=rssi_correction_db
    )
    return assess(windows, risk, today=int(now // 86_400))
