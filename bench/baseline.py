"""Seed 000's ``calculateHealthScore`` loop, re-implemented faithfully, as the baseline.

Per customer, exactly what the seed does: one SQL query per signal (sessions, feature
usage, support tickets, payments, users), the API usage trend from two Redis counters
(``usage:<id>:api_calls:<YYYY-MM>``), ``GET``/``SET`` of ``health:prev:<id>``, ``SET … EX``
(the seed's ``SETEX``) of ``health:score:<id>``, an ``INSERT … ON CONFLICT`` of the score,
and an ``RPUSH`` of an alert when critical or at risk and declining. Queries run on
healthscore's tables (the seed's ``created_at``/``used_at`` columns are our ``ts``), one
customer after another, over one connection each to PostgreSQL and Redis — the seed's
shape, not a strawman. ``signal_disagreements`` checks that a ``seed000`` rescore computed
the same signal values, so the two times compare like for like.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from datetime import datetime, timedelta

import psycopg
import redis

SIGNALS: list[tuple[str, float]] = [
    ("login_frequency", 0.2),
    ("feature_adoption", 0.2),
    ("support_sentiment", 0.15),
    ("api_usage_trend", 0.15),
    ("payment_health", 0.15),
    ("team_growth", 0.15),
]


def load_usage_counters(pg: psycopg.Connection, r: redis.Redis, prefix: str, now: datetime) -> None:
    """Seed 000 keeps monthly API call counters in Redis; build them from ``api_usage``."""
    rows = pg.execute(
        "SELECT customer_id, to_char(ts, 'YYYY-MM'), SUM(calls) FROM api_usage "
        "WHERE ts < %s GROUP BY 1, 2",
        (now.replace(tzinfo=None),),
    )
    pipe = r.pipeline(transaction=False)
    for customer_id, month, calls in rows:
        pipe.set(f"{prefix}usage:{customer_id}:api_calls:{month}", int(calls))
    pipe.execute()


def calculate_health_score(
    pg: psycopg.Connection, r: redis.Redis, customer_id: str, now: datetime, prefix: str
) -> int:
    """One customer, as seed 000's ``calculateHealthScore`` (NOW() pinned to ``now``)."""
    t = now.replace(tzinfo=None)

    def count(sql: str) -> int:
        row = pg.execute(sql, (customer_id, t, t)).fetchone()
        return int(row[0]) if row else 0

    def login_frequency() -> float:
        c = count(
            "SELECT COUNT(*) FROM sessions WHERE customer_id = %s "
            "AND ts > %s - INTERVAL '30 days' AND ts <= %s"
        )
        return min(1, c / 20)

    def feature_adoption() -> float:
        c = count(
            "SELECT COUNT(DISTINCT feature) FROM feature_usage WHERE customer_id = %s "
            "AND ts > %s - INTERVAL '30 days' AND ts <= %s"
        )
        return min(1, c / 10)

    def support_sentiment() -> float:
        row = pg.execute(
            "SELECT AVG(rating) FROM support_tickets WHERE customer_id = %s "
            "AND opened_at > %s - INTERVAL '90 days' AND opened_at <= %s",
            (customer_id, t, t),
        ).fetchone()
        return float(row[0]) / 5 if row and row[0] is not None else 0.5

    def api_usage_trend() -> float:
        current = float(r.get(f"{prefix}usage:{customer_id}:api_calls:{now:%Y-%m}") or "0")
        earlier = now - timedelta(days=30)
        previous = float(r.get(f"{prefix}usage:{customer_id}:api_calls:{earlier:%Y-%m}") or "1")
        return min(1, current / previous) if previous > 0 else 0

    def payment_health() -> float:
        row = pg.execute(
            "SELECT COUNT(*) FILTER (WHERE status = 'failed'), COUNT(*) FROM payments "
            "WHERE customer_id = %s AND ts > %s - INTERVAL '90 days' AND ts <= %s",
            (customer_id, t, t),
        ).fetchone()
        failed, total = (int(row[0]), int(row[1])) if row else (0, 0)
        return 1 - failed / total if total > 0 else 1

    def team_growth() -> float:
        c = count(
            "SELECT COUNT(*) FROM users WHERE customer_id = %s "
            "AND created_at > %s - INTERVAL '30 days' AND created_at <= %s"
        )
        return min(1, c / 3)

    calculators: dict[str, Callable[[], float]] = {
        "login_frequency": login_frequency,
        "feature_adoption": feature_adoption,
        "support_sentiment": support_sentiment,
        "api_usage_trend": api_usage_trend,
        "payment_health": payment_health,
        "team_growth": team_growth,
    }
    signals = []
    total = 0.0
    for name, weight in SIGNALS:
        value = calculators[name]()
        contribution = value * weight
        total += contribution
        signals.append(
            {
                "name": name,
                "value": math.floor(value * 100 + 0.5),
                "weight": weight,
                "contribution": math.floor(contribution * 100 + 0.5),
            }
        )
    score = math.floor(total * 100 + 0.5)
    previous = int(r.get(f"{prefix}health:prev:{customer_id}") or score)
    trend = (
        "improving" if score > previous + 5 else "declining" if score < previous - 5 else "stable"
    )
    risk = (
        "healthy"
        if score >= 70
        else "monitor"
        if score >= 50
        else "at_risk"
        if score >= 30
        else "critical"
    )
    r.set(f"{prefix}health:prev:{customer_id}", score)
    r.set(  # SET … EX: the seed's SETEX, which redis-py deprecates
        f"{prefix}health:score:{customer_id}",
        json.dumps({"score": score, "trend": trend, "riskLevel": risk}),
        ex=86400,
    )
    pg.execute(
        "INSERT INTO baseline_health_scores (customer_id, score, trend, risk_level, signals, "
        "calculated_at) VALUES (%s, %s, %s, %s, %s, now()) ON CONFLICT (customer_id) DO UPDATE "
        "SET score = EXCLUDED.score, trend = EXCLUDED.trend, risk_level = EXCLUDED.risk_level, "
        "signals = EXCLUDED.signals, calculated_at = now()",
        (customer_id, score, trend, risk, json.dumps(signals)),
    )
    if risk == "critical" or (risk == "at_risk" and trend == "declining"):
        r.rpush(
            f"{prefix}notification:queue",
            json.dumps(
                {
                    "type": "health_alert",
                    "customerId": customer_id,
                    "score": score,
                    "riskLevel": risk,
                    "trend": trend,
                }
            ),
        )
    return score


