"""Our BlueZ advertiser on one mock adapter, heard by the real bleak BlueZ scanner on another.

BlueZoo (Samsung's BlueZ D-Bus mock) runs on a private dbus-daemon started here; bleak finds it
through DBUS_SYSTEM_BUS_ADDRESS, exactly as it finds bluetoothd (``shared/spec/ble.md`` §3.3).
BlueZoo reports RSSI 0 and only discoverable advertisements, scanning every second.
"""

from __future__ import annotations

import asyncio

import pytest

from beacon.radio import Advertiser, AdvertReport, RadioUnavailable, Scanner, UnavailableReason
from beacon.radio.bleak_scan import BleakOptions, BleakScanBackend
from beacon.radio.bluez_adv import BlueZAdvertiser, BlueZOptions
from protocol.advert import service_data

pytestmark = pytest.mark.slow


def _release_bleak() -> None:
    """bleak keeps one BlueZ manager (and its D-Bus socket) per event loop and never closes it;
    close it before the loop ends, so the socket is not left to the garbage collector."""
    from bleak.backends.bluezdbus import manager

    instance = manager._global_instances.pop(asyncio.get_running_loop(), None)
    if instance is not None and instance._bus is not None:
        instance._bus.disconnect()


RPI_1, AEM_1 = bytes(range(16)), b"\x01\x02\x03\x04"
RPI_2, AEM_2 = bytes(range(100, 116)), b"\x05\x06\x07\x08"


def test_advertiser_on_hci0_is_heard_by_bleak_on_hci1_and_rotation_is_seen(bluezoo: str) -> None:
    async def scenario() -> list[AdvertReport]:
        advertiser = Advertiser(BlueZAdvertiser(BlueZOptions(adapter="hci0", discoverable=True)))
        scanner = Scanner(BleakScanBackend(BleakOptions(adapter="hci1")))
        got: list[AdvertReport] = []
        scanner.on_report(got.append)
        async with scanner:
            await advertiser.advertise(service_data(RPI_1, AEM_1))
            while not any(r.rpi == RPI_1 for r in got):
                await asyncio.sleep(0.1)
            await advertiser.advertise(service_data(RPI_2, AEM_2))  # rotation: re-registered
            while not any(r.rpi == RPI_2 for r in got):
                await asyncio.sleep(0.1)
            await advertiser.stop()
        _release_bleak()
        return got

    got = asyncio.run(asyncio.wait_for(scenario(), 60))
    first = next(r for r in got if r.rpi == RPI_1)
    assert first.aem == AEM_1
    assert next(r for r in got if r.rpi == RPI_2).aem == AEM_2


def test_a_missing_adapter_is_a_clear_error(bluezoo: str) -> None:
    async def scenario() -> None:
        await BlueZAdvertiser(BlueZOptions(adapter="hci7")).advertise(0xFD6F, service_data(RPI_1, AEM_1))

    with pytest.raises(RadioUnavailable) as caught:
        asyncio.run(scenario())
    assert caught.value.reason == UnavailableReason.NO_ADAPTER and "bluetoothctl" in str(caught.value)


def test_no_bluez_on_the_bus_is_a_clear_error(private_bus: str) -> None:
    async def scenario() -> None:
        options = BlueZOptions(adapter="hci0", bus_address=private_bus)
        await BlueZAdvertiser(options).advertise(0xFD6F, service_data(RPI_1, AEM_1))

    with pytest.raises(RadioUnavailable) as caught:
        asyncio.run(scenario())
    assert caught.value.reason == UnavailableReason.NO_BLUEZ and "bluetoothd" in str(caught.value)


def test_passive_scanning_falls_back_to_active_when_bluez_refuses_it(bluezoo: str) -> None:
    async def scenario() -> bool:
        backend = BleakScanBackend(BleakOptions(adapter="hci1", passive=True))
        await backend.start(lambda advert: None)
        try:
            return backend.passive_active
        finally:
            await backend.stop()
            _release_bleak()

    assert asyncio.run(asyncio.wait_for(scenario(), 30)) is False


def test_the_watchdog_reads_powered_and_discovering_from_bluez_and_waits_in_an_empty_room(
    bluezoo: str,
) -> None:
    from beacon.radio.bleak_scan import AdapterState, bluez_adapter_state

    async def scenario() -> tuple[AdapterState, AdapterState, int, int]:
        idle = await bluez_adapter_state("hci1")
        backend = BleakScanBackend(BleakOptions(adapter="hci1", watchdog_s=0.4))
        await backend.start(lambda advert: None)
        try:
            scanning = await bluez_adapter_state("hci1")
            while backend.quiet_checks < 2:  # nobody advertises: silence, and the adapter scans
                await asyncio.sleep(0.05)
            return idle, scanning, backend.restarts, backend.quiet_checks
        finally:
            await backend.stop()
            _release_bleak()

    idle, scanning, restarts, quiet = asyncio.run(asyncio.wait_for(scenario(), 30))
    assert idle.powered and not idle.discovering
    assert scanning == AdapterState(powered=True, discovering=True)
    assert restarts == 0 and quiet >= 2
