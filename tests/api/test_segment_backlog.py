"""Journaled Segment ingest with no worker keeping up: past
``HEALTHSCORE_INGEST_MAX_BACKLOG_EVENTS`` waiting events a call gets 503 ``ingest_backlog``
with Retry-After and stores nothing, instead of growing a backlog without bound; once the
journal is applied, calls are acknowledged again."""

from __future__ import annotations

import pytest

from healthscore.ingest import journal
from healthscore.settings import Settings
from healthscore.storage.database import transaction
from tests.api.test_segment import segment_http, track

LIMIT = 250


@pytest.fixture
def server_settings(server_settings: Settings) -> Settings:
    return server_settings.model_copy(
        update={
            "ingest_ack": "journaled",
            "embedded_worker": False,  # nobody applies the journal: the backlog only grows
            "ingest_max_backlog_events": LIMIT,
        }
    )


def hundred_events() -> dict[str, object]:
    return {
        "batch": [
            track("Signed In", userId=f"u{i}", context={"groupId": "acme"}) for i in range(100)
        ]
    }


def waiting(live_server, db_url: str) -> tuple[int, int]:
    """(requests, events) journaled and not applied."""
    log = journal.Journal(db_url)
    try:
        with live_server.sessions() as session:
            entries, events, _ = log.backlog(session)
            return entries, events
    finally:
        log.close()


def test_past_the_backlog_limit_calls_are_refused_until_the_journal_is_applied(live_server, db_url):
    with live_server.client("admin") as admin:
        assert admin.put("/api/v1/customers/acme", json={"name": "Acme"}).status_code == 200
    with segment_http(live_server) as segment:
        for _ in range(3):  # 0, 100, 200 waiting: under the limit, acknowledged
            assert segment.post("/v1/batch", json=hundred_events()).status_code == 200
        assert waiting(live_server, db_url) == (3, 300)

        refused = segment.post("/v1/batch", json=hundred_events())
        assert refused.status_code == 503, refused.text
        assert refused.json()["error"]["code"] == "ingest_backlog"
        assert "300 journaled events are waiting" in refused.json()["error"]["message"]
        assert int(refused.headers["Retry-After"]) >= 1
        assert waiting(live_server, db_url) == (3, 300), "a refused call stores nothing"

        log = journal.Journal(db_url)  # the worker, back: it applies what is waiting
        try:
            with transaction(live_server.sessions) as session:
                assert log.apply(session).events == 300
        finally:
            log.close()
        assert segment.post("/v1/batch", json=hundred_events()).status_code == 200
        assert waiting(live_server, db_url) == (1, 100)
