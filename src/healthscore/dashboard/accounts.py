"""The accounts table: every account's latest score, sortable, filterable, paginated."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import Response
from markupsafe import Markup
from sqlalchemy.orm import Session

from healthscore.charts.lines import sparkline
from healthscore.charts.scores import Bands
from healthscore.dashboard.pages import (
    TIERS,
    TRENDS,
    bands,
    change,
    page,
    parse_page,
    root,
    scorecard,
)
from healthscore.scoring import listing, reports

router = APIRouter(include_in_schema=False)

PAGE_SIZES = (25, 50, 100)
SPARK_DAYS = 30
DEFAULT_ORDER = {"mrr": "desc"}
"""Sort direction a column starts with; the rest start ascending (worst score first)."""


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
            page=parse_page(params.get("page")),
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
    session: Session, customer_ids: Sequence[str], tier_bands: Bands
) -> dict[str, Markup]:
    """Last 30 days of daily scores for one page of accounts."""
    series = listing.daily_scores(session, customer_ids, days=SPARK_DAYS)
    return {
        cid: sparkline(values, label="Score over 30 days", bands=tier_bands)
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
    return {
        "nav": "accounts",
        "q": q,
        "rows": rows,
        "total": total,
        "pages": pages,
        "first_index": (q.page - 1) * q.size + 1,
        "segments": listing.segments(session),
        "tiers": TIERS,
        "trends": TRENDS,
        "page_sizes": PAGE_SIZES,
        "sparklines": _sparklines(
            session, [r.customer_id for r in rows], bands(scorecard(request))
        ),
        "change": change,
        "scored_any": total > 0 or listing.scored_count(session) > 0,
        "page_url": lambda number: q.url(root(request), page=number),
    }


@router.get("/accounts")
def accounts(request: Request) -> Response:
    """Every account's latest score: sortable, filterable, paginated."""
    return page(request, "accounts.html", lambda session, _user: _accounts(request, session))
