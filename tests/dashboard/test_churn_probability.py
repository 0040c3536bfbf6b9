"""The account page shows a churn probability beside the score only from a validated
calibration of the scorecard that produced it."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from sqlalchemy import select, update

from healthscore.ingest.demo import generate_demo
from healthscore.scoring.scorecard_loading import load_scorecard
from healthscore.scoring.service import score_accounts
from healthscore.storage import models as m
from healthscore.storage.database import transaction
from tests.backtest.support import save_calibration, sigmoid_mapping
from tests.dashboard.test_pages import metric, sign_in

NOW = datetime.now(UTC).replace(microsecond=0)
DEFAULT = load_scorecard("default")


def test_the_account_page_shows_a_validated_probability_of_its_own_scorecard(live_server):
    with transaction(live_server.sessions) as session:
        generate_demo(session, customers=12, days=40, seed=3, now=NOW)
    with transaction(live_server.sessions) as session:
        score_accounts(session, DEFAULT, as_of=NOW - timedelta(minutes=1))
    with live_server.sessions() as session:
        customer_id, score = session.execute(
            select(m.HealthScore.customer_id, m.HealthScore.score)
            .where(m.HealthScore.score.is_not(None))
            .order_by(m.HealthScore.customer_id)
        ).first()
    client = sign_in(live_server)

    def page() -> str:
        response = client.get(f"/accounts/{customer_id}")
        assert response.status_code == 200
        return response.text

    with transaction(live_server.sessions) as session:
        save_calibration(session, DEFAULT, validated=False)
    assert "chance of churn" not in page()

    ninety, thirty = sigmoid_mapping(), sigmoid_mapping(intercept=-0.5)
    with transaction(live_server.sessions) as session:
        first = save_calibration(session, DEFAULT, horizon_days=90, mapping=ninety, months=14.0)
        second = save_calibration(session, DEFAULT, horizon_days=30, mapping=thirty, months=14.0)
    shown = page()
    assert metric(shown, "score") == str(score)
    text = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", shown))
    assert (
        f"{100 * ninety.probability(score):.0f}% chance of churn in 90 days · "
        f"{100 * thirty.probability(score):.0f}% in 30" in text
    )
    assert "Fitted on 14 months of history" in text
    assert f'data-calibrations="{second},{first}"' in shown or (
        f'data-calibrations="{first},{second}"' in shown
    )

    # The latest score now comes from another scorecard: the probability goes.
    with transaction(live_server.sessions) as session:
        session.execute(
            update(m.HealthScore)
            .where(m.HealthScore.customer_id == customer_id)
            .values(scorecard="other@v1")
        )
    assert "chance of churn" not in page()
