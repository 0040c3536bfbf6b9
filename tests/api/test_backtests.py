"""The latest saved backtest, over the API and on the dashboard overview."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import pytest

from healthscore.backtest.history import save_backtest
from healthscore.backtest.service import run_backtest
from healthscore.ingest.demo import generate_demo
from healthscore.scoring.scorecard_loading import load_scorecard
from healthscore.scoring.service import score_accounts
from healthscore.storage.database import transaction
from tests.fixtures.server import SHARED_TLS

NOW = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)


def test_the_latest_backtest_is_served_and_shown(live_server):
    with live_server.client("read") as api:
        missing = api.get("/api/v1/backtests/latest")
        assert missing.status_code == 404 and "healthscore backtest" in missing.text
    with transaction(live_server.sessions) as session:
        generate_demo(session, customers=150, days=100, seed=9, now=NOW)
        score_accounts(session, load_scorecard("default"), as_of=NOW)
    cutoffs = [NOW - timedelta(days=d) for d in (60, 45)]
    with live_server.sessions() as session:
        result = run_backtest(session, load_scorecard("default"), cutoffs, resamples=100)
    with transaction(live_server.sessions) as session:
        save_backtest(session, result)

    with live_server.client("read") as api:
        latest = api.get("/api/v1/backtests/latest").json()
    auc = result.evaluation.roc_auc
    assert latest["rocAuc"] == pytest.approx(auc.auc)
    assert latest["rocAucLow"] == pytest.approx(auc.ci_low)
    assert latest["cutoffs"] == 2 and latest["accounts"] == result.evaluation.accounts
    assert latest["horizonDays"] == 30 and latest["scorecard"] == "default@v4"
    assert result.lead_time is not None
    assert latest["medianLeadDays"] == result.lead_time.median_lead_days
    assert latest["details"]["evaluation"]["churned"] == result.evaluation.churned

    browser = httpx.Client(verify=SHARED_TLS, base_url=live_server.url, timeout=30)
    browser.post("/login", data={"key": live_server.keys["read"], "next": "/"})
    page = browser.get("/").text
    browser.close()
    assert "Does the score predict churn?" in page
    assert f"{auc.auc:.2f}" in page
