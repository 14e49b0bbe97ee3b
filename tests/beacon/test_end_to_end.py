"""Done-when of the beacon: two daemons near each other, one reports through a running tracer
server, the export job publishes, the other syncs and is warned; a third far away is not."""

from __future__ import annotations

import asyncio
import json
import urllib.request
from datetime import UTC, datetime

import pytest

from beacon.report import Reporter
from tracer_server.clock import utcnow
from tracer_server.services.export_job import run_export

from .conftest import T0, LiveServer, World, syncer_for


def _issue(server: LiveServer) -> str:
    request = urllib.request.Request(
        server.url + "api/issue",
        data=json.dumps({"testType": "confirmed", "symptomDate": "2025-11-21", "tzOffset": 0}).encode(),
        headers={"Content-Type": "application/json", "X-API-Key": server.api_key},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return str(json.loads(response.read())["code"])


def test_near_beacon_is_warned_and_far_beacon_is_not(world: World, live_server: LiveServer) -> None:
    async def scenario() -> None:
        def bob_position(t: float) -> tuple[float, float]:
            # Day D, 09:00-09:40: Bob sits a metre from Alice; otherwise he is 40 m away.
            return (1.0, 0.0) if T0 + 9 * 3600 <= t < T0 + 9 * 3600 + 2400 else (0.0, 40.0)

        alice = world.add("alice", (0.0, 0.0))
        bob = world.add("bob", bob_position)
        carol = world.add("carol", (150.0, 0.0))  # down the street all day
        await world.run_until(T0 + 8 * 3600, step=600)
        await world.run_until(T0 + 11 * 3600, step=30)
        assert max(s.strongest_rssi for s in bob.store.sightings()) > -85

        # D+1, 08:00: Alice tests positive; an official issues a code; she reports.
        world.clock.set(T0 + 86_400 + 8 * 3600)
        live_server.clock.at = datetime.fromtimestamp(world.clock.now(), UTC)
        code = await asyncio.to_thread(_issue, live_server)
        reporter = Reporter(alice.store, alice.schedule, server_url=live_server.url)
        outcome = await reporter.report(code, consent=lambda keys, test: True, now=world.clock.now())
        assert outcome.inserted >= 1 and outcome.revision_token
        assert [u[2] for u in alice.store.uploads()] == ["published"]

        # The export window closes; the job publishes.
        state = live_server.app.state.bluezone
        report = run_export(
            factory=state.factory,
            settings=live_server.settings,
            storage=state.storage,
            signing_keys=[state.keys.export_signing],
            now=utcnow(live_server.clock),
            close_window=True,
        )
        assert report.keys >= 1

        for beacon in (bob, carol):
            syncer = syncer_for(beacon.store, live_server, beacon.notifier)
            result = await syncer.sync(world.clock.now())
            assert result.files == len(report.files) and not result.rejected

        assert [n.withdrawn for n in bob.notifier.sent] == [False]
        assert bob.notifier.sent[0].day == int(T0 // 86_400)
        assert bob.notifier.sent[0].weighted_minutes > 15
        assert carol.notifier.sent == []
        assert bob.store.warnings()[0]["withdrawn"] is None

    asyncio.run(scenario())


def test_opted_in_beacons_are_counted_and_the_others_send_chaff(
    world: World, live_server: LiveServer
) -> None:
    from beacon.activity import ActivitySignal
    from tracer_server.db import transaction
    from tracer_server.models import ActivityCount
    from tracer_server.services.adoption import load_districts

    with transaction(live_server.state.factory) as db:
        load_districts(db)

    async def scenario() -> list[int]:
        signals = [
            ActivitySignal(live_server.url, "chiem-hoa", opted_in=True, rng=__import__("random").Random(1)),
            ActivitySignal(live_server.url, "", opted_in=False, rng=__import__("random").Random(2)),
        ]
        for hour in range(0, 49):  # two days, hourly
            now = T0 + hour * 3600
            live_server.clock.at = datetime.fromtimestamp(now, UTC)
            for signal in signals:
                await signal.maybe_send(now)
        return [s.sent for s in signals]

    sent = asyncio.run(scenario())
    assert sent == [2, 2]  # one a day each
    with live_server.state.factory() as db:
        counts = {(r.district, r.day.isoformat()): r.count for r in db.query(ActivityCount)}
    assert sum(counts.values()) == 2 and all(d == "chiem-hoa" for d, _ in counts)


def test_chaff_and_real_signals_have_the_same_size_and_shape_and_chaff_carries_no_district(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Before, a beacon that had not opted in sent its configured district in the chaff, and chaff
    carried an X-Chaff header and a size the real signals lacked."""
    import json
    import random

    from beacon.activity import BODY_BYTES, ActivitySignal

    sent: list[tuple[bytes, dict[str, str]]] = []
    real = ActivitySignal("http://127.0.0.1:9/", "chiem-hoa", opted_in=True, rng=random.Random(1))
    chaff = ActivitySignal("http://127.0.0.1:9/", "chiem-hoa", opted_in=False, rng=random.Random(2))
    for signal in (real, chaff):

        async def capture(data: bytes, headers: dict[str, str]) -> None:
            sent.append((data, headers))

        monkeypatch.setattr(signal, "_post", capture)
        signal.next_at = 0.0
        asyncio.run(signal.maybe_send(1.0))
    (real_body, real_headers), (chaff_body, chaff_headers) = sent
    assert len(real_body) == len(chaff_body) == BODY_BYTES
    assert set(real_headers) == set(chaff_headers) and real_headers["X-Chaff"] == "0"
    assert json.loads(real_body)["district"] == "chiem-hoa"
    assert json.loads(chaff_body)["district"] == "" and b"chiem-hoa" not in chaff_body


def test_report_activity_without_a_district_is_a_settings_error_not_a_traceback() -> None:
    from beacon.settings import BeaconSettings, SettingsError

    with pytest.raises(SettingsError, match="report_activity needs district"):
        BeaconSettings.load(env={"BLUEZONE_BEACON_REPORT_ACTIVITY": "true"})