def run_baseline(pg_dsn: str, redis_url: str, *, now: datetime, prefix: str) -> dict[str, float]:
    """The nightly job: every active customer, one after another; autocommit per statement."""
    r = redis.Redis.from_url(redis_url)
    with psycopg.connect(pg_dsn, autocommit=True) as pg:
        pg.execute(
            "CREATE TABLE IF NOT EXISTS baseline_health_scores (customer_id text PRIMARY KEY, "
            "score int, trend text, risk_level text, signals jsonb, calculated_at timestamptz)"
        )
        load_usage_counters(pg, r, prefix, now)
        ids = [
            row[0]
            for row in pg.execute(
                "SELECT id FROM customers WHERE churned_at IS NULL OR churned_at > %s",
                (now.replace(tzinfo=None),),
            )
        ]
        started, cpu_started = time.perf_counter(), time.process_time()
        for customer_id in ids:
            calculate_health_score(pg, r, customer_id, now, prefix)
        elapsed = time.perf_counter() - started
        cpu = time.process_time() - cpu_started
    batch: list[bytes] = []
    for key in r.scan_iter(f"{prefix}*", count=10_000):
        batch.append(key)
        if len(batch) >= 5000:
            r.unlink(*batch)
            batch.clear()
    if batch:
        r.unlink(*batch)
    r.close()
    return {"total": elapsed, "cpu_s": cpu, "accounts": float(len(ids))}


COMPARED_SIGNALS = [name for name, _ in SIGNALS if name != "api_usage_trend"]
"""The signals healthscore's ``seed000`` scorecard computes as the seed does. The API usage
trend is the deliberate exception (rolling 30-day windows, not calendar-month counters;
docs/scorecards.md)."""


def signal_disagreements(pg: psycopg.Connection) -> tuple[int, dict[str, list[str]]]:
    """Whether the loop and a ``seed000`` rescore did the same work: per account scored by
    both, the compared signals whose values differ (the loop stores each value in whole
    percent, ours keeps the fraction: they agree within half a percent). Returns the number
    of accounts compared and the disagreeing ones."""
    rows = pg.execute(
        "SELECT h.customer_id, h.signals, b.signals FROM health_scores h "
        "JOIN baseline_health_scores b USING (customer_id) "
        "WHERE h.score IS NOT NULL AND h.scorecard LIKE %s",
        ("seed000@%",),
    ).fetchall()
    disagreeing: dict[str, list[str]] = {}
    for customer_id, ours, theirs in rows:
        loop = {signal["name"]: signal["value"] for signal in theirs}
        differing = [
            name
            for name in COMPARED_SIGNALS
            if abs(ours["value"][name] * 100 - loop[name]) > 0.5 + 1e-9
        ]
        if differing:
            disagreeing[customer_id] = differing
    return len(rows), disagreeing
