"""The playbook rules in force, and a dry run of them."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Literal

from fastapi import APIRouter
from pydantic import Field

from healthscore.api.dependencies import ActivePlaybooks, JobQueue
from healthscore.api.schemas import ApiModel
from healthscore.api.security import AdminKey, ReadKey

router = APIRouter(prefix="/api/v1", tags=["playbooks"])


class PlaybookOut(ApiModel):
    name: str
    description: str
    match: str
    when: list[dict[str, Any]]
    cooldown_days: int
    severity: str
    escalate: dict[str, Any] | None
    auto_resolve_days: int | None
    min_confidence: float
    actions: list[dict[str, Any]]


class PlaybookFiring(ApiModel):
    playbook: str
    customer_id: str
    name: str
    score: int
    tier: str
    reason: str
    outcome: Literal["open", "update", "escalate", "reopen", "nothing"] = Field(
        description="what a real run would do: open a case, update or escalate the "
        "account's unresolved case, reopen its resolved case (back within cooldown_days "
        "of the resolution), or nothing (persisting since the case was resolved)"
    )
    case_id: int | None = Field(description="the existing case it concerns, if any")
    in_cooldown: bool = Field(description="true when the firing would open no case")


class DryRun(ApiModel):
    as_of: datetime
    firings: list[PlaybookFiring]
    would_log: int = Field(description="cases that would open")
    outcomes: dict[str, int] = Field(
        description="steps per outcome: open, update, escalate, reopen, nothing, and for accounts "
        "whose playbook no longer fires: clear, resolve (condition clear long enough), "
        "wake (snooze over)"
    )


@router.get("/playbooks", operation_id="listPlaybooks", response_model=list[PlaybookOut])
def list_playbooks(_key: ReadKey, rules: ActivePlaybooks) -> list[PlaybookOut]:
    return [
        PlaybookOut(
            name=p.name,
            description=p.description,
            match=p.match,
            when=[c.model_dump(by_alias=True, exclude_none=True) for c in p.when],
            cooldown_days=p.cooldown_days,
            severity=p.severity,
            escalate=p.escalate.model_dump() if p.escalate else None,
            auto_resolve_days=p.auto_resolve_days,
            min_confidence=rules.min_confidence_of(p),
            actions=[a.model_dump(exclude_none=True) for a in p.actions],
        )
        for p in rules.playbooks
    ]


@router.post("/playbooks/dry-run", operation_id="testPlaybooks", response_model=DryRun)
def test_playbooks(_key: AdminKey, jobs: JobQueue) -> DryRun:
    """Score every account now and show which playbooks would fire and what each firing
    would do to the account's case; nothing is written."""
    result = jobs.rescoring.dry_run(as_of=datetime.now(UTC))
    return DryRun(
        as_of=result.as_of,
        firings=[
            PlaybookFiring(
                playbook=f.playbook.name,
                customer_id=f.state.customer_id,
                name=f.state.name,
                score=f.state.score,
                tier=f.state.tier,
                reason=f.reason,
                outcome=result.outcome(f).value,
                case_id=result.case_id(f),
                in_cooldown=not result.logs(f),
            )
            for f in result.firings
        ],
        would_log=result.logged,
        outcomes=result.counts,
    )
