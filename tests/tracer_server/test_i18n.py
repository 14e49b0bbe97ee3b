"""The console's catalogs: current against the templates and code (``make i18n``), compiled, and
the Vietnamese filled in; numbers, dates and times formatted per locale in one labelled zone."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from functools import cache
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from babel.messages.pofile import read_po

from tracer_server.console import i18n
from tracer_server.console.locale import regenerate

generate = cache(regenerate.generate)
# msgids whose Vietnamese is the same text: proper names, units, codes.
SAME_IN_VIETNAMESE = {"Bluezone", "CSV", "UUID", "QR"}


@pytest.mark.parametrize(
    "path",
    [regenerate.po_path(lang) for lang in regenerate.LANGUAGES]
    + [regenerate.mo_path(lang) for lang in regenerate.LANGUAGES],
    ids=lambda path: str(Path(path).relative_to(regenerate.HERE)),
)
def test_checked_in_catalogs_are_current(path: Path) -> None:
    assert path.exists() and generate()[path] == path.read_bytes(), (
        f"{path.relative_to(regenerate.HERE.parents[2])} is stale: run `make i18n`, fill the empty "
        "Vietnamese msgstrs, run it again and commit the result"
    )


def _catalog(lang: str):  # type: ignore[no-untyped-def]
    with regenerate.po_path(lang).open("rb") as po:
        return read_po(po, locale=lang)


def test_every_vietnamese_message_is_translated() -> None:
    untranslated, same, fuzzy = [], [], []
    for message in _catalog("vi"):
        if not message.id:
            continue
        ids = message.id if isinstance(message.id, tuple) else (message.id,)
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        if not all(strings):
            untranslated.append(ids[0])
        elif ids[0] in strings and ids[0] not in SAME_IN_VIETNAMESE:
            same.append(ids[0])
        if message.fuzzy:
            fuzzy.append(ids[0])
    assert untranslated == [], f"no Vietnamese for: {untranslated}"
    assert same == [], f"the Vietnamese is the English text: {same}"
    assert fuzzy == [], f"fuzzy (guessed) translations: {fuzzy}"


def test_the_catalogs_have_the_same_messages() -> None:
    vi = {message.id for message in _catalog("vi")}
    en = {message.id for message in _catalog("en")}
    assert vi == en


def test_a_template_message_is_translated_and_formatted_in_both_languages() -> None:
    page = i18n.environment("vi").from_string('{{ _("Days are days in %(zone)s.", zone="<b>") }}')
    assert page.render() == "Ngày được tính theo &lt;b&gt;."  # newstyle: formats, and escapes the value
    assert i18n.translate("en", "Wrong name or password.") == "Wrong name or password."
    assert i18n.translate("vi", "Wrong name or password.") == "Tên hoặc mật khẩu không đúng."
    plural = '{{ ngettext("%(num)s key stored.", "%(num)s keys stored.", n, num=n) }}'
    assert i18n.environment("en").from_string(plural).render(n=1) == "1 key stored."
    assert i18n.environment("en").from_string(plural).render(n=3) == "3 keys stored."
    assert i18n.environment("vi").from_string(plural).render(n=3) == "Đã lưu 3 khoá."


def test_numbers_follow_the_locale() -> None:
    # The issue: en-US digits in Vietnamese ("128,863"); Vietnamese groups with a dot.
    number = "{{ n|number }}"
    assert i18n.environment("vi").from_string(number).render(n=128863) == "128.863"
    assert i18n.environment("en").from_string(number).render(n=128863) == "128,863"
    assert i18n.environment("vi").from_string("{{ x|percent(2) }}").render(x=0.12346) == "12,35 %"


def test_times_are_shown_in_the_display_zone_and_say_which() -> None:
    moment = datetime(2026, 12, 4, 20, 30, tzinfo=UTC)  # 03:30 on the 5th in Hanoi
    zone = ZoneInfo("Asia/Ho_Chi_Minh")
    assert i18n.format_datetime("vi", moment, zone) == "03:30 5 thg 12, 2026 (Giờ Việt Nam, UTC+7)"
    assert i18n.format_datetime("en", moment, zone) == "Dec 5, 2026, 3:30\u202fAM (Vietnam Time, UTC+7)"
    template = "{{ t|datetime }}"
    shown = i18n.environment("en").from_string(template).render(t=moment, display_time_zone="Asia/Kolkata")
    assert shown == "Dec 5, 2026, 2:00\u202fAM (India Time, UTC+5:30)"
    assert i18n.zone_label("vi", zone, moment) == "Giờ Việt Nam (UTC+7)"
    assert i18n.environment("vi").from_string("{{ d|date }}").render(d=date(2026, 12, 5)) == "5 thg 12, 2026"


def test_an_unknown_display_zone_is_refused_at_start(tmp_path: Path) -> None:
    from tracer_server.settings import Settings

    with pytest.raises(ValueError, match="IANA time zone"):
        Settings(data_dir=tmp_path, display_time_zone="Vietnam/Hanoi")


# ---- errors in the console's language ------------------------------------------------------------


def _all_subclasses(kind: type) -> set[type]:
    found = set()
    for sub in kind.__subclasses__():
        found |= {sub, *_all_subclasses(sub)}
    return found


def test_every_server_error_is_either_said_by_the_console_or_never_reaches_it() -> None:
    # Importing the app imports every module that defines one.
    import tracer_server.app  # noqa: F401
    from tracer_server.console import errors as console_errors
    from tracer_server.errors import ServerError

    tree = _all_subclasses(ServerError) - {
        cls for cls in _all_subclasses(ServerError) if cls.__module__.startswith("tests")
    }
    listed = set(console_errors.REACHABLE) | set(console_errors.NOT_FROM_THE_CONSOLE)
    assert tree - listed == set(), "say whether these reach a console form (console/errors.py)"
    vi_strings = {m.string for m in _catalog("vi") if m.id}
    for kind in console_errors.REACHABLE:
        error = kind("the API's English")
        vi, en = console_errors.console_message("vi", error), console_errors.console_message("en", error)
        assert "the API's English" not in vi + en and f"({kind.code})" not in vi + en, kind
        assert vi != en and vi in vi_strings, (kind, vi)


CONSOLE_PASSWORD = "a long enough password"


def _console(server: Any, role: str = "admin", lang: str = "vi") -> Any:
    import re

    from fastapi.testclient import TestClient

    from tracer_server.clock import utcnow
    from tracer_server.db import transaction
    from tracer_server.services.officials import create_official

    with transaction(server.state.factory) as db:
        create_official(db=db, keys=server.state.keys, name=f"Lan {role}", role=role,
                        now=utcnow(server.clock), password=CONSOLE_PASSWORD)  # fmt: skip
    client = TestClient(server.app, base_url="https://testserver")
    page = client.get(f"/console/login?lang={lang}").text
    csrf = re.search(r'name="csrf" value="([^"]+)"', page).group(1)  # type: ignore[union-attr]
    data = {"name": f"Lan {role}", "password": CONSOLE_PASSWORD, "csrf": csrf, "lang": lang}
    assert client.post("/console/login", data=data).url.path == "/console/"
    client.csrf = re.search(r'name="csrf" value="([^"]+)"', client.get("/console/issue").text).group(1)  # type: ignore[attr-defined, union-attr]
    return client


def _error_text(html: str) -> str:
    import re

    match = re.search(r'<p class="error"[^>]*>(.*?)</p>', html, re.S)
    assert match is not None, html[:500]
    return match.group(1)


@pytest.mark.parametrize(
    ("lang", "future", "too_old"),
    [
        (
            "vi",
            "Ngày khởi phát triệu chứng không được ở tương lai.",
            "Ngày xét nghiệm không được cách đây quá 28 ngày.",
        ),
        ("en", "Symptom onset must not be in the future.", "Test date must not be more than 28 days ago."),
    ],
)
def test_the_issue_form_names_its_own_date_fields(server: Any, lang: str, future: str, too_old: str) -> None:
    client = _console(server, lang=lang)
    from tracer_server.clock import utcnow

    today = utcnow(server.clock).date()
    form = {"csrf": client.csrf, "test_type": "confirmed"}
    page = client.post(
        "/console/issue", data={**form, "symptom_date": (today + timedelta(days=3)).isoformat()}
    )
    assert page.status_code == 400 and _error_text(page.text).endswith(future)
    page = client.post("/console/issue", data={**form, "test_date": (today - timedelta(days=40)).isoformat()})
    assert _error_text(page.text).endswith(too_old)
    assert "symptomDate" not in page.text and "testDate" not in page.text


def test_the_upload_form_speaks_vietnamese(server: Any) -> None:
    from protocol import keyfile
    from protocol.keys import en_interval_number, rolling_start
    from protocol.publish import UploadKey
    from tracer_server.clock import utcnow

    client = _console(server)
    form = {"csrf": client.csrf, "report_type": "confirmed"}
    page = client.post("/console/upload", data={**form, "key_text": "{}"})
    assert (
        _error_text(page.text) == "Lỗi: Vui lòng đánh dấu ô xác nhận người bệnh đã đồng ý cho tải khoá lên."
    )
    page = client.post(
        "/console/upload", data={**form, "consent": "yes"}, files={"key_file": ("k.json", b"not json")}
    )
    assert "Đây không phải là tệp khoá" in _error_text(page.text) and "JSON" not in page.text
    today = rolling_start(en_interval_number(utcnow(server.clock).timestamp()))
    keys = keyfile.dump([UploadKey(bytes([7 + d]) * 16, today - 144 * d) for d in (2, 1)])
    assert (
        client.post("/console/upload", data={**form, "consent": "yes", "key_text": keys}).status_code == 200
    )
    page = client.post("/console/upload", data={**form, "consent": "yes", "key_text": keys})  # the same again
    assert "Các khoá này đã được tải lên trước đó" in _error_text(page.text)
    assert "revisionToken" not in page.text


def test_console_refusals_are_console_pages_and_the_api_keeps_json(server: Any) -> None:
    admin = _console(server, "admin")
    official = _console(server, "official", lang="en")
    forged = admin.post("/console/issue", data={"csrf": "forged", "test_type": "confirmed"})
    assert forged.status_code == 403 and forged.headers["content-type"].startswith("text/html")
    assert "Biểu mẫu đã hết hạn" in _error_text(forged.text) and 'id="sign-out"' in forged.text
    forbidden = official.get("/console/audit")
    assert forbidden.status_code == 403 and _error_text(forbidden.text) == "This page is for administrators."
    missing = admin.get("/console/no-such-page")
    assert missing.status_code == 404 and "Không có trang này" in _error_text(missing.text)
    big = admin.post(
        "/console/upload", data={"csrf": admin.csrf, "report_type": "confirmed", "consent": "yes"},
        files={"key_file": ("big.json", b"x" * 3_000_000)},
    )  # fmt: skip
    assert big.status_code == 413 and "Tệp tải lên quá lớn" in _error_text(big.text)
    assert 'id="sign-out"' in big.text  # the console's layout, signed in
    assert admin.get("/api/no-such-page").json()["errorCode"] == "not_found"
    assert admin.get("/v1/no-such-page").json()["code"] == "not_found"
    assert admin.post("/v1/publish", content=b"x" * 3_000_000).json()["code"] == "payload_too_large"
