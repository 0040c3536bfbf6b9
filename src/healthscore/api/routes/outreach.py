"""Seed 001's outreach log."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, cast

from fastapi import APIRouter, Path, Query
from pydantic import Field

from healthscore.api.dependencies import DbSession, PageParams
from healthscore.api.errors import ApiError, ErrorResponse
from healthscore.api.schemas import InputModel, OutreachEntryOut, Page
from healthscore.api.security import IngestKey, ReadKey
from healthscore.playbooks import outreach
from healthscore.playbooks.outreach import Status
from healthscore.storage import models as m

router = APIRouter(prefix="/api/v1", tags=["outreach"])


class OutreachUpdate(InputModel):
    """The limits are the outreach log's own, so the schema documents what it enforces."""

    status: Status | None = None
    owner: Annotated[str, Field(max_length=outreach.MAX_OWNER)] | None = None
    notes: Annotated[str, Field(max_length=outreach.MAX_NOTES)] | None = None


def entry_out(r: m.OutreachEntry) -> OutreachEntryOut:
    return OutreachEntryOut.model_validate(r, from_attributes=True)


@router.get("/outreach", operation_id="listOutreachLog", response_model=Page[OutreachEntryOut])
def list_outreach_log(
    _key: ReadKey,
    session: DbSession,
    paging: PageParams,
    customer_id: Annotated[str | None, Query(alias="customerId", max_length=64)] = None,
    status: Status | None = None,
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
        items=[entry_out(r) for r in rows],
        total=total,
        page=paging.page,
        page_size=paging.page_size,
    )


@router.patch(
    "/outreach/{entry_id}",
    operation_id="updateOutreachEntry",
    response_model=OutreachEntryOut,
    responses={404: {"model": ErrorResponse}},
)
def update_outreach_entry(
    entry_id: Annotated[int, Path(ge=1, le=2**63 - 1)],
    body: OutreachUpdate,
    _key: IngestKey,
    session: DbSession,
) -> OutreachEntryOut:
    """Move an entry through open → in_progress → done/dismissed; set owner and notes."""
    fields = body.model_dump(exclude_unset=True, exclude_none=True)
    changes = cast(outreach.OutreachChanges, fields)
    try:
        with session.begin():
            out = entry_out(outreach.update_entry(session, entry_id, changes))
    except outreach.EntryNotFound as error:
        raise ApiError(404, str(error)) from error
    except outreach.InvalidChange as error:
        raise ApiError(422, str(error)) from error
    return out
