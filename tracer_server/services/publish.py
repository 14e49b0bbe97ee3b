"""``POST /v1/publish``: check the certificate and the HMAC, validate every key, store.

Google's key server rules (``docs/tek_validation.md``; ``shared/spec/gaen.md`` §5.1–5.2):

* 1..30 keys, else the whole request fails; more than 3 keys with one start, or overlapping keys
  with different starts, fail it too;
* each key must read as 16 bytes, rolling period 1..144, transmission risk 0..8, or the request
  fails naming each bad key (the HMAC covers them all); a key that ended more than 15 days ago
  or starts in the future is dropped and named in ``warnings``;
* a still-valid key (today's, cut short or not) is embargoed: released only in the export
  window after it ends;
* report type comes from the certificate only: confirmed → CONFIRMED_TEST, likely →
  CONFIRMED_CLINICAL_DIAGNOSIS, user-report → SELF_REPORT; negative is a revocation and stores
  nothing new;
* a key published before is revised only with the revision token of its upload, once, and only
  likely → confirmed, likely → revoked or self-report → revoked; the revised key is listed again
  in ``revised_keys`` of the next export (``services/revision.py``);
* transmission risk 0 is backfilled from the report type (2, 4, 5; 6 for negative);
* days since onset = key's UTC day − onset's UTC day, the onset being the request's
  ``symptomOnsetInterval`` when plausible (in the last 28 days), else the certificate's symptom
  onset, else its test date, else 4 days ago; a key more than 14 days from onset is dropped
  with a warning.
"""

from __future__ import annotations

import base64
import binascii
import itertools
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from protocol.errors import KeyMaterialError
from protocol.export import ReportType
from protocol.keys import EN_INTERVAL_SECONDS, TEK_ROLLING_PERIOD, en_interval_number
from protocol.publish import UploadKey, tek_hmac
from tracer_server.db import as_utc, insert_new, insert_or_ignore
from tracer_server.errors import CertificateInvalid, KeysRejected
from tracer_server.models import ExportBatch, Exposure, UsedCertificate
from tracer_server.secrets_store import ServerKeys
from tracer_server.services.certificates import Authority, verify_certificate
from tracer_server.services.revision import ALLOWED_TRANSITIONS, open_token, seal_token
from tracer_server.settings import Settings

__all__ = ["REPORT_TYPES", "PublishOutcome", "publish_keys", "store_keys"]

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
    body: dict[str, Any],
    now: datetime,
) -> PublishOutcome:
    """Validate and store one publish request (already parsed as JSON into ``body``)."""
    items = body.get("temporaryExposureKeys")
    if not isinstance(items, list) or not 1 <= len(items) <= settings.max_keys_per_publish:
        raise KeysRejected(f"temporaryExposureKeys must hold 1..{settings.max_keys_per_publish} keys")
    claims = verify_certificate(
        known=known,
        health_authority_id=str(body.get("healthAuthorityID") or settings.health_authority_id),
        certificate=str(body.get("verificationPayload") or ""),
        now=now,
    )
    parsed: list[tuple[int, UploadKey]] = []
    warnings: list[str] = []
    for index, item in enumerate(items):
        try:
            parsed.append((index, UploadKey.from_json(item)))
        except KeyMaterialError as exc:
            warnings.append(f"key {index}: {exc}")
    if warnings:  # the HMAC covers every key as uploaded: with one unreadable it cannot be checked
        raise KeysRejected(f"{len(warnings)} of {len(items)} keys could not be read", details=warnings)
    _check_hmac(body.get("hmacKey"), [key for _, key in parsed], claims.tekmac)

    report_type = REPORT_TYPES[claims.report_type]
    onset = _onset_interval(
        body.get("symptomOnsetInterval"), claims.symptom_onset_interval, claims.test_date_interval, now
    )
    # A certificate publishes once, across every server process sharing the database.
    if not insert_or_ignore(db, UsedCertificate, {"jti": claims.jti, "expires_at": claims.expires_at}):
        raise CertificateInvalid("this certificate has already been used")
    return store_keys(
        db=db,
        keys=keys,
        settings=settings,
        parsed=parsed,
        report_type=report_type,
        onset=onset,
        authority=str(body.get("healthAuthorityID") or settings.health_authority_id),
        traveler=bool(body.get("traveler", False)),
        token_text=str(body.get("revisionToken") or ""),
        now=now,
    )


