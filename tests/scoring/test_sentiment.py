"""CSM sentiment in scoring: counted only while in force (as of the scoring moment), and
``when_missing: skip`` leaves an account without it scored exactly on its other signals."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from healthscore.csm import sentiment
from healthscore.scoring.engine import score_batch
from healthscore.scoring.scorecard_loading import load_scorecard, parse_scorecard
from healthscore.scoring.service import score_accounts
from healthscore.storage import models as m

NOW = datetime(2026, 11, 1, 12, tzinfo=UTC)

CARD = parse_scorecard(
    """
version: 1
name: skip_demo
signals:
  - {name: logins, group: engagement, metric: logins, normalise: {kind: target, target: 10},
     weight: 0.6, missing: 0}
  - {name: failures, group: payments, metric: failed_payments, normalise: {kind: inverse, cap: 2},
     weight: 0.2, missing: 1}
  - {name: csm_sentiment, group: csm, metric: csm_sentiment,
     normalise: {kind: ramp, low: 1, high: 5}, weight: 0.2, when_missing: skip}
"""
)


def lookup(logins, failures, sentiment_sum, entries):
    columns = {
        "logins": np.array(logins, float),
        "failed_payments": np.array(failures, float),
        "sentiment_sum": np.array(sentiment_sum, float),
        "sentiment_entries": np.array(entries, float),
    }
    return lambda aggregate: columns[aggregate.measure]


def test_skip_scales_the_other_weights_up_and_a_present_sentiment_takes_its_weight():
    batch = score_batch(
        CARD,
        customer_ids=["without", "green", "red"],
        as_of=NOW,
        get=lookup([5, 5, 5], [0, 0, 0], [0, 5, 1], [0, 1, 1]),
        previous=[None, None, None],
    )
    # Without sentiment: (0.6 x 0.5 + 0.2 x 1) / 0.8 = 62.5 → 63; with: + 0.2 x value.
    assert batch.scores.tolist() == [63, 70, 50]
    weights = batch.weights()
    assert weights[0].tolist() == pytest.approx([0.75, 0.25, 0.0])
    assert weights[1].tolist() == pytest.approx([0.6, 0.2, 0.2])
    assert batch.components[0] == {"engagement": 50.0, "payments": 100.0}
    assert batch.components[2]["csm"] == 0.0
    assert batch.confidence.tolist() == [1.0, 1.0, 1.0]  # a skipped signal is not "no data"
    assert sum(batch.health_score(0).contributions().values()) == pytest.approx(62.5)


def test_a_scorecard_without_skip_signals_keeps_one_weight_row():
    card = load_scorecard("seed000")
    batch = score_batch(
        card,
        customer_ids=["a"],
        as_of=NOW,
        get=lambda aggregate: np.array([3.0]),
        previous=[None],
    )
    assert batch.effective_weights is None


def _customer(session) -> None:
    session.add(m.Customer(id="acme", name="Acme", created_at=NOW - timedelta(days=400)))
    session.flush()


def test_sentiment_counts_only_while_in_force_as_of_each_moment(session):
    _customer(session)
    for days_ago, value, valid in ((60, 5, 45), (20, 1, 10)):
        entry = sentiment.NewSentiment("acme", value, "", "dana", NOW - timedelta(days_ago), valid)
        sentiment.record(session, entry)
    session.commit()
    card = load_scorecard("default")

    def raw_at(moment: datetime) -> float | None:
        run = score_accounts(session, card, as_of=moment)
        session.rollback()
        [score] = run.scores
        return next(s.raw for s in score.signals if s.name == "csm_sentiment")

    assert raw_at(NOW - timedelta(days=61)) is None  # before the first entry
    assert raw_at(NOW - timedelta(days=30)) == 5  # the first, in force
    assert raw_at(NOW - timedelta(days=15)) == 1  # the second replaced it
    assert raw_at(NOW - timedelta(days=5)) is None  # the second expired; the first is replaced
