"""The adoption chart read as an SVG: axes, tick labels per locale, titles, legend, points, and
counts under the shown minimum not drawn exactly."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import date, timedelta

from tracer_server.console.chart import WIDTH, ChartWords, Series, line_chart, nice_ticks

SVG = "{http://www.w3.org/2000/svg}"
WORDS = ChartWords(title="Devices active per day", x_axis="Day (UTC)", y_axis="Devices", hidden="under 10")
DAYS = [date(2021, 5, 1) + timedelta(days=k) for k in range(14)]


def _parse(svg: str) -> ET.Element:
    return ET.fromstring(svg)  # raises on anything that is not well-formed XML


def _texts(root: ET.Element, group: str) -> list[str]:
    (g,) = [e for e in root.iter(f"{SVG}g") if e.get("class") == group]
    return [t.text or "" for t in g.iter(f"{SVG}text") if t.get("class") == "tick"]


def _series(root: ET.Element) -> list[ET.Element]:
    return [e for e in root.iter(f"{SVG}g") if e.get("class") == "series"]


def test_nice_ticks_start_at_zero_reach_the_top_in_round_steps() -> None:
    assert nice_ticks(0) == [0, 1]
    assert nice_ticks(3) == [0, 1, 2, 3]
    assert nice_ticks(25) == [0, 5, 10, 15, 20, 25]
    assert nice_ticks(101) == [0, 50, 100, 150]
    for top in range(1, 3000, 7):
        ticks = nice_ticks(top)
        assert ticks[0] == 0 and ticks[-1] >= top and len(ticks) <= 6


def test_the_chart_has_a_title_axes_with_locale_numbers_and_dates_and_a_legend() -> None:
    series = [Series("Huyện Chiêm Hóa", [(d, 1200 + 10 * k) for k, d in enumerate(DAYS)]),
              Series("TP Tuyên Quang", [(d, 0) for d in DAYS])]  # fmt: skip
    vi, en = _parse(line_chart(series, "vi", WORDS)), _parse(line_chart(series, "en", WORDS))
    assert vi.get("role") == "img" and vi.get("aria-labelledby") == "chart-title"
    assert vi.find(f"{SVG}title").text == "Devices active per day"  # type: ignore[union-attr]
    assert _texts(vi, "y-axis") == ["0", "500", "1.000", "1.500"]  # Vietnamese: "." groups digits
    assert _texts(en, "y-axis") == ["0", "500", "1,000", "1,500"]
    days_vi, days_en = _texts(vi, "x-axis"), _texts(en, "x-axis")
    assert days_vi[0] == "1 thg 5" and days_en[0] == "May 1" and days_en[-1] == "May 14"
    assert 4 <= len(days_en) <= 8  # every other day or so: 14 labels would overlap
    titles = [t.text for t in vi.iter(f"{SVG}text") if t.get("class") == "axis-title"]
    assert titles == ["Devices", "Day (UTC)"]
    legend = [t.text for g in vi.iter(f"{SVG}g") if g.get("class") == "legend" for t in g.iter(f"{SVG}text")]
    assert legend == ["Huyện Chiêm Hóa", "TP Tuyên Quang"]


def test_points_lie_inside_the_view_box_and_rise_with_the_count() -> None:
    series = [Series(f"District {n}", [(d, n * k) for k, d in enumerate(DAYS)]) for n in range(7)]
    root = _parse(line_chart(series, "en", WORDS))
    _, _, width, height = (float(v) for v in root.get("viewBox", "").split())
    assert width == WIDTH and root.get("width") == "100%"  # scales down with its card, never spills
    drawn = _series(root)
    assert len(drawn) == 7
    for g in drawn:
        (line,) = g.iter(f"{SVG}polyline")
        points = [tuple(float(v) for v in p.split(",")) for p in (line.get("points") or "").split()]
        assert len(points) == 14 and len(list(g.iter(f"{SVG}circle"))) == 14
        assert all(0 <= px <= width and 0 <= py <= height for px, py in points)
        assert [px for px, _ in points] == sorted(px for px, _ in points)
    (last,) = drawn[-1].iter(f"{SVG}polyline")
    ys = [float(p.split(",")[1]) for p in (last.get("points") or "").split()]
    assert ys == sorted(ys, reverse=True) and ys[0] > ys[-1]  # SVG's y grows downwards


def test_counts_under_the_minimum_are_drawn_at_zero_in_a_band_that_says_so() -> None:
    series = [Series("Huyện Lâm Bình", [(d, 3 if k % 2 else 40) for k, d in enumerate(DAYS)])]
    root = _parse(line_chart(series, "en", WORDS, floor=10))
    (band,) = [g for g in root.iter(f"{SVG}g") if g.get("class") == "hidden-band"]
    assert [t.text for t in band.iter(f"{SVG}text")] == ["under 10"]
    circles = list(_series(root)[0].iter(f"{SVG}circle"))
    hovers = [c.find(f"{SVG}title").text for c in circles]  # type: ignore[union-attr]
    assert hovers[0] == "Huyện Lâm Bình, May 1, 2021: 40" and hovers[1] == "Huyện Lâm Bình, May 2, 2021: < 10"
    (zero,) = [t for t in root.iter(f"{SVG}text") if t.get("class") == "tick" and t.text == "0"]
    assert {c.get("cy") for c in circles[1::2]} == {f"{float(zero.get('y', 0)) - 4:.1f}"}
    assert "3" not in {t.text for t in root.iter(f"{SVG}text")}  # the exact small count is nowhere


def test_names_are_escaped_and_long_ones_shortened_in_the_legend() -> None:
    series = [Series('<script>"x"</script> & a very long district name indeed', [(DAYS[0], 5)])]
    svg = line_chart(series, "en", WORDS)
    assert "<script>" not in svg
    root = _parse(svg)
    (legend,) = [g for g in root.iter(f"{SVG}g") if g.get("class") == "legend"]
    (label,) = legend.iter(f"{SVG}text")
    assert label.text is not None and len(label.text) <= 28 and label.text.endswith("…")
    assert _series(root)[0].find(f"{SVG}title").text.startswith('<script>"x"')  # type: ignore[union-attr]


def test_date_labels_stay_inside_the_view_box_in_both_locales() -> None:
    """A label centred on the last day must not run past the right edge ("3 thg 12" was cut)."""
    days = [date(2021, 11, 20) + timedelta(days=k) for k in range(14)]
    for locale in ("vi", "en"):
        root = _parse(line_chart([Series("A", [(d, 5) for d in days])], locale, WORDS))
        labels = [t for g in root.iter(f"{SVG}g") if g.get("class") == "x-axis" for t in g.iter(f"{SVG}text")
                  if t.get("class") == "tick"]  # fmt: skip
        assert labels[-1].text == ("3 thg 12" if locale == "vi" else "Dec 3")
        for label in labels:  # 11 px text: under 7 px a character, centred on x
            centre, half = float(label.get("x", 0)), 3.5 * len(label.text or "")
            assert half <= centre <= WIDTH - half, label.text
