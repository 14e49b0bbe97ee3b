"""Scanning with bleak on every OS: one long-lived ``BleakScanner`` filtered on 0xFD6F.

On BlueZ (``shared/spec/ble.md`` §1.3–1.4, §4): active scanning by default with the discovery
filters ``{"RSSI": -127, "DuplicateData": True}``, so that bluetoothd keeps reporting every
advertisement with its RSSI instead of once per device; passive scanning (an
AdvertisementMonitor with an or-pattern on the 0xFD6F service data, which needs bluetoothd
``--experimental``) as an option, falling back to active when it cannot start or falls silent.

A watchdog rebuilds the scanner on evidence only, with exponential backoff (the recovery
ladder of §4): silence alone is an empty room, not a dead adapter. When reports stop it asks
BlueZ for the adapter's ``Powered`` and ``Discovering`` state and rebuilds only when the adapter
is off, no longer discovering (active scanning), or bluetoothd does not answer; where no such
probe exists (other OSes, test backends) silence is the only evidence left. A rebuild tries
passive scanning again when it was asked for. bleak's exceptions are translated at this
boundary into :class:`beacon.radio.RadioUnavailable` with what to do.

``backend=`` is bleak's own hook: tests hand a scanner class driving bumble's virtual
controllers, and the rest of this module runs unchanged.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from beacon.radio import RadioError, RadioUnavailable, UnavailableReason
from beacon.radio.base import RawAdvert, ScannerBackend
from protocol.advert import SERVICE_UUID, SERVICE_UUID16

__all__ = ["AdapterState", "BleakOptions", "BleakScanBackend", "bluez_adapter_state", "translate_bleak_error"]

log = logging.getLogger("beacon.radio.bleak")


@dataclass(frozen=True, slots=True)
class AdapterState:
    powered: bool
    discovering: bool


Probe = Callable[[], Awaitable["AdapterState | None"]]


async def bluez_adapter_state(adapter: str | None = None) -> AdapterState:
    """The adapter's ``Powered`` and ``Discovering`` from bluetoothd (raises when it is gone)."""
    from dbus_fast import BusType
    from dbus_fast.aio import MessageBus

    bus = await asyncio.wait_for(MessageBus(bus_type=BusType.SYSTEM).connect(), 5)
    try:
        path = f"/org/bluez/{adapter or 'hci0'}"
        introspection = await asyncio.wait_for(bus.introspect("org.bluez", path), 5)
        # dbus-fast generates call_* methods at run time: typed as Any here.
        properties: Any = bus.get_proxy_object("org.bluez", path, introspection).get_interface(
            "org.freedesktop.DBus.Properties"
        )
        powered = (await properties.call_get("org.bluez.Adapter1", "Powered")).value
        discovering = (await properties.call_get("org.bluez.Adapter1", "Discovering")).value
        return AdapterState(bool(powered), bool(discovering))
    finally:
        bus.disconnect()


@dataclass(frozen=True)
class BleakOptions:
    """How to scan. ``backend`` and ``backend_kwargs`` go to bleak's ``backend=`` hook.

    ``probe`` tells the watchdog the adapter's state; by default BlueZ's over D-Bus on Linux
    with bleak's own backend, and none with a test backend (then silence is the evidence)."""

    adapter: str | None = None
    passive: bool = False
    watchdog_s: float = 120.0
    max_backoff_s: float = 300.0
    backend: Any = None
    backend_kwargs: dict[str, Any] = field(default_factory=dict)
    probe: Probe | None = None


def translate_bleak_error(exc: BaseException) -> RadioError:
    """bleak's exceptions → ours, with the fix in the message."""
    name = type(exc).__name__
    text = str(exc)
    if isinstance(exc, FileNotFoundError | ConnectionRefusedError):
        return RadioUnavailable(
            UnavailableReason.NO_BLUEZ,
            "no system D-Bus to reach BlueZ: on Linux install bluez and dbus and start bluetoothd",
        )
    if name == "BleakBluetoothNotAvailableError":
        reason = getattr(exc, "reason", None)
        reason_name = getattr(reason, "name", "") or str(reason)
        if "POWERED_OFF" in reason_name:
            return RadioUnavailable(UnavailableReason.POWERED_OFF, "Bluetooth is off: power the adapter on")
        if "DENIED" in reason_name or "UNAUTHORIZED" in reason_name:
            return RadioUnavailable(
                UnavailableReason.NO_PERMISSION, "no permission to use Bluetooth: add the user to 'bluetooth'"
            )
        return RadioUnavailable(UnavailableReason.NO_ADAPTER, f"no usable Bluetooth adapter ({text})")
    if "org.freedesktop.DBus.Error.ServiceUnknown" in text or ("org.bluez" in text and "not found" in text):
        return RadioUnavailable(
            UnavailableReason.NO_BLUEZ, "BlueZ is not running: install and start bluetoothd"
        )
    if "AccessDenied" in text or "NotPermitted" in text:
        return RadioUnavailable(UnavailableReason.NO_PERMISSION, "D-Bus refused: add the user to 'bluetooth'")
    if "No Bluetooth adapters found" in text or ("adapter" in text.lower() and "not found" in text.lower()):
        return RadioUnavailable(
            UnavailableReason.NO_ADAPTER, "no Bluetooth adapter found: plug one in or check rfkill"
        )
    return RadioError(f"scanner failed: {name}: {text}")


