"""Changing an outreach entry: one set of rules for the API and the dashboard."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from healthscore.playbooks import outreach
from healthscore.storage import models as m

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)


def an_entry(session) -> int:
    session.add(m.Customer(id="acme", name="Acme", created_at=NOW, traits={}))
    entry = m.OutreachEntry(
        customer_id="acme",
        playbook="usage_drop",
        reason="usage fell",
        snapshot={},
        owner="billing",
        next_step="call",
        status="open",
        notes="first call",
        idempotency_key="usage_drop:acme:2026-06-01",
        created_at=NOW - timedelta(days=1),
        updated_at=NOW - timedelta(days=1),
    )
    session.add(entry)
    session.flush()
    return entry.id


def test_only_the_fields_given_change_and_the_entry_is_stamped(session):
    entry_id = an_entry(session)
    entry = outreach.update_entry(session, entry_id, {"status": "in_progress"}, now=NOW)
    assert (entry.status, entry.owner, entry.notes) == ("in_progress", "billing", "first call")
    assert entry.updated_at.replace(tzinfo=UTC) == NOW
    entry = outreach.update_entry(session, entry_id, {"owner": None, "notes": ""}, now=NOW)
    assert (entry.status, entry.owner, entry.notes) == ("in_progress", None, "")


def test_every_problem_is_named_and_nothing_changes(session):
    entry_id = an_entry(session)
    changes: outreach.OutreachChanges = {
        "status": "lost",
        "owner": "x" * (outreach.MAX_OWNER + 1),
        "notes": "n" * (outreach.MAX_NOTES + 1),
    }
    with pytest.raises(outreach.InvalidChange) as raised:
        outreach.update_entry(session, entry_id, changes)
    assert raised.value.problems == [
        "status must be one of open, in_progress, done, dismissed",
        "owner must be at most 255 characters",
        "notes must be at most 10,000 characters",
    ]
    assert session.get(m.OutreachEntry, entry_id).status == "open"


def test_an_unknown_entry_is_not_found(session):
    with pytest.raises(outreach.EntryNotFound, match="no outreach entry 404"):
        outreach.update_entry(session, 404, {"status": "done"})


def test_the_log_page_names_its_accounts_and_counts_every_status(session):
    an_entry(session)
    log = outreach.outreach_log(session, outreach.OutreachFilter(status="open"))
    assert [e.customer_id for e in log.entries] == ["acme"] and log.total == 1
    assert log.names == {"acme": "Acme"}
    assert log.playbooks == ["usage_drop"]
    assert log.counts == {"open": 1, "in_progress": 0, "done": 0, "dismissed": 0}
