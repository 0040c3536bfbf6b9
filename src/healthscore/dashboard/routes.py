"""The CS dashboard: server-rendered pages over the same read services as the HTTP API.

Numbers come from ``scoring.reports``, ``activity`` and ``playbooks`` — the functions the
API routes call — so a page and ``/api/v1/…`` can never disagree. Pages are plain HTML
with inline SVG charts; filters and sorting are GET links and forms, writes are POST
forms with a CSRF token, and one small script adds the signal dialog and live updates.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import parse_qs, urlencode

from fastapi import APIRouter, Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import RedirectResponse, Response, StreamingResponse
from fastapi.templating import Jinja2Templates
from jinja2 import Environment, FileSystemLoader, StrictUndefined
from sqlalchemy import func, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from healthscore import formats
from healthscore.activity import engagement, nps
from healthscore.auth.keys import authenticate
from healthscore.backtest.history import latest_backtest
from healthscore.charts import bars, lines, scores, svg
from healthscore.dashboard import auth, live
from healthscore.dashboard.auth import DashboardUser
from healthscore.playbooks import outreach
from healthscore.scoring import reports
from healthscore.scoring.scorecard import Group, Scorecard, Trend
from healthscore.storage import models as m

log = logging.getLogger(__name__)
router = APIRouter(include_in_schema=False)

HERE = Path(__file__).parent
TEMPLATES_DIR = HERE / "templates"
STATIC_DIR = HERE / "static"
STATIC_VERSION = hashlib.sha256(
    b"".join(p.read_bytes() for p in sorted(STATIC_DIR.glob("*")) if p.is_file())
).hexdigest()[:10]
"""Appended to static URLs so a new release never runs against a cached old script."""

CSP = (
    "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'; "
    "object-src 'none'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}
TIERS = [t.value for t in reports.TIER_ORDER]
TRENDS = [t.value for t in Trend]
GROUPS = [g.value for g in Group]
PAGE_SIZES = (25, 50, 100)
OUTREACH_PAGE = 20
SPARK_DAYS = 30
HISTORY_DAYS = 365
DEFAULT_ORDER = {"mrr": "desc"}
"""Sort direction a column starts with; the rest start ascending (worst score first)."""
MAX_NOTES = 10_000


# --- formatting ------------------------------------------------------------------------


def _tier_label(tier: str) -> str:
    return scores.TIER_LABELS.get(tier, tier.replace("_", " ").capitalize())


ACRONYMS = {"nps": "NPS", "api": "API", "mrr": "MRR", "smb": "SMB"}


def _label(name: str) -> str:
    """``active_user_ratio`` → ``Active user ratio``; ``nps_score`` → ``NPS score``."""
    words = name.replace("_", " ").split(" ")
    text = " ".join(ACRONYMS.get(w.lower(), w) for w in words)
    return text[:1].upper() + text[1:]


def _environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(TEMPLATES_DIR),
        autoescape=True,  # customer names, notes and comments are untrusted
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(
        num=formats.measurement,
        money=formats.money,
        signed=formats.signed,
        dt=formats.timestamp,
        day=formats.day,
        tier_label=_tier_label,
        label=_label,
    )
    env.globals.update(static_version=STATIC_VERSION, statuses=outreach.STATUSES)
    return env


templates = Jinja2Templates(env=_environment())


# --- plumbing --------------------------------------------------------------------------


def _root(request: Request) -> str:
    root: str = request.scope.get("root_path", "") or ""
    return root.rstrip("/")


def _here(request: Request) -> str:
    query = request.url.query
    return request.url.path + (f"?{query}" if query else "")


def _safe_next(value: str | None) -> str:
    """Only same-site paths: ``//evil.example`` or ``https://…`` would be an open redirect."""
    if not value or not value.startswith("/") or value.startswith("//") or "\\" in value:
        return "/"
    if any(ord(c) < 32 for c in value):
        return "/"
    return value


def _harden(response: Response) -> Response:
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    return response


def _redirect(url: str) -> Response:
    return _harden(RedirectResponse(url, status_code=303))


def _to_login(request: Request) -> Response:
    return _redirect(f"{_root(request)}/login?{urlencode({'next': _here(request)})}")


