"""The real beacon daemon, ``kill -9``ed at random moments and restarted, many times over.

Two daemons (alice and bob, 1 m apart on one virtual air, each with its own state directory)
run in a child process on a clock that runs 300 times real time from a fixed point across
restarts, so each run scans a window every second or so, rotates its RPI every few seconds and
crosses a UTC midnight halfway through. Right before each kill the test reads what is
committed, from outside; after it, the real store must open, hold all of it unchanged (the same
sealed TEKs, so the same key schedule; the same scans and sightings), hold one TEK per day,
and no temp file may be left beside the key once it has.
"""

from __future__ import annotations

import random
import select
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path

import pytest

from beacon.store import BeaconStore

REPO = Path(__file__).resolve().parents[2]
NAMES = ("alice", "bob")
SPEED = 300.0
BUDGET_S = 40.0  # rounds are started until this much time has gone by

CHILD = textwrap.dedent(
    """
    import asyncio, random, sys, time
    from pathlib import Path

    import numpy as np

    from beacon.daemon import Daemon
    from beacon.radio import Advertiser, Scanner
    from beacon.radio.channel import Channel
    from beacon.radio.virtual import VirtualAir
    from beacon.schedule import KeySchedule
    from beacon.store import BeaconStore

    state, epoch, t0, speed = Path(sys.argv[1]), float(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4])


    class FastClock:
        # Simulated time at `speed` times real time, from (epoch, t0): it goes on across restarts.
        def now(self):
            return t0 + (time.time() - epoch) * speed

        async def sleep_until(self, when):
            await asyncio.sleep(max(0.0, (when - self.now()) / speed))


    async def main():
        clock = FastClock()
        air = VirtualAir(Channel(), np.random.default_rng(), address_rng=random.Random().randbytes)
        daemons = []
        for name, position in (("alice", (0.0, 0.0)), ("bob", (1.0, 0.0))):
            radio = air.attach(name, position)
            store = BeaconStore(state / name)
            rng = random.Random()
            daemons.append(Daemon(
                schedule=KeySchedule(store, rng=rng), store=store, scanner=Scanner(radio.scanner),
                advertiser=Advertiser(radio.advertiser), syncer=None, clock=clock, rng=rng,
            ))
        print("running", flush=True)
        await asyncio.gather(*(daemon.run(asyncio.Event()) for daemon in daemons))


    asyncio.run(main())
    """
)


@dataclass(frozen=True)
class Committed:
    teks: dict[int, tuple[int, int, bytes]]  # id → (rolling start, rolling period, sealed)
    scans: frozenset[float]
    sightings: frozenset[tuple[bytes, float, bytes, int, int]]


def committed(state: Path) -> Committed:
    """What another process sees committed in the store, read-only, without its key."""
    database = state / "beacon.db"
    if not database.exists():
        return Committed({}, frozenset(), frozenset())
    with closing(sqlite3.connect(f"file:{database}?mode=ro", uri=True, timeout=10)) as db:
        try:
            teks = {
                i: (s, p, bytes(b))
                for i, s, p, b in db.execute("SELECT id, rolling_start, rolling_period, sealed FROM teks")
            }
            scans = frozenset(row[0] for row in db.execute("SELECT start FROM scans"))
            sightings = frozenset(
                (bytes(r), w, bytes(a), c, total)
                for r, w, a, c, total in db.execute("SELECT rpi, window, aem, count, rssi_sum FROM sightings")
            )
        except sqlite3.OperationalError as exc:  # the very first start: no tables yet
            assert "no such table" in str(exc), exc
            return Committed({}, frozenset(), frozenset())
    return Committed(teks, scans, sightings)


def temp_files(state: Path) -> list[str]:
    return sorted(p.name for p in state.iterdir() if ".tmp-" in p.name) if state.exists() else []


def _wait_for_line(child: subprocess.Popen[str], seconds: float) -> bool:
    assert child.stdout is not None
    ready, _, _ = select.select([child.stdout], [], [], seconds)
    return bool(ready) and child.stdout.readline() == "running\n"


