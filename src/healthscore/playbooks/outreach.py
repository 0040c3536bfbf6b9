"""The outreach log: proactive actions taken (or to take) for an account.

The HTTP API and the dashboard read and change the log through these functions, so an
entry obeys the same rules whichever edge it is edited from; the SQL is in
``playbooks.repository``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal, TypedDict, get_args

from sqlalchemy.orm import Session

from healthscore.playbooks import repository
from healthscore.playbooks.repository import OutreachFilter
from healthscore.storage import models as m

__all__ = [
    "MAX_NOTES",
    "MAX_OWNER",
    "STATUSES",
    "EntryNotFound",
    "InvalidChange",
    "OutreachChanges",
    "OutreachError",
    "OutreachFilter",
    "OutreachLog",
    "Status",
    "list_entries",
    "outreach_log",
    "update_entry",
]

Status = Literal["open", "in_progress", "done", "dismissed"]
STATUSES: tuple[str, ...] = get_args(Status)
MAX_OWNER = 255
MAX_NOTES = 10_000

list_entries = repository.list_entries


class OutreachError(Exception):
    """A change the log refuses; each edge maps it to its own answer (HTTP status, page)."""


class EntryNotFound(OutreachError):
    def __init__(self, entry_id: int) -> None:
        super().__init__(f"no outreach entry {entry_id}")
        self.entry_id = entry_id


class InvalidChange(OutreachError):
    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


class OutreachChanges(TypedDict, total=False):
    """The fields to set on an entry; a field left out stays as it is."""

    status: str
    owner: str | None
    notes: str


def _problems(changes: OutreachChanges) -> list[str]:
    problems = []
    if "status" in changes and changes["status"] not in STATUSES:
        problems.append(f"status must be one of {', '.join(STATUSES)}")
    if len(changes.get("owner") or "") > MAX_OWNER:
        problems.append(f"owner must be at most {MAX_OWNER} characters")
    if len(changes.get("notes") or "") > MAX_NOTES:
        problems.append(f"notes must be at most {MAX_NOTES:,} characters")
    return problems


def update_entry(
    session: Session, entry_id: int, changes: OutreachChanges, *, now: datetime | None = None
) -> m.OutreachEntry:
    """Move an entry through open → in_progress → done/dismissed; set its owner and notes.

    Raises ``InvalidChange`` before touching the database, ``EntryNotFound`` for an
    unknown id; flushes, and leaves the commit to the caller.
    """
    problems = _problems(changes)
    if problems:
        raise InvalidChange(problems)
    entry = repository.get_entry(session, entry_id)
    if entry is None:
        raise EntryNotFound(entry_id)
    if "status" in changes:
        entry.status = changes["status"]
    if "owner" in changes:
        entry.owner = changes["owner"]
    if "notes" in changes:
        entry.notes = changes["notes"]
    entry.updated_at = now or datetime.now(UTC)
    session.flush()
    return entry


@dataclass(frozen=True)
class OutreachLog:
    """One page of the log with what its filters offer."""

    entries: list[m.OutreachEntry]
    total: int
    names: dict[str, str]
    """Account names of the entries on this page."""
    playbooks: list[str]
    counts: dict[str, int]
    """Entries per status over the whole log, every status present."""


def outreach_log(
    session: Session, f: OutreachFilter, *, offset: int = 0, limit: int = 50
) -> OutreachLog:
    entries, total = repository.list_entries(session, f, offset=offset, limit=limit)
    counts = repository.status_counts(session)
    return OutreachLog(
        entries=entries,
        total=total,
        names=repository.customer_names(session, {e.customer_id for e in entries}),
        playbooks=repository.playbook_names(session),
        counts={s: counts.get(s, 0) for s in STATUSES},
    )
