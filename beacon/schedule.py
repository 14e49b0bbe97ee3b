"""The key schedule: one TEK per UTC day, the RPI and the address rotating together every 10–20 min.

* A TEK is created for the UTC day when first needed and rolls at midnight (GAEN crypto spec
  "Key Schedule"); the RPI on the air is derived for the interval at which it was chosen.
* The advertisement rotates at a random moment strictly between 10 and 20 minutes after the
  last one (the address rotates with it in the radio backend), and always at UTC midnight, so
  no RPI of yesterday's key is broadcast today.
* Metadata carries ``DEFAULT_TX_POWER_DBM`` with calibration confidence LOWEST: we have no
  per-model calibration, so receivers should treat it as a fleet-wide default.
* Same-day release (GAEN v1.7, DESIGN.md "Same-day keys"): reporting cuts today's key short at
  the current interval, takes it off the air and starts a new key with the same aligned start.
"""

from __future__ import annotations

import random
import secrets
from collections.abc import Callable
from dataclasses import dataclass

from beacon.store import BeaconStore, StoredTek
from protocol.advert import Metadata, service_data
from protocol.keys import (
    derive_aemk,
    derive_rpik,
    en_interval_number,
    encrypt_aem,
    new_tek,
    rolling_start,
    rpi,
)
from protocol.publish import UploadKey

__all__ = ["DEFAULT_METADATA", "DEFAULT_TX_POWER_DBM", "Advertisement", "KeySchedule"]

DEFAULT_TX_POWER_DBM = -15
"""What GAEN advertises at ``ADVERTISE_TX_POWER_LOW``; the risk default was tuned on this scale."""
DEFAULT_METADATA = Metadata(DEFAULT_TX_POWER_DBM, version_minor=1, calibration_confidence=0)
ROTATION_MIN_S, ROTATION_MAX_S = 600.0, 1200.0
_DAY = 86_400


@dataclass(frozen=True, slots=True)
class Advertisement:
    service_data: bytes
    rpi: bytes
    tek_id: int
    interval: int
    until: float


class KeySchedule:
    def __init__(
        self,
        store: BeaconStore,
        *,
        rng: random.Random,
        tek_rng: Callable[[int], bytes] = secrets.token_bytes,
        metadata: Metadata = DEFAULT_METADATA,
    ) -> None:
        self.store, self.rng, self.tek_rng, self.metadata = store, rng, tek_rng, metadata
        self.current: Advertisement | None = None

    def tek_for(self, now: float) -> StoredTek:
        start = rolling_start(en_interval_number(now))
        tek = self.store.current_tek(start)
        return tek if tek is not None else self.store.add_tek(new_tek(self.tek_rng), start)

    def rotation_due(self, now: float) -> bool:
        """Time for a new RPI, or the key on the air was released (``beacon report`` runs in its
        own process and marks the key in the store): a released key's RPIs must leave the air
        within one tick, not at the next 10–20 minute rotation."""
        if self.current is None or now >= self.current.until:
            return True
        return self.store.tek_released(self.current.tek_id)

    def rotate(self, now: float) -> Advertisement:
        """Choose the RPI for now and when to rotate next."""
        tek = self.tek_for(now)
        interval = en_interval_number(now)
        value = rpi(derive_rpik(tek.tek), interval)
        aem = encrypt_aem(derive_aemk(tek.tek), value, self.metadata.to_bytes())
        # Strictly inside (10 min, 20 min), and never past midnight, when the key changes.
        delay = self.rng.uniform(ROTATION_MIN_S + 1, ROTATION_MAX_S - 1)
        midnight = (now // _DAY + 1) * _DAY
        self.current = Advertisement(
            service_data(value, aem), value, tek.id, interval, min(now + delay, midnight)
        )
        return self.current

    def release_today(self, now: float) -> UploadKey:
        """Cut today's key short at the current interval; a fresh key takes over at once."""
        tek = self.tek_for(now)
        interval = en_interval_number(now)
        period = interval - tek.rolling_start + 1  # the current interval was broadcast too
        self.store.release_tek(tek.id, period, now)
        self.store.add_tek(new_tek(self.tek_rng), tek.rolling_start)
        self.current = None  # off the air now: the next rotation uses the new key
        return UploadKey(tek.tek, tek.rolling_start, period, 0)

    def keys_since(self, first_day_interval: int, now: float) -> list[UploadKey]:
        """Past keys from ``first_day_interval``'s day until yesterday (today's is released apart)."""
        today = rolling_start(en_interval_number(now))
        return [
            UploadKey(t.tek, t.rolling_start, t.rolling_period, 0)
            for t in self.store.teks(first_day_interval)
            if first_day_interval <= t.rolling_start < today
        ]
