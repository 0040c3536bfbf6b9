"""The ``seed000`` scorecard computes exactly what seed 000's ``calculateHealthScore`` does.

The reference below is seed 000's JavaScript transcribed line by line over plain Python
lists (one "query" per signal), so it shares no code with the engine. Hypothesis draws
small accounts with arbitrary activity; every signal value, the score and the tier must
agree, on SQLite and on PostgreSQL.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from healthscore.ingest.bulk import insert_rows
from healthscore.scoring.scorecard_loading import load_scorecard
from healthscore.scoring.service import score_accounts
from healthscore.storage import models as m
from healthscore.storage.maintenance import delete_all_data

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
FEATURES = [f"feature_{i}" for i in range(14)]

# Moments are whole hours plus 17 minutes before NOW: never exactly on a window boundary,
# where seed 000's "> NOW() - 30 days" and our half-open windows could legitimately differ.
ago = st.integers(min_value=0, max_value=130 * 24).map(
    lambda hours: NOW - timedelta(hours=hours, minutes=17)
)


@dataclass
class Activity:
    sessions: list[datetime] = field(default_factory=list)
    features: list[tuple[datetime, str]] = field(default_factory=list)
    api_calls: list[tuple[datetime, int]] = field(default_factory=list)
    users: list[datetime] = field(default_factory=list)
    payments: list[tuple[datetime, bool]] = field(default_factory=list)  # (ts, failed)
    tickets: list[tuple[datetime, int | None]] = field(default_factory=list)  # (ts, rating)


activities = st.builds(
    Activity,
    sessions=st.lists(ago, max_size=30),
    features=st.lists(st.tuples(ago, st.sampled_from(FEATURES)), max_size=20),
    api_calls=st.lists(st.tuples(ago, st.integers(1, 500)), max_size=8),
    users=st.lists(ago, max_size=6),
    payments=st.lists(st.tuples(ago, st.booleans()), max_size=6),
    tickets=st.lists(st.tuples(ago, st.one_of(st.none(), st.integers(1, 5))), max_size=5),
)


def within(ts: datetime, days: int) -> bool:
    """``ts > NOW() - INTERVAL 'days'`` (and before NOW: scoring is as of NOW)."""
    return NOW - timedelta(days=days) < ts <= NOW


def seed000_signals(a: Activity) -> dict[str, float]:
    """Seed 000's six calculators, transcribed."""
    logins = sum(within(ts, 30) for ts in a.sessions)
    features = len({f for ts, f in a.features if within(ts, 30)})
    ratings = [r for ts, r in a.tickets if within(ts, 90) and r is not None]
    # Redis counters of the current and previous period, read with `|| "1"` for the
    # previous one: an absent previous counter divides by 1.
    current = sum(n for ts, n in a.api_calls if within(ts, 30))
    previous_calls = [n for ts, n in a.api_calls if within(ts, 60) and not within(ts, 30)]
    previous = sum(previous_calls) if previous_calls else 1
    payments = [failed for ts, failed in a.payments if within(ts, 90)]
    new_users = sum(within(ts, 30) for ts in a.users)
    return {
        "login_frequency": min(1, logins / 20),
        "feature_adoption": min(1, features / 10),
        "support_sentiment": (sum(ratings) / len(ratings)) / 5 if ratings else 0.5,
        "api_usage_trend": min(1, current / previous) if previous > 0 else 0,
        "payment_health": 1 - sum(payments) / len(payments) if payments else 1,
        "team_growth": min(1, new_users / 3),
    }


WEIGHTS = {
    "login_frequency": 0.2,
    "feature_adoption": 0.2,
    "support_sentiment": 0.15,
    "api_usage_trend": 0.15,
    "payment_health": 0.15,
    "team_growth": 0.15,
}


def seed000_score(values: dict[str, float]) -> tuple[int, str]:
    total = 0.0
    for name, weight in WEIGHTS.items():  # the seed's order of accumulation
        total += values[name] * weight
    score = math.floor(total * 100 + 0.5)  # Math.round
    tier = (
        "healthy"
        if score >= 70
        else "monitor"
        if score >= 50
        else "at_risk"
        if score >= 30
        else "critical"
    )
    return score, tier


def store(session, accounts: list[Activity]) -> None:
    created = NOW - timedelta(days=400)
    insert_rows(
        session,
        m.Customer,
        [
            {"id": f"c{i}", "name": f"C{i}", "created_at": created, "traits": {}}
            for i in range(len(accounts))
        ],
    )
    for i, a in enumerate(accounts):
        cid = f"c{i}"
        insert_rows(session, m.Session, [{"customer_id": cid, "ts": ts} for ts in a.sessions])
        insert_rows(
            session,
            m.FeatureUsage,
            [{"customer_id": cid, "ts": ts, "feature": f} for ts, f in a.features],
        )
        insert_rows(
            session,
            m.ApiUsage,
            [{"customer_id": cid, "ts": ts, "calls": n} for ts, n in a.api_calls],
        )
        insert_rows(
            session,
            m.User,
            [
                {"customer_id": cid, "user_id": f"u{k}", "created_at": ts}
                for k, ts in enumerate(a.users)
            ],
        )
        insert_rows(
            session,
            m.Payment,
            [
                {
                    "customer_id": cid,
                    "ts": ts,
                    "amount": 100,
                    "status": "failed" if failed else "succeeded",
                }
                for ts, failed in a.payments
            ],
        )
        insert_rows(
            session,
            m.SupportTicket,
            [
                {
                    "customer_id": cid,
                    "ticket_id": f"t{k}",
                    "opened_at": ts,
                    "severity": "normal",
                    "rating": rating,
                }
                for k, (ts, rating) in enumerate(a.tickets)
            ],
        )
    session.commit()


@settings(
    max_examples=20,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(accounts=st.lists(activities, min_size=1, max_size=4))
def test_every_signal_score_and_tier_match_seed_000(session, accounts):
    delete_all_data(session)
    session.commit()
    store(session, accounts)

    run = score_accounts(session, load_scorecard("seed000"), as_of=NOW)
    session.rollback()

    assert [s.customer_id for s in run.scores] == [f"c{i}" for i in range(len(accounts))]
    for health, activity in zip(run.scores, accounts, strict=True):
        expected = seed000_signals(activity)
        got = {s.name: s.value for s in health.signals}
        assert got == {name: _approx(value) for name, value in expected.items()}
        score, tier = seed000_score(got)
        assert (health.score, health.tier.value) == (score, tier)
        assert (health.score, health.tier.value) == seed000_score(expected)


class _approx(float):
    """Equal within 1e-12: SQL AVG and Python sums may differ in the last bit."""

    def __eq__(self, other: object) -> bool:
        return isinstance(other, int | float) and math.isclose(self, other, abs_tol=1e-12)

    __hash__ = float.__hash__
