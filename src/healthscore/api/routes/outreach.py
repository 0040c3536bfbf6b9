"""Seed 001's outreach log."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Query

from healthscore.api.dependencies import DbSession, PageParams
from healthscore.api.schemas import OutreachEntryOut, Page
from healthscore.api.security import ReadKey
from healthscore.playbooks import outreach

router = APIRouter(prefix="/api/v1", tags=["outreach"])


@router.get("/outreach", operation_id="listOutreachLog", response_model=Page[OutreachEntryOut])
def list_outreach_log(
    _key: ReadKey,
    session: DbSession,
    paging: PageParams,
    customer_id: Annotated[str | None, Query(alias="customerId", max_length=64)] = None,
    status: Literal["open", "in_progress", "done", "dismissed"] | None = None,
    playbook: Annotated[str | None, Query(max_length=128)] = None,
    since: datetime | None = None,
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
        items=[
            OutreachEntryOut(
                id=r.id,
                customer_id=r.customer_id,
                playbook=r.playbook,
                reason=r.reason,
                snapshot=r.snapshot,
                owner=r.owner,
                next_step=r.next_step,
                status=r.status,
                notes=r.notes,
                created_at=r.created_at,
                updated_at=r.updated_at,
            )
            for r in rows
        ],
        total=total,
        page=paging.page,
        page_size=paging.page_size,
    )
