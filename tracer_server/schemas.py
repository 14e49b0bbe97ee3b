"""What comes in and what goes out, in the GAEN services' JSON shapes (camelCase as they are)."""

from __future__ import annotations

import re
from datetime import date
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field

from tracer_server.middleware import MAX_BODY_BYTES
from tracer_server.services.codes import TEST_TYPES

__all__ = [
    "CONTROL_CHARACTERS",
    "ActivityRequest",
    "ActivityResponse",
    "CertificateRequest",
    "CertificateResponse",
    "Error",
    "ExposureKeyItem",
    "IssueRequest",
    "IssueResponse",
    "PublishRequest",
    "PublishResponse",
    "Text",
    "VerifyRequest",
    "VerifyResponse",
    "error_responses",
    "has_control_characters",
]

# Unicode's control characters (C0, DEL, C1). No field of ours carries one; PostgreSQL refuses
# NUL in text (a 500 mid-transaction), and logs and pages must never echo the others.
CONTROL_CHARACTERS = r"\x00-\x1f\x7f-\x9f"
_CONTROL = re.compile(f"[{CONTROL_CHARACTERS}]")
_CONTROL_BUT_LINE_BREAKS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")


def has_control_characters(text: str, *, multiline: bool = False) -> bool:
    """``multiline`` lets tab, CR and LF through: a pasted key file in a form's text area has them."""
    return bool((_CONTROL_BUT_LINE_BREAKS if multiline else _CONTROL).search(text))


# Every string field of a JSON body is Text: pydantic refuses a control character with a 400
# before a handler runs, and the pattern tells clients (and schemathesis) so.
Text = Annotated[str, Field(pattern=f"^[^{CONTROL_CHARACTERS}]*$")]

# An enum in the schema only: the handler answers an unknown one with GAEN's invalid_test_type.
_TEST_TYPE_ENUM: dict[str, Any] = {"enum": list(TEST_TYPES)}

# No body is larger than the cap, so neither is its padding.
_PADDING = Field(
    default="", max_length=MAX_BODY_BYTES, description="random base64, ignored: hides the real size"
)


class _In(BaseModel):
    model_config = ConfigDict(extra="ignore", str_max_length=MAX_BODY_BYTES)


class IssueRequest(_In):
    testType: Text = Field(
        description="confirmed | likely | negative | user-report", json_schema_extra=_TEST_TYPE_ENUM
    )
    symptomDate: date | None = Field(default=None, description="YYYY-MM-DD, the user's local day")
    testDate: date | None = Field(default=None, description="YYYY-MM-DD, the user's local day")
    tzOffset: int | None = Field(default=None, description="minutes east of UTC; default +420 (Vietnam)")
    padding: Text = _PADDING


class IssueResponse(BaseModel):
    uuid: str
    code: str
    expiresAt: str
    expiresAtTimestamp: int
    longCode: str
    longExpiresAt: str
    longExpiresAtTimestamp: int
    padding: str = ""


class VerifyRequest(_In):
    code: Text = Field(max_length=64)
    accept: list[Annotated[Text, Field(json_schema_extra=_TEST_TYPE_ENUM)]] = Field(
        default_factory=lambda: ["confirmed"], max_length=4
    )
    padding: Text = _PADDING


class VerifyResponse(BaseModel):
    testtype: str
    symptomDate: str | None = None
    testDate: str | None = None
    token: str
    padding: str = ""


class CertificateRequest(_In):
    token: Text = Field(max_length=4096)
    ekeyhmac: Text = Field(max_length=256)
    padding: Text = _PADDING


class CertificateResponse(BaseModel):
    certificate: str
    padding: str = ""


class _Strict(BaseModel):
    """As Google's ``jsonutil.Unmarshal`` reads: no unknown field, no type coerced."""

    model_config = ConfigDict(extra="forbid", strict=True, str_max_length=MAX_BODY_BYTES)


class ExposureKeyItem(_Strict):
    key: Text = Field(
        max_length=64, description="base64 of the 16-byte TEK (standard or URL-safe, padded or not)"
    )
    rollingStartNumber: int
    rollingPeriod: int = Field(default=0, description="1..144; absent is 0, as in Google's server: invalid")
    transmissionRisk: int = Field(default=0, description="0..8; 0 is backfilled from the report type")


class PublishRequest(_Strict):
    temporaryExposureKeys: list[ExposureKeyItem] = Field(max_length=1000)
    healthAuthorityID: Text = Field(
        default="", max_length=128, description="required: absent or unknown is 401"
    )
    verificationPayload: Text = Field(max_length=8192)
    hmacKey: Text = Field(max_length=256)
    symptomOnsetInterval: int | None = None
    traveler: bool = False
    revisionToken: Text = Field(default="", max_length=8192)
    padding: Text = _PADDING


class PublishResponse(BaseModel):
    revisionToken: str = ""
    insertedExposures: int = 0
    error: str = ""
    code: str = ""
    warnings: list[str] = Field(default_factory=list)
    padding: str = ""


class ActivityRequest(_In):
    district: Text = Field(max_length=64, description="the district code the device's user chose")
    padding: Text = _PADDING


class ActivityResponse(BaseModel):
    padding: str = ""


class Error(BaseModel):
    """Every error answer: ``errorCode`` on ``/api/…`` (as Google's verification server),
    ``code`` on ``/v1/…`` (as its key server); ``details`` when some keys were refused."""

    error: str = Field(description="what went wrong, for a person")
    errorCode: str = Field(default="", description="on /api/…: e.g. code_not_found, rate_limited")
    code: str = Field(default="", description="on /v1/…: e.g. unparsable_request, payload_too_large")
    details: list[str] = Field(default_factory=list, description="one line per refused key")


_WHEN = {
    400: "malformed, or a value the service refuses (its errorCode / code says which)",
    401: "missing or unknown credentials",
    403: "the credentials' role may not do this",
    404: "no such resource",
    412: "the code's test type is not among those the device accepts",
    413: f"the request body is over {MAX_BODY_BYTES} bytes",
    415: "the body is not application/json",
    429: "rate limit or quota reached",
}


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """``responses=`` for a route: each status the route really sends, with the Error body."""
    return {status: {"model": Error, "description": _WHEN[status]} for status in statuses}
