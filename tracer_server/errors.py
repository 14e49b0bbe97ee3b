"""Errors a client can cause, each with its HTTP status and GAEN error code, turned into JSON here.

    ServerError (400 bad_request)
    ├── UnparsableRequest 400 unparsable_request     body is not JSON or not the schema
    ├── PayloadTooLarge 413 payload_too_large
    ├── Unauthorized 401 unauthorized                missing or unknown API key
    ├── Forbidden 403 forbidden                      role does not allow it
    ├── QuotaExceeded 429 quota_exceeded             per-official daily code quota
    ├── RateLimited 429 rate_limited                 too many attempts from one client
    ├── InvalidTestType 400 invalid_test_type / 412 when the device does not accept it
    ├── InvalidDate 400 invalid_date
    ├── CodeInvalid 400 code_invalid                 malformed or already used
    ├── CodeNotFound 400 code_not_found
    ├── CodeExpired 400 code_expired
    ├── CodeRevoked 400 code_revoked                 revoked by an official (only for a code that existed)
    ├── TokenInvalid 400 token_invalid
    ├── TokenExpired 400 token_expired
    ├── HmacInvalid 400 hmac_invalid
    ├── UnknownHealthAuthority 401 unknown_health_authority_id
    ├── UnsupportedMediaType 415 unsupported_media_type  a body that is not application/json
    ├── CertificateInvalid 401 health_authority_verification_certificate_invalid
    ├── KeysRejected 400 bad_request                 every key failed validation (.details)
    └── NotFound 404 not_found

Verification routes (``/api/…``) answer ``{"error", "errorCode"}`` as Google's verification
server does; key-server routes (``/v1/…``) answer ``{"error", "code"}`` as its key server does.
Messages are constant strings or built from validated values only: never from raw input.

An error no handler expected is logged by :func:`describe_unexpected` (called from the access
log middleware): its classes and where our code raised it, never its text, which may hold the
SQL and its parameters, or the client's input.
"""

from __future__ import annotations

import traceback
from pathlib import Path
from typing import Any, ClassVar

__all__ = [
    "CertificateInvalid",
    "CodeExpired",
    "CodeInvalid",
    "CodeNotFound",
    "CodeRevoked",
    "Forbidden",
    "HmacInvalid",
    "InvalidDate",
    "InvalidTestType",
    "KeysRejected",
    "NotFound",
    "PayloadTooLarge",
    "QuotaExceeded",
    "RateLimited",
    "ServerError",
    "TokenExpired",
    "TokenInvalid",
    "Unauthorized",
    "UnknownHealthAuthority",
    "UnparsableRequest",
    "UnsupportedMediaType",
    "describe_unexpected",
    "error_body",
]


class ServerError(Exception):
    status: ClassVar[int] = 400
    code: ClassVar[str] = "bad_request"

    def __init__(self, message: str, *, status: int | None = None, details: list[str] | None = None):
        super().__init__(message)
        self.message = message
        self.status_override = status
        self.details = details or []

    @property
    def http_status(self) -> int:
        return self.status_override or self.status


class UnparsableRequest(ServerError):
    code = "unparsable_request"


class PayloadTooLarge(ServerError):
    status, code = 413, "payload_too_large"


class Unauthorized(ServerError):
    status, code = 401, "unauthorized"


class Forbidden(ServerError):
    status, code = 403, "forbidden"


class QuotaExceeded(ServerError):
    status, code = 429, "quota_exceeded"


class RateLimited(ServerError):
    status, code = 429, "rate_limited"


class InvalidTestType(ServerError):
    code = "invalid_test_type"


class InvalidDate(ServerError):
    code = "invalid_date"

    def __init__(self, message: str, *, field: str = "", limit_days: int | None = None) -> None:
        super().__init__(message)
        # Which date, and the age limit it broke (None: in the future), so the console can say it.
        self.field, self.limit_days = field, limit_days


class CodeInvalid(ServerError):
    code = "code_invalid"


class CodeNotFound(ServerError):
    code = "code_not_found"


class CodeExpired(ServerError):
    code = "code_expired"


class CodeRevoked(ServerError):
    """Google's server has no revocation (its ``expirecode`` makes a code expire): ours says so,
    in the same ``code_*`` family, so the case learns to ask for a new code, not to retype it."""

    code = "code_revoked"


class TokenInvalid(ServerError):
    code = "token_invalid"


class TokenExpired(ServerError):
    code = "token_expired"


class HmacInvalid(ServerError):
    code = "hmac_invalid"


class UnknownHealthAuthority(ServerError):
    status, code = 401, "unknown_health_authority_id"


class UnsupportedMediaType(ServerError):
    status, code = 415, "unsupported_media_type"


class CertificateInvalid(ServerError):
    status, code = 401, "health_authority_verification_certificate_invalid"


class KeysRejected(ServerError):
    code = "bad_request"


class NotFound(ServerError):
    status, code = 404, "not_found"


def error_body(error: ServerError, path: str) -> dict[str, Any]:
    body: dict[str, Any] = {"error": error.message}
    body["code" if path.startswith("/v1/") else "errorCode"] = error.code
    if error.details:
        body["details"] = error.details
    return body


_OURS = Path(__file__).resolve().parents[1]  # the checkout or site-packages holding our packages
_PACKAGES = ("tracer_server", "protocol")


def describe_unexpected(exc: BaseException) -> str:
    """``DBAPIError ← psycopg.errors.UndefinedTable at tracer_server/console/routes.py:270 in revoke``.

    The classes (with their causes) and the deepest frame of our own code: enough to find the
    bug, with no value in it. The exception's text and the traceback's lines are left out: a
    database error's text holds the statement and its parameters (a name, a code, key data).
    """
    chain: list[str] = []
    seen: set[int] = set()
    cause: BaseException | None = exc
    while cause is not None and id(cause) not in seen and len(chain) < 4:
        seen.add(id(cause))
        kind = type(cause)
        module = "" if kind.__module__ in ("builtins", __name__) else f"{kind.__module__}."
        chain.append(f"{module}{kind.__qualname__}")
        cause = cause.__cause__ or cause.__context__
    where = ""
    # The first frame is the one that caught it (the middleware): not where it went wrong.
    for frame in reversed(traceback.extract_tb(exc.__traceback__)[1:]):
        path = Path(frame.filename)
        if path.is_relative_to(_OURS) and path.relative_to(_OURS).parts[0] in _PACKAGES:
            where = f" at {path.relative_to(_OURS).as_posix()}:{frame.lineno} in {frame.name}"
            break
    return " ← ".join(chain) + where
