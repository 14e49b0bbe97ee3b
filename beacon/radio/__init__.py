"""Scanner and Advertiser façades over swappable backends (bleak's shape).

A backend is passed as an instance (a test hands over a ready virtual radio) or chosen by
:func:`default_backend`. The façade does the shared work once: filter on 0xFD6F, parse the
service data with :mod:`protocol.advert`, drop what does not parse.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from enum import StrEnum

from beacon.errors import BeaconError
from beacon.radio.base import AdvertiserBackend, RadioBackendId, RawAdvert, ScannerBackend
from protocol.advert import SERVICE_UUID, SERVICE_UUID16, PayloadError, parse_service_data

__all__ = [
    "AdvertReport",
    "Advertiser",
    "AdvertiserBackend",
    "AdvertisingRejected",
    "RadioBackendId",
    "RadioError",
    "RadioUnavailable",
    "RawAdvert",
    "Scanner",
    "ScannerBackend",
    "UnavailableReason",
]


class RadioError(BeaconError):
    """The radio cannot do what was asked; the message says what to do."""


class UnavailableReason(StrEnum):
    NO_BLUEZ = "no_bluez"
    NO_ADAPTER = "no_adapter"
    POWERED_OFF = "powered_off"
    NO_PERMISSION = "no_permission"
    UNSUPPORTED = "unsupported"


class RadioUnavailable(RadioError):
    """Bluetooth cannot be used at all here; ``reason`` says why, the message what to do."""

    def __init__(self, reason: UnavailableReason, message: str) -> None:
        super().__init__(message)
        self.reason = reason


class AdvertisingRejected(RadioError):
    """The stack refused the advertisement (too many, bad data); the message says which."""


@dataclass(frozen=True, slots=True)
class AdvertReport:
    """One Exposure Notification advertisement heard."""

    rpi: bytes
    aem: bytes
    rssi: int
    timestamp: float
    address: str


class Scanner:
    """Hears 0xFD6F advertisements through a backend and hands parsed reports to listeners."""

    def __init__(self, backend: ScannerBackend) -> None:
        self.backend = backend
        self._listeners: list[Callable[[AdvertReport], None]] = []
        self.malformed = 0

    def on_report(self, callback: Callable[[AdvertReport], None]) -> Callable[[], None]:
        self._listeners.append(callback)
        return lambda: self._listeners.remove(callback)

    def _raw(self, advert: RawAdvert) -> None:
        data = advert.service_data.get(SERVICE_UUID)
        if data is None:
            return
        try:
            rpi, aem = parse_service_data(data)
        except PayloadError:
            self.malformed += 1
            return
        report = AdvertReport(rpi, aem, advert.rssi, advert.timestamp, advert.address)
        for listener in list(self._listeners):
            listener(report)

    async def start(self) -> None:
        await self.backend.start(self._raw)

    async def stop(self) -> None:
        await self.backend.stop()

    async def scan_window(self, start: float) -> None:
        await self.backend.on_scan_window(start)

    @contextlib.asynccontextmanager
    async def paused(self) -> AsyncIterator[None]:
        """Scanning stopped while the body runs: a controller without LE extended advertising
        has one random address for scanning and advertising and may not change it while
        either runs (LE Set Random Address answers Command Disallowed), so the advertiser's
        fresh address at each RPI change needs the scan stopped (the qemu tier shows it)."""
        await self.backend.pause()
        try:
            yield
        finally:
            await self.backend.resume()

    async def __aenter__(self) -> Scanner:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()


class Advertiser:
    """Broadcasts the current RPI || AEM under 0xFD6F; each call rotates the address too."""

    def __init__(self, backend: AdvertiserBackend) -> None:
        self.backend = backend

    @property
    def tx_power_dbm(self) -> int | None:
        """The TX power the stack applied at the last advertisement; None where it cannot say."""
        return self.backend.applied_tx_power_dbm

    async def advertise(self, service_data: bytes) -> None:
        await self.backend.advertise(SERVICE_UUID16, service_data)

    async def stop(self) -> None:
        await self.backend.stop()