def _render(
    request: Request,
    template: str,
    context: Mapping[str, Any],
    *,
    user: DashboardUser | None,
    status: int = 200,
) -> Response:
    base = {"user": user, "root": _root(request), "here": _here(request), "nav": ""}
    response = templates.TemplateResponse(
        request, template, {**base, **context}, status_code=status
    )
    return _harden(response)


def _error(
    request: Request, user: DashboardUser | None, status: int, title: str, message: str
) -> Response:
    context = {"status": status, "title": title, "message": message}
    return _render(request, "error.html", context, user=user, status=status)


Builder = Callable[[Session, DashboardUser], Mapping[str, Any] | Response]


def _page(request: Request, template: str, build: Builder) -> Response:
    """Sign-in check, one database session, and a friendly page when the database fails."""
    user: DashboardUser | None = None
    try:
        user = auth.current_user(request)
        if user is None:
            return _to_login(request)
        with request.app.state.sessions() as session:
            context = build(session, user)
    except SQLAlchemyError:
        log.exception("dashboard page %s failed", request.url.path)
        return _error(
            request,
            user,
            503,
            "The database is not answering",
            "The dashboard could not read the database. Try again in a moment; if it "
            "persists, check the server log and HEALTHSCORE_DATABASE_URL.",
        )
    if isinstance(context, Response):
        return context
    return _render(request, template, context, user=user)


async def _form_fields(request: Request) -> dict[str, str]:
    """URL-encoded form fields (the last value of each), without a multipart parser."""
    content_type = request.headers.get("content-type", "").partition(";")[0].strip().lower()
    if content_type != "application/x-www-form-urlencoded":
        return {}
    try:
        parsed = parse_qs(
            (await request.body()).decode(), keep_blank_values=True, max_num_fields=50
        )
    except (UnicodeDecodeError, ValueError):
        return {}
    return {key: values[-1] for key, values in parsed.items()}


FormFields = Annotated[dict[str, str], Depends(_form_fields)]


def _bands(card: Scorecard) -> scores.Bands:
    t = card.tiers
    return scores.Bands(healthy=t.healthy, monitor=t.monitor, at_risk=t.at_risk)


def _scorecard(request: Request) -> Scorecard:
    card: Scorecard = request.app.state.scorecard
    return card


def _change(row: reports.ScoreRow) -> int | None:
    """Points since the score one trend window ago: what the API calls ``change``."""
    if row.score is None or row.previous_score is None:
        return None
    return row.score - row.previous_score


# --- sign in / out ---------------------------------------------------------------------


@router.get("/login")
def login_form(request: Request, next: str = "/") -> Response:
    """The sign-in page; already signed-in visitors go straight on."""
    if auth.current_user(request) is not None:
        return _redirect(_safe_next(next))
    return _render(request, "login.html", {"next": _safe_next(next), "error": None}, user=None)


@router.post("/login")
def login(request: Request, form: FormFields) -> Response:
    """Exchange a read- or admin-scope API key for a session cookie."""
    presented = form.get("key", "").strip()
    target = _safe_next(form.get("next"))
    with request.app.state.sessions() as session:
        info = authenticate(session, presented) if presented else None
    error, status = None, 200
    if info is None:
        error, status = "That key is unknown or revoked. Check it and try again.", 401
    elif info.scope not in auth.DASHBOARD_SCOPES:
        error = f"This key has scope “{info.scope.value}”. The dashboard needs a read or admin key."
        status = 403
    if error is not None:
        context = {"next": target, "error": error}
        return _render(request, "login.html", context, user=None, status=status)
    assert info is not None
    response = _redirect(target)
    auth.start_session(request, response, info.id)
    return response


@router.get("/logout")
def logout_form(request: Request) -> Response:
    """Signing out is a POST (a link must not do it); this page offers the button."""
    user = auth.current_user(request)
    if user is None:
        return _redirect(f"{_root(request)}/login")
    return _render(request, "logout.html", {}, user=user)


@router.post("/logout")
def logout(request: Request, form: FormFields) -> Response:
    user = auth.current_user(request)
    if user is not None and not auth.csrf_ok(user, form.get("csrf")):
        return _error(request, user, 403, "Form expired", "Reload the page and try again.")
    response = _redirect(f"{_root(request)}/login")
    auth.end_session(request, response)
    return response


# --- overview --------------------------------------------------------------------------


