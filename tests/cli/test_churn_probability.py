"""``healthscore show`` prints a churn probability beside the score only from a validated
calibration of the scorecard that produced it; ``healthscore calibrations`` lists them."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from healthscore.cli.main import app
from healthscore.ingest.bulk import insert_rows
from healthscore.scoring.scorecard_loading import load_scorecard
from healthscore.storage import models as m
from healthscore.storage.database import make_engine, make_sessionmaker, transaction
from tests.backtest.support import save_calibration, sigmoid_mapping

NOW = datetime.now(UTC)
SEED000 = load_scorecard("seed000")


@pytest.fixture
def cli(db_url, monkeypatch):
    monkeypatch.setenv("HEALTHSCORE_DATABASE_URL", db_url)
    monkeypatch.delenv("HEALTHSCORE_SCORECARD", raising=False)
    monkeypatch.setenv("COLUMNS", "200")
    runner = CliRunner()

    def invoke(*args: str):
        return runner.invoke(app, list(args), catch_exceptions=False)

    return invoke


@pytest.fixture
def sessions(db_url):
    engine = make_engine(db_url)
    yield make_sessionmaker(engine)
    engine.dispose()


def insert_busy_account(session: Session, now: datetime) -> None:
    """One account, "busy", 200 days old, whose seat logged in every hour of the last 39."""
    insert_rows(
        session,
        m.Customer,
        [
            {
                "id": "busy",
                "name": "Busy Co",
                "plan": "pro",
                "segment": "smb",
                "mrr": 99,
                "created_at": now - timedelta(days=200),
                "churned_at": None,
                "traits": {},
            }
        ],
    )
    insert_rows(
        session,
        m.Session,
        [
            {"customer_id": "busy", "user_id": "u1", "ts": now - timedelta(hours=h)}
            for h in range(1, 40)
        ],
    )


@pytest.fixture
def scored(cli, sessions) -> int:
    """One busy account scored with seed000; its score."""
    with transaction(sessions) as session:
        insert_busy_account(session, NOW)
    assert cli("score", "--scorecard", "seed000").exit_code == 0
    with sessions() as session:
        score = session.get(m.HealthScore, "busy").score
    assert score is not None
    return score


def shown(cli) -> str:
    result = cli("show", "busy", "--scorecard", "seed000")
    assert result.exit_code == 0, result.output
    return result.output


def test_show_prints_the_probability_of_a_validated_calibration_of_its_scorecard(
    cli, sessions, scored
):
    assert "chance of churn" not in shown(cli)
    with transaction(sessions) as session:
        save_calibration(session, SEED000, validated=False)  # never shown
        save_calibration(session, load_scorecard("default"))  # another scorecard's
    assert "chance of churn" not in shown(cli)

    ninety, thirty = sigmoid_mapping(), sigmoid_mapping(intercept=-0.5)
    with transaction(sessions) as session:
        save_calibration(session, SEED000, horizon_days=90, mapping=ninety, months=14.0)
        save_calibration(session, SEED000, horizon_days=30, mapping=thirty, months=14.0)
    expected = (
        f"{scored} · {ninety.probability(scored):.0%} chance of churn in 90 days "
        f"({thirty.probability(scored):.0%} in 30 days), fitted on 14 months of history"
    )
    assert expected in shown(cli)
    # The same account explained with another scorecard in force: no probability.
    other = cli("show", "busy", "--scorecard", "default")
    assert other.exit_code == 0 and "chance of churn" not in other.output


def test_calibrations_are_listed_and_shown(cli, sessions):
    with transaction(sessions) as session:
        kept = save_calibration(session, SEED000, horizon_days=30)
        refused = save_calibration(session, SEED000, validated=False)
    listed = cli("calibrations", "list")
    assert listed.exit_code == 0, listed.output
    rows = [line for line in listed.output.splitlines() if "seed000@v1" in line]
    assert len(rows) == 2 and "not validated" in rows[0] and str(refused) in rows[0]
    assert json.loads(cli("calibrations", "list", "--json").stdout)[1]["id"] == kept
    assert "seed000@v1" not in cli("calibrations", "list", "--scorecard", "default@v1").output

    one = cli("calibrations", "show", str(refused))
    assert one.exit_code == 0, one.output
    assert "not validated: its Brier score does not beat" in one.output
    assert "Reliability on validation" in one.output
    assert re.search(r"│\s+50 │\s+11\.9% │", one.output)  # p(50) of the test mapping
    missing = cli("calibrations", "show", str(refused + 100))
    assert missing.exit_code == 1 and f"no calibration {refused + 100}" in missing.output
