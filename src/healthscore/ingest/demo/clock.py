"""Days of the demo window as timestamps, and its weekday rhythm."""

from __future__ import annotations

from datetime import datetime, timedelta

import numpy as np
from numpy.random import Generator
from numpy.typing import NDArray

DAY = 86_400


def weekend_days(start: datetime, days: int) -> NDArray[np.bool_]:
    """Whether each day of the window is a Saturday or Sunday."""
    first = start.weekday()
    return (first + np.arange(days)) % 7 >= 5


def timestamps(start: datetime, day_index: NDArray[np.int64], rng: Generator) -> list[datetime]:
    """A moment inside each given day (working hours more likely), as naive UTC datetimes."""
    seconds = day_index * DAY + rng.normal(14 * 3600, 3 * 3600, len(day_index)).clip(60, DAY - 60)
    base = np.datetime64(start, "us")
    moments = base + (seconds * 1e6).astype("timedelta64[us]")
    stamps: list[datetime] = moments.tolist()
    return stamps


def at(start: datetime, day: float, hours: float = 0.0) -> datetime:
    return start + timedelta(days=day, hours=hours)
