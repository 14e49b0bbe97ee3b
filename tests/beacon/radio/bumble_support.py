"""bumble virtual controllers as a bleak backend (``shared/spec/ble.md`` §3.1).

``PathLossController`` fixes bumble's hard-coded RSSI (−50) with a test-supplied function of
the advertiser's address; ``BumbleScanner`` is a ``BaseBleakScanner`` that turns bumble's
advertisements into bleak's ``AdvertisementData``, so ``BleakScanner(..., backend=BumbleScanner)``
runs bleak's real public API — and our ``BleakScanBackend`` on top of it — over a virtual link.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

from bleak.backends.scanner import AdvertisementData, BaseBleakScanner
from bumble import hci
from bumble.controller import Controller
from bumble.core import UUID, AdvertisingData
from bumble.device import Device
from bumble.host import Host
from bumble.link import LocalLink
from bumble.transport.common import AsyncPipeSink


class PathLossController(Controller):
    def __init__(self, *args: Any, rssi: Callable[[str], int], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.rssi_for = rssi

    def send_hci_packet(self, packet: hci.HCI_Packet) -> None:
        if isinstance(
            packet, hci.HCI_LE_Extended_Advertising_Report_Event | hci.HCI_LE_Advertising_Report_Event
        ):
            reports = [dataclasses.replace(r, rssi=self.rssi_for(str(r.address))) for r in packet.reports]
            packet = type(packet)(reports)
        super().send_hci_packet(packet)


def make_devices(count: int, rssi: Callable[[str], int]) -> tuple[LocalLink, list[Device]]:
    link = LocalLink()
    devices = []
    for i in range(count):
        address = ":".join([f"F{i}"] * 6)
        controller = PathLossController(f"C{i}", link=link, public_address=address, rssi=rssi)
        devices.append(Device(address=hci.Address(address), host=Host(controller, AsyncPipeSink(controller))))
    return link, devices


class BumbleScanner(BaseBleakScanner):
    """bleak's backend contract over a bumble ``Device``: start, stop, detection callbacks."""

    def __init__(
        self, detection_callback: Any, service_uuids: Any, scanning_mode: str = "active", **kwargs: Any
    ):
        super().__init__(detection_callback, service_uuids)
        self.device: Device = kwargs["bumble_device"]
        self.device.on("advertisement", self._on_advertisement)

    def _on_advertisement(self, advertisement: Any) -> None:
        if advertisement.is_scan_response:
            return  # bumble's controller fakes a scan response for every advert (§3.1)
        data: AdvertisingData = advertisement.data
        service_data = {}
        for uuid, payload in data.get_all(AdvertisingData.SERVICE_DATA_16_BIT_UUID):
            service_data[str(uuid.to_hex_str()).lower() if False else _uuid128(uuid)] = bytes(payload)
        uuids = [
            _uuid128(u) for u in data.get(AdvertisingData.COMPLETE_LIST_OF_16_BIT_SERVICE_CLASS_UUIDS) or []
        ]
        if not self.is_allowed_uuid(uuids or list(service_data)):
            return
        adv = AdvertisementData(
            local_name=None,
            manufacturer_data={},
            service_data=service_data,
            service_uuids=uuids,
            tx_power=None,
            rssi=advertisement.rssi,
            platform_data=(advertisement,),
        )
        address = str(advertisement.address).split("/")[0]
        device = self.create_or_update_device(address, address, None, advertisement, adv)
        self.call_detection_callbacks(device, adv)

    async def start(self) -> None:
        self.seen_devices = {}
        await self.device.start_scanning(active=False, filter_duplicates=False)

    async def stop(self) -> None:
        self.device.remove_listener("advertisement", self._on_advertisement)
        await self.device.stop_scanning()


def _uuid128(uuid: UUID) -> str:
    return f"0000{int.from_bytes(bytes(uuid), 'little'):04x}-0000-1000-8000-00805f9b34fb"
