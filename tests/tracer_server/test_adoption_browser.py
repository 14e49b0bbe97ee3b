"""The adoption page in headless Chromium, as an official sees it: the table and the chart stay
inside their cards at common widths in both languages, the empty page says what to do, and a
target set shows in its inputs."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tracer_server.db import transaction
from tracer_server.services import adoption

from .test_console_browser import _shot, _sign_in, browser, console, page  # noqa: F401  (fixtures)

pytestmark = pytest.mark.slow


def _inside(tab: Any, inner: str, outer: str) -> None:
    box, card = tab.locator(inner).first.bounding_box(), tab.locator(outer).bounding_box()
    assert box is not None and card is not None, (inner, outer)
    assert card["x"] <= box["x"] and box["x"] + box["width"] <= card["x"] + card["width"] + 0.5, (
        inner,
        box,
        card,
    )


def _with_signals(server: Any) -> None:
    yesterday = datetime.now(UTC) - timedelta(days=1)
    with transaction(server.state.factory) as db:
        adoption.load_districts(db)
        for day in range(1, 14):
            for _ in range(40 + 90 * day):
                adoption.record_activity(db, "tuyen-quang", yesterday - timedelta(days=day - 1))
        for _ in range(3):
            adoption.record_activity(db, "lam-binh", yesterday)
        adoption.set_target(db, "tuyen-quang", 0.6, datetime(2021, 8, 30).date())


def test_the_table_and_chart_fit_their_cards_at_1280_and_800_px_in_both_languages(
    console: tuple[str, Any],  # noqa: F811
    page: Any,  # noqa: F811
    tmp_path: Path,
) -> None:
    base, server = console
    _with_signals(server)
    _sign_in(page, base)
    for lang in ("vi", "en"):
        if lang == "en":
            page.click("header form[action='/console/language'] button")
        for width in (1280, 800):
            page.set_viewport_size({"width": width, "height": 900})
            page.goto(f"{base}/console/adoption")
            assert page.locator("html").get_attribute("lang") == lang
            _inside(page, "#adoption", "#adoption-card")
            _inside(page, "#chart svg", "#chart")
            for row in page.locator("#targets form").all():
                box, card = row.bounding_box(), page.locator("#targets").bounding_box()
                assert box["x"] + box["width"] <= card["x"] + card["width"] + 0.5
            assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
            _shot(page, tmp_path, f"adoption-{lang}-{width}")
    assert page.locator("#chart svg g.series").count() == 7
    assert page.locator("#chart svg text.tick").first.text_content() == "0"
    assert page.input_value("input[aria-label='Target tuyen-quang']") == "60"


def test_an_empty_page_says_what_to_do_and_a_target_is_confirmed(
    console: tuple[str, Any],  # noqa: F811
    page: Any,  # noqa: F811
    tmp_path: Path,
) -> None:
    base, server = console
    _sign_in(page, base)
    page.goto(f"{base}/console/adoption")
    empty = page.inner_text("#empty")
    assert "bluezone server load-districts FILE" in empty and "Chưa có huyện nào" in empty
    assert page.locator("svg").count() == 0
    _shot(page, tmp_path, "adoption-empty")
    with transaction(server.state.factory) as db:
        adoption.load_districts(db)
    page.goto(f"{base}/console/adoption")
    assert "report_activity = true" in page.inner_text("#no-activity + p")
    page.fill("input[aria-label='Chỉ tiêu na-hang']", "sáu mươi")
    page.locator("#target-na-hang button").click()
    assert "Chỉ tiêu phải là một số phần trăm" in page.inner_text("#target-na-hang .error")
    page.fill("input[aria-label='Chỉ tiêu na-hang']", "45")
    page.fill("input[aria-label='Hạn na-hang']", "2021-08-30")
    page.locator("#target-na-hang button").click()
    assert "Huyện Nà Hang" in page.inner_text("#target-confirmed")
    assert page.input_value("input[aria-label='Chỉ tiêu na-hang']") == "45"
    assert page.input_value("input[aria-label='Hạn na-hang']") == "2021-08-30"
    assert page.inner_text("tr[data-code='na-hang'] .target .share") == "45\u00a0%"
    assert page.inner_text("tr[data-code='na-hang'] .target .deadline") == "hạn 30 thg 8, 2021"
