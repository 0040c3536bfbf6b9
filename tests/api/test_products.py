"""Per-product scores through the HTTP API on both databases (docs/products.md): events
name their product (Segment ``properties.product`` sent by Segment's own SDK, the REST
``product`` field, the CSV ``product`` column), a rescore scores each product and combines
them, and ``getHealthScore`` / ``getProductScores`` show both.

The server scores with docs/products.yaml; the numbers are tests/scoring/test_products.py's:
the account's own 69, analytics 90 on 10 active days, billing 18 on 2, global 73.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from healthscore.ingest.csv_import import import_folder
from healthscore.settings import Settings
from healthscore.storage import models as m
from tests.api.test_segment import sdk, segment_http, track

EXAMPLE = Path(__file__).parents[2] / "docs" / "products.yaml"


@pytest.fixture
def server_settings(db_url: str, tmp_path: Path) -> Settings:
    return Settings(
        database_url=db_url,
        scorecard=str(EXAMPLE),
        queue_path=str(tmp_path / "queue.db"),
        redis_url=None,
        ingest_ack="applied",  # read-your-writes: the test reads what it sent at once
    )


def test_segment_events_naming_products_give_product_scores_and_a_global_score(live_server):
    now = datetime.now(UTC)
    with live_server.client("admin") as admin:
        assert admin.put("/api/v1/customers/acme", json={"name": "Acme"}).status_code == 200
        errors: list[object] = []
        client = sdk(live_server, sync_mode=False, on_error=lambda e, batch: errors.append(e))
        for user in ("u1", "u2", "u3"):
            client.group(user, "acme", timestamp=now - timedelta(days=60))
        for day in range(1, 11):
            ts = now - timedelta(days=day, hours=3)
            analytics = {"product": "analytics"}
            client.track(f"u{1 + day % 2}", "Signed In", analytics, timestamp=ts)
            if day <= 5:
                used = {"feature": f"f{day}", **analytics}
                client.track("u1", "Feature Used", used, timestamp=ts)
        for day in (12, 20):
            client.track(
                "u3", "Signed In", {"product": "billing"}, timestamp=now - timedelta(days=day)
            )
        client.flush()
        client.join()
        assert errors == []

        answer = admin.post("/api/v1/health-scores/acme/refresh")
        assert answer.status_code == 200, answer.text
        detail = answer.json()
        assert (detail["score"], detail["tier"]) == (73, "healthy")
        combined = detail["products"]
        assert (combined["accountScore"], combined["weight"], combined["windowDays"]) == (
            69,
            0.4,
            30,
        )
        assert "weight" in combined["rule"]
        assert [
            (p["product"], p["score"], p["tier"], p["share"]) for p in combined["products"]
        ] == [
            ("analytics", 90, "healthy", 0.8333),
            ("billing", 18, "critical", 0.1667),
        ]

        # The same product scores, unless the rescore the events' arrival queued ran after
        # the refresh: then only their moment is later.
        listed = admin.get("/api/v1/health-scores/acme/products").json()
        moments = [
            datetime.fromisoformat(p["asOf"]) >= datetime.fromisoformat(c["asOf"])
            for p, c in zip(listed, combined["products"], strict=True)
        ]
        assert moments == [True, True]
        assert [{**p, "asOf": None} for p in listed] == [
            {**p, "asOf": None} for p in combined["products"]
        ]
        signals = {s["name"]: s for s in listed[0]["signals"]}
        assert signals["product_users"]["raw"] == 2.0
        assert signals["product_users"]["contribution"] == pytest.approx(20.0)
        assert admin.get("/api/v1/health-scores/nobody/products").status_code == 404

    # A product name that is no name refuses the message, naming the field.
    with segment_http(live_server) as http:
        long = track("Signed In", userId="u1", properties={"product": "x" * 65})
        refused = http.post("/v1/batch", json={"batch": [long]})
    assert refused.status_code == 400
    assert "batch.0.properties.product" in refused.text


def test_rest_and_csv_events_carry_their_product_and_the_openapi_document_shows_it(
    live_server, tmp_path
):
    now = datetime.now(UTC)
    folder = tmp_path / "csv"
    folder.mkdir()
    created = (now - timedelta(days=90)).date().isoformat()
    (folder / "customers.csv").write_text(
        "id,name,plan,segment,mrr,created_at,churned_at\n"
        + f"globex,Globex,pro,smb,10,{created},\n"
    )
    (folder / "users.csv").write_text(f"customer_id,user_id,created_at\nglobex,g1,{created}\n")
    (folder / "events.csv").write_text(
        "customer_id,user_id,ts,type,name,value,product\n"
        + "".join(
            f"globex,g1,{(now - timedelta(days=d)).isoformat()},login,,,crm\n" for d in range(1, 6)
        )
        + f"globex,,{(now - timedelta(days=2)).isoformat()},api_call,,40,\n"
    )
    import_folder(live_server.sessions, folder, now=now)

    with live_server.client("admin") as admin:
        sent = admin.post(
            "/api/v1/engagement-events",
            json={
                "customerId": "globex",
                "eventType": "feature_used",
                "userId": "g1",
                "metadata": {"feature": "pipeline"},
                "product": "crm",
                "timestamp": (now - timedelta(days=1)).isoformat(),
            },
        )
        assert sent.status_code == 201, sent.text
        detail = admin.post("/api/v1/health-scores/globex/refresh").json()
        (crm,) = detail["products"]["products"]
        raw = {s["name"]: s["raw"] for s in crm["signals"]}
        assert (crm["product"], crm["share"]) == ("crm", 1.0)
        assert raw == {"product_logins": 5.0, "product_users": 1.0, "product_features": 1.0}
        document = admin.get("/openapi.json").json()

    with live_server.sessions() as session:
        calls = session.execute(select(m.ApiUsage.calls, m.ApiUsage.product)).all()
    assert calls == [(40, None)]  # an empty cell: no product

    assert "getProductScores" in str(
        document["paths"]["/api/v1/health-scores/{customer_id}/products"]
    )
    schemas = document["components"]["schemas"]
    assert "products" in schemas["HealthScoreDetail"]["properties"]
    assert "product" in schemas["EngagementInput"]["properties"]
    assert {"share", "signals", "asOf"} <= set(schemas["ProductScoreDetail"]["properties"])
