"""CSM sentiment, manual overrides and the audit log over HTTP, on SQLite and PostgreSQL.

Sentiment counts in the score while it is fresh and stops counting once stale; an
override survives every rescore (the computed value kept beside it) and is gone after its
expiry; every manual change is in the audit log; bad input changes nothing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from healthscore.playbooks.rules import load_playbooks
from healthscore.rescoring.service import Rescoring
from healthscore.scoring.scorecard_loading import load_scorecard
from healthscore.storage import models as m
from healthscore.storage.csm_models import AuditEntry, CsmSentiment, ScoreOverride
from healthscore.storage.database import transaction

NOW = datetime.now(UTC).replace(microsecond=0)


@pytest.fixture
def server(live_server):
    """One mature account (a year old, no activity) and one fresh score of it."""
    with transaction(live_server.sessions) as session:
        session.add(
            m.Customer(id="acme", name="Acme", created_at=NOW - timedelta(days=365), traits={})
        )
    with live_server.client("admin") as api:
        assert api.post("/api/v1/health-scores/acme/refresh").status_code == 200
    return live_server


def score_of(api) -> dict:
    answer = api.get("/api/v1/health-scores/acme")
    assert answer.status_code == 200, answer.text
    return answer.json()


def signal(score: dict, name: str) -> dict:
    return next(s for s in score["signals"] if s["name"] == name)


def audit_count(server) -> int:
    with server.sessions() as session:
        return session.scalar(select(func.count()).select_from(AuditEntry)) or 0


def age_rows(server, model, days: int, *columns: str) -> None:
    """Move the given timestamps ``days`` into the past, as if that much time had gone by."""
    with transaction(server.sessions) as session:
        for row in session.scalars(select(model)):
            for column in columns:
                setattr(row, column, getattr(row, column) - timedelta(days=days))


def test_a_fresh_sentiment_counts_in_the_score_and_a_stale_one_stops_counting(server):
    with server.client("admin") as api:
        before = score_of(api)
        assert signal(before, "csm_sentiment")["missing"] is True
        assert signal(before, "csm_sentiment")["weight"] == 0  # skipped: others scaled up
        recorded = api.post(
            "/api/v1/customers/acme/sentiment",
            json={"colour": "red", "note": "Champion left; new VP is cold."},
        )
        assert recorded.status_code == 201, recorded.text
        entry = recorded.json()
        assert (entry["value"], entry["colour"], entry["state"]) == (1, "red", "in_force")
        assert entry["author"] == "api:test admin"
        valid = datetime.fromisoformat(entry["validUntil"]) - datetime.fromisoformat(
            entry["recordedAt"]
        )
        assert valid == timedelta(days=45)  # the default period
        during = score_of(api)  # rescored before the answer
        sentiment = signal(during, "csm_sentiment")
        assert sentiment["raw"] == 1 and sentiment["value"] == 0
        assert sentiment["weight"] == pytest.approx(0.1)
        assert during["score"] < before["score"]
        assert during["components"]["csm"] == 0

    age_rows(server, CsmSentiment, 46, "recorded_at", "valid_until")
    with server.client("admin") as api:
        assert api.post("/api/v1/health-scores/acme/refresh").status_code == 200
        after = score_of(api)
        assert signal(after, "csm_sentiment")["missing"] is True
        assert after["score"] == before["score"]
        assert "csm" not in after["components"]
        history = api.get("/api/v1/customers/acme/sentiment").json()
    assert history["current"] is None
    assert [e["state"] for e in history["history"]] == ["stale"]
    assert history["history"][0]["note"] == "Champion left; new VP is cold."


def test_a_newer_sentiment_replaces_the_older_one(server):
    with server.client("admin") as api:
        for body in ({"value": 2, "note": "slow"}, {"colour": "green", "validDays": 10}):
            assert api.post("/api/v1/customers/acme/sentiment", json=body).status_code == 201
        history = api.get("/api/v1/customers/acme/sentiment").json()
        assert signal(score_of(api), "csm_sentiment")["raw"] == 5
    assert [(e["value"], e["state"]) for e in history["history"]] == [
        (5, "in_force"),
        (2, "superseded"),
    ]
    assert history["current"]["value"] == 5
    with server.client("read") as api:
        log = api.get("/api/v1/customers/acme/audit-log", params={"kind": "sentiment"}).json()
    assert [(e["old"], e["new"]) for e in log["items"]] == [(2, 5), (None, 2)]


def rescore_everything(server) -> None:
    """A full rescore, as the nightly job runs it: every account, no selection."""
    Rescoring(
        sessions=server.sessions,
        scorecard=load_scorecard("default"),
        playbooks=load_playbooks("default"),
        deliveries=lambda ids: None,
    ).rescore(kind="full", as_of=datetime.now(UTC))


def test_an_override_survives_a_full_rescore_and_is_gone_after_its_expiry(server):
    with server.client("admin") as api:
        computed = score_of(api)["score"]
        created = api.post(
            "/api/v1/customers/acme/overrides",
            json={
                "target": "score",
                "value": 85,
                "reason": "Signed a 3-year renewal yesterday; usage data lags.",
                "expiresAt": (NOW + timedelta(days=30)).isoformat(),
            },
        )
        assert created.status_code == 201, created.text
        override = created.json()
        assert override["inForce"] and override["computed"] == computed
        rescore_everything(server)
        locked = score_of(api)
        assert locked["score"] == 85 and locked["tier"] == "healthy"
        beside = locked["adjusted"]["override"]["score"]
        assert (beside["value"], beside["computed"], beside["by"]) == (
            85,
            computed,
            "api:test admin",
        )

    age_rows(server, ScoreOverride, 31, "created_at", "expires_at")
    rescore_everything(server)
    with server.client("admin") as api:
        after = score_of(api)
        assert after["score"] == computed and "override" not in after["adjusted"]
        assert api.get("/api/v1/customers/acme/overrides").json() == []
        ended = api.get("/api/v1/customers/acme/overrides", params={"includeEnded": "true"})
        assert [o["inForce"] for o in ended.json()] == [False]
        log = api.get("/api/v1/customers/acme/audit-log", params={"kind": "override"}).json()
    [entry] = log["items"]
    assert entry["old"] == computed and entry["new"]["value"] == 85
    assert entry["reason"].startswith("Signed a 3-year renewal")


def test_a_measure_override_changes_the_score_through_its_weight_and_can_be_removed(server):
    with server.client("admin") as api:
        before = score_of(api)
        created = api.post(
            "/api/v1/customers/acme/overrides",
            json={
                "target": "payment_health",
                "value": 0,
                "reason": "Invoices are paid by a reseller who is 60 days late.",
                "expiresAt": (NOW + timedelta(days=7)).isoformat(),
            },
        ).json()
        during = score_of(api)
        points = signal(before, "payment_health")["contribution"]
        assert points > 0 and signal(during, "payment_health")["value"] == 0
        assert during["score"] == pytest.approx(before["score"] - points, abs=1)
        measure = during["adjusted"]["override"]["measures"]["payment_health"]
        assert measure["computed"] == pytest.approx(signal(before, "payment_health")["value"] * 100)
        removed = api.delete(f"/api/v1/overrides/{created['id']}", params={"reason": "paid"})
        assert removed.status_code == 200 and removed.json()["removedBy"] == "api:test admin"
        assert score_of(api)["score"] == before["score"]
        again = api.delete(f"/api/v1/overrides/{created['id']}")
        assert again.status_code == 409 and "no longer in force" in again.text
        log = api.get("/api/v1/customers/acme/audit-log", params={"kind": "override"}).json()
    assert [e["new"] is None for e in log["items"]] == [True, False]
    assert log["items"][0]["reason"] == "paid"


IN_A_WEEK = (NOW + timedelta(days=7)).isoformat()


def override(**changes: object) -> dict[str, object]:
    return {"target": "score", "value": 50, "reason": "x", "expiresAt": IN_A_WEEK} | changes


BAD_REQUESTS = [
    ("sentiment", {"value": 6}, "value"),
    ("sentiment", {"value": 3, "colour": "red"}, "either value"),
    ("sentiment", {"colour": "blue"}, "colour"),
    ("sentiment", {"value": 3, "validDays": 0}, "validDays"),
    ("overrides", override(value=101), "value"),
    ("overrides", override(target="vibes"), "neither 'score' nor a signal"),
    ("overrides", override(reason=" "), "reason"),
    ("overrides", override(expiresAt="2020-01-01T00:00:00Z"), "in the future"),
    ("overrides", override(expiresAt="2099-01-01T00:00:00Z"), "at most 365 days"),
]


def test_bad_input_is_refused_with_a_clear_message_and_changes_nothing(server):
    before = audit_count(server)
    with server.client("admin") as api:
        for path, body, says in BAD_REQUESTS:
            refused = api.post(f"/api/v1/customers/acme/{path}", json=body)
            assert refused.status_code == 422 and says in refused.text, (body, refused.text)
    assert audit_count(server) == before
    with server.sessions() as session:
        assert session.scalar(select(func.count()).select_from(CsmSentiment)) == 0
        assert session.scalar(select(func.count()).select_from(ScoreOverride)) == 0


def test_unknown_accounts_are_404_and_read_keys_cannot_change_anything(server):
    with server.client("admin") as api:
        missing = api.post("/api/v1/customers/nobody/sentiment", json={"value": 3})
        assert missing.status_code == 404 and "nobody" in missing.text
        assert api.get("/api/v1/customers/nobody/audit-log").status_code == 404
    with server.client("read") as api:
        assert api.post("/api/v1/customers/acme/sentiment", json={"value": 3}).status_code == 403
        assert api.get("/api/v1/audit-log").status_code == 403
        assert api.get("/api/v1/customers/acme/sentiment").status_code == 200


def test_a_new_scorecard_is_audited_once_when_the_service_starts_scoring_with_it(server):
    for card in ("default", "default", "seed000"):
        Rescoring(
            sessions=server.sessions,
            scorecard=load_scorecard(card),
            playbooks=load_playbooks("default"),
            deliveries=lambda ids: None,
        ).rescore(kind="full", as_of=datetime.now(UTC))
    with server.client("admin") as api:
        log = api.get("/api/v1/audit-log", params={"kind": "scorecard"}).json()
    assert [e["new"]["scorecard"] for e in log["items"]] == ["seed000@v1", "default@v4"]
    assert log["items"][0]["old"]["scorecard"] == "default@v4"
    assert {e["actor"] for e in log["items"]} == {"system"}
