"""The automatic life of a case: what a scoring run does to it. Pure: no SQL.

After each scoring run every playbook has judged every scored account
(``rules.Judgement``); with the account's latest case of that playbook, ``decide`` says
what happens:

* fires, no case yet → **open** a case (a message goes out);
* fires, case unresolved → **update** it (evidence appended, ``last_seen_at`` moved), or
  **escalate** it when things got worse since it opened (a message goes out) — never a
  new case;
* fires, case resolved → **nothing** while the condition has not **cleared** since the
  case last saw it (a run in which it did not fire); once it has cleared and comes back,
  the case is **reopened** if this is within ``cooldown_days`` of its resolution (the
  resolution did not hold), else a new case is **opened**, linked to the old one (a
  message goes out either way);
* does not fire → the first such run is recorded (``cleared_at``); an unresolved case
  whose condition has been clear ``auto_resolve_days`` is **resolved** by the system (a
  message goes out). A "does not fire" that only comes from a score too uncertain to
  judge (``Judgement.certain``) clears nothing.

A snoozed case whose date has passed wakes up (back to open) at the next run that scores
its account; one that escalates wakes up at once.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from healthscore.playbooks.rules import SEVERITIES, AccountState, Firing, Judgement, Playbook

STATES = ("open", "acknowledged", "snoozed", "resolved")
UNRESOLVED = ("open", "acknowledged", "snoozed")
LEGACY_STATUSES: dict[str, tuple[str, str | None]] = {
    "in_progress": ("acknowledged", None),
    "done": ("resolved", "done"),
    "dismissed": ("resolved", "dismissed"),
}
"""The outreach log's statuses before cases, accepted on input: state and resolution."""
RESOLUTIONS = ("done", "dismissed", "cleared", "merged")
"""Why a case was resolved: handled, not an issue, its condition cleared (the system),
or merged into a newer case (migration 0012)."""
SEVERITY_RANK: dict[str, int] = {s: i for i, s in enumerate(SEVERITIES)}
TIER_RANK = {"healthy": 0, "monitor": 1, "at_risk": 2, "critical": 3}
EVIDENCE_KEPT = 100
"""Evidence entries kept per case: the opening one and the newest 99."""


class Outcome(StrEnum):
    open = "open"
    update = "update"
    escalate = "escalate"
    nothing = "nothing"
    """Fires, but changes no case: persisting since its case was resolved."""
    reopen = "reopen"
    """Back (after clearing) within ``cooldown_days`` of the case's resolution."""
    clear = "clear"
    resolve = "resolve"
    wake = "wake"


NOTIFIED = frozenset({Outcome.open, Outcome.reopen, Outcome.escalate, Outcome.resolve})
"""The outcomes that send the playbook's webhook, Slack and Redis messages."""


@dataclass(frozen=True)
class CaseView:
    """What the rules need to know of an account's latest case of a playbook."""

    id: int
    key: str
    state: str
    severity: str
    opened_score: int | None
    opened_tier: str | None
    last_seen_at: datetime | None
    cleared_at: datetime | None
    snoozed_until: datetime | None
    resolved_at: datetime | None

    @property
    def unresolved(self) -> bool:
        return self.state != "resolved"

    @property
    def clear_since_seen(self) -> bool:
        """A run without a firing came after the case's last firing."""
        if self.cleared_at is None:
            return False
        return self.last_seen_at is None or self.cleared_at > self.last_seen_at


@dataclass(frozen=True)
class Step:
    """What one run does for one account and playbook."""

    judgement: Judgement
    outcome: Outcome
    case: CaseView | None
    severity: str | None = None
    """The case's severity after the step (open, escalate)."""
    wakes: bool = False
    """A snoozed case goes back to open."""
    clears: bool = False
    """The first run without a firing since the case last saw one: record it."""
    seen: bool = False
    """The condition still holds: move the case's ``last_seen_at``."""
    why: str = ""

    @property
    def playbook(self) -> Playbook:
        return self.judgement.playbook

    @property
    def state(self) -> AccountState:
        return self.judgement.state

    @property
    def firing(self) -> Firing | None:
        j = self.judgement
        return Firing(j.playbook, j.state, j.reasons) if j.reasons is not None else None

    @property
    def notifies(self) -> bool:
        return self.outcome in NOTIFIED


