"""The outreach page: the cases the playbooks opened, and their buttons.

Cases are listed by state (tabs), owner, playbook, account and age; an admin key gets
*Acknowledge*, *Snooze* (until a date), *Resolve* (with a note) and *Reopen* buttons and
the entry form (status, owner, notes), each a POST form with the session's CSRF token
(``pages.editor``); a read key sees the same page without them. Every change goes
through ``playbooks.cases``, like the API's.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Any, cast
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import Response
from sqlalchemy.orm import Session

from healthscore.dashboard.auth import DashboardUser
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
from healthscore.errors import DomainError
from healthscore.playbooks import cases, outreach
from healthscore.playbooks.case_repository import CaseFilter
from healthscore.playbooks.case_rules import LEGACY_STATUSES, STATES

router = APIRouter(include_in_schema=False)

OUTREACH_PAGE = 20
FORM_STATUSES = ("open", "acknowledged", "resolved")
"""What the entry form's status select offers (snoozing needs a date: its own button)."""
BUTTONS = ("acknowledge", "snooze", "resolve", "reopen")
SORT_LABELS = {
    "newest": "Newest first",
    "oldest": "Oldest first",
    "severity": "Most severe first",
    "last_seen": "Last seen first",
}


def _number(value: str | None, *, most: int) -> int | None:
    try:
        number = int(value or "")
    except ValueError:
        return None
    return number if 0 <= number <= most else None


def _outreach(request: Request, session: Session) -> dict[str, Any]:
    params = request.query_params
    status = params.get("status") or ""
    if status not in (*STATES, *LEGACY_STATUSES, "unresolved"):
        status = ""
    playbook = (params.get("playbook") or "")[:128]
    owner = (params.get("owner") or "")[:255]
    customer_id = (params.get("customer") or "").strip()[:64]
    older = _number(params.get("older"), most=3650)
    sort = params.get("sort") or "newest"
    sort = sort if sort in SORT_LABELS else "newest"
    number = parse_page(params.get("page"))
    now = datetime.now(UTC)
    found = cases.list_cases(
        session,
        CaseFilter(
            customer_id=customer_id or None,
            status=status if status and status != "unresolved" else None,
            states=("open", "acknowledged", "snoozed") if status == "unresolved" else (),
            playbook=playbook or None,
            owner=owner or None,
            opened_before=now - timedelta(days=older) if older else None,
        ),
        sort=sort,
        offset=(number - 1) * OUTREACH_PAGE,
        limit=OUTREACH_PAGE,
    )
    base = [
        ("status", status),
        ("playbook", playbook),
        ("owner", owner),
        ("customer", customer_id),
        ("older", str(older) if older else ""),
        ("sort", sort if sort != "newest" else ""),
    ]

    def page_url(number: int, **changes: str) -> str:
        pairs = [(k, changes.get(k, v)) for k, v in base]
        pairs = [(k, v) for k, v in pairs if v]
        pairs += [("page", str(number))] if number > 1 else []
        return f"{root(request)}/outreach" + (f"?{urlencode(pairs)}" if pairs else "")

    saved = _number(params.get("saved"), most=2**62) or 0
    return {
        "nav": "outreach",
        "entries": found.cases,
        "names": found.names,
        "ages": {c.id: int((now - c.created_at).total_seconds() // 86400) for c in found.cases},
        "total": found.total,
        "page": number,
        "pages": max(1, -(-found.total // OUTREACH_PAGE)),
        "page_url": page_url,
        "status": status,
        "playbook": playbook,
        "owner": owner,
        "customer_id": customer_id,
        "older": older,
        "sort": sort,
        "sorts": SORT_LABELS,
        "playbooks": found.playbooks,
        "owners": found.owners,
        "states": STATES,
        "form_statuses": FORM_STATUSES,
        "counts": found.counts,
        "unresolved": sum(found.counts[s] for s in STATES if s != "resolved"),
        "filtered": bool(status or playbook or owner or customer_id or older),
        "saved": saved,
        "tomorrow": (now + timedelta(days=1)).date().isoformat(),
    }


@router.get("/outreach")
def outreach_log(request: Request) -> Response:
    """The cases, filterable; an admin can acknowledge, snooze, resolve and edit them."""
    return page(request, "outreach.html", lambda session, _user: _outreach(request, session))


def _back(request: Request, form: dict[str, str], case_id: int) -> Response:
    target = safe_next(form.get("next") or f"{root(request)}/outreach")
    path = target.partition("#")[0]
    joiner = "&" if "?" in path else "?"
    return redirect(f"{path}{joiner}saved={case_id}#entry-{case_id}")


def _refused(request: Request, user: DashboardUser, problem: DomainError) -> Response:
    titles = {404: "No such case", 409: "Not possible now", 422: "Not saved"}
    message = str(problem)
    return error(
        request,
        user,
        400 if problem.status == 422 else problem.status,
        titles.get(problem.status, "Not saved"),
        message[:1].upper() + message[1:] + ".",
    )


@router.post("/outreach/{entry_id}")
def update_outreach(request: Request, entry_id: int, form: FormFields) -> Response:
    """Save one entry's status / owner / notes, then go back where the form was."""
    user = editor(request, form, "Changing the outreach log")
    if isinstance(user, Response):
        return user
    changes: outreach.OutreachChanges = {
        "owner": form.get("owner", "").strip() or None,
        "notes": form.get("notes", "").replace("\r\n", "\n"),
    }
    if "status" in form:  # a snoozed case's select sends none: its state stays
        changes["status"] = form["status"]
    try:
        with request.app.state.sessions() as session, session.begin():
            done = outreach.update_entry(
                session,
                entry_id,
                changes,
                actor=f"dashboard:{user.key_name or user.key_prefix}",
                playbooks=request.app.state.playbooks,
            )
    except DomainError as problem:
        return _refused(request, user, problem)
    request.app.state.jobs.enqueue_deliveries(done.delivery_ids)
    return _back(request, form, entry_id)


def _until(value: str) -> datetime | None:
    """A date field's day as its midnight UTC (None when empty or not a date)."""
    try:
        return datetime.combine(date.fromisoformat(value), time(), tzinfo=UTC)
    except ValueError:
        return None


@router.post("/outreach/{case_id}/{action}")
def change_case(request: Request, case_id: int, action: str, form: FormFields) -> Response:
    """One button: acknowledge, snooze (until the date given), resolve (with the note
    given) or reopen; then back where the button was."""
    user = editor(request, form, "Changing a case")
    if isinstance(user, Response):
        return user
    if action not in BUTTONS:
        return error(request, user, 404, "No such action", f"Cases cannot be “{action}”ed.")
    change = cases.Transition(
        cast(cases.Action, action),
        note=form.get("note", "").replace("\r\n", "\n"),
        until=_until(form.get("until", "")),
        resolution=form.get("resolution") or "done",
    )
    try:
        with request.app.state.sessions() as session, session.begin():
            done = cases.transition(
                session,
                case_id,
                change,
                actor=f"dashboard:{user.key_name or user.key_prefix}",
                playbooks=request.app.state.playbooks,
            )
    except DomainError as problem:
        return _refused(request, user, problem)
    request.app.state.jobs.enqueue_deliveries(done.delivery_ids)
    return _back(request, form, case_id)
