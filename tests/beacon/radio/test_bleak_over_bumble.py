"""Our bleak scanner backend through bleak's real API, over bumble's virtual controllers."""

from __future__ import annotations

import asyncio

import pytest
from bumble import hci
from bumble.core import AdvertisingData
from bumble.device import AdvertisingType

from beacon.radio import AdvertReport, Scanner
from beacon.radio.bleak_scan import BleakOptions, BleakScanBackend
from protocol.advert import advertising_data, service_data

from .bumble_support import BumbleScanner, make_devices

RPI_1, AEM_1 = bytes(range(16)), b"\xa1\xa2\xa3\xa4"
RPI_2, AEM_2 = bytes(range(16, 32)), b"\xb1\xb2\xb3\xb4"


async def _advertise(device, payload: bytes, address: str) -> None:  # type: ignore[no-untyped-def]
    device.random_address = hci.Address(address)
    await device.start_advertising(
        advertising_type=AdvertisingType.UNDIRECTED,  # non-connectable, non-scannable, as GAEN
        own_address_type=hci.OwnAddressType.RANDOM,
        advertising_data=payload,
        advertising_interval_min=200,
        advertising_interval_max=270,
    )


def _scanner_over(receiver) -> Scanner:  # type: ignore[no-untyped-def]
    """Our Scanner on bleak's API, bleak on the bumble device ``receiver``."""
    return Scanner(
        BleakScanBackend(BleakOptions(backend=BumbleScanner, backend_kwargs={"bumble_device": receiver}))
    )


async def _reports(expected: int, timeout: float = 10.0) -> tuple[list[AdvertReport], Scanner]:
    levels = iter([-45, -58, -71, -63] * 1000)
    _, (sender, receiver) = make_devices(2, rssi=lambda address: next(levels))
    for device in (sender, receiver):
        await device.power_on()
    scanner = _scanner_over(receiver)
    got: list[AdvertReport] = []
    done = asyncio.Event()

    def heard(report: AdvertReport) -> None:
        got.append(report)
        if len(got) >= expected:
            done.set()

    scanner.on_report(heard)
    async with scanner:
        # The 31-byte GAEN payload, byte-exact with Flags 0x1A (bumble can send it; BlueZ cannot).
        await _advertise(sender, advertising_data(RPI_1, AEM_1), "06:11:22:33:44:55")
        await asyncio.wait_for(done.wait(), timeout)
    return got, scanner


def test_bleak_scanner_hears_the_fd6f_payload_with_each_reports_rssi() -> None:
    got, scanner = asyncio.run(_reports(4))
    assert all((r.rpi, r.aem) == (RPI_1, AEM_1) for r in got)
    # Each advert also yields bumble's fake scan response (dropped), which draws a level too.
    assert [r.rssi for r in got[:4]] == [-45, -71, -45, -71]
    assert scanner.malformed == 0


def test_rotation_is_seen_as_a_new_address_and_a_new_rpi() -> None:
    async def scenario() -> list[AdvertReport]:
        _, (sender, receiver) = make_devices(2, rssi=lambda address: -60)
        for device in (sender, receiver):
            await device.power_on()
        scanner = _scanner_over(receiver)
        got: list[AdvertReport] = []
        scanner.on_report(got.append)
        async with scanner:
            await _advertise(sender, advertising_data(RPI_1, AEM_1), "06:11:22:33:44:55")
            while not got:
                await asyncio.sleep(0.05)
            await sender.stop_advertising()
            await _advertise(sender, advertising_data(RPI_2, AEM_2), "07:66:77:88:99:AA")
            while got[-1].rpi != RPI_2:
                await asyncio.sleep(0.05)
        return got

    got = asyncio.run(asyncio.wait_for(scenario(), 15))
    first, last = got[0], got[-1]
    assert (first.rpi, last.rpi) == (RPI_1, RPI_2)
    assert first.address != last.address


def test_other_service_data_is_ignored_and_a_short_payload_counted_as_malformed() -> None:
    async def scenario() -> Scanner:
        _, (a, b, receiver) = make_devices(3, rssi=lambda address: -60)
        for device in (a, b, receiver):
            await device.power_on()
        scanner = _scanner_over(receiver)
        got: list[AdvertReport] = []
        scanner.on_report(got.append)
        async with scanner:
            short = bytes(
                AdvertisingData([(AdvertisingData.SERVICE_DATA_16_BIT_UUID, b"\x6f\xfd" + bytes(10))])
            )
            await _advertise(a, short, "06:01:02:03:04:05")
            await _advertise(
                b,
                bytes(
                    AdvertisingData(
                        [(AdvertisingData.SERVICE_DATA_16_BIT_UUID, b"\x0a\x18" + service_data(RPI_1, AEM_1))]
                    )
                ),
                "06:0A:0B:0C:0D:0E",
            )
            while scanner.malformed < 3:
                await asyncio.sleep(0.05)
        assert got == []
        return scanner

    asyncio.run(asyncio.wait_for(scenario(), 15))


