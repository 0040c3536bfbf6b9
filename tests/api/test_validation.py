"""Malformed requests get a clear 4xx in the standard shape and change nothing."""

from __future__ import annotations

from sqlalchemy import func, select

from healthscore.storage import models as m


def test_oversized_bodies_are_refused_before_parsing(live_server):
    big = {"customerId": "c", "eventType": "x", "metadata": {"blob": "a" * 2_000_000}}
    with live_server.client("ingest") as api:
        response = api.post("/api/v1/engagement-events", json=big)
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "payload_too_large"


def test_malformed_json_is_a_bad_request_naming_line_and_column(live_server):
    with live_server.client("ingest") as api:
        response = api.post(
            "/api/v1/nps-responses",
            content=b"{not json",
            headers={"Content-Type": "application/json"},
        )
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "malformed_json"
    assert response.json()["error"]["message"].startswith("malformed JSON at line 1, column 2: ")


def test_bad_query_parameters_name_the_parameter(live_server):
    with live_server.client("read") as api:
        response = api.get("/api/v1/health-scores", params={"pageSize": 0, "tier": "sad"})
    assert response.status_code == 422
    fields = {d["field"] for d in response.json()["error"]["details"]}
    assert fields == {"pageSize", "tier.0"}


def test_a_customer_update_that_breaks_a_rule_writes_nothing(live_server):
    with live_server.client("ingest") as api:
        api.put(
            "/api/v1/customers/acme",
            json={"name": "Acme", "createdAt": "2026-01-01T00:00:00Z"},
        ).raise_for_status()
        response = api.put(
            "/api/v1/customers/acme",
            json={"name": "Renamed", "churnedAt": "2025-01-01T00:00:00Z"},
        )
    assert response.status_code == 422
    with live_server.sessions() as session:
        customer = session.get(m.Customer, "acme")
        assert customer is not None
        assert (customer.name, customer.churned_at) == ("Acme", None)
        assert session.scalar(select(func.count()).select_from(m.Customer)) == 1


def test_every_answer_carries_security_headers(live_server):
    with live_server.client("read") as api:
        for path in ("/healthz", "/api/v1/health-summary", "/api/v1/nope", "/login"):
            headers = api.get(path).headers
            assert headers["X-Content-Type-Options"] == "nosniff", path
            assert headers["X-Frame-Options"] == "DENY", path
            assert "frame-ancestors 'none'" in headers["Content-Security-Policy"], path
        # The dashboard's own page policy is kept, not replaced by the API's.
        assert "script-src 'self'" in api.get("/login").headers["Content-Security-Policy"]


def test_nul_characters_are_refused_everywhere_before_any_write(live_server):
    with live_server.client("admin") as api:
        body = api.put("/api/v1/customers/acme", json={"name": "Ac\x00me"})
        assert body.status_code == 422 and "NUL" in body.json()["error"]["message"]
        query = api.get("/api/v1/health-scores", params={"search": "a\x00b"})
        assert query.status_code == 422
    with live_server.sessions() as session:
        assert session.scalar(select(func.count()).select_from(m.Customer)) == 0