def escalated_severity(judgement: Judgement, case: CaseView) -> str:
    """The case's severity after this firing: one step per ``score_drop`` points below the
    score it opened at or per tier worse than it opened in, never lower than it is."""
    playbook, state = judgement.playbook, judgement.state
    current = SEVERITY_RANK.get(case.severity, 0)
    rule = playbook.escalate
    if rule is None or not judgement.confident:
        return SEVERITIES[current]
    steps = 0
    if rule.score_drop and case.opened_score is not None:
        steps = max(steps, (case.opened_score - state.score) // rule.score_drop)
    if rule.tier_worsened and case.opened_tier in TIER_RANK and state.tier in TIER_RANK:
        steps = max(steps, TIER_RANK[state.tier] - TIER_RANK[case.opened_tier])
    target = min(len(SEVERITIES) - 1, SEVERITY_RANK[playbook.severity] + steps)
    return SEVERITIES[max(current, target)]


def decide(judgement: Judgement, case: CaseView | None, *, as_of: datetime) -> Step | None:
    """What this run does for one judgement; None when nothing at all happens."""
    playbook = judgement.playbook
    snooze_over = (
        case is not None
        and case.state == "snoozed"
        and case.snoozed_until is not None
        and case.snoozed_until <= as_of
    )
    if judgement.fires:
        if case is None:
            return Step(judgement, Outcome.open, None, severity=playbook.severity)
        if case.unresolved:
            severity = escalated_severity(judgement, case)
            if severity != case.severity:
                woke = case.state == "snoozed"
                return Step(
                    judgement, Outcome.escalate, case, severity=severity, wakes=woke, seen=True
                )
            return Step(judgement, Outcome.update, case, wakes=snooze_over, seen=True)
        if not case.clear_since_seen:
            why = f"persisting since case {case.id} was resolved"
            return Step(judgement, Outcome.nothing, case, seen=True, why=why)
        cooldown = timedelta(days=playbook.cooldown_days)
        if case.resolved_at is not None and as_of < case.resolved_at + cooldown:
            why = f"back within {playbook.cooldown_days} days of the resolution"
            return Step(judgement, Outcome.reopen, case, seen=True, why=why)
        return Step(judgement, Outcome.open, case, severity=playbook.severity)
    if case is None:
        return None
    clears = judgement.certain and not case.clear_since_seen
    clear_since = as_of if clears else (case.cleared_at if case.clear_since_seen else None)
    days = playbook.auto_resolve_days
    if (
        case.unresolved
        and days is not None
        and clear_since is not None
        and as_of - clear_since >= timedelta(days=days)
    ):
        return Step(judgement, Outcome.resolve, case, clears=clears, why=f"clear {days}+ days")
    if clears:
        return Step(judgement, Outcome.clear, case, clears=True, wakes=snooze_over)
    if snooze_over:
        return Step(judgement, Outcome.wake, case, wakes=True)
    return None


def evidence_entry(state: AccountState, reason: str, as_of: datetime) -> dict[str, Any]:
    return {
        "asOf": as_of.isoformat(),
        "score": state.score,
        "tier": state.tier,
        "trend": state.trend,
        "reason": reason,
    }


def appended(evidence: list[Any], entry: dict[str, Any]) -> list[Any]:
    """``evidence`` with ``entry`` at the end (once per moment), the opening entry and the
    newest ones kept."""
    if evidence and evidence[-1].get("asOf") == entry["asOf"]:
        return evidence
    grown = [*evidence, entry]
    if len(grown) > EVIDENCE_KEPT:
        grown = [grown[0], *grown[-(EVIDENCE_KEPT - 1) :]]
    return grown
