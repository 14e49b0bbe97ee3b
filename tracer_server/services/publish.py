"""``POST /v1/publish``: the keys as Google's key server takes them, in named steps.

``publish_keys`` runs, in Google's order (``internal/publish``, ``model.TransformPublish``):

1. :func:`read_keys`: each key on its own. Base64 in any of the four alphabets Google's
   ``base64util`` reads (standard or URL-safe, padded or not) to 16 bytes, rolling period
   1..144, transmission risk 0..8, and :func:`screen_times`: a key valid at no moment of the last
   15 days (``start + period <= oldest``) or starting in the future is dropped. A bad key is named
   in ``warnings`` and the others go on (``partial_failure``); only when none is left does the
   request fail (400 ``bad_request``). 1..30 keys, else the whole request fails.
2. :func:`check_overlaps`: more than 3 keys with one start, or overlapping keys with different
   starts, fail the whole request.
3. The certificate, and its HMAC over the keys *as uploaded* (Google's strings: the base64
   text as sent, ``.start.period.risk``, sorted), every key counted, the dropped ones too.
4. :func:`onset_interval`: the request's ``symptomOnsetInterval`` when plausible (before the
   current interval, not before UTC midnight 28 days ago), else the certificate's symptom
   onset, then its test date, by the same test; else 4 days ago.
5. :func:`date_keys`: days since onset per key; a key more than 14 days from onset is dropped
   with a warning, and a request left with none stores nothing and still succeeds (200, as
   Google answers).
6. :func:`store_keys`: duplicates, revisions (``services/revision.py``), the embargo of a
   still-valid key (released in the export window after it ends), transmission risk 0
   backfilled from the report type (2, 4, 5; 6 for negative), one insert.

Report type comes from the certificate only: confirmed → CONFIRMED_TEST, likely →
CONFIRMED_CLINICAL_DIAGNOSIS, user-report → SELF_REPORT; negative revokes and stores nothing new.
The console's upload for a case (:func:`accept_keys`) runs steps 1, 2, 5 and 6 on a key file.
Where we differ from Google, and why: ``docs/server.md``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import itertools
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from protocol.errors import KeyMaterialError
from protocol.export import ReportType
from protocol.keys import EN_INTERVAL_SECONDS, TEK_ROLLING_PERIOD, en_interval_number
from protocol.publish import UploadKey, canonical_text
from tracer_server.db import as_utc, insert_new, insert_or_ignore
from tracer_server.errors import CertificateInvalid, KeysRejected, UnknownHealthAuthority
from tracer_server.models import ExportBatch, Exposure, UsedCertificate
from tracer_server.schemas import ExposureKeyItem, PublishRequest
from tracer_server.secrets_store import ServerKeys
from tracer_server.services.certificates import Authority, verify_certificate
from tracer_server.services.revision import ALLOWED_TRANSITIONS, open_token, seal_token
from tracer_server.settings import Settings

__all__ = [
    "REPORT_TYPES",
    "PublishOutcome",
    "accept_keys",
    "check_overlaps",
    "date_keys",
    "decode_key",
    "onset_interval",
    "publish_keys",
    "read_keys",
    "screen_times",
    "store_keys",
]

REPORT_TYPES = {
    "confirmed": ReportType.CONFIRMED_TEST,
    "likely": ReportType.CONFIRMED_CLINICAL_DIAGNOSIS,
    "user-report": ReportType.SELF_REPORT,
    "negative": ReportType.REVOKED,
}
_BACKFILL_RISK = {
    ReportType.CONFIRMED_TEST: 2,
    ReportType.CONFIRMED_CLINICAL_DIAGNOSIS: 4,
    ReportType.SELF_REPORT: 5,
    ReportType.REVOKED: 6,
}
_DEFAULT_ONSET_DAYS_AGO = 4
_MAX_ONSET_REPORT_DAYS = 28
_MAX_DAYS_FROM_ONSET = 14
_ALREADY_PUBLISHED = "already published; changing it needs the revisionToken of its first upload"

Indexed = list[tuple[int, UploadKey]]
"""Keys with their position in the request, so that warnings name them."""


@dataclass
class PublishOutcome:
    inserted: int
    warnings: list[str] = field(default_factory=list)
    revision_token: str = ""
    revised: int = 0

    @property
    def partial(self) -> bool:
        return bool(self.warnings)


def _hour(moment: datetime) -> datetime:
    return moment.replace(minute=0, second=0, microsecond=0)


def publish_keys(
    *,
    db: Session,
    keys: ServerKeys,
    settings: Settings,
    known: dict[str, Authority],
    body: PublishRequest,
    now: datetime,
) -> PublishOutcome:
    """Validate and store one publish request (already read strictly into ``body``)."""
    if body.healthAuthorityID not in known:  # missing or unknown: Google answers 401 to both
        raise UnknownHealthAuthority("healthAuthorityID is missing or unknown")
    items = body.temporaryExposureKeys
    if not 1 <= len(items) <= settings.max_keys_per_publish:
        raise KeysRejected(f"temporaryExposureKeys must hold 1..{settings.max_keys_per_publish} keys")
    parsed, warnings = read_keys(items)
    parsed = _valid_in_time(parsed, len(items), now, settings, warnings)

    claims = verify_certificate(
        known=known, health_authority_id=body.healthAuthorityID, certificate=body.verificationPayload, now=now
    )
    _check_hmac(body.hmacKey, items, claims.tekmac)
    onset = onset_interval(
        body.symptomOnsetInterval, (claims.symptom_onset_interval, claims.test_date_interval), now
    )
    # A certificate publishes once, across every server process sharing the database.
    if not insert_or_ignore(db, UsedCertificate, {"jti": claims.jti, "expires_at": claims.expires_at}):
        raise CertificateInvalid("this certificate has already been used")
    dated, far = date_keys(parsed, onset)
    warnings += far
    report_type = REPORT_TYPES[claims.report_type]
    if not dated and report_type != ReportType.REVOKED:
        return PublishOutcome(0, warnings, body.revisionToken)  # Google: 200, nothing inserted
    return store_keys(
        db=db, keys=keys, dated=dated, report_type=report_type, authority=body.healthAuthorityID,
        traveler=body.traveler, token_text=body.revisionToken, warnings=warnings, now=now,
    )  # fmt: skip


def accept_keys(
    *,
    db: Session,
    keys: ServerKeys,
    settings: Settings,
    parsed: Indexed,
    report_type: ReportType,
    onset: int,
    authority: str,
    now: datetime,
) -> PublishOutcome:
    """Keys an official uploads for a case from its key file: steps 1, 2, 5 and 6."""
    warnings: list[str] = []
    kept = _valid_in_time(parsed, len(parsed), now, settings, warnings)
    dated, far = date_keys(kept, onset)
    if not dated:
        raise KeysRejected("no key is within 14 days of the onset", details=warnings + far)
    return store_keys(
        db=db, keys=keys, dated=dated, report_type=report_type, authority=authority,
        warnings=warnings + far, now=now,
    )  # fmt: skip


def _valid_in_time(
    parsed: Indexed, total: int, now: datetime, settings: Settings, warnings: list[str]
) -> Indexed:
    """Steps 1 (in time) and 2, shared by both uploads: ``warnings`` grows with what is dropped;
    none left, or a bad overlap, fails the request."""
    kept, dropped = screen_times(parsed, now, settings.max_key_age_days)
    warnings += dropped
    if not kept:
        raise KeysRejected(f"none of the {total} keys is valid", details=warnings)
    check_overlaps([key for _, key in kept], settings.max_same_start_keys)
    return kept


def decode_key(text: str) -> bytes:
    """Base64 in the four encodings Google's ``base64util.DecodeString`` tries: standard and
    URL-safe alphabets, padded or not; never a mix of alphabets, never broken padding."""
    if "=" in text.rstrip("=") or ("=" in text and len(text) % 4):
        raise KeyMaterialError("'key' is not base64")
    padded = text + "=" * (-len(text) % 4)
    for altchars, foreign in ((b"+/", "-_"), (b"-_", "+/")):
        if any(c in text for c in foreign):
            continue
        try:
            return base64.b64decode(padded, altchars=altchars, validate=True)
        except (binascii.Error, ValueError):
            continue
    raise KeyMaterialError("'key' is not base64")


def read_keys(items: Sequence[ExposureKeyItem]) -> tuple[Indexed, list[str]]:
    """Step 1: each key read on its own; the unreadable ones named, not fatal."""
    parsed: Indexed = []
    warnings: list[str] = []
    for index, item in enumerate(items):
        try:
            key = UploadKey(
                decode_key(item.key), item.rollingStartNumber, item.rollingPeriod, item.transmissionRisk
            )
        except KeyMaterialError as exc:
            warnings.append(f"key {index}: {exc}")
            continue
        parsed.append((index, key))
    return parsed, warnings


def screen_times(parsed: Indexed, now: datetime, max_age_days: int) -> tuple[Indexed, list[str]]:
    """Step 1, in time: valid at some moment of the last ``max_age_days`` days, and begun."""
    now_interval = en_interval_number(now.timestamp())
    oldest = en_interval_number((now - timedelta(days=max_age_days)).timestamp())
    kept: Indexed = []
    warnings: list[str] = []
    for index, key in parsed:
        if key.rolling_start_number > now_interval:
            warnings.append(f"key {index}: interval number {key.rolling_start_number} is in the future")
        elif key.rolling_start_number + key.rolling_period <= oldest:
            warnings.append(f"key {index}: it ended more than {max_age_days} days ago")
        else:
            kept.append((index, key))
    return kept, warnings


def onset_interval(requested: int | None, certificate: Sequence[int | None], now: datetime) -> int:
    """Step 4: the first plausible of the request's onset and the certificate's (symptom onset,
    then test date): before the current interval and not before UTC midnight 28 days ago."""
    now_interval = en_interval_number(now.timestamp())
    oldest = (now_interval // TEK_ROLLING_PERIOD - _MAX_ONSET_REPORT_DAYS) * TEK_ROLLING_PERIOD
    for value in (requested, *certificate):
        if value is not None and oldest <= value < now_interval:
            return value
    return now_interval - _DEFAULT_ONSET_DAYS_AGO * TEK_ROLLING_PERIOD


def date_keys(parsed: Indexed, onset: int) -> tuple[list[tuple[int, UploadKey, int]], list[str]]:
    """Step 5: days since onset (UTC days); more than 14 from it, the key is dropped."""
    dated: list[tuple[int, UploadKey, int]] = []
    warnings: list[str] = []
    for index, key in parsed:
        days = key.rolling_start_number // TEK_ROLLING_PERIOD - onset // TEK_ROLLING_PERIOD
        if abs(days) > _MAX_DAYS_FROM_ONSET:
            warnings.append(f"key {index}: {days} days from symptom onset, outside -14..14")
        else:
            dated.append((index, key, days))
    return dated, warnings


def store_keys(
    *,
    db: Session,
    keys: ServerKeys,
    dated: list[tuple[int, UploadKey, int]],
    report_type: ReportType,
    authority: str,
    now: datetime,
    warnings: list[str],
    traveler: bool = False,
    token_text: str = "",
) -> PublishOutcome:
    """Step 6: duplicates, revisions, embargo, one insert; ``warnings`` grows with what it drops."""
    covered = open_token(keys.revision_key, token_text) if token_text else set()
    # Never into a window already exported (``--close-window`` closes the current hour early).
    exported_until = db.scalar(select(func.max(ExportBatch.end)))
    floor = as_utc(exported_until) if exported_until is not None else None
    candidates: list[tuple[int, UploadKey, int]] = []
    seen: set[bytes] = set()
    for index, key, days in dated:
        if key.key_data in seen:
            warnings.append(f"key {index}: the same key is listed twice")
            continue
        seen.add(key.key_data)
        candidates.append((index, key, days))

    # Only a revision or a revocation reads the keys published before; a first upload inserts
    # and learns from the insert which of its keys were already there.
    revising = bool(token_text) or report_type == ReportType.REVOKED
    existing = _published(db, [key.key_data for _, key, _ in candidates]) if revising else {}
    rows, revised, unchanged, offered = [], 0, 0, {}
    for index, key, days in candidates:
        old = existing.get(key.key_data)
        if old is not None and bool(token_text) and report_type in (old.report_type, old.revised_report_type):
            unchanged += 1  # Google's "no change": published again as it stands, no error
            continue
        if old is not None:
            problem = _revise(old, key.key_data in covered, bool(token_text), report_type, days, now)
            if problem:
                warnings.append(f"key {index}: {problem}")
            else:
                revised += 1
            continue
        if report_type == ReportType.REVOKED:
            warnings.append(
                f"key {index}: a negative test revokes published keys; this one was never published"
            )
            continue
        offered[key.key_data] = index
        rows.append(_row(key, days, report_type, authority, traveler, floor, now))
    # One INSERT per request, compiled once and cached; keys already published are skipped.
    inserted = insert_new(db, Exposure, rows)
    for key_data, index in offered.items():
        if key_data not in inserted:
            warnings.append(f"key {index}: {_ALREADY_PUBLISHED}")
    if not inserted and not revised:
        if report_type == ReportType.REVOKED or unchanged:  # Google: accepted, nothing stored
            return PublishOutcome(0, warnings, token_text)
        raise KeysRejected("no key could be stored or revised", details=warnings)
    token = seal_token(keys.revision_key, sorted(covered | inserted))
    return PublishOutcome(len(inserted), warnings, token, revised)


def _published(db: Session, key_data: list[bytes]) -> dict[bytes, Exposure]:
    """The stored rows of those of these keys that were published before."""
    if not key_data:
        return {}
    return {row.key_data: row for row in db.scalars(select(Exposure).where(Exposure.key_data.in_(key_data)))}


def _row(
    key: UploadKey,
    days: int,
    report_type: ReportType,
    authority: str,
    traveler: bool,
    floor: datetime | None,
    now: datetime,
) -> dict[str, Any]:
    end = datetime.fromtimestamp((key.rolling_start_number + key.rolling_period) * EN_INTERVAL_SECONDS, UTC)
    # Embargo: a key still valid now is released in the window after it ends (GENS).
    created = _hour(end) + timedelta(hours=1) if end > now else _hour(now)
    if floor is not None and created < floor:
        created = floor
    return {
        "key_data": key.key_data,
        "rolling_start": key.rolling_start_number,
        "rolling_period": key.rolling_period,
        "transmission_risk": key.transmission_risk or _BACKFILL_RISK[report_type],
        "report_type": int(report_type),
        "days_since_onset": days,
        "health_authority": authority,
        "traveler": traveler,
        "created_at": created,
    }


def _revise(
    old: Exposure, covered: bool, has_token: bool, new_type: int, days: int, now: datetime
) -> str | None:
    """Apply one revision to a published key, or say why not."""
    if not has_token:
        return _ALREADY_PUBLISHED
    if not covered:
        return "not covered by this revisionToken"
    if old.revised_at is not None:
        return "key_already_revised: a key is revised once"
    if (old.report_type, new_type) not in ALLOWED_TRANSITIONS:
        names = {int(t): t.name for t in ReportType}
        return f"invalid_report_type_transition: {names[old.report_type]} to {names[new_type]} is not allowed"
    old.revised_report_type = int(new_type)
    old.revised_days_since_onset = days
    old.revised_at = _hour(now)
    return None


def _check_hmac(hmac_key: str, items: Sequence[ExposureKeyItem], tekmac: bytes) -> None:
    """The certificate's HMAC over the keys as uploaded, every one of them: Google's strings
    (``key.start.period.risk``, the base64 text as sent, sorted), without the risk segment too
    when every risk is 0 (newer clients omit it)."""
    try:
        secret = base64.b64decode(hmac_key, validate=True)
    except (binascii.Error, ValueError):
        raise CertificateInvalid("hmacKey is not valid base64") from None
    if len(secret) < 16:
        raise CertificateInvalid("hmacKey must be at least 128 bits")
    entries = [(i.key, i.rollingStartNumber, i.rollingPeriod, i.transmissionRisk) for i in items]
    forms = [True] + ([False] if all(item.transmissionRisk == 0 for item in items) else [])
    for with_risk in forms:
        message = canonical_text(entries, include_risk=with_risk).encode("utf-8")
        if hmac.compare_digest(hmac.digest(secret, message, hashlib.sha256), tekmac):
            return
    raise CertificateInvalid("the keys do not match the certificate's HMAC")


def check_overlaps(keys: list[UploadKey], max_same_start: int) -> None:
    """Step 2: at most ``max_same_start`` keys per start; overlapping keys share their start."""
    by_start: dict[int, int] = {}
    for key in keys:
        by_start[key.rolling_start_number] = by_start.get(key.rolling_start_number, 0) + 1
    crowded = [start for start, count in by_start.items() if count > max_same_start]
    if crowded:
        raise KeysRejected(f"more than {max_same_start} keys start at interval {crowded[0]}")
    spans = sorted((k.rolling_start_number, k.rolling_start_number + k.rolling_period) for k in keys)
    for (start_a, end_a), (start_b, _) in itertools.pairwise(spans):
        if start_b < end_a and start_b != start_a:
            raise KeysRejected(f"keys starting at {start_a} and {start_b} overlap without sharing a start")
