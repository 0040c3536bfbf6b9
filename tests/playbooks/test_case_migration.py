"""Migration 0012 on both databases: outreach entries with the old statuses become cases,
one unresolved per account and playbook, each with the events of its past; and back."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest
from alembic import command
from sqlalchemy import text

from healthscore.storage.database import alembic_config, make_engine, upgrade

ENTRIES = [  # (playbook, status, day): the stream left two open ones for "a"
    ("a", "open", "2026-01-01"),
    ("a", "open", "2026-01-08"),
    ("a", "in_progress", "2026-01-15"),
    ("b", "done", "2026-01-01"),
    ("b", "dismissed", "2026-01-02"),
    ("c", "open", "2026-01-03"),
]


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_url(request, tmp_path: Path) -> Iterator[str]:
    """A database with no schema yet, of each kind."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'old.db'}"
        return
    base = os.environ.get("HEALTHSCORE_TEST_DATABASE_URL")
    if not base:
        if os.environ.get("CI"):
            pytest.fail("HEALTHSCORE_TEST_DATABASE_URL must be set in CI")
        pytest.skip("set HEALTHSCORE_TEST_DATABASE_URL to run the PostgreSQL variant")
    schema = f"hs_cases_{uuid.uuid4().hex[:8]}"
    admin = make_engine(base)
    with admin.begin() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    yield f"{base}{'&' if '?' in base else '?'}options={quote(f'-csearch_path={schema}')}"
    with admin.begin() as connection:
        connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    admin.dispose()


def test_old_entries_become_cases_and_the_migration_goes_back(empty_url):
    engine = make_engine(empty_url)
    upgrade(engine, "0011")
    with engine.begin() as c:
        c.execute(
            text(
                "INSERT INTO customers (id, name, plan, segment, mrr, created_at, traits) "
                "VALUES ('c1', 'C', 'pro', 'smb', 1, '2026-01-01 00:00:00', '{}')"
            )
        )
        for i, (playbook, status, day) in enumerate(ENTRIES):
            c.execute(
                text(
                    "INSERT INTO outreach_log (customer_id, playbook, reason, snapshot, owner,"
                    " next_step, status, notes, idempotency_key, created_at, updated_at) VALUES"
                    " ('c1', :p, 'why', '{}', NULL, '', :s, '', :k, :d, :d)"
                ),
                {"p": playbook, "s": status, "k": f"k{i}", "d": f"{day} 00:00:00"},
            )
    upgrade(engine)
    with engine.connect() as c:
        cases = c.execute(
            text(
                "SELECT playbook, status, resolution, severity, resolved_at IS NOT NULL,"
                " last_seen_at = created_at FROM outreach_log ORDER BY id"
            )
        ).all()
        events = c.execute(
            text(
                "SELECT case_id, kind, from_state, to_state, actor FROM case_events"
                " ORDER BY case_id, id"
            )
        ).all()
    assert [tuple(r) for r in cases] == [
        ("a", "resolved", "merged", "normal", True, True),
        ("a", "resolved", "merged", "normal", True, True),
        ("a", "acknowledged", None, "normal", False, True),
        ("b", "resolved", "done", "normal", True, True),
        ("b", "resolved", "dismissed", "normal", True, True),
        ("c", "open", None, "normal", False, True),
    ]
    opened = [(1 + i, "opened", None, "open", "system") for i in range(6)]
    assert sorted(tuple(e) for e in events) == sorted(
        [
            *opened,
            (1, "resolved", "open", "resolved", "system"),
            (2, "resolved", "open", "resolved", "system"),
            (3, "acknowledged", "open", "acknowledged", "system"),
            (4, "resolved", "open", "resolved", "system"),
            (5, "resolved", "open", "resolved", "system"),
        ]
    )
    command.downgrade(alembic_config(engine), "0011")
    with engine.connect() as c:
        statuses = c.execute(text("SELECT status FROM outreach_log ORDER BY id")).scalars().all()
    assert statuses == ["done", "done", "in_progress", "done", "dismissed", "open"]
    upgrade(engine)
    engine.dispose()
