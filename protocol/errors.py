"""Every error the protocol package raises, under one root.

    ProtocolError
    ├── KeyMaterialError(ValueError)    a key, RPI or interval number of the wrong size or range
    ├── PayloadError(ValueError)        BLE payload or metadata: length, reserved value, TX power
    ├── ExportError(ValueError)         Exposure Key Export file
    │   ├── NotAZipError                not a zip archive
    │   ├── BadEntriesError             export.bin / export.sig missing, extra, or unreadable
    │   ├── BadHeaderError              export.bin does not start with "EK Export v1    "
    │   ├── BadProtobufError            malformed protobuf, wrong field types or values
    │   ├── BadSignatureError           no signature from a known key verifies
    │   ├── UnknownKeyError             no signature is from a (key id, version) we know
    │   └── OversizeError               archive or entry larger than the reader accepts
    ├── KeyFileError(ValueError)        the key file a case hands to an official
    └── BluezoneIdError(ValueError)     Bluezone v2 IDs and adverts

Leaves are also the builtin they refine, so ``except ValueError`` keeps working for callers
that do not know this package. Each module re-exports the errors it raises.
"""

from __future__ import annotations

__all__ = [
    "BadEntriesError",
    "BadHeaderError",
    "BadProtobufError",
    "BadSignatureError",
    "BluezoneIdError",
    "ExportError",
    "KeyFileError",
    "KeyMaterialError",
    "NotAZipError",
    "OversizeError",
    "PayloadError",
    "ProtocolError",
    "UnknownKeyError",
]


class ProtocolError(Exception):
    """Root of every error raised by :mod:`protocol`."""


class KeyMaterialError(ProtocolError, ValueError):
    """A key, RPI, metadata block or interval number has the wrong size or range."""


class PayloadError(ProtocolError, ValueError):
    """A BLE payload or its metadata is malformed."""


class ExportError(ProtocolError, ValueError):
    """An Exposure Key Export file cannot be accepted."""


class NotAZipError(ExportError):
    """The bytes are not a zip archive."""


class BadEntriesError(ExportError):
    """The archive does not hold exactly export.bin and export.sig, or one cannot be read."""


class BadHeaderError(ExportError):
    """export.bin does not start with the 16-byte "EK Export v1" header."""


class BadProtobufError(ExportError):
    """export.bin or export.sig is not a valid protobuf of the expected message."""


class BadSignatureError(ExportError):
    """A signature from a known key does not verify over export.bin."""


class UnknownKeyError(ExportError):
    """No signature in export.sig names a verification key the reader knows."""


class OversizeError(ExportError):
    """The archive or one of its entries exceeds the size the reader accepts."""


class KeyFileError(ProtocolError, ValueError):
    """A key file (``protocol.keyfile``) is malformed or fails its checksum."""


class BluezoneIdError(ProtocolError, ValueError):
    """A Bluezone v2 ID, key or advert is malformed."""
