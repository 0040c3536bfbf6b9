"""Saved calibrations on both databases: a probability comes only from a validated
calibration of exactly the scorecard that produced the score."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import update

from healthscore.backtest.calibrations import (
    churn_probabilities,
    churn_probability,
    get_calibration,
    list_calibrations,
    probability_lookup,
    scorecard_digest,
)
from healthscore.backtest.report import render_report
from healthscore.backtest.service import BacktestResult, run_backtest
from healthscore.ingest.demo import generate_demo
from healthscore.scoring.scorecard import Scorecard
from healthscore.scoring.scorecard_loading import load_scorecard
from healthscore.scoring.service import score_accounts
from healthscore.storage import models as m
from tests.backtest.support import save_calibration, sigmoid_mapping

NOW = datetime(2026, 6, 1, tzinfo=UTC)
DEFAULT = load_scorecard("default")
MAPPING = sigmoid_mapping()


def reweighted(card: Scorecard) -> Scorecard:
    """The same name and version with other weights: a different recipe."""
    data = card.model_dump()
    data["signals"][0]["weight"] += 0.01
    data["signals"][1]["weight"] -= 0.01
    return Scorecard.model_validate(data)


def test_a_saved_calibration_reads_back_whole(session):
    saved = save_calibration(session, DEFAULT, horizon_days=30, validated=False)
    session.commit()
    found = get_calibration(session, saved)
    assert found is not None and not found.validated
    assert (found.scorecard, found.horizon_days, found.method) == ("default@v4", 30, "sigmoid")
    assert found.scorecard_digest == scorecard_digest(DEFAULT)
    assert found.mapping == MAPPING
    assert found.reason == "its Brier score does not beat always predicting the base rate"
    assert [b.accounts for b in found.reliability] == [2000, 2000]
    assert found.statistics["validate_churned_accounts"] == 120
    assert found.train_from == datetime(2025, 1, 6, tzinfo=UTC)
    assert get_calibration(session, saved + 1) is None


def test_only_a_validated_calibration_of_the_same_recipe_gives_a_probability(session):
    assert probability_lookup(session, DEFAULT) is None
    save_calibration(session, DEFAULT, validated=False)
    save_calibration(session, DEFAULT, scorecard="seed000@v1")
    other_recipe = save_calibration(session, DEFAULT, digest=scorecard_digest(reweighted(DEFAULT)))
    assert probability_lookup(session, DEFAULT) is None

    ninety = save_calibration(session, DEFAULT, horizon_days=90, months=14.2)
    lookup = probability_lookup(session, DEFAULT)
    assert lookup is not None
    probability = lookup.for_score("default@v4", 38)
    assert probability is not None
    assert probability.days90 == round(MAPPING.probability(38), 4)
    assert probability.days30 is None
    assert (probability.months_of_history, probability.calibration_ids) == (14.2, [ninety])
    # A score another scorecard produced, or no score at all: no probability.
    assert lookup.for_score("seed000@v1", 38) is None
    assert lookup.for_score("default@v4", None) is None
    # The same identity with different weights is another recipe, with its own calibration.
    theirs = probability_lookup(session, reweighted(DEFAULT))
    assert theirs is not None and [i for i, _, _ in theirs.mappings.values()] == [other_recipe]


def test_the_newest_validated_calibration_per_horizon_is_used(session):
    old = save_calibration(session, DEFAULT, horizon_days=30)
    newer = sigmoid_mapping(intercept=-1.0)
    new = save_calibration(session, DEFAULT, horizon_days=30, mapping=newer)
    save_calibration(session, DEFAULT, horizon_days=30, validated=False)  # newest, unvalidated
    ninety = save_calibration(session, DEFAULT, horizon_days=90, months=9.0)
    lookup = probability_lookup(session, DEFAULT)
    assert lookup is not None
    probability = lookup.for_score("default@v4", 50)
    assert probability is not None
    assert probability.days30 == round(newer.probability(50), 4)
    assert probability.days90 == round(MAPPING.probability(50), 4)
    assert sorted(probability.calibration_ids) == sorted([new, ninety]) and old not in (
        probability.calibration_ids
    )
    assert probability.months_of_history == 9.0
    listed = list_calibrations(session)
    assert [c.id for c in listed] == sorted((c.id for c in listed), reverse=True)
    assert len(list_calibrations(session, scorecard="seed000@v1")) == 0


@pytest.fixture
def scored(session):
    generate_demo(session, customers=12, days=40, seed=5, now=NOW)
    score_accounts(session, DEFAULT, as_of=NOW)
    session.commit()
    return session


def test_a_page_of_scores_gets_probabilities_only_for_its_own_scorecards_scores(scored):
    session = scored
    rows = [(h.customer_id, h.score) for h in session.query(m.HealthScore).all()]
    assert churn_probabilities(session, DEFAULT, rows) == {}
    save_calibration(session, DEFAULT, horizon_days=30)
    session.commit()
    found = churn_probabilities(session, DEFAULT, rows)
    scored_ids = {cid for cid, score in rows if score is not None}
    assert set(found) == scored_ids and scored_ids
    for cid, score in rows:
        if score is not None:
            assert found[cid].days30 == round(MAPPING.probability(score), 4)
    # One account's latest score came from another scorecard: it gets none.
    other = sorted(scored_ids)[0]
    session.execute(
        update(m.HealthScore).where(m.HealthScore.customer_id == other).values(scorecard="x@v9")
    )
    session.commit()
    assert other not in churn_probabilities(session, DEFAULT, rows)
    score = dict(rows)[other]
    assert churn_probability(session, DEFAULT, scorecard="x@v9", score=score) is None
    assert churn_probability(session, DEFAULT, scorecard="default@v4", score=score) is not None


def test_a_backtest_judges_the_saved_calibration_of_its_scorecard_and_horizon(session):
    generate_demo(session, customers=60, days=80, seed=5, now=NOW)
    session.commit()
    cutoffs = [NOW - timedelta(days=40), NOW - timedelta(days=33)]

    def backtest(horizon_days: int = 30) -> BacktestResult:
        return run_backtest(
            session, DEFAULT, cutoffs, horizon_days=horizon_days, with_lead_time=False, resamples=0
        )

    save_calibration(session, DEFAULT, horizon_days=30, validated=False)
    session.commit()
    assert backtest().calibration is None  # never an unvalidated one
    kept = save_calibration(session, DEFAULT, horizon_days=30)
    session.commit()
    result = backtest()
    check = result.calibration
    assert check is not None and check.calibration_id == kept and check.horizon_days == 30
    assert check.judgement.rows == result.evaluation.accounts
    assert check.judgement.brier is not None and not check.overlaps_training
    assert sum(b.accounts for b in check.judgement.reliability) == result.evaluation.accounts
    assert "Churn probability on these cut-offs" in render_report(result)
    assert backtest(horizon_days=14).calibration is None  # no calibration for that horizon
