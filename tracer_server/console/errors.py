"""What the console says when it refuses a form or a page: a sentence in the console's language
that names the form's own label, chosen by the error's code (``tracer_server/errors.py``), never
the API's English text or its field names (``symptomDate``), which an official cannot act on.

``REACHABLE`` lists every ServerError a console form or page can raise; ``NOT_FROM_THE_CONSOLE``
the ones only devices and the officials' API meet. A test checks that the two cover the whole
tree and that each reachable one has a message in both catalogs.
"""

from __future__ import annotations

from protocol.errors import KeyFileError
from tracer_server.console.i18n import N_, translate
from tracer_server.errors import (
    CertificateInvalid,
    CodeExpired,
    CodeInvalid,
    CodeNotFound,
    CodeRevoked,
    Forbidden,
    HmacInvalid,
    InvalidDate,
    InvalidTestType,
    KeysRejected,
    NotFound,
    PayloadTooLarge,
    QuotaExceeded,
    RateLimited,
    ServerError,
    TokenExpired,
    TokenInvalid,
    Unauthorized,
    UnknownHealthAuthority,
    UnparsableRequest,
    UnsupportedMediaType,
)
from tracer_server.services.revision import InvalidRevisionToken

__all__ = ["NOT_FROM_THE_CONSOLE", "REACHABLE", "FormExpired", "console_message", "key_file_message"]


class FormExpired(Forbidden):
    """The form's CSRF token is not this session's: an old tab, or a form from another site."""

    code = "form_expired"


# The labels the forms show beside their date fields, by the API's name for the date.
FIELD_LABELS = {"symptomDate": N_("Symptom onset"), "testDate": N_("Test date")}

_BY_CODE: dict[str, str] = {
    InvalidTestType.code: N_("Choose a test type from the list."),
    QuotaExceeded.code: N_("Your account has issued as many codes today as it may: ask an administrator."),
    RateLimited.code: N_("Too many requests in a minute: wait a minute and try again."),
    Forbidden.code: N_("This page is for administrators."),
    FormExpired.code: N_(
        "The form expired or did not come from this console: reload the page and try again."
    ),
    PayloadTooLarge.code: N_("The upload is too large: a key file from the case's app is a few kilobytes."),
    NotFound.code: N_("There is no such page in the console."),
    UnparsableRequest.code: N_("The form could not be read: reload the page and try again."),
    InvalidDate.code: N_("A date is not valid: check the dates."),
    KeysRejected.code: N_("None of the keys in the file can be stored: they are too old or not valid keys."),
}
_FUTURE = N_("%(field)s must not be in the future.")
_TOO_OLD = N_("%(field)s must not be more than %(days)s days ago.")
_FAR_FROM_ONSET = N_(
    "No key in the file is within 14 days of the symptom onset or test date: check the date."
)
_ALREADY_UPLOADED = N_(
    "These keys were uploaded before. Only the case's app can change them, with the revision token of "
    "its first upload."
)

REACHABLE: tuple[type[ServerError], ...] = (
    InvalidTestType,
    InvalidDate,
    QuotaExceeded,
    RateLimited,
    Forbidden,
    FormExpired,
    PayloadTooLarge,
    NotFound,
    UnparsableRequest,
    KeysRejected,
)
NOT_FROM_THE_CONSOLE: tuple[type[ServerError], ...] = (
    Unauthorized,  # the officials' API key; the console has sessions
    CodeInvalid,
    CodeNotFound,
    CodeExpired,
    CodeRevoked,  # the devices' /api/verify; the console revokes, it never redeems
    TokenInvalid,
    TokenExpired,
    HmacInvalid,
    UnknownHealthAuthority,
    UnsupportedMediaType,
    CertificateInvalid,
    InvalidRevisionToken,  # the console never sends a revision token
)


def console_message(lang: str, error: ServerError) -> str:
    """The console's sentence for ``error`` in ``lang``."""
    if isinstance(error, InvalidDate) and error.field in FIELD_LABELS:
        field = translate(lang, FIELD_LABELS[error.field])
        if error.limit_days is None:
            return translate(lang, _FUTURE, field=field)
        return translate(lang, _TOO_OLD, field=field, days=error.limit_days)
    if isinstance(error, KeysRejected):
        if any("revisionToken" in detail for detail in error.details):
            return translate(lang, _ALREADY_UPLOADED)
        if any("from symptom onset" in detail for detail in error.details):
            return translate(lang, _FAR_FROM_ONSET)
    message = _BY_CODE.get(error.code)
    if message is None:  # a ServerError no list above names: say what it is, in our words
        return translate(lang, N_("The server refused this form (%(code)s)."), code=error.code)
    return translate(lang, message)


def key_file_message(lang: str, error: KeyFileError) -> str:
    """A key file that does not read: its exact fault helps no official; what to do does."""
    del error
    return translate(
        lang,
        "This is not a key file from the case's app, or it is damaged: ask the case to send it again.",
    )
