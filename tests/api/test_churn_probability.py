"""``churnProbability`` beside a score over HTTP: only from a validated calibration of the
scorecard that produced the score, null otherwise; and the OpenAPI document says so."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from healthscore.ingest.demo import generate_demo
from healthscore.scoring.scorecard_loading import load_scorecard
from healthscore.scoring.service import score_accounts
from healthscore.storage.database import transaction
from tests.backtest.support import save_calibration, sigmoid_mapping

NOW = datetime.now(UTC).replace(microsecond=0)
DEFAULT = load_scorecard("default")


@pytest.fixture
def book(live_server):
    """Twenty demo accounts scored now by the default scorecard (the server's)."""
    with transaction(live_server.sessions) as session:
        generate_demo(session, customers=20, days=40, seed=3, now=NOW)
    with transaction(live_server.sessions) as session:
        score_accounts(session, DEFAULT, as_of=NOW - timedelta(minutes=1))
    return live_server


def scores(api) -> list[dict]:
    return api.get("/api/v1/health-scores", params={"pageSize": 100}).json()["items"]


def test_no_probability_without_a_validated_calibration_of_the_scorecard(book):
    with transaction(book.sessions) as session:
        save_calibration(session, DEFAULT, validated=False)
        save_calibration(session, DEFAULT, scorecard="seed000@v1")
        save_calibration(session, DEFAULT, digest="0" * 64)  # same name, other recipe
    with book.client("read") as api:
        items = scores(api)
        assert items and all(i["churnProbability"] is None for i in items)
        one = api.get(f"/api/v1/health-scores/{items[0]['customerId']}").json()
        assert "churnProbability" in one and one["churnProbability"] is None


def test_a_validated_calibration_gives_every_score_its_probability(book):
    mapping = sigmoid_mapping()
    with transaction(book.sessions) as session:
        ninety = save_calibration(session, DEFAULT, horizon_days=90, mapping=mapping)
    with book.client("read") as api:
        items = scores(api)
        scored = [i for i in items if i["score"] is not None]
        assert scored
        for item in items:
            if item["score"] is None:  # churned accounts have no score, so no probability
                assert item["churnProbability"] is None
                continue
            assert item["churnProbability"] == {
                "days30": None,
                "days90": round(mapping.probability(item["score"]), 4),
                "monthsOfHistory": 14.0,
                "calibrationIds": [ninety],
            }
        one = api.get(f"/api/v1/health-scores/{scored[0]['customerId']}").json()
        assert one["churnProbability"] == scored[0]["churnProbability"]


def test_the_openapi_document_describes_the_probability(live_server):
    with live_server.client("read") as api:
        document = api.get("/openapi.json").json()
    schemas = document["components"]["schemas"]
    probability = schemas["ChurnProbability"]
    assert set(probability["properties"]) == {
        "days30",
        "days90",
        "monthsOfHistory",
        "calibrationIds",
    }
    for name in ("HealthScoreSummary", "HealthScoreDetail"):
        field = schemas[name]["properties"]["churnProbability"]
        refs = [option.get("$ref") for option in field["anyOf"]]
        assert "#/components/schemas/ChurnProbability" in refs
        assert {"type": "null"} in field["anyOf"]
        assert "validated calibration" in field["description"]