def _score_counts(session: Session) -> dict[int, int]:
    h = m.HealthScore
    rows = session.execute(
        select(h.score, func.count()).where(h.score.is_not(None)).group_by(h.score)
    ).all()
    return {int(score): int(count) for score, count in rows if score is not None}


def _histogram_stats(counts: dict[int, int]) -> dict[str, Any]:
    """Median and the share below 50, read off the same counts the histogram shows."""
    total = sum(counts.values())
    if not total:
        return {"median": None, "below_50": 0, "total": 0}
    seen, median = 0, None
    for score in sorted(counts):
        seen += counts[score]
        if seen * 2 >= total:
            median = score
            break
    below = sum(c for s, c in counts.items() if s < 50)
    return {"median": median, "below_50": below, "total": total}


def _nps_view(session: Session, f: nps.NpsFilter) -> dict[str, Any]:
    overall, periods = nps.summary(session, f)
    recent = periods[-12:]
    delta = None
    if len(recent) >= 2 and recent[-1].nps is not None and recent[-2].nps is not None:
        delta = recent[-1].nps - recent[-2].nps
    split = bars.stacked_bar(
        [
            bars.Bar("Promoters", overall.promoters, "nps-promoter"),
            bars.Bar("Passives", overall.passives, "nps-passive"),
            bars.Bar("Detractors", overall.detractors, "nps-detractor"),
        ],
        label="NPS answers by category",
        width=560,
    )
    trend = lines.sparkline(
        [p.nps for p in recent],
        label="NPS per month",
        low=-100,
        high=100,
        width=240,
        height=56,
        zero=0,
    )
    return {
        "stats": overall,
        "periods": recent,
        "delta": delta,
        "split_chart": split,
        "trend_chart": trend,
    }


def _overview(request: Request, session: Session) -> dict[str, Any]:
    bands = _bands(_scorecard(request))
    summary = reports.health_summary(session)
    customers = int(session.scalar(select(func.count()).select_from(m.Customer)) or 0)
    improving, _ = reports.list_scores(
        session,
        reports.ScoreFilter(trends=[Trend.improving.value]),
        sort="change",
        descending=True,
        limit=10,
    )
    counts = _score_counts(session)
    bins = scores.histogram_bins(counts)
    label = "Average component scores"
    components = [
        (_label(g), summary.average_components[g])
        for g in [*GROUPS, *sorted(set(summary.average_components) - set(GROUPS))]
        if g in summary.average_components
    ]
    return {
        "nav": "overview",
        "customers": customers,
        "summary": summary,
        "at_risk": reports.riskiest(session, limit=20),
        "improving": improving,
        "change": _change,
        "scorecard": _scorecard(request).identity,
        "tier_chart": svg.responsive(
            scores.tier_breakdown(summary.tiers, width=560, height=230),
            scores.tier_breakdown(summary.tiers, width=340, height=200),
        ),
        "histogram": svg.responsive(
            scores.score_histogram(bins, bands, width=560, height=230),
            scores.score_histogram(bins, bands, width=340, height=200),
        ),
        "histogram_stats": _histogram_stats(counts),
        "components_chart": svg.responsive(
            scores.meter_rows(components, label=label, bands=bands, width=560, row=36),
            scores.meter_rows(components, label=label, bands=bands, width=340, row=32),
        ),
        "nps": _nps_view(session, nps.NpsFilter()),
        "tiers": TIERS,
        "backtest": latest_backtest(session),
    }


@router.get("/")
def overview(request: Request) -> Response:
    """What needs us today: tiers, distribution, components, NPS, riskiest and improving."""
    return _page(request, "overview.html", lambda session, _user: _overview(request, session))


# --- accounts --------------------------------------------------------------------------