@pytest.mark.slow
def test_the_daemon_killed_at_random_moments_loses_nothing_committed(tmp_path: Path) -> None:
    rng = random.Random(45)
    epoch = time.time()
    t0 = (int(epoch // 86_400) * 86_400) - 2 * 3600.0  # 22:00 UTC: midnight comes after 24 s
    seen = {name: Committed({}, frozenset(), frozenset()) for name in NAMES}
    rounds = running_rounds = 0
    while time.time() - epoch < BUDGET_S or rounds < 8:
        child = subprocess.Popen(
            [sys.executable, "-c", CHILD, str(tmp_path), str(epoch), str(t0), str(SPEED)],
            cwd=REPO,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            if rng.random() < 0.3:  # anywhere in the start: imports, opening the store, the first key
                time.sleep(rng.uniform(0.0, 1.5))
            else:  # while it scans, rotates and writes
                assert _wait_for_line(child, 30), "the daemon did not start"
                running_rounds += 1
                time.sleep(rng.uniform(0.0, 3.0))
            assert child.poll() is None, f"the daemon died on its own: {child.communicate()[1]}"
            before = {name: committed(tmp_path / name) for name in NAMES}
            child.send_signal(signal.SIGKILL)
            child.wait(10)
        finally:
            if child.poll() is None:
                child.kill()
                child.wait(10)
            child.communicate()
        assert child.returncode == -signal.SIGKILL
        rounds += 1

        for name in NAMES:
            state = tmp_path / name
            now = committed(state)
            for earlier in (seen[name], before[name]):
                assert all(now.teks.get(i) == tek for i, tek in earlier.teks.items()), (rounds, name)
                assert earlier.scans <= now.scans and earlier.sightings <= now.sightings, (rounds, name)
            starts = [start for start, _, _ in now.teks.values()]
            assert len(starts) == len(set(starts)), f"two keys for one day after round {rounds}"
            if state.exists():
                store = BeaconStore(state)  # opens: the key file is whole and opens every TEK
                try:
                    assert len(store.teks()) == len(now.teks)
                    assert store.db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
                finally:
                    store.close()
            assert temp_files(state) == [], (rounds, name, temp_files(state))
            seen[name] = now

    alice, bob = seen["alice"], seen["bob"]
    assert running_rounds >= 4 and len(alice.scans) >= 10, (rounds, running_rounds, len(alice.scans))
    assert alice.sightings and bob.sightings  # each heard the other, and kept it
    assert len({start for start, _, _ in alice.teks.values()}) == 2  # midnight: the next day's key


FIRST_STARTS = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from beacon.store import BeaconStore

    root, n = Path(sys.argv[1]), int(sys.argv[2])
    while True:  # first starts, one after the other: each makes a key file and a database
        BeaconStore(root / f"state-{n}").close()
        print(n, flush=True)
        n += 1
    """
)


@pytest.mark.slow
def test_first_starts_killed_at_random_moments_never_block_the_next_start(tmp_path: Path) -> None:
    """A child makes fresh stores back to back (database, key file, key check) and is killed at
    random moments, six times: every state directory it touched opens at the next start, which
    leaves no temp file behind."""
    rng = random.Random(7)
    made = 0
    for _ in range(6):
        child = subprocess.Popen(
            [sys.executable, "-c", FIRST_STARTS, str(tmp_path), str(made)],
            cwd=REPO,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            first = _wait_for_number(child, 30)
            assert first is not None, "the child did not start"
            time.sleep(rng.uniform(0.0, 1.0))
            child.send_signal(signal.SIGKILL)
            child.wait(10)
        finally:
            if child.poll() is None:
                child.kill()
                child.wait(10)
            out, _ = child.communicate()
        last = max([first, *(int(line) for line in out.split())])
        made = last + 2  # the next child leaves alone the directory being made at the kill

    touched = sorted(tmp_path.glob("state-*"))
    assert len(touched) >= 12
    for state in touched:
        BeaconStore(state).close()  # the next start always works, and clears what a kill left
        assert temp_files(state) == [], state
        assert len((state / "tek.key").read_bytes()) == 32


def _wait_for_number(child: subprocess.Popen[str], seconds: float) -> int | None:
    assert child.stdout is not None
    ready, _, _ = select.select([child.stdout], [], [], seconds)
    line = child.stdout.readline() if ready else ""
    return int(line) if line.strip() else None
