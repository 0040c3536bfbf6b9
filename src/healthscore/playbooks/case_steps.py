"""Writing what a run decided (``case_rules.Step``): new cases, case changes, their
events and the messages to send. Flushes, never commits."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from healthscore.playbooks import case_repository
from healthscore.playbooks.case_rules import Outcome, Step, appended, evidence_entry
from healthscore.playbooks.outbox import CaseFacts, Notice, notice
from healthscore.playbooks.rules import AccountState
from healthscore.storage import case_models

SYSTEM = "system"
"""The actor of every change the rules make."""


@dataclass
class Applied:
    steps: list[Step]
    """The steps as written: an open that another transaction beat is ``nothing``."""
    opened: list[case_models.OutreachEntry] = field(default_factory=list)
    notices: list[Notice] = field(default_factory=list)


def snapshot(state: AccountState) -> dict[str, Any]:
    """The account as the case opened."""
    return {
        "score": state.score,
        "tier": state.tier,
        "trend": state.trend,
        "previous_tier": state.previous_tier,
        "stage": state.stage,
        "confidence": state.confidence,
        "signals": {k: round(v, 4) for k, v in state.signal_values.items()},
        "days_since_login": round(state.days_since_login, 1)
        if state.days_since_login is not None
        else None,
    }


def case_key(step: Step, as_of: datetime) -> str:
    """A new case's idempotency key: the first case of a playbook for an account is keyed
    by its day; a later one by the case it follows, so two transactions deciding to open
    the same case insert it once."""
    s = step.state
    if step.case is None:
        return f"{step.playbook.name}:{s.customer_id}:{as_of.date()}"
    return f"{step.playbook.name}:{s.customer_id}:after:{step.case.id}"


def event_row(
    case_id: int,
    customer_id: str,
    kind: str,
    from_state: str | None,
    to_state: str,
    *,
    at: datetime,
    note: str = "",
    detail: dict[str, Any] | None = None,
    actor: str = SYSTEM,
) -> dict[str, Any]:
    return {
        "case_id": case_id,
        "customer_id": customer_id,
        "kind": kind,
        "actor": actor,
        "at": at,
        "from_state": from_state,
        "to_state": to_state,
        "note": note,
        "detail": detail or {},
        "request_key": None,
    }


def facts(case: case_models.OutreachEntry, state: AccountState, reason: str) -> CaseFacts:
    return CaseFacts(
        case_id=case.id,
        customer_id=case.customer_id,
        name=state.name,
        playbook=case.playbook,
        severity=case.severity,
        state=case.status,
        score=state.score,
        tier=state.tier,
        trend=state.trend,
        reason=reason,
        resolution=case.resolution,
    )


def _new_case(step: Step, key: str, *, as_of: datetime, now: datetime) -> dict[str, Any]:
    firing = step.firing
    assert firing is not None
    outreach = step.playbook.outreach()
    return {
        "customer_id": step.state.customer_id,
        "playbook": step.playbook.name,
        "reason": firing.reason,
        "snapshot": snapshot(step.state),
        "owner": outreach.owner if outreach else None,
        "next_step": outreach.next_step if outreach else "",
        "status": "open",
        "notes": "",
        "idempotency_key": key,
        "created_at": as_of,
        "updated_at": now,
        "severity": step.severity or step.playbook.severity,
        "evidence": [evidence_entry(step.state, firing.reason, as_of)],
        "last_seen_at": as_of,
        "cleared_at": None,
        "snoozed_until": None,
        "resolved_at": None,
        "resolution": None,
        "previous_id": step.case.id if step.case else None,
    }


def apply_steps(
    session: Session,
    steps: list[Step],
    cases: dict[int, case_models.OutreachEntry],
    *,
    as_of: datetime,
    now: datetime,
) -> Applied:
    """Write ``steps`` (``cases`` holds the loaded cases they change)."""
    opens = [(s, case_key(s, as_of)) for s in steps if s.outcome is Outcome.open]
    rows = [_new_case(s, key, as_of=as_of, now=now) for s, key in opens]
    ids = case_repository.insert_cases(session, rows)
    lost = {key for _, key in opens if key not in ids}
    applied = Applied(
        [
            replace(s, outcome=Outcome.nothing, why="opened by another run")
            if s.outcome is Outcome.open and case_key(s, as_of) in lost
            else s
            for s in steps
        ]
    )
    events: list[dict[str, Any]] = []
    by_id = {c.id: c for c in case_repository.cases_by_id(session, list(ids.values()))}
    for step, key in opens:
        if key in lost:
            continue
        case = by_id[ids[key]]
        applied.opened.append(case)
        detail: dict[str, Any] = {"severity": case.severity}
        if case.previous_id is not None:
            detail["previousId"] = case.previous_id
        events.append(
            event_row(
                case.id,
                case.customer_id,
                "opened",
                None,
                "open",
                at=as_of,
                note=case.reason,
                detail=detail,
            )
        )
        applied.notices.append(
            notice(
                step.playbook, "opened", facts(case, step.state, case.reason), key=key, as_of=as_of
            )
        )
    for step in applied.steps:
        if step.case is None or step.outcome is Outcome.open:
            continue
        _change(step, cases[step.case.id], applied, events, as_of=as_of, now=now)
    case_repository.add_events(session, events)
    session.flush()
    return applied


def _change(
    step: Step,
    case: case_models.OutreachEntry,
    applied: Applied,
    events: list[dict[str, Any]],
    *,
    as_of: datetime,
    now: datetime,
) -> None:
    """One existing case's change in this run."""
    reason = step.firing.reason if step.firing else ""
    if step.seen:
        case.last_seen_at = as_of
    if step.clears:
        case.cleared_at = as_of
    if step.outcome in (Outcome.update, Outcome.escalate, Outcome.reopen):
        case.evidence = appended(
            list(case.evidence or []), evidence_entry(step.state, reason, as_of)
        )
        case.updated_at = now
    if step.wakes:
        why = "escalated while snoozed" if step.outcome is Outcome.escalate else "snooze ended"
        events.append(
            event_row(case.id, case.customer_id, "woke", "snoozed", "open", at=as_of, note=why)
        )
        case.status, case.snoozed_until, case.updated_at = "open", None, now
    if step.outcome is Outcome.escalate and step.severity:
        before = case.severity
        case.severity = step.severity
        events.append(
            event_row(
                case.id,
                case.customer_id,
                "escalated",
                case.status,
                case.status,
                at=as_of,
                note=reason,
                detail={
                    "severity": [before, step.severity],
                    "score": step.state.score,
                    "tier": step.state.tier,
                },
            )
        )
        applied.notices.append(
            notice(
                step.playbook,
                "escalated",
                facts(case, step.state, reason),
                key=f"{case.idempotency_key}:escalated:{step.severity}",
                as_of=as_of,
            )
        )
    if step.outcome is Outcome.reopen:
        before = case.status
        case.status, case.resolution, case.resolved_at = "open", None, None
        events.append(
            event_row(
                case.id,
                case.customer_id,
                "reopened",
                before,
                "open",
                at=as_of,
                note=f"{reason} ({step.why})",
            )
        )
        applied.notices.append(
            notice(
                step.playbook,
                "opened",
                facts(case, step.state, reason),
                key=f"{case.idempotency_key}:reopened:{as_of.isoformat()}",
                as_of=as_of,
                reopened=True,
            )
        )
    if step.outcome is Outcome.resolve:
        before = case.status
        since = case.cleared_at or as_of
        note = f"condition clear since {since:%Y-%m-%d %H:%M} UTC"
        case.status, case.resolution, case.resolved_at = "resolved", "cleared", as_of
        case.snoozed_until, case.updated_at = None, now
        events.append(
            event_row(
                case.id,
                case.customer_id,
                "resolved",
                before,
                "resolved",
                at=as_of,
                note=note,
                detail={"resolution": "cleared"},
            )
        )
        applied.notices.append(
            notice(
                step.playbook,
                "resolved",
                facts(case, step.state, note),
                key=f"{case.idempotency_key}:resolved:{as_of.isoformat()}",
                as_of=as_of,
            )
        )
