"""Lines over time for pages styled by a stylesheet: the sparkline, the monthly chart."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

from markupsafe import Markup

from healthscore.charts.scores import Bands
from healthscore.charts.svg import coordinate as _n
from healthscore.charts.svg import empty, figure
from healthscore.formats import quantity


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
        return figure(width, height, f"{label}: no history", body, css="sparkline")
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
    return figure(
        width, height, f"{label}: {quantity(first)} to {quantity(last)}", body, css="sparkline"
    )


def monthly_chart(
    points: Sequence[tuple[date, float | None]],
    *,
    label: str,
    low: float = -100,
    high: float = 100,
    ticks: Sequence[float] = (-100, -50, 0, 50, 100),
    width: float = 360,
    height: float = 170,
) -> Markup:
    """One value per month on a labelled scale: a y axis with ticks and grid lines, the
    month under each point and the value above it. Months without a value are gaps."""
    known = [(d, v) for d, v in points if v is not None]
    if not known:
        return empty(width, height, label, "No answers yet", "monthly-chart")
    left, right, top, bottom = 38.0, 12.0, 18.0, 24.0
    plot_w, plot_h = width - left - right, height - top - bottom
    step = plot_w / max(len(points), 1)

    def x_of(index: int) -> float:
        return left + step * (index + 0.5)

    def y_of(value: float) -> float:
        return top + plot_h * (1 - (min(max(value, low), high) - low) / (high - low))

    body = []
    for tick in ticks:
        y = y_of(tick)
        css = "axis" if tick == 0 else "grid"
        body.append(
            f'<line class="{css}" x1="{_n(left)}" y1="{_n(y)}" x2="{_n(left + plot_w)}" '
            f'y2="{_n(y)}"/><text class="tick" x="{_n(left - 6)}" y="{_n(y)}" '
            f'text-anchor="end" dominant-baseline="middle">{quantity(tick)}</text>'
        )
    coords: list[tuple[float, float, date, float]] = []
    for index, (month, value) in enumerate(points):
        x = x_of(index)
        name = f"{month:%b}" if month.month != 1 or index == 0 else f"{month:%b %y}"
        body.append(
            f'<text class="tick" x="{_n(x)}" y="{_n(height - 6)}" text-anchor="middle">'
            f"{name}</text>"
        )
        if value is not None:
            coords.append((x, y_of(value), month, value))
    runs: list[list[tuple[float, float]]] = [[]]
    for index, (_, value) in enumerate(points):
        if value is None:
            runs.append([])
        else:
            runs[-1].append((x_of(index), y_of(value)))
    for run in runs:
        if len(run) > 1:
            path = " ".join(f"{_n(x)},{_n(y)}" for x, y in run)
            body.append(f'<polyline class="monthly-line" points="{path}"/>')
    for x, y, month, value in coords:
        body.append(
            f'<circle class="dot" cx="{_n(x)}" cy="{_n(y)}" r="3.5">'
            f"<title>{month:%B %Y}: {quantity(value)}</title></circle>"
            f'<text class="point-value" x="{_n(x)}" y="{_n(y - 8)}" text-anchor="middle">'
            f"{quantity(value)}</text>"
        )
    first, last = known[0], known[-1]
    summary = (
        f"{label}, {first[0]:%B %Y} to {last[0]:%B %Y}: "
        f"from {quantity(first[1])} to {quantity(last[1])}"
    )
    return figure(width, height, summary, body, css="monthly-chart")
