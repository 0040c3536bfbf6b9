"""The outreach log page and the form that edits one entry."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import Response
from sqlalchemy.orm import Session

from healthscore.dashboard.pages import (
    FormFields,
    editor,
    error,
    page,
    parse_page,
    redirect,
    root,
    safe_next,
)
from healthscore.playbooks import outreach

router = APIRouter(include_in_schema=False)

OUTREACH_PAGE = 20


def _outreach(request: Request, session: Session) -> dict[str, Any]:
    params = request.query_params
    status = params.get("status") or ""
    status = status if status in outreach.STATUSES else ""
    playbook = (params.get("playbook") or "")[:128]
    customer_id = (params.get("customer") or "").strip()[:64]
    number = parse_page(params.get("page"))
    log = outreach.outreach_log(
        session,
        outreach.OutreachFilter(
            customer_id=customer_id or None, status=status or None, playbook=playbook or None
        ),
        offset=(number - 1) * OUTREACH_PAGE,
        limit=OUTREACH_PAGE,
    )
    base = [("status", status), ("playbook", playbook), ("customer", customer_id)]

    def page_url(number: int) -> str:
        pairs = [(k, v) for k, v in base if v] + ([("page", str(number))] if number > 1 else [])
        return f"{root(request)}/outreach" + (f"?{urlencode(pairs)}" if pairs else "")

    try:
        saved = int(params.get("saved") or 0)
    except ValueError:
        saved = 0
    return {
        "nav": "outreach",
        "entries": log.entries,
        "names": log.names,
        "total": log.total,
        "page": number,
        "pages": max(1, -(-log.total // OUTREACH_PAGE)),
        "page_url": page_url,
        "status": status,
        "playbook": playbook,
        "customer_id": customer_id,
        "playbooks": log.playbooks,
        "counts": log.counts,
        "filtered": bool(status or playbook or customer_id),
        "saved": saved,
    }


@router.get("/outreach")
def outreach_log(request: Request) -> Response:
    """The outreach log, filterable; each entry's status, owner and notes are editable."""
    return page(request, "outreach.html", lambda session, _user: _outreach(request, session))


@router.post("/outreach/{entry_id}")
def update_outreach(request: Request, entry_id: int, form: FormFields) -> Response:
    """Save one entry's status / owner / notes, then go back where the form was."""
    user = editor(request, form, "Changing the outreach log")
    if isinstance(user, Response):
        return user
    changes: outreach.OutreachChanges = {
        "status": form.get("status", ""),
        "owner": form.get("owner", "").strip() or None,
        "notes": form.get("notes", "").replace("\r\n", "\n"),
    }
    try:
        with request.app.state.sessions() as session, session.begin():
            outreach.update_entry(session, entry_id, changes)
    except outreach.InvalidChange as problem:
        message = "; ".join(problem.problems).capitalize() + "."
        return error(request, user, 400, "Not saved", message)
    except outreach.EntryNotFound:
        return error(request, user, 404, "No such entry", f"Outreach entry {entry_id} is gone.")
    target = safe_next(form.get("next") or f"{root(request)}/outreach")
    path = target.partition("#")[0]
    joiner = "&" if "?" in path else "?"
    return redirect(f"{path}{joiner}saved={entry_id}#entry-{entry_id}")
