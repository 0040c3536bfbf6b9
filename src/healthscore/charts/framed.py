"""Standalone charts with axes and inline colours, for a page that travels alone.

The backtest report is one HTML file a CS lead forwards by email: its charts carry their
own size, font and colours instead of relying on the dashboard's stylesheet.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from markupsafe import Markup, escape

from healthscore.charts.svg import Attribute, element, figure

WIDTH, HEIGHT = 520, 300
MARGIN_LEFT, MARGIN_RIGHT, MARGIN_TOP, MARGIN_BOTTOM = 56, 16, 16, 48
TIER_COLOURS = {
    "critical": "#c0392b",
    "at_risk": "#e67e22",
    "monitor": "#f1c40f",
    "healthy": "#27ae60",
}
PRIMARY, SECONDARY, MUTED = "#2c6fbb", "#8e44ad", "#95a5a6"
AXIS, GRID = "#333", "#eee"


@dataclass(frozen=True)
class Series:
    label: str
    points: Sequence[tuple[float, float]]
    colour: str


def _plot_area() -> tuple[float, float, float, float]:
    """Left, top, width and height of the area inside the axes."""
    return (
        MARGIN_LEFT,
        MARGIN_TOP,
        WIDTH - MARGIN_LEFT - MARGIN_RIGHT,
        HEIGHT - MARGIN_TOP - MARGIN_BOTTOM,
    )


def _text(x: float, y: float, text: str, anchor: str = "middle", **extra: Attribute) -> str:
    return element("text", {"x": x, "y": y, "text-anchor": anchor, **extra}, escape(text))


def _line(x1: float, y1: float, x2: float, y2: float, stroke: str, **extra: Attribute) -> str:
    return element("line", {"x1": x1, "y1": y1, "x2": x2, "y2": y2, "stroke": stroke, **extra})


def _axes(x_label: str, y_label: str) -> str:
    left, top, width, height = _plot_area()
    bottom = top + height
    middle = top + height / 2
    return (
        _line(left, bottom, left + width, bottom, AXIS)
        + _line(left, top, left, bottom, AXIS)
        + _text(left + width / 2, HEIGHT - 8, x_label)
        + _text(14, middle, y_label, transform=f"rotate(-90 14 {middle:.1f})")
    )


def line_chart(
    series: Sequence[Series], *, x_label: str, y_label: str, title: str, diagonal: bool = False
) -> Markup:
    """Lines on a 0-1 x 0-1 square (ROC curves), with an optional chance diagonal."""
    left, top, width, height = _plot_area()

    def at(x: float, y: float) -> str:
        return f"{left + x * width:.1f},{top + (1 - y) * height:.1f}"

    parts = [_axes(x_label, y_label)]
    for tick in (0.0, 0.25, 0.5, 0.75, 1.0):
        x, y = left + tick * width, top + (1 - tick) * height
        parts.append(_text(x, top + height + 14, f"{tick:.0%}"))
        parts.append(_text(left - 6, y + 4, f"{tick:.0%}", anchor="end"))
        parts.append(_line(left, y, left + width, y, GRID))
    if diagonal:
        parts.append(
            element(
                "polyline",
                {
                    "points": f"{at(0, 0)} {at(1, 1)}",
                    "fill": "none",
                    "stroke": MUTED,
                    "stroke-dasharray": "4 4",
                },
            )
        )
        parts.append(_text(left + width * 0.72, top + height * 0.36, "coin flip", fill=MUTED))
    for i, line in enumerate(series):
        points = " ".join(at(x, y) for x, y in line.points)
        parts.append(
            element(
                "polyline",
                {"points": points, "fill": "none", "stroke": line.colour, "stroke-width": "2"},
            )
        )
        legend_y = top + height - 12 - 16 * (len(series) - 1 - i)
        parts.append(
            element(
                "rect",
                {
                    "x": left + width - 170,
                    "y": legend_y - 9,
                    "width": 10,
                    "height": 10,
                    "fill": line.colour,
                },
            )
            + _text(left + width - 155, legend_y, line.label, anchor="start")
        )
    return figure(WIDTH, HEIGHT, title, parts)


def bar_chart(
    labels: Sequence[str],
    values: Sequence[float | None],
    *,
    x_label: str,
    y_label: str,
    title: str,
    value_format: str = "{:.0%}",
    colours: Sequence[str] | None = None,
    reference: float | None = None,
    reference_label: str = "",
) -> Markup:
    """Vertical bars with their value printed on top and an optional reference line."""
    left, top, width, height = _plot_area()
    known = [v for v in values if v is not None]
    peak = max([*known, reference or 0.0, 1e-9]) * 1.15
    slot = width / max(len(labels), 1)
    parts = [_axes(x_label, y_label)]
    for i, (label, value) in enumerate(zip(labels, values, strict=True)):
        middle = left + (i + 0.5) * slot
        parts.append(_text(middle, top + height + 14, label))
        if value is None:
            parts.append(_text(middle, top + height - 4, "n/a"))
            continue
        bar = value / peak * height
        attributes: dict[str, Attribute] = {
            "x": left + i * slot + slot * 0.15,
            "y": top + height - bar,
            "width": slot * 0.7,
            "height": bar,
            "fill": colours[i] if colours else PRIMARY,
        }
        parts.append(element("rect", attributes))
        parts.append(_text(middle, top + height - bar - 4, value_format.format(value)))
    if reference is not None:
        y = top + height - reference / peak * height
        parts.append(_line(left, y, left + width, y, AXIS, **{"stroke-dasharray": "5 3"}))
        parts.append(_text(left + width - 4, y - 4, reference_label, anchor="end"))
    return figure(WIDTH, HEIGHT, title, parts)


def histogram(
    values: Sequence[int], *, bin_days: int, x_label: str, title: str, marker: int | None = None
) -> Markup:
    """Counts of lead times in bins of ``bin_days`` days, with a marker (e.g. at 30 days)."""
    if not values:
        return figure(
            WIDTH, HEIGHT, title, [_text(WIDTH / 2, HEIGHT / 2, "no alerted churners to show")]
        )
    top_edge = max(max(values) + 1, (marker or 0) + 1)
    edges = np.arange(0, top_edge + bin_days, bin_days)
    counts, _ = np.histogram(values, bins=edges)
    labels = [f"{int(lo)}-{int(lo) + bin_days - 1}" for lo in edges[:-1]]
    colours = [
        TIER_COLOURS["healthy"] if marker is not None and lo >= marker else PRIMARY
        for lo in edges[:-1]
    ]
    return bar_chart(
        labels,
        [float(c) for c in counts],
        x_label=x_label,
        y_label="churned accounts",
        title=title,
        value_format="{:.0f}",
        colours=colours,
    )


def reliability_chart(series: Sequence[Series], *, title: str) -> Markup:
    """Predicted probability (x) against the churn rate observed (y), one dot per bin and
    a dashed diagonal where the two agree. Both axes run from 0 to just above the largest
    value, since churn probabilities rarely come near 1 and would crowd a corner."""
    left, top, width, height = _plot_area()
    values = [v for line in series for point in line.points for v in point]
    if not values:
        return figure(WIDTH, HEIGHT, title, [_text(WIDTH / 2, HEIGHT / 2, "no bins to show")])
    # A multiple of 4% (20% above 40%), so the four grid steps are whole percentages.
    top = max(values) * 1.1
    unit = 0.04 if top <= 0.4 else 0.2
    peak = min(1.0, max(unit, float(np.ceil(top / unit)) * unit))

    def at(x: float, y: float) -> tuple[float, float]:
        return left + x / peak * width, top + (1 - y / peak) * height

    parts = [_axes("predicted probability of churn", "share that churned")]
    for step in range(5):
        tick = peak * step / 4
        x, y = at(tick, tick)
        parts.append(_text(x, top + height + 14, f"{tick:.0%}"))
        parts.append(_text(left - 6, y + 4, f"{tick:.0%}", anchor="end"))
        parts.append(_line(left, y, left + width, y, GRID))
    (x0, y0), (x1, y1) = at(0, 0), at(peak, peak)
    parts.append(_line(x0, y0, x1, y1, MUTED, **{"stroke-dasharray": "4 4"}))
    parts.append(_text(x1 - 4, y1 + 14, "perfectly calibrated", anchor="end", fill=MUTED))
    for i, line in enumerate(series):
        coords = [at(x, y) for x, y in line.points]
        parts.append(
            element(
                "polyline",
                {
                    "points": " ".join(f"{x:.1f},{y:.1f}" for x, y in coords),
                    "fill": "none",
                    "stroke": line.colour,
                    "stroke-width": "1.5",
                },
            )
        )
        parts.extend(
            element("circle", {"cx": x, "cy": y, "r": 3.5, "fill": line.colour}) for x, y in coords
        )
        legend_y = top + 12 + 16 * i
        parts.append(
            element(
                "rect",
                {"x": left + 10, "y": legend_y - 9, "width": 10, "height": 10, "fill": line.colour},
            )
            + _text(left + 25, legend_y, line.label, anchor="start")
        )
    return figure(WIDTH, HEIGHT, title, parts)
