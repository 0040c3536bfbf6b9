"""Charts as inline SVG strings, built on the server from plain numbers.

Server-rendered SVG needs no JavaScript library, works offline, prints, and is readable by
tests. Builders are pure functions: numbers in, escaped ``Markup`` out. Colours come from
CSS classes (``tier-healthy`` …) so the stylesheet owns the palette, and no ``style``
attributes are emitted, so a strict Content-Security-Policy holds.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

from markupsafe import Markup, escape

TIER_NAMES = ("healthy", "monitor", "at_risk", "critical", "churned")
TIER_LABELS = {
    "healthy": "Healthy",
    "monitor": "Monitor",
    "at_risk": "At risk",
    "critical": "Critical",
    "churned": "Churned",
}


@dataclass(frozen=True)
class Bands:
    """Lower bounds of the tiers (a scorecard's ``tiers``); below ``at_risk`` is critical."""

    healthy: float = 70
    monitor: float = 50
    at_risk: float = 30

    def tier(self, score: float) -> str:
        if score >= self.healthy:
            return "healthy"
        if score >= self.monitor:
            return "monitor"
        if score >= self.at_risk:
            return "at_risk"
        return "critical"


@dataclass(frozen=True)
class Bar:
    """One bar: ``css_class`` picks the colour, ``title`` is the hover/screen-reader text."""

    label: str
    value: float
    css_class: str = ""
    title: str = ""


def _n(value: float) -> str:
    """Coordinates with at most two decimals: short, stable output."""
    text = f"{value:.2f}".rstrip("0").rstrip(".")
    return "0" if text == "-0" else text


def _fmt(value: float) -> str:
    return f"{value:,.0f}" if float(value).is_integer() else f"{value:,.1f}"


def _svg(width: float, height: float, label: str, body: list[str], css: str) -> Markup:
    """The outer element: scales to its container, labelled for assistive technology."""
    head = (
        f'<svg class="chart {escape(css)}" viewBox="0 0 {_n(width)} {_n(height)}" '
        f'width="100%" preserveAspectRatio="xMidYMid meet" role="img" '
        f'aria-label="{escape(label)}" xmlns="http://www.w3.org/2000/svg">'
        f"<title>{escape(label)}</title>"
    )
    return Markup(head + "".join(body) + "</svg>")


def _empty(width: float, height: float, label: str, message: str, css: str) -> Markup:
    text = (
        f'<text class="chart-empty" x="{_n(width / 2)}" y="{_n(height / 2)}" '
        f'text-anchor="middle" dominant-baseline="middle">{escape(message)}</text>'
    )
    return _svg(width, height, f"{label}: {message}", [text], css)


def responsive(wide: Markup, narrow: Markup) -> Markup:
    """Both sizes of a chart; CSS shows one. SVG text scales with the drawing, so one
    drawing cannot be readable both in a 600 px card and on a 390 px phone."""
    return Markup(f'<div class="chart-wide">{wide}</div><div class="chart-narrow">{narrow}</div>')


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
        return _empty(width, height, label, empty, "bar-chart")
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
        title = bar.title or f"{bar.label}: {_fmt(bar.value)}"
        body.append(
            f'<g class="bar-group"><rect class="bar {escape(bar.css_class)}" x="{_n(x)}" '
            f'y="{_n(y)}" width="{_n(w)}" height="{_n(h)}" rx="2" data-value="{_n(bar.value)}">'
            f"<title>{escape(title)}</title></rect>"
            f'<text class="bar-value" x="{_n(x + w / 2)}" y="{_n(y - 5)}" '
            f'text-anchor="middle">{escape(_fmt(bar.value))}</text>'
            f'<text class="bar-label" x="{_n(x + w / 2)}" y="{_n(height - 7)}" '
            f'text-anchor="middle">{escape(bar.label)}</text></g>'
        )
    return _svg(width, height, label, body, "bar-chart")


def tier_breakdown(counts: dict[str, int], *, width: float = 420, height: float = 200) -> Markup:
    """Accounts per tier in severity order, each bar in its tier's colour."""
    bars = [
        Bar(TIER_LABELS[t], counts.get(t, 0), f"tier-{t}", f"{TIER_LABELS[t]}: {counts.get(t, 0)}")
        for t in TIER_NAMES
    ]
    summary = ", ".join(f"{b.label} {_fmt(b.value)}" for b in bars)
    return bar_chart(bars, label=f"Accounts per tier: {summary}", width=width, height=height)


def histogram_bins(scores: dict[int, int], *, bins: int = 10) -> list[int]:
    """Counts per equal-width bin over 0-100 from ``{score: count}``; 100 joins the top bin."""
    size = 100 / bins
    counts = [0] * bins
    for score, count in scores.items():
        counts[min(int(score // size), bins - 1)] += count
    return counts


def score_histogram(
    counts: Sequence[int], bands: Bands, *, width: float = 420, height: float = 200
) -> Markup:
    """Distribution of scores; each bin takes the colour of the tier its lower edge is in."""
    size = 100 / max(len(counts), 1)
    bars = []
    for i, count in enumerate(counts):
        low = round(i * size)
        high = round((i + 1) * size) - (0 if i == len(counts) - 1 else 1)
        bars.append(
            Bar(
                f"{low}",
                count,
                f"tier-{bands.tier(low)}",
                f"Score {low}-{high}: {count} account{'s' if count != 1 else ''}",
            )
        )
    return bar_chart(
        bars,
        label="Accounts by score, in bins of 10 points",
        width=width,
        height=height,
        empty="No scores yet",
    )


def meter_rows(
    items: Sequence[tuple[str, float]],
    *,
    label: str,
    maximum: float = 100,
    width: float = 420,
    row: float = 30,
    bands: Bands | None = None,
) -> Markup:
    """Horizontal bars on a fixed 0-``maximum`` scale (component scores): label, bar, value."""
    if not items:
        return _empty(width, row * 2, label, "No data yet", "meter-chart")
    label_w, value_w = 104.0, 40.0
    track = width - label_w - value_w
    height = row * len(items)
    body = []
    for i, (name, value) in enumerate(items):
        y = i * row
        w = track * min(max(value, 0), maximum) / maximum
        tone = f"tier-{bands.tier(value)}" if bands else "meter-fill"
        body.append(
            f'<g class="meter"><text class="meter-label" x="0" y="{_n(y + row / 2)}" '
            f'dominant-baseline="middle">{escape(name)}</text>'
            f'<rect class="meter-track" x="{_n(label_w)}" y="{_n(y + row / 2 - 6)}" '
            f'width="{_n(track)}" height="12" rx="6"/>'
            f'<rect class="bar {tone}" x="{_n(label_w)}" y="{_n(y + row / 2 - 6)}" '
            f'width="{_n(w)}" height="12" rx="6" data-value="{_n(value)}">'
            f"<title>{escape(name)}: {escape(_fmt(value))}</title></rect>"
            f'<text class="meter-value" x="{_n(width)}" y="{_n(y + row / 2)}" '
            f'text-anchor="end" dominant-baseline="middle">{escape(_fmt(value))}</text></g>'
        )
    summary = ", ".join(f"{n} {_fmt(v)}" for n, v in items)
    return _svg(width, height, f"{label}: {summary}", body, "meter-chart")


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
        return _svg(width, height, f"{label}: none yet", body, "stacked-chart")
    body, x = [], 0.0
    for part in parts:
        w = width * max(part.value, 0) / total
        if w <= 0:
            continue
        title = part.title or f"{part.label}: {_fmt(part.value)}"
        body.append(
            f'<rect class="bar {escape(part.css_class)}" x="{_n(x)}" y="0" width="{_n(w)}" '
            f'height="{_n(height)}" data-value="{_n(part.value)}"><title>{escape(title)}</title>'
            "</rect>"
        )
        x += w
    summary = ", ".join(f"{p.label} {_fmt(p.value)}" for p in parts)
    return _svg(width, height, f"{label}: {summary}", body, "stacked-chart")


def sparkline(
    values: Sequence[float | None],
    *,
    label: str,
    low: float = 0,
    high: float = 100,
    width: float = 96,
    height: float = 24,
    bands: Bands | None = None,
    zero: float | None = None,
) -> Markup:
    """A tiny line over time; the last point is dotted in its tier colour.

    Gaps (``None``) are skipped rather than drawn as zero, which would read as a crash.
    """
    points = [(i, v) for i, v in enumerate(values) if v is not None]
    pad = 3.0
    if not points:
        body = [
            f'<line class="spark-empty" x1="{_n(pad)}" y1="{_n(height / 2)}" '
            f'x2="{_n(width - pad)}" y2="{_n(height / 2)}"/>'
        ]
        return _svg(width, height, f"{label}: no history", body, "sparkline")
    span = max(len(values) - 1, 1)

    def xy(i: int, v: float) -> tuple[float, float]:
        x = pad + (width - 2 * pad) * (i / span if len(values) > 1 else 0.5)
        clamped = min(max(v, low), high)
        return x, pad + (height - 2 * pad) * (1 - (clamped - low) / (high - low))

    coords = [xy(i, v) for i, v in points]
    body = []
    if zero is not None:
        _, zy = xy(0, zero)
        body.append(
            f'<line class="spark-zero" x1="{_n(pad)}" y1="{_n(zy)}" '
            f'x2="{_n(width - pad)}" y2="{_n(zy)}"/>'
        )
    if len(coords) > 1:
        path = " ".join(f"{_n(x)},{_n(y)}" for x, y in coords)
        body.append(f'<polyline class="spark-line" points="{path}"/>')
    last_x, last_y = coords[-1]
    tone = f"tier-{bands.tier(points[-1][1])}" if bands else "spark-dot"
    body.append(f'<circle class="dot {tone}" cx="{_n(last_x)}" cy="{_n(last_y)}" r="2.5"/>')
    first, last = points[0][1], points[-1][1]
    return _svg(width, height, f"{label}: {_fmt(first)} to {_fmt(last)}", body, "sparkline")


def history_chart(
    points: Sequence[tuple[date, float]],
    bands: Bands,
    *,
    width: float = 720,
    height: float = 260,
    ticks: int = 6,
) -> Markup:
    """Score over time on 0-100 with the tier bands shaded behind the line."""
    label = "Score history"
    if not points:
        return _empty(width, height, label, "No history yet", "history-chart")
    left, right, top, bottom = 34.0, 70.0, 10.0, 26.0
    plot_w, plot_h = width - left - right, height - top - bottom

    def y_of(score: float) -> float:
        return top + plot_h * (1 - min(max(score, 0), 100) / 100)

    first, last = points[0][0], points[-1][0]
    days = max((last - first).days, 1)

    def x_of(day: date) -> float:
        if len(points) == 1:
            return left + plot_w / 2
        return left + plot_w * (day - first).days / days

    body = []
    edges = [
        ("critical", 0.0, bands.at_risk),
        ("at_risk", bands.at_risk, bands.monitor),
        ("monitor", bands.monitor, bands.healthy),
        ("healthy", bands.healthy, 100.0),
    ]
    for tier, low, high in edges:
        y1, y2 = y_of(high), y_of(low)
        body.append(
            f'<rect class="band tier-{tier}" x="{_n(left)}" y="{_n(y1)}" '
            f'width="{_n(plot_w)}" height="{_n(y2 - y1)}"/>'
            f'<text class="band-label tier-text-{tier}" x="{_n(left + plot_w + 6)}" '
            f'y="{_n((y1 + y2) / 2)}" dominant-baseline="middle">{TIER_LABELS[tier]}</text>'
        )
    for tick in sorted({0.0, bands.at_risk, bands.monitor, bands.healthy, 100.0}):
        y = y_of(tick)
        body.append(
            f'<line class="grid" x1="{_n(left)}" y1="{_n(y)}" x2="{_n(left + plot_w)}" '
            f'y2="{_n(y)}"/><text class="tick" x="{_n(left - 6)}" y="{_n(y)}" '
            f'text-anchor="end" dominant-baseline="middle">{_fmt(tick)}</text>'
        )
    ticks = min(len(points), ticks)
    seen: set[date] = set()
    for k in range(ticks):
        day = points[round(k * (len(points) - 1) / max(ticks - 1, 1))][0]
        if day in seen:
            continue
        seen.add(day)
        anchor = "start" if k == 0 and ticks > 1 else "end" if k == ticks - 1 else "middle"
        body.append(
            f'<text class="tick" x="{_n(x_of(day))}" y="{_n(height - 8)}" '
            f'text-anchor="{anchor}">{day:%b %d}</text>'
        )
    coords = [(x_of(d), y_of(s)) for d, s in points]
    if len(coords) > 1:
        path = " ".join(f"{_n(x)},{_n(y)}" for x, y in coords)
        body.append(f'<polyline class="history-line" points="{path}"/>')
    show_every = len(points) <= 45
    for index, ((day, score), (x, y)) in enumerate(zip(points, coords, strict=True)):
        if not show_every and index != len(points) - 1:
            continue
        tier = bands.tier(score)
        body.append(
            f'<circle class="dot tier-{tier}" cx="{_n(x)}" cy="{_n(y)}" r="3.5">'
            f"<title>{day.isoformat()}: {_fmt(score)} ({TIER_LABELS[tier]})</title></circle>"
        )
    summary = (
        f"{label}, {first.isoformat()} to {last.isoformat()}: "
        f"from {_fmt(points[0][1])} to {_fmt(points[-1][1])}"
    )
    return _svg(width, height, summary, body, "history-chart")
