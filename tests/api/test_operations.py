"""Seed 001's ten operations, end to end over HTTP against a live server, on both databases."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from healthscore.ingest.demo import generate_demo
from healthscore.scoring.scorecard_loading import load_scorecard
from healthscore.scoring.service import score_accounts
from healthscore.storage import case_models
from healthscore.storage import models as m
from healthscore.storage.database import transaction

NOW = datetime.now(UTC).replace(microsecond=0)


def seed_demo(sessions) -> None:
    """40 demo accounts scored a week ago and today."""
    with transaction(sessions) as session:
        generate_demo(session, customers=40, days=40, seed=3, now=NOW)
    card = load_scorecard("default")
    for as_of in (NOW - timedelta(days=7), NOW):
        with transaction(sessions) as session:
            score_accounts(session, card, as_of=as_of)


@pytest.fixture
def demo_server(db_url, sessions, db_snapshot, request):
    """A live server over ``seed_demo``'s rows (seeded once per test process and database,
    then copied in before the server starts)."""
    db_snapshot(db_url, "operations-demo", lambda: seed_demo(sessions))
    return request.getfixturevalue("live_server")


def count(server, model) -> int:
    with server.sessions() as session:
        return int(session.scalar(select(func.count()).select_from(model)) or 0)


def all_pages(client, path, **params):
    items, page = [], 1
    while True:
        body = client.get(path, params={**params, "page": page, "pageSize": 7}).json()
        items += body["items"]
        if page * 7 >= body["total"]:
            return items, body["total"]
        page += 1


def test_list_health_scores_paginates_filters_and_sorts(demo_server):
    with demo_server.client("read") as api:
        items, total = all_pages(api, "/api/v1/health-scores")
        assert total == 40 == len(items) == len({i["customerId"] for i in items})
        scores = [i["score"] for i in items if i["score"] is not None]
        assert scores == sorted(scores), "lowest score first by default"
        assert items[-1]["tier"] == "churned" or None not in [i["score"] for i in items]

        critical = api.get("/api/v1/health-scores", params={"tier": ["critical", "at_risk"]})
        body = critical.json()
        assert {i["tier"] for i in body["items"]} <= {"critical", "at_risk"}
        expected = sum(1 for i in items if i["tier"] in {"critical", "at_risk"})
        assert body["total"] == expected

        ranged = api.get("/api/v1/health-scores", params={"minScore": 40, "maxScore": 70}).json()
        assert all(40 <= i["score"] <= 70 for i in ranged["items"])
        assert ranged["total"] == sum(1 for s in scores if 40 <= s <= 70)

        segment = items[0]["segment"]
        by_segment = api.get("/api/v1/health-scores", params={"segment": segment}).json()
        assert by_segment["total"] == sum(1 for i in items if i["segment"] == segment)

        name = items[3]["name"]
        found = api.get("/api/v1/health-scores", params={"search": name.upper()}).json()
        assert items[3]["customerId"] in [i["customerId"] for i in found["items"]]

        by_mrr = api.get(
            "/api/v1/health-scores", params={"sort": "mrr", "order": "desc", "pageSize": 500}
        ).json()["items"]
        mrrs = [float(i["mrr"]) for i in by_mrr]
        assert mrrs == sorted(mrrs, reverse=True)

        declining = api.get("/api/v1/health-scores", params={"trend": "declining"}).json()
        for i in declining["items"]:
            assert i["change"] < -5 and i["trend"] == "declining"


def test_get_health_score_explains_every_point(demo_server):
    with demo_server.client("read") as api:
        first = api.get("/api/v1/health-scores", params={"tier": "healthy"}).json()["items"][0]
        detail = api.get(f"/api/v1/health-scores/{first['customerId']}").json()
    assert detail["score"] == first["score"]
    assert detail["scorecard"] == "default@v4"
    total = sum(s["contribution"] for s in detail["signals"])
    assert abs(total - detail["score"]) <= 0.5 + 1e-9
    for signal in detail["signals"]:
        assert signal["windowDays"] and signal["normalisation"] and signal["metric"]
        assert signal["contribution"] == pytest.approx(
            signal["value"] * signal["weight"] * 100, abs=0.01
        )
    # A component whose signals are all ``when_missing: skip`` and without data is left out.
    skipped = {
        group
        for group in ("commercial", "csm")
        if all(s["missing"] for s in detail["signals"] if s["group"] == group)
    }
    groups = {"engagement", "nps", "payments", "support", "commercial", "csm"}
    assert set(detail["components"]) == groups - skipped
    assert detail["previousScore"] is not None
    for driver in detail["drivers"]:
        assert abs(driver["delta"]) >= 0.5


def test_get_health_score_of_unknown_or_unscored_customers_is_404(demo_server):
    with demo_server.client("admin") as api:
        missing = api.get("/api/v1/health-scores/nobody")
        assert missing.status_code == 404
        assert missing.json()["error"]["code"] == "not_found"
        api.put("/api/v1/customers/fresh", json={"name": "Fresh Co"}).raise_for_status()
        unscored = api.get("/api/v1/health-scores/fresh")
        assert unscored.status_code == 404
        assert unscored.json()["error"]["code"] == "not_scored"


def test_refresh_recomputes_one_account_from_new_data_and_persists_it(demo_server):
    with demo_server.client("admin") as api:
        healthy = api.get(
            "/api/v1/health-scores", params={"tier": "healthy", "pageSize": 1}
        ).json()["items"][0]
        cid = healthy["customerId"]
        for _ in range(4):
            api.post(
                "/api/v1/payments",
                json={"customerId": cid, "amount": "99.00", "status": "failed"},
            ).raise_for_status()
        api.post(
            "/api/v1/nps-responses", json={"customerId": cid, "score": 0, "comment": "bad"}
        ).raise_for_status()
        refreshed = api.post(f"/api/v1/health-scores/{cid}/refresh")
        assert refreshed.status_code == 200
        after = refreshed.json()
        assert after["score"] < healthy["score"]
        assert after["components"]["payments"] < healthy["components"]["payments"]
        assert api.get(f"/api/v1/health-scores/{cid}").json()["score"] == after["score"]
        history = api.get(f"/api/v1/health-scores/{cid}/history").json()
        assert [h["day"] for h in history] == sorted(h["day"] for h in history)
        assert history[-1]["score"] == after["score"]
        assert api.post("/api/v1/health-scores/nobody/refresh").status_code == 404


def test_health_summary_matches_the_scores(demo_server):
    with demo_server.client("read") as api:
        summary = api.get("/api/v1/health-summary").json()
        items, _ = all_pages(api, "/api/v1/health-scores")
    tiers = {t: sum(1 for i in items if i["tier"] == t) for t in summary["tiers"]}
    assert summary["tiers"] == tiers
    scores = [i["score"] for i in items if i["score"] is not None]
    assert summary["scored"] == len(scores)
    assert summary["averageScore"] == pytest.approx(sum(scores) / len(scores), abs=0.05)
    assert summary["declining"] == sum(1 for i in items if i["score"] and i["trend"] == "declining")
    assert summary["improving"] == sum(1 for i in items if i["score"] and i["trend"] == "improving")
    engagement = [i["components"]["engagement"] for i in items if i["score"] is not None]
    assert summary["averageComponents"]["engagement"] == pytest.approx(
        sum(engagement) / len(engagement), abs=0.05
    )
    # Revenue per tier: the customers' MRR summed by their accounts' tiers.
    with demo_server.client("read") as api:
        customers, _ = all_pages(api, "/api/v1/customers")
    mrr = {c["id"]: float(c["mrr"]) for c in customers}
    by_tier = {
        t: round(sum(mrr[i["customerId"]] for i in items if i["tier"] == t), 2) for t in tiers
    }
    assert summary["mrrByTier"] == pytest.approx(by_tier)
    assert summary["revenueAtRisk"] == pytest.approx(by_tier["at_risk"] + by_tier["critical"])
    assert summary["revenueAtRisk"] > 0


def test_nps_submit_list_and_summary(demo_server):
    with demo_server.client("admin") as api:
        api.put("/api/v1/customers/cust_abc123", json={"name": "ABC"}).raise_for_status()
        created = api.post(
            "/api/v1/nps-responses",
            json={
                "customerId": "cust_abc123",
                "score": 9,
                "comment": "Great product, fast support.",
            },
        )
        assert created.status_code == 201 and created.json()["id"] > 0
        for score, days in [(3, 40), (7, 10)]:
            api.post(
                "/api/v1/nps-responses",
                json={
                    "customerId": "cust_abc123",
                    "score": score,
                    "timestamp": (NOW - timedelta(days=days)).isoformat(),
                },
            ).raise_for_status()
        listed = api.get("/api/v1/nps-responses", params={"customerId": "cust_abc123"}).json()
        assert listed["total"] == 3
        assert [r["score"] for r in listed["items"]] == [9, 7, 3]  # newest first
        assert [r["category"] for r in listed["items"]] == ["promoter", "passive", "detractor"]
        recent = api.get(
            "/api/v1/nps-responses",
            params={
                "customerId": "cust_abc123",
                "since": (NOW - timedelta(days=20)).isoformat(),
            },
        ).json()
        assert recent["total"] == 2

        summary = api.get(
            "/api/v1/nps-summary", params={"customerId": "cust_abc123", "period": "month"}
        ).json()
        assert summary["responses"] == 3
        assert summary["average"] == pytest.approx(19 / 3, abs=0.01)
        assert summary["nps"] == pytest.approx(0.0)  # 1 promoter - 1 detractor of 3
        assert (summary["promoters"], summary["passives"], summary["detractors"]) == (1, 1, 1)
        assert sum(p["responses"] for p in summary["periods"]) == 3
        starts = [p["periodStart"] for p in summary["periods"]]
        assert starts == sorted(starts) and all(s.endswith("-01") for s in starts)

        everyone = api.get("/api/v1/nps-summary").json()
        assert everyone["responses"] == count(demo_server, m.NpsResponse)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"customerId": "cust_x", "score": 11}, "score"),
        ({"customerId": "cust_x", "score": -1}, "score"),
        ({"customerId": "cust_x", "score": "nine"}, "score"),
        ({"score": 5}, "customerId"),
        ({"customerId": "cust_x", "score": 5, "surprise": 1}, "surprise"),
        ({"customerId": "nobody", "score": 5}, "customerId"),
        (
            {"customerId": "cust_x", "score": 5, "timestamp": "2999-01-01T00:00:00Z"},
            "timestamp",
        ),
    ],
)
def test_invalid_nps_answers_are_rejected_naming_the_field_and_write_nothing(
    live_server, body, field
):
    with live_server.client("admin") as api:
        api.put("/api/v1/customers/cust_x", json={"name": "X"}).raise_for_status()
        response = api.post("/api/v1/nps-responses", json=body)
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "validation_error"
    assert field in [d["field"] for d in error["details"]] or error["message"].startswith(field)
    assert count(live_server, m.NpsResponse) == 0


def test_track_engagement_routes_events_and_lists_them(demo_server):
    with demo_server.client("admin") as api:
        api.put("/api/v1/customers/cust_abc123", json={"name": "ABC"}).raise_for_status()
        events = [
            {"eventType": "feature_used", "metadata": {"feature": "analytics_dashboard"}},
            {"eventType": "login", "userId": "u1"},
            {"eventType": "api_call", "metadata": {"calls": 250}},
            {"eventType": "page_visited", "metadata": {"path": "/reports"}},
        ]
        for i, event in enumerate(events):
            ts = (NOW - timedelta(minutes=10 - i)).isoformat()
            response = api.post(
                "/api/v1/engagement-events",
                json={"customerId": "cust_abc123", "timestamp": ts, **event},
            )
            assert response.status_code == 201, response.text
        listed = api.get("/api/v1/engagement-events", params={"customerId": "cust_abc123"}).json()
        assert listed["total"] == 4
        assert [e["eventType"] for e in listed["items"]] == [
            "page_visited",
            "api_call",
            "login",
            "feature_used",
        ]
        assert listed["items"][0]["metadata"] == {"path": "/reports"}
        assert listed["items"][1]["metadata"] == {"calls": 250}
        assert listed["items"][3]["metadata"] == {"feature": "analytics_dashboard"}
        only_logins = api.get(
            "/api/v1/engagement-events", params={"customerId": "cust_abc123", "eventType": "login"}
        ).json()
        assert only_logins["total"] == 1 and only_logins["items"][0]["userId"] == "u1"

        everyone = api.get("/api/v1/engagement-events", params={"pageSize": 5}).json()
        stored = sum(
            count(demo_server, model)
            for model in (m.Session, m.FeatureUsage, m.ApiUsage, m.EngagementEvent)
        )
        assert everyone["total"] == stored
        stamps = [e["timestamp"] for e in everyone["items"]]
        assert stamps == sorted(stamps, reverse=True)
        second = api.get("/api/v1/engagement-events", params={"pageSize": 5, "page": 2}).json()
        assert second["items"][0]["timestamp"] <= stamps[-1]

        bad = api.post(
            "/api/v1/engagement-events",
            json={"customerId": "cust_abc123", "eventType": "feature_used", "metadata": {}},
        )
        assert bad.status_code == 422
        assert bad.json()["error"]["details"][0]["field"] == "metadata.feature"
        shape = api.post(
            "/api/v1/engagement-events",
            json={"customerId": "cust_abc123", "eventType": "drop table;"},
        )
        assert shape.status_code == 422


def test_list_outreach_log_filters_and_paginates(demo_server):
    with transaction(demo_server.sessions) as session:
        ids = list(session.scalars(select(m.Customer.id).limit(12)))
        for i, cid in enumerate(ids):
            session.add(
                case_models.OutreachEntry(
                    customer_id=cid,
                    playbook="tier_changed" if i % 2 else "score_below",
                    reason=f"reason {i}",
                    snapshot={"score": 30 + i},
                    status="open" if i < 10 else "resolved",
                    resolution=None if i < 10 else "done",
                    idempotency_key=f"k{i}",
                    created_at=NOW - timedelta(hours=12 - i),
                    updated_at=NOW,
                )
            )
    with demo_server.client("read") as api:
        items, total = all_pages(api, "/api/v1/outreach")
        assert total == 12 and [i["reason"] for i in items][:2] == ["reason 11", "reason 10"]
        done = api.get("/api/v1/outreach", params={"status": "done"}).json()
        assert done["total"] == 2, "an old status is an alias: resolved as done"
        assert {i["status"] for i in done["items"]} == {"resolved"}
        resolved = api.get("/api/v1/outreach", params={"status": "resolved"}).json()
        assert resolved["total"] == 2
        by_playbook = api.get("/api/v1/outreach", params={"playbook": "tier_changed"}).json()
        assert by_playbook["total"] == 6
        assert api.get("/api/v1/outreach", params={"status": "bogus"}).status_code == 422


def test_a_score_says_its_stage_and_confidence_and_a_renewal_date_moves_the_stage(demo_server):
    with demo_server.client("admin") as api:
        listed = api.get("/api/v1/health-scores", params={"pageSize": 40}).json()["items"]
        # The demo has new and renewing accounts too: take one that is neither.
        detail = next(i for i in listed if i["stage"] in {"adopting", "mature"})
        cid = detail["customerId"]
        assert 0 <= detail["confidence"] <= 1
        soon = (datetime.now(UTC) + timedelta(days=30)).isoformat()
        saved = api.put(f"/api/v1/customers/{cid}", json={"renewsAt": soon})
        assert saved.status_code == 200 and saved.json()["renewsAt"] is not None
        after = api.post(f"/api/v1/health-scores/{cid}/refresh").json()
        assert after["stage"] == "renewal"
        history = api.get(f"/api/v1/health-scores/{cid}/history").json()
        assert history[-1]["stage"] == "renewal"
        assert history[-1]["confidence"] == after["confidence"]


def test_customers_seats_tickets_and_payments_can_be_recorded(live_server):
    with live_server.client("ingest") as api:
        created = api.put(
            "/api/v1/customers/acme",
            json={"name": "Acme", "plan": "pro", "segment": "smb", "mrr": "1200.50"},
        )
        assert created.status_code == 200, created.text
        assert created.json()["mrr"] == "1200.50"
        updated = api.put("/api/v1/customers/acme", json={"plan": "enterprise"}).json()
        assert (updated["name"], updated["plan"]) == ("Acme", "enterprise")
        assert api.put("/api/v1/customers/acme/users/u1", json={}).status_code == 200
        ticket = {
            "openedAt": (NOW - timedelta(days=2)).isoformat(),
            "severity": "high",
        }
        assert api.put("/api/v1/customers/acme/tickets/T-1", json=ticket).status_code == 200
        resolved = {**ticket, "resolvedAt": (NOW - timedelta(days=1)).isoformat(), "rating": 4}
        assert api.put("/api/v1/customers/acme/tickets/T-1", json=resolved).status_code == 200
        backwards = {**ticket, "resolvedAt": (NOW - timedelta(days=3)).isoformat()}
        assert api.put("/api/v1/customers/acme/tickets/T-1", json=backwards).status_code == 422
        payment = {"customerId": "acme", "amount": "10.00", "status": "succeeded"}
        first = api.post("/api/v1/payments", json={**payment, "externalId": "in_1"}).json()
        again = api.post("/api/v1/payments", json={**payment, "externalId": "in_1"}).json()
        assert first == again
        assert api.put("/api/v1/customers/nobody/users/u1", json={}).status_code == 404
    with live_server.sessions() as session:
        ticket_row = session.scalars(select(m.SupportTicket)).one()
        assert (ticket_row.rating, ticket_row.severity) == (4, "high")
        assert session.scalar(select(func.count()).select_from(m.Payment)) == 1
        assert session.scalar(select(func.count()).select_from(m.User)) == 1
    with live_server.client("read") as reader:
        listed = reader.get("/api/v1/customers").json()
        assert [c["id"] for c in listed["items"]] == ["acme"]
        assert reader.get("/api/v1/customers/acme").json()["plan"] == "enterprise"
