"""The officials' console in headless Chromium (Debian's, driven by Playwright; never its own
browser download): sign in, issue a code, read it off the page, publish keys with it through the
device API, and see the upload on the dashboard; upload a key file on a case's behalf."""

from __future__ import annotations

import base64
import json
import os
import re
import urllib.error
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from protocol import keyfile
from protocol.keys import en_interval_number, rolling_start
from protocol.publish import UploadKey, tek_hmac
from sim.server import serve_in_thread
from tracer_server.clock import SystemClock
from tracer_server.db import transaction
from tracer_server.services.officials import create_official
from tracer_server.settings import Settings

pytestmark = pytest.mark.slow
CHROMIUM = "/usr/bin/chromium"
PASSWORD = "correct horse battery staple"
# Screenshots go to pytest's temporary directory, or to docs/screenshots with BLUEZONE_SCREENSHOTS=docs.
SHOTS_TO_DOCS = os.environ.get("BLUEZONE_SCREENSHOTS") == "docs"


@pytest.fixture
def console(tmp_path: Path) -> Iterator[tuple[str, Any]]:
    settings = Settings(
        data_dir=tmp_path / "server", export_min_keys=20, public_base_url="https://tracer.example"
    )
    with serve_in_thread(settings, SystemClock()) as server:
        with transaction(server.state.factory) as db:
            create_official(
                db=db,
                keys=server.state.keys,
                name="Trần Thị Lan",
                role="admin",
                now=datetime.now(UTC),
                password=PASSWORD,
            )
        yield server.url.rstrip("/"), server


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """One Chromium for the module (starting one costs about a second); a fresh context per test."""
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists():
        raise RuntimeError("Debian's chromium is missing: apt install chromium (.ci/run does)")
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            args=[
                "--no-sandbox",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-gpu",
            ],
        )
        yield browser
        browser.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1100, "height": 800}, locale="vi-VN")
    yield context.new_page()
    context.close()


def _shot(page: Any, tmp_path: Path, name: str, *, docs: bool = False) -> Path:
    """A full-page PNG: into docs/screenshots when ``docs`` and BLUEZONE_SCREENSHOTS=docs (``make
    screenshots``), otherwise into pytest's temporary directory."""
    here = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
    path = (here if docs and SHOTS_TO_DOCS else tmp_path) / f"console-{name}.png"
    page.screenshot(path=str(path), full_page=True)
    assert path.stat().st_size > 5000
    return path


