"""Charts that know the health score: tiers, their bands, and 0-100 scales."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

from markupsafe import Markup, escape

from healthscore.charts.bars import Bar, bar_chart
from healthscore.charts.svg import coordinate as _n
from healthscore.charts.svg import empty, figure
from healthscore.formats import quantity

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


def tier_breakdown(counts: dict[str, int], *, width: float = 420, height: float = 200) -> Markup:
    """Accounts per tier in severity order, each bar in its tier's colour."""
    bars = [
        Bar(TIER_LABELS[t], counts.get(t, 0), f"tier-{t}", f"{TIER_LABELS[t]}: {counts.get(t, 0)}")
        for t in TIER_NAMES
    ]
    summary = ", ".join(f"{b.label} {quantity(b.value)}" for b in bars)
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
        return empty(width, row * 2, label, "No data yet", "meter-chart")
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
            f"<title>{escape(name)}: {escape(quantity(value))}</title></rect>"
            f'<text class="meter-value" x="{_n(width)}" y="{_n(y + row / 2)}" '
            f'text-anchor="end" dominant-baseline="middle">{escape(quantity(value))}</text></g>'
        )
    summary = ", ".join(f"{n} {quantity(v)}" for n, v in items)
    return figure(width, height, f"{label}: {summary}", body, css="meter-chart")


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
        return empty(width, height, label, "No history yet", "history-chart")
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
            f'text-anchor="end" dominant-baseline="middle">{quantity(tick)}</text>'
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
            f"<title>{day.isoformat()}: {quantity(score)} ({TIER_LABELS[tier]})</title></circle>"
        )
    summary = (
        f"{label}, {first.isoformat()} to {last.isoformat()}: "
        f"from {quantity(points[0][1])} to {quantity(points[-1][1])}"
    )
    return figure(width, height, summary, body, css="history-chart")
