"""Reporting a positive test: verify the code, show the keys, ask, then certificate and publish.

Only the device's own TEKs leave it, never its sightings: from two days before symptom onset
(else before the test date) through today, at most 14, today's cut short (DESIGN.md "Same-day
keys"). The code is redeemed first because the test's dates decide which keys go; nothing is
uploaded before the user agrees. Every step's state is sealed in the store, so a failure (no
network, server down) keeps the token, the keys and the HMAC secret for a retry.
"""

from __future__ import annotations

import asyncio
import base64
import json
import secrets
import urllib.error
import urllib.request
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any
from urllib.parse import parse_qs, urljoin, urlsplit

from beacon.schedule import KeySchedule
from beacon.store import BeaconStore
from beacon.sync import check_server_url
from protocol.keys import TEK_ROLLING_PERIOD, en_interval_number, rolling_start
from protocol.publish import UploadKey, tek_hmac

__all__ = ["Consent", "PostJson", "ReportError", "Reporter", "http_post_json", "parse_code"]

MAX_KEYS = 14
DAYS_BEFORE_ONSET = 2
ACCEPT = ["confirmed", "likely", "user-report"]

PostJson = Callable[[str, dict[str, Any]], Awaitable[dict[str, Any]]]
Consent = Callable[[list[UploadKey], dict[str, Any]], bool]


class ReportError(RuntimeError):
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


async def http_post_json(url: str, body: dict[str, Any]) -> dict[str, Any]:
    def post() -> dict[str, Any]:
        request = urllib.request.Request(
            url,
            data=json.dumps(body).encode(),
            headers={"Content-Type": "application/json", "User-Agent": "bluezone-beacon"},
            method="POST",
        )
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return dict(json.loads(response.read(1 << 20)))
        except urllib.error.HTTPError as exc:
            with exc:
                try:
                    answer = json.loads(exc.read(1 << 16))
                except (ValueError, OSError):
                    answer = {}
            message = answer.get("error") or f"HTTP {exc.code}"
            raise ReportError(f"the server refused: {message}") from None

    try:
        return await asyncio.to_thread(post)
    except (urllib.error.URLError, OSError, TimeoutError) as exc:
        raise ReportError(
            f"cannot reach the server ({getattr(exc, 'reason', exc)}): try again later"
        ) from None
    except ValueError:
        raise ReportError("the server answered something that is not JSON") from None


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

    def pending(self) -> tuple[int, dict[str, Any]] | None:
        """The latest upload that did not finish, if any."""
        for upload_id, _, state, data in reversed(self.store.uploads()):
            if state != "published":
                return upload_id, data
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
            upload_id = self.store.save_upload(
                None, "verified", {"token": verified["token"], "test": test}, now
            )
            data: dict[str, Any] = {"token": verified["token"], "test": test}
        elif pending is not None:
            upload_id, data = pending
        else:
            raise ReportError("give the code the health official gave you (--code)")

        if "keys" not in data:
            past = self.keys_to_upload(data["test"], now)
            if not consent(past, data["test"]):
                raise ReportError("nothing was uploaded: you did not agree. Run report again to retry")
            keys = [*past, self.schedule.release_today(now)]  # today's key leaves the air now
            data["keys"] = [k.to_json() for k in keys]
            data["secret"] = base64.b64encode(secrets.token_bytes(32)).decode()
            self.store.save_upload(upload_id, "consented", data, now)
        keys = [UploadKey.from_json(item) for item in data["keys"]]
        secret = base64.b64decode(data["secret"])

        if "certificate" not in data:
            mac = base64.b64encode(tek_hmac(secret, keys)).decode()
            answer = await self.post(
                urljoin(self.base, "api/certificate"),
                {"token": data["token"], "ekeyhmac": mac, "padding": _padding()},
            )
            data["certificate"] = answer["certificate"]
            self.store.save_upload(upload_id, "certified", data, now)

        published = await self.post(
            urljoin(self.base, "v1/publish"),
            {
                "temporaryExposureKeys": data["keys"],
                "healthAuthorityID": self.health_authority_id,
                "verificationPayload": data["certificate"],
                "hmacKey": data["secret"],
                "padding": _padding(),
            },
        )
        data["revisionToken"] = published.get("revisionToken", "")
        self.store.save_upload(upload_id, "published", data, now)
        return ReportOutcome(
            keys,
            int(published.get("insertedExposures", 0)),
            data["revisionToken"],
            list(published.get("warnings", [])),
        )

    def keys_for_file(self, now: float, onset: date | None, consent: Consent) -> list[UploadKey]:
        """The keys an official uploads on the case's behalf (``report --to-file``)."""
        test = {"symptomDate": onset.isoformat() if onset else None}
        past = self.keys_to_upload(test, now)
        if not consent(past, test):
            raise ReportError("nothing was written: you did not agree")
        return [*past, self.schedule.release_today(now)]
