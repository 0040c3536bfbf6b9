"""Changing an outreach entry: the log's old statuses as aliases of case transitions, one
set of rules for the API and the dashboard."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from healthscore.accounts.repository import upsert_customer
from healthscore.playbooks import cases, outreach
from healthscore.storage import case_models
from healthscore.storage import models as m

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)


def an_entry(
    session,
    *,
    status: str = "open",
    key: str = "usage_drop:acme:2026-06-01",
    playbook: str = "usage_drop",
) -> int:
    if session.get(m.Customer, "acme") is None:
        upsert_customer(session, {"id": "acme", "name": "Acme", "created_at": NOW})
    entry = case_models.OutreachEntry(
        customer_id="acme",
        playbook=playbook,
        reason="usage fell",
        snapshot={},
        owner="billing",
        next_step="call",
        status=status,
        notes="first call",
        idempotency_key=key,
        created_at=NOW - timedelta(days=1),
        updated_at=NOW - timedelta(days=1),
    )
    session.add(entry)
    session.flush()
    return entry.id


def update(session, entry_id: int, changes: outreach.OutreachChanges) -> case_models.OutreachEntry:
    return outreach.update_entry(session, entry_id, changes, actor="api:test", now=NOW).detail.case


def test_only_the_fields_given_change_and_the_entry_is_stamped(session):
    entry_id = an_entry(session)
    entry = update(session, entry_id, {"status": "in_progress"})
    assert (entry.status, entry.owner, entry.notes) == ("acknowledged", "billing", "first call")
    assert entry.updated_at == NOW
    entry = update(session, entry_id, {"owner": None, "notes": ""})
    assert (entry.status, entry.owner, entry.notes) == ("acknowledged", None, "")
    kinds = [e.kind for e in cases.get_case(session, entry_id).events]
    assert kinds == ["acknowledged", "assigned", "noted"]


@pytest.mark.parametrize(
    ("status", "state", "resolution"),
    [
        ("in_progress", "acknowledged", None),
        ("acknowledged", "acknowledged", None),
        ("done", "resolved", "done"),
        ("dismissed", "resolved", "dismissed"),
        ("resolved", "resolved", "done"),
        ("open", "open", None),
    ],
)
def test_old_statuses_are_aliases_of_case_states(session, status, state, resolution):
    entry_id = an_entry(session)
    entry = update(session, entry_id, {"status": status})
    assert (entry.status, entry.resolution) == (state, resolution)


def test_a_done_entry_set_back_to_in_progress_is_reopened_then_acknowledged(session):
    entry_id = an_entry(session)
    update(session, entry_id, {"status": "done"})
    entry = update(session, entry_id, {"status": "in_progress"})
    assert (entry.status, entry.resolution, entry.resolved_at) == ("acknowledged", None, None)
    assert [(e.kind, e.actor) for e in cases.get_case(session, entry_id).events] == [
        ("resolved", "api:test"),
        ("reopened", "api:test"),
        ("acknowledged", "api:test"),
    ]


def test_setting_the_same_status_again_changes_nothing(session):
    entry_id = an_entry(session)
    update(session, entry_id, {"status": "dismissed"})
    again = outreach.update_entry(
        session, entry_id, {"status": "dismissed"}, actor="api:test", now=NOW
    )
    assert not again.changed and len(again.detail.events) == 1


def test_every_problem_is_named_and_nothing_changes(session):
    entry_id = an_entry(session)
    changes: outreach.OutreachChanges = {
        "status": "snoozed",
        "owner": "x" * (outreach.MAX_OWNER + 1),
        "notes": "n" * (outreach.MAX_NOTES + 1),
    }
    with pytest.raises(outreach.InvalidChange) as raised:
        outreach.update_entry(session, entry_id, changes, actor="api:test")
    assert [p.message for p in raised.value.problems] == [
        "status must be one of open, acknowledged, resolved, in_progress, done, dismissed",
        "owner must be at most 255 characters",
        "notes must be at most 10,000 characters",
    ]
    assert session.get(case_models.OutreachEntry, entry_id).status == "open"


def test_an_unknown_entry_is_not_found(session):
    with pytest.raises(outreach.EntryNotFound, match="no case 404"):
        outreach.update_entry(session, 404, {"status": "done"}, actor="api:test")


def test_the_log_page_names_its_accounts_and_counts_every_state(session):
    an_entry(session)
    log = outreach.outreach_log(session, outreach.OutreachFilter(status="open"))
    assert [e.customer_id for e in log.entries] == ["acme"] and log.total == 1
    assert log.names == {"acme": "Acme"}
    assert log.playbooks == ["usage_drop"]
    assert log.counts == {"open": 1, "acknowledged": 0, "snoozed": 0, "resolved": 0}


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        ("in_progress", [2]),
        ("acknowledged", [2]),
        ("done", [3]),
        ("dismissed", []),
        ("resolved", [3]),
    ],
)
def test_the_log_filters_by_old_statuses_too(session, status, expected):
    an_entry(session)
    second = an_entry(session, key="b", playbook="sharp_drop")
    update(session, second, {"status": "in_progress"})
    third = an_entry(session, status="resolved", key="c")
    session.get(case_models.OutreachEntry, third).resolution = "done"
    session.flush()
    entries, _ = outreach.list_entries(session, outreach.OutreachFilter(status=status))
    assert [e.id for e in entries] == expected
