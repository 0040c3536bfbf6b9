"""Cases as people work them: list and read them, and move them through their lifecycle.

    open ──acknowledge──▶ acknowledged ──resolve──▶ resolved
      │  ▲                     │                      │
      │  └──────reopen─────────┴──────────────────────┘
      └──snooze(until)──▶ snoozed (back to open when the date passes, at the next rescore)

``assign`` sets the owner in any state. Every change is a ``case_events`` row saying who
(``api:<key name>``, ``dashboard:<key name>``, ``system``), when, from which state to
which, and the note given. Repeating a transition that already holds changes nothing and
returns the case as it is; one that the state does not allow raises ``InvalidTransition``
(409); bad input raises ``InvalidCaseChange`` (422) before anything is read. Resolving
sends the playbook's messages, like the rules' opening and escalating (``notify``).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Literal, get_args

from sqlalchemy.orm import Session

from healthscore.audit import repository as audit
from healthscore.errors import Conflict, Invalid, NotFound, Problem
from healthscore.playbooks import case_repository, repository
from healthscore.playbooks.case_repository import CaseFilter
from healthscore.playbooks.case_rules import STATES
from healthscore.playbooks.case_steps import event_row
from healthscore.playbooks.outbox import CaseFacts, notice, queue_deliveries
from healthscore.playbooks.rules import PlaybookSet
from healthscore.storage import case_models
from healthscore.timeutc import utc

Action = Literal["acknowledge", "snooze", "resolve", "reopen", "assign"]
ACTIONS: tuple[str, ...] = get_args(Action)
ManualResolution = Literal["done", "dismissed"]
MANUAL_RESOLUTIONS: tuple[str, ...] = get_args(ManualResolution)
MAX_NOTE = 10_000
MAX_OWNER = 255
MAX_SNOOZE_DAYS = 365
SORTS = ("newest", "oldest", "severity", "last_seen")


class CaseNotFound(NotFound):
    def __init__(self, case_id: int) -> None:
        super().__init__(f"no case {case_id}")
        self.case_id = case_id


class InvalidTransition(Conflict):
    """The case's state does not allow this transition (409)."""


class InvalidCaseChange(Invalid):
    """Input no case could accept (422); ``problems`` name the fields."""

    def __init__(self, problems: list[Problem]) -> None:
        super().__init__("; ".join(p.message for p in problems), problems=problems)


@dataclass(frozen=True)
class Transition:
    """A change a person asks for; only the fields of its ``action`` are read."""

    action: Action
    note: str = ""
    until: datetime | None = None
    """``snooze``: when the case wakes up (must be in the future, within a year)."""
    resolution: str = "done"
    """``resolve``: ``done`` (handled) or ``dismissed`` (not an issue)."""
    owner: str | None = None
    """``assign``: the new owner; None unassigns."""


@dataclass(frozen=True)
class CaseDetail:
    case: case_models.OutreachEntry
    name: str
    """The account's name."""
    events: list[case_models.CaseEvent]


@dataclass(frozen=True)
class Changed:
    detail: CaseDetail
    changed: bool
    """False when the transition already held (or the request was seen before)."""
    delivery_ids: list[int] = field(default_factory=list)
    """Outbox rows to enqueue after the commit (a resolve's messages)."""


@dataclass(frozen=True)
class CaseList:
    cases: list[case_models.OutreachEntry]
    total: int
    names: dict[str, str]
    counts: dict[str, int]
    """Cases per state under the same filters (state aside), every state present."""
    owners: list[str]
    playbooks: list[str]


def problems_of(t: Transition, *, now: datetime) -> list[Problem]:
    problems = []
    if t.action not in ACTIONS:
        problems.append(Problem("action", f"action must be one of {', '.join(ACTIONS)}"))
    if len(t.note) > MAX_NOTE:
        problems.append(Problem("note", f"note must be at most {MAX_NOTE:,} characters"))
    if t.action == "snooze":
        if t.until is None:
            problems.append(Problem("until", "snoozing needs a date (until)"))
        elif t.until <= now:
            problems.append(Problem("until", "until must be in the future"))
        elif t.until > now + timedelta(days=MAX_SNOOZE_DAYS):
            problems.append(Problem("until", f"until must be within {MAX_SNOOZE_DAYS} days"))
    if t.action == "resolve" and t.resolution not in MANUAL_RESOLUTIONS:
        problems.append(
            Problem("resolution", f"resolution must be one of {', '.join(MANUAL_RESOLUTIONS)}")
        )
    if t.action == "assign" and len(t.owner or "") > MAX_OWNER:
        problems.append(Problem("owner", f"owner must be at most {MAX_OWNER} characters"))
    return problems


def get_case(session: Session, case_id: int) -> CaseDetail:
    case = case_repository.get_case(session, case_id)
    if case is None:
        raise CaseNotFound(case_id)
    return _detail(session, case)


def _detail(session: Session, case: case_models.OutreachEntry) -> CaseDetail:
    names = repository.customer_names(session, [case.customer_id])
    events = case_repository.events_of(session, [case.id])[case.id]
    return CaseDetail(case, names.get(case.customer_id, case.customer_id), events)


def list_cases(
    session: Session, f: CaseFilter, *, sort: str = "newest", offset: int = 0, limit: int = 50
) -> CaseList:
    cases, total = case_repository.list_cases(session, f, sort=sort, offset=offset, limit=limit)
    by_state = replace(f, status=None, states=())
    counts = case_repository.state_counts(session, by_state)
    return CaseList(
        cases=cases,
        total=total,
        names=repository.customer_names(session, {c.customer_id for c in cases}),
        counts={s: counts.get(s, 0) for s in STATES},
        owners=case_repository.owners(session),
        playbooks=repository.playbook_names(session),
    )


