"""A virtual air for tests, the simulator and the demo: radios at positions, one channel.

Modelled on bumble's ``LocalLink``: radios attach to one air; what one advertises, the others
hear, with an RSSI from :class:`beacon.radio.channel.Channel`. The air is sampled once per
logical scan window (:mod:`protocol.scans`), so a simulated day costs a few hundred samples per
pair, not tens of thousands of packets. Nothing is delivered re-entrantly: a scanner collects
its window's reports when its daemon asks.
"""

from __future__ import annotations

import math
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from beacon.radio.base import AdvertiserBackend, RawAdvert, ScannerBackend
from beacon.radio.channel import CARRIAGE_OFFSET_DB, Carriage, Channel
from protocol.scans import SCAN_DURATION_S

if TYPE_CHECKING:
    import numpy as np

__all__ = ["Position", "VirtualAir", "VirtualRadio"]

Position = tuple[float, float]
_UUID_BASE = "0000{:04x}-0000-1000-8000-00805f9b34fb"


def _random_private_address(rng: Callable[[int], bytes]) -> str:
    # A non-resolvable private address: the two most significant bits are 00 (Core Vol 6 B 1.3.2.2).
    raw = bytearray(rng(6))
    raw[0] &= 0x3F
    return ":".join(f"{b:02X}" for b in raw)


@dataclass
class VirtualRadio:
    name: str
    air: VirtualAir
    position: Position | Callable[[float], Position]
    carriage: Carriage = Carriage.HAND
    advert: tuple[str, int, bytes] | None = None  # (address, uuid16, service data)
    callback: Callable[[RawAdvert], None] | None = None
    scanner: VirtualScanner = field(init=False)
    advertiser: VirtualAdvertiser = field(init=False)

    def __post_init__(self) -> None:
        self.scanner = VirtualScanner(self)
        self.advertiser = VirtualAdvertiser(self)

    def where(self, when: float) -> Position:
        return self.position(when) if callable(self.position) else self.position


class VirtualScanner(ScannerBackend):
    windowed = True

    def __init__(self, radio: VirtualRadio) -> None:
        self.radio = radio

    async def start(self, callback: Callable[[RawAdvert], None]) -> None:
        self.radio.callback = callback

    async def stop(self) -> None:
        self.radio.callback = None

    async def on_scan_window(self, start: float) -> None:
        callback = self.radio.callback
        if callback is None:
            return
        for advert in self.radio.air.sample(self.radio, start):
            callback(advert)


class VirtualAdvertiser(AdvertiserBackend):
    def __init__(self, radio: VirtualRadio) -> None:
        self.radio = radio

    async def advertise(self, service_uuid16: int, service_data: bytes) -> None:
        address = _random_private_address(self.radio.air.address_rng)
        self.radio.advert = (address, service_uuid16, bytes(service_data))

    async def stop(self) -> None:
        self.radio.advert = None


class VirtualAir:
    """Radios, their positions and the channel between them.

    ``tx_power_dbm`` is what the virtual radios radiate (GAEN's LOW: −15 dBm);
    ``reports_per_window`` advertisements are heard per sender in each scan window (``protocol.scans``: 10 s).
    """

    def __init__(
        self,
        channel: Channel,
        rng: np.random.Generator,
        *,
        tx_power_dbm: float = -15.0,
        reports_per_window: int = 4,
        address_rng: Callable[[int], bytes] = secrets.token_bytes,
    ) -> None:
        self.channel, self.rng, self.tx_power_dbm = channel, rng, tx_power_dbm
        self.reports_per_window = reports_per_window
        self.address_rng = address_rng
        self.radios: list[VirtualRadio] = []
        self._pair_offsets: dict[frozenset[str], float] = {}
        self._obstructions: dict[frozenset[str], float] = {}

    def attach(
        self,
        name: str,
        position: Position | Callable[[float], Position],
        carriage: Carriage = Carriage.HAND,
    ) -> VirtualRadio:
        if any(r.name == name for r in self.radios):
            raise ValueError(f"a radio named {name!r} is attached already")
        radio = VirtualRadio(name, self, position, carriage)
        self.radios.append(radio)
        return radio

    def detach(self, radio: VirtualRadio) -> None:
        self.radios.remove(radio)

    def set_obstruction(self, a: VirtualRadio, b: VirtualRadio, loss_db: float) -> None:
        """A wall between two radios, e.g. 15 dB for a brick wall."""
        self._obstructions[frozenset((a.name, b.name))] = loss_db

    def new_encounter(self, a: VirtualRadio, b: VirtualRadio) -> None:
        """Draw a new per-pair shadowing (people moved, phones changed pockets)."""
        self._pair_offsets.pop(frozenset((a.name, b.name)), None)

    def sample(self, receiver: VirtualRadio, start: float) -> list[RawAdvert]:
        """What ``receiver`` hears in the scan window starting at ``start``."""
        heard = []
        rx = receiver.where(start)
        for sender in self.radios:
            if sender is receiver or sender.advert is None:
                continue
            pair = frozenset((sender.name, receiver.name))
            offset = self._pair_offsets.get(pair)
            if offset is None:
                offset = self._pair_offsets[pair] = self.channel.pair_offset(self.rng)
            tx = sender.where(start)
            distance = math.dist(rx, tx)
            offset_db = (
                offset
                + CARRIAGE_OFFSET_DB[sender.carriage]
                + CARRIAGE_OFFSET_DB[receiver.carriage]
                - self._obstructions.get(pair, 0.0)
            )
            # One per-scan fading draw per window, a little jitter per advertisement.
            (level,) = self.channel.rssi([distance], self.tx_power_dbm, self.rng, offset_db=offset_db)  # type: ignore[arg-type]
            address, uuid16, data = sender.advert
            for k in range(self.reports_per_window):
                rssi = float(level) + float(self.rng.normal(0.0, 1.0))
                if self.channel.heard(rssi, self.tx_power_dbm):
                    when = start + (k + 0.5) * SCAN_DURATION_S / self.reports_per_window
                    heard.append(RawAdvert(address, round(rssi), when, {_UUID_BASE.format(uuid16): data}))
        return heard
