"""One account: history, components, every signal explained, and what happened."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import Response
from sqlalchemy.orm import Session

from healthscore.accounts import service as accounts
from healthscore.activity import engagement, nps
from healthscore.backtest.calibrations import churn_probability
from healthscore.charts.scores import history_chart, meter_rows
from healthscore.charts.svg import responsive
from healthscore.dashboard import commercial, csm
from healthscore.dashboard.auth import DashboardUser
from healthscore.dashboard.overview import nps_panel
from healthscore.dashboard.pages import (
    FormFields,
    bands,
    change,
    editor,
    error,
    group_order,
    label,
    page,
    redirect,
    root,
    scorecard,
)
from healthscore.jobs.queue import Jobs
from healthscore.playbooks import outreach
from healthscore.scoring import listing, product_reports, reports
from healthscore.scoring.service import UnknownCustomerError

router = APIRouter(include_in_schema=False)

HISTORY_DAYS = 365


def _window(signal: reports.SignalDetail) -> str:
    if signal.window_days is None:
        return "—"
    basis = {"per_seat": " per seat", "vs_baseline": " vs own baseline"}.get(signal.basis or "", "")
    return f"{signal.window_days} days{basis}"


def _account(
    request: Request, session: Session, user: DashboardUser, customer_id: str
) -> Mapping[str, Any] | Response:
    card = scorecard(request)
    customer = listing.customer(session, customer_id)
    if customer is None:
        return error(
            request, user, 404, "No such account", f"There is no account with id “{customer_id}”."
        )
    detail = reports.account_detail(session, customer_id, card)
    stage = reports.stored_stage(detail.score.stage) if detail else None
    tier_bands = bands(card.for_account(customer.segment, stage))
    since = datetime.now(UTC).date() - timedelta(days=HISTORY_DAYS)
    history = reports.score_history(session, customer_id, since=since)
    events, events_total = engagement.list_events(
        session, engagement.EventFilter(customer_id=customer_id), limit=15
    )
    answers, answers_total = nps.list_responses(
        session, nps.NpsFilter(customer_id=customer_id), limit=10
    )
    activity = listing.recent_activity(session, customer_id, limit=10)
    entries, entries_total = outreach.list_entries(
        session, outreach.OutreachFilter(customer_id=customer_id), limit=10
    )
    groups: dict[str, list[tuple[int, reports.SignalDetail]]] = {}
    components_chart = None
    drivers: list[tuple[str, float]] = []
    if detail is not None:
        for index, signal in enumerate(detail.signals, start=1):
            groups.setdefault(signal.group or "other", []).append((index, signal))
        components = detail.score.components
        components_chart = meter_rows(
            [(label(g), float(components[g])) for g in group_order(components)],
            label="Component scores",
            bands=tier_bands,
            width=360,
        )
        drivers = sorted(detail.score.drivers.items(), key=lambda kv: -abs(float(kv[1])))
    points = [(h.day, float(h.score)) for h in history]
    hierarchy = accounts.account_hierarchy(session, customer_id)
    return {
        "nav": "accounts",
        "customer": customer,
        "detail": detail,
        "change": change(detail.score) if detail else None,
        "probability": (
            churn_probability(session, card, scorecard=detail.scorecard, score=detail.score.score)
            if detail
            else None
        ),
        "history": history,
        "history_chart": responsive(
            history_chart(points, tier_bands),
            history_chart(points, tier_bands, width=340, height=230, ticks=3),
        ),
        "components_chart": components_chart,
        "groups": groups,
        "drivers": drivers[:8],
        "window": _window,
        "events": events,
        "events_total": events_total,
        "answers": answers,
        "answers_total": answers_total,
        "category": nps.category,
        "nps": nps_panel(session, nps.NpsFilter(customer_id=customer_id)),
        "tickets": activity.tickets,
        "tickets_total": activity.tickets_total,
        "payments": activity.payments,
        "payments_total": activity.payments_total,
        "entries": entries,
        "entries_total": entries_total,
        "bands": tier_bands,
        "rescored": request.query_params.get("rescored") == "1",
        "min_confidence": card.lifecycle.min_confidence,
        "products": product_reports.product_combination(session, customer_id) if detail else None,
        **csm.panel(session, customer_id, card, detail.adjusted if detail else {}),
        **commercial.panel(session, customer),
        "hierarchy": hierarchy,
        "rollup": hierarchy.rollup,
        "rollup_weights": {
            c["id"]: c["weight"] for c in (hierarchy.rollup or {}).get("children", [])
        },
    }


@router.get("/accounts/{customer_id}")
def account(request: Request, customer_id: str) -> Response:
    """One account: history, components, every signal explained, and what happened."""
    return page(
        request,
        "account.html",
        lambda session, user: _account(request, session, user, customer_id),
    )


@router.post("/accounts/{customer_id}/refresh")
def refresh(request: Request, customer_id: str, form: FormFields) -> Response:
    """Rescore this account now (the API's refresh: scores, playbooks, deliveries and the
    live update all take the one rescoring path), then show it again."""
    user = editor(request, form, "Rescoring an account")
    if isinstance(user, Response):
        return user
    jobs: Jobs = request.app.state.jobs
    try:
        jobs.rescoring.rescore(kind="refresh", as_of=datetime.now(UTC), customer_ids=[customer_id])
    except UnknownCustomerError:
        return error(
            request, user, 404, "No such account", f"There is no account with id “{customer_id}”."
        )
    return redirect(f"{root(request)}/accounts/{quote(customer_id, safe='')}?rescored=1")
