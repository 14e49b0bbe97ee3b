"""Reporting a positive test: verify the code, show the keys, ask, then certificate and publish.

Only the device's own TEKs leave it, never its sightings: from two days before symptom onset
(else before the test date) through today, at most 14, today's cut short (DESIGN.md "Same-day
keys"). The code is redeemed first because the test's dates decide which keys go; nothing is
uploaded before the user agrees. Every step's state is sealed in the store, so a failure (no
network, server down) keeps the token, the keys and the HMAC secret for a retry.
"""

from __future__ import annotations

import base64
import json
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime
from enum import StrEnum
from typing import Any
from urllib.parse import parse_qs, urljoin, urlsplit

from beacon import http
from beacon.errors import BeaconError
from beacon.schedule import KeySchedule
from beacon.store import BeaconStore
from beacon.sync import check_server_url
from protocol.keys import TEK_ROLLING_PERIOD, en_interval_number, rolling_start
from protocol.publish import UploadKey, tek_hmac

__all__ = [
    "Consent",
    "PostJson",
    "ReportError",
    "Reporter",
    "Upload",
    "UploadState",
    "http_post_json",
    "parse_code",
]

MAX_KEYS = 14
DAYS_BEFORE_ONSET = 2
ACCEPT = ["confirmed", "likely", "user-report"]

PostJson = Callable[[str, dict[str, Any]], Awaitable[dict[str, Any]]]
Consent = Callable[[list[UploadKey], dict[str, Any]], bool]


class ReportError(BeaconError):
    """The report could not go through; the message says why. Nothing is lost: retry later."""


def parse_code(text: str) -> str:
    """The 8-digit code, the long code, or the link form ``https://<host>/v?c=CODE&r=VN``."""
    text = text.strip()
    if "://" in text:
        query = parse_qs(urlsplit(text).query)
        codes = query.get("c")
        if not codes:
            raise ReportError("the link has no code (expected …/v?c=CODE&r=VN)")
        text = codes[0]
    code = "".join(ch for ch in text if ch not in " -").upper()
    if not code.isalnum() or not 6 <= len(code) <= 32:
        raise ReportError("a code is 8 digits or 16 letters and digits")
    return code


# What the case should do about a code the server will not redeem, in our words: the server's
# text is for developers and may change; its GAEN errorCode is the contract.
_CODE_REFUSALS = {
    "code_expired": "this code has expired: ask the health official for a new one",
    "code_revoked": "this code was revoked: ask the health official for a new one",
    "code_not_found": "the server does not know this code: check it, or ask the health official for a new one",
}


async def http_post_json(url: str, body: dict[str, Any]) -> dict[str, Any]:
    try:
        answer = await http.post(url, json.dumps(body).encode(), {"Content-Type": "application/json"})
    except http.HttpError as exc:
        if exc.status is None:
            raise ReportError(f"{exc}: try again later") from None
        words = _CODE_REFUSALS.get(str(exc.answer.get("errorCode", "")))
        if words:
            raise ReportError(words) from None
        raise ReportError(f"the server refused: {exc.answer.get('error') or f'HTTP {exc.status}'}") from None
    try:
        return dict(json.loads(answer))
    except (ValueError, TypeError):
        raise ReportError("the server answered something that is not JSON") from None


class UploadState(StrEnum):
    """verified → consented → certified → published; each is sealed in the store."""

    VERIFIED = "verified"
    CONSENTED = "consented"
    CERTIFIED = "certified"
    PUBLISHED = "published"


_NEXT = {
    UploadState.VERIFIED: UploadState.CONSENTED,
    UploadState.CONSENTED: UploadState.CERTIFIED,
    UploadState.CERTIFIED: UploadState.PUBLISHED,
}


@dataclass(frozen=True, slots=True)
class Upload:
    """One report in progress: what each step produced, typed; transitions only forward."""

    state: UploadState
    token: str
    test: dict[str, str | None]
    keys: tuple[UploadKey, ...] = ()
    secret: bytes = b""
    certificate: str = ""
    revision_token: str = ""

    def _advance(self, to: UploadState, **changes: Any) -> Upload:
        if _NEXT.get(self.state) != to:
            raise ReportError(f"an upload that is {self.state} cannot become {to}")
        return replace(self, state=to, **changes)

    def consented(self, keys: list[UploadKey], secret: bytes) -> Upload:
        return self._advance(UploadState.CONSENTED, keys=tuple(keys), secret=secret)

    def certified(self, certificate: str) -> Upload:
        return self._advance(UploadState.CERTIFIED, certificate=certificate)

    def published(self, revision_token: str) -> Upload:
        return self._advance(UploadState.PUBLISHED, revision_token=revision_token)

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"token": self.token, "test": self.test}
        if self.state != UploadState.VERIFIED:
            data["keys"] = [k.to_json() for k in self.keys]
            data["secret"] = base64.b64encode(self.secret).decode()
        if self.certificate:
            data["certificate"] = self.certificate
        if self.state == UploadState.PUBLISHED:
            data["revisionToken"] = self.revision_token
        return data

    @classmethod
    def from_json(cls, state: str, data: dict[str, Any]) -> Upload:
        """What the store holds; anything missing or malformed is one ReportError."""
        try:
            upload = cls(UploadState(state), str(data["token"]), dict(data["test"]))
            if upload.state != UploadState.VERIFIED:
                keys = [UploadKey.from_json(item) for item in data["keys"]]
                upload = replace(
                    upload, keys=tuple(keys), secret=base64.b64decode(data["secret"], validate=True)
                )
            if upload.state in (UploadState.CERTIFIED, UploadState.PUBLISHED):
                upload = replace(upload, certificate=str(data["certificate"]))
            if upload.state == UploadState.PUBLISHED:
                upload = replace(upload, revision_token=str(data.get("revisionToken", "")))
        except (KeyError, TypeError, ValueError) as exc:
            raise ReportError(
                f"the stored upload ({state}) is damaged ({type(exc).__name__}: {exc}); "
                "start again with a new code from the health official"
            ) from None
        return upload


