"""Revision tokens: what a device must show to change the report type of keys it published.

The token is opaque to the device: AES-GCM under the server's revision key over the list of
keys (base64) the token covers, padded to a fixed bucket size so its length does not tell how
many keys it holds. Google's key server does the same (``internal/revision``).

Allowed transitions (each key at most once), Google's (``model.Exposure.Revise``): likely →
confirmed and likely → revoked. Google has no self-report type and treats a report of unknown
type as likely; a self-report is ours, and it may change as a likely one does: self-report →
confirmed, self-report → revoked. Publishing a key again with the report type it has, or has
been revised to, changes nothing and is no error (Google's "no change").
"""

from __future__ import annotations

import base64
import binascii
import json
import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from protocol.export import ReportType
from tracer_server.errors import ServerError

__all__ = ["ALLOWED_TRANSITIONS", "InvalidRevisionToken", "open_token", "seal_token"]

ALLOWED_TRANSITIONS = {
    (ReportType.CONFIRMED_CLINICAL_DIAGNOSIS, ReportType.CONFIRMED_TEST),
    (ReportType.CONFIRMED_CLINICAL_DIAGNOSIS, ReportType.REVOKED),
    (ReportType.SELF_REPORT, ReportType.CONFIRMED_TEST),
    (ReportType.SELF_REPORT, ReportType.REVOKED),
}
_BUCKET = 512  # padded plaintext size: 30 keys of base64 fit in one bucket
_AAD = b"bluezone revision token v1"


class InvalidRevisionToken(ServerError):
    code = "invalid_revision_token"


def seal_token(key: bytes, covered: list[bytes]) -> str:
    payload = json.dumps({"k": sorted(base64.b64encode(k).decode() for k in covered)}).encode()
    size = -(-max(len(payload), 1) // _BUCKET) * _BUCKET
    payload += b" " * (size - len(payload))
    nonce = os.urandom(12)
    return base64.b64encode(nonce + AESGCM(key).encrypt(nonce, payload, _AAD)).decode()


def open_token(key: bytes, token: str) -> set[bytes]:
    """The keys a token covers; anything unreadable is :class:`InvalidRevisionToken`."""
    try:
        raw = base64.b64decode(token, validate=True)
        plain = AESGCM(key).decrypt(raw[:12], raw[12:], _AAD)
        items = json.loads(plain)["k"]
        return {base64.b64decode(item, validate=True) for item in items}
    except (binascii.Error, ValueError, InvalidTag, KeyError, TypeError):
        raise InvalidRevisionToken("revisionToken is not a token this server issued") from None
