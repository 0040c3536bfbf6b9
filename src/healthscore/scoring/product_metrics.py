"""Which metrics a scorecard's product signals may use: those computed from raw product
events alone (sessions, feature uses, API calls), which can be grouped by product.

Seats, payments, tickets and NPS answers belong to the account, not to a product, and the
daily roll-ups are per account: a product signal reads the raw events of its product
(``product_queries``). Pure: no SQL here.
"""

from __future__ import annotations

from healthscore.scoring.metrics import METRICS, Aggregate, Metric, Source

PRODUCT_MEASURES: dict[Source, frozenset[str]] = {
    "sessions": frozenset({"logins", "active_users", "active_seat_days", "last_age_days"}),
    "feature_usage": frozenset({"feature_events", "distinct_features"}),
    "api_usage": frozenset({"api_calls", "api_days"}),
}
"""The per-product aggregates ``product_queries`` computes, by raw table."""


def per_product(aggregate: Aggregate) -> bool:
    """Whether ``aggregate`` can be computed for one product of an account."""
    return aggregate.measure in PRODUCT_MEASURES.get(aggregate.source, frozenset())


def _shortest_window(metric: Metric) -> int:
    step = metric.window_step
    return -(-metric.min_window // step) * step


def _product_metric(metric: Metric) -> bool:
    return all(per_product(a) for a in metric.needs(_shortest_window(metric), 0))


PRODUCT_METRICS: tuple[str, ...] = tuple(
    name for name, metric in METRICS.items() if _product_metric(metric)
)
"""Metrics a product signal may use: logins, active users, seat-days, days since the
last login, feature events, distinct features, API calls, API days, activity days and
its weekly change."""