@pytest.mark.parametrize("passive", [False, True])
def test_bluez_options_reach_the_backend(passive: bool) -> None:
    """Active: discovery filters that keep every RSSI; passive: an or-pattern on 0xFD6F data."""
    captured: dict[str, object] = {}

    class Capture(BumbleScanner):
        def __init__(self, *args: object, **kwargs: object) -> None:
            captured.update(kwargs, args=args)
            raise RuntimeError("captured")

    backend = BleakScanBackend(BleakOptions(adapter="hci1", passive=passive, backend=Capture))
    with pytest.raises(RuntimeError, match="captured"):
        backend._make_scanner(passive)
    bluez = captured["bluez"]
    assert isinstance(bluez, dict) and bluez["adapter"] == "hci1"
    if passive:
        (pattern,) = bluez["or_patterns"]
        assert pattern.start_position == 0 and pattern.content_of_pattern == b"\x6f\xfd"
    else:
        assert bluez["filters"] == {"RSSI": -127, "DuplicateData": True}


def test_watchdog_without_a_probe_rebuilds_a_silent_scanner_and_returns_to_passive() -> None:
    async def scenario() -> tuple[int, bool, list[AdvertReport]]:
        _, (sender, receiver) = make_devices(2, rssi=lambda address: -60)
        for device in (sender, receiver):
            await device.power_on()
        options = BleakOptions(
            passive=True, watchdog_s=1.0, backend=BumbleScanner, backend_kwargs={"bumble_device": receiver}
        )
        backend = BleakScanBackend(options)
        scanner = Scanner(backend)
        got: list[AdvertReport] = []
        scanner.on_report(got.append)
        async with scanner:
            assert backend.passive_active
            await _advertise(sender, advertising_data(RPI_1, AEM_1), "06:11:22:33:44:55")
            while not got:
                await asyncio.sleep(0.05)
            await sender.stop_advertising()  # the air falls silent: adapter reset, bluetoothd restart…
            while backend.restarts == 0:
                await asyncio.sleep(0.05)
            heard_before = len(got)
            await _advertise(sender, advertising_data(RPI_2, AEM_2), "07:11:22:33:44:55")
            while not any(r.rpi == RPI_2 for r in got[heard_before:]):
                await asyncio.sleep(0.05)
        return backend.restarts, backend.passive_active, got

    restarts, passive, got = asyncio.run(asyncio.wait_for(scenario(), 30))
    assert restarts >= 1 and passive is True  # rebuilt, passive again (before: active for good)
    assert got[-1].rpi == RPI_2  # the rebuilt scanner hears again


def test_watchdog_leaves_an_empty_room_alone_and_rebuilds_on_evidence() -> None:
    """Before, silence alone rebuilt the scanner every ~2 minutes with nobody near."""
    from beacon.radio.bleak_scan import AdapterState

    state = AdapterState(powered=True, discovering=True)

    async def probe() -> AdapterState:
        return state

    async def scenario() -> tuple[int, int, int]:
        nonlocal state
        _, (receiver,) = make_devices(1, rssi=lambda address: -60)
        await receiver.power_on()
        options = BleakOptions(
            watchdog_s=0.4, backend=BumbleScanner, backend_kwargs={"bumble_device": receiver}, probe=probe
        )
        backend = BleakScanBackend(options)
        async with Scanner(backend):
            while backend.quiet_checks < 3:  # three silent spells: an empty room
                await asyncio.sleep(0.05)
            quiet_restarts = backend.restarts
            state = AdapterState(powered=True, discovering=False)  # the adapter stopped scanning
            while backend.restarts == quiet_restarts:
                await asyncio.sleep(0.05)
            return quiet_restarts, backend.restarts, backend.quiet_checks

    quiet_restarts, restarts, quiet = asyncio.run(asyncio.wait_for(scenario(), 30))
    assert quiet_restarts == 0 and quiet >= 3
    assert restarts == 1
