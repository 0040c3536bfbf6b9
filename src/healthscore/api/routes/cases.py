"""Cases: what the playbooks opened, and people's transitions of them (``playbooks.cases``).

Reads need a read key, transitions an admin key. A transition repeated once it holds is a
no-op answered with the case as it is (200); a transition the case's state refuses is a
409; bad input a 422, with nothing changed. An ``Idempotency-Key`` makes a retried
request a no-op even if the case moved on in between.
"""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query
from pydantic import Field

from healthscore.api.dependencies import DbSession, IdempotencyKey, JobQueue, PageParams
from healthscore.api.errors import ErrorResponse
from healthscore.api.schemas import ApiModel, InputModel, Page
from healthscore.api.security import AdminKey, ReadKey
from healthscore.auth.keys import KeyInfo
from healthscore.jsontypes import URL_INT, Day, Instant
from healthscore.playbooks import cases
from healthscore.playbooks.case_repository import CaseFilter
from healthscore.storage import case_models

router = APIRouter(prefix="/api/v1", tags=["cases"])

State = Literal["open", "acknowledged", "snoozed", "resolved"]
Severity = Literal["normal", "high", "urgent"]
Sort = Literal["newest", "oldest", "severity", "last_seen"]
CaseIdPath = Annotated[int, Path(ge=1, le=2**63 - 1), URL_INT]
CHANGE_ERRORS: dict[int | str, dict[str, Any]] = {
    404: {"model": ErrorResponse, "description": "no such case"},
    409: {"model": ErrorResponse, "description": "the case's state does not allow it"},
    422: {"model": ErrorResponse, "description": "bad input; nothing changed"},
}


class CaseEventOut(ApiModel):
    id: int
    kind: str
    actor: str
    at: datetime
    from_state: str | None
    to_state: str
    note: str
    detail: dict[str, Any]


class CaseOut(ApiModel):
    id: int
    customer_id: str
    customer_name: str
    playbook: str
    state: str
    severity: str
    owner: str | None
    reason: str
    next_step: str
    notes: str
    resolution: str | None
    snapshot: dict[str, Any]
    evidence: list[dict[str, Any]]
    opened_at: datetime
    last_seen_at: datetime | None
    cleared_at: datetime | None
    snoozed_until: datetime | None
    resolved_at: datetime | None
    updated_at: datetime
    previous_case_id: int | None
    age_days: float


class CaseDetailOut(CaseOut):
    events: list[CaseEventOut]


class NoteIn(InputModel):
    note: Annotated[str, Field(max_length=cases.MAX_NOTE)] = ""


class SnoozeIn(NoteIn):
    until: Annotated[
        Instant | Day,
        Field(
            description="a moment, or a day (its midnight UTC): in the future and within "
            f"{cases.MAX_SNOOZE_DAYS} days (422 otherwise)"
        ),
    ]


class ResolveIn(NoteIn):
    resolution: cases.ManualResolution = "done"


class AssignIn(NoteIn):
    owner: Annotated[str, Field(max_length=cases.MAX_OWNER)] | None


def case_out(case: case_models.OutreachEntry, name: str, *, now: datetime) -> CaseOut:
    return CaseOut(**_fields(case, name, now=now))


def _fields(case: case_models.OutreachEntry, name: str, *, now: datetime) -> dict[str, Any]:
    return {
        "id": case.id,
        "customer_id": case.customer_id,
        "customer_name": name,
        "playbook": case.playbook,
        "state": case.status,
        "severity": case.severity,
        "owner": case.owner,
        "reason": case.reason,
        "next_step": case.next_step,
        "notes": case.notes,
        "resolution": case.resolution,
        "snapshot": case.snapshot or {},
        "evidence": list(case.evidence or []),
        "opened_at": case.created_at,
        "last_seen_at": case.last_seen_at,
        "cleared_at": case.cleared_at,
        "snoozed_until": case.snoozed_until,
        "resolved_at": case.resolved_at,
        "updated_at": case.updated_at,
        "previous_case_id": case.previous_id,
        "age_days": round(max(0.0, (now - case.created_at).total_seconds() / 86400), 2),
    }


def detail_out(detail: cases.CaseDetail) -> CaseDetailOut:
    events = [CaseEventOut.model_validate(e, from_attributes=True) for e in detail.events]
    fields = _fields(detail.case, detail.name, now=datetime.now(UTC))
    return CaseDetailOut(**fields, events=events)


def actor(key: KeyInfo) -> str:
    return f"api:{key.name or key.prefix}"


