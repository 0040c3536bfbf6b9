"""Lifecycle stages and confidence: a score says where the account is and how much data it
rests on, so a young account is not judged like an old one."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from sqlalchemy import select

from healthscore.ingest.demo import generate_demo
from healthscore.scoring.engine import confidence
from healthscore.scoring.labels import Stage
from healthscore.scoring.lifecycle import next_renewal, stage_of
from healthscore.scoring.scorecard import Lifecycle
from healthscore.scoring.scorecard_loading import load_scorecard
from healthscore.scoring.service import score_accounts
from healthscore.storage import models as m

NOW = datetime(2026, 6, 1, tzinfo=UTC)
LIFECYCLE = Lifecycle(onboarding_days=30, onboarding_days_by_segment={"enterprise": 60})


@pytest.mark.parametrize(
    ("segment", "age", "renews_in", "stage"),
    [
        ("smb", 5, None, Stage.onboarding),
        ("smb", 29.9, 10, Stage.onboarding),  # onboarding wins over an early renewal
        ("enterprise", 45, None, Stage.onboarding),  # its segment onboards for 60 days
        ("smb", 45, None, Stage.adopting),
        ("smb", 400, None, Stage.mature),
        ("smb", 400, 30, Stage.renewal),
        ("smb", 400, 90, Stage.renewal),
        ("smb", 400, 91, Stage.mature),
        ("smb", 400, -1, Stage.mature),  # a renewal date in the past is not a window
    ],
)
def test_the_stage_follows_age_segment_and_renewal_date(segment, age, renews_in, stage):
    renews_at = None if renews_in is None else NOW + timedelta(days=renews_in)
    assert stage_of(LIFECYCLE, segment=segment, age=age, renews_at=renews_at, as_of=NOW) is stage


def test_the_renewal_window_comes_every_year_from_the_renewal_date_on_record():
    """A CRM holds the next renewal only; at an earlier moment the next renewal was the
    anniversary that came first, so a backtest cannot tell a churned account (which keeps
    the date it left) from a renewed one (which already shows next year's date)."""
    renews_at = NOW + timedelta(days=400)  # next year's renewal, as a CRM shows it today
    assert stage_of(LIFECYCLE, segment="smb", age=900, renews_at=renews_at, as_of=NOW) is (
        Stage.renewal
    )  # a year earlier it was 35 days away
    assert (
        stage_of(
            LIFECYCLE, segment="smb", age=900, renews_at=renews_at, as_of=NOW - timedelta(days=60)
        )
        is Stage.mature
    )
    assert next_renewal(datetime(2028, 2, 29, tzinfo=UTC), NOW) == datetime(2027, 2, 28, tzinfo=UTC)


def test_confidence_is_the_trusted_weight_with_data_over_a_lived_look_back():
    card = load_scorecard("default")
    n = len(card.signals)
    via = np.zeros((4, n), dtype=np.int8)
    via[1, :] = -1  # no data at all
    trusted = np.ones((4, n))
    trusted[1, :] = 0.0
    trusted[3, :] = 0.5  # every baseline half as long as it needs to be
    ages = np.array([1000.0, 1000.0, 0.0, 1000.0])  # the third account was created at as_of
    assert confidence(card, via, trusted, ages).tolist() == [1.0, 0.0, 0.0, 0.5]
    nps = [j for j, s in enumerate(card.signals) if s.group.value == "nps"]
    via, trusted = np.zeros((1, n), dtype=np.int8), np.ones((1, n))
    via[0, nps], trusted[0, nps] = -1, 0.0
    expected = round(1 - sum(card.signals[j].weight for j in nps), 2)
    assert confidence(card, via, trusted, np.array([1000.0])).tolist() == [expected]
    half_lived = max(s.lookback_days for s in card.signals) / 2
    young = confidence(
        card, np.zeros((1, n), dtype=np.int8), np.ones((1, n)), np.array([half_lived])
    )
    assert 0.5 <= young[0] < 1.0


def test_scores_store_their_stage_and_confidence(session):
    generate_demo(session, customers=30, days=60, seed=5, now=NOW)
    session.add_all(
        [
            m.Customer(id="newco", name="New Co", created_at=NOW - timedelta(days=3), traits={}),
            m.Customer(
                id="renewing",
                name="Renewing Co",
                created_at=NOW - timedelta(days=700),
                renews_at=NOW + timedelta(days=20),
                traits={},
            ),
        ]
    )
    session.flush()
    run = score_accounts(session, load_scorecard("default"), as_of=NOW)
    session.commit()
    by_id = {s.customer_id: s for s in run.scores}
    assert by_id["newco"].stage is Stage.onboarding
    assert by_id["newco"].confidence < 0.2
    assert by_id["renewing"].stage is Stage.renewal
    latest = session.get(m.HealthScore, "newco")
    assert (latest.stage, latest.confidence) == ("onboarding", by_id["newco"].confidence)
    history = session.get(m.HealthScoreHistory, ("renewing", NOW.date()))
    assert (history.stage, history.confidence) == ("renewal", by_id["renewing"].confidence)
    # Demo accounts: new ones onboard, annual ones near their renewal are renewing.
    lifecycle = load_scorecard("default").lifecycle
    demo = {c.id: c for c in session.scalars(select(m.Customer)) if c.id.startswith("cust_")}
    stages = {s.customer_id: s.stage for s in run.scores if s.customer_id in demo}
    assert stages and Stage.mature in stages.values()
    for cid, stage in stages.items():
        customer = demo[cid]
        age = (NOW - customer.created_at).total_seconds() / 86_400
        if age < lifecycle.onboarding_days_for(customer.segment):
            assert stage is Stage.onboarding, cid
        elif customer.renews_at and customer.renews_at - NOW < timedelta(
            days=lifecycle.renewal_window_days
        ):
            assert stage is Stage.renewal, cid
        else:
            assert stage in (Stage.adopting, Stage.mature), cid
