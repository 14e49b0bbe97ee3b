"""What comes in and what goes out, in the GAEN services' JSON shapes (camelCase as they are)."""

from __future__ import annotations

from datetime import date

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "ActivityRequest",
    "ActivityResponse",
    "CertificateRequest",
    "CertificateResponse",
    "ExposureKeyItem",
    "IssueRequest",
    "IssueResponse",
    "PublishRequest",
    "PublishResponse",
    "VerifyRequest",
    "VerifyResponse",
]

_PADDING = Field(default="", max_length=65_536, description="random base64, ignored: hides the real size")


class _In(BaseModel):
    model_config = ConfigDict(extra="ignore", str_max_length=65_536)


class IssueRequest(_In):
    testType: str = Field(description="confirmed | likely | negative | user-report")
    symptomDate: date | None = Field(default=None, description="YYYY-MM-DD, the user's local day")
    testDate: date | None = Field(default=None, description="YYYY-MM-DD, the user's local day")
    tzOffset: int | None = Field(default=None, description="minutes east of UTC; default +420 (Vietnam)")
    padding: str = _PADDING


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
    code: str = Field(max_length=64)
    accept: list[str] = Field(default_factory=lambda: ["confirmed"], max_length=4)
    padding: str = _PADDING


class VerifyResponse(BaseModel):
    testtype: str
    symptomDate: str | None = None
    testDate: str | None = None
    token: str
    padding: str = ""


class CertificateRequest(_In):
    token: str = Field(max_length=4096)
    ekeyhmac: str = Field(max_length=256)
    padding: str = _PADDING


class CertificateResponse(BaseModel):
    certificate: str
    padding: str = ""


class _Strict(BaseModel):
    """As Google's ``jsonutil.Unmarshal`` reads: no unknown field, no type coerced."""

    model_config = ConfigDict(extra="forbid", strict=True, str_max_length=65_536)


class ExposureKeyItem(_Strict):
    key: str = Field(
        max_length=64, description="base64 of the 16-byte TEK (standard or URL-safe, padded or not)"
    )
    rollingStartNumber: int
    rollingPeriod: int = Field(default=0, description="1..144; absent is 0, as in Google's server: invalid")
    transmissionRisk: int = Field(default=0, description="0..8; 0 is backfilled from the report type")


class PublishRequest(_Strict):
    temporaryExposureKeys: list[ExposureKeyItem] = Field(max_length=1000)
    healthAuthorityID: str = Field(
        default="", max_length=128, description="required: absent or unknown is 401"
    )
    verificationPayload: str = Field(max_length=8192)
    hmacKey: str = Field(max_length=256)
    symptomOnsetInterval: int | None = None
    traveler: bool = False
    revisionToken: str = Field(default="", max_length=8192)
    padding: str = _PADDING


class PublishResponse(BaseModel):
    revisionToken: str = ""
    insertedExposures: int = 0
    error: str = ""
    code: str = ""
    warnings: list[str] = Field(default_factory=list)
    padding: str = ""


class ActivityRequest(_In):
    district: str = Field(max_length=64, description="the district code the device's user chose")
    padding: str = _PADDING


class ActivityResponse(BaseModel):
    padding: str = ""
