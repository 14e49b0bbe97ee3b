"""beacon.report: the code forms, and the verify → consent → certificate → publish flow against a
running tracer server, with every failure keeping what is needed to retry."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from beacon.report import Reporter, ReportError, http_post_json, parse_code
from protocol.keys import TEK_ROLLING_PERIOD
from protocol.publish import UploadKey

from .conftest import T0, Beacon, LiveServer, World, dead_url, issue_code, published_keys, set_server_time

NOW = T0 + 10 * 3600 + 5 * 60  # day D, 10:05 UTC: interval 60 of the day
TODAY = int(T0 // 600)
D = datetime.fromtimestamp(T0, UTC).date()


def yes(keys: list[UploadKey], test: dict[str, Any]) -> bool:
    return True


def day(offset: int) -> str:
    return (D + timedelta(days=offset)).isoformat()


# ---- the code, as typed -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("typed", "code"),
    [
        ("12345678", "12345678"),
        (" 1234-5678 ", "12345678"),
        ("1234 5678", "12345678"),
        ("k7m2p9qrx3zt4wvb", "K7M2P9QRX3ZT4WVB"),
        ("https://tracer.example/v?c=K7M2P9QRX3ZT4WVB&r=VN", "K7M2P9QRX3ZT4WVB"),
        ("  https://tracer.example/v?r=VN&c=12345678  ", "12345678"),
    ],
)
def test_parse_code_accepts_the_short_code_the_long_code_and_the_link(typed: str, code: str) -> None:
    assert parse_code(typed) == code


@pytest.mark.parametrize(
    "garbage",
    ["", "   ", "12345", "1234567!", "hello world; rm -rf", "https://tracer.example/v?r=VN", "x" * 40],
)
def test_parse_code_rejects_garbage(garbage: str) -> None:
    with pytest.raises(ReportError):
        parse_code(garbage)


# ---- the flow against a live server ---------------------------------------------------------------


@pytest.fixture
def alice(world: World, live_server: LiveServer) -> Beacon:
    """A beacon that has been running for 16 days (D−15 … D), and a server clock at 10:05 on D."""
    beacon = world.add("alice", (0.0, 0.0))
    t = T0 - 15 * 86_400 + 60
    while t < NOW - 3600:
        beacon.schedule.rotate(t)
        t += 6 * 3600
    assert len(beacon.store.teks()) == 16
    set_server_time(live_server, NOW)
    return beacon


def stored_tek(beacon: Beacon, offset: int) -> bytes:
    (tek,) = [t.tek for t in beacon.store.teks() if t.rolling_start == TODAY + offset * TEK_ROLLING_PERIOD]
    return tek


@pytest.mark.parametrize(
    ("dates", "first_day"),
    [
        ({"symptomDate": day(-5)}, -7),  # onset − 2 days
        ({"testDate": day(-3)}, -5),  # no onset: test date − 2 days
        ({"symptomDate": day(-20)}, -13),  # at most 14 keys with today's
    ],
)
def test_report_publishes_own_keys_from_two_days_before_onset_through_today(
    alice: Beacon, live_server: LiveServer, dates: dict[str, str], first_day: int
) -> None:
    code = issue_code(live_server, **dates)["code"]
    reporter = Reporter(alice.store, alice.schedule, server_url=live_server.url)

    outcome = asyncio.run(reporter.report(code, consent=yes, now=NOW))

    starts = [k.rolling_start_number for k in outcome.keys]
    assert starts == [TODAY + d * TEK_ROLLING_PERIOD for d in range(first_day, 1)]
    assert len(outcome.keys) <= 14
    assert [k.key_data for k in outcome.keys[:-1]] == [stored_tek(alice, d) for d in range(first_day, 0)]
    assert all(k.rolling_period == TEK_ROLLING_PERIOD for k in outcome.keys[:-1])
    today = outcome.keys[-1]
    assert today.rolling_period == 61 < TEK_ROLLING_PERIOD  # cut short at 10:05
    released = [t for t in alice.store.teks() if t.released is not None]
    assert [t.tek for t in released] == [today.key_data]

    on_server = published_keys(live_server)
    sent = {k.key_data: (k.rolling_start_number, k.rolling_period) for k in outcome.keys}
    assert on_server.items() <= sent.items() and len(on_server) == outcome.inserted >= 1
    if first_day > -13:  # every key within the server's 14 days of onset
        assert on_server == sent
    assert [state for _, _, state, _ in alice.store.uploads()] == ["published"]
    assert outcome.revision_token


def test_the_link_form_of_the_long_code_in_lower_case_redeems(alice: Beacon, live_server: LiveServer) -> None:
    long_code = issue_code(live_server, symptomDate=day(-1))["longCode"]
    link = f"https://tracer.example/v?c={long_code.lower()}&r=VN"
    reporter = Reporter(alice.store, alice.schedule, server_url=live_server.url)

    outcome = asyncio.run(reporter.report(link, consent=yes, now=NOW))

    assert outcome.inserted == len(outcome.keys) == 4


def test_declined_consent_publishes_nothing_and_keeps_the_token_for_later(
    alice: Beacon, live_server: LiveServer
) -> None:
    code = issue_code(live_server, symptomDate=day(-5))["code"]
    reporter = Reporter(alice.store, alice.schedule, server_url=live_server.url)
    asked: list[list[UploadKey]] = []

    def no(keys: list[UploadKey], test: dict[str, Any]) -> bool:
        asked.append(keys)
        return False

    on_air = alice.schedule.rotate(NOW - 60)
    with pytest.raises(ReportError, match="did not agree"):
        asyncio.run(reporter.report(code, consent=no, now=NOW))

    assert len(asked) == 1 and len(asked[0]) == 7  # shown the past keys before anything left
    assert published_keys(live_server) == {}
    ((upload_id, _, state, data),) = alice.store.uploads()
    assert state == "verified" and data["token"] and "keys" not in data
    assert all(t.released is None for t in alice.store.teks())  # today's key still on the air
    assert alice.schedule.current == on_air

    outcome = asyncio.run(reporter.report(None, consent=yes, now=NOW + 60))

    assert outcome.inserted == len(outcome.keys) == 8
    ((same_id, _, state, resumed),) = alice.store.uploads()
    assert (same_id, state, resumed["token"]) == (upload_id, "published", data["token"])


def test_without_a_code_or_pending_report_report_asks_for_the_code(
    alice: Beacon, live_server: LiveServer
) -> None:
    reporter = Reporter(alice.store, alice.schedule, server_url=live_server.url)
    with pytest.raises(ReportError, match="code"):
        asyncio.run(reporter.report(None, consent=yes, now=NOW))


def test_server_down_during_publish_keeps_the_certificate_and_a_retry_succeeds(
    alice: Beacon, live_server: LiveServer
) -> None:
    down = dead_url()

    async def publish_fails(url: str, body: dict[str, Any]) -> dict[str, Any]:
        if url.endswith("v1/publish"):
            return await http_post_json(down + "v1/publish", body)
        return await http_post_json(url, body)

    code = issue_code(live_server, symptomDate=day(-5))["code"]
    flaky = Reporter(alice.store, alice.schedule, server_url=live_server.url, post=publish_fails)

    with pytest.raises(ReportError, match="cannot reach the server"):
        asyncio.run(flaky.report(code, consent=yes, now=NOW))

    ((_, _, state, data),) = alice.store.uploads()
    assert state == "certified" and data["certificate"] and data["secret"] and len(data["keys"]) == 8
    assert published_keys(live_server) == {}

    asked: list[list[UploadKey]] = []

    def not_asked_again(keys: list[UploadKey], test: dict[str, Any]) -> bool:
        asked.append(keys)
        return True

    retry = Reporter(alice.store, alice.schedule, server_url=live_server.url)
    outcome = asyncio.run(retry.report(None, consent=not_asked_again, now=NOW + 120))

    assert asked == []  # consent was given once, for these keys
    assert [k.to_json() for k in outcome.keys] == data["keys"]
    assert outcome.inserted == 8
    assert set(published_keys(live_server)) == {k.key_data for k in outcome.keys}
    assert [state for _, _, state, _ in alice.store.uploads()] == ["published"]


def test_a_used_code_is_refused_with_the_servers_reason(
    alice: Beacon, world: World, live_server: LiveServer
) -> None:
    code = issue_code(live_server, symptomDate=day(-2))["code"]
    asyncio.run(
        Reporter(alice.store, alice.schedule, server_url=live_server.url).report(code, consent=yes, now=NOW)
    )
    bob = world.add("bob", (1.0, 0.0))
    bob.schedule.rotate(NOW - 600)

    with pytest.raises(ReportError) as refused:
        asyncio.run(
            Reporter(bob.store, bob.schedule, server_url=live_server.url).report(code, consent=yes, now=NOW)
        )

    assert str(refused.value) == "the server refused: this code has already been used"
    assert bob.store.uploads() == []


def _revoke(server: LiveServer, code_uuid: str) -> None:
    """What an official's revocation does (the console's confirm + POST, through the service)."""
    from tracer_server.db import transaction
    from tracer_server.models import Official
    from tracer_server.services.codes import revoke_code

    with transaction(server.state.factory) as db:
        official = db.query(Official).filter_by(name="Official").one()
        assert revoke_code(db=db, official=official, code_uuid=code_uuid, now=server.clock.at)


@pytest.mark.parametrize(
    ("spoil", "words"),
    [
        ("revoke", "this code was revoked: ask the health official for a new one"),
        ("expire", "this code has expired: ask the health official for a new one"),
        ("nothing", None),
    ],
)
def test_a_revoked_or_expired_code_says_so_in_the_beacons_words(
    alice: Beacon, live_server: LiveServer, spoil: str, words: str | None
) -> None:
    issued = issue_code(live_server, symptomDate=day(-2))
    if spoil == "revoke":
        _revoke(live_server, issued["uuid"])
    elif spoil == "expire":
        set_server_time(live_server, NOW + 2 * 3600)  # the short code lives 1 h
    reporter = Reporter(alice.store, alice.schedule, server_url=live_server.url)
    unknown = "1" + issued["code"][1:] if issued["code"][0] != "1" else "2" + issued["code"][1:]

    with pytest.raises(ReportError) as refused:
        asyncio.run(reporter.report(issued["code"] if words else unknown, consent=yes, now=NOW))

    expected = (
        words or "the server does not know this code: check it, or ask the health official for a new one"
    )
    assert str(refused.value) == expected
    assert alice.store.uploads() == []


# ---- the upload state machine -------------------------------------------------------------------


def test_a_damaged_stored_upload_is_one_report_error_not_a_key_error(
    alice: Beacon, live_server: LiveServer
) -> None:
    """Before, the untyped dict raised KeyError('keys') out of `beacon report` as a traceback."""
    alice.store.save_upload(None, "consented", {"token": "t", "test": {}}, NOW)
    reporter = Reporter(alice.store, alice.schedule, server_url=live_server.url)
    with pytest.raises(ReportError, match=r"stored upload \(consented\) is damaged"):
        asyncio.run(reporter.report(None, consent=yes, now=NOW))


def test_an_unknown_stored_state_is_refused(alice: Beacon, live_server: LiveServer) -> None:
    alice.store.save_upload(None, "half-done", {"token": "t", "test": {}}, NOW)
    with pytest.raises(ReportError, match="damaged"):
        Reporter(alice.store, alice.schedule, server_url=live_server.url).pending()


def test_an_answer_without_a_token_is_a_report_error(alice: Beacon, live_server: LiveServer) -> None:
    async def no_token(url: str, body: dict[str, Any]) -> dict[str, Any]:
        return {"testtype": "confirmed"}

    reporter = Reporter(alice.store, alice.schedule, server_url=live_server.url, post=no_token)
    with pytest.raises(ReportError, match="/api/verify has no token"):
        asyncio.run(reporter.report("12345678", consent=yes, now=NOW))


def test_states_only_move_forward_and_round_trip_through_json() -> None:
    from beacon.report import Upload, UploadState

    key = UploadKey(bytes(16), TODAY)
    upload = Upload(UploadState.VERIFIED, "tok", {"symptomDate": None})
    with pytest.raises(ReportError, match="verified cannot become certified"):
        upload.certified("c")
    done = upload.consented([key], b"s" * 32).certified("cert").published("rev")
    assert done.state == UploadState.PUBLISHED
    for step in (upload, upload.consented([key], b"s" * 32), done):
        assert Upload.from_json(step.state, step.to_json()) == step
    with pytest.raises(ReportError):
        done.published("again")
