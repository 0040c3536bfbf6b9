"""Lines over time for pages styled by a stylesheet: the sparkline."""

from __future__ import annotations

from collections.abc import Sequence

from markupsafe import Markup

from healthscore.charts.scores import Bands
from healthscore.charts.svg import coordinate as _n
from healthscore.charts.svg import figure
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