def _answer(answer: dict[str, Any], field: str, endpoint: str) -> str:
    value = answer.get(field)
    if not isinstance(value, str) or not value:
        raise ReportError(f"the server's answer to {endpoint} has no {field}: try again later")
    return value


def _padding() -> str:
    return base64.b64encode(secrets.token_bytes(1024 + secrets.randbelow(1024))).decode()


@dataclass
class ReportOutcome:
    keys: list[UploadKey]
    inserted: int
    revision_token: str
    warnings: list[str]


class Reporter:
    def __init__(
        self,
        store: BeaconStore,
        schedule: KeySchedule,
        *,
        server_url: str,
        post: PostJson = http_post_json,
        health_authority_id: str = "vn.bluezone",
    ) -> None:
        self.store, self.schedule, self.post = store, schedule, post
        self.base = check_server_url(server_url)
        self.health_authority_id = health_authority_id

    def pending(self) -> tuple[int, Upload] | None:
        """The latest upload that did not finish, if any."""
        for upload_id, _, state, data in reversed(self.store.uploads()):
            if state != UploadState.PUBLISHED:
                return upload_id, Upload.from_json(state, data)
        return None

    def keys_to_upload(self, test: dict[str, Any], now: float) -> list[UploadKey]:
        """Past keys from onset − 2 days (else test date − 2 days), at most 14 with today's."""
        today = rolling_start(en_interval_number(now))
        first = today - (MAX_KEYS - 1) * TEK_ROLLING_PERIOD
        anchor = test.get("symptomDate") or test.get("testDate")
        if anchor:
            day = date.fromisoformat(anchor)
            start = datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp()
            first = max(
                first, rolling_start(en_interval_number(start)) - DAYS_BEFORE_ONSET * TEK_ROLLING_PERIOD
            )
        return self.schedule.keys_since(first, now)

    async def report(self, code: str | None, *, consent: Consent, now: float) -> ReportOutcome:
        pending = self.pending()
        if code is not None:
            verified = await self.post(
                urljoin(self.base, "api/verify"),
                {"code": parse_code(code), "accept": ACCEPT, "padding": _padding()},
            )
            test = {k: verified.get(k) for k in ("testtype", "symptomDate", "testDate")}
            upload = Upload(UploadState.VERIFIED, _answer(verified, "token", "/api/verify"), test)
            upload_id = self.store.save_upload(None, upload.state, upload.to_json(), now)
        elif pending is not None:
            upload_id, upload = pending
        else:
            raise ReportError("give the code the health official gave you (--code)")

        if upload.state == UploadState.VERIFIED:
            past = self.keys_to_upload(upload.test, now)
            if not consent(past, upload.test):
                raise ReportError("nothing was uploaded: you did not agree. Run report again to retry")
            keys = [*past, self.schedule.release_today(now)]  # today's key leaves the air now
            upload = upload.consented(keys, secrets.token_bytes(32))
            self.store.save_upload(upload_id, upload.state, upload.to_json(), now)

        if upload.state == UploadState.CONSENTED:
            mac = base64.b64encode(tek_hmac(upload.secret, list(upload.keys))).decode()
            answer = await self.post(
                urljoin(self.base, "api/certificate"),
                {"token": upload.token, "ekeyhmac": mac, "padding": _padding()},
            )
            upload = upload.certified(_answer(answer, "certificate", "/api/certificate"))
            self.store.save_upload(upload_id, upload.state, upload.to_json(), now)

        published = await self.post(
            urljoin(self.base, "v1/publish"),
            {
                "temporaryExposureKeys": [k.to_json() for k in upload.keys],
                "healthAuthorityID": self.health_authority_id,
                "verificationPayload": upload.certificate,
                "hmacKey": base64.b64encode(upload.secret).decode(),
                "padding": _padding(),
            },
        )
        upload = upload.published(str(published.get("revisionToken", "")))
        self.store.save_upload(upload_id, upload.state, upload.to_json(), now)
        try:
            inserted = int(published.get("insertedExposures", 0))
        except (TypeError, ValueError):
            inserted = 0
        return ReportOutcome(
            list(upload.keys),
            inserted,
            upload.revision_token,
            [str(w) for w in published.get("warnings", [])],
        )

    def keys_for_file(self, now: float, onset: date | None, consent: Consent) -> list[UploadKey]:
        """The keys an official uploads on the case's behalf (``report --to-file``)."""
        test = {"symptomDate": onset.isoformat() if onset else None}
        past = self.keys_to_upload(test, now)
        if not consent(past, test):
            raise ReportError("nothing was written: you did not agree")
        return [*past, self.schedule.release_today(now)]
