"""What every dashboard page shares: templates, security headers, sign-in, errors, forms.

Page modules build a context from the domains' read functions and hand it to ``page``,
which checks the session, opens one database session and turns a database failure into
a friendly error page.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import parse_qs, urlencode

from fastapi import Depends, Request
from fastapi.responses import RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from jinja2 import Environment, FileSystemLoader, StrictUndefined
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from healthscore import formats
from healthscore.charts.scores import TIER_LABELS, Bands
from healthscore.dashboard import auth
from healthscore.dashboard.assets import STATIC_VERSION
from healthscore.dashboard.auth import DashboardUser
from healthscore.scoring import reports
from healthscore.scoring.labels import Group, Trend
from healthscore.scoring.scorecard import Scorecard

log = logging.getLogger(__name__)

TEMPLATES_DIR = Path(__file__).parent / "templates"
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
ACRONYMS = {"nps": "NPS", "api": "API", "mrr": "MRR", "smb": "SMB", "csm": "CSM"}


def tier_label(tier: str) -> str:
    return TIER_LABELS.get(tier, tier.replace("_", " ").capitalize())


def label(name: str) -> str:
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
        tier_label=tier_label,
        label=label,
    )
    env.globals.update(static_version=STATIC_VERSION)
    return env


templates = Jinja2Templates(env=_environment())


def root(request: Request) -> str:
    """The path the dashboard is mounted under, without a trailing slash."""
    mounted: str = request.scope.get("root_path", "") or ""
    return mounted.rstrip("/")


def _here(request: Request) -> str:
    query = request.url.query
    return request.url.path + (f"?{query}" if query else "")


def safe_next(value: str | None) -> str:
    """Only same-site paths: ``//evil.example`` or ``https://…`` would be an open redirect."""
    if not value or not value.startswith("/") or value.startswith("//") or "\\" in value:
        return "/"
    if any(ord(c) < 32 for c in value):
        return "/"
    return value


def harden(response: Response) -> Response:
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    return response


def redirect(url: str) -> Response:
    return harden(RedirectResponse(url, status_code=303))


def to_login(request: Request) -> Response:
    return redirect(f"{root(request)}/login?{urlencode({'next': _here(request)})}")


def render(
    request: Request,
    template: str,
    context: Mapping[str, Any],
    *,
    user: DashboardUser | None,
    status: int = 200,
) -> Response:
    base = {"user": user, "root": root(request), "here": _here(request), "nav": ""}
    response = templates.TemplateResponse(
        request, template, {**base, **context}, status_code=status
    )
    return harden(response)


def error(
    request: Request, user: DashboardUser | None, status: int, title: str, message: str
) -> Response:
    context = {"status": status, "title": title, "message": message}
    return render(request, "error.html", context, user=user, status=status)


Builder = Callable[[Session, DashboardUser], Mapping[str, Any] | Response]


def page(request: Request, template: str, build: Builder) -> Response:
    """Sign-in check, one database session, and a friendly page when the database fails."""
    user: DashboardUser | None = None
    try:
        user = auth.current_user(request)
        if user is None:
            return to_login(request)
        with request.app.state.sessions() as session:
            context = build(session, user)
    except SQLAlchemyError:
        log.exception("dashboard page %s failed", request.url.path)
        return error(
            request,
            user,
            503,
            "The database is not answering",
            "The dashboard could not read the database. Try again in a moment; if it "
            "persists, check the server log and HEALTHSCORE_DATABASE_URL.",
        )
    if isinstance(context, Response):
        return context
    return render(request, template, context, user=user)


def editor(request: Request, form: Mapping[str, str], what: str) -> DashboardUser | Response:
    """The signed-in admin behind a form that changes something (``what``, for the
    message), or the page that refuses it: sign in, a stale or forged form, a read key."""
    user = auth.current_user(request)
    if user is None:
        return to_login(request)
    if not auth.csrf_ok(user, form.get("csrf")):
        return error(
            request, user, 403, "Form expired", "This form is stale or forged. Reload and retry."
        )
    if not user.can_edit:
        return error(
            request,
            user,
            403,
            "Admin key needed",
            f"You signed in with a read key. {what} needs an admin key.",
        )
    return user


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


def parse_page(value: str | None) -> int:
    """A page number from a query string: 1 unless it is a sane positive number."""
    try:
        return max(1, min(int(value or 1), 100_000))
    except ValueError:
        return 1


def bands(card: Scorecard) -> Bands:
    t = card.tiers
    return Bands(healthy=t.healthy, monitor=t.monitor, at_risk=t.at_risk)


def scorecard(request: Request) -> Scorecard:
    card: Scorecard = request.app.state.scorecard
    return card


def change(row: reports.ScoreRow) -> int | None:
    """Points since the score one trend window ago: what the API calls ``change``."""
    if row.score is None or row.previous_score is None:
        return None
    return row.score - row.previous_score


def group_order(groups: Mapping[str, object]) -> list[str]:
    """The scorecard's groups in their usual order, then any others alphabetically."""
    return [g for g in [*GROUPS, *sorted(set(groups) - set(GROUPS))] if g in groups]
