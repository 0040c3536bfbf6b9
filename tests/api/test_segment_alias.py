"""``POST /v1/alias`` on a live server, journaled acknowledgements on and no worker to apply
them: the alias applies what waits in the journal first, so the previous id's acknowledged
events are merged too; the account is marked for rescore. SQLite and PostgreSQL."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from sqlalchemy import delete, select

from healthscore.settings import Settings
from healthscore.storage import job_models as jm
from healthscore.storage import models as m
from tests.fixtures.server import SHARED_TLS


@pytest.fixture
def server_settings(db_url: str, tmp_path: Path) -> Settings:
    return Settings(
        database_url=db_url,
        queue_path=str(tmp_path / "queue.db"),
        redis_url=None,
        ingest_ack="journaled",
        embedded_worker=False,  # the journal waits: only the alias can apply it
    )


def test_an_alias_merges_the_journaled_events_of_the_previous_id(live_server):
    ok = {"success": True}
    with httpx.Client(
        verify=SHARED_TLS,
        base_url=live_server.url,
        auth=(live_server.keys["ingest"], ""),
        timeout=30,
    ) as http:
        group = {"userId": "old", "groupId": "acme", "traits": {"name": "Acme"}}
        assert http.post("/v1/group", json=group).json() == ok  # always applied
        assert http.post("/v1/track", json={"userId": "old", "event": "Signed In"}).json() == ok
        with live_server.sessions() as session:
            assert session.scalars(select(m.Session.user_id)).all() == []  # journaled only
            session.execute(delete(jm.PendingRescore))
            session.commit()

        refused = http.post("/v1/alias", json={"userId": "new"})
        assert refused.status_code == 400
        assert refused.json()["error"]["details"] == [
            {"field": "previousId", "message": "previousId is required: the id to merge"}
        ]
        assert http.post("/v1/alias", json={"previousId": "old", "userId": "new"}).json() == ok

    with live_server.sessions() as session:
        assert session.scalars(select(m.Session.user_id)).all() == ["new"]
        assert session.scalars(select(m.User.user_id)).all() == ["new"]
        assert session.scalars(select(m.UserActivity.user_id)).all() == ["new"]
        assert session.scalars(select(jm.PendingRescore.customer_id)).all() == ["acme"]
        entries = session.scalars(select(jm.IngestJournalEntry.id)).all()
    assert entries == []
