"""The console's catalogs: current against the templates and code (``make i18n``), compiled, and
the Vietnamese filled in; numbers, dates and times formatted per locale in one labelled zone."""

from __future__ import annotations

from datetime import UTC, date, datetime
from functools import cache
from pathlib import Path
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
