"""What a scorecard reads: the aggregates (metric, window, offset) of its signals, each
segment's and stage's variant and the product signals included, so that one batch of
queries serves a whole run; and how far back it reads raw events, which retention must
keep."""

from __future__ import annotations

from healthscore.scoring.labels import Basis
from healthscore.scoring.metrics import METRICS, Aggregate
from healthscore.scoring.scorecard import Measurement, Scorecard, Signal


def measurement_aggregates(measurement: Measurement) -> list[Aggregate]:
    """The aggregates one measurement reads, including seats and the baseline window."""
    metric = METRICS[measurement.metric]
    needed = metric.needs(measurement.window_days, 0)
    if measurement.basis is Basis.per_seat:
        needed += METRICS["seats"].needs(measurement.window_days, 0)
    elif measurement.basis is Basis.vs_baseline:
        needed += metric.needs(measurement.effective_baseline_days, measurement.window_days)
    return needed


def signal_aggregates(signal: Signal) -> list[Aggregate]:
    """The aggregates a signal reads: its own measurement's and its fallbacks'."""
    return [a for m in signal.measurements() for a in measurement_aggregates(m)]


def required_aggregates(scorecard: Scorecard) -> set[Aggregate]:
    """Everything any segment's variant of the scorecard reads: one batch of queries."""
    return {
        aggregate
        for variant in scorecard.all_variants()
        for signal in variant.signals
        for aggregate in signal_aggregates(signal)
    }


def product_aggregates(scorecard: Scorecard) -> set[Aggregate]:
    """What the scorecard's product signals read, per account and product (none without
    a ``products`` section)."""
    if scorecard.products is None:
        return set()
    return {a for s in scorecard.products.signals for a in signal_aggregates(s)}


RAW_EVENT_SOURCES = frozenset({"sessions", "feature_usage", "api_usage"})


def raw_event_lookback_days(scorecard: Scorecard) -> int:
    """How far back the scorecard reads raw product events: retention must keep them.
    Product signals and the products' activity shares read raw events only."""
    shares = scorecard.products.combine.window_days if scorecard.products else 0
    return max(
        [shares]
        + [
            a.window_days + a.offset_days
            for a in required_aggregates(scorecard) | product_aggregates(scorecard)
            if a.source in RAW_EVENT_SOURCES and a.window_days is not None
        ]
    )
