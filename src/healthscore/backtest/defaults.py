"""The backtest's defaults, in a module that imports nothing heavy: the CLI shows them in
its options' help without loading numpy, scikit-learn or the database layer."""

from __future__ import annotations

from datetime import timedelta
from typing import Literal

DEFAULT_LOOKBACK_DAYS = 90
"""How far before a churn the lead-time measurement looks for the first alert."""

WARMUP_DAYS = 35
"""Days of data a cut-off needs behind it by default: the default scorecard's longest
activity comparison (logins over 7 days vs the 28 before). Earlier cut-offs would score
every account on half-empty windows and measure the data's start, not the score."""

LABEL_SLACK = timedelta(days=1)
"""A horizon may end up to a day after the newest recorded fact and still count as seen
(data is usually loaded daily, so "now" is within a day of the last fact)."""

Method = Literal["sigmoid", "isotonic"]
METHODS: tuple[Method, ...] = ("sigmoid", "isotonic")
"""Calibration methods (``backtest.calibration``)."""
