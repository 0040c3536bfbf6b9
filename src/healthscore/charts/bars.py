"""Bars for pages styled by a stylesheet: vertical bars, meters, one stacked 100% bar."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from markupsafe import Markup, escape

from healthscore.charts import svg
from healthscore.charts.svg import coordinate as _n
from healthscore.charts.svg import figure
from healthscore.formats import quantity


@dataclass(frozen=True)
class Bar:
    """One bar: ``css_class`` picks the colour, ``title`` is the hover/screen-reader text."""

    label: str
    value: float
    css_class: str = ""
    title: str = ""


def bar_chart(
    bars: Sequence[Bar],
    *,
    label: str,
    width: float = 420,
    height: float = 200,
    empty: str = "No data yet",
) -> Markup:
    """Vertical bars, heights proportional to values, value above and label below each.

    All-zero input is drawn as an empty state: bars of height zero would look like a
    rendering fault rather than "nothing here yet".
    """
    if not bars or max(b.value for b in bars) <= 0:
        return svg.empty(width, height, label, empty, "bar-chart")
    top, bottom, side = 20.0, 24.0, 4.0
    plot = height - top - bottom
    slot = (width - 2 * side) / len(bars)
    gap = min(slot * 0.25, 14.0)
    peak = max(b.value for b in bars)
    body = [
        f'<line class="axis" x1="{_n(side)}" y1="{_n(top + plot)}" '
        f'x2="{_n(width - side)}" y2="{_n(top + plot)}"/>'
    ]
    for i, bar in enumerate(bars):
        h = plot * max(bar.value, 0) / peak
        x = side + i * slot + gap / 2
        y = top + plot - h
        w = slot - gap
        title = bar.title or f"{bar.label}: {quantity(bar.value)}"
        body.append(
            f'<g class="bar-group"><rect class="bar {escape(bar.css_class)}" x="{_n(x)}" '
            f'y="{_n(y)}" width="{_n(w)}" height="{_n(h)}" rx="2" data-value="{_n(bar.value)}">'
            f"<title>{escape(title)}</title></rect>"
            f'<text class="bar-value" x="{_n(x + w / 2)}" y="{_n(y - 5)}" '
            f'text-anchor="middle">{escape(quantity(bar.value))}</text>'
            f'<text class="bar-label" x="{_n(x + w / 2)}" y="{_n(height - 7)}" '
            f'text-anchor="middle">{escape(bar.label)}</text></g>'
        )
    return figure(width, height, label, body, css="bar-chart")


def stacked_bar(
    parts: Sequence[Bar], *, label: str, width: float = 420, height: float = 16
) -> Markup:
    """One 100% bar split by share (promoters / passives / detractors)."""
    total = sum(max(p.value, 0) for p in parts)
    if total <= 0:
        body = [
            f'<rect class="meter-track" x="0" y="0" width="{_n(width)}" '
            f'height="{_n(height)}" rx="{_n(height / 2)}"/>'
        ]
        return figure(width, height, f"{label}: none yet", body, css="stacked-chart")
    body, x = [], 0.0
    for part in parts:
        w = width * max(part.value, 0) / total
        if w <= 0:
            continue
        title = part.title or f"{part.label}: {quantity(part.value)}"
        body.append(
            f'<rect class="bar {escape(part.css_class)}" x="{_n(x)}" y="0" width="{_n(w)}" '
            f'height="{_n(height)}" data-value="{_n(part.value)}"><title>{escape(title)}</title>'
            "</rect>"
        )
        x += w
    summary = ", ".join(f"{p.label} {quantity(p.value)}" for p in parts)
    return figure(width, height, f"{label}: {summary}", body, css="stacked-chart")
