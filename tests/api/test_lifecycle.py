"""Erasure and data-access requests over HTTP."""

from __future__ import annotations

from sqlalchemy import func, select

from healthscore.storage import models as m


def test_an_account_can_be_exported_and_then_erased(live_server):
    with live_server.client("admin") as api:
        api.put("/api/v1/customers/acme", json={"name": "Acme"}).raise_for_status()
        api.post(
            "/api/v1/nps-responses", json={"customerId": "acme", "score": 3, "comment": "meh"}
        ).raise_for_status()
        api.put("/api/v1/customers/acme/users/jane@acme.test", json={}).raise_for_status()
        export = api.get("/api/v1/customers/acme/export").json()
        assert export["customer"]["name"] == "Acme"
        assert [r["comment"] for r in export["nps_responses"]] == ["meh"]
        assert [u["user_id"] for u in export["users"]] == ["jane@acme.test"]

        deleted = api.delete("/api/v1/customers/acme")
        assert deleted.status_code == 200
        assert deleted.json()["deletedRows"]["nps_responses"] == 1
        assert api.get("/api/v1/customers/acme").status_code == 404
        assert api.delete("/api/v1/customers/acme").status_code == 404
        assert api.get("/api/v1/customers/acme/export").status_code == 404
    with live_server.sessions() as session:
        assert session.scalar(select(func.count()).select_from(m.NpsResponse)) == 0
        assert session.scalar(select(func.count()).select_from(m.User)) == 0
