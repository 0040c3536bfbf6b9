"""Operating it: /readyz, /metrics in Prometheus format, request ids, JSON logs."""

from __future__ import annotations

import io
import json
import logging
import sys

from healthscore.observability.logs import JsonFormatter, StderrHandler, request_id
from tests.fixtures.metrics import samples


def test_readiness_checks_the_database_without_a_key(live_server):
    with live_server.client(scope=None) as anonymous:
        ready = anonymous.get("/readyz")
    assert ready.status_code == 200
    assert ready.json() == {"status": "ready", "checks": {"database": "ok"}}


def test_metrics_count_ingest_rescoring_and_requests(live_server):
    with live_server.client("admin") as api:
        api.put("/api/v1/customers/acme", json={"name": "Acme"}).raise_for_status()
        before = samples(api.get("/metrics").text)
        for score in (3, 9):
            api.post(
                "/api/v1/nps-responses", json={"customerId": "acme", "score": score}
            ).raise_for_status()
        api.post("/api/v1/health-scores/acme/refresh").raise_for_status()
        response = api.get("/metrics")
    assert response.headers["content-type"].startswith("text/plain")
    after = samples(response.text)
    key = ("healthscore_ingested_events_total", (("source", "api"),))
    assert after[key] - before.get(key, 0) == 2
    refresh = ("healthscore_rescore_seconds_count", (("kind", "refresh"),))
    assert after[refresh] - before.get(refresh, 0) == 1
    assert ("healthscore_queue_depth", ()) in after
    routes = {
        dict(labels).get("route")
        for name, labels in after
        if name.startswith("healthscore_http_request_seconds")
    }
    assert "/api/v1/nps-responses" in routes  # labelled by route template, not raw path
    with live_server.client(scope=None) as anonymous:
        assert anonymous.get("/metrics").status_code == 401


def test_every_response_carries_a_request_id_and_echoes_a_sane_one(live_server):
    with live_server.client("read") as api:
        fresh = api.get("/healthz").headers["X-Request-ID"]
        echoed = api.get("/healthz", headers={"X-Request-ID": "trace-42"}).headers
        replaced = api.get("/healthz", headers={"X-Request-ID": "bad id\twith tabs"}).headers
    assert len(fresh) == 32
    assert echoed["X-Request-ID"] == "trace-42"
    assert replaced["X-Request-ID"] != "bad id\twith tabs"


def test_json_logs_carry_the_request_id():
    record = logging.LogRecord(
        "healthscore.http", logging.INFO, __file__, 1, "GET %s", ("/x",), None
    )
    token = request_id.set("abc123")
    try:
        line = json.loads(JsonFormatter().format(record))
    finally:
        request_id.reset(token)
    assert line["message"] == "GET /x" and line["request_id"] == "abc123"
    assert line["level"] == "INFO" and line["logger"] == "healthscore.http"


def test_logs_go_to_stderr_as_it_is_when_a_record_is_written(monkeypatch):
    """A thread that logs after stderr was swapped and the old one closed (as a test runner
    does per test) writes to the new stderr instead of failing on a closed file."""
    handler = StderrHandler()
    handler.setFormatter(logging.Formatter("%(message)s"))
    first, second = io.StringIO(), io.StringIO()
    monkeypatch.setattr(sys, "stderr", first)
    handler.emit(logging.makeLogRecord({"msg": "one"}))
    first.close()
    monkeypatch.setattr(sys, "stderr", second)
    handler.emit(logging.makeLogRecord({"msg": "two"}))
    assert second.getvalue() == "two\n"