@router.get("/cases", operation_id="listCases", response_model=Page[CaseOut])
def list_cases(
    _key: ReadKey,
    session: DbSession,
    paging: PageParams,
    state: Annotated[list[State] | None, Query(max_length=4)] = None,
    owner: Annotated[str | None, Query(max_length=255)] = None,
    playbook: Annotated[str | None, Query(max_length=128)] = None,
    customer_id: Annotated[str | None, Query(alias="customerId", max_length=64)] = None,
    severity: Severity | None = None,
    older_than_days: Annotated[
        int | None, Query(alias="olderThanDays", ge=0, le=3650), URL_INT
    ] = None,
    sort: Sort = "newest",
) -> Page[CaseOut]:
    """Cases, filtered by state (repeatable), owner, playbook, account, severity and age
    (opened more than ``olderThanDays`` days ago)."""
    now = datetime.now(UTC)
    found = cases.list_cases(
        session,
        CaseFilter(
            states=tuple(state or ()),
            owner=owner,
            playbook=playbook,
            customer_id=customer_id,
            severity=severity,
            opened_before=now - timedelta(days=older_than_days) if older_than_days else None,
        ),
        sort=sort,
        offset=paging.offset,
        limit=paging.page_size,
    )
    return Page(
        items=[
            case_out(c, found.names.get(c.customer_id, c.customer_id), now=now) for c in found.cases
        ],
        total=found.total,
        page=paging.page,
        page_size=paging.page_size,
    )


@router.get(
    "/cases/{case_id}",
    operation_id="getCase",
    response_model=CaseDetailOut,
    responses={404: {"model": ErrorResponse}},
)
def get_case(case_id: CaseIdPath, _key: ReadKey, session: DbSession) -> CaseDetailOut:
    """One case with its events (who changed what, when, and why), oldest first."""
    return detail_out(cases.get_case(session, case_id))


def _transition(
    session: DbSession,
    jobs: JobQueue,
    case_id: int,
    change: cases.Transition,
    key: KeyInfo,
    request_key: str | None,
) -> CaseDetailOut:
    with session.begin():
        done = cases.transition(
            session,
            case_id,
            change,
            actor=actor(key),
            playbooks=jobs.playbooks,
            request_key=request_key,
        )
        out = detail_out(done.detail)
    jobs.enqueue_deliveries(done.delivery_ids)
    return out


@router.post(
    "/cases/{case_id}/acknowledge",
    operation_id="acknowledgeCase",
    response_model=CaseDetailOut,
    responses=CHANGE_ERRORS,
)
def acknowledge_case(
    case_id: CaseIdPath,
    key: AdminKey,
    session: DbSession,
    jobs: JobQueue,
    request_key: IdempotencyKey,
    body: NoteIn | None = None,
) -> CaseDetailOut:
    """open or snoozed → acknowledged (someone is on it)."""
    change = cases.Transition("acknowledge", note=body.note if body else "")
    return _transition(session, jobs, case_id, change, key, request_key)


@router.post(
    "/cases/{case_id}/snooze",
    operation_id="snoozeCase",
    response_model=CaseDetailOut,
    responses=CHANGE_ERRORS,
)
def snooze_case(
    case_id: CaseIdPath,
    body: SnoozeIn,
    key: AdminKey,
    session: DbSession,
    jobs: JobQueue,
    request_key: IdempotencyKey,
) -> CaseDetailOut:
    """open or acknowledged → snoozed until a date; back to open at the first rescore
    after it (or at once if the case escalates)."""
    until = body.until
    if not isinstance(until, datetime):
        until = datetime.combine(until, time(), tzinfo=UTC)
    change = cases.Transition("snooze", note=body.note, until=until)
    return _transition(session, jobs, case_id, change, key, request_key)


@router.post(
    "/cases/{case_id}/resolve",
    operation_id="resolveCase",
    response_model=CaseDetailOut,
    responses=CHANGE_ERRORS,
)
def resolve_case(
    case_id: CaseIdPath,
    key: AdminKey,
    session: DbSession,
    jobs: JobQueue,
    request_key: IdempotencyKey,
    body: ResolveIn | None = None,
) -> CaseDetailOut:
    """→ resolved (``done``, or ``dismissed``: not an issue); the playbook's messages go out."""
    body = body or ResolveIn()
    change = cases.Transition("resolve", note=body.note, resolution=body.resolution)
    return _transition(session, jobs, case_id, change, key, request_key)


@router.post(
    "/cases/{case_id}/reopen",
    operation_id="reopenCase",
    response_model=CaseDetailOut,
    responses=CHANGE_ERRORS,
)
def reopen_case(
    case_id: CaseIdPath,
    key: AdminKey,
    session: DbSession,
    jobs: JobQueue,
    request_key: IdempotencyKey,
    body: NoteIn | None = None,
) -> CaseDetailOut:
    """acknowledged, snoozed or resolved → open (409 if the account already has another
    unresolved case of the playbook)."""
    change = cases.Transition("reopen", note=body.note if body else "")
    return _transition(session, jobs, case_id, change, key, request_key)


@router.post(
    "/cases/{case_id}/assign",
    operation_id="assignCase",
    response_model=CaseDetailOut,
    responses=CHANGE_ERRORS,
)
def assign_case(
    case_id: CaseIdPath,
    body: AssignIn,
    key: AdminKey,
    session: DbSession,
    jobs: JobQueue,
    request_key: IdempotencyKey,
) -> CaseDetailOut:
    """Set the owner (``null`` unassigns), in any state."""
    change = cases.Transition("assign", note=body.note, owner=body.owner)
    return _transition(session, jobs, case_id, change, key, request_key)
