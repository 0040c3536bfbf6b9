"""An account's CSM panel: sentiment (with its form and history, stale entries marked),
manual overrides (with the computed value beside each, a form that requires a reason,
and a remove button) and the account's audit log. The forms call the same services as
the API (``healthscore.csm``), audited and followed by a rescore of the account."""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import Response
from sqlalchemy.orm import Session

from healthscore.audit import repository as audit
from healthscore.csm import overrides, sentiment
from healthscore.dashboard.auth import DashboardUser
from healthscore.dashboard.pages import FormFields, editor, error, redirect, root
from healthscore.errors import DomainError
from healthscore.scoring.scorecard import Scorecard

router = APIRouter(include_in_schema=False)

AUDIT_SHOWN = 15
SENTIMENT_SHOWN = 8


def panel(
    session: Session, customer_id: str, card: Scorecard, adjusted: dict[str, Any]
) -> dict[str, Any]:
    """What the account page's CSM panel shows."""
    now = datetime.now(UTC)
    history = sentiment.history(session, customer_id)
    entries = [
        {"row": row, "state": sentiment.state_of(row, now)} for row in history[:SENTIMENT_SHOWN]
    ]
    in_force = overrides.overrides_of(session, customer_id, now=now)
    log, log_total = audit.entries(session, customer_id=customer_id, limit=AUDIT_SHOWN)
    return {
        "sentiment_entries": entries,
        "sentiment_total": len(history),
        "sentiment_now": next((e["row"] for e in entries if e["state"] == "in_force"), None),
        "sentiment_latest": history[0] if history else None,
        "colour_of": sentiment.colour_of,
        "overrides_in_force": [
            {"row": row, "computed": overrides.computed_beside(adjusted, row)} for row in in_force
        ],
        "override_targets": overrides.targets(card),
        "audit_entries": log,
        "audit_total": log_total,
    }


def _actor(user: DashboardUser) -> str:
    return f"dashboard:{user.key_name or user.key_prefix}"


def _back(request: Request, customer_id: str, saved: str) -> Response:
    return redirect(f"{root(request)}/accounts/{quote(customer_id, safe='')}?saved={saved}#csm")


def _refused(request: Request, user: DashboardUser, problem: str) -> Response:
    return error(request, user, 422, "Not saved", problem[:1].upper() + problem[1:] + ".")


def _rescore(request: Request, customer_id: str) -> None:
    request.app.state.jobs.rescoring.rescore(
        kind="manual", as_of=datetime.now(UTC), customer_ids=[customer_id]
    )


@router.post("/accounts/{customer_id}/sentiment")
def record_sentiment(request: Request, customer_id: str, form: FormFields) -> Response:
    """The sentiment form: a colour (or 1-5) and a note."""
    user = editor(request, form, "Recording sentiment")
    if isinstance(user, Response):
        return user
    raw = form.get("value", "").strip().lower()
    value = sentiment.COLOURS.get(raw) or (int(raw) if raw.isdigit() else 0)
    if not 1 <= value <= 5:
        return _refused(request, user, "choose red, yellow or green (or 1 to 5)")
    days = form.get("valid_days", "").strip()
    settings = request.app.state.settings
    valid_days = int(days) if days.isdigit() else settings.sentiment_valid_days
    if not 1 <= valid_days <= 365:
        return _refused(request, user, "a sentiment counts for 1 to 365 days")
    entry = sentiment.NewSentiment(
        customer_id,
        value,
        form.get("note", "").replace("\r\n", "\n").strip()[:4000],
        _actor(user),
        datetime.now(UTC),
        valid_days,
    )
    try:
        with request.app.state.sessions() as session, session.begin():
            sentiment.record(session, entry)
    except DomainError as problem:
        return _refused(request, user, str(problem))
    _rescore(request, customer_id)
    return _back(request, customer_id, "sentiment")


@router.post("/accounts/{customer_id}/overrides")
def create_override(request: Request, customer_id: str, form: FormFields) -> Response:
    """The override form: what (score or a signal), the value, why, and until when."""
    user = editor(request, form, "Overriding a score")
    if isinstance(user, Response):
        return user
    try:
        value = float(form.get("value", ""))
        until = date.fromisoformat(form.get("expires", ""))
    except ValueError:
        return _refused(request, user, "give a value from 0 to 100 and an expiry date")
    if not 0 <= value <= 100:
        return _refused(request, user, "the value must be from 0 to 100")
    new = overrides.NewOverride(
        customer_id,
        form.get("target", ""),
        value,
        form.get("reason", "").replace("\r\n", "\n")[:4000],
        _actor(user),
        datetime.combine(until, time(), tzinfo=UTC),
    )
    try:
        with request.app.state.sessions() as session, session.begin():
            overrides.set_override(
                session,
                new,
                scorecard=request.app.state.scorecard,
                now=datetime.now(UTC),
                max_days=request.app.state.settings.override_max_days,
            )
    except DomainError as problem:
        return _refused(request, user, str(problem))
    _rescore(request, customer_id)
    return _back(request, customer_id, "override")


@router.post("/accounts/{customer_id}/overrides/{override_id}/remove")
def remove_override(
    request: Request, customer_id: str, override_id: int, form: FormFields
) -> Response:
    """End an override now; the score is computed again."""
    user = editor(request, form, "Removing an override")
    if isinstance(user, Response):
        return user
    try:
        with request.app.state.sessions() as session, session.begin():
            overrides.remove_override(
                session,
                override_id,
                actor=_actor(user),
                reason=form.get("reason", "").strip() or "removed on the dashboard",
                now=datetime.now(UTC),
            )
    except DomainError as problem:
        return _refused(request, user, str(problem))
    _rescore(request, customer_id)
    return _back(request, customer_id, "removed")
