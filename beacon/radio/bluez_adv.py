"""Advertising on Linux and the Raspberry Pi: a broadcast ``LEAdvertisement1`` through dbus-fast.

The advertisement is non-connectable (``Type = "broadcast"``) with the 0xFD6F UUID and service
data RPI || AEM, and is re-registered at every rotation (never between) under a new object path:
BlueZ makes a new advertising instance, and the kernel gives it a fresh non-resolvable address
while the adapter is neither connectable nor discoverable (a connectable adapter advertises from
its fixed address). ``tests/beacon/test_bluez_qemu.py`` shows both through the real bluetoothd.

Deviations from the GAEN Bluetooth spec that BlueZ imposes (``shared/spec/ble.md`` §2.1, §2.3):

* **No Flags 0x1A.** BlueZ writes the Flags AD itself (or none, for broadcast); the payload
  keeps UUID list and service data, which is what receivers match on.
* **Interval.** ``MinInterval``/``MaxInterval`` (200–270 ms) are ignored before BlueZ 5.77
  unless bluetoothd runs with ``--experimental``: the controller's default interval (often
  1.28 s on Pi firmware) applies. Reception over a 10-s scan window is still near-certain.
* **TX power.** ``TxPower`` is requested only where ``SupportedFeatures`` has ``CanSetTxPower``
  (LE extended advertising and, in 5.66, ``--experimental``); bluetoothd writes back the power
  the controller applied, which the daemon's metadata claims from the next RPI on. Elsewhere
  the metadata claims the calibrated ``tx_power_dbm``; ``selftest`` says which case holds.
* **Raspberry Pi 5 kernel regression (2026)**: D-Bus advertisements fail there on some kernels;
  the registration error is translated and the daemon keeps scanning.

D-Bus errors are translated at this boundary into :class:`beacon.radio.RadioUnavailable` or
:class:`beacon.radio.AdvertisingRejected` with what to do (``bluez_defs.ERROR_ADVICE``).
"""

# No ``from __future__ import annotations`` here: dbus-fast reads the signature strings below.

import asyncio
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
    tx_power_dbm: int | None = None
    """The TX power to ask for where the adapter can set it (``CanSetTxPower``); bluetoothd
    answers with the power the controller applied, which the beacon then advertises."""


_TX_POWER_ANSWER_S = 1.0
"""How long to wait, after registering, for bluetoothd to write back the applied TX power."""


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


def _advertisement_class(with_tx_power: bool) -> Any:
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
            self.tx_power = options.tx_power_dbm
            self.tx_power_answered = asyncio.Event()

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

        # Read-write: bluetoothd reports the power the controller applied by setting it.
        # Exported only where the adapter can set TX power: elsewhere BlueZ 5.66 without
        # --experimental rejects the whole advertisement for an experimental property.
        @dbus_property(access=PropertyAccess.READWRITE, disabled=not with_tx_power)
        def TxPower(self) -> "n":  # type: ignore[name-defined] # noqa: F821
            return self.tx_power if self.tx_power is not None else 0

        @TxPower.setter  # type: ignore[no-redef]
        def TxPower(self, value: "n") -> None:  # type: ignore[name-defined] # noqa: F821
            self.tx_power = int(value)
            self.tx_power_answered.set()

    return Advertisement


class BlueZAdvertiser(AdvertiserBackend):
    """``applied_tx_power_dbm`` is what bluetoothd reported the controller applied at the last
    registration (None where the adapter cannot set TX power: the Pi's onboard controllers have
    no LE extended advertising, so BlueZ offers no ``CanSetTxPower`` there)."""

    def __init__(self, options: BlueZOptions | None = None) -> None:
        self.options = options or BlueZOptions()
        self._bus: Any = None
        self._manager: Any = None
        self._path: str | None = None
        self.registrations = 0
        self.can_set_tx_power = False
        self.tx_power_range_dbm: tuple[int, int] | None = None

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
        proxy = self._bus.get_proxy_object(BLUEZ, adapter_path, introspection)
        self._manager = proxy.get_interface(ADVERTISING_MANAGER)
        self.can_set_tx_power, self.tx_power_range_dbm = await _tx_power_support(proxy)

    async def probe(self) -> None:
        """Connect and read what the adapter can do (``can_set_tx_power``), advertising nothing."""
        if self._bus is None:
            await self._connect()

    async def advertise(self, service_uuid16: int, service_data: bytes) -> None:
        if self._bus is None:
            await self._connect()
        await self._unregister()
        path = f"{_PATH_ROOT}{next(_paths)}"
        request = self.can_set_tx_power and self.options.tx_power_dbm is not None
        advertisement = _advertisement_class(request)(service_uuid16, service_data, self.options)
        self._bus.export(path, advertisement)
        try:
            await self._manager.call_register_advertisement(path, {})
        except Exception as exc:
            self._bus.unexport(path)
            raise translate_dbus_error(exc) from exc
        self._path = path
        self.registrations += 1
        if request:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(advertisement.tx_power_answered.wait(), _TX_POWER_ANSWER_S)
            # No answer: bluetoothd ignored the request (no --experimental), so nothing is known.
            self.applied_tx_power_dbm = (
                advertisement.tx_power if advertisement.tx_power_answered.is_set() else None
            )

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


async def _tx_power_support(adapter: Any) -> tuple[bool, tuple[int, int] | None]:
    """Whether the adapter can set TX power, and its range: ``SupportedFeatures`` and
    ``SupportedCapabilities`` of LEAdvertisingManager1 (absent before BlueZ 5.56 and in mocks)."""
    try:
        properties = adapter.get_interface("org.freedesktop.DBus.Properties")
        values = await properties.call_get_all(ADVERTISING_MANAGER)
    except Exception:
        return False, None
    features = values["SupportedFeatures"].value if "SupportedFeatures" in values else []
    capabilities = values["SupportedCapabilities"].value if "SupportedCapabilities" in values else {}
    low, high = capabilities.get("MinTxPower"), capabilities.get("MaxTxPower")
    span = (int(low.value), int(high.value)) if low is not None and high is not None else None
    return "CanSetTxPower" in features, span
