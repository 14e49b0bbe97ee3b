"""The beacon's cost for a simulated day with 50 neighbours: CPU, peak RSS, database growth.

One daemon under test (key schedule, scan windows, store) on the virtual air with 50
neighbours whose adverts rotate every ~15 minutes, stepped through 24 simulated hours. Prints

* CPU seconds of the daemon (the virtual air's own sampling, which stands in for the BLE stack,
  is timed apart and subtracted) and that as a share of one core over the day;
* the same for an idle daemon (no neighbours) in the same process: the baseline ratio;
* peak RSS of the process (with numpy, which the virtual air needs and a real radio does not);
* database size after the day (WAL checkpointed).

    python bench/beacon.py [--neighbours 50] [--hours 24]
"""

from __future__ import annotations

import sys
from pathlib import Path

# Run as a script, this file's folder comes first on sys.path and its name would shadow the
# beacon package it measures.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

import argparse
import asyncio
import random
import resource
import tempfile
import time

import numpy as np

from beacon.clock import SimClock
from beacon.daemon import Daemon
from beacon.radio import Advertiser, Scanner
from beacon.radio.channel import Channel
from beacon.radio.virtual import VirtualAir
from beacon.schedule import KeySchedule
from beacon.store import BeaconStore
from protocol.advert import service_data

T0 = 20_414 * 86_400.0


async def one_day(neighbours: int, hours: float, state: Path) -> tuple[float, float, int, int]:
    rng = random.Random(1)
    air = VirtualAir(Channel(), np.random.default_rng(1), address_rng=rng.randbytes)
    sample = air.sample
    air_seconds = 0.0

    def timed_sample(receiver, start):  # type: ignore[no-untyped-def]
        nonlocal air_seconds
        t = time.process_time()
        out = sample(receiver, start)
        air_seconds += time.process_time() - t
        return out

    air.sample = timed_sample  # type: ignore[method-assign]
    me = air.attach("me", (0.0, 0.0))
    others = [air.attach(f"n{i}", (rng.uniform(-8, 8), rng.uniform(-8, 8))) for i in range(neighbours)]
    clock = SimClock(T0)
    store = BeaconStore(state)
    daemon = Daemon(
        schedule=KeySchedule(store, rng=rng, tek_rng=rng.randbytes),
        store=store,
        scanner=Scanner(me.scanner),
        advertiser=Advertiser(me.advertiser),
        syncer=None,
        clock=clock,
        rng=rng,
    )
    next_rotation = {o.name: T0 for o in others}
    start_cpu = time.process_time()
    end = T0 + hours * 3600
    while clock.now() < end:
        clock.advance(30)
        for o in others:  # neighbours rotate like GAEN devices (their cost is not the daemon's)
            if clock.now() >= next_rotation[o.name]:
                t = time.process_time()
                await o.advertiser.advertise(0xFD6F, service_data(rng.randbytes(16), rng.randbytes(4)))
                air_seconds += time.process_time() - t
                next_rotation[o.name] = clock.now() + rng.uniform(601, 1199)
        await daemon.tick()
    await daemon.stop()
    cpu = time.process_time() - start_cpu - air_seconds
    rows = store.counts()["sightings"]
    store.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    store.close()
    size = sum(p.stat().st_size for p in state.iterdir() if p.name.startswith("beacon.db"))
    return cpu, air_seconds, size, rows


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--neighbours", type=int, default=50)
    parser.add_argument("--hours", type=float, default=24)
    parser.add_argument(
        "--bleak-bluezoo", type=float, default=0, metavar="SECONDS",
        help="also scan through bleak's BlueZ backend on BlueZoo for SECONDS and cost each report",
    )  # fmt: skip
    args = parser.parse_args()
    day_s = args.hours * 3600
    with tempfile.TemporaryDirectory() as tmp:
        idle_cpu, _, idle_size, _ = asyncio.run(one_day(0, args.hours, Path(tmp) / "idle"))
        cpu, air, size, rows = asyncio.run(one_day(args.neighbours, args.hours, Path(tmp) / "busy"))
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"simulated {args.hours:g} h with {args.neighbours} neighbours")
    print(f"daemon CPU:   {cpu:7.2f} s = {100 * cpu / day_s:.4f} % of a core (virtual air {air:.2f} s apart)")
    idle_share = 100 * idle_cpu / day_s
    print(f"idle daemon:  {idle_cpu:7.2f} s = {idle_share:.4f} % of a core; busy/idle {cpu / idle_cpu:.1f}")
    print(f"peak RSS:     {peak_mb:7.1f} MB (process, numpy included)")
    print(
        f"database:     {size / 1e6:7.2f} MB for {rows} aggregated sightings (idle: {idle_size / 1e6:.2f} MB)"
    )
    if args.bleak_bluezoo:
        cpu_bleak, reports = asyncio.run(bleak_on_bluezoo(10, args.bleak_bluezoo))
        per_report = cpu_bleak / max(reports, 1)
        realistic = args.neighbours * 4  # real BlueZ with DuplicateData: ~4 reports/s per neighbour
        print(
            f"bleak on BlueZoo: {reports} reports in {args.bleak_bluezoo:g} s, {1e3 * per_report:.2f} ms CPU each; "
            f"at {realistic} reports/s ({args.neighbours} neighbours): {100 * per_report * realistic:.1f} % of a core"
        )


async def bleak_on_bluezoo(adverts: int, seconds: float) -> tuple[float, int]:
    """CPU of our process per report heard through bleak's real BlueZ backend (BlueZoo)."""
    import os
    import shutil
    import signal
    import subprocess

    from beacon.radio.bleak_scan import BleakOptions, BleakScanBackend
    from beacon.radio.bluez_adv import BlueZAdvertiser, BlueZOptions

    started = subprocess.run(
        [shutil.which("dbus-daemon") or "dbus-daemon", "--session", "--print-address", "--fork", "--print-pid"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    address, pid = started.stdout.split()[:2]
    os.environ["DBUS_SYSTEM_BUS_ADDRESS"] = address
    adapters = [f"00:00:00:00:00:{i:02X}" for i in range(adverts + 1)]
    zoo = subprocess.Popen(
        [str(Path(sys.executable).with_name("bluezoo")), "--auto-enable", "--scan-interval", "1"]
        + [arg for a in adapters for arg in ("-a", a)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        await asyncio.sleep(2)
        senders = [
            BlueZAdvertiser(BlueZOptions(adapter=f"hci{i}", discoverable=True)) for i in range(1, adverts + 1)
        ]
        reports = 0

        def heard(_: object) -> None:
            nonlocal reports
            reports += 1

        backend = BleakScanBackend(BleakOptions(adapter="hci0"))
        await backend.start(heard)
        rng = random.Random(3)
        cpu0, end = time.process_time(), time.monotonic() + seconds
        advertising_cpu = 0.0
        while time.monotonic() < end:
            t = time.process_time()
            for sender in senders:  # rotate every second: BlueZoo reports only what changes
                await sender.advertise(0xFD6F, service_data(rng.randbytes(16), rng.randbytes(4)))
            advertising_cpu += time.process_time() - t
            await asyncio.sleep(1.0)
        cpu = time.process_time() - cpu0 - advertising_cpu
        await backend.stop()
        for sender in senders:
            await sender.stop()
        return cpu, reports
    finally:
        zoo.terminate()
        zoo.wait(10)
        os.kill(int(pid), signal.SIGTERM)


if __name__ == "__main__":
    main()