class BleakScanBackend(ScannerBackend):
    def __init__(
        self, options: BleakOptions | None = None, *, clock: Callable[[], float] = time.time
    ) -> None:
        self.options = options or BleakOptions()
        self.clock = clock
        self._callback: Callable[[RawAdvert], None] | None = None
        self._scanner: Any = None
        self._watchdog: asyncio.Task[None] | None = None
        self.last_report = 0.0
        self.passive_active = False
        self.restarts = 0
        self.quiet_checks = 0  # silent spells the adapter's state showed to be an empty room
        self._paused = False

    def _make_scanner(self, passive: bool) -> Any:
        from bleak import BleakScanner

        kwargs: dict[str, Any] = dict(self.options.backend_kwargs)
        bluez: dict[str, Any] = {}
        if self.options.adapter:
            bluez["adapter"] = self.options.adapter
        if passive:
            from bleak.args.bluez import OrPattern
            from bleak.assigned_numbers import AdvertisementDataType

            bluez["or_patterns"] = [
                OrPattern(0, AdvertisementDataType.SERVICE_DATA_UUID16, SERVICE_UUID16.to_bytes(2, "little"))
            ]
        else:
            bluez["filters"] = {"RSSI": -127, "DuplicateData": True}
        if self.options.backend is not None:
            kwargs["backend"] = self.options.backend
        return BleakScanner(
            self._detected,
            [SERVICE_UUID],
            scanning_mode="passive" if passive else "active",
            bluez=bluez,  # type: ignore[arg-type]
            **kwargs,
        )

    def _detected(self, device: Any, data: Any) -> None:
        self.last_report = self.clock()
        if self._callback is not None:
            self._callback(
                RawAdvert(device.address, int(data.rssi), self.last_report, dict(data.service_data))
            )

    async def _start_scanner(self) -> None:
        passive = self.options.passive
        try:
            self._scanner = self._make_scanner(passive)
            await self._scanner.start()
            self.passive_active = passive
        except Exception as exc:
            if not passive:
                raise translate_bleak_error(exc) from exc
            log.warning("passive scanning unavailable (%s); falling back to active scanning", exc)
            self._scanner = self._make_scanner(False)
            try:
                await self._scanner.start()
            except Exception as inner:
                raise translate_bleak_error(inner) from inner
            self.passive_active = False

    async def start(self, callback: Callable[[RawAdvert], None]) -> None:
        self._callback = callback
        self.last_report = self.clock()
        await self._start_scanner()
        self._watchdog = asyncio.create_task(self._watch())

    async def stop(self) -> None:
        if self._watchdog is not None:
            self._watchdog.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watchdog
            self._watchdog = None
        if self._scanner is not None:
            with contextlib.suppress(Exception):
                await self._scanner.stop()
            self._scanner = None
        self._callback = None

    async def pause(self) -> None:
        self._paused = True  # the watchdog leaves a paused scanner alone
        if self._scanner is not None:
            with contextlib.suppress(Exception):
                await self._scanner.stop()

    async def resume(self) -> None:
        try:
            if self._callback is not None:
                await self._start_scanner()
        finally:
            self._paused = False
            self.last_report = self.clock()

    def _probe(self) -> Probe | None:
        if self.options.probe is not None:
            return self.options.probe
        if self.options.backend is None and sys.platform.startswith("linux"):
            return lambda: bluez_adapter_state(self.options.adapter)
        return None

    async def _evidence(self) -> str | None:
        """Why the silent scanner must be rebuilt, or None: an empty room."""
        probe = self._probe()
        if probe is None:
            return "no advertisement and no way to ask the adapter"
        try:
            state = await probe()
        except Exception as exc:  # bluetoothd gone, D-Bus down: evidence
            return f"the adapter does not answer ({type(exc).__name__}: {exc})"
        if state is None:
            return "no advertisement and no way to ask the adapter"
        if not state.powered:
            return "the adapter is powered off"
        if not state.discovering and not self.passive_active:
            return "the adapter stopped discovering"
        return None

    async def _watch(self) -> None:
        """Rebuild the scanner when the evidence says it is dead: stop, back off, start again
        (passive again if it was asked for; _start_scanner falls back to active)."""
        backoff = 5.0
        while True:
            await asyncio.sleep(min(self.options.watchdog_s / 4, 30.0))
            if self._paused or self.clock() - self.last_report < self.options.watchdog_s:
                backoff = 5.0
                continue
            reason = await self._evidence()
            if reason is None:
                self.quiet_checks += 1
                log.debug(
                    "no advertisement for %.0f s; the adapter scans: an empty room",
                    self.clock() - self.last_report,
                )
                continue
            log.warning("rebuilding the scanner: %s", reason)
            with contextlib.suppress(Exception):
                await self._scanner.stop()
            try:
                await self._start_scanner()
                self.restarts += 1
                self.last_report = self.clock()
            except RadioError as exc:
                log.error("scanner restart failed: %s; retrying in %.0f s", exc, backoff)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, self.options.max_backoff_s)