@dataclass(frozen=True)
class AccountQuery:
    """The accounts table's GET parameters, cleaned: unknown values are ignored."""

    tiers: list[str]
    trends: list[str]
    segments: list[str]
    search: str
    sort: str
    order: str
    page: int
    size: int

    @classmethod
    def parse(cls, params: Mapping[str, Any], getlist: Callable[[str], list[str]]) -> AccountQuery:
        sort = params.get("sort") or "score"
        if sort not in reports.SORTS:
            sort = "score"
        order = params.get("order") or DEFAULT_ORDER.get(sort, "asc")
        try:
            page = max(1, min(int(params.get("page") or 1), 100_000))
        except ValueError:
            page = 1
        try:
            size = int(params.get("size") or 50)
        except ValueError:
            size = 50
        return cls(
            tiers=[t for t in getlist("tier") if t in TIERS],
            trends=[t for t in getlist("trend") if t in TRENDS],
            segments=[s[:64] for s in getlist("segment") if s][:20],
            search=(params.get("q") or "").strip()[:255],
            sort=sort,
            order="desc" if order == "desc" else "asc",
            page=page,
            size=size if size in PAGE_SIZES else 50,
        )

    @property
    def filtered(self) -> bool:
        return bool(self.tiers or self.trends or self.segments or self.search)

    def filter(self) -> reports.ScoreFilter:
        return reports.ScoreFilter(
            tiers=self.tiers or None,
            trends=self.trends or None,
            segments=self.segments or None,
            search=self.search or None,
        )

    def params(self, **changes: Any) -> list[tuple[str, str]]:
        values: dict[str, Any] = {
            "tier": self.tiers,
            "trend": self.trends,
            "segment": self.segments,
            "q": self.search,
            "sort": self.sort,
            "order": self.order,
            "size": self.size,
            "page": self.page,
        } | changes
        pairs: list[tuple[str, str]] = []
        for key, value in values.items():
            if isinstance(value, list):
                pairs += [(key, str(v)) for v in value]
            elif value not in ("", None) and not (key == "page" and value == 1):
                if key == "size" and value == 50:
                    continue
                pairs.append((key, str(value)))
        return pairs

    def url(self, root: str, **changes: Any) -> str:
        query = urlencode(self.params(**changes))
        return f"{root}/accounts" + (f"?{query}" if query else "")

    def sort_url(self, root: str, key: str) -> str:
        """Clicking the current column flips it; another column starts in its default."""
        if key == self.sort:
            order = "asc" if self.order == "desc" else "desc"
        else:
            order = DEFAULT_ORDER.get(key, "asc")
        return self.url(root, sort=key, order=order, page=1)

    def aria_sort(self, key: str) -> str:
        if key != self.sort:
            return "none"
        return "descending" if self.order == "desc" else "ascending"


def _sparklines(
    session: Session, customer_ids: Sequence[str], bands: scores.Bands
) -> dict[str, Any]:
    """Last 30 days of daily scores for one page of accounts, in one query."""
    if not customer_ids:
        return {}
    h = m.HealthScoreHistory
    latest = session.scalar(select(func.max(h.day)).where(h.customer_id.in_(customer_ids)))
    if latest is None:
        return {}
    first = latest - timedelta(days=SPARK_DAYS - 1)
    series: dict[str, list[float | None]] = {cid: [None] * SPARK_DAYS for cid in customer_ids}
    rows = session.execute(
        select(h.customer_id, h.day, h.score).where(
            h.customer_id.in_(customer_ids), h.day >= first, h.day <= latest
        )
    )
    for customer_id, day, score in rows:
        series[customer_id][(day - first).days] = score
    return {
        cid: lines.sparkline(values, label="Score over 30 days", bands=bands)
        for cid, values in series.items()
    }


