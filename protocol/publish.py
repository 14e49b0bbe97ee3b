"""What a device uploads: its TEKs in the GAEN key server's v1 publish shape, and their HMAC.

The ``temporaryExposureKeys`` JSON items of ``POST /v1/publish`` (google/exposure-notifications-
server ``pkg/api/v1/exposure_types.go``) and the HMAC that binds a verification certificate to
exactly these keys (``docs/design/verification_protocol.md``, ``pkg/verification/utils.go``;
``shared/spec/gaen.md`` §5.3). Shared by the beacon (which computes it) and the server (which
recomputes it).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from protocol.errors import KeyMaterialError
from protocol.keys import KEY_LENGTH, TEK_ROLLING_PERIOD

__all__ = [
    "KeyMaterialError",
    "UploadKey",
    "canonical_key_string",
    "canonical_text",
    "tek_hmac",
]


@dataclass(frozen=True, slots=True)
class UploadKey:
    """One ``temporaryExposureKeys`` item: a TEK, its start interval, period and risk (0 = unset)."""

    key_data: bytes
    rolling_start_number: int
    rolling_period: int = TEK_ROLLING_PERIOD
    transmission_risk: int = 0

    def __post_init__(self) -> None:
        if len(self.key_data) != KEY_LENGTH:
            raise KeyMaterialError(f"key must be {KEY_LENGTH} bytes, got {len(self.key_data)}")
        if not 0 <= self.rolling_start_number < 1 << 31:
            raise KeyMaterialError(f"rollingStartNumber out of range: {self.rolling_start_number}")
        if not 1 <= self.rolling_period <= TEK_ROLLING_PERIOD:
            raise KeyMaterialError(f"rollingPeriod must be 1..144, got {self.rolling_period}")
        if not 0 <= self.transmission_risk <= 8:
            raise KeyMaterialError(f"transmissionRisk must be 0..8, got {self.transmission_risk}")

    @property
    def key_b64(self) -> str:
        return base64.b64encode(self.key_data).decode("ascii")

    def to_json(self) -> dict[str, Any]:
        return {
            "key": self.key_b64,
            "rollingStartNumber": self.rolling_start_number,
            "rollingPeriod": self.rolling_period,
            "transmissionRisk": self.transmission_risk,
        }

    @classmethod
    def from_json(cls, item: Mapping[str, Any]) -> UploadKey:
        """Parse one JSON item; every problem is a :class:`KeyMaterialError` naming the field."""
        if not isinstance(item, Mapping):
            raise KeyMaterialError(f"a key must be a JSON object, got {type(item).__name__}")
        raw = item.get("key")
        if not isinstance(raw, str):
            raise KeyMaterialError("'key' must be a base64 string")
        try:
            key = base64.b64decode(raw, validate=True)
        except (binascii.Error, ValueError):
            raise KeyMaterialError("'key' is not valid base64") from None
        fields = {}
        for name, default in (
            ("rollingStartNumber", None),
            ("rollingPeriod", TEK_ROLLING_PERIOD),
            ("transmissionRisk", 0),
        ):
            value = item.get(name, default)
            if isinstance(value, bool) or not isinstance(value, int):
                raise KeyMaterialError(f"'{name}' must be an integer, got {value!r}")
            fields[name] = value
        return cls(key, fields["rollingStartNumber"], fields["rollingPeriod"], fields["transmissionRisk"])


def canonical_key_string(keys: Iterable[UploadKey], *, include_risk: bool = True) -> str:
    """``base64(key).rollingStartNumber.rollingPeriod[.transmissionRisk]`` per key, sorted, joined by ",".

    Newer clients omit the risk segment when every risk is 0; servers accept either form.
    """
    entries = ((k.key_b64, k.rolling_start_number, k.rolling_period, k.transmission_risk) for k in keys)
    return canonical_text(entries, include_risk=include_risk)


def canonical_text(entries: Iterable[tuple[str, int, int, int]], *, include_risk: bool = True) -> str:
    """The same string from (key text, start, period, risk) as given: a server checks the HMAC
    over the keys as a client sent them, in whichever base64 alphabet it used (Google's)."""
    segments = []
    for text, start, period, risk in entries:
        segments.append(f"{text}.{start}.{period}" + (f".{risk}" if include_risk else ""))
    return ",".join(sorted(segments))


def tek_hmac(secret: bytes, keys: Iterable[UploadKey], *, include_risk: bool = True) -> bytes:
    """HMAC-SHA256(secret, canonical key string): the ``ekeyhmac`` / ``tekmac`` value (32 bytes)."""
    if len(secret) < 16:
        raise KeyMaterialError(f"the HMAC secret must be at least 128 bits, got {len(secret)} bytes")
    message = canonical_key_string(keys, include_risk=include_risk).encode("ascii")
    return hmac.digest(secret, message, hashlib.sha256)
