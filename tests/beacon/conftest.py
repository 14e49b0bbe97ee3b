"""Fixtures: beacons on one virtual air with a simulated clock, and a real tracer server on loopback."""

from __future__ import annotations

import json
import random
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from beacon.clock import SimClock
from beacon.daemon import Daemon
from beacon.radio import Advertiser, Scanner
from beacon.radio.channel import Channel
from beacon.radio.virtual import Position, VirtualAir, VirtualRadio
from beacon.schedule import KeySchedule
from beacon.store import BeaconStore
from beacon.sync import Syncer
from beacon.warn import Notifier
from protocol.export import VerificationKey
from sim.server import free_port, serve_in_thread
from tracer_server.clock import ManualClock, utcnow
from tracer_server.db import transaction
from tracer_server.services.officials import create_official
from tracer_server.settings import Settings

DAY = 20_414  # 2025-11-22, a UTC day number
T0 = DAY * 86_400.0


@dataclass
class Beacon:
    name: str
    radio: VirtualRadio
    store: BeaconStore
    schedule: KeySchedule
    daemon: Daemon
    notifier: Notifier


@dataclass
class World:
    air: VirtualAir
    clock: SimClock
    tmp: Path
    beacons: list[Beacon]

    def add(self, name: str, position: Position, *, syncer: Any = None, seed: int = 0) -> Beacon:
        radio = self.air.attach(name, position)
        store = BeaconStore(self.tmp / name)
        rng = random.Random(f"{name}/{seed}")
        schedule = KeySchedule(store, rng=rng, tek_rng=rng.randbytes)
        notifier = Notifier(desktop=False)
        daemon = Daemon(
            schedule=schedule,
            store=store,
            scanner=Scanner(radio.scanner),
            advertiser=Advertiser(radio.advertiser),
            syncer=syncer,
            clock=self.clock,
            rng=rng,
        )
        beacon = Beacon(name, radio, store, schedule, daemon, notifier)
        self.beacons.append(beacon)
        return beacon

    async def run_until(self, end: float, step: float = 30.0) -> None:
        """Step every daemon through simulated time."""
        while self.clock.now() < end:
            self.clock.set(min(end, self.clock.now() + step))
            for beacon in self.beacons:
                await beacon.daemon.tick()


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    w = World(
        VirtualAir(Channel(), np.random.default_rng(7), address_rng=random.Random(7).randbytes),
        SimClock(T0),
        tmp_path,
        [],
    )
    yield w
    for beacon in w.beacons:
        beacon.store.close()


@dataclass
class LiveServer:
    url: str
    clock: ManualClock
    settings: Settings
    app: Any
    api_key: str

    @property
    def state(self) -> Any:
        return self.app.state.bluezone

    @property
    def verification_key(self) -> VerificationKey:
        key: VerificationKey = self.app.state.bluezone.keys.export_verification
        return key


@pytest.fixture
def live_server(tmp_path: Path) -> Iterator[LiveServer]:
    """A real tracer server (uvicorn, SQLite) on a loopback port, its clock set by the test."""
    settings = Settings(data_dir=tmp_path / "server", export_min_keys=50, export_padding_range=5)
    clock = ManualClock(datetime.fromtimestamp(T0, UTC))
    with serve_in_thread(settings, clock) as server:
        with transaction(server.state.factory) as db:
            _, api_key = create_official(
                db=db, keys=server.state.keys, name="Official", role="official", now=utcnow(clock)
            )
        yield LiveServer(server.url, clock, settings, server.app, api_key)


def syncer_for(beacon_store: BeaconStore, server: LiveServer, notifier: Notifier) -> Syncer:
    return Syncer(
        beacon_store, server_url=server.url, pinned_keys=[server.verification_key], notifier=notifier
    )


# ---- helpers added for the beacon unit tests ---------------------------------------------------


def dead_url() -> str:
    """An http URL on a loopback port nothing listens on: a server that is down."""
    return f"http://127.0.0.1:{free_port()}/"


def set_server_time(server: LiveServer, when: float) -> None:
    server.clock.at = datetime.fromtimestamp(when, UTC)


def issue_code(server: LiveServer, **fields: Any) -> dict[str, Any]:
    """An official issues a code (``POST /api/issue``); the answer holds ``code`` and ``longCode``."""
    body = {"testType": "confirmed", "tzOffset": 0, **fields}
    request = urllib.request.Request(
        server.url + "api/issue",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json", "X-API-Key": server.api_key},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        answer: dict[str, Any] = json.loads(response.read())
    return answer


def published_keys(server: LiveServer) -> dict[bytes, tuple[int, int]]:
    """What the server stored: key → (rolling start, rolling period)."""
    from sqlalchemy import select

    from tracer_server.models import Exposure

    with transaction(server.app.state.bluezone.factory) as db:
        rows = db.execute(select(Exposure.key_data, Exposure.rolling_start, Exposure.rolling_period))
        return {bytes(key): (start, period) for key, start, period in rows}
