"""Advertising on Linux and the Raspberry Pi: a broadcast ``LEAdvertisement1`` through dbus-fast.

The advertisement is non-connectable (``Type = "broadcast"``) with the 0xFD6F UUID and service
data RPI || AEM, and is re-registered at every rotation under a new object path (BlueZ gives a
new advertising instance; with controller privacy on, a new random address).

Deviations from the GAEN Bluetooth spec that BlueZ imposes (``shared/spec/ble.md`` §2.1, §2.3):

* **No Flags 0x1A.** BlueZ writes the Flags AD itself (or none, for broadcast); the payload
  keeps UUID list and service data, which is what receivers match on.
* **Interval and TX power.** ``MinInterval``/``MaxInterval`` (200–270 ms) and ``TxPower`` are set
  but ignored before BlueZ 5.77 unless bluetoothd runs with ``--experimental``: the controller's
  default interval (often 1.28 s on Pi firmware) applies. Reception over a 10-s scan window is
  still near-certain; ``bluezone beacon selftest`` reports the version and flags.
* **Address rotation** follows the controller's privacy setting (``btmgmt privacy on``). Without
  it the address stays the adapter's while the RPI rotates: linkable. Selftest warns.
* **Raspberry Pi 5 kernel regression (2026)**: D-Bus advertisements fail there on some kernels;
  the registration error is translated and the daemon keeps scanning.

D-Bus errors are translated at this boundary into :class:`beacon.radio.RadioUnavailable` or
:class:`beacon.radio.AdvertisingRejected` with what to do (``bluez_defs.ERROR_ADVICE``).
"""

# No ``from __future__ import annotations`` here: dbus-fast reads the signature strings below.

import contextlib
import itertools
from dataclasses import dataclass
from typing import Any

from beacon.radio import AdvertisingRejected, RadioError, RadioUnavailable, UnavailableReason
from beacon.radio.base import AdvertiserBackend
from beacon.radio.bluez_defs import ADVERTISEMENT, ADVERTISING_MANAGER, BLUEZ, ERROR_ADVICE

__all__ = ["BlueZAdvertiser", "BlueZOptions", "translate_dbus_error"]

_PATH_ROOT = "/org/bluezone/advertisement"
_paths = itertools.count()


@dataclass(frozen=True)
class BlueZOptions:
    adapter: str = "hci0"
    bus_address: str | None = None
    """A D-Bus address; default: the system bus (``DBUS_SYSTEM_BUS_ADDRESS`` or the usual socket)."""
    min_interval_ms: int = 200
    max_interval_ms: int = 270
    discoverable: bool = False
    """Some mocks (BlueZoo) only report discoverable advertisements; real BlueZ does not care."""


def translate_dbus_error(exc: BaseException) -> RadioError:
    name = getattr(exc, "type", None) or getattr(exc, "error_name", None) or ""
    reason, advice = ERROR_ADVICE.get(str(name), ("", ""))
    if reason == "rejected":
        return AdvertisingRejected(f"{advice} ({name}: {exc})")
    if reason:
        return RadioUnavailable(UnavailableReason(reason), advice)
    if isinstance(exc, FileNotFoundError | ConnectionRefusedError):
        return RadioUnavailable(
            UnavailableReason.NO_BLUEZ, "no system D-Bus: is this a Linux system with BlueZ?"
        )
    return RadioError(f"advertising failed: {type(exc).__name__}: {exc}")


def _advertisement_class() -> Any:
    from dbus_fast import Variant
    from dbus_fast.constants import PropertyAccess
    from dbus_fast.service import ServiceInterface, dbus_property, method

    class Advertisement(ServiceInterface):
        def __init__(self, uuid16: int, data: bytes, options: BlueZOptions) -> None:
            super().__init__(ADVERTISEMENT)
            self._uuid = f"{uuid16:04x}"
            self._data = bytes(data)
            self._options = options
            self.released = False

        @method()
        def Release(self) -> None:
            self.released = True

        @dbus_property(access=PropertyAccess.READ)
        def Type(self) -> "s":  # type: ignore[name-defined] # noqa: F821
            return "broadcast"

        @dbus_property(access=PropertyAccess.READ)
        def ServiceUUIDs(self) -> "as":  # type: ignore[valid-type] # noqa: F722
            return [self._uuid]

        @dbus_property(access=PropertyAccess.READ)
        def ServiceData(self) -> "a{sv}":  # type: ignore[valid-type] # noqa: F722
            return {self._uuid: Variant("ay", self._data)}

        @dbus_property(access=PropertyAccess.READ)
        def MinInterval(self) -> "u":  # type: ignore[name-defined] # noqa: F821
            return self._options.min_interval_ms

        @dbus_property(access=PropertyAccess.READ)
        def MaxInterval(self) -> "u":  # type: ignore[name-defined] # noqa: F821
            return self._options.max_interval_ms

        @dbus_property(access=PropertyAccess.READ)
        def Discoverable(self) -> "b":  # type: ignore[name-defined] # noqa: F821
            return self._options.discoverable

    return Advertisement


class BlueZAdvertiser(AdvertiserBackend):
    def __init__(self, options: BlueZOptions | None = None) -> None:
        self.options = options or BlueZOptions()
        self._bus: Any = None
        self._manager: Any = None
        self._path: str | None = None
        self.registrations = 0

    async def _connect(self) -> None:
        from dbus_fast import BusType
        from dbus_fast.aio import MessageBus

        try:
            if self.options.bus_address:
                self._bus = await MessageBus(bus_address=self.options.bus_address).connect()
            else:
                self._bus = await MessageBus(bus_type=BusType.SYSTEM).connect()
            adapter_path = f"/org/bluez/{self.options.adapter}"
            introspection = await self._bus.introspect(BLUEZ, adapter_path)
        except Exception as exc:
            self._disconnect()
            raise translate_dbus_error(exc) from exc
        if not any(i.name == ADVERTISING_MANAGER for i in introspection.interfaces):
            self._disconnect()
            raise RadioUnavailable(
                UnavailableReason.UNSUPPORTED,
                f"{self.options.adapter} has no LE advertising manager: it cannot advertise",
            )
        self._manager = self._bus.get_proxy_object(BLUEZ, adapter_path, introspection).get_interface(
            ADVERTISING_MANAGER
        )

    async def advertise(self, service_uuid16: int, service_data: bytes) -> None:
        if self._bus is None:
            await self._connect()
        await self._unregister()
        path = f"{_PATH_ROOT}{next(_paths)}"
        advertisement = _advertisement_class()(service_uuid16, service_data, self.options)
        self._bus.export(path, advertisement)
        try:
            await self._manager.call_register_advertisement(path, {})
        except Exception as exc:
            self._bus.unexport(path)
            raise translate_dbus_error(exc) from exc
        self._path = path
        self.registrations += 1

    async def _unregister(self) -> None:
        if self._path is None:
            return
        path, self._path = self._path, None
        with contextlib.suppress(Exception):  # already gone (bluetoothd restarted): nothing to undo
            await self._manager.call_unregister_advertisement(path)
        self._bus.unexport(path)

    def _disconnect(self) -> None:
        if self._bus is not None:
            self._bus.disconnect()
            self._bus = None

    async def stop(self) -> None:
        if self._bus is not None:
            await self._unregister()
            self._disconnect()
