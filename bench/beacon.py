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


if __name__ == "__main__":
    main()
