"""Seed 001's outreach log: the cases, in the log's words (``playbooks.outreach``).

``status`` filters and updates accept the case states and, as aliases, the log's old
statuses (``in_progress`` = acknowledged; ``done``/``dismissed`` = resolved with that
resolution). The case operations are in ``routes/cases.py``."""

from __future__ import annotations

from typing import Annotated, Literal, cast

from fastapi import APIRouter, Path, Query
from pydantic import Field

from healthscore.api.dependencies import DbSession, JobQueue, PageParams
from healthscore.api.errors import ErrorResponse
from healthscore.api.schemas import InputModel, OutreachEntryOut, Page
from healthscore.api.security import IngestKey, ReadKey
from healthscore.jsontypes import URL_INT, Instant
from healthscore.playbooks import outreach
from healthscore.playbooks.outreach import Status
from healthscore.storage import case_models

FilterStatus = Literal[
    "open", "acknowledged", "snoozed", "resolved", "in_progress", "done", "dismissed"
]

router = APIRouter(prefix="/api/v1", tags=["outreach"])


class OutreachUpdate(InputModel):
    """The limits are the outreach log's own, so the schema documents what it enforces."""

    status: Status | None = None
    owner: Annotated[str, Field(max_length=outreach.MAX_OWNER)] | None = None
    notes: Annotated[str, Field(max_length=outreach.MAX_NOTES)] | None = None


def entry_out(r: case_models.OutreachEntry) -> OutreachEntryOut:
    return OutreachEntryOut.model_validate(r, from_attributes=True)


@router.get("/outreach", operation_id="listOutreachLog", response_model=Page[OutreachEntryOut])
def list_outreach_log(
    _key: ReadKey,
    session: DbSession,
    paging: PageParams,
    customer_id: Annotated[str | None, Query(alias="customerId", max_length=64)] = None,
    status: FilterStatus | None = None,
    playbook: Annotated[str | None, Query(max_length=128)] = None,
    since: Annotated[Instant | None, Query(description="from this moment on (RFC 3339)")] = None,
) -> Page[OutreachEntryOut]:
    """Proactive outreach actions, newest first."""
    rows, total = outreach.list_entries(
        session,
        outreach.OutreachFilter(
            customer_id=customer_id, status=status, playbook=playbook, since=since
        ),
        offset=paging.offset,
        limit=paging.page_size,
    )
    return Page(
        items=[entry_out(r) for r in rows],
        total=total,
        page=paging.page,
        page_size=paging.page_size,
    )


@router.patch(
    "/outreach/{entry_id}",
    operation_id="updateOutreachEntry",
    response_model=OutreachEntryOut,
    responses={
        404: {"model": ErrorResponse},
        409: {"model": ErrorResponse, "description": "the case cannot move to that status"},
    },
)
def update_outreach_entry(
    entry_id: Annotated[int, Path(ge=1, le=2**63 - 1), URL_INT],
    body: OutreachUpdate,
    key: IngestKey,
    session: DbSession,
    jobs: JobQueue,
) -> OutreachEntryOut:
    """Set status (open, acknowledged, resolved; old statuses in_progress, done, dismissed
    are aliases), owner and notes. Each change is recorded as a case event."""
    fields = body.model_dump(exclude_unset=True, exclude_none=True)
    changes = cast(outreach.OutreachChanges, fields)
    with session.begin():
        done = outreach.update_entry(
            session,
            entry_id,
            changes,
            actor=f"api:{key.name or key.prefix}",
            playbooks=jobs.playbooks,
        )
        out = entry_out(done.detail.case)
    jobs.enqueue_deliveries(done.delivery_ids)
    return out
