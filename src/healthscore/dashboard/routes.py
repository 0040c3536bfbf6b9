"""The CS dashboard: server-rendered pages over the same read services as the HTTP API.

Numbers come from ``scoring.reports``, ``scoring.listing``, ``activity`` and ``playbooks``
— the functions the API routes call — so a page and ``/api/v1/…`` can never disagree.
Pages are plain HTML with inline SVG charts; filters and sorting are GET links and forms,
writes are POST forms with a CSRF token, and one small script adds the signal dialog and
live updates. One module per page; this one gathers their routers for the app.
"""

from __future__ import annotations

from fastapi import APIRouter

from healthscore.dashboard import (
    account,
    accounts,
    assets,
    csm,
    events,
    login,
    outreach,
    overview,
    quality,
)
from healthscore.dashboard.assets import STATIC_DIR

__all__ = ["STATIC_DIR", "router"]

router = APIRouter(include_in_schema=False)
for page in (login, overview, accounts, account, csm, outreach, quality, events, assets):
    router.include_router(page.router)
