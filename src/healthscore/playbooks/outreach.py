"""The outreach log (seed 001's operations) over cases: the same rows, the old vocabulary.

An outreach entry is a case (``playbooks.cases``). The log's statuses before cases are
still accepted on input, as aliases: ``in_progress`` is ``acknowledged``, ``done`` and
``dismissed`` are ``resolved`` with that resolution; ``open`` is ``open``. Setting a
status moves the case there through its transitions (a resolved entry set to
``in_progress`` is reopened, then acknowledged), so the audit trail and the messages are
the ones the case operations give. The HTTP API's ``updateOutreachEntry`` and the
dashboard's entry form both call ``update_entry``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal, TypedDict, get_args

from sqlalchemy.orm import Session

from healthscore.errors import Problem
from healthscore.playbooks import case_repository, cases
from healthscore.playbooks.case_repository import CaseFilter
from healthscore.playbooks.case_rules import LEGACY_STATUSES
from healthscore.playbooks.case_steps import event_row
from healthscore.playbooks.cases import Changed, InvalidCaseChange, Transition
from healthscore.playbooks.rules import PlaybookSet
from healthscore.storage import case_models

__all__ = [
    "MAX_NOTES",
    "MAX_OWNER",
    "STATUSES",
    "Changed",
    "EntryNotFound",
    "InvalidChange",
    "OutreachChanges",
    "OutreachFilter",
    "OutreachLog",
    "Status",
    "list_entries",
    "outreach_log",
    "update_entry",
]

Status = Literal["open", "acknowledged", "resolved", "in_progress", "done", "dismissed"]
"""What ``status`` may be set to: case states (``snoozed`` needs a date: the case's
``snooze``) and the old statuses as aliases."""
STATUSES: tuple[str, ...] = get_args(Status)
MAX_OWNER = cases.MAX_OWNER
MAX_NOTES = 10_000

OutreachFilter = CaseFilter
EntryNotFound = cases.CaseNotFound
InvalidChange = InvalidCaseChange


def list_entries(
    session: Session, f: CaseFilter, *, offset: int = 0, limit: int = 50
) -> tuple[list[case_models.OutreachEntry], int]:
    """One page of entries, newest first, and how many match in all."""
    return case_repository.list_cases(session, f, offset=offset, limit=limit)


class OutreachChanges(TypedDict, total=False):
    """The fields to set on an entry; a field left out stays as it is."""

    status: str
    owner: str | None
    notes: str


def _problems(changes: OutreachChanges) -> list[Problem]:
    problems = []
    if "status" in changes and changes["status"] not in STATUSES:
        problems.append(Problem("status", f"status must be one of {', '.join(STATUSES)}"))
    if len(changes.get("owner") or "") > MAX_OWNER:
        problems.append(Problem("owner", f"owner must be at most {MAX_OWNER} characters"))
    if len(changes.get("notes") or "") > MAX_NOTES:
        problems.append(Problem("notes", f"notes must be at most {MAX_NOTES:,} characters"))
    return problems


def _transitions(case: case_models.OutreachEntry, status: str) -> list[Transition]:
    """The case transitions that bring ``case`` to ``status`` (an old status or a state)."""
    state, resolution = LEGACY_STATUSES.get(status, (status, None))
    if state == "resolved":
        return [Transition("resolve", resolution=resolution or "done")]
    steps = [Transition("reopen")] if case.status == "resolved" or state == "open" else []
    if state == "acknowledged":
        steps.append(Transition("acknowledge"))
    return steps


def update_entry(
    session: Session,
    entry_id: int,
    changes: OutreachChanges,
    *,
    actor: str,
    playbooks: PlaybookSet | None = None,
    now: datetime | None = None,
) -> Changed:
    """Set an entry's status (through the case's transitions), owner and notes.

    Raises ``InvalidChange`` (422) before touching the database, ``EntryNotFound`` (404)
    for an unknown id, ``cases.InvalidTransition`` (409) for a move the case refuses;
    flushes, and leaves the commit (then the enqueueing of ``delivery_ids``) to the caller.
    """
    problems = _problems(changes)
    if problems:
        raise InvalidChange(problems)
    now = now or datetime.now(UTC)
    case = case_repository.get_case(session, entry_id, lock=True)
    if case is None:
        raise EntryNotFound(entry_id)
    steps = _transitions(case, changes["status"]) if "status" in changes else []
    if "owner" in changes:
        steps.append(Transition("assign", owner=changes["owner"]))
    changed, delivery_ids = False, []
    for step in steps:
        done = cases.transition(session, entry_id, step, actor=actor, playbooks=playbooks, now=now)
        changed |= done.changed
        delivery_ids += done.delivery_ids
    if "notes" in changes and changes["notes"] != case.notes:
        event = event_row(
            case.id,
            case.customer_id,
            "noted",
            case.status,
            case.status,
            at=now,
            actor=actor,
            note=changes["notes"],
        )
        case_repository.add_events(session, [event])
        case.notes, case.updated_at, changed = changes["notes"], now, True
        session.flush()
    return Changed(cases.get_case(session, entry_id), changed, delivery_ids)


@dataclass(frozen=True)
class OutreachLog:
    """One page of the log with what its filters offer."""

    entries: list[case_models.OutreachEntry]
    total: int
    names: dict[str, str]
    """Account names of the entries on this page."""
    playbooks: list[str]
    counts: dict[str, int]
    """Entries per case state under the same filters (state aside), every state present."""


def outreach_log(
    session: Session, f: CaseFilter, *, offset: int = 0, limit: int = 50
) -> OutreachLog:
    found = cases.list_cases(session, f, offset=offset, limit=limit)
    return OutreachLog(found.cases, found.total, found.names, found.playbooks, found.counts)
