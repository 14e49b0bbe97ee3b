"""The daemon: rotate, advertise, scan in logical windows, store, sync, purge; one ``tick`` at a time.

``Daemon(schedule, store, scanner, advertiser, syncer, clock)`` assembles parts built by the
caller. ``tick()`` does whatever is due at the clock's time and ``run()`` loops over it, sleeping
through the clock, so a test or the simulator steps many daemons through simulated days.
"""

from __future__ import annotations

import asyncio
import logging
import random
from dataclasses import dataclass, field, replace

from beacon.activity import ActivitySignal
from beacon.clock import SleepingClock
from beacon.radio import Advertiser, AdvertReport, RadioError, Scanner
from beacon.schedule import KeySchedule
from beacon.store import BeaconStore
from beacon.sync import Syncer, SyncError, SyncReport
from protocol.matching import Sighting
from protocol.scans import SCAN_DURATION_S, ScanSchedule, in_window

__all__ = ["Daemon"]

log = logging.getLogger("beacon")
_DAY = 86_400.0


@dataclass
class _Window:
    start: float
    # (rpi, aem) → [rssi...]: every AEM heard is kept, so a relay that sends a garbage AEM
    # first cannot hide the real one (matching picks the most frequent plausible metadata).
    heard: dict[tuple[bytes, bytes], list[int]] = field(default_factory=dict)

    def sightings(self) -> list[Sighting]:
        return [
            Sighting(
                rpi,
                aem,
                round(sum(r) / len(r)),
                self.start,
                max_rssi=max(r),
                count=len(r),
                min_rssi=min(r),
            )
            for (rpi, aem), r in self.heard.items()
        ]


class Daemon:
    def __init__(
        self,
        *,
        schedule: KeySchedule,
        store: BeaconStore,
        scanner: Scanner,
        advertiser: Advertiser,
        syncer: Syncer | None,
        clock: SleepingClock,
        rng: random.Random,
        sync_interval_s: float = 4 * 3600,
        activity: ActivitySignal | None = None,
    ) -> None:
        self.schedule, self.store, self.scanner, self.advertiser = schedule, store, scanner, advertiser
        self.syncer, self.clock, self.rng, self.activity = syncer, clock, rng, activity
        self.scans = ScanSchedule(rng)
        self.sync_interval_s = sync_interval_s
        self.window: _Window | None = None
        self.next_scan: float | None = None
        self.next_sync: float | None = None
        self.next_purge: float | None = None
        self.last_sync: SyncReport | None = None
        scanner.on_report(self._heard)

    def _heard(self, report: AdvertReport) -> None:
        window = self.window
        if window is None or not in_window(window.start, report.timestamp):
            return  # outside the scan window (a continuous scanner hears all the time)
        window.heard.setdefault((report.rpi, report.aem), []).append(report.rssi)

    def flush(self) -> None:
        """Commit the current window (one transaction) and forget it."""
        if self.window is not None:
            self.store.record_window(self.window.start, self.window.sightings())
            self.window = None

    async def start(self) -> None:
        now = self.clock.now()
        self.store.purge(now)
        await self.scanner.start()
        self.next_scan = self.scans.first(now)
        if self.syncer is not None:
            self.next_sync = now + self.rng.uniform(0, min(self.sync_interval_s, 600))
        self.next_purge = (now // _DAY + 1) * _DAY + self.rng.uniform(0, 3600)

    async def stop(self) -> None:
        self.flush()
        await self.advertiser.stop()
        await self.scanner.stop()

    async def tick(self) -> None:
        now = self.clock.now()
        if self.next_scan is None:
            await self.start()
            assert self.next_scan is not None
        if self.schedule.rotation_due(now):
            self._claim_applied_tx_power()
            advert = self.schedule.rotate(now)
            try:
                async with self.scanner.paused():  # a new address while scanning: disallowed
                    await self.advertiser.advertise(advert.service_data)
            except RadioError as exc:  # keep scanning: retried at the next rotation
                log.error("advertising failed: %s", exc)
            else:
                claimed = self.schedule.metadata.tx_power_dbm
                if self.store.advertised_tx_power() != claimed:
                    self.store.record_advertised_tx_power(claimed)
        if self.window is not None and now >= self.window.start + SCAN_DURATION_S:
            self.flush()  # the window closed: what the scanner hears from now on waits for the next
        while now >= self.next_scan:
            self.flush()
            self.window = _Window(self.next_scan)
            await self.scanner.scan_window(self.next_scan)
            if self.scanner.backend.windowed:
                self.flush()
            self.next_scan = self.scans.next(self.next_scan)
        assert self.next_purge is not None
        if now >= self.next_purge:
            removed = self.store.purge(now)
            log.info("retention: removed %s", {k: v for k, v in removed.items() if v})
            self.next_purge += _DAY
        if self.syncer is not None and self.next_sync is not None and now >= self.next_sync:
            await self.sync_now(now)
        if self.activity is not None:
            await self.activity.maybe_send(now)

    def _claim_applied_tx_power(self) -> None:
        """Where the stack set the TX power, the metadata claims what it applied (from the next
        RPI on: the address and the RPI change together, so no RPI is re-sent mid-interval)."""
        applied = self.advertiser.tx_power_dbm
        if applied is not None and applied != self.schedule.metadata.tx_power_dbm:
            log.info("the controller applied %d dBm: the metadata claims it", applied)
            self.schedule.metadata = replace(self.schedule.metadata, tx_power_dbm=applied)

    async def sync_now(self, now: float) -> SyncReport | None:
        assert self.syncer is not None
        self.next_sync = now + self.sync_interval_s * self.rng.uniform(0.9, 1.1)
        try:
            self.last_sync = await self.syncer.sync(now)
        except SyncError as exc:
            log.warning("sync failed, will retry: %s", exc)
            self.next_sync = now + min(self.sync_interval_s, 900)
            return None
        report = self.last_sync
        earlier = len(report.rejected_earlier)
        log.info(
            "sync: %d new files, %d keys, %d matches, %d rejected earlier",
            report.files, report.keys, report.matches, earlier,
        )  # fmt: skip
        return report

    def next_due(self) -> float:
        times = [t for t in (self.next_scan, self.next_purge, self.next_sync) if t is not None]
        if self.window is not None:
            times.append(self.window.start + SCAN_DURATION_S)
        if self.schedule.current is not None:
            times.append(self.schedule.current.until)
        if self.activity is not None and self.activity.next_at is not None:
            times.append(self.activity.next_at)
        return min(times) if times else self.clock.now()

    async def run(self, stop: asyncio.Event) -> None:
        """Tick until ``stop`` is set, sleeping through the clock between due times."""
        try:
            while not stop.is_set():
                await self.tick()
                sleeper = asyncio.ensure_future(self.clock.sleep_until(self.next_due()))
                stopper = asyncio.ensure_future(stop.wait())
                await asyncio.wait({sleeper, stopper}, return_when=asyncio.FIRST_COMPLETED)
                for task in (sleeper, stopper):
                    task.cancel()
        finally:
            await self.stop()
