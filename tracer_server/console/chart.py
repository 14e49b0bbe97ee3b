"""A server-drawn SVG line chart: daily counts per series, with axes, ticks, titles and a legend.

Hand-written rather than matplotlib: the console must not import a plotting stack (and numpy's
fonts and caches) per request, and its SVG would carry no ``<title>`` or language. Pure: the data,
the page's locale and the words (already translated) in, an SVG string out; no script, so the
console's CSP holds.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date
from html import escape

from babel.dates import format_skeleton
from babel.numbers import format_decimal

__all__ = ["ChartWords", "Series", "line_chart", "nice_ticks"]

WIDTH, HEIGHT = 720, 360
LEFT, RIGHT, TOP, PLOT_BOTTOM = (
    64,
    40,
    36,
    236,
)  # RIGHT: room for half the last date  # the plot area; the legend goes below it
LEGEND_COLUMNS, LEGEND_ROW = 3, 18
COLOURS = ("#0b5394", "#b45f06", "#38761d", "#990000", "#674ea7", "#0097a7", "#bf9000", "#444444")
# A legend column is (WIDTH - LEFT - RIGHT) / 3 = 205 px: about 28 characters at 11 px.
MAX_LABEL = 28


@dataclass(frozen=True)
class Series:
    name: str
    points: list[tuple[date, int]]


@dataclass(frozen=True)
class ChartWords:
    """The chart's sentences in the page's language (the caller translates them)."""

    title: str
    x_axis: str
    y_axis: str
    hidden: str
    """The band under ``floor``: e.g. "fewer than 10, not shown exactly"."""


def nice_ticks(top: int, most: int = 6) -> list[int]:
    """0 to at least ``top`` in whole steps of 1, 2 or 5 × 10ⁿ, at most ``most`` ticks."""
    if top <= 0:
        return [0, 1]
    step = 1
    for magnitude in range(0, 12):
        for factor in (1, 2, 5):
            step = factor * 10**magnitude
            if math.ceil(top / step) + 1 <= most:
                return [step * k for k in range(math.ceil(top / step) + 1)]
    return [0, step]


def _short(name: str) -> str:
    return name if len(name) <= MAX_LABEL else name[: MAX_LABEL - 1] + "…"


def line_chart(series: list[Series], locale: str, words: ChartWords, floor: int = 0) -> str:
    """One line per series over the same days. Counts under ``floor`` are drawn at 0 inside a
    band that says so: the page shows them as "< floor", and the chart must not tell more."""
    days = sorted({day for s in series for day, _ in s.points})
    position = {day: index for index, day in enumerate(days)}
    rows = math.ceil(len(series) / LEGEND_COLUMNS)
    height = PLOT_BOTTOM + 48 + rows * LEGEND_ROW
    ticks = nice_ticks(max([floor, *(count for s in series for _, count in s.points)]))
    plot_w, plot_h = WIDTH - LEFT - RIGHT, PLOT_BOTTOM - TOP

    def x(day: date) -> float:
        index = position[day]
        return LEFT + (plot_w * index / (len(days) - 1) if len(days) > 1 else plot_w / 2)

    def y(count: int) -> float:
        return PLOT_BOTTOM - plot_h * count / ticks[-1]

    def number(value: int) -> str:
        return format_decimal(value, locale=locale)

    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {height}" width="100%"'
        f' style="max-width: {WIDTH}px; height: auto" role="img" aria-labelledby="chart-title"'
        f' font-family="system-ui, sans-serif" font-size="11">',
        f'<title id="chart-title">{escape(words.title)}</title>',
        f'<text class="chart-title" x="{LEFT}" y="18" font-size="13" font-weight="600">'
        f"{escape(words.title)}</text>",
    ]
    if floor > 0:
        band_top = y(floor)  # its words sit just above it: a thin band has no room inside
        out.append(
            f'<g class="hidden-band"><rect x="{LEFT}" y="{band_top:.1f}" width="{plot_w}"'
            f' height="{PLOT_BOTTOM - band_top:.1f}" fill="#eef1f4"/>'
            f'<text x="{LEFT + plot_w - 4}" y="{band_top - 3:.1f}" text-anchor="end" fill="#57606a">'
            f"{escape(words.hidden)}</text></g>"
        )
    out.append('<g class="y-axis">')
    for tick in ticks:
        out.append(
            f'<line x1="{LEFT}" x2="{LEFT + plot_w}" y1="{y(tick):.1f}" y2="{y(tick):.1f}"'
            f' stroke="{"#8c959f" if tick == 0 else "#d0d7de"}"/>'
            f'<text class="tick" x="{LEFT - 6}" y="{y(tick) + 4:.1f}" text-anchor="end">{number(tick)}</text>'
        )
    middle = (TOP + PLOT_BOTTOM) / 2
    out.append(
        f'<text class="axis-title" x="14" y="{middle:.1f}" text-anchor="middle"'
        f' transform="rotate(-90 14 {middle:.1f})">{escape(words.y_axis)}</text></g>'
    )
    # A date label is about 50 px wide: label every k-th day so they never overlap, and the last.
    every = max(1, math.ceil(len(days) * 60 / plot_w))
    out.append('<g class="x-axis">')
    for index, day in enumerate(days):
        if index % every and index != len(days) - 1:
            continue
        if index != len(days) - 1 and len(days) - 1 - index < every:
            continue  # too close to the last day's label
        out.append(
            f'<line x1="{x(day):.1f}" x2="{x(day):.1f}" y1="{PLOT_BOTTOM}" y2="{PLOT_BOTTOM + 4}" stroke="#8c959f"/>'
            f'<text class="tick" x="{x(day):.1f}" y="{PLOT_BOTTOM + 16}" text-anchor="middle"'
            f' data-day="{day.isoformat()}">{escape(format_skeleton("MMMd", day, locale=locale))}</text>'
        )
    out.append(
        f'<text class="axis-title" x="{LEFT + plot_w / 2:.1f}" y="{PLOT_BOTTOM + 34}" text-anchor="middle">'
        f"{escape(words.x_axis)}</text></g>"
    )
    legend_w = plot_w / LEGEND_COLUMNS
    for index, s in enumerate(series):
        colour = COLOURS[index % len(COLOURS)]
        drawn = [(day, count if count >= floor else 0) for day, count in s.points]
        points = " ".join(f"{x(day):.1f},{y(count):.1f}" for day, count in drawn)
        out.append(f'<g class="series" data-name="{escape(s.name)}"><title>{escape(s.name)}</title>')
        out.append(f'<polyline fill="none" stroke="{colour}" stroke-width="2" points="{points}"/>')
        for (day, count), (_, shown) in zip(s.points, drawn, strict=True):
            said = number(count) if count >= floor else f"< {number(floor)}"
            when = format_skeleton("yMMMd", day, locale=locale)
            out.append(
                f'<circle cx="{x(day):.1f}" cy="{y(shown):.1f}" r="2.5" fill="{colour}">'
                f"<title>{escape(s.name)}, {escape(when)}: {escape(said)}</title>"
                "</circle>"
            )
        lx = LEFT + legend_w * (index % LEGEND_COLUMNS)
        ly = PLOT_BOTTOM + 56 + LEGEND_ROW * (index // LEGEND_COLUMNS)
        out.append(
            f'<g class="legend"><rect x="{lx:.1f}" y="{ly - 9}" width="14" height="4" fill="{colour}"/>'
            f'<text x="{lx + 20:.1f}" y="{ly - 4}">{escape(_short(s.name))}</text></g></g>'
        )
    out.append("</svg>")
    return "".join(out)
