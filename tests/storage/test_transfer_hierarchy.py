"""``copy-database`` with account hierarchies: a child copied before its parent (by id,
and in another chunk) still arrives with its parent."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import select

from healthscore.storage import models as m
from healthscore.storage import transfer
from healthscore.storage.database import transaction


def test_children_copied_before_their_parents_keep_them(
    sqlite_url, postgres_url, sessions_for_url, monkeypatch
):
    links = {"a_sub": "z_group", "m_sub": "a_sub", "z_group": None}
    with transaction(sessions_for_url(sqlite_url)) as session:
        for cid in links:
            session.add(m.Customer(id=cid, name=cid, created_at=datetime(2026, 1, 1, tzinfo=UTC)))
        session.flush()
        for cid, parent in links.items():
            session.get(m.Customer, cid).parent_id = parent
    monkeypatch.setattr(transfer, "CHUNK_ROWS", 1)  # every row its own INSERT

    transfer.copy_database(sqlite_url, postgres_url)

    with sessions_for_url(postgres_url)() as session:
        copied = dict(session.execute(select(m.Customer.id, m.Customer.parent_id)).all())
    assert copied == links
