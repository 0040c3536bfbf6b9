"""A database error reaches an API client as one clear 5xx answer with a request id, never
a traceback: the log keeps the story under that id, and the request changed nothing."""

from __future__ import annotations

import logging

from sqlalchemy import select

from healthscore.storage import models as m


def test_a_constraint_violation_is_a_500_with_a_request_id_and_writes_nothing(
    live_server, refuse_large_mrr, caplog
):
    with caplog.at_level(logging.ERROR, logger="healthscore"), live_server.client("ingest") as api:
        answer = api.put(
            "/api/v1/customers/acme",
            json={"name": "Acme", "mrr": "500.00"},
            headers={"X-Request-ID": "support-ticket-42"},
        )
        fine = api.put("/api/v1/customers/tiny", json={"name": "Tiny", "mrr": "50.00"})

    assert answer.status_code == 500
    assert answer.headers["content-type"] == "application/json"
    assert answer.headers["X-Request-ID"] == "support-ticket-42"
    error = answer.json()["error"]
    assert error["code"] == "internal_error"
    assert error["requestId"] == "support-ticket-42"
    assert error["message"] == (
        "database error; the request was not applied (request id support-ticket-42)"
    )
    assert "Traceback" not in answer.text and "INSERT" not in answer.text
    [record] = [r for r in caplog.records if "support-ticket-42" in r.getMessage()]
    assert record.exc_info is not None and "PUT /api/v1/customers/acme" in record.getMessage()
    assert fine.status_code == 200
    with live_server.sessions() as session:
        assert session.scalars(select(m.Customer.id)).all() == ["tiny"]