def store_keys(
    *,
    db: Session,
    keys: ServerKeys,
    settings: Settings,
    parsed: list[tuple[int, UploadKey]],
    report_type: ReportType,
    onset: int,
    authority: str,
    now: datetime,
    traveler: bool = False,
    token_text: str = "",
) -> PublishOutcome:
    """The validation and storage every upload shares, from a device or an official's console:
    age and future checks, overlaps, onset, revisions, embargo, one insert."""
    warnings: list[str] = []
    now_interval = en_interval_number(now.timestamp())
    oldest = en_interval_number((now - timedelta(days=settings.max_key_age_days)).timestamp())
    valid: list[tuple[int, UploadKey]] = []
    for index, key in parsed:
        if key.rolling_start_number > now_interval:
            warnings.append(f"key {index}: interval number {key.rolling_start_number} is in the future")
        elif key.rolling_start_number + key.rolling_period < oldest:
            warnings.append(f"key {index}: it ended more than {settings.max_key_age_days} days ago")
        else:
            valid.append((index, key))
    _check_overlaps([key for _, key in valid], settings.max_same_start_keys)
    covered = open_token(keys.revision_key, token_text) if token_text else set()

    # Never into a window already exported (``--close-window`` closes the current hour early).
    exported_until = db.scalar(select(func.max(ExportBatch.end)))
    floor = as_utc(exported_until) if exported_until is not None else None
    candidates: list[tuple[int, UploadKey, int]] = []
    seen: set[bytes] = set()
    for index, key in valid:
        if key.key_data in seen:
            warnings.append(f"key {index}: the same key is listed twice")
            continue
        seen.add(key.key_data)
        days = key.rolling_start_number // TEK_ROLLING_PERIOD - onset // TEK_ROLLING_PERIOD
        if abs(days) > _MAX_DAYS_FROM_ONSET:
            warnings.append(f"key {index}: {days} days from symptom onset, outside -14..14")
            continue
        candidates.append((index, key, days))

    # Only a revision or a revocation reads the keys published before; a first upload inserts
    # and learns from the insert which of its keys were already there.
    revising = bool(token_text) or report_type == ReportType.REVOKED
    existing = _published(db, [key.key_data for _, key, _ in candidates]) if revising else {}
    rows, revised, offered = [], 0, {}
    for index, key, days in candidates:
        old = existing.get(key.key_data)
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
        if report_type == ReportType.REVOKED:  # GENS: an initial negative is accepted, stores nothing
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


def _check_hmac(hmac_key: object, keys: list[UploadKey], tekmac: bytes) -> None:
    if not isinstance(hmac_key, str):
        raise CertificateInvalid("hmacKey is missing")
    try:
        secret = base64.b64decode(hmac_key, validate=True)
    except (binascii.Error, ValueError):
        raise CertificateInvalid("hmacKey is not valid base64") from None
    if len(secret) < 16:
        raise CertificateInvalid("hmacKey must be at least 128 bits")
    candidates = {tek_hmac(secret, keys)}
    if all(key.transmission_risk == 0 for key in keys):
        candidates.add(tek_hmac(secret, keys, include_risk=False))
    if tekmac not in candidates:
        raise CertificateInvalid("the keys do not match the certificate's HMAC")


def _check_overlaps(keys: list[UploadKey], max_same_start: int) -> None:
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


def _onset_interval(requested: object, symptom: int | None, test: int | None, now: datetime) -> int:
    now_interval = en_interval_number(now.timestamp())
    oldest = now_interval - _MAX_ONSET_REPORT_DAYS * TEK_ROLLING_PERIOD
    if isinstance(requested, int) and not isinstance(requested, bool) and oldest <= requested <= now_interval:
        return requested
    for value in (symptom, test):
        if value is not None:
            return value
    return now_interval - _DEFAULT_ONSET_DAYS_AGO * TEK_ROLLING_PERIOD
