"""What a signal measures and how it is judged, in words generated from the scorecard.

Explanations are built from the signal as resolved for the account (its segment's and
lifecycle stage's overrides merged), never from hand-written text that could drift from
the numbers: the window, the basis, the targets and the default for no data are the ones
that produced the score.
"""

from __future__ import annotations

from healthscore.formats import measurement as number
from healthscore.scoring.labels import Basis
from healthscore.scoring.metrics import METRICS
from healthscore.scoring.normalisations import (
    InverseNormalisation,
    RampNormalisation,
    TargetNormalisation,
)
from healthscore.scoring.scorecard import Measurement, Signal


def _point_in_time(metric: str) -> bool:
    """A count at the moment of scoring (seats, open tickets, sentiment in force)."""
    return all(a.window_days is None for a in METRICS[metric].needs(30, 0))


def measured(measurement: Measurement) -> str:
    """``Activity-days … per seat, over the last 14 days``."""
    metric = METRICS[measurement.metric]
    text = metric.description.rstrip(".")
    for words in (" in the window", " over the window"):
        text = text.replace(words, "")
    if measurement.basis is Basis.per_seat:
        text += ", per seat"
    if _point_in_time(measurement.metric):
        return text
    window = measurement.window_days
    if measurement.basis is Basis.vs_baseline:
        baseline = measurement.effective_baseline_days
        return (
            f"{text}: the daily rate over the last {window} days against the account's own "
            f"over the {baseline} days before (1 = as usual)"
        )
    return f"{text}, over the last {window} days"


def judged(measurement: Measurement) -> str:
    """``2 or more is full marks``: the normalisation, in words."""
    rule = measurement.normalise
    if isinstance(rule, TargetNormalisation):
        return f"{number(rule.target)} or more is full marks"
    if isinstance(rule, InverseNormalisation):
        return f"none is full marks, {number(rule.cap)} or more is 0"
    assert isinstance(rule, RampNormalisation)
    low, high = number(rule.low), number(rule.high)
    if rule.low < rule.high:
        return f"{low} or less is 0, {high} or more is full marks"
    return f"{low} or more is 0, {high} or less is full marks"


def describe(signal: Signal) -> str:
    """The whole explanation: what is measured, how it is judged, what no data means."""
    parts = [f"{measured(signal)}; {judged(signal)}"]
    for fallback in signal.fallback:
        parts.append(
            f"without data, {measured(fallback)[:1].lower()}{measured(fallback)[1:]}; "
            f"{judged(fallback)}"
        )
    if signal.when_missing == "skip":
        parts.append("no data: the account is scored on the other signals")
    else:
        parts.append(f"no data counts as {number(round(signal.missing * 100, 1))}% of full marks")
    return ". ".join(part[:1].upper() + part[1:] for part in parts) + "."
