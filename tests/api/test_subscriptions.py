"""``/api/v1/webhook-subscriptions``: admin-only, the secret shown once, bad input refused
with nothing written, unknown ids 404."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from healthscore.storage import job_models as jm


def _count(live_server) -> int:
    with live_server.sessions() as session:
        return session.scalar(select(func.count()).select_from(jm.WebhookSubscription)) or 0


def test_a_subscription_is_created_listed_without_its_secret_and_deleted(live_server):
    with live_server.client("admin") as api:
        created = api.post(
            "/api/v1/webhook-subscriptions",
            json={"url": "https://hooks.example.com/health", "events": ["tier.changed"]},
        )
        assert created.status_code == 201, created.text
        body = created.json()
        assert body["secret"].startswith("whsec_") and len(body["secret"]) > 30
        assert body["events"] == ["tier.changed"] and body["minScoreChange"] == 5
        listed = api.get("/api/v1/webhook-subscriptions").json()
        assert [s["id"] for s in listed] == [body["id"]]
        assert "secret" not in listed[0]
        assert api.delete(f"/api/v1/webhook-subscriptions/{body['id']}").status_code == 204
        assert api.get("/api/v1/webhook-subscriptions").json() == []
        missing = api.delete(f"/api/v1/webhook-subscriptions/{body['id']}")
        assert missing.status_code == 404
        assert missing.json()["error"]["message"] == f"no webhook subscription {body['id']}"
        # An id no database can hold is bad input, not a server error.
        assert api.delete(f"/api/v1/webhook-subscriptions/{2**64}").status_code == 422
        assert api.delete("/api/v1/webhook-subscriptions/0").status_code == 422


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"url": "ftp://example.com"}, "url"),
        ({"url": "https://x.example", "events": ["score.moved"]}, "events.0"),
        ({"url": "https://x.example", "events": []}, "events"),
        ({"url": "https://x.example", "minScoreChange": 0}, "minScoreChange"),
        ({"url": "https://x.example", "secret": "mine"}, "secret"),
    ],
)
def test_bad_input_is_refused_and_writes_nothing(live_server, body, field):
    with live_server.client("admin") as api:
        refused = api.post("/api/v1/webhook-subscriptions", json=body)
    assert refused.status_code == 422
    assert field in {d["field"] for d in refused.json()["error"]["details"]}
    assert _count(live_server) == 0


def test_only_admin_keys_manage_subscriptions(live_server):
    for scope in ("read", "ingest"):
        with live_server.client(scope) as api:
            assert api.get("/api/v1/webhook-subscriptions").status_code == 403
            refused = api.post("/api/v1/webhook-subscriptions", json={"url": "https://x.example"})
            assert refused.status_code == 403
    assert _count(live_server) == 0