def _post(url: str, body: dict[str, Any]) -> dict[str, Any]:
    request = urllib.request.Request(
        url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return dict(json.loads(response.read()))


def _sign_in(page: Any, base: str) -> None:
    page.goto(f"{base}/console/login")
    page.fill("#name", "Trần Thị Lan")
    page.fill("#password", PASSWORD)
    page.click("#sign-in")
    page.wait_for_url(f"{base}/console/")


def test_an_official_issues_a_code_the_case_publishes_and_the_dashboard_shows_it(
    console: tuple[str, Any], page: Any, tmp_path: Path
) -> None:
    base, _ = console
    page.goto(f"{base}/console/")  # not signed in: sent to the sign-in page, in Vietnamese
    assert page.url.endswith("/console/login") and "Đăng nhập" in page.content()
    _shot(page, tmp_path, "login")
    page.fill("#name", "Trần Thị Lan")
    page.fill("#password", "wrong password!!")
    page.click("#sign-in")
    assert "không đúng" in page.content()
    _sign_in(page, base)
    _shot(page, tmp_path, "dashboard-empty")

    page.goto(f"{base}/console/issue")
    page.select_option("#test_type", "confirmed")
    page.fill("#symptom_date", datetime.now(UTC).date().isoformat())
    page.click("#issue-code")
    code = page.inner_text("#code").replace(" ", "")
    assert len(code) == 8 and code.isdigit()
    assert f"?c={code}&r=VN" in page.inner_text("#link")
    assert page.locator("#qr svg").count() == 1
    _shot(page, tmp_path, "issue")

    # The case's device, through the documented JSON only.
    today = rolling_start(en_interval_number(datetime.now(UTC).timestamp()))
    keys = [UploadKey(bytes([d]) * 16, today - 144 * d) for d in (3, 2, 1)]
    secret = bytes(range(32))
    token = _post(f"{base}/api/verify", {"code": code})["token"]
    mac = base64.b64encode(tek_hmac(secret, keys)).decode()
    certificate = _post(f"{base}/api/certificate", {"token": token, "ekeyhmac": mac})["certificate"]
    published = _post(
        f"{base}/v1/publish",
        {
            "temporaryExposureKeys": [k.to_json() for k in keys],
            "healthAuthorityID": "vn.bluezone",
            "verificationPayload": certificate,
            "hmacKey": base64.b64encode(secret).decode(),
        },
    )
    assert published["insertedExposures"] == 3

    page.goto(f"{base}/console/")
    rows = page.locator("#uploads tr").all_inner_texts()
    assert any(row.split()[-1] == "3" for row in rows[1:]), rows
    _shot(page, tmp_path, "dashboard")

    page.goto(f"{base}/console/codes")
    assert "đã dùng" in page.inner_text("#codes")  # the code shows as used
    _shot(page, tmp_path, "codes")


def test_an_official_uploads_a_key_file_on_a_cases_behalf_and_the_audit_log_says_who(
    console: tuple[str, Any], page: Any, tmp_path: Path
) -> None:
    base, _ = console
    _sign_in(page, base)
    today = rolling_start(en_interval_number(datetime.now(UTC).timestamp()))
    key_file = tmp_path / "keys.json"
    key_file.write_text(keyfile.dump([UploadKey(bytes([9 + d]) * 16, today - 144 * d) for d in (2, 1)]))

    page.goto(f"{base}/console/upload")
    page.set_input_files("#key_file", str(key_file))
    page.click("#upload")  # no consent ticked: refused
    assert page.locator("#error").count() == 1
    page.set_input_files("#key_file", str(key_file))
    page.check("#consent")
    page.click("#upload")
    assert "2" in page.inner_text("#result")
    _shot(page, tmp_path, "upload")

    page.goto(f"{base}/console/audit")
    audit = page.inner_text("#audit")
    # Read as a sentence, not as the action's identifier.
    assert "Đã tải 2 khoá lên thay người bệnh." in audit and "Trần Thị Lan" in audit
    assert "keys.uploaded_for_case" not in audit
    _shot(page, tmp_path, "audit")
    page.click("text=English")
    assert "Audit log" in page.content()


def test_the_adoption_page_shows_districts_targets_a_chart_and_a_csv(
    console: tuple[str, Any], page: Any, tmp_path: Path
) -> None:
    from datetime import timedelta

    from tracer_server.services import adoption

    base, server = console
    yesterday = datetime.now(UTC) - timedelta(days=1)
    with transaction(server.state.factory) as db:
        adoption.load_districts(db)
        for _ in range(25):
            adoption.record_activity(db, "tuyen-quang", yesterday)
        for _ in range(3):
            adoption.record_activity(db, "lam-binh", yesterday)
    _sign_in(page, base)
    page.goto(f"{base}/console/adoption")
    assert "giới hạn trên" in page.inner_text("#upper-bound")  # counts are an upper bound
    assert page.inner_text("tr[data-code='tuyen-quang'] .active") == "25"
    assert page.inner_text("tr[data-code='lam-binh'] .active") == "< 10"
    page.fill("input[aria-label='Chỉ tiêu tuyen-quang']", "60")
    page.fill("input[aria-label='Hạn tuyen-quang']", "2021-08-30")
    page.locator("form[action='/console/adoption/tuyen-quang/target'] button").click()
    assert (
        page.inner_text("tr[data-code='tuyen-quang'] .progress") == "0\u00a0%"
    )  # 25 of 101,883 phones vs 60 %
    assert page.locator("#chart svg polyline").count() == 7
    _shot(page, tmp_path, "adoption")
    with page.expect_download() as download:
        page.click("#csv")
    text = Path(download.value.path()).read_text(encoding="utf-8")
    assert "tuyen-quang" in text and "< 10" in text


# ---- what a person reads --------------------------------------------------------------------------

# Every text the page shows (text nodes, the labels a screen reader says, the title), except what
# is marked translate="no" (names, codes, links: data). The chart's SVG text is read too.
_TEXTS_JS = """() => {
  const out = [];
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT, {acceptNode(n) {
    const el = n.parentElement;
    if (!el || el.closest('[translate="no"], script, style')) return NodeFilter.FILTER_REJECT;
    return n.textContent.trim() ? NodeFilter.FILTER_ACCEPT : NodeFilter.FILTER_REJECT;
  }});
  while (walker.nextNode()) out.push(walker.currentNode.textContent);
  for (const el of document.querySelectorAll('[aria-label], [placeholder], [title], [alt]'))
    for (const name of ['aria-label', 'placeholder', 'title', 'alt'])
      if (el.getAttribute(name)) out.push(el.getAttribute(name));
  out.push(document.title);
  return out.map(t => t.replace(/\\s+/g, ' ').trim());
}"""
# What must never reach a page: Python's reprs, Jinja left unrendered, a msgid's placeholders.
_NEVER = ("object at 0x", "built-in", "<bound method", "{{", "}}", "{%", "%(", "Undefined", "None")
# English words that have no business in a Vietnamese page (the issue's examples among them).
_ENGLISH = re.compile(
    r"\b(the|and|is|are|of|to|in|no|not|must|key|keys|error|sign|upload|day|days|status|required|"
    r"invalid|future|ago|admin|official|active|expired|used|revoked|confirmed|likely|true|false|null|"
    r"symptomDate|testDate|consent|revisionToken|JSON)\b",
    re.IGNORECASE,
)
# Text that is the same in every language: proper names, units, and Babel's numbers and dates.
_SAME_EVERYWHERE = (
    "Bluezone",
    "English",
    "Tiếng Việt",
    "UUID",
    "CSV",
    "QR",
    "UTC",
    "BLUEZONE_PUBLIC_BASE_URL",
)
_DATA = re.compile(
    r"\d{4}-\d{2}-\d{2}"  # ISO dates (the chart's axis)
    r"|\d{1,2} thg \d{1,2}(, \d{4})?|[A-Z][a-z]{2} \d{1,2}(, \d{4})?"  # Babel's dates, vi and en
    r"|\d{1,2}:\d{2}(\s?[AP]M)?"  # Babel's short times
    r"|UTC[+−]\d+(:\d{2})?|\d[\d.,]*\s?%?"  # offsets, numbers, percentages
    r"|https?://\S+"  # the link handed to a case
)


def _catalog_patterns(lang: str) -> list[re.Pattern[str]]:
    """Each msgstr of ``lang`` as a pattern, its placeholders matching any value, longest first."""
    from babel.messages.pofile import read_po

    from tracer_server.console.locale import regenerate

    with regenerate.po_path(lang).open("rb") as po:
        catalog = read_po(po, locale=lang)
    strings = set()
    for message in catalog:
        if message.id:
            strings |= set(message.string) if isinstance(message.string, tuple) else {message.string}
    patterns = []
    # Longest first by what they say (placeholders left out), so that "hạn %(deadline)s" cannot
    # eat part of "Hết hạn lúc", nor "Ngày" the start of "Ngày được tính theo múi giờ: %(zone)s".
    for text in sorted(strings, key=lambda text: -len(re.sub(r"%\(\w+\)s", "", text))):
        pattern = re.escape(text.replace("%%", "%"))
        patterns.append(re.compile(re.sub(r"%\\\(\w+\\\)s", ".+?", pattern)))
    return patterns


def _unexplained(texts: list[str], lang: str, data: list[str]) -> list[tuple[str, str]]:
    """The texts (with what is left of each) that are neither catalog text in ``lang``, nor data,
    nor the same in every language."""
    patterns = _catalog_patterns(lang)
    left = []
    for text in texts:
        rest = text
        for pattern in patterns:
            rest = pattern.sub(" ", rest)
        rest = _DATA.sub(" ", _strip(rest, data))
        if re.sub(r"[\s.,:;()\-–—<>%/·+]+", "", rest):
            left.append((text, rest.strip()))
    return left


def _read(page: Any, lang: str, data: list[str]) -> list[str]:
    page.wait_for_load_state()  # after a click that submits, read the page it leads to, not none
    texts = [text for text in page.evaluate(_TEXTS_JS) if text]
    html = page.content()
    shown = "\n".join(texts)
    for never in _NEVER:
        assert never not in shown, (page.url, never)
    assert "object at 0x" not in html and "<bound method" not in html and "built-in method" not in html
    assert _unexplained(texts, lang, data) == [], page.url
    if lang == "vi":
        english = [(text, m.group()) for text in texts for m in [_ENGLISH.search(_strip(text, data))] if m]
        assert english == [], page.url
    return texts


def _strip(text: str, data: list[str]) -> str:
    for token in sorted([*data, *_SAME_EVERYWHERE], key=len, reverse=True):
        text = text.replace(token, " ")
    return text


@pytest.mark.parametrize("lang", ["vi", "en"])
def test_every_console_page_reads_in_one_language(
    console: tuple[str, Any], page: Any, tmp_path: Path, lang: str
) -> None:
    """Every page, in Vietnamese and in English, read as a person reads it; the screenshots in
    docs/screenshots are these pages (``make screenshots``)."""
    from datetime import timedelta

    from tracer_server.services import adoption

    base, server = console
    suffix = "" if lang == "vi" else "-en"
    from zoneinfo import ZoneInfo

    from babel.dates import get_timezone_name

    # Data: the official's name, the districts' names and codes, Babel's name of the display zone.
    names = ["Trần Thị Lan", get_timezone_name(ZoneInfo("Asia/Ho_Chi_Minh"), "long", locale=lang)]
    with transaction(server.state.factory) as db:
        adoption.load_districts(db)
        yesterday = datetime.now(UTC) - timedelta(days=1)
        for code, count in (("tuyen-quang", 25), ("lam-binh", 3)):
            for _ in range(count):
                adoption.record_activity(db, code, yesterday)
        names += [row.name for row in adoption.report(db, datetime.now(UTC).date())]
        names += [row.code for row in adoption.report(db, datetime.now(UTC).date())]

    def visit(path: str, shot: str | None = None) -> list[str]:
        if path:
            page.goto(f"{base}{path}")
        texts = _read(page, lang, names)
        if shot:
            _shot(page, tmp_path, shot + suffix, docs=True)
        return texts

    visit(f"/console/login?lang={lang}", "login")
    page.fill("#name", "Trần Thị Lan")
    page.fill("#password", "wrong password!!")
    page.click("#sign-in")
    visit("")  # the refusal, in the page's language
    page.fill("#name", "Trần Thị Lan")
    page.fill("#password", PASSWORD)
    page.click("#sign-in")
    page.wait_for_url(f"{base}/console/")
    assert page.locator("html").get_attribute("lang") == lang
    visit("/console/", "dashboard-empty")

    page.goto(f"{base}/console/issue")
    page.fill("#symptom_date", (datetime.now(UTC) + timedelta(days=3)).date().isoformat())
    page.click("#issue-code")
    error = page.inner_text(".error")
    assert ("tương lai" if lang == "vi" else "must not be in the future") in error, error
    visit("", "issue-error")
    page.fill("#symptom_date", datetime.now(UTC).date().isoformat())
    page.click("#issue-code")
    code = page.inner_text("#code").replace(" ", "")
    visit("", "issue")
    assert ("Giờ Việt Nam" if lang == "vi" else "Vietnam Time") in page.inner_text("#expires")

    # The case publishes yesterday's keys and today's (still valid: held until the day ends).
    today = rolling_start(en_interval_number(datetime.now(UTC).timestamp()))
    keys = [UploadKey(bytes([d + 40]) * 16, today - 144 * d) for d in (2, 1, 0)]
    secret = bytes(range(32))
    token = _post(f"{base}/api/verify", {"code": code})["token"]
    mac = base64.b64encode(tek_hmac(secret, keys)).decode()
    certificate = _post(f"{base}/api/certificate", {"token": token, "ekeyhmac": mac})["certificate"]
    _post(
        f"{base}/v1/publish",
        {
            "temporaryExposureKeys": [k.to_json() for k in keys],
            "healthAuthorityID": "vn.bluezone",
            "verificationPayload": certificate,
            "hmacKey": base64.b64encode(secret).decode(),
        },
    )
    visit("/console/", "dashboard")
    # Today's key is held until its day ends: said so, not counted under tomorrow (the old page did).
    rows = page.locator("#uploads tr").all_inner_texts()
    assert len(rows) == 2 and rows[1].split()[-1] == "2", rows
    assert page.locator("#embargo").inner_text().startswith("1 ")
    visit("/console/codes", "codes")
    reference = page.locator("code.reference").first.inner_text()
    visit(f"/console/codes/{reference}/revoke", "revoke-confirm")

    page.goto(f"{base}/console/upload")
    page.fill("#key_text", "not a key file")
    page.check("#consent")
    page.click("#upload")
    visit("", "upload-error")
    key_file = tmp_path / "keys.json"
    key_file.write_text(keyfile.dump([UploadKey(bytes([50 + d]) * 16, today - 144 * d) for d in (2, 1)]))
    page.set_input_files("#key_file", str(key_file))
    page.check("#consent")
    page.click("#upload")
    visit("", "upload")
    visit("/console/audit", "audit")
    visit("/console/adoption", "adoption")
    visit("/console/officials", "officials")
    page.click("#officials a[href$='/reset-password']")
    visit("", "official-confirm")
    visit("/console/no-such-page", "not-found")
    big = tmp_path / "big.json"
    big.write_bytes(b"x" * 3_000_000)
    page.goto(f"{base}/console/upload")
    page.set_input_files("#key_file", str(big))
    page.check("#consent")
    page.click("#upload")
    assert "/console/upload" in page.url and page.locator("#sign-out").count() == 1
    visit("", "too-large")


def test_an_administrator_revokes_a_code_and_helps_an_official_each_after_a_confirmation(
    console: tuple[str, Any], page: Any, tmp_path: Path
) -> None:
    base, server = console
    with transaction(server.state.factory) as db:
        create_official(
            db=db,
            keys=server.state.keys,
            name="Minh",
            role="official",
            now=datetime.now(UTC),
            password=PASSWORD,
        )
    _sign_in(page, base)
    page.goto(f"{base}/console/issue")
    page.click("#issue-code")
    reference = page.inner_text("#reference")
    code = page.inner_text("#code").replace(" ", "")
    assert len(reference) == 36

    page.goto(f"{base}/console/codes")
    page.fill("#reference", reference[:8])
    page.click("#code-search button")
    assert page.locator("#codes .reference").all_inner_texts() == [reference]
    page.click("#codes a.revoke")
    assert "Thu hồi mã này?" in page.inner_text("#confirm")
    _shot(page, tmp_path, "revoke-confirm")
    page.click("#confirm-revoke")
    assert page.inner_text("#codes .status") == "đã thu hồi"
    with pytest.raises(urllib.error.HTTPError) as refused:
        _post(f"{base}/api/verify", {"code": code})
    assert json.loads(refused.value.read())["errorCode"] == "code_revoked"

    page.goto(f"{base}/console/officials")
    page.click("#officials tr:has-text('Minh') a[href$='/reset-password']")
    page.click("#confirm-action")  # empty: a password is generated and shown once
    password = page.inner_text("#secret")
    assert len(password) >= 12
    _shot(page, tmp_path, "officials")
    page.click("#officials tr:has-text('Minh') a[href$='/disable']")
    page.click("#confirm-action")
    assert page.inner_text("#officials tr:has-text('Minh') .account") == "đã khoá"
    page.goto(f"{base}/console/audit")
    audit = page.inner_text("#audit")
    assert "Đã khoá tài khoản của Minh." in audit and "Đã đặt lại mật khẩu của Minh" in audit
