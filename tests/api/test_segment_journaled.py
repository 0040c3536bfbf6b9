"""Segment's HTTP API with ``HEALTHSCORE_INGEST_ACK=journaled``, on a live server whose
embedded worker applies the journal: the real SDK's events are acknowledged once
journaled, reach the tables within seconds, and change the score."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from healthscore.ingest import journal
from healthscore.settings import Settings
from healthscore.storage import job_models as jm
from healthscore.storage import models as m
from tests.api.test_segment import score, sdk, segment_http, track


@pytest.fixture
def server_settings(db_url: str, tmp_path: Path) -> Settings:
    return Settings(
        database_url=db_url,
        queue_path=str(tmp_path / "queue.db"),
        redis_url=None,
        ingest_ack="journaled",
        rescore_delay_seconds=0.2,
    )


def eventually(check: Callable[[], bool], timeout: float = 15) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "not applied in time"
        time.sleep(0.05)


def waiting(live_server: Any, db_url: str) -> int:
    """Journal entries not yet applied."""
    log = journal.Journal(db_url)
    try:
        with live_server.sessions() as session:
            return log.backlog(session)[0]
    finally:
        log.close()


def stored(live_server: Any, model: type[m.Base]) -> int:
    with live_server.sessions() as session:
        return session.scalar(select(func.count()).select_from(model)) or 0


def journaled_total(admin: Any) -> float:
    """The counter is per process and this one serves every test: compare differences."""
    for line in admin.get("/metrics").text.splitlines():
        if line.startswith('healthscore_journaled_events_total{source="segment"}'):
            return float(line.split()[-1])
    return 0.0


def test_sdk_events_are_journaled_then_applied_and_change_the_score(live_server, db_url):
    with live_server.client("admin") as admin:
        assert admin.put("/api/v1/customers/acme", json={"name": "Acme"}).status_code == 200
        before = score(admin, "acme")
        journaled_before = journaled_total(admin)
        client = sdk(live_server)
        client.group("u1", "acme")  # applied before its answer: later calls can rely on it
        assert stored(live_server, m.User) == 1
        for feature in ("reports", "exports", "alerts", "sso", "billing"):
            client.track("u1", "Feature Used", properties={"feature": feature})
        client.track("u1", "Signed In")
        client.track("u1", "API Call", properties={"calls": 250})
        client.flush()

        eventually(lambda: stored(live_server, m.FeatureUsage) == 5)
        eventually(lambda: stored(live_server, m.ApiUsage) == 1)
        assert waiting(live_server, db_url) == 0
        assert score(admin, "acme") > before + 10

        assert journaled_total(admin) - journaled_before == 7
        assert "healthscore_ingest_journal_events 0.0" in admin.get("/metrics").text


def test_a_refused_request_is_not_journaled(live_server, db_url):
    with segment_http(live_server) as http:
        answer = http.post(
            "/v1/batch",
            json={"batch": [track("Signed In", userId="u1", context={"groupId": "nobody"})]},
        )
    assert answer.status_code == 400
    assert answer.json()["error"]["details"][0]["field"] == "batch.0.context.groupId"
    assert waiting(live_server, db_url) == 0
    with live_server.sessions() as session:  # counted for the data-quality view all the same
        counted = session.scalars(select(jm.UnknownAccountEvents)).one()
        assert (counted.source, counted.account_key, counted.events) == ("segment", "nobody", 1)


def test_a_retried_batch_is_applied_once(live_server, db_url):
    with live_server.client("admin") as admin:
        assert admin.put("/api/v1/customers/acme", json={"name": "Acme"}).status_code == 200
    batch = {
        "batch": [
            track(
                "Signed In", userId="u1", context={"groupId": "acme"}, messageId=str(uuid.uuid4())
            )
            for _ in range(3)
        ]
    }
    with segment_http(live_server) as http:
        for _ in range(3):
            assert http.post("/v1/batch", json=batch).status_code == 200
    eventually(lambda: stored(live_server, m.Session) == 3)
    eventually(lambda: waiting(live_server, db_url) == 0)
    time.sleep(0.3)
    assert stored(live_server, m.Session) == 3