def transition(
    session: Session,
    case_id: int,
    change: Transition,
    *,
    actor: str,
    playbooks: PlaybookSet | None,
    now: datetime | None = None,
    request_key: str | None = None,
) -> Changed:
    """Apply one transition (see the module's diagram); flushes, the caller commits and
    then enqueues ``delivery_ids``. ``request_key`` (the API's Idempotency-Key) makes a
    retried request a no-op even if the case changed in between."""
    now = now or datetime.now(UTC)
    if change.until is not None:
        change = replace(change, until=utc(change.until))
    problems = problems_of(change, now=now)
    if problems:
        raise InvalidCaseChange(problems)
    case = case_repository.get_case(session, case_id, lock=True)
    if case is None:
        raise CaseNotFound(case_id)
    if request_key and case_repository.made_by_request(session, case_id, request_key):
        return Changed(_detail(session, case), changed=False)
    work = _Work(session, case, actor=actor, now=now, note=change.note, key=request_key)
    changed = _apply(work, change)
    if changed:
        case.updated_at = now
        case_repository.add_events(session, work.events)
        for event in work.events:  # people's changes of a case are manual changes too
            detail = event["detail"]
            assert isinstance(detail, dict)
            audit.record(
                session,
                actor=actor,
                kind="case",
                customer_id=case.customer_id,
                subject=f"case {case.id} ({case.playbook}): {event['kind']}",
                old=event["from_state"],
                new={"state": event["to_state"], **detail},
                reason=change.note,
                at=now,
            )
    delivery_ids: list[int] = []
    if work.resolved and playbooks is not None:
        delivery_ids = notify_resolved(session, case, playbooks, now=now)
    session.flush()
    return Changed(_detail(session, case), changed=changed, delivery_ids=delivery_ids)


@dataclass
class _Work:
    session: Session
    case: case_models.OutreachEntry
    actor: str
    now: datetime
    note: str
    key: str | None
    events: list[dict[str, object]] = field(default_factory=list)
    resolved: bool = False

    def record(self, kind: str, to_state: str, detail: dict[str, object] | None = None) -> None:
        c = self.case
        row = event_row(
            c.id,
            c.customer_id,
            kind,
            c.status,
            to_state,
            at=self.now,
            note=self.note,
            detail=dict(detail or {}),
            actor=self.actor,
        )
        row["request_key"] = self.key
        self.events.append(row)
        c.status = to_state


def _apply(w: _Work, t: Transition) -> bool:
    """Change ``w.case`` as ``t`` asks; False when it already was so."""
    c = w.case
    if t.action == "assign":
        if c.owner == t.owner:
            return False
        w.record("assigned", c.status, {"owner": [c.owner, t.owner]})
        c.owner = t.owner
        return True
    if t.action == "reopen":
        if c.status == "open":
            return False
        if c.status == "resolved":
            other = case_repository.other_unresolved(w.session, c)
            if other is not None:
                raise InvalidTransition(
                    f"case {c.id} cannot be reopened: account {c.customer_id} already has "
                    f"unresolved case {other} of playbook {c.playbook}"
                )
        w.record("reopened", "open")
        c.snoozed_until = c.resolved_at = c.resolution = None
        return True
    if c.status == "resolved":
        if t.action == "resolve":
            return False
        verb = "acknowledging" if t.action == "acknowledge" else "snoozing"
        raise InvalidTransition(f"case {c.id} is resolved: reopen it before {verb}")
    if t.action == "acknowledge":
        if c.status == "acknowledged":
            return False
        w.record("acknowledged", "acknowledged")
        c.snoozed_until = None
        return True
    if t.action == "snooze":
        assert t.until is not None
        if c.status == "snoozed" and c.snoozed_until == t.until:
            return False
        previous = c.snoozed_until.isoformat() if c.snoozed_until else None
        w.record("snoozed", "snoozed", {"until": t.until.isoformat(), "previousUntil": previous})
        c.snoozed_until = t.until
        return True
    w.record("resolved", "resolved", {"resolution": t.resolution})
    c.resolved_at, c.resolution, c.snoozed_until = w.now, t.resolution, None
    w.resolved = True
    return True


def notify_resolved(
    session: Session, case: case_models.OutreachEntry, playbooks: PlaybookSet, *, now: datetime
) -> list[int]:
    """Queue the resolve messages of a case resolved by a person (its playbook's actions,
    if the playbook is still in force)."""
    playbook = playbooks.named(case.playbook)
    if playbook is None or not playbook.notifies:
        return []
    last = (case.evidence or [{}])[-1] if case.evidence else dict(case.snapshot or {})
    name = repository.customer_names(session, [case.customer_id]).get(case.customer_id, "")
    facts = CaseFacts(
        case_id=case.id,
        customer_id=case.customer_id,
        name=name or case.customer_id,
        playbook=case.playbook,
        severity=case.severity,
        state=case.status,
        score=last.get("score"),
        tier=last.get("tier"),
        trend=last.get("trend"),
        reason=case.reason,
        resolution=case.resolution,
    )
    key = f"{case.idempotency_key}:resolved:{now.isoformat()}"
    return queue_deliveries(session, [notice(playbook, "resolved", facts, key=key, as_of=now)])
