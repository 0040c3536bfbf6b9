"""Numbers and moments as text: one set of formatters for the dashboard, charts, reports, CLI.

Each says what it is for, so two screens showing the same quantity show the same text.
``missing`` is what an unknown value reads as: the dashboard uses an em dash, reports and
the CLI spell out "n/a".
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from healthscore.timeutc import utc

DASH = "—"
NOT_AVAILABLE = "n/a"


def measurement(value: float | Decimal | None, *, missing: str = DASH) -> str:
    """Raw measurements: magnitude-aware precision, never scientific notation."""
    if value is None:
        return missing
    v = float(value)
    if v.is_integer():
        return f"{v:,.0f}"
    if abs(v) >= 100:
        return f"{v:,.0f}"
    if abs(v) >= 10:
        return f"{v:,.1f}"
    return f"{v:.3f}".rstrip("0").rstrip(".")


def quantity(value: float) -> str:
    """Counts and scores on a chart: whole numbers as such, others to one decimal."""
    return f"{value:,.0f}" if float(value).is_integer() else f"{value:,.1f}"


def money(value: Decimal | float | None, digits: int = 0, *, missing: str = DASH) -> str:
    return missing if value is None else f"{float(value):,.{digits}f}"


def signed(value: float | None, digits: int = 0, *, missing: str = DASH) -> str:
    """Changes (points, deltas) with a real minus sign, an explicit plus, and ``±0``."""
    if value is None:
        return missing
    text = f"{value:+,.{digits}f}"
    return "±0" if float(text.replace(",", "")) == 0 else text.replace("-", "\u2212")


def decimal(value: float | None, digits: int = 2, *, missing: str = NOT_AVAILABLE) -> str:
    """Statistics (AUC, lift, days) to a fixed number of decimals."""
    return missing if value is None else f"{value:.{digits}f}"


def percent(value: float | None, digits: int = 0, *, missing: str = NOT_AVAILABLE) -> str:
    """A share (0.25) as a percentage (25%)."""
    return missing if value is None else f"{value:.{digits}%}"


def estimate(
    value: float | None,
    low: float | None,
    high: float | None,
    *,
    interval: str,
    unknown: str = NOT_AVAILABLE,
    digits: int = 3,
) -> str:
    """A statistic with its confidence interval, e.g. ``0.812 [0.790-0.833]``.

    ``interval`` places the range after the value (``"[{}]"``, ``"(95% CI {})"``); without
    an interval only the value is shown, without a value ``unknown`` (which may say why).
    """
    if value is None:
        return unknown
    if low is None or high is None:
        return f"{value:.{digits}f}"
    return f"{value:.{digits}f} " + interval.format(f"{low:.{digits}f}-{high:.{digits}f}")


def timestamp(value: datetime | None, *, missing: str = DASH) -> str:
    """A moment in UTC to the minute, labelled as UTC."""
    if value is None:
        return missing
    return utc(value).strftime("%Y-%m-%d %H:%M UTC")


def day(value: datetime | date | None, *, missing: str = DASH) -> str:
    return missing if value is None else value.strftime("%Y-%m-%d")


def duration(seconds: float) -> str:
    """A span such as a clock's skew, in its largest sensible unit: ``45 s``, ``12 min``,
    ``3.5 h``, ``2.0 days``."""
    seconds = abs(seconds)
    if seconds < 60:
        return f"{seconds:.0f} s"
    if seconds < 3600:
        return f"{seconds / 60:.0f} min"
    if seconds < 86400:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:,.1f} days"
