"""The backend contract, kept small: start, stop, one report callback; advertise, stop.

Work every backend needs (filtering on 0xFD6F, parsing the payload, binning into scan
windows) is done once, in the façades of :mod:`beacon.radio`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

__all__ = ["AdvertiserBackend", "ListenOnly", "RadioBackendId", "RawAdvert", "ScannerBackend"]


class RadioBackendId(StrEnum):
    VIRTUAL = "virtual"
    BLEAK = "bleak"
    BLUEZ = "bluez"


@dataclass(frozen=True, slots=True)
class RawAdvert:
    """What a backend heard: sender address, RSSI, when, and service data by 128-bit UUID."""

    address: str
    rssi: int
    timestamp: float
    service_data: dict[str, bytes]


class ScannerBackend(ABC):
    """Delivers every advertisement it hears to the callback it is given.

    ``windowed`` backends hear only when asked (:meth:`on_scan_window`), so a window is complete
    when that call returns; continuous ones report until the next window starts.
    """

    windowed = False

    @abstractmethod
    async def start(self, callback: Callable[[RawAdvert], None]) -> None: ...

    @abstractmethod
    async def stop(self) -> None: ...

    async def on_scan_window(self, start: float) -> None:  # noqa: B027 - optional hook, no-op by default
        """Called at each logical scan window; a backend that samples per window does it here."""

    async def pause(self) -> None:  # noqa: B027 - optional hook, no-op by default
        """Stop hearing for a moment (the advertiser is changing its address)."""

    async def resume(self) -> None:  # noqa: B027 - optional hook, no-op by default
        """Hear again after :meth:`pause`."""


class AdvertiserBackend(ABC):
    """Broadcasts one payload until told otherwise; each call rotates the address with it.

    ``applied_tx_power_dbm`` is the TX power the stack says it applied, where it can tell."""

    applied_tx_power_dbm: int | None = None

    @abstractmethod
    async def advertise(self, service_uuid16: int, service_data: bytes) -> None: ...

    @abstractmethod
    async def stop(self) -> None: ...


class ListenOnly(AdvertiserBackend):
    """For platforms that cannot advertise EN service data (macOS; bleak cannot advertise at
    all): the beacon only listens, and says so once."""

    def __init__(self) -> None:
        self.warned = False

    async def advertise(self, service_uuid16: int, service_data: bytes) -> None:
        if not self.warned:
            import logging

            logging.getLogger("beacon.radio").warning(
                "this radio cannot advertise: the beacon listens only (use radio = 'bluez' on Linux)"
            )
            self.warned = True

    async def stop(self) -> None:
        return None
