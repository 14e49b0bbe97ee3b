"""E3: anonymous "active today" counts per district and UTC day, and what the console shows."""

from __future__ import annotations

import csv
import html
import io
import re
import xml.etree.ElementTree as ET
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import inspect, select

from beacon.settings import BeaconSettings
from tracer_server.clock import utcnow
from tracer_server.db import transaction
from tracer_server.errors import ServerError
from tracer_server.models import ActivityCount
from tracer_server.services import adoption

from .conftest import Server
from .test_cli import bluezone
from .test_console import _client, _csrf

SVG = "{http://www.w3.org/2000/svg}"


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
    assert city.share_smartphones is not None and abs(city.share_smartphones - 12 / 101_883) < 1e-12
    assert city.progress is not None and abs(city.progress - (12 / 101_883) / 0.6) < 1e-12
    assert rows["lam-binh"].shown == "< 10"  # small counts are not shown exactly
    table = list(csv.DictReader(io.StringIO(adoption.report_csv(list(rows.values())))))
    assert {r["code"]: r["active_devices"] for r in table}["lam-binh"] == "< 10"
    # Nor its shares, which times the population would give it back (0,01 % of 31.475 is 3).
    assert rows["lam-binh"].share_population is None and rows["lam-binh"].progress is None
    small = {r["code"]: r for r in table}["lam-binh"]
    assert small["share_of_population"] == small["share_of_smartphones"] == ""


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


# ---- the console's adoption page ----------------------------------------------------------------


def _admin(server: Server, lang: str = "vi") -> TestClient:
    client = _client(server, "Trần Thị Lan", "admin")
    if lang == "en":
        client.post("/console/language", data={"csrf": _csrf(client.get("/console/").text)})
    return client


def _set(client: TestClient, code: str, percent: str, deadline: str = "") -> Any:
    csrf = _csrf(client.get("/console/adoption").text)
    return client.post(
        f"/console/adoption/{code}/target",
        data={"csrf": csrf, "target_percent": percent, "deadline": deadline},
        follow_redirects=False,
    )


def _svg(page: str) -> ET.Element | None:
    match = re.search(r"<svg.*?</svg>", page, re.S)
    return None if match is None else ET.fromstring(match.group(0))


def test_with_no_districts_the_page_says_how_to_load_them_instead_of_an_empty_chart(server: Server) -> None:
    vi = _admin(server).get("/console/adoption").text
    assert _svg(vi) is None and 'id="empty"' in vi
    assert "<code>bluezone server load-districts FILE</code>" in vi
    assert "Chưa có huyện nào" in vi and "report_activity = true" in vi
    english = _client(server, "Admin Two", "admin")
    english.post("/console/language", data={"csrf": _csrf(english.get("/console/").text)})
    en = english.get("/console/adoption").text
    assert "No districts are loaded yet." in en and "one anonymous signal a day" in en


def test_districts_without_signals_say_how_beacons_report_and_list_the_codes(server: Server) -> None:
    _load(server)
    page = _admin(server, "en").get("/console/adoption").text
    assert _svg(page) is None and 'id="no-activity"' in page
    assert "No beacon has reported activity in the last 14 days." in page
    assert "chiem-hoa, ham-yen" in page  # the codes a beacon's district setting takes


def test_with_signals_the_page_draws_the_chart_in_the_pages_locale(server: Server) -> None:
    _load(server)
    yesterday = utcnow(server.clock) - timedelta(days=1)
    with transaction(server.state.factory) as db:
        for _ in range(1200):
            adoption.record_activity(db, "tuyen-quang", yesterday)
    svg = _svg(_admin(server).get("/console/adoption").text)
    assert svg is not None
    ticks = [t.text for t in svg.iter(f"{SVG}text") if t.get("class") == "tick"]
    assert "1.000" in ticks and "1,000" not in ticks  # Vietnamese digit grouping
    names = {g.get("data-name") for g in svg.iter(f"{SVG}g") if g.get("class") == "series"}
    assert len(names) == 7 and "TP Tuyên Quang" in names


def test_a_target_set_is_confirmed_and_shown_in_its_inputs(server: Server) -> None:
    _load(server)
    client = _admin(server, "en")
    response = _set(client, "lam-binh", "60", "2021-08-30")
    assert response.status_code == 303
    page = client.get(response.headers["location"]).text
    assert "Target set for Huyện Lâm Bình: 60\u00a0% of smartphone owners by Aug 30, 2021." in page
    form = re.search(r'<form[^>]*id="target-lam-binh".*?</form>', page, re.S)
    assert form is not None
    assert 'value="60"' in form.group(0) and 'value="2021-08-30"' in form.group(0)
    assert '<span class="unit">%</span>' in form.group(0)  # the unit beside the input
    assert _set(client, "lam-binh", "12,5").status_code == 303  # a Vietnamese decimal comma
    with server.state.factory() as db:
        shares = {r.code: r.target_share for r in adoption.report(db, utcnow(server.clock).date())}
    assert shares["lam-binh"] == 0.125
    response = _set(client, "lam-binh", "")
    assert "The target for Huyện Lâm Bình is cleared." in client.get(response.headers["location"]).text


@pytest.mark.parametrize(
    ("percent", "deadline", "vi", "en"),
    [
        ("sáu mươi", "", "Chỉ tiêu phải là một số phần trăm", "The target must be a number of percent"),
        ("-5", "", "lớn hơn 0 % và không quá 100 %", "more than 0 % and at most 100 %"),
        ("150", "", "lớn hơn 0 % và không quá 100 %", "more than 0 % and at most 100 %"),
        ("nan", "", "lớn hơn 0 % và không quá 100 %", "more than 0 % and at most 100 %"),
        ("60", "30/08/2021", "Hạn phải là một ngày", "The deadline must be a date"),
        ("", "2021-08-30", "Hạn cần có chỉ tiêu", "A deadline needs a target"),
    ],
)
def test_bad_target_input_is_a_console_message_by_its_form_in_both_languages(
    server: Server, percent: str, deadline: str, vi: str, en: str
) -> None:
    _load(server)
    for lang, expected in (("vi", vi), ("en", en)):
        client = _client(server, f"Admin {lang}", "admin")
        if lang == "en":
            client.post("/console/language", data={"csrf": _csrf(client.get("/console/").text)})
        response = _set(client, "na-hang", percent, deadline)
        assert response.status_code == 400
        form = re.search(r'<form[^>]*id="target-na-hang".*?</form>', response.text, re.S)
        assert form is not None and expected in html.unescape(form.group(0)), lang
        assert f'value="{html.escape(percent)}"' in form.group(0)  # what was typed stays
    with server.state.factory() as db:
        assert {r.target_share for r in adoption.report(db, utcnow(server.clock).date())} == {None}


def test_an_unknown_district_is_a_console_message(server: Server) -> None:
    _load(server)
    response = _set(_admin(server, "en"), "atlantis", "60")
    assert response.status_code == 404 and "There is no district with that code." in response.text