def _accounts(request: Request, session: Session) -> dict[str, Any]:
    params = request.query_params
    q = AccountQuery.parse(params, params.getlist)
    rows, total = reports.list_scores(
        session,
        q.filter(),
        sort=q.sort,
        descending=q.order == "desc",
        offset=(q.page - 1) * q.size,
        limit=q.size,
    )
    pages = max(1, -(-total // q.size))
    segments = [
        s
        for s in session.scalars(select(m.Customer.segment).distinct().order_by(m.Customer.segment))
        if s
    ]
    scored_any = total > 0 or session.scalar(select(func.count()).select_from(m.HealthScore)) or 0
    return {
        "nav": "accounts",
        "q": q,
        "rows": rows,
        "total": total,
        "pages": pages,
        "first_index": (q.page - 1) * q.size + 1,
        "segments": segments,
        "tiers": TIERS,
        "trends": TRENDS,
        "page_sizes": PAGE_SIZES,
        "sparklines": _sparklines(
            session, [r.customer_id for r in rows], _bands(_scorecard(request))
        ),
        "change": _change,
        "scored_any": bool(scored_any),
        "page_url": lambda number: q.url(_root(request), page=number),
    }


@router.get("/accounts")
def accounts(request: Request) -> Response:
    """Every account's latest score: sortable, filterable, paginated."""
    return _page(request, "accounts.html", lambda session, _user: _accounts(request, session))


# --- account detail --------------------------------------------------------------------


def _window(signal: reports.SignalDetail) -> str:
    if signal.window_days is None:
        return "—"
    basis = {"per_seat": " per seat", "vs_baseline": " vs own baseline"}.get(signal.basis or "", "")
    return f"{signal.window_days} days{basis}"


def _account(
    request: Request, session: Session, user: DashboardUser, customer_id: str
) -> Mapping[str, Any] | Response:
    card = _scorecard(request)
    customer = session.get(m.Customer, customer_id)
    if customer is None:
        return _error(
            request, user, 404, "No such account", f"There is no account with id “{customer_id}”."
        )
    detail = reports.account_detail(session, customer_id, card)
    bands = _bands(card.for_segment(customer.segment))
    since = datetime.now(UTC).date() - timedelta(days=HISTORY_DAYS)
    history = reports.score_history(session, customer_id, since=since)
    events, events_total = engagement.list_events(
        session, engagement.EventFilter(customer_id=customer_id), limit=15
    )
    answers, answers_total = nps.list_responses(
        session, nps.NpsFilter(customer_id=customer_id), limit=10
    )
    t, p = m.SupportTicket, m.Payment
    tickets = list(
        session.scalars(
            select(t).where(t.customer_id == customer_id).order_by(t.opened_at.desc()).limit(10)
        )
    )
    tickets_total = session.scalar(select(func.count()).where(t.customer_id == customer_id)) or 0
    payments = list(
        session.scalars(
            select(p).where(p.customer_id == customer_id).order_by(p.ts.desc()).limit(10)
        )
    )
    payments_total = session.scalar(select(func.count()).where(p.customer_id == customer_id)) or 0
    entries, entries_total = outreach.list_entries(
        session, outreach.OutreachFilter(customer_id=customer_id), limit=10
    )
    groups: dict[str, list[tuple[int, reports.SignalDetail]]] = {}
    components_chart = None
    if detail is not None:
        for index, signal in enumerate(detail.signals, start=1):
            groups.setdefault(signal.group or "other", []).append((index, signal))
        components = detail.score.components
        order = [*GROUPS, *sorted(set(components) - set(GROUPS))]
        components_chart = scores.meter_rows(
            [(_label(g), float(components[g])) for g in order if g in components],
            label="Component scores",
            bands=bands,
            width=360,
        )
    points = [(h.day, float(h.score)) for h in history]
    drivers = []
    if detail is not None:
        drivers = sorted(detail.score.drivers.items(), key=lambda kv: -abs(float(kv[1])))
    return {
        "nav": "accounts",
        "customer": customer,
        "detail": detail,
        "change": _change(detail.score) if detail else None,
        "history": history,
        "history_chart": svg.responsive(
            scores.history_chart(points, bands),
            scores.history_chart(points, bands, width=340, height=230, ticks=3),
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
        "nps": _nps_view(session, nps.NpsFilter(customer_id=customer_id)),
        "tickets": tickets,
        "tickets_total": tickets_total,
        "payments": payments,
        "payments_total": payments_total,
        "entries": entries,
        "entries_total": entries_total,
        "bands": bands,
    }


@router.get("/accounts/{customer_id}")
def account(request: Request, customer_id: str) -> Response:
    """One account: history, components, every signal explained, and what happened."""
    return _page(
        request,
        "account.html",
        lambda session, user: _account(request, session, user, customer_id),
    )


# --- outreach --------------------------------------------------------------------------


def _outreach(request: Request, session: Session) -> dict[str, Any]:
    params = request.query_params
    status = params.get("status") or ""
    status = status if status in outreach.STATUSES else ""
    playbook = (params.get("playbook") or "")[:128]
    customer_id = (params.get("customer") or "").strip()[:64]
    try:
        page = max(1, min(int(params.get("page") or 1), 100_000))
    except ValueError:
        page = 1
    f = outreach.OutreachFilter(
        customer_id=customer_id or None, status=status or None, playbook=playbook or None
    )
    entries, total = outreach.list_entries(
        session, f, offset=(page - 1) * OUTREACH_PAGE, limit=OUTREACH_PAGE
    )
    ids = {e.customer_id for e in entries}
    names = (
        dict(
            session.execute(
                select(m.Customer.id, m.Customer.name).where(m.Customer.id.in_(ids))
            ).all()
        )
        if ids
        else {}
    )
    o = m.OutreachEntry
    playbooks = list(session.scalars(select(o.playbook).distinct().order_by(o.playbook)))
    counts = dict(session.execute(select(o.status, func.count()).group_by(o.status)).all())
    base = [("status", status), ("playbook", playbook), ("customer", customer_id)]

    def page_url(number: int) -> str:
        pairs = [(k, v) for k, v in base if v] + ([("page", str(number))] if number > 1 else [])
        return f"{_root(request)}/outreach" + (f"?{urlencode(pairs)}" if pairs else "")

    try:
        saved = int(params.get("saved") or 0)
    except ValueError:
        saved = 0
    return {
        "nav": "outreach",
        "entries": entries,
        "names": names,
        "total": total,
        "page": page,
        "pages": max(1, -(-total // OUTREACH_PAGE)),
        "page_url": page_url,
        "status": status,
        "playbook": playbook,
        "customer_id": customer_id,
        "playbooks": playbooks,
        "counts": {s: int(counts.get(s, 0)) for s in outreach.STATUSES},
        "filtered": bool(status or playbook or customer_id),
        "saved": saved,
    }


@router.get("/outreach")
def outreach_log(request: Request) -> Response:
    """The outreach log, filterable; each entry's status, owner and notes are editable."""
    return _page(request, "outreach.html", lambda session, _user: _outreach(request, session))


@router.post("/outreach/{entry_id}")
def update_outreach(request: Request, entry_id: int, form: FormFields) -> Response:
    """Save one entry's status / owner / notes, then go back where the form was."""
    user = auth.current_user(request)
    if user is None:
        return _to_login(request)
    if not auth.csrf_ok(user, form.get("csrf")):
        return _error(
            request, user, 403, "Form expired", "This form is stale or forged. Reload and retry."
        )
    if not user.can_edit:
        return _error(
            request,
            user,
            403,
            "Admin key needed",
            "You signed in with a read key. Changing the outreach log needs an admin key.",
        )
    status = form.get("status", "")
    owner = form.get("owner", "").strip()
    notes = form.get("notes", "").replace("\r\n", "\n")
    problems = []
    if status not in outreach.STATUSES:
        problems.append(f"status must be one of {', '.join(outreach.STATUSES)}")
    if len(owner) > 255:
        problems.append("owner must be at most 255 characters")
    if len(notes) > MAX_NOTES:
        problems.append(f"notes must be at most {MAX_NOTES:,} characters")
    if problems:
        return _error(request, user, 400, "Not saved", "; ".join(problems).capitalize() + ".")
    with request.app.state.sessions() as session, session.begin():
        entry = session.get(m.OutreachEntry, entry_id)
        if entry is None:
            return _error(
                request, user, 404, "No such entry", f"Outreach entry {entry_id} is gone."
            )
        entry.status = status
        entry.owner = owner or None
        entry.notes = notes
        entry.updated_at = datetime.now(UTC)
    target = _safe_next(form.get("next") or f"{_root(request)}/outreach")
    path = target.partition("#")[0]
    joiner = "&" if "?" in path else "?"
    return _redirect(f"{path}{joiner}saved={entry_id}#entry-{entry_id}")


# --- live updates ----------------------------------------------------------------------


@router.get("/events")
async def events(request: Request) -> Response:
    """Server-sent events: ``scores-changed`` whenever accounts are rescored here."""
    user = await run_in_threadpool(auth.current_user, request)
    if user is None:
        return _harden(Response("sign in first\n", status_code=401, media_type="text/plain"))
    broadcaster: live.Broadcaster = request.app.state.broadcaster
    return StreamingResponse(
        live.event_stream(
            broadcaster,
            request.is_disconnected,
            last_event_id=request.headers.get("last-event-id"),
        ),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


@router.get("/favicon.ico")
def favicon() -> Response:
    """Browsers ask for it regardless; answer with the logo instead of a 404 in the console."""
    return Response(
        (STATIC_DIR / "favicon.svg").read_bytes(),
        media_type="image/svg+xml",
        headers={"Cache-Control": "public, max-age=86400"},
    )
