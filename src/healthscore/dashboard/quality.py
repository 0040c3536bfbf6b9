"""The data-quality page: ``quality.service.data_quality``, the report the API
(``GET /api/v1/data-quality``) and ``healthscore doctor`` give, as a page."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from sqlalchemy.orm import Session

from healthscore import formats
from healthscore.dashboard.pages import page
from healthscore.quality import service as quality

router = APIRouter(include_in_schema=False)

WINDOWS = (7, 30, 90)
"""The look-backs the page offers (any 1-365 works in the URL)."""


def _days(value: str | None) -> int:
    try:
        days = int(value or quality.DEFAULT_DAYS)
    except ValueError:
        return quality.DEFAULT_DAYS
    return days if 1 <= days <= quality.MAX_DAYS else quality.DEFAULT_DAYS


def _context(request: Request, session: Session) -> dict[str, Any]:
    days = _days(request.query_params.get("days"))
    report = quality.data_quality(session, now=datetime.now(UTC), days=days)
    return {
        "nav": "data-quality",
        "report": report,
        "days": days,
        "windows": sorted({*WINDOWS, days}),
        "actions": sum(1 for f in report.findings if f.count and f.level == "action"),
        "skew": formats.duration,
    }


@router.get("/data-quality")
def data_quality(request: Request) -> Response:
    """Every data-quality check, its count, why it matters and what to do, with evidence."""
    return page(request, "data_quality.html", lambda session, _user: _context(request, session))
