"""Runs inside the qemu VM (``vm.py``) against the real bluetoothd: prints one JSON result.

The beacon's own daemon advertises on hci0 (``BlueZAdvertiser``) while a witness scans on hci1
through bleak and the same bluetoothd; the simulated clock moves past a rotation each round so
the daemon picks a new RPI, and the witness records which addresses carried which RPI. The host
side (``test_bluez_qemu.py``) judges the result.

The witness is plain bleak without the RSSI threshold that :class:`BleakScanBackend` sets:
btvirt's controllers report no RSSI (0x7f), and the kernel drops such reports under a threshold.

    python guest.py ROUNDS TX_POWER_DBM
    python guest.py listen SECONDS        # only the witness, on hci1: what it heard

``TX_POWER_DBM`` plays the beacon's calibrated ``tx_power_dbm``: requested where the adapter can
set the power, claimed by the metadata where it cannot (as ``bluezone beacon run`` does). The
result ends with what ``bluezone beacon selftest`` says about the same adapter.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from beacon import selftest
from beacon.clock import SimClock
from beacon.daemon import Daemon
from beacon.radio import Advertiser, AdvertReport, RawAdvert, Scanner, ScannerBackend
from beacon.radio.bluez_adv import BlueZAdvertiser, BlueZOptions
from beacon.schedule import KeySchedule
from beacon.settings import BeaconSettings
from beacon.store import BeaconStore
from protocol.advert import SERVICE_UUID, Metadata
from protocol.keys import decrypt_aem, derive_aemk

MARK = "BLUEZONE-VM-RESULT "
HEAR_TIMEOUT_S = 30.0
DWELL_S = 1.0


async def _bluez_ready(adapters: tuple[str, ...]) -> None:
    """Wait until bluetoothd has the adapters, and power them on."""
    from dbus_fast import BusType, Variant
    from dbus_fast.aio import MessageBus

    bus = await MessageBus(bus_type=BusType.SYSTEM).connect()
    deadline = time.monotonic() + 30
    for adapter in adapters:
        while True:
            try:
                introspection = await bus.introspect("org.bluez", f"/org/bluez/{adapter}")
                break
            except Exception:
                if time.monotonic() > deadline:
                    raise
                await asyncio.sleep(0.3)
        props = bus.get_proxy_object("org.bluez", f"/org/bluez/{adapter}", introspection).get_interface(
            "org.freedesktop.DBus.Properties"
        )
        await props.call_set("org.bluez.Adapter1", "Powered", Variant("b", True))  # type: ignore[attr-defined]
    bus.disconnect()


class Witness(ScannerBackend):
    def __init__(self, adapter: str) -> None:
        self.adapter = adapter
        self._scanner: Any = None

    async def start(self, callback: Callable[[RawAdvert], None]) -> None:
        from bleak import BleakScanner

        def detected(device: Any, data: Any) -> None:
            callback(RawAdvert(device.address, int(data.rssi), time.time(), dict(data.service_data)))

        self._scanner = BleakScanner(
            detected, [SERVICE_UUID], bluez={"adapter": self.adapter, "filters": {"DuplicateData": True}}
        )
        await self._scanner.start()

    async def stop(self) -> None:
        if self._scanner is not None:
            await self._scanner.stop()


async def main(rounds: int, tx_power_dbm: int) -> dict[str, object]:
    await _bluez_ready(("hci0", "hci1"))
    if os.environ.get("BLUEZONE_VM_CONNECTABLE"):
        await _make_connectable("0")
    state = Path(tempfile.mkdtemp())
    store = BeaconStore(state)
    clock = SimClock(1_800_000_000.0)
    metadata = Metadata(tx_power_dbm, version_minor=1, calibration_confidence=0)
    schedule = KeySchedule(store, rng=random.Random(1), metadata=metadata)
    backend = BlueZAdvertiser(BlueZOptions(adapter="hci0", tx_power_dbm=tx_power_dbm))
    advertiser = Advertiser(backend)
    scanner = Scanner(Witness("hci1"))
    heard: list[AdvertReport] = []
    scanner.on_report(heard.append)
    daemon = Daemon(
        schedule=schedule, store=store, scanner=scanner, advertiser=advertiser, syncer=None,
        clock=clock, rng=random.Random(2),
    )  # fmt: skip
    result: dict[str, object] = {"rounds": []}
    try:
        for _ in range(rounds):
            await daemon.tick()
            assert schedule.current is not None
            rpi = schedule.current.rpi
            tek = schedule.tek_for(clock.now())
            deadline = time.monotonic() + HEAR_TIMEOUT_S
            while time.monotonic() < deadline and not any(r.rpi == rpi for r in heard):
                await asyncio.sleep(0.2)
            await asyncio.sleep(DWELL_S)
            mine = [r for r in heard if r.rpi == rpi]
            claimed = (
                Metadata.from_bytes(decrypt_aem(derive_aemk(tek.tek), rpi, mine[-1].aem)).tx_power_dbm
                if mine
                else None
            )
            result["rounds"].append(  # type: ignore[attr-defined]
                {
                    "rpi": rpi.hex(),
                    "addresses": sorted({r.address for r in mine}),
                    "reports": len(mine),
                    "aem_tx_power_dbm": claimed,
                    "applied_tx_power_dbm": advertiser.tx_power_dbm,
                }
            )
            clock.advance(1201)  # past the longest rotation delay: the next tick picks a new RPI
        result["registrations"] = backend.registrations
        result["can_set_tx_power"] = backend.can_set_tx_power
        result["tx_power_range_dbm"] = backend.tx_power_range_dbm
        result["other_rpis"] = len(
            {r.rpi for r in heard} - {bytes.fromhex(x["rpi"]) for x in result["rounds"]}
        )  # type: ignore[index, union-attr]
    finally:
        await daemon.stop()
    settings = BeaconSettings(state_dir=state, adapter="hci0", tx_power_dbm=tx_power_dbm)
    checks = await selftest.run_selftest(settings)
    result["selftest"] = {c.name: {"status": c.status, "detail": c.detail} for c in checks}
    result["adapter_address"] = await _address("hci0")
    return result


async def _make_connectable(index: str) -> None:
    """After bluetoothd has powered the adapter (it may reset the mode while it does)."""
    for _ in range(50):
        subprocess.run(["btmgmt", "--index", index, "connectable", "on"], capture_output=True)
        info = subprocess.run(["btmgmt", "--index", index, "info"], capture_output=True, text=True).stdout
        if any("current settings" in line and "connectable" in line for line in info.splitlines()):
            return
        await asyncio.sleep(0.2)
    raise RuntimeError("the adapter would not become connectable")


async def _address(adapter: str) -> str:
    from dbus_fast import BusType
    from dbus_fast.aio import MessageBus

    bus = await MessageBus(bus_type=BusType.SYSTEM).connect()
    introspection = await bus.introspect("org.bluez", f"/org/bluez/{adapter}")
    props: Any = bus.get_proxy_object("org.bluez", f"/org/bluez/{adapter}", introspection).get_interface(
        "org.freedesktop.DBus.Properties"
    )
    address = (await props.call_get("org.bluez.Adapter1", "Address")).value
    bus.disconnect()
    return str(address)


async def listen(seconds: float) -> dict[str, object]:
    """Hear whatever beacon advertises (the one the systemd unit's command started), at most ``seconds``."""
    scanner = Scanner(Witness("hci1"))
    heard: list[AdvertReport] = []
    scanner.on_report(heard.append)
    deadline = time.monotonic() + seconds
    async with scanner:  # until a beacon is heard, and a little more, or the deadline
        while time.monotonic() < deadline and not heard:
            await asyncio.sleep(0.2)
        await asyncio.sleep(min(DWELL_S, max(0.0, deadline - time.monotonic())))
    by_rpi: dict[str, set[str]] = {}
    for report in heard:
        by_rpi.setdefault(report.rpi.hex(), set()).add(report.address)
    return {"heard": {rpi: sorted(addresses) for rpi, addresses in by_rpi.items()}}


if __name__ == "__main__":
    if sys.argv[1] == "listen":
        outcome = asyncio.run(listen(float(sys.argv[2])))
    else:
        outcome = asyncio.run(main(int(sys.argv[1]), int(sys.argv[2])))
    print(MARK + json.dumps(outcome), flush=True)
