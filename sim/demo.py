"""``bluezone demo``: the whole mechanism, live, on a fixed seed, in well under a minute.

A real tracer server (uvicorn on a free loopback port, SQLite in a temporary directory, its
clock following the demo's simulated clock) and four beacon daemons on the virtual air, through
a day and a half:

* day D, 12:00–12:25 — Bob sits about a metre from Alice at lunch;
* day D, 15:00–15:02 — Chi walks past Alice's desk;
* day D, 09:00–17:00 — Dung works in the next room, 3 m from Alice through a concrete wall;
* D+1, 07:30 — Alice tests positive: an official issues a code through ``/api/issue``, Alice's
  beacon reports through its ``report`` path, the export window closes, the job publishes, and
  every beacon syncs, matches and scores.

Then a table: who was a close contact (2 m, 15 minutes, same room) against who was warned, with
the weighted minutes and attenuations behind each and the margin to the threshold. Exit status
1 if any warning is wrong. ``--json`` prints the outcome for machines.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import random
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

__all__ = ["main", "run_demo"]

DAY = 20_414  # 2025-11-21
T0 = DAY * 86_400.0
H = 3600.0
SEED = 2021
WALL_LOSS_DB = 20.0  # a concrete wall (10–25 dB at 2.4 GHz)
CLOSE_M, CLOSE_MIN = 2.0, 15.0

Position = tuple[float, float]


def _alice(t: float) -> Position:
    return (0.0, 0.0) if T0 + 8 * H <= t < T0 + 18 * H else (0.0, 900.0)


def _bob(t: float) -> Position:
    if T0 + 12 * H <= t < T0 + 12 * H + 25 * 60:
        return (1.0, 0.3)  # lunch, side by side
    return (40.0, 0.0) if T0 + 8 * H <= t < T0 + 18 * H else (700.0, 700.0)


def _chi(t: float) -> Position:
    start = T0 + 15 * H
    if start <= t < start + 120:
        return (-2.0 + 4.0 * (t - start) / 120, 1.2)  # a slow walk past the desk
    return (0.0, 60.0) if T0 + 8 * H <= t < T0 + 18 * H else (-800.0, 0.0)


def _dung(t: float) -> Position:
    return (0.0, -3.0) if T0 + 9 * H <= t < T0 + 17 * H else (900.0, -900.0)


PEOPLE: dict[str, tuple[Callable[[float], Position], str]] = {
    "Alice": (_alice, "tests positive on D+1"),
    "Bob": (_bob, "sits ~1 m from Alice for 25 min"),
    "Chi": (_chi, "walks past Alice for 2 min"),
    "Dung": (_dung, "next room, 3 m through a wall, 8 h"),
}
SAME_ROOM = {"Bob": True, "Chi": True, "Dung": False}


@dataclass
class Outcome:
    rows: list[dict[str, Any]] = field(default_factory=list)
    events: list[str] = field(default_factory=list)
    correct: bool = True
    seconds: float = 0.0


def _ground_truth(name: str) -> float:
    """Minutes within 2 m of Alice on day D, in the same room."""
    if not SAME_ROOM[name]:
        return 0.0
    where = PEOPLE[name][0]
    step = 10.0
    near = sum(
        step
        for k in range(int(86_400 / step))
        if math.dist(where(T0 + k * step), _alice(T0 + k * step)) <= CLOSE_M
    )
    return near / 60


async def _scenario(
    workdir: Path, log: Callable[[str], None], view: Callable[[dict[str, Any]], None]
) -> Outcome:
    import numpy as np

    from beacon.clock import SimClock
    from beacon.daemon import Daemon
    from beacon.radio import Advertiser, Scanner
    from beacon.radio.channel import Channel
    from beacon.radio.virtual import VirtualAir
    from beacon.report import Reporter
    from beacon.schedule import KeySchedule
    from beacon.store import BeaconStore
    from beacon.sync import Syncer
    from beacon.warn import Notifier
    from protocol.risk import DEFAULT_RISK_CONFIG, daily_summaries, exposure_windows
    from sim.server import serve_in_thread
    from tracer_server.clock import utcnow
    from tracer_server.db import transaction
    from tracer_server.services.export_job import run_export
    from tracer_server.services.officials import create_official
    from tracer_server.settings import Settings

    started = time.monotonic()
    outcome = Outcome()

    def event(text: str) -> None:
        day = int(clock.now() // 86_400) - DAY
        stamp = datetime.fromtimestamp(clock.now(), UTC).strftime("%H:%M")
        line = f"{'D  ' if day == 0 else f'D+{day}'} {stamp}  {text}"
        outcome.events.append(line)
        log(line)

    rng = random.Random(SEED)
    clock = SimClock(T0)
    air = VirtualAir(Channel(), np.random.default_rng(SEED), address_rng=rng.randbytes)
    beacons: dict[str, Any] = {}
    for name, (where, _) in PEOPLE.items():
        radio = air.attach(name, where)
        store = BeaconStore(workdir / name.lower())
        person_rng = random.Random(f"{SEED}/{name}")
        schedule = KeySchedule(store, rng=person_rng, tek_rng=person_rng.randbytes)
        daemon = Daemon(
            schedule=schedule,
            store=store,
            scanner=Scanner(radio.scanner),
            advertiser=Advertiser(radio.advertiser),
            syncer=None,
            clock=clock,
            rng=person_rng,
        )
        beacons[name] = (radio, store, schedule, daemon, Notifier(desktop=False))
    air.set_obstruction(beacons["Alice"][0], beacons["Dung"][0], WALL_LOSS_DB)

    settings = Settings(data_dir=workdir / "server", export_min_keys=1000, export_padding_range=100)
    with serve_in_thread(settings, clock) as server:  # beacons and server on one simulated clock
        event(f"tracer server up at {server.url} (SQLite, demo clock)")
        with transaction(server.state.factory) as db:
            _, api_key = create_official(
                db=db, keys=server.state.keys, name="Official Tran", role="official", now=utcnow(clock)
            )

        last_view = 0.0
        end_of_day = T0 + 86_400 + 7.5 * H
        while clock.now() < end_of_day:
            clock.advance(30.0)
            for _, _, _, daemon, _ in beacons.values():
                await daemon.tick()
            if clock.now() - last_view >= 600:
                last_view = clock.now()
                view(_snapshot(clock.now(), beacons))
            for marker, text in (
                (T0 + 12 * H, "Bob sits down next to Alice for lunch"),
                (T0 + 15 * H, "Chi walks past Alice's desk"),
                (T0 + 9 * H, "Dung starts work in the next room"),
            ):
                if marker <= clock.now() < marker + 30:
                    event(text)

        event("Alice tests positive; the official issues a code")
        code = await asyncio.to_thread(_issue, server.url, api_key)
        event(f"code {code[:2]}…{code[-2:]} given to Alice (8 digits, valid 1 h)")
        _, alice_store, alice_schedule, _, _ = beacons["Alice"]
        reporter = Reporter(alice_store, alice_schedule, server_url=server.url)
        report = await reporter.report(code, consent=lambda keys, test: True, now=clock.now())
        event(f"Alice agrees; {report.inserted} of her keys uploaded (today's cut short)")
        clock.advance(600)
        exported = run_export(
            factory=server.state.factory,
            settings=settings,
            storage=server.state.storage,
            signing_keys=[server.state.keys.export_signing],
            now=utcnow(clock),
            close_window=True,
            rng=rng.randbytes,
        )
        event(
            f"export published: {exported.keys} real keys + {exported.padding} padding, "
            f"files {', '.join(exported.files)}"
        )
        pinned = [server.state.keys.export_verification]
        for name, (_, store, _, _, notifier) in beacons.items():
            syncer = Syncer(store, server_url=server.url, pinned_keys=pinned, notifier=notifier)
            result = await syncer.sync(clock.now())
            event(
                f"{name} syncs: {result.files} file(s), {result.keys} keys, {result.matches} matched RPIs"
                + ("  → WARNED" if result.warnings else "")
            )
        view(_snapshot(clock.now(), beacons))

    config = DEFAULT_RISK_CONFIG
    threshold = config.threshold_weighted_minutes
    reach = config.reach_db()
    for name in ("Bob", "Chi", "Dung"):
        _, store, _, _, notifier = beacons[name]
        windows = exposure_windows(store.matches(), scan_times=store.scan_times())
        summaries = {s.day: s for s in daily_summaries(windows)}
        minutes = summaries[DAY].weighted_minutes if DAY in summaries else 0.0
        scans = [scan for w in windows if w.day == DAY for scan in w.scan_instances]
        levels = [config.scan_attenuation(s.min_attenuation_db, s.typical_attenuation_db) for s in scans]
        counted = [level for level in levels if config.bucket_weight(level) > 0]
        truth = _ground_truth(name)
        expected = truth >= CLOSE_MIN
        warned = any(not n.withdrawn for n in notifier.sent)
        outcome.correct &= expected == warned
        outcome.rows.append(
            {
                "person": name,
                "what happened": PEOPLE[name][1],
                "minutes ≤ 2 m": round(truth, 1),
                "close contact": expected,
                "warned": warned,
                "weighted minutes": round(minutes, 1),
                "margin": round(minutes - threshold, 1),
                "scans heard": len(scans),
                "scans counted": len(counted),
                "attenuation dB (counted)": _span(counted)
                or f"none ≤ {reach} (best {min(levels, default='-')})",
            }
        )
    for _, store, _, _, _ in beacons.values():
        store.close()
    outcome.seconds = time.monotonic() - started
    return outcome


def _span(values: list[int]) -> str:
    return f"{min(values)}–{max(values)}" if values else ""


def _issue(url: str, api_key: str) -> str:
    request = urllib.request.Request(
        url + "api/issue",
        data=json.dumps({"testType": "confirmed", "symptomDate": "2025-11-21", "tzOffset": 0}).encode(),
        headers={"Content-Type": "application/json", "X-API-Key": api_key},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return str(json.loads(response.read())["code"])


def _snapshot(now: float, beacons: dict[str, Any]) -> dict[str, Any]:
    alice = beacons["Alice"][0].where(now)
    people = []
    for name, (radio, store, schedule, _, notifier) in beacons.items():
        current = schedule.current
        people.append(
            {
                "name": name,
                "distance to Alice": None if name == "Alice" else math.dist(radio.where(now), alice),
                "rpi": current.rpi.hex()[:8] if current else "-",
                "sightings": store.counts()["sightings"],
                "warned": any(not n.withdrawn for n in notifier.sent),
            }
        )
    return {"time": now, "people": people}


def _live_view(console: Any) -> tuple[Callable[[dict[str, Any]], None], Callable[[str], None], Any]:
    from rich.console import Group
    from rich.live import Live
    from rich.panel import Panel
    from rich.table import Table

    events: list[str] = []
    state: dict[str, Any] = {"snap": None}

    def render() -> Any:
        table = Table(title="who is near whom", expand=True)
        for column in ("person", "distance to Alice", "RPI on the air", "sightings stored", "status"):
            table.add_column(column)
        snap = state["snap"]
        if snap:
            for p in snap["people"]:
                d = p["distance to Alice"]
                table.add_row(
                    p["name"],
                    "-" if d is None else (f"[bold red]{d:.1f} m[/]" if d <= 2 else f"{d:.0f} m"),
                    p["rpi"],
                    str(p["sightings"]),
                    "[bold red]WARNED[/]" if p["warned"] else "",
                )
            stamp = datetime.fromtimestamp(snap["time"], UTC).strftime("%Y-%m-%d %H:%M UTC")
            table.caption = f"simulated time {stamp}"
        return Group(table, Panel("\n".join(events[-9:]) or "…", title="events"))

    live = Live(render(), console=console, refresh_per_second=12, transient=False)

    def view(snap: dict[str, Any]) -> None:
        state["snap"] = snap
        live.update(render())
        time.sleep(0.08)  # let a person watch: about 20 s for the day and a half

    def log(line: str) -> None:
        events.append(line)
        live.update(render())

    return view, log, live


def _print_table(console: Any, outcome: Outcome) -> None:
    from rich.table import Table

    table = Table(title="expected close contacts against warnings (threshold 15 weighted minutes a day)")
    keys = list(outcome.rows[0])
    for key in keys:
        table.add_column(key, overflow="fold")
    for row in outcome.rows:
        ok = row["close contact"] == row["warned"]
        table.add_row(*[("[green]" if ok else "[red]") + str(row[k]) for k in keys])
    console.print(table)
    verdict = "every warning is right" if outcome.correct else "A WARNING IS WRONG"
    console.print(f"{verdict} ({outcome.seconds:.1f} s)")


def run_demo(*, live: bool = False, log: Callable[[str], None] = lambda _: None) -> Outcome:
    with tempfile.TemporaryDirectory(prefix="bluezone-demo-") as tmp:
        if not live:
            return asyncio.run(_scenario(Path(tmp), log, lambda _: None))
        from rich.console import Console

        view, live_log, display = _live_view(Console())
        with display:
            return asyncio.run(_scenario(Path(tmp), live_log, view))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bluezone demo", description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print the outcome as JSON, no live view")
    args = parser.parse_args(argv)
    import logging

    logging.basicConfig(level=logging.ERROR)
    if args.json:
        outcome = run_demo()
        print(json.dumps({"correct": outcome.correct, "rows": outcome.rows, "events": outcome.events}))
    else:
        from rich.console import Console

        live = sys.stdout.isatty()
        outcome = run_demo(live=live, log=(lambda line: None) if live else print)
        _print_table(Console(), outcome)
    return 0 if outcome.correct else 1


if __name__ == "__main__":
    sys.exit(main())
