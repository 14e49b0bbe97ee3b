"""E3: anonymous "active today" counts per district and UTC day, and what the console shows."""

from __future__ import annotations

import csv
import io
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import inspect, select

from beacon.settings import BeaconSettings
from tracer_server.clock import utcnow
from tracer_server.db import transaction
from tracer_server.errors import ServerError
from tracer_server.models import ActivityCount
from tracer_server.services import adoption

from .conftest import Server
from .test_cli import bluezone


def _load(server: Server) -> None:
    with transaction(server.state.factory) as db:
        assert len(adoption.load_districts(db)) == 7


def _signal(server: Server, district: str, **headers: str) -> int:
    response = server.client.post(
        "/api/user-activity", json={"district": district, "padding": "AAAA"}, headers=headers
    )
    return response.status_code


def test_district_codes_are_ascii_slugs_of_the_names() -> None:
    assert adoption.district_code("Huyện Chiêm Hóa") == "chiem-hoa"
    assert adoption.district_code("TP Tuyên Quang") == "tuyen-quang"
    assert adoption.district_code("Huyện Lâm Bình") == "lam-binh"


def test_signals_count_per_district_and_utc_day(server: Server) -> None:
    _load(server)
    for _ in range(3):
        assert _signal(server, "chiem-hoa") == 200
        server.clock.advance(seconds=61)  # the per-client limit is per minute
    server.clock.advance(days=1)
    assert _signal(server, "chiem-hoa") == 200
    assert _signal(server, "ham-yen") == 200
    with server.state.factory() as db:
        counts = {(r.district, r.day): r.count for r in db.scalars(select(ActivityCount))}
    day = utcnow(server.clock).date()
    assert counts == {
        ("chiem-hoa", day - timedelta(days=1)): 3,
        ("chiem-hoa", day): 1,
        ("ham-yen", day): 1,
    }


def test_nothing_per_device_is_stored(server: Server) -> None:
    _load(server)
    _signal(server, "na-hang")
    with server.state.factory() as db:
        columns = {c["name"] for c in inspect(db.get_bind()).get_columns("activity_counts")}
    assert columns == {"district", "day", "count"}


def test_unknown_districts_chaff_and_floods_do_not_count(server: Server) -> None:
    _load(server)
    assert _signal(server, "atlantis") == 400  # counts against the client's minute too
    assert _signal(server, "yen-son", **{"X-Chaff": "1"}) == 200
    server.clock.advance(seconds=61)
    statuses = [_signal(server, "yen-son") for _ in range(5)]
    assert statuses == [200, 200, 200, 429, 429]  # 3 a minute per client, identifiers HMAC'd daily
    with server.state.factory() as db:
        assert db.scalar(select(ActivityCount.count).where(ActivityCount.district == "yen-son")) == 3


def test_report_shares_targets_small_counts_and_csv(server: Server) -> None:
    _load(server)
    yesterday = utcnow(server.clock) - timedelta(days=1)
    with transaction(server.state.factory) as db:
        for _ in range(12):
            adoption.record_activity(db, "tuyen-quang", yesterday)
        for _ in range(4):
            adoption.record_activity(db, "lam-binh", yesterday)
        adoption.set_target(db, "tuyen-quang", 0.6, yesterday.date() + timedelta(days=90))
    with server.state.factory() as db:
        rows = {r.code: r for r in adoption.report(db, utcnow(server.clock).date())}
    city = rows["tuyen-quang"]
    assert city.active == 12 and city.shown == "12"
    assert abs(city.share_smartphones - 12 / 101_883) < 1e-12
    assert city.progress is not None and abs(city.progress - (12 / 101_883) / 0.6) < 1e-12
    assert rows["lam-binh"].shown == "< 10"  # small counts are not shown exactly
    table = list(csv.DictReader(io.StringIO(adoption.report_csv(list(rows.values())))))
    assert {r["code"]: r["active_devices"] for r in table}["lam-binh"] == "< 10"


def test_two_names_with_one_code_are_refused(server: Server) -> None:
    """Their beacons' signals would be counted as one district."""
    text = "district,population,smartphones\nHuyện Na Hang,10,5\nThị xã Na Hang,20,8\n"
    with transaction(server.state.factory) as db, pytest.raises(ServerError, match="na-hang"):
        adoption.load_districts(db, text)


def test_load_districts_prints_each_code_and_how_a_beacon_is_configured_with_it(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    assert bluezone(data_dir, "init").returncode == 0
    run = bluezone(data_dir, "load-districts")
    assert run.returncode == 0, run.stderr
    lines = run.stdout.splitlines()
    assert lines[0] == "7 districts loaded" and lines[2].split() == ["code", "district"]
    printed = dict(line.split(maxsplit=1) for line in lines[3:10])
    assert printed["chiem-hoa"] == "Huyện Chiêm Hóa" and printed["tuyen-quang"] == "TP Tuyên Quang"
    assert all(adoption.district_code(name) == code for code, name in printed.items())
    # The lines it says to put in a beacon's config are settings the beacon knows.
    snippet = "\n".join(line.strip() for line in lines if line.startswith("  "))
    config = tmp_path / "beacon.toml"
    config.write_text(snippet.replace("CODE", "chiem-hoa"))
    settings = BeaconSettings.load(config, env={})
    assert settings.report_activity and settings.district == "chiem-hoa"
    (env_line,) = [line for line in lines if "BLUEZONE_BEACON_" in line]
    env = dict(word.split("=") for word in env_line.split() if word.startswith("BLUEZONE_BEACON_"))
    settings = BeaconSettings.load(env={k: v.replace("CODE", "na-hang") for k, v in env.items()})
    assert settings.report_activity and settings.district == "na-hang"
